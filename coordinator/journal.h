// The journal: an append-only file of finished tasks, made durable (written
// and fdatasync'ed in batches) before the coordinator reports them, so a
// run killed at any moment can be resumed without losing or repeating work.
//
// Format: a header line {"taskfarm_journal":1,"fingerprint":"...","total":N}
// (a streamed input's: fingerprint 0, total 0 and "streamed":true) then one
// Result per line in protobuf JSON, as in --output. A torn last
// line (a crash mid-write) is ignored on reading; a write that fails while
// running is cut off again (see Sync), so the file never keeps one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace taskfarm {

class Journal {
 public:
  struct Recovered {
    std::vector<bool> ok;                   // by id: a successful record exists
    std::vector<bool> failed;               // by id: only failed records exist
    std::vector<std::string> ok_lines;      // the JSON of each ok record
    std::vector<std::string> failed_lines;  // the JSON of each failed record (last one per id)
    size_t torn_lines = 0;
    // The input or the journal is a stream: a task is the journal's by its
    // id (its position in the input), and the caller checks each task's
    // line against the record's `task` as it reads it (see Feed).
    bool by_position = false;
    // For the user, once: "PATH: the input is a stream: ..." (or "").
    std::string note;
  };
  // Opens `path` for appending. With resume, reads what it holds first; the
  // journal must have been written for the same input (fingerprint, total).
  // Fingerprint 0: the input is a stream, whose tasks are not known before
  // the run. When it or the journal's is one, a task is the journal's by
  // its id (its position in the input), `by_position` is set and `note`
  // says so.
  // Without resume, an existing non-empty journal is an error (a user who
  // forgot --resume would otherwise run everything twice). The journal must
  // be a regular file. InvalidArgument for a journal that cannot be this
  // run's, Unavailable when it cannot be opened or its header written.
  static StatusOr<std::unique_ptr<Journal>> Open(const std::string& path, uint64_t fingerprint, uint32_t total,
                                                 bool resume, Recovered* recovered);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Buffers one record (a line without its '\n') for the next Sync().
  void Append(std::string_view json_line);
  // Writes what was appended and waits until it is on disk (fdatasync).
  // OK: every record appended so far is durable. Unavailable: none of those
  // since the last successful Sync is; the file is cut back to the size it
  // had then (no torn record stays in it), the message says why ("PATH:
  // cannot write: No space left on device"), and the journal is failed for
  // good: later Appends are dropped and Syncs fail with the same status.
  Status Sync();
  [[nodiscard]] bool failed() const { return !error_.empty(); }

 private:
  Journal(int fd, std::string path, off_t size) : fd_(fd), path_(std::move(path)), durable_size_(size) {}
  void Fail(int error);

  int fd_;
  std::string path_;
  off_t durable_size_;  // the file's size after the last successful Sync
  std::string buffer_;
  std::string error_;  // set once a Sync failed
};

// Parses one journal record line: its id and ok flag. False if the line is
// not a complete record. Exposed for the fuzzer.
bool ParseJournalRecord(const std::string& line, uint32_t* id, bool* ok);

}  // namespace taskfarm
