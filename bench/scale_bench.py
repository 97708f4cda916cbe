"""S1 and S2: one coordinator and 10 / 100 / 1,000 real `worker` processes (issue 15).

The workers are started first, connect over TCP loopback and wait; then the
coordinator starts, so what is timed is the coordinator's side: how soon the
farm is registered, how fast it hands out work, what it costs idle, and what
each worker costs it in memory.

S1 (1,000 workers, fresh): registration (from the coordinator's start to the
last Hello: the start-up before it listens, measured from outside, plus the
summary's wait_s), then 100,000 `sleep 5` tasks at concurrency 4 with 50
random SIGKILLs of workers during the run; its --output must hold every id
once, each ok.

S2 (10, 100, 1,000 workers, --forever so one farm serves several runs):
registration of the fresh farm; the coordinator idle with the farm connected
(CPU over 20 s from /proc/PID/stat, RSS and PSS); the workers' PSS and RSS;
then 200,000 `noop` tasks, run 3 times (tasks/s from the summary's run_s).

Timed sections hold --lock FILE (flock) when given, a few minutes each, so
other experiments on the machine do not overlap them. Everything the machine
did besides the farm and its coordinator is measured meanwhile (others' CPU).
"""
import contextlib
import fcntl
import json
import math
import os
import random
import signal
import socket
import subprocess
import threading
import time

CLK = os.sysconf("SC_CLK_TCK")


def system_busy_s():
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:9]))
    return (sum(v) - v[3] - v[4]) / CLK


def pid_cpu_s(pid):
    """utime + stime of a live process (all its threads), 0 when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / CLK
    except (OSError, ValueError, IndexError):
        return 0.0


def proc_kb(pid, path, key):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def free_port():
    """A free loopback port below the kernel's ephemeral range. Inside it, one
    of a thousand workers retrying its connection every second can be given
    the coordinator's own port as its source port (TCP connects to itself),
    and the coordinator then cannot bind."""
    try:
        low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, max(10001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise SystemExit("no free port below the ephemeral range")


def listening(port):
    """Whether something listens on 127.0.0.1:port (read from /proc/net/tcp:
    no connection is made, so the coordinator counts no failed handshake)."""
    want = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[1] == want and parts[3] == "0A":
                    return True
    except OSError:
        pass
    return False


@contextlib.contextmanager
def bench_lock(path):
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Farm:
    """N worker processes, started before any coordinator."""

    def __init__(self, binr, n, port, concurrency=4, forever=False):
        self.cmd = [f"{binr}/worker", "--connect", f"tcp://127.0.0.1:{port}", "--concurrency", str(concurrency)]
        if forever:
            self.cmd.append("--forever")
        self.n = n
        self.procs = []

    def start(self):
        t0 = time.monotonic()
        for _ in range(self.n):
            self.procs.append(subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                               start_new_session=True))
        return time.monotonic() - t0

    def alive(self):
        return [p for p in self.procs if p.poll() is None]

    def cpu_s(self):
        return sum(pid_cpu_s(p.pid) for p in self.alive())

    def memory(self, sample=50):
        ps = self.alive()[:sample]
        pss = [proc_kb(p.pid, "smaps_rollup", "Pss:") for p in ps]
        rss = [proc_kb(p.pid, "status", "VmRSS:") for p in ps]
        return sum(pss) / len(pss) / 1024, sum(rss) / len(rss) / 1024

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()


class CoordinatorRun:
    """One coordinator process; its stderr is read as it comes (the 'starting'
    note), its start-up until it listens is timed from outside."""

    def __init__(self, cmd, port):
        self.cmd = cmd
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.started_at = None  # "... workers connected after ...; starting"
        self.err = []
        self.out = ""
        self._reader = threading.Thread(target=self._read_err, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_out, daemon=True)
        self._out_reader.start()
        self.listen_s = math.nan
        deadline = self.t0 + 30
        while time.monotonic() < deadline and self.p.poll() is None:
            if listening(port):
                self.listen_s = time.monotonic() - self.t0
                break
            time.sleep(0.002)

    def _read_err(self):
        for line in self.p.stderr:
            if "workers connected after" in line and "starting" in line:
                self.started_at = time.monotonic()
            self.err.append(line)

    def _read_out(self):
        self.out = self.p.stdout.read()

    def wait(self, timeout):
        """(exit status, the coordinator's CPU seconds over its whole life)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
            if pid:
                self.p.returncode = os.waitstatus_to_exitcode(status)
                self._reader.join(5)
                self._out_reader.join(5)
                return self.p.returncode, ru.ru_utime + ru.ru_stime
            time.sleep(0.01)
        os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait()
        return None, math.nan

    def interrupt(self):
        # The first SIGINT lets running tasks finish (--grace); the second stops now.
        self.p.send_signal(signal.SIGINT)
        time.sleep(0.3)
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)


def check_records(path, total):
    """(records, distinct ids, ids seen more than once, ids missing, not ok)."""
    seen = {}
    not_ok = 0
    n = 0
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            seen[r["id"]] = seen.get(r["id"], 0) + 1
            not_ok += not r.get("ok")
            n += 1
    dup = sum(1 for v in seen.values() if v > 1)
    missing = sum(1 for i in range(total) if i not in seen)
    return n, len(seen), dup, missing, not_ok


def others_cores(t0, busy0, ours0, t1, busy1, ours1):
    dt = t1 - t0
    return max(0.0, (busy1 - busy0) - (ours1 - ours0)) / dt if dt > 0 else math.nan


def coord_cmd(binr, port, n, tasks, extra):
    return [f"{binr}/coordinator", "--workers", "0", "--bind", f"tcp://127.0.0.1:{port}", "--min-workers", str(n),
            "--tasks", str(tasks), "-q"] + extra


def shell(cmd, port):
    """The command as the report shows it: the farm's port as PORT (each farm has its own)."""
    return " ".join(cmd).replace(f"127.0.0.1:{port}", "127.0.0.1:PORT")


def run_s1(args, log):
    """1,000 fresh workers: registration, 100,000 sleep 5, 50 SIGKILLs."""
    q = args.quick
    n, tasks_n, kills = (200, 20000, 10) if q else (1000, 100000, 50)
    work = args.work
    tasks = work / "S1.tasks"
    tasks.write_text("sleep 5\n" * tasks_n)
    out, js = work / "S1.jsonl", work / "S1.json"
    port = free_port()
    res = {"n": n, "tasks": tasks_n, "kills": kills}
    with bench_lock(args.lock):
        farm = Farm(args.bin, n, port)
        try:
            res["spawn_s"] = farm.start()
            time.sleep(4)  # every worker is past its first reconnect attempts, backing off
            cmd = coord_cmd(args.bin, port, n, tasks, ["-o", str(out), "--json", str(js)])
            res["worker_cmd"] = shell(farm.cmd, port)
            res["cmd"] = shell(cmd, port)
            log(f"[S1] {n} workers: {res['worker_cmd']} (started first); then {res['cmd']}")
            busy0, ours0, t0 = system_busy_s(), farm.cpu_s(), time.monotonic()
            c = CoordinatorRun(cmd, port)
            # The kills: once dispatch started, 20 ms apart, at random workers.
            while c.started_at is None and c.p.poll() is None and time.monotonic() - c.t0 < c.listen_s + 2.5:
                time.sleep(0.005)
            time.sleep(0.3)
            victims = random.sample(farm.alive(), kills)
            for v in victims:
                v.kill()
                time.sleep(0.02)
            rc, cpu = c.wait(600)
            t1 = time.monotonic()
            ours1 = farm.cpu_s() + sum(pid_cpu_s(v.pid) for v in victims) + cpu
            res["others"] = others_cores(t0, busy0, ours0, t1, system_busy_s(), ours1)
        finally:
            farm.stop()
    res["rc"] = rc
    res["coordinator_cpu_s"] = cpu
    res["listen_s"] = c.listen_s
    try:
        j = json.loads(js.read_text())
    except (OSError, ValueError):
        j = {}
    res["wait_s"] = j.get("wait_s", math.nan)
    res["run_s"] = j.get("run_s", math.nan)
    res["registration_s"] = res["listen_s"] + res["wait_s"]
    res["peak_rss_mb"] = j.get("coordinator_peak_rss_kb", 0) / 1024
    res["gone"] = sum(1 for w in j.get("workers", []) if w.get("gone"))
    res["late"] = j.get("late_results", math.nan)
    try:
        res["records"] = check_records(out, tasks_n)
    except (OSError, ValueError) as e:
        res["records"] = None
        res["error"] = str(e)
    r = res["records"]
    log(f"    exit {rc}; registered {res['registration_s']:.2f} s after start ({res['listen_s']:.3f} s to listen + "
        f"wait_s {res['wait_s']}); run {res['run_s']} s; records {r}; others used {res['others']:.2f} cores")
    return res


def run_s2_one(args, n, log):
    q = args.quick
    work = args.work
    noop = work / "S2-noop.tasks"
    if not noop.exists():
        noop.write_text("noop\n" * args.s2_tasks)
    idle_tasks = work / "S2-idle.tasks"
    idle_tasks.write_text("sleep 600000\n")  # one task holds one slot; the rest of the farm is idle
    port = free_port()
    res = {"n": n}
    idle_s = 5 if q else 20
    runs = 1 if q else 3
    with bench_lock(args.lock):
        farm = Farm(args.bin, n, port, forever=True)
        try:
            res["spawn_s"] = farm.start()
            time.sleep(4)
            res["worker_cmd"] = shell(farm.cmd, port)
            js = work / f"S2-{n}-idle.json"
            cmd = coord_cmd(args.bin, port, n, idle_tasks, ["--json", str(js)])
            res["idle_cmd"] = shell(cmd, port)
            log(f"[S2] {n} workers: {res['worker_cmd']} (started first); idle: {res['idle_cmd']}")
            c = CoordinatorRun(cmd, port)
            time.sleep(c.listen_s + 4 if not math.isnan(c.listen_s) else 5)
            pid = c.p.pid
            busy0, t0 = system_busy_s(), time.monotonic()
            c0, w0 = pid_cpu_s(pid), farm.cpu_s()
            time.sleep(idle_s)
            busy1, t1 = system_busy_s(), time.monotonic()
            c1, w1 = pid_cpu_s(pid), farm.cpu_s()
            res["idle_window_s"] = t1 - t0
            res["idle_coord_pct"] = 100 * (c1 - c0) / (t1 - t0)
            res["idle_workers_pct"] = 100 * (w1 - w0) / (t1 - t0)
            res["idle_others"] = others_cores(t0, busy0, c0 + w0, t1, busy1, c1 + w1)
            res["coord_rss_mb"] = proc_kb(pid, "status", "VmRSS:") / 1024
            res["coord_pss_mb"] = proc_kb(pid, "smaps_rollup", "Pss:") / 1024
            res["worker_pss_mb"], res["worker_rss_mb"] = farm.memory()
            c.interrupt()
            rc, _ = c.wait(60)
            try:
                j = json.loads(js.read_text())
                res["wait_s"] = j["wait_s"]
            except (OSError, ValueError, KeyError):
                res["wait_s"] = math.nan
            res["listen_s"] = c.listen_s
            res["registration_s"] = c.listen_s + res["wait_s"]
            log(f"    registered {res['registration_s']:.2f} s after start; idle {res['idle_coord_pct']:.2f}% of a "
                f"core (workers {res['idle_workers_pct']:.1f}%, others {res['idle_others']:.2f} cores); coordinator "
                f"RSS {res['coord_rss_mb']:.1f} MB; worker PSS {res['worker_pss_mb']:.2f} MB, RSS "
                f"{res['worker_rss_mb']:.1f} MB")
            res["runs"] = []
            for k in range(runs):
                js = work / f"S2-{n}-noop-{k}.json"
                cmd = coord_cmd(args.bin, port, n, noop, ["--json", str(js)])
                res["noop_cmd"] = shell(cmd, port)
                busy0, t0, w0 = system_busy_s(), time.monotonic(), farm.cpu_s()
                c = CoordinatorRun(cmd, port)
                rc, cpu = c.wait(300)
                busy1, t1, w1 = system_busy_s(), time.monotonic(), farm.cpu_s()
                try:
                    j = json.loads(js.read_text())
                except (OSError, ValueError):
                    j = {}
                ok = j.get("tasks", {}).get("ok", 0)
                run = {"rc": rc, "ok": ok, "run_s": j.get("run_s", math.nan), "wait_s": j.get("wait_s", math.nan),
                       "coord_cpu_s": cpu, "workers_cpu_s": w1 - w0,
                       "others": others_cores(t0, busy0, w0, t1, busy1, w1 + cpu),
                       "peak_rss_mb": j.get("coordinator_peak_rss_kb", 0) / 1024}
                run["rate"] = ok / run["run_s"] if run["run_s"] and run["run_s"] > 0 else math.nan
                res["runs"].append(run)
                log(f"    noop run {k + 1}: exit {rc}, {ok} ok in {run['run_s']} s = {run['rate']:,.0f} tasks/s; "
                    f"coordinator CPU {cpu:.2f} s, workers {run['workers_cpu_s']:.2f} s, others {run['others']:.2f} cores")
                time.sleep(1)
        finally:
            farm.stop()
    rates = sorted(r["rate"] for r in res["runs"] if r["ok"] == args.s2_tasks)
    res["rate"] = rates[len(rates) // 2] if rates else math.nan
    res["rate_min"], res["rate_max"] = (rates[0], rates[-1]) if rates else (math.nan, math.nan)
    res["all_ok"] = all(r["ok"] == args.s2_tasks and r["rc"] == 0 for r in res["runs"])
    return res


def run_scale(args, log):
    """Runs S1 and/or S2 (args.scale_keys) and returns their results."""
    args.s2_tasks = 20000 if args.quick else 200000
    out = {}
    if "S1" in args.scale_keys:
        out["S1"] = run_s1(args, log)
    if "S2" in args.scale_keys:
        sizes = (10, 100, 200) if args.quick else (10, 100, 1000)
        out["S2"] = {"tasks": args.s2_tasks, "farms": [run_s2_one(args, n, log) for n in sizes]}
    return out


def failures(res):
    """(workload, what) for every run whose output was wrong: a failed check, as for the other rows."""
    bad = []
    s1 = res.get("S1")
    if s1:
        r = s1["records"]
        if s1["rc"] != 0 or r is None or r[1] != s1["tasks"] or r[2] or r[3] or r[4]:
            bad.append(("S1", f"exit {s1['rc']}, records {r}"))
    for x in (res.get("S2") or {}).get("farms", []):
        if not x["all_ok"]:
            bad.append(("S2", f"{x['n']} workers: a noop run did not finish every task"))
    return bad


def f2(x, digits=2):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def per_worker_kb(s2):
    small, big = s2["farms"][0], s2["farms"][-1]
    return (big["coord_rss_mb"] - small["coord_rss_mb"]) * 1024 / (big["n"] - small["n"])


def target_rows(res):
    """Issue 15's must-shows that S1 and S2 measure."""
    rows = []
    s1 = res.get("S1")
    if s1:
        r = s1["records"]
        rows.append((f"S1 {s1['n']:,} workers started first: all registered within 2 s of the coordinator starting",
                     f"{f2(s1['registration_s'])} s ({f2(s1['listen_s'], 3)} s until it listens + {s1['wait_s']} s "
                     "until the last Hello)", s1["registration_s"] <= 2))
        ok = r is not None and r[1] == s1["tasks"] and r[2] == 0 and r[3] == 0 and r[4] == 0 and s1["rc"] == 0
        rows.append((f"S1 {s1['tasks']:,} `sleep 5` at concurrency 4 with {s1['kills']} SIGKILLs of workers: every id "
                     "once, none lost",
                     f"{r[0]:,} records, {r[1]:,} distinct ids, {r[2]} twice, {r[3]} missing, {r[4]} not ok; exit "
                     f"{s1['rc']}; {s1['gone']} workers gone" if r else "no records", ok))
    s2 = res.get("S2")
    if s2:
        small, big = s2["farms"][0], s2["farms"][-1]
        ratio = big["rate"] / small["rate"] if small["rate"] else math.nan
        rows.append((f"S2 throughput of {s2['tasks']:,} `noop` with {big['n']:,} workers at least half of that with "
                     f"{small['n']}", f"{big['rate']:,.0f} vs {small['rate']:,.0f} tasks/s = {ratio:.2f}×",
                     ratio >= 0.5))
        rows.append((f"S2 coordinator with {big['n']:,} idle connected workers under 5% of one core",
                     f"{f2(big['idle_coord_pct'])}% over {big['idle_window_s']:.0f} s", big["idle_coord_pct"] < 5))
        rows.append(("S2 coordinator memory per connected worker, stated",
                     f"{per_worker_kb(s2):.0f} KB (idle RSS {small['coord_rss_mb']:.1f} MB with {small['n']}, "
                     f"{big['coord_rss_mb']:.1f} MB with {big['n']:,}); each worker {big['worker_pss_mb']:.2f} MB PSS "
                     f"({big['worker_rss_mb']:.1f} MB RSS, mostly shared libraries)", True))
    return rows


def render(res, quiet_cores):
    """The S1 and S2 sections of BENCHMARKS.md (markdown lines)."""
    L = []
    s1 = res.get("S1")
    if s1:
        L.append(f"## S1: {s1['n']:,} workers started before the coordinator; {s1['tasks']:,} × `sleep 5` with "
                 f"{s1['kills']} SIGKILLs")
        L.append("")
        L.append(f"{s1['n']:,} `worker` processes ({s1['spawn_s']:.1f} s to spawn) wait 4 s for a coordinator that is "
                 f"not there yet, then it starts: `{s1['cmd']}`; each worker is `{s1['worker_cmd']}`. Once dispatch "
                 f"starts, {s1['kills']} random workers are SIGKILLed 20 ms apart. Registration is from the "
                 "coordinator's start to the last Hello: its start-up until it listens (timed from outside, reading "
                 "/proc/net/tcp) plus the summary's `wait_s`.")
        L.append("")
        L.append("| registered after start s | until it listens s | run s | records | distinct ids | ids twice | "
                 "missing | not ok | workers gone | coordinator CPU s | coordinator peak RSS MB | others' CPU |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        r = s1["records"] or (0, 0, 0, 0, 0)
        oth = f"**{s1['others']:.2f}**" if s1["others"] > quiet_cores else f"{s1['others']:.2f}"
        L.append(f"| {f2(s1['registration_s'])} | {f2(s1['listen_s'], 3)} | {s1['run_s']} | {r[0]:,} | {r[1]:,} | "
                 f"{r[2]} | {r[3]} | {r[4]} | {s1['gone']} | {f2(s1['coordinator_cpu_s'])} | "
                 f"{s1['peak_rss_mb']:.1f} | {oth} |")
        L.append("")
    s2 = res.get("S2")
    if s2:
        farms = s2["farms"]
        sizes = ", ".join(f"{x['n']:,}" for x in farms)
        first = farms[0]
        L.append(f"## S2: one coordinator, {sizes} workers: registration, idle cost, memory, {s2['tasks']:,} × `noop`")
        L.append("")
        L.append(f"Each farm of N workers is started first (`{first['worker_cmd']}`, N times), then: the coordinator "
                 f"idle (`{first['idle_cmd']}` with that N: one `sleep 600000` task, so one slot is busy and the rest "
                 f"of the farm is idle) for {first['idle_window_s']:.0f} s, its CPU from /proc/PID/stat; then "
                 f"{s2['tasks']:,} `noop` (`{first['noop_cmd']}`), {len(first['runs'])} run(s); tasks/s = tasks ÷ the "
                 "summary's `run_s` (first dispatch to last record), the median [min–max]. Registration is the fresh "
                 "farm's, as in S1. Coordinator CPU is over its whole life (start-up, registration, run, shutdown), "
                 "from wait4; the workers' CPU is summed over the farm during the same run (both the median run's); "
                 "the peak RSS is the summary's, the largest of the runs. Worker memory is the mean "
                 "over 50 of them: PSS (from /proc/PID/smaps_rollup) counts each shared page once across the "
                 "processes that share it, RSS counts it in each.")
        L.append("")
        L.append("| workers | registered after start s | idle coordinator % of a core | idle workers % of a core | "
                 "coordinator RSS idle MB | worker PSS MB | worker RSS MB | noop tasks/s | coordinator CPU s per run | "
                 "workers' CPU s per run | coordinator peak RSS MB | others' CPU |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for x in farms:
            runs = x["runs"]
            mid = sorted(runs, key=lambda r: r["rate"])[len(runs) // 2] if runs else {}
            worst = max([x["idle_others"]] + [r["others"] for r in runs])
            oth = f"**{worst:.2f}**" if worst > quiet_cores else f"{worst:.2f}"
            L.append(f"| {x['n']:,} | {f2(x['registration_s'])} | {f2(x['idle_coord_pct'])} | "
                     f"{f2(x['idle_workers_pct'], 1)} | {x['coord_rss_mb']:.1f} | {x['worker_pss_mb']:.2f} | "
                     f"{x['worker_rss_mb']:.1f} | {x['rate']:,.0f} [{x['rate_min']:,.0f}–{x['rate_max']:,.0f}] | "
                     f"{f2(mid.get('coord_cpu_s', math.nan))} | {f2(mid.get('workers_cpu_s', math.nan))} | "
                     f"{f2(max([r['peak_rss_mb'] for r in runs] or [math.nan]), 1)} | {oth} |")
        L.append("")
        big = farms[-1]
        L.append(f"- Coordinator memory per connected worker: ({big['coord_rss_mb']:.1f} − {first['coord_rss_mb']:.1f}) "
                 f"MB ÷ {big['n'] - first['n']:,} workers = {per_worker_kb(s2):.0f} KB (idle RSS).")
        L.append(f"- Others' CPU: the most that processes other than the farm and its coordinator used in any of the "
                 f"row's windows, in cores; bold above {quiet_cores}.")
        L.append("")
    return L
