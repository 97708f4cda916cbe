// The journal: an append-only file of finished tasks, made durable (written
// and fdatasync'ed in batches) before the coordinator reports them, so a
// run killed at any moment can be resumed without losing or repeating work.
//
// Format: a header line {"taskfarm_journal":1,"fingerprint":"...","total":N}
// then one Result per line in protobuf JSON, as in --output. A torn last
// line (a crash mid-write) is ignored on reading.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace taskfarm {

class Journal {
 public:
  struct Recovered {
    std::vector<bool> ok;       // by id: a successful record exists
    std::vector<bool> failed;   // by id: only failed records exist
    std::vector<std::string> ok_lines;      // the JSON of each ok record
    std::vector<std::string> failed_lines;  // the JSON of each failed record (last one per id)
    size_t torn_lines = 0;
  };
  // Opens `path` for appending. With resume, reads what it holds first; the
  // journal must have been written for the same input (fingerprint, total).
  // Without resume, an existing non-empty journal is an error (a user who
  // forgot --resume would otherwise run everything twice). Returns null and
  // sets `error` on failure.
  static std::unique_ptr<Journal> Open(const std::string& path, uint64_t fingerprint, uint32_t total,
                                       bool resume, Recovered* recovered, std::string* error);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  void Append(const std::string& json_line);
  // Writes what was appended and waits until it is on disk.
  void Sync();

 private:
  explicit Journal(int fd) : fd_(fd) {}
  int fd_;
  std::string buffer_;
};

// Parses one journal record line: its id and ok flag. False if the line is
// not a complete record. Exposed for the fuzzer.
bool ParseJournalRecord(const std::string& line, uint32_t* id, bool* ok);

}  // namespace taskfarm
