// `coordinator compare`: runs one workload the tutorials' ways (sequential,
// one session, thread pools, an event loop, a process pool, a hybrid), each
// as a real farm run, and says which kind of concurrency pays and why. A
// workload of your own commands (exec/sh tasks) gets the modes that apply
// to child processes instead: one at a time, one per core, more than cores.
//
//   CompareConfig c;                 // no task file: the built-in I/O and CPU workloads
//   c.modes = {"sequential", "async", "processes"};
//   c.workloads = {"downloads"};     // or HTTPS at 20 ms round trip: the Session lesson
//   return RunCompare(c);
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskfarm {

struct ModePreset {
  std::string name;
  std::string description;
  int workers = 1;
  int concurrency = 1;
  int threads = 1;
  bool no_reuse = false;
  int processes = 1;  // exec/sh tasks at once per worker (capped at concurrency)
};

// The modes, in table order, for a machine with `cores` CPUs.
[[nodiscard]] std::vector<ModePreset> AllModes(unsigned cores);

// More exec/sh commands at once than cores, per core, in `oversubscribed`.
constexpr int kOversubscribe = 4;

// The modes for a workload of exec/sh tasks, in table order: sequential,
// processes (one per core) and oversubscribed (4 per core). The others vary
// connections, threads or an event loop, none of which a child process uses.
[[nodiscard]] std::vector<ModePreset> CommandModes(unsigned cores);

// "sequential, processes, oversubscribed": the modes' names, for messages.
[[nodiscard]] std::string ModeNames(const std::vector<ModePreset>& modes);

// The built-in workloads, in the order they run: "io", "cpu", "downloads".
[[nodiscard]] const std::vector<std::string>& BuiltInWorkloads();

struct CompareConfig {
  std::string tasks_path;  // empty: the built-in workloads
  // Built-in workloads to run (names of BuiltInWorkloads(), or "all");
  // empty: io and cpu. Not with tasks_path.
  std::vector<std::string> workloads;
  std::vector<std::string> modes;  // empty: all of them
  int runs = 3;
  // "workers=1,2,4,8" or "concurrency=1,10,100". On exec/sh tasks
  // concurrency is commands at once on one worker (--processes), workers
  // are workers of one command each.
  std::string sweep;
  std::string report_path;  // HTML
  std::string json_path;
  std::string coordinator_binary;  // default: this program
  std::string command_line;        // as typed, shell-quoted: the report's and the JSON's "command"
  // Built-in workload sizes.
  int io_pages = 90;
  int delay_ms = 100;
  int cpu_tasks = 100;
  uint64_t cpu_n = 250000;
  // downloads: the tutorials' 160 pages over HTTPS, through a latency proxy
  // (testserver/latency_proxy.h) that makes each round trip cost rtt_ms.
  int downloads = 160;
  double rtt_ms = 20;
};

// Fits Amdahl's law, speedup(n) = 1 / (s + (1 - s) / n), to measured
// speedups at relative parallelism n; returns the serial fraction s in [0, 1].
[[nodiscard]] double FitSerialFraction(const std::vector<double>& n, const std::vector<double>& speedup);

// Runs the comparison and prints the table and what it means. Returns 0,
// 1 if some run failed, 2 for bad options.
[[nodiscard]] int RunCompare(const CompareConfig& config);

}  // namespace taskfarm
