// Many remote workers for one test: real `worker --connect` processes,
// started by one shell (so hundreds cost one pair of pipes, not hundreds),
// each writing its stderr to its own log, where the test counts what the
// workers said (registered, gave the coordinator up, told to start over),
// and what the run's summary says of them.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/farm_test_util.h"

namespace taskfarm::testing {

class WorkerFleet {
 public:
  // `n` workers named w1..wN connecting to `endpoint`, logs in `dir`,
  // each with `extra` arguments. They run until the coordinator ends the
  // run (or the fleet is destroyed: its process group is killed).
  WorkerFleet(int n, const std::string& endpoint, const ScratchDir& dir, std::vector<std::string> extra = {})
      : n_(n), dir_(dir), shell_(Argv(n, endpoint, dir, extra)) {}

  // Occurrences of `needle` summed over every worker's log.
  int Count(const std::string& needle) const {
    int total = 0;
    for (int i = 1; i <= n_; ++i) {
      std::string log = ReadText(dir_.File("w" + std::to_string(i) + ".log"));
      for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++total;
    }
    return total;
  }
  // Registrations, summed ("registered as", said once per Welcome).
  int Registrations() const { return Count("worker: registered as "); }
  // Times a worker judged the coordinator lost, or heard it had been given up.
  int Losses() const { return Count("lost the coordinator") + Count("had given this worker up"); }

  // Waits for every worker to have left (the shell waits for them all).
  bool WaitAllLeft(std::chrono::milliseconds timeout) { return shell_.Wait(timeout).exit_code == 0; }

 private:
  static std::vector<std::string> Argv(int n, const std::string& endpoint, const ScratchDir& dir,
                                       const std::vector<std::string>& extra) {
    // Values travel as positional parameters, never through the script's text.
    std::vector<std::string> argv{"/bin/sh",
                                  "-c",
                                  "n=$1 ep=$2 dir=$3 bin=$4; shift 4; i=1\n"
                                  "while [ \"$i\" -le \"$n\" ]; do\n"
                                  "  \"$bin\" --connect \"$ep\" --name \"w$i\" \"$@\" >\"$dir/w$i.log\" 2>&1 &\n"
                                  "  i=$((i + 1))\n"
                                  "done\n"
                                  "wait",
                                  "fleet",
                                  std::to_string(n),
                                  endpoint,
                                  dir.path(),
                                  BinaryPath("worker")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  int n_;
  const ScratchDir& dir_;
  Subprocess shell_;
};

// The workers a run's --json says left before the end, and why, one a line
// ("" when none did: at the end of a run its workers' `gone` is null).
inline std::string GoneWorkers(const nlohmann::json& run) {
  std::string out;
  for (const nlohmann::json& w : run["workers"]) {
    if (!w["gone"].is_null()) out += w["name"].get<std::string>() + ": " + w["gone"].get<std::string>() + "\n";
  }
  return out;
}

}  // namespace taskfarm::testing
