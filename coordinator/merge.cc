#include "coordinator/merge.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common/file_writer.h"
#include "common/status.h"
#include "common/task_kind.h"
#include "coordinator/report/text_table.h"
#include "coordinator/summary.h"
#include "proto/taskfarm.pb.h"

namespace taskfarm {

namespace {

constexpr size_t kNamedIds = 10;  // ids named in a message; the rest counted

struct Record {
  std::string line;
  size_t file = 0;  // index in shard_paths
  bool ok = false;
};

// "3, 7, 11 and 12 more": the first few of a sorted list.
std::string IdList(const std::vector<uint64_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size() && i < kNamedIds; ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  if (ids.size() > kNamedIds) out += " and " + std::to_string(ids.size() - kNamedIds) + " more";
  return out;
}

// How many shards the files are of, from their ids: a shard's ids are K
// modulo N, so the gcd of the differences between ids in one file is N or
// a multiple of it, and over every file with two ids or more, N. The
// number of files when no file has two.
uint64_t InferShards(const std::vector<std::vector<uint64_t>>& ids_by_file, size_t files) {
  uint64_t n = 0;
  for (const std::vector<uint64_t>& ids : ids_by_file) {
    for (uint64_t id : ids) n = std::gcd(n, id - ids.front());
  }
  return n > 0 ? n : files;
}

// Missing ids by the shard they belong to: "shard 2/4 (250)".
void Say(std::FILE* err, const std::string& text) {
  std::fputs(Wrap("coordinator merge: " + text).c_str(), err);
  std::fputc('\n', err);
}

std::string ByShard(const std::vector<uint64_t>& ids, uint64_t shards) {
  std::map<uint64_t, size_t> count;
  for (uint64_t id : ids) ++count[id % shards];
  std::string out;
  for (auto [k, n] : count) {
    out += (out.empty() ? "" : ", ") + std::string("shard ") + std::to_string(k) + "/" + std::to_string(shards) + " (" +
           std::to_string(n) + ")";
  }
  return out;
}

}  // namespace

int RunMerge(const MergeOptions& options, std::FILE* out, std::FILE* err) {
  std::optional<uint64_t> total = options.input_tasks;
  std::map<uint64_t, Record> records;  // by id: ordered for the output
  std::vector<uint64_t> twice;
  std::string twice_example;
  std::vector<uint64_t> per_file(options.shard_paths.size(), 0);
  std::vector<std::vector<uint64_t>> ids_by_file(options.shard_paths.size());
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  for (size_t f = 0; f < options.shard_paths.size(); ++f) {
    const std::string& path = options.shard_paths[f];
    std::ifstream in(path);
    if (!in) {
      Say(err, Format("%s: cannot open: %s", path.c_str(), std::strerror(errno)));
      return 2;
    }
    std::map<uint64_t, Record> mine;  // this file's, a journal's success over its failures
    bool journal = false;
    std::string line;
    for (size_t lineno = 1; std::getline(in, line); ++lineno) {
      if (line.empty()) continue;
      if (lineno == 1 && line.rfind("{\"taskfarm_journal\":", 0) == 0) {
        auto header = nlohmann::json::parse(line, nullptr, false);
        uint64_t t = header.is_object() ? header.value("total", uint64_t{0}) : 0;
        if (header.is_object() && header.value("streamed", false)) continue;  // its size is not in it
        if (total && *total != t) {
          Say(err, Format("%s is the journal of an input of %llu tasks, not %llu: %s", path.c_str(),
                          static_cast<unsigned long long>(t), static_cast<unsigned long long>(*total),
                          "merge the shards of one input"));
          return 2;
        }
        total = t;
        journal = true;
        continue;
      }
      pb::Result r;
      if (!google::protobuf::util::JsonStringToMessage(line, &r, parse).ok() || r.kind().empty()) {
        bool torn = in.eof();  // the last line, and no newline after it
        // A journal's torn last record is one its --resume ignores too (a
        // shard killed mid-write): that task is missing, and named below.
        if (torn && journal) break;
        Say(err, Format("%s:%zu: %s", path.c_str(), lineno,
                        torn ? "a torn last record (the shard was stopped while writing it): resume that shard, "
                               "then merge again"
                             : "not a taskfarm record (give each shard's --output or --journal)"));
        return 2;
      }
      Record& slot = mine[r.id()];
      if (slot.ok && r.ok()) {
        // Two successes of one task: exactly-once was broken somewhere.
        twice.push_back(r.id());
        if (twice_example.empty()) twice_example = "id " + std::to_string(r.id()) + " twice in " + path;
      } else if (!slot.ok) {
        slot = Record{std::move(line), f, r.ok()};  // a success, or a later failure, replaces a failure
      }
    }
    per_file[f] = mine.size();
    for (auto& [id, rec] : mine) {
      if (ids_by_file[f].size() < 1000) ids_by_file[f].push_back(id);  // enough to tell N
      auto [it, added] = records.try_emplace(id, std::move(rec));
      if (!added) {
        twice.push_back(id);
        if (twice_example.empty()) {
          twice_example =
              "id " + std::to_string(id) + " is in " + options.shard_paths[it->second.file] + " and " + path;
        }
      }
    }
  }
  if (!total) {
    Say(err, std::string("which input were these shards of? Give it as the shards were run (--tasks "
                         "FILE, --urls FILE or --args FILE), or give their journals, so that every id can be checked"));
    return 2;
  }
  std::vector<uint64_t> missing;
  std::vector<uint64_t> beyond;
  for (uint64_t id = 0; id < *total; ++id) {
    if (!records.count(id)) missing.push_back(id);
  }
  for (auto it = records.lower_bound(*total); it != records.end(); ++it) beyond.push_back(it->first);
  std::sort(twice.begin(), twice.end());
  const size_t shards = options.shard_paths.size();
  const uint64_t n = InferShards(ids_by_file, shards);
  std::string input = options.input_name.empty() ? "the input" : options.input_name;
  bool whole = true;
  if (!missing.empty()) {
    whole = false;
    Say(err, Format("%zu of %s's %llu tasks have no record: ids %s", missing.size(), input.c_str(),
                    static_cast<unsigned long long>(*total), IdList(missing).c_str()));
    std::fprintf(err, "  by shard: %s\n", ByShard(missing, n).c_str());
  }
  if (!twice.empty()) {
    whole = false;
    Say(err, Format("%zu ids have more than one record (%s): ids %s", twice.size(), twice_example.c_str(),
                    IdList(twice).c_str()));
  }
  if (!beyond.empty()) {
    whole = false;
    Say(err, Format("%zu records are of ids past %s's %llu tasks: ids %s", beyond.size(), input.c_str(),
                    static_cast<unsigned long long>(*total), IdList(beyond).c_str()));
  }
  if (!whole) {
    Say(err, Format("nothing written to %s%s", options.out_path.c_str(),
                    missing.empty() ? ""
                                    : ": resume the shards named (--resume, same --shard and --journal), then merge "
                                      "again"));
    return 2;
  }

  // The merged file and its summary: the run's tasks line and kind table.
  RunStats stats;
  std::string text;
  std::vector<uint64_t> cancelled;  // a shard stopped before they ran (scancel): not failures of the tasks
  for (auto& [id, rec] : records) {
    pb::Result r;
    (void)google::protobuf::util::JsonStringToMessage(rec.line, &r, parse);  // parsed above
    stats.Add(r.kind(), r);
    if (r.error_code() == CodeName(Code::kCancelled)) cancelled.push_back(id);
    text += rec.line;
    text += '\n';
    std::string().swap(rec.line);
  }
  if (Status s = WriteWholeFile(options.out_path, text); !s.ok()) {
    Say(err, Format("%s", s.message().c_str()));
    return 3;
  }
  std::FILE* say = options.out_path == "-" ? err : out;
  RunSummary s = stats.Summary({}, {});
  std::fprintf(say, "merged %zu shard files into %s: each of %s's %llu tasks once\n", shards, options.out_path.c_str(),
               input.c_str(), static_cast<unsigned long long>(*total));
  for (size_t f = 0; f < shards; ++f) {
    std::fprintf(say, "  %s: %llu records\n", options.shard_paths[f].c_str(),
                 static_cast<unsigned long long>(per_file[f]));
  }
  std::string summary = "tasks: " + std::to_string(s.ok) + " ok, " + std::to_string(s.failed) + " failed";
  if (s.cancelled) summary += ", " + std::to_string(s.cancelled) + " cancelled";
  std::fprintf(say, "%s\n", summary.c_str());
  if (!s.kinds.empty()) std::fprintf(say, "\n%s", RenderText(s.KindTable()).c_str());
  std::fflush(say);
  if (!cancelled.empty()) {
    // A cancelled task is not journalled: its shard's --resume runs it.
    Say(err, Format("%zu tasks were cancelled before they finished (their shard was stopped): ids %s", cancelled.size(),
                    IdList(cancelled).c_str()));
    std::fprintf(err, "  by shard: %s\n", ByShard(cancelled, n).c_str());
    Say(err, "resume those shards (--resume, same --shard and --journal), then merge again");
  }
  return s.failed + s.cancelled > 0 ? 1 : 0;
}

}  // namespace taskfarm
