// `coordinator merge OUT.jsonl SHARD...`: joins the outputs of the
// coordinators that split one input with --shard K/N (shard.h) into one
// record file, sorted by id, and proves it whole: every id of the input
// exactly once. Each SHARD is a shard's --output or its --journal (whose
// header gives the input's size; a journal may hold a failure and a later
// success of one id, and the success counts). An id missing or in two
// files is named, with the shard it belongs to, and nothing is written: a
// merge that is not whole is not a result. The summary printed is the
// run's own tasks line and kind table, over the merged records.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace taskfarm {

struct MergeOptions {
  std::string out_path;                  // "-": standard output (then the summary goes to stderr)
  std::vector<std::string> shard_paths;  // each shard's output or journal
  // The input's size (ids 0 to input_tasks - 1), when the caller read the
  // input itself (merge --tasks FILE); else the journals' headers say it.
  std::optional<uint64_t> input_tasks;
  std::string input_name;  // for messages: the input file's name, or ""
};

// Exit status: 0 every id once and every task ok; 1 every id once, some
// tasks failed; 2 an input cannot be read, is not records, or ids are
// missing or twice (nothing written); 3 OUT cannot be written.
[[nodiscard]] int RunMerge(const MergeOptions& options, std::FILE* out, std::FILE* err);

}  // namespace taskfarm
