// Journal reading (tolerant of a torn tail) and durable appending.
#include "coordinator/journal.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "proto/taskfarm.pb.h"

namespace taskfarm {
namespace {

constexpr char kStreamedHeader[] =
    "{\"taskfarm_journal\":1,\"fingerprint\":\"0000000000000000\",\"total\":0,"
    "\"streamed\":true}";

std::string Header(uint64_t fingerprint, uint32_t total) {
  if (fingerprint == 0) return kStreamedHeader;
  char buf[128];
  std::snprintf(buf, sizeof(buf), "{\"taskfarm_journal\":1,\"fingerprint\":\"%016llx\",\"total\":%u}",
                static_cast<unsigned long long>(fingerprint), total);
  return buf;
}

}  // namespace

bool ParseJournalRecord(const std::string& line, uint32_t* id, bool* ok) {
  pb::Result r;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(line, &r, opts).ok()) return false;
  if (r.kind().empty()) return false;
  *id = r.id();
  *ok = r.ok();
  return true;
}

StatusOr<std::unique_ptr<Journal>> Journal::Open(const std::string& path, uint64_t fingerprint, uint32_t total,
                                                 bool resume, Recovered* recovered) {
  std::string header = Header(fingerprint, total);
  bool streamed = fingerprint == 0;
  struct stat st {};
  bool exists = stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    // Cutting a failed write back needs a file with a size, and reading
    // /dev/zero or /dev/full as a journal would never end.
    return InvalidArgument(path + ": a journal must be a regular file");
  }
  bool has_content = false;
  bool ends_with_newline = true;
  if (exists) {
    std::ifstream in(path);
    std::string line;
    size_t lineno = 0;
    std::map<uint32_t, std::string> last_failure;  // id -> its latest failed record
    while (std::getline(in, line)) {
      ++lineno;
      has_content = true;
      ends_with_newline = !in.eof();
      if (line.empty()) continue;
      if (lineno == 1) {
        // A stream has no fingerprint: with one on either side, tasks are
        // matched by their position in the input, which nobody checks.
        bool by_position = line == kStreamedHeader || (streamed && line.rfind("{\"taskfarm_journal\":1,", 0) == 0);
        if (line != header && !by_position) {
          return InvalidArgument(path +
                                 ": this journal belongs to another task list or --shard (or another taskfarm "
                                 "version); use a new --journal file for this input");
        }
        if (by_position && resume) {
          recovered->by_position = true;
          recovered->note = path + (streamed ? ": the input is a stream" : ": the journal is of a stream") +
                            ": its tasks are matched to the journal by position, each checked as it is read";
        }
        continue;
      }
      if (!resume) continue;
      uint32_t id;
      bool ok;
      if (!ParseJournalRecord(line, &id, &ok) || (!streamed && id >= total)) {
        ++recovered->torn_lines;
        continue;
      }
      if (recovered->ok.size() <= id) {
        recovered->ok.resize(std::max<size_t>(total, size_t{id} + 1), false);
        recovered->failed.resize(recovered->ok.size(), false);
      }
      if (ok) {
        if (!recovered->ok[id]) recovered->ok_lines.push_back(line);
        recovered->ok[id] = true;
        recovered->failed[id] = false;
        last_failure.erase(id);
      } else if (!recovered->ok[id]) {
        // A later attempt (--retry-failed) replaces an earlier failure.
        recovered->failed[id] = true;
        last_failure[id] = line;
      }
    }
    for (auto& [id, line] : last_failure) recovered->failed_lines.push_back(std::move(line));
    if (has_content && !resume) {
      return InvalidArgument(path +
                             " already holds a journal: pass --resume to continue that run, or choose a new file");
    }
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Unavailable(path + ": cannot open journal: " + std::strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {  // it changed since the check above
    ::close(fd);
    return InvalidArgument(path + ": a journal must be a regular file");
  }
  std::unique_ptr<Journal> j(new Journal(fd, path, st.st_size));
  if (!has_content) {
    j->Append(header);
  } else if (!ends_with_newline) {
    // A torn last line must not glue itself to the next record.
    j->buffer_ += "\n";
  }
  if (Status synced = j->Sync(); !synced.ok()) return synced;
  return j;
}

Journal::~Journal() {
  // Records appended after the last checked Sync get a last chance; the
  // caller that cares has synced already.
  (void)Sync();
  ::close(fd_);
}

void Journal::Append(std::string_view json_line) {
  if (failed()) return;  // nothing more reaches the file: do not hold it either
  buffer_ += json_line;
  buffer_ += '\n';
}

Status Journal::Sync() {
  if (failed()) return Unavailable(error_);
  if (buffer_.empty()) return Status::Ok();
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Fail(n == 0 ? EIO : errno);
      return Unavailable(error_);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // Durable before reported: a record the coordinator prints must survive a
  // crash right after. A failed fdatasync may have lost any of these pages.
  if (::fdatasync(fd_) != 0) {
    Fail(errno);
    return Unavailable(error_);
  }
  durable_size_ += static_cast<off_t>(buffer_.size());
  buffer_.clear();
  return Status::Ok();
}

void Journal::Fail(int error) {
  error_ = path_ + ": cannot write: " + std::strerror(error);
  buffer_.clear();
  buffer_.shrink_to_fit();
  // Cut the records of this batch off again: a torn one would be skipped on
  // --resume anyway, but a whole one that was never reported done would
  // make --resume skip a task nobody saw finish. Best effort: if even this
  // fails, the next --resume reads a torn tail, which it tolerates.
  if (::ftruncate(fd_, durable_size_) == 0) (void)::fdatasync(fd_);
}

}  // namespace taskfarm
