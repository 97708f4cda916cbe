// `coordinator compare`: each mode is a real run of this program (its own
// coordinator and worker processes), timed from outside, start-up included;
// its records give CPU time per task and the timeline. For exec/sh tasks
// that CPU time is the child's own rusage, so the verdict is the command's.
// RunCompare's phases, in order: the plan (options checked), the workloads,
// per workload each mode's runs, the verdict, the conclusions and the
// sweep; then the report files.
#include "coordinator/compare/compare.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "common/file_writer.h"
#include "common/posix.h"
#include "common/stats.h"
#include "common/task_kind.h"
#include "common/temp_dir.h"
#include "coordinator/compare/conclusions.h"
#include "coordinator/compare/run_once.h"
#include "coordinator/compare/workload.h"
#include "coordinator/report/report.h"
#include "coordinator/report/text_table.h"
#include "coordinator/verdict.h"

namespace taskfarm::compare {
namespace {

double Parallelism(const ModePreset& m, const Workload& w) {
  double per_worker = w.commands()    ? std::min(m.processes, m.concurrency)
                      : w.cpu_heavy() ? std::min(m.threads, m.concurrency)
                                      : m.concurrency;
  return std::max(1.0, std::min<double>(static_cast<double>(w.tasks), m.workers * per_worker));
}

std::string MachineLine(unsigned cores) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return std::to_string(cores) + " cores, " + model;
}

Status ParseSweep(const std::string& spec, std::string* param, std::vector<int>* values) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos) {
    return InvalidArgument("--sweep takes PARAM=V1,V2,...: workers=1,2,4,8 or concurrency=1,10,100");
  }
  *param = spec.substr(0, eq);
  if (*param != "workers" && *param != "concurrency") {
    return InvalidArgument("--sweep: unknown parameter '" + *param + "' (workers or concurrency)");
  }
  std::stringstream ss(spec.substr(eq + 1));
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 4096) {
      return InvalidArgument("--sweep: '" + item + "' is not a count from 1 to 4096");
    }
    values->push_back(static_cast<int>(v));
  }
  if (values->size() < 2) {
    return InvalidArgument("--sweep needs at least two values");
  }
  return Status::Ok();
}

// One workload's modes: the numbers (the cells the page shows too, the JSON
// holds them as numbers) in at most 100 columns, what each mode runs under it.
void PrintRows(const Workload& w, const std::vector<ModeResult>& rs, int runs, const std::string& base) {
  TextTable t;
  t.title = Wrap("== " + w.name + " (" + std::to_string(w.tasks) + " tasks, " + std::to_string(runs) + " run" +
                 (runs == 1 ? "" : "s") + " per mode) ==");
  bool range = runs > 1;
  t.header = {"mode", "wall s"};
  if (range) t.header.push_back("min-max s");
  for (const char* h : {"tasks/s", "speedup", "effic.", "CPU s", "CPU/wall", "verdict"}) t.header.push_back(h);
  t.numeric.assign(t.header.size(), true);
  t.numeric.front() = t.numeric.back() = false;
  TextTable modes;  // mode, what it runs: under the table
  for (const ModeResult& r : rs) {
    const ModeRow& row = r.row;
    ModeCells c = CellsOf(row);
    std::vector<std::string> cells{row.mode, c.median_s};
    if (range) cells.push_back(c.range_s);
    for (const std::string* cell : {&c.tasks_per_s, &c.speedup, &c.efficiency, &c.cpu_s, &c.cpu_over_wall}) {
      cells.push_back(*cell);
    }
    cells.push_back(row.verdict + (row.ok ? "" : " FAILED"));
    t.rows.push_back(std::move(cells));
    modes.rows.push_back({"", row.mode, row.description});
  }
  std::string units = "speedup: over " + base +
                      "; effic.: speedup / what the mode could overlap at best; CPU s: what the run's processes "
                      "used; CPU/wall: 100% is one core busy.";
  t.note = Wrap(units) + "\n" + RenderText(modes);
  t.note.pop_back();  // RenderText's own newline: the table adds one
  std::printf("\n%s", RenderText(t).c_str());
}

bool HasMode(const std::vector<ModePreset>& modes, const std::string& name) {
  return std::any_of(modes.begin(), modes.end(), [&](const ModePreset& m) { return m.name == name; });
}

// The most `--processes` takes (main.cc).
constexpr int kMaxProcesses = 1024;

// What the options ask for, checked before minutes of measuring.
struct Plan {
  unsigned cores = 1;
  std::string binary;
  Workload own;                      // --tasks FILE; none when path is empty
  std::vector<std::string> builtin;  // the built-in workloads to run, in BuiltInWorkloads() order
  std::vector<ModePreset> modes;
  std::vector<std::string> left_out;  // known modes that do not apply to this workload
  std::string sweep_param;            // "" without --sweep
  std::vector<int> sweep_values;
};

// Says why on stderr; false (exit 2 for options, 1 for the rig).
bool Refuse(const std::string& why) {
  std::fprintf(stderr, "coordinator compare: %s\n", why.c_str());
  return false;
}

// The workloads: your task file (read first: its kind of tasks decides
// which modes apply) or the built-in ones asked for.
bool PlanWorkloads(const CompareConfig& config, Plan* plan) {
  if (!config.tasks_path.empty()) {
    plan->own.name = config.tasks_path;
    plan->own.path = config.tasks_path;
    if (access(plan->own.path.c_str(), R_OK) != 0) return Refuse("cannot read " + plan->own.path);
    plan->own.tasks = CountTasks(plan->own.path, &plan->own.resource);
    if (!config.workloads.empty()) {
      return Refuse("--workload names built-in workloads; --tasks " + config.tasks_path + " is one of its own");
    }
    return true;
  }
  std::vector<std::string> asked = config.workloads.empty() ? std::vector<std::string>{"io", "cpu"} : config.workloads;
  const auto& known = BuiltInWorkloads();
  for (const std::string& name : asked) {
    if (name != "all" && std::find(known.begin(), known.end(), name) == known.end()) {
      return Refuse("unknown workload '" + name + "' (io, cpu, downloads or all)");
    }
  }
  for (const std::string& name : known) {
    if (std::find(asked.begin(), asked.end(), name) != asked.end() ||
        std::find(asked.begin(), asked.end(), "all") != asked.end()) {
      plan->builtin.push_back(name);
    }
  }
  return true;
}

// The modes of --modes that apply to the workload, and those left out.
bool PlanModes(const CompareConfig& config, Plan* plan) {
  const unsigned cores = plan->cores;
  const bool commands = plan->own.commands();
  const std::vector<ModePreset> applicable = commands ? CommandModes(cores) : AllModes(cores);
  for (const ModePreset& m : applicable) {
    if (config.modes.empty() || std::find(config.modes.begin(), config.modes.end(), m.name) != config.modes.end()) {
      plan->modes.push_back(m);
    }
  }
  for (const std::string& name : config.modes) {
    if (HasMode(applicable, name)) continue;
    if (!HasMode(AllModes(cores), name) && !HasMode(CommandModes(cores), name)) {
      return Refuse("unknown mode '" + name + "' (" + ModeNames(AllModes(cores)) +
                    "; for exec/sh tasks: " + ModeNames(CommandModes(cores)) + ")");
    }
    plan->left_out.push_back(name);
  }
  if (config.modes.empty() && commands) {
    for (const ModePreset& m : AllModes(cores)) {
      if (!HasMode(applicable, m.name)) plan->left_out.push_back(m.name);
    }
  }
  if (plan->modes.empty()) {
    return Refuse(std::string("none of --modes applies to ") + (commands ? "exec/sh tasks" : "this workload") +
                  "; its modes: " + ModeNames(applicable));
  }
  return true;
}

// --sweep, the output paths and --runs.
bool PlanRest(const CompareConfig& config, Plan* plan) {
  if (!config.sweep.empty()) {
    Status s = ParseSweep(config.sweep, &plan->sweep_param, &plan->sweep_values);
    if (!s.ok()) return Refuse(s.message());
    // Each value becomes --processes, whose limit is lower than --sweep's.
    if (plan->own.commands() && plan->sweep_param == "concurrency" &&
        *std::max_element(plan->sweep_values.begin(), plan->sweep_values.end()) > kMaxProcesses) {
      return Refuse("--sweep: a worker runs at most " + std::to_string(kMaxProcesses) + " exec/sh tasks at once");
    }
  }
  // Minutes of measuring are not thrown away on a typo in a path.
  for (const auto& [flag, path] : {std::pair{"--report", &config.report_path}, {"--json", &config.json_path}}) {
    Status s = path->empty() ? Status::Ok() : CheckCanWrite(*path);
    if (!s.ok()) return Refuse(std::string(flag) + " " + s.message());
  }
  if (config.runs < 1) return Refuse("--runs must be at least 1");
  return true;
}

// The workloads to measure, built-in ones written now; false (exit 1)
// when a server or a task file could not be made.
bool MakeWorkloads(const CompareConfig& config, const Plan& plan, WorkloadRig& rig, std::vector<Workload>* out) {
  if (!config.tasks_path.empty()) out->push_back(plan.own);
  try {
    for (const std::string& name : plan.builtin) {
      Workload w;
      if (Status made = rig.Make(name, config, &w); !made.ok()) return Refuse(made.message());
      out->push_back(std::move(w));
    }
  } catch (const std::exception& e) {  // the test server, the proxy or the CA
    return Refuse(e.what());
  }
  if (config.tasks_path.empty()) {
    std::string line = Format("Comparing %zu modes on the built-in workloads.", plan.modes.size());
    for (const std::string& s : rig.servers()) line += " " + s;
    std::fprintf(stderr, "%s\n", Wrap(line).c_str());
  }
  return true;
}

// One run's figures added to its mode's: the sums and the lists of the
// url records' connection figures.
struct RunSums {
  double task_cpu = 0, task_wall = 0, task_wait = 0, proc_cpu = 0;
};

void AddRun(const RunOutcome& o, RunSums* sums, ModeResult* mr) {
  ModeRow& row = mr->row;
  mr->busiest_other_cores = std::max(mr->busiest_other_cores, o.other_cores);
  row.wall_s.push_back(o.wall_s);
  sums->task_cpu += o.task_cpu_ms;
  sums->task_wall += o.task_wall_ms;
  sums->task_wait += o.task_wait_ms;
  sums->proc_cpu += o.process_cpu_s;
  row.url_records += o.url_records;
  mr->new_connections.push_back(static_cast<double>(o.new_connections));
  for (auto [from, to] :
       {std::pair{&o.connect_ms, &mr->connect_ms}, {&o.tls_ms, &mr->tls_ms}, {&o.wait_ms, &mr->wait_ms}}) {
    to->insert(to->end(), from->begin(), from->end());
  }
}

// The row's medians, range, rates and verdict, from its runs.
void FinishRow(const Workload& w, int runs, const RunSums& sums, const std::optional<Boundness>& least_crowded,
               ModeResult* mr) {
  ModeRow& row = mr->row;
  row.median_s = Median(row.wall_s);
  row.new_connections = Median(mr->new_connections);
  row.connect_ms = Median(mr->connect_ms);
  row.tls_ms = Median(mr->tls_ms);
  row.wait_ms = Median(mr->wait_ms);
  row.min_s = *std::min_element(row.wall_s.begin(), row.wall_s.end());
  row.max_s = *std::max_element(row.wall_s.begin(), row.wall_s.end());
  row.tasks_per_s = row.median_s > 0 ? w.tasks / row.median_s : 0;
  row.cpu_s = sums.proc_cpu / runs;
  row.cpu_over_wall = row.median_s > 0 ? row.cpu_s / row.median_s : 0;
  Boundness b = least_crowded ? *least_crowded : Judge(sums.task_cpu, sums.task_wall, sums.task_wait);
  row.verdict = b.verdict;
  mr->cpu_share = b.cpu_share;
}

// One mode on one workload, `runs` times; says its progress on stderr.
ModeResult MeasureMode(const Plan& plan, const ModePreset& m, const Workload& w, int runs, const TempDir& tmp) {
  std::fprintf(stderr, "  %s: %s ...", w.name.c_str(), m.name.c_str());
  std::fflush(stderr);
  ModeResult mr;
  mr.mode = m;
  ModeRow& row = mr.row;
  row.workload = w.name;
  row.mode = m.name;
  row.description = m.description;
  row.workers = m.workers;
  row.concurrency = m.concurrency;
  row.threads = m.threads;
  row.processes = m.processes;
  row.parallelism = Parallelism(m, w);
  RunSums sums;
  // A command's wait for a core is not measured (exec records have no
  // run-queue wait), and other work on the machine only ever lowers its
  // CPU share: its run with the highest share had the least company.
  std::optional<Boundness> least_crowded;
  for (int run = 0; run < runs; ++run) {
    RunOutcome o = RunOnce(plan.binary, m, w, tmp);
    if (w.commands()) {
      Boundness b = Judge(o.task_cpu_ms, o.task_wall_ms, o.task_wait_ms);
      if (!least_crowded || b.cpu_share > least_crowded->cpu_share) {
        least_crowded = b;
        mr.other_cores = o.other_cores;
      }
    }
    AddRun(o, &sums, &mr);
    if (!o.ok) {
      row.ok = false;
      std::fprintf(stderr, " run %d failed (%s)", run + 1, o.error.c_str());
    }
    mr.last = std::move(o);
  }
  FinishRow(w, runs, sums, least_crowded, &mr);
  std::fprintf(stderr, " %.2f s\n", row.median_s);
  return mr;
}

// The verdict: the workload's nature does not change with the mode;
// contention does. Judge it where tasks ran with the least company
// (sequential, when run), since a machine busy with other work would
// otherwise make CPU-bound tasks that waited for a core look like waiting
// tasks. Then every mode's speedup over sequential (else the first mode).
// Returns the mode the speedups are over.
const ModeResult* JudgeWorkload(std::vector<ModeResult>& results) {
  if (results.empty()) return nullptr;  // every mode was left out
  const ModeResult* alone = &results.front();
  for (auto& r : results) {
    if (r.row.parallelism < alone->row.parallelism) alone = &r;
  }
  for (auto& r : results) {
    r.row.verdict = alone->row.verdict;
    r.cpu_share = alone->cpu_share;
    r.other_cores = alone->other_cores;
  }
  const ModeResult* base = Find(results, "sequential");
  if (!base) base = &results.front();
  for (ModeResult& r : results) {
    r.row.speedup = r.row.median_s > 0 ? base->row.median_s / r.row.median_s : 0;
    r.row.efficiency = r.row.speedup / r.row.parallelism;
  }
  return base;
}

// The fastest mode's last run, as a timeline, and its latencies.
void AddFastestRun(const Workload& w, const std::vector<ModeResult>& results, int runs, ReportData* report) {
  const ModeResult* best = nullptr;
  for (auto& r : results) {
    if (!best || r.row.median_s < best->row.median_s) best = &r;
  }
  if (!best) return;
  // Which run every chart shows, in its title: the page has several modes.
  std::string which = w.name + ", mode " + best->mode.name + " (fastest; " +
                      (runs > 1 ? "last of " + std::to_string(runs) + " runs" : "1 run") + ")";
  RunTimeline t;
  t.title = "Tasks per worker: " + which + ": " + best->mode.description;
  t.wall_ms = best->last.wall_s * 1000;
  t.spans = best->last.spans;
  for (auto& h : BuildHistograms(t.spans)) {
    h.title = h.kind + " task durations: " + which;
    report->histograms.push_back(std::move(h));
  }
  report->timelines.push_back(std::move(t));
}

// The conclusions: the table, the modes left out and the paragraphs on the
// terminal; the same words, the charts and the rows into the report.
void PrintConclusions(const Plan& plan, const Workload& w, const std::vector<ModeResult>& results,
                      const ModeResult* base, int runs, ReportData* report) {
  PrintRows(w, results, runs, base ? base->mode.name : "-");
  if (!plan.left_out.empty()) std::printf("%s\n", Wrap(LeftOutNote(w, plan.left_out)).c_str());
  std::vector<std::string> words = compare::Conclude(w, results, plan.cores);
  for (const std::string& p : words) std::printf("\n%s\n", Wrap(p).c_str());
  report->conclusions.insert(report->conclusions.end(), words.begin(), words.end());
  AddFastestRun(w, results, runs, report);
  for (auto& r : results) report->rows.push_back(r.row);
}

// The mode of one sweep point: `v` workers, or `v` at once on one worker.
ModePreset SweepMode(const std::string& param, int v, const Workload& w) {
  ModePreset m{param + "=" + std::to_string(v), "", 1, 1, 1, false};
  if (param == "workers") {
    m.workers = v;  // exec/sh: one command each
  } else if (w.commands()) {
    m.concurrency = v;  // v commands at once on one worker
    m.processes = v;
  } else {
    m.concurrency = v;
    m.threads = v;
  }
  return m;
}

// The sweep: each value `runs` times, speedups over the first value, the
// Amdahl fit and what it means, printed as a table. Clears `all_ok` when a
// run failed.
SweepResult Sweep(const Plan& plan, const Workload& w, const std::string& verdict, int runs, const TempDir& tmp,
                  bool* all_ok) {
  SweepResult sweep;
  sweep.workload = w.name;
  sweep.param = plan.sweep_param;
  std::vector<double> rel, speedups;
  double first_wall = 0;
  for (int v : plan.sweep_values) {
    ModePreset m = SweepMode(plan.sweep_param, v, w);
    std::fprintf(stderr, "  %s: %s ...", w.name.c_str(), m.name.c_str());
    std::fflush(stderr);
    std::vector<double> walls;
    for (int run = 0; run < runs; ++run) {
      RunOutcome o = RunOnce(plan.binary, m, w, tmp);
      *all_ok &= o.ok;
      if (!o.ok) std::fprintf(stderr, " run %d failed (%s)", run + 1, o.error.c_str());
      walls.push_back(o.wall_s);
    }
    SweepPoint p;
    p.value = v;
    p.median_s = Median(walls);
    std::fprintf(stderr, " %.2f s\n", p.median_s);
    if (first_wall == 0) first_wall = p.median_s;
    p.speedup = first_wall / p.median_s;
    p.ideal = static_cast<double>(v) / plan.sweep_values.front();
    p.efficiency = p.speedup / p.ideal;
    rel.push_back(p.ideal);
    speedups.push_back(p.speedup);
    sweep.points.push_back(p);
  }
  sweep.serial_fraction = FitSerialFraction(rel, speedups);
  for (size_t i = 0; i < sweep.points.size(); ++i) {
    sweep.points[i].amdahl = 1.0 / (sweep.serial_fraction + (1 - sweep.serial_fraction) / rel[i]);
  }
  sweep.note = ExplainSweep(w, verdict, sweep, plan.cores);
  TextTable table = SweepTable(sweep);
  table.title = Wrap("-- " + table.title + " --");
  table.note = Wrap(sweep.note);
  std::printf("\n%s", RenderText(table).c_str());
  return sweep;
}

ReportData StartReport(const CompareConfig& config, unsigned cores) {
  ReportData report;
  report.title = "taskfarm compare";
  report.machine = MachineLine(cores);
  report.generated_at = LocalTimestamp();
  report.command = config.command_line;
  return report;
}

// --report and --json, each written whole; false when one could not be.
bool WriteReports(const CompareConfig& config, const ReportData& report) {
  bool written = true;
  auto write = [&](const std::string& path, const std::string& contents) {
    if (Status s = WriteWholeFile(path, contents); s.ok()) {
      std::fprintf(stderr, "wrote %s\n", path.c_str());
    } else {
      std::fprintf(stderr, "coordinator compare: %s\n", s.message().c_str());
      written = false;
    }
  };
  if (!config.report_path.empty()) write(config.report_path, RenderHtmlReport(report));
  if (!config.json_path.empty()) write(config.json_path, RenderReportJson(report));
  return written;
}

}  // namespace
}  // namespace taskfarm::compare

namespace taskfarm {

// "sequential, processes, oversubscribed"
std::string ModeNames(const std::vector<ModePreset>& modes) {
  std::string out;
  for (const ModePreset& m : modes) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

std::vector<ModePreset> CommandModes(unsigned cores) {
  int c = static_cast<int>(std::max(1u, cores));
  std::string workers = std::to_string(c) + (c == 1 ? " worker" : " workers");
  return {
      {"sequential", "1 worker, 1 command at a time", 1, 1, 1, false, 1},
      {"processes", workers + ", 1 command each: 1 per core", c, 1, 1, false, 1},
      {"oversubscribed",
       workers + ", " + std::to_string(kOversubscribe) + " commands each: " + std::to_string(kOversubscribe * c) +
           " at once",
       c, kOversubscribe, 1, false, kOversubscribe},
  };
}

const std::vector<std::string>& BuiltInWorkloads() {
  static const std::vector<std::string> names{"io", "cpu", "downloads"};
  return names;
}

std::vector<ModePreset> AllModes(unsigned cores) {
  int c = static_cast<int>(std::max(1u, cores));
  return {
      {"sequential", "1 worker, 1 at a time, new connection per URL", 1, 1, 1, true},
      {"session", "1 worker, 1 at a time, one reused connection", 1, 1, 1, false},
      {"threads-5", "1 worker, 5 threads / 5 in flight", 1, 5, 5, false},
      {"threads-100", "1 worker, 100 threads / 100 in flight", 1, 100, 100, false},
      {"async", "1 worker, one event loop, 100 in flight", 1, 100, 1, false},
      {"processes", "5 workers, 1 at a time each (Pool(5))", 5, 1, 1, false},
      {"hybrid", std::to_string(c) + " workers (1 per core), event loop each", c, std::max(1, 100 / c), 1, false},
  };
}

double FitSerialFraction(const std::vector<double>& n, const std::vector<double>& speedup) {
  double best_s = 0, best_err = 1e300;
  for (int i = 0; i <= 1000; ++i) {
    double s = i / 1000.0, err = 0;
    for (size_t k = 0; k < n.size(); ++k) {
      double model = 1.0 / (s + (1 - s) / n[k]);
      err += (model - speedup[k]) * (model - speedup[k]);
    }
    if (err < best_err) {
      best_err = err;
      best_s = s;
    }
  }
  return best_s;
}

int RunCompare(const CompareConfig& config) {
  compare::Plan plan;
  plan.cores = std::max(1u, std::thread::hardware_concurrency());
  // This program (/proc/self/exe) unless one is named; "coordinator" when unknown.
  plan.binary = config.coordinator_binary;
  if (plan.binary.empty()) plan.binary = SelfExePath();
  if (plan.binary.empty()) plan.binary = "coordinator";
  if (!compare::PlanWorkloads(config, &plan) || !compare::PlanModes(config, &plan) ||
      !compare::PlanRest(config, &plan)) {
    return 2;
  }
  TempDir tmp("taskfarm-compare");
  compare::WorkloadRig rig(tmp);  // after tmp: its servers stop before the CA's files go
  std::vector<compare::Workload> workloads;
  if (!compare::MakeWorkloads(config, plan, rig, &workloads)) return 1;

  ReportData report = compare::StartReport(config, plan.cores);
  bool all_ok = true;
  for (const compare::Workload& w : workloads) {
    std::vector<compare::ModeResult> results;
    for (const ModePreset& m : plan.modes) {
      results.push_back(compare::MeasureMode(plan, m, w, config.runs, tmp));
      all_ok &= results.back().row.ok;
    }
    const compare::ModeResult* base = compare::JudgeWorkload(results);
    compare::PrintConclusions(plan, w, results, base, config.runs, &report);
    if (!plan.sweep_param.empty()) {
      report.sweeps.push_back(compare::Sweep(plan, w, results.front().row.verdict, config.runs, tmp, &all_ok));
    }
  }
  std::fflush(stdout);
  if (!compare::WriteReports(config, report)) return 3;
  return all_ok ? 0 : 1;
}

}  // namespace taskfarm
