// The paragraphs under compare's tables, assembled from the measured
// speedups, CPU shares and connection figures.
#include "coordinator/compare/conclusions.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace taskfarm::compare {
namespace {

// printf into a string; the paragraphs' formats run to a few hundred bytes.
std::string Fmt(const char* format, auto... args) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf), format, args...);
  return buf;
}

std::string Times(double x) { return x >= 10 ? Fmt("%.0fx", x) : Fmt("%.1fx", x); }

// "2.0x faster than one at a time", or slower, said as such.
std::string Faster(double speedup, const std::string& than) {
  if (speedup >= 1) return Times(speedup) + " faster than " + than;
  return "slower than " + than + " (" + Fmt("%.2fx", speedup) + ")";
}

std::string Cores(unsigned cores) { return std::to_string(cores) + (cores == 1 ? " core" : " cores"); }

// `ms` in round trips of `rtt_ms`: "2 round trips" when within a quarter of
// a whole number of them, else "1.6 round trips".
std::string RoundTrips(double ms, double rtt_ms) {
  double n = ms / rtt_ms;
  double whole = std::round(n);
  if (whole >= 1 && std::fabs(n - whole) <= 0.25) return Fmt("%.0f round trip%s", whole, whole == 1 ? "" : "s");
  return Fmt("%.1f round trips", n);
}

// The tutorials' Session lesson, from the records: what each of
// sequential's new connections spent on handshakes before its request went
// out, against what a request on session's one connection waited, in round
// trips of the latency proxy; then what the concurrent modes do instead.
std::string ExplainSession(const Workload& w, const ModeResult& seq, const ModeResult& session,
                           const ModeResult& best) {
  const ModeRow& a = seq.row;
  const ModeRow& b = session.row;
  double speedup = b.median_s > 0 ? a.median_s / b.median_s : 0;
  double rtt = w.rtt_ms;
  // A connection is ready at appconnect (https) or connect (http).
  double handshake_ms = std::max(a.connect_ms, a.tls_ms);
  std::string s = "Reusing one connection (session) is " + Faster(speedup, "a new one per request (sequential)");
  s +=
      Fmt(": sequential opened %.0f connections, each spending %.0f ms (median) on the TCP and TLS handshakes "
          "before its request was sent, %s at %g ms, then waiting %.0f ms for its response; session opened %.0f "
          "and then waited %.0f ms per request, %s.",
          a.new_connections, handshake_ms, RoundTrips(handshake_ms, rtt).c_str(), rtt, a.wait_ms, b.new_connections,
          b.wait_ms, RoundTrips(b.wait_ms, rtt).c_str());
  double handshakes_s = (a.new_connections - b.new_connections) * handshake_ms / 1000;
  s +=
      Fmt(" Those handshakes are the difference: %.0f of them at %.0f ms make %.1f s, and sequential took %.1f s "
          "longer.",
          a.new_connections - b.new_connections, handshake_ms, handshakes_s, a.median_s - b.median_s);
  if (&best != &seq && &best != &session) {
    s += Fmt(" The concurrent modes open connections too (%s: %.0f) but overlap their handshakes and waits: %s is ",
             best.mode.name.c_str(), best.row.new_connections, best.mode.name.c_str()) +
         Faster(best.row.median_s > 0 ? a.median_s / best.row.median_s : 0, "sequential") + ".";
  }
  s +=
      Fmt(" The %g ms round trips are a latency proxy's, in front of the loopback test server: a stand-in for a "
          "network, holding each direction's bytes %g ms and a new connection's first flight %g ms more, for its "
          "TCP handshake.",
          rtt, rtt / 2, rtt);
  return s;
}

// The exec/sh paragraphs' common ground: the mode judged (sequential when
// run), and the modes that run one per core and more than cores.
struct CommandModesRun {
  const ModeResult* seq;
  const ModeResult* base;
  const ModeResult* per_core;
  const ModeResult* over;
  std::string than;  // what the speedups are over: "one at a time"
};

std::string AtOnce(const ModeResult& r) { return std::to_string(static_cast<int>(r.row.parallelism)) + " at once"; }

// What the command is: CPU-bound, I/O-bound or mixed, and its CPU share.
std::string CommandNature(const CommandModesRun& c) {
  const ModeResult* base = c.base;
  const std::string& verdict = base->row.verdict;
  std::string share = base->cpu_share < 0.005 ? "less than 1%" : Fmt("%.0f%%", 100 * base->cpu_share);
  std::string how = " (its own user and system CPU time over its wall time, " +
                    (base == c.seq ? std::string("one at a time") : "in " + base->mode.name) + ")";
  if (verdict == "CPU-bound") {
    return "Your command is CPU-bound: it kept a core busy " + share + " of the time it ran" + how + ".";
  }
  if (verdict == "I/O-bound") {
    return std::string("Your command is I/O-bound: it used a CPU ") + (base->cpu_share < 0.005 ? "" : "only ") + share +
           " of the time it ran" + how + "; the rest it waited, on a timer, a disk, the network or another program.";
  }
  return "Your command is mixed: it used a CPU " + share + " of the time it ran" + how + " and waited the rest.";
}

// Whether one per core is the most that pays; "" without those modes.
std::string CommandScaling(const CommandModesRun& c, unsigned cores) {
  const ModeResult *base = c.base, *per_core = c.per_core, *over = c.over;
  const std::string& verdict = base->row.verdict;
  std::string p;
  bool has_per_core = per_core && per_core != base;
  if (has_per_core) {
    p = "Running one per core (processes, " + AtOnce(*per_core) + ") is " + Faster(per_core->row.speedup, c.than);
  }
  if (over && over != base && !has_per_core) {
    p = "Running more at once than cores (oversubscribed, " + AtOnce(*over) + ") is " +
        Faster(over->row.speedup, c.than);
  } else if (over && over != base) {
    double ratio = over->row.speedup / per_core->row.speedup;
    std::string more =
        "more at once than cores (oversubscribed, " + AtOnce(*over) + ", " + Times(over->row.speedup) + ")";
    if (verdict == "CPU-bound") {
      p += ratio < 1.1 ? "; " + more + " adds nothing: on " + Cores(cores) + ", CPU-bound commands only take turns"
                       : "; " + more + " still adds " + Fmt("%.0f%%", 100 * (ratio - 1)) +
                             ": the command waits for something part of the time";
    } else if (verdict == "I/O-bound") {
      p += ratio >= 1.25
               ? ", and " + more + " keeps paying: a command that waits holds no core, so the cores are not the limit"
               : "; " + more +
                     " adds little: what the commands wait on (one disk, one server) is the limit, not "
                     "the cores";
    } else {
      p += ratio >= 1.1 ? "; " + more + " still pays while some commands wait and others compute"
                        : "; " + more + " adds little: the cores are full";
    }
  }
  return p.empty() ? p : p + ".";
}

// How to run it, by the verdict; or, when the machine was busy with other
// work, that the verdict is unsure (waiting for a core and waiting on I/O
// look the same from a command's rusage: a busy machine is said, not
// silently blamed on the command). Sets `crowded` for that case.
std::string CommandAdvice(const CommandModesRun& c, unsigned cores, bool* crowded) {
  const ModeResult* base = c.base;
  const std::string& verdict = base->row.verdict;
  *crowded = verdict != "CPU-bound" && base->cpu_share > 0.1 && base->other_cores >= 0.5;
  int per_worker = c.over ? c.over->mode.processes : kOversubscribe;
  if (*crowded) {
    return Fmt(
        "Other work kept %.1f of this machine's %u cores busy while it ran: a command that waited for a "
        "core looks like one that waited on I/O, so it may be more CPU-bound than this says. Run it "
        "again on a quieter machine before choosing how many to run at once.",
        base->other_cores, cores);
  }
  if (verdict == "CPU-bound") {
    return "Run one per core: plain `coordinator --tasks FILE` does (a worker per core, --processes 1), as GNU "
           "parallel's default -j does. Only more cores make it faster: remote workers on other machines.";
  }
  if (verdict == "I/O-bound") {
    return "Run more than one per core: `coordinator --tasks FILE --processes " + std::to_string(per_worker) +
           "` keeps " + std::to_string(per_worker) + " per worker, " +
           std::to_string(per_worker * static_cast<int>(cores)) +
           " at once here; `--sweep concurrency=1,2,4,8,16` shows where more stops paying.";
  }
  double per_core_busy = base->cpu_share > 0 ? std::clamp(1 / base->cpu_share, 1.0, 16.0) : 1.0;
  return Fmt(
      "Run somewhat more than one per core: about %.0f per core (1 / its CPU share) keeps the "
      "cores busy while the others wait; `--sweep concurrency=...` finds the point.",
      per_core_busy);
}

// The table in words for a workload of the user's own commands (exec/sh):
// what the command is, whether one per core is the most that pays, and how
// to run it. Its modes: sequential, processes, oversubscribed (any may be
// missing when --modes left it out).
std::vector<std::string> ConcludeCommands(const std::vector<ModeResult>& rs, unsigned cores) {
  CommandModesRun c;
  c.seq = Find(rs, "sequential");
  c.base = c.seq ? c.seq : &rs.front();
  c.per_core = Find(rs, "processes");
  c.over = Find(rs, "oversubscribed");
  c.than = c.base == c.seq ? "one at a time" : c.base->mode.name;
  std::vector<std::string> out{CommandNature(c)};
  std::string scaling = CommandScaling(c, cores);
  if (!scaling.empty()) out.push_back(scaling);
  bool crowded = false;
  out.push_back(CommandAdvice(c, cores, &crowded));
  double busiest = 0;
  for (const ModeResult& r : rs) busiest = std::max(busiest, r.busiest_other_cores);
  if (!crowded && busiest >= 0.5) {
    out.push_back(
        Fmt("Other work kept up to %.1f of this machine's %u cores busy during these runs: the times and "
            "speedups above are less sure than on a quiet machine.",
            busiest, cores));
  }
  bool failed = std::any_of(rs.begin(), rs.end(), [](const ModeResult& r) { return !r.row.ok; });
  if (failed) {
    out.push_back(
        "Some runs had failing commands (FAILED above): a command that fails early makes its mode look "
        "faster than it is.");
  }
  return out;
}

// The speedup of mode `name`; -1 when it was not run.
double SpeedOf(const std::vector<ModeResult>& rs, const char* name) {
  const ModeResult* r = Find(rs, name);
  return r ? r->row.speedup : -1;
}

// An I/O-bound workload: overlapping waits pays, in which modes and how
// much; "" when no mode that overlaps was run.
std::string OverlapLesson(const std::vector<ModeResult>& rs, unsigned cores) {
  double async = SpeedOf(rs, "async"), processes = SpeedOf(rs, "processes"), hybrid = SpeedOf(rs, "hybrid");
  double threads5 = SpeedOf(rs, "threads-5");
  const std::string first = "Overlapping waits is what pays.";
  std::string p = first;
  if (async > 0)
    p += " One worker with up to 100 tasks in flight on one event loop (async) is " + Times(async) +
         " faster than sequential";
  if (processes > 0) {
    p += std::string(async > 0 ? "; " : " ") +
         "5 processes taking one task at a time (processes, the tutorials' multiprocessing.Pool(5)) reach " +
         Times(processes);
  }
  if (async > 0 || processes > 0) p += ".";
  if (hybrid > 0 && async > 0) {
    double ratio = hybrid / async;
    if (ratio < 1.25) {
      p += " Adding processes to the event loop (hybrid, " + Times(hybrid) +
           ") adds little: the wait, not the CPU, is the limit.";
    } else {
      p += " Spreading the event loop over " + std::to_string(cores) + " processes (hybrid) adds " +
           Fmt("%.0f%%", 100 * (ratio - 1)) + ": at this rate one process's CPU starts to matter.";
    }
  }
  // Said only where the table agrees (within a quarter).
  if (threads5 > 0 && processes > 0 && std::max(threads5, processes) < 1.25 * std::min(threads5, processes)) {
    p += " Five at a time is five at a time, whether threads (" + Times(threads5) + ") or processes (" +
         Times(processes) + ").";
  }
  return p == first ? "" : p;
}

// The Session lesson, with the latency proxy's round trips when there is
// one, else what one connection saved on loopback; "" without both modes.
std::string SessionLesson(const Workload& w, const std::vector<ModeResult>& rs, const ModeResult& best) {
  const ModeResult* seq = Find(rs, "sequential");
  const ModeResult* session = Find(rs, "session");
  if (!session || !seq) return "";
  if (w.rtt_ms > 0) return ExplainSession(w, *seq, *session, best);
  if (w.cpu_heavy()) return "";
  double saved = 1 - session->row.median_s / seq->row.median_s;
  return "Reusing one connection (session) instead of opening one per request (sequential) " +
         std::string(saved >= 0 ? "saves " : "costs ") + Fmt("%.0f%%", 100 * std::fabs(saved)) +
         " of the wall time here, on loopback; over a real network each new connection costs a round "
         "trip more (and a TLS handshake for https).";
}

// A CPU-bound workload: only more cores help, and how far they got.
std::string CoresLesson(const std::vector<ModeResult>& rs, unsigned cores) {
  double async = SpeedOf(rs, "async"), processes = SpeedOf(rs, "processes"), hybrid = SpeedOf(rs, "hybrid");
  double threads100 = SpeedOf(rs, "threads-100"), threads5 = SpeedOf(rs, "threads-5");
  std::string p = "Overlapping does not help CPU work";
  if (async > 0) p += ": one event loop (async) runs at " + Times(async) + " the speed of sequential";
  p += ". Only more cores help";
  double best_cores = std::max({processes, hybrid, threads100, threads5});
  if (best_cores > 0) {
    p += ": the best multi-core mode reaches " + Times(best_cores) + " on this " + std::to_string(cores) +
         "-core machine (ideal " + std::to_string(cores) + "x)";
  }
  p += ".";
  if (processes > 0 && hybrid > 0) {
    p += " Five processes (" + Times(processes) + ") do no better than " + std::to_string(cores) + " (hybrid, " +
         Times(hybrid) + "): past the number of cores, more workers only take turns.";
  }
  if (threads100 > 1.3) {
    p += " Threads (threads-100, " + Times(threads100) +
         ") scale too: C++ threads run on every core, where Python's are held to one by the GIL.";
  }
  return p;
}

}  // namespace

const ModeResult* Find(const std::vector<ModeResult>& rs, const std::string& name) {
  for (auto& r : rs) {
    if (r.mode.name == name) return &r;
  }
  return nullptr;
}

std::vector<std::string> Conclude(const Workload& w, const std::vector<ModeResult>& rs, unsigned cores) {
  std::vector<std::string> out;
  if (rs.empty()) return out;
  if (w.commands()) return ConcludeCommands(rs, cores);
  const ModeResult* seq = Find(rs, "sequential");
  const ModeResult* base = seq ? seq : &rs.front();
  const ModeResult* best = &rs.front();
  for (auto& r : rs) {
    if (r.row.ok && r.row.median_s < best->row.median_s) best = &r;
  }
  std::string verdict = base->row.verdict;
  std::string s = w.name + " is " + verdict + ": with the least overlap, its tasks kept a core busy " +
                  Fmt("%.0f%%", 100 * base->cpu_share) + " of the time they ran.";
  s += " Fastest: " + best->mode.name + " (" + best->mode.description + "), " + Times(best->row.speedup) +
       " faster than " + base->mode.name + ".";
  out.push_back(s);
  if (verdict == "I/O-bound") {
    for (const std::string& p : {OverlapLesson(rs, cores), SessionLesson(w, rs, *best)}) {
      if (!p.empty()) out.push_back(p);
    }
  } else if (verdict == "CPU-bound") {
    out.push_back(CoresLesson(rs, cores));
  } else {
    out.push_back("Mixed: tasks spent " + Fmt("%.0f%%", 100 * base->cpu_share) +
                  " of their time on a CPU, so both overlapping waits and more cores help; compare async with "
                  "hybrid to see which dominates.");
  }
  return out;
}

std::string LeftOutNote(const Workload& w, const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  if (w.commands()) {
    return "Left out: " + list + (names.size() == 1 ? " varies" : " vary") +
           " connections, threads or an event loop, and each exec/sh task is a process of its own.";
  }
  return "Left out: " + list + (names.size() == 1 ? " runs" : " run") +
         " exec/sh commands more at once than cores, and this workload has none.";
}

std::string ExplainSweep(const Workload& w, const std::string& verdict, const SweepResult& sweep, unsigned cores) {
  const std::string& param = sweep.param;
  const std::vector<SweepPoint>& points = sweep.points;
  bool cpu_bound_commands = w.commands() && verdict == "CPU-bound";
  std::string note;
  for (size_t i = 1; i < points.size(); ++i) {
    if (points[i].speedup < 1.10 * points[i - 1].speedup) {
      note = "Past " + param + "=" + std::to_string(points[i - 1].value) + ", adding more stops paying (" +
             Fmt("%.2fx", points[i - 1].speedup) + " -> " + Fmt("%.2fx", points[i].speedup) + ")";
      if (param == "workers" && w.cpu_heavy()) {
        note += ": this machine has " + std::to_string(cores) + " cores";
      } else if (cpu_bound_commands) {
        note += ": this machine has " + Cores(cores) +
                ", and a CPU-bound command keeps one busy, so more at once only take turns. The fitted serial "
                "fraction stands for that limit, not for a serial part of your command";
      } else if (w.commands() && static_cast<size_t>(points[i - 1].value) >= w.tasks) {
        note += ": there are only " + std::to_string(w.tasks) + " tasks to run at once";
      } else if (w.commands()) {
        note += ": what the commands wait on (a disk, a server) or their start-up is the limit now, not the cores";
      }
      note += ".";
      break;
    }
  }
  if (note.empty() && w.commands() && points.back().value > static_cast<int>(cores)) {
    note = "Every step still paid off, past this machine's " + Cores(cores) +
           " too: your command waits more than it computes, so more in flight keeps paying until what it waits on "
           "runs out.";
  }
  if (note.empty()) note = "Every step still paid off: the workload has room for more.";
  return Fmt("Amdahl fit: serial fraction %.2f (at most %.1fx however many you add). ", sweep.serial_fraction,
             sweep.serial_fraction > 0 ? 1 / sweep.serial_fraction : INFINITY) +
         note;
}

}  // namespace taskfarm::compare
