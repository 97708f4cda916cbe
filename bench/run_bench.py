#!/usr/bin/python3
"""taskfarm's benchmark harness (run it through scripts/bench).

Starts build/bin/testserver on loopback (and a second one with --https --rtt 20
for W4: HTTPS behind the rig's latency proxy), writes the URL and task files,
then for every workload (W1 W2 W3 W4 C1 D1, the million-task stdin run, and E1
E2 for exec/sh tasks) runs taskfarm and its peers in the same run (S1 and S2,
one coordinator with 10 to 1,000 worker processes, have no peers and their own
measurements: bench/scale_bench.py):
  1. each command once, output captured and checked (status codes, byte
     totals, prime counts, task counts, E1/E2's record files): a wrong run
     makes its row FAILED CHECK;
  2. the same command under hyperfine (--runs N --export-json), whole-process
     wall time including start-up, client CPU time (user+sys of the command and
     all its children) from hyperfine's rusage;
  3. for W3, D1 and the stdin run, once more while polling /proc for the peak
     RSS (VmHWM) of the coordinator and of its workers.
Then writes BENCHMARKS.md (or --out).

Must run on Debian's /usr/bin/python3 (the peers need python3-requests and
python3-httpx); needs hyperfine, curl, hey, wrk, GNU parallel (scripts/setup --bench).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import scale_bench

ROOT = Path(__file__).resolve().parent.parent
BIN = "build/bin"
PEERS = "bench/peers"
PY = "/usr/bin/python3"
PAGE_SIZES = (11369, 107786, 608312)
JSON_SIZE = 300


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def primes_below(n):
    """Independent reference for `cpu primes N` (a sieve, not the C++ kernel)."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n, i)))
    return sum(sieve)


# ---------------------------------------------------------------- checks
# Each check takes (rc, stdout, stderr) and returns (ok, detail).


def check_peer_urls(count, total_bytes):
    def check(rc, out, err):
        m = re.search(r"check: count=(\d+) ok=(\d+) bytes=(\d+)", out)
        if not m:
            return False, f"no check line (exit {rc}): {err.strip()[-200:]}"
        c, ok, b = map(int, m.groups())
        good = rc == 0 and c == count and ok == count and b == total_bytes
        return good, f"{ok}/{c} × 200, {b} B (want {count}, {total_bytes} B), exit {rc}"

    return check


def check_curl(count, total_bytes):
    def check(rc, out, err):
        lines = [l.split() for l in out.splitlines() if l.strip()]
        codes = [l[0] for l in lines if len(l) == 2]
        nbytes = sum(int(l[1]) for l in lines if len(l) == 2)
        ok = sum(1 for c in codes if c == "200")
        good = rc == 0 and len(lines) == count and ok == count and nbytes == total_bytes
        return good, f"{ok}/{len(lines)} × 200, {nbytes} B (want {count}, {total_bytes} B), exit {rc}"

    return check


def check_hey(count, total_bytes):
    def check(rc, out, err):
        codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
        m = re.search(r"Total data:\s+(\d+) bytes", out)
        nbytes = int(m.group(1)) if m else -1
        errors = "Error distribution" in out
        good = rc == 0 and codes == {200: count} and nbytes == total_bytes and not errors
        return good, f"status counts {codes}, {nbytes} B (want {count} × 200, {total_bytes} B){', errors' if errors else ''}"

    return check


def read_jsonl(path):
    records = []
    with open(path) as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    return records


def check_records(jsonl, judge):
    """A check that reads the check run's records and leaves the verdict to
    judge(rc, out, recs) -> (good, detail); unreadable records fail it."""
    def check(rc, out, err):
        try:
            recs = read_jsonl(jsonl)
        except (OSError, ValueError) as e:
            return False, f"cannot read {jsonl}: {e}"
        return judge(rc, out, recs)

    return check


def check_taskfarm_urls(count, total_bytes, jsonl):
    def judge(rc, out, recs):
        ids = {r.get("id") for r in recs}
        ok = sum(1 for r in recs if r.get("ok") and r.get("http_status") == 200)
        nbytes = sum(int(r.get("bytes") or 0) for r in recs)
        summary = f"Completed {count} tasks" in out
        good = rc == 0 and summary and len(recs) == count and len(ids) == count and ok == count and nbytes == total_bytes
        return good, (f"{ok}/{len(recs)} records ok × 200 ({len(ids)} ids), {nbytes} B "
                      f"(want {count}, {total_bytes} B), summary {'ok' if summary else 'MISSING'}, exit {rc}")

    return check_records(jsonl, judge)


def check_taskfarm_cpu(count, total, jsonl):
    def judge(rc, out, recs):
        ok = sum(1 for r in recs if r.get("ok"))
        got = sum(int(r.get("result") or 0) for r in recs)
        good = rc == 0 and len(recs) == count and ok == count and got == total
        return good, f"{ok}/{len(recs)} ok, primes total {got} (want {count} tasks, {total}), exit {rc}"

    return check_records(jsonl, judge)


def check_taskfarm_summary(count):
    def check(rc, out, err):
        m = re.search(r"tasks: (\d+) ok, (\d+) failed", out)
        done = re.search(r"Completed (\d+) tasks", out)
        if not m or not done:
            return False, f"no summary (exit {rc}): {err.strip()[-200:]}"
        ok, failed = int(m.group(1)), int(m.group(2))
        good = rc == 0 and ok == count and failed == 0 and int(done.group(1)) == count
        return good, f"{ok} ok, {failed} failed (want {count}), exit {rc}"

    return check


def check_baseline(total):
    def check(rc, out, err):
        m = re.search(r"total=(\d+)", out)
        got = int(m.group(1)) if m else -1
        return rc == 0 and got == total, f"primes total {got} (want {total}), exit {rc}"

    return check


def check_pool_noop(count):
    def check(rc, out, err):
        m = re.search(r"check: count=(\d+) ok=(\d+)", out)
        if not m:
            return False, f"no check line (exit {rc}): {err.strip()[-200:]}"
        c, ok = int(m.group(1)), int(m.group(2))
        return rc == 0 and c == count and ok == count, f"{ok}/{c} results right (want {count}), exit {rc}"

    return check


def check_taskfarm_exec(count, kind, jsonl):
    """E1/E2: the timed command itself writes --output, so this reads the
    record file of the check run: one record per task, each ok with exit 0."""
    def judge(rc, out, recs):
        ids = {r.get("id") for r in recs}
        ok = sum(1 for r in recs if r.get("ok") and r.get("kind") == kind and (r.get("exec") or {}).get("exit_code") == 0)
        summary = f"Completed {count} tasks" in out
        cpu = sorted((r.get("cpu_user_ms") or 0) + (r.get("cpu_sys_ms") or 0) for r in recs)
        mid = f", median task CPU {cpu[len(cpu) // 2]:.1f} ms" if cpu else ""
        good = rc == 0 and summary and len(recs) == count and len(ids) == count and ok == count
        return good, (f"{len(recs)} records in {jsonl.name} ({len(ids)} ids), {ok} {kind} ok with exit 0 "
                      f"(want {count}){mid}, summary {'ok' if summary else 'MISSING'}, exit {rc}")

    return check_records(jsonl, judge)


def exec_time_note(label, jsonl, peer_label):
    """E1: where a taskfarm row's time goes, from the records its last timed run
    wrote (start_ms since the first task was sent, duration_ms spawn to reaped, the command's
    own CPU), and its client CPU beside a peer's that ran the same commands."""
    def note(wl):
        by = {wl.key: wl}
        t, p = find_row(by, wl.key, label), find_row(by, wl.key, peer_label)
        if not good(t, p):
            return []
        try:
            recs = read_jsonl(jsonl)
        except (OSError, ValueError):
            return []
        med = lambda xs: sorted(xs)[len(xs) // 2] if xs else math.nan
        gaps = []
        for w in {r.get("worker") for r in recs}:
            rs = sorted((r for r in recs if r.get("worker") == w), key=lambda r: r["start_ms"])
            gaps += [b["start_ms"] - a["start_ms"] - a["duration_ms"] for a, b in zip(rs, rs[1:])]
        first = min(r["start_ms"] for r in recs)
        dur = med([r["duration_ms"] for r in recs])
        cpu = med([(r.get("cpu_user_ms") or 0) + (r.get("cpu_sys_ms") or 0) for r in recs])
        extra_ms = (t.cpu - p.cpu) / t.count * 1000
        return [f"- Where the time of {t.label.split(' (')[0]} goes (the records of its last timed run): the first "
                f"task starts {first:.1f} ms after the first dispatch (start-up is the summary's wait); on each worker the next task starts a median "
                f"{med(gaps) * 1000:.0f} µs after the last one ends (it is already at the worker: no round trip in "
                f"between); a task takes a median {dur:.2f} ms from spawn to reaped, {cpu:.2f} ms of it the "
                f"command's own CPU. Client CPU {fmt_s(t.cpu)} s against {p.label.split(' (')[0]}'s {fmt_s(p.cpu)} s "
                f"for the same commands, {extra_ms:.2f} ms more a task; the run keeps {t.cpu / t.median:.2f} of the "
                f"{os.cpu_count()} cores busy, so that extra CPU shows up as wall time."]

    return note


def check_xargs_trace(count):
    """xargs -t echoes each command line to stderr before it runs it."""
    def check(rc, out, err):
        n = sum(1 for l in err.splitlines() if l.strip())
        return rc == 0 and n == count, f"{n} commands run (xargs -t lines; want {count}), exit {rc}"

    return check


def check_parallel_joblog(count, joblog):
    """GNU parallel --joblog: a header, then one line per job with its Exitval and Signal."""
    def check(rc, out, err):
        try:
            lines = [l.split("\t") for l in Path(joblog).read_text().splitlines()[1:] if l.strip()]
        except OSError as e:
            return False, f"cannot read {joblog}: {e}"
        ok = sum(1 for l in lines if len(l) >= 8 and l[6] == "0" and l[7] == "0")
        return rc == 0 and len(lines) == count and ok == count, (
            f"{ok}/{len(lines)} jobs exit 0 in the joblog (want {count}), exit {rc}")

    return check


def connection_figures(jsonl):
    """From a url run's records: (records, connections opened, median tls_ms
    of the records that opened one, median first_byte_ms less the handshake),
    or None when the records cannot be read."""
    try:
        recs = read_jsonl(jsonl)
    except (OSError, ValueError):
        return None
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else math.nan
    t = [r.get("timings") or {} for r in recs]
    opened = [x for x in t if (x.get("new_connections") or 0) > 0]
    wait = [(x.get("first_byte_ms") or 0) - max(x.get("tls_ms") or 0, x.get("connect_ms") or 0) for x in t]
    return (len(recs), sum(x.get("new_connections") or 0 for x in t), med([x.get("tls_ms") or 0 for x in opened]),
            med(wait))


def connection_notes(rtt_ms):
    """W4: what each taskfarm row's check-run records say about connections."""
    def note(wl):
        out = []
        for r in wl.rows:
            if r.kind != "taskfarm" or r.status != "ok" or not r.records:
                continue
            f = connection_figures(r.records)
            if not f:
                continue
            n, conns, tls, wait = f
            out.append(f"- {r.label.split(' (')[0]}, from its check run's records: {conns} connections for {n} "
                       f"requests; a new connection's `tls_ms` (TCP and TLS handshakes done) median {tls:.1f} ms = "
                       f"{tls / rtt_ms:.2f} round trips; a request then waited a median {wait:.1f} ms for its "
                       f"response = {wait / rtt_ms:.2f} round trips.")
        return out

    return note


# ---------------------------------------------------------------- rows


@dataclass
class Row:
    label: str
    cmd: str
    kind: str  # taskfarm | peer | bound | ceiling
    count: int = 0  # requests or tasks the command does
    check: object = None
    check_cmd: str = ""  # defaults to cmd
    note: str = ""
    max_runs: int = 0  # 0: the mode's default
    min_runs: int = 0  # a fast command timed this many times at least (not in quick mode): its median is the figure
    mem: bool = False  # also measure peak RSS of coordinator + workers
    versus: str = ""  # label prefix of the peer this row is compared with (default: the best peer)
    records: object = None  # taskfarm url rows: the check run's record file (-o)
    # results
    status: str = "not run"
    detail: str = ""
    check_wall: float = 0.0
    runs: int = 0
    median: float = math.nan
    tmin: float = math.nan
    tmax: float = math.nan
    cpu: float = math.nan
    rate_override: float = math.nan  # wrk: requests/s measured by the tool itself
    others: float = math.nan  # CPU cores other processes used during the timed runs
    mem_result: dict = field(default_factory=dict)

    @property
    def rate(self):
        if not math.isnan(self.rate_override):
            return self.rate_override
        if self.count and self.median > 0:
            return self.count / self.median
        return math.nan


@dataclass
class Workload:
    key: str
    title: str
    description: str
    unit: str  # "req/s" or "tasks/s"
    rows: list
    bound: float = math.nan  # latency bound in seconds, if any
    bound_text: str = ""
    notes: object = None  # callable(workload) -> report lines under the table, from the run's results


def run_shell(cmd, timeout):
    p = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def choose_runs(args, check_wall, row):
    if args.quick:
        runs = 1 if check_wall > 1 else 2
    elif args.runs:
        runs = args.runs
    elif check_wall > 30:
        runs = 2
    elif check_wall > 5:
        runs = 3
    else:
        runs = 5
    if row.max_runs:
        runs = min(runs, row.max_runs)
    if row.min_runs and not args.quick and not args.runs:
        runs = max(runs, row.min_runs)
    return max(1, runs)


# ---------------------------------------------------------------- other load
# The machine may be shared (other builds and test runs). For every timed row we
# measure how much CPU *other* processes used meanwhile: all busy CPU time from
# /proc/stat, less what this harness's children (hyperfine and the commands it
# ran) and the test server used. Rows timed while others used a lot are flagged.

CLK = os.sysconf("SC_CLK_TCK")


def system_busy_s():
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:9]))
    return (sum(v) - v[3] - v[4]) / CLK  # all but idle and iowait


def pid_cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLK
    except (OSError, ValueError, IndexError):
        return 0.0


def own_cpu_s():
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = resource.getrusage(resource.RUSAGE_SELF)
    return c.ru_utime + c.ru_stime + m.ru_utime + m.ru_stime


class OtherLoad:
    """Measures others' CPU use (in cores) between start() and stop()."""

    def __init__(self, server_pids):
        self.server_pids = server_pids

    def servers_cpu_s(self):
        return sum(pid_cpu_s(pid) for pid in self.server_pids)

    def start(self):
        self.t = time.monotonic()
        self.busy = system_busy_s()
        self.own = own_cpu_s()
        self.srv = self.servers_cpu_s()
        return self

    def stop(self):
        dt = time.monotonic() - self.t
        busy = system_busy_s() - self.busy
        ours = (own_cpu_s() - self.own) + (self.servers_cpu_s() - self.srv)
        return max(0.0, busy - ours) / dt if dt > 0 else 0.0


def wait_for_quiet(args, label):
    """Before timing a row: wait (up to --max-wait s, and --max-wait-total over
    the run) until other processes use under --quiet-cores CPU."""
    if args.max_wait <= 0:
        return
    start = time.monotonic()
    waited_note = False
    while True:
        other = OtherLoad(args.server_pids).start()
        time.sleep(0.5)
        cores = other.stop()
        if cores < args.quiet_cores:
            break
        spent = time.monotonic() - start
        if spent >= args.max_wait or args.waited + spent >= args.max_wait_total:
            log(f"    machine still busy ({cores:.2f} cores used by others); timing anyway")
            break
        if not waited_note:
            log(f"    waiting for the machine to quieten (others use {cores:.2f} cores)...")
            waited_note = True
        time.sleep(2)
    args.waited += time.monotonic() - start


def hyperfine(cmd, runs, json_path, timeout):
    argv = ["hyperfine", "--runs", str(runs), "--export-json", str(json_path), "--style", "none", cmd]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"hyperfine failed (a timed run exited non-zero?): {(p.stderr or p.stdout).strip()[-300:]}")
    with open(json_path) as f:
        res = json.load(f)["results"][0]
    return res


def proc_tree_rss(pid_root):
    """One poll: {pid: (comm, VmHWM kB)} for pid_root and all its descendants."""
    parents = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            comm = s[s.index("(") + 1 : s.rindex(")")]
            ppid = int(s[s.rindex(")") + 2 :].split()[1])
            parents[int(d)] = (ppid, comm)
        except (OSError, ValueError):
            continue
    tree = {pid_root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                changed = True
    out = {}
    for pid in tree:
        if pid not in parents:
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out[pid] = (parents[pid][1], int(line.split()[1]))
                        break
        except OSError:
            continue
    return out


def measure_rss(cmd, timeout):
    """Runs cmd once, polling /proc every 10 ms: peak VmHWM of the coordinator and
    of the largest worker (each process's last reading before it exited), plus the
    coordinator's own 'peak RSS' line if it prints one."""
    # The trailing `exit` stops bash from exec'ing the command in place, so the
    # coordinator is forked from a small bash, not exec'd in a copy of this
    # Python process: at exec the kernel folds the old image's high-water mark
    # into the new program's ru_maxrss, which would inflate the coordinator's
    # self-reported (getrusage) peak by the harness's own ~30-40 MB.
    p = subprocess.Popen(["bash", "-c", cmd + "\nexit $?"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak = {}
    deadline = time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < deadline:
        for pid, (comm, hwm) in proc_tree_rss(p.pid).items():
            old = peak.get(pid, (comm, 0))
            peak[pid] = (comm, max(old[1], hwm))
        time.sleep(0.01)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
    out, err = p.communicate()
    coord = max((h for c, h in peak.values() if c.startswith("coordinator")), default=0)
    workers = [h for c, h in peak.values() if c == "worker"]
    m = re.search(r"coordinator peak RSS: ([\d.]+) MB", out + err)
    return {
        "coordinator_mb": coord / 1024,
        "worker_mb": max(workers) / 1024 if workers else math.nan,
        "workers_seen": len(workers),
        "self_reported_mb": float(m.group(1)) if m else math.nan,
        "rc": p.returncode,
    }


def run_row(args, wl, row, idx):
    if row.kind == "bound":
        row.status = "ok"
        return
    log(f"[{wl.key}] {row.label}: {row.cmd}")
    if row.kind == "ceiling":
        return  # run by the workload itself
    t0 = time.monotonic()
    try:
        rc, out, err = run_shell(row.check_cmd or row.cmd, timeout=900)
    except subprocess.TimeoutExpired:
        row.status, row.detail = "FAILED CHECK", "check run timed out after 900 s"
        log(f"    {row.status}: {row.detail}")
        return
    row.check_wall = time.monotonic() - t0
    ok, row.detail = row.check(rc, out, err)
    if not ok:
        row.status = "FAILED CHECK"
        log(f"    FAILED CHECK: {row.detail}")
        (args.work / f"{wl.key}-{idx}.failed.out").write_text(out + "\n--- stderr ---\n" + err)
    else:
        row.status = "ok"
        log(f"    check ok ({row.check_wall:.2f} s): {row.detail}")
    row.runs = choose_runs(args, row.check_wall, row)
    # --retime-noisy N: a row timed while others used over --quiet-cores is
    # timed again, up to N more times; the report keeps the last timing and
    # counts the re-timings.
    for attempt in range(args.retime_noisy + 1):
        if attempt:
            args.retimed += 1
            log(f"    others used {row.others:.2f} cores: timing again ({attempt} of {args.retime_noisy})")
        wait_for_quiet(args, row.label)
        other = OtherLoad(args.server_pids).start()
        try:
            res = hyperfine(row.cmd, row.runs, args.work / f"{wl.key}-{idx}.hyperfine.json",
                            timeout=row.runs * max(120, 4 * row.check_wall) + 60)
            row.median, row.tmin, row.tmax = res["median"], res["min"], res["max"]
            row.cpu = (res.get("user") or 0) + (res.get("system") or 0)
            row.others = other.stop()
            log(f"    {row.runs} runs: median {row.median:.3f} s [{row.tmin:.3f}–{row.tmax:.3f}], cpu {row.cpu:.2f} s, "
                f"others used {row.others:.2f} cores")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            row.status = "FAILED RUN"
            row.detail = str(e)
            log(f"    {row.status}: {row.detail}")
            return
        if row.others <= args.quiet_cores:
            break
    if row.mem:
        row.mem_result = measure_rss(row.cmd, timeout=600)
        m = row.mem_result
        log(f"    peak RSS: coordinator {m['coordinator_mb']:.1f} MB (self-reported {m['self_reported_mb']}), "
            f"largest worker {m['worker_mb']:.1f} MB")


def run_wrk(args, wl, row, url):
    dur = 2 if args.quick else 5
    row.cmd = f"wrk -t1 -c64 -d{dur}s {url}"
    log(f"[{wl.key}] {row.label}: {row.cmd}")
    wait_for_quiet(args, row.label)
    other = OtherLoad(args.server_pids).start()
    rc, out, err = run_shell(row.cmd, timeout=60)
    row.others = other.stop()
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    if rc != 0 or not m or bad:
        row.status, row.detail = "FAILED CHECK", f"exit {rc}; {out.strip()[-300:]}"
    else:
        row.status = "ok"
        row.rate_override = float(m.group(1))
        reqs = re.search(r"(\d+) requests in ([\d.]+)s", out)
        row.detail = f"{reqs.group(1)} requests in {reqs.group(2)} s, all 2xx" if reqs else "all 2xx"
        if sock:
            row.detail += f"; socket errors: {sock.group(1)}"
    row.median = float(dur)
    log(f"    {row.status}: {row.rate_override:.0f} req/s ({row.detail})")


# ---------------------------------------------------------------- workloads


def build_workloads(args, base, tls):
    """base: the plain server's URL; tls: (URL, CA file, RTT ms) of the HTTPS
    one behind the latency proxy (W4)."""
    q = args.quick
    work = args.work
    rel = lambda p: str(p)  # files live in the work dir; commands name them absolutely
    binr = args.bin  # snapshot of build/bin (see snapshot_bins)
    coord = f"{binr}/coordinator"
    wls = []

    def write_urls(name, urls):
        path = work / f"{name}.urls"
        path.write_text("".join(u + "\n" for u in urls))
        cfg = work / f"{name}.curl"
        cfg.write_text("".join(f'url = "{u}"\noutput = "/dev/null"\n' for u in urls))
        return rel(path), rel(cfg)

    def tf_url_row(label, flags, urls_file, count, nbytes, key, **kw):
        cmd = f"{coord} {flags} --urls {urls_file} -q"
        jsonl = work / f"{key}-check.jsonl"
        return Row(label, cmd, "taskfarm", count, check_taskfarm_urls(count, nbytes, jsonl),
                   check_cmd=f"{cmd} -o {jsonl}", records=jsonl, **kw)

    def python_rows(urls_file, count, nbytes, slow_cap, cap_all=0):
        c = check_peer_urls(count, nbytes)
        rows = [
            Row("Python sequential requests.get", f"{PY} {PEERS}/seq_requests.py {urls_file}", "peer", count, c,
                max_runs=slow_cap),
            Row("Python one requests.Session", f"{PY} {PEERS}/session_requests.py {urls_file}", "peer", count, c,
                max_runs=slow_cap),
            Row("Python ThreadPoolExecutor(5), Session per thread",
                f"{PY} {PEERS}/threadpool_requests.py --workers 5 {urls_file}", "peer", count, c),
            Row("Python ThreadPoolExecutor(100), Session per thread",
                f"{PY} {PEERS}/threadpool_requests.py --workers 100 {urls_file}", "peer", count, c),
            Row("Python multiprocessing.Pool(5).map, Session per process",
                f"{PY} {PEERS}/mp_pool_requests.py --procs 5 {urls_file}", "peer", count, c),
            Row("Python asyncio + httpx.AsyncClient, 100 at once",
                f"{PY} {PEERS}/asyncio_httpx.py --limit 100 {urls_file}", "peer", count, c),
        ]
        for r in rows:
            if cap_all:
                r.max_runs = min(r.max_runs or cap_all, cap_all)
        return rows

    def curl_row(cfg, k, count, nbytes):
        return Row(f"curl --parallel --parallel-max {k}",
                   f"curl -K {cfg} -Z --parallel-max {k} -s -w '%{{http_code}} %{{size_download}}\\n'",
                   "peer", count, check_curl(count, nbytes))

    # W1: the tutorial's 90 pages, 100 ms server delay.
    reps = 5 if q else 30
    urls = [f"{base}/page/{i}?delay=100" for _ in range(reps) for i in (1, 2, 3)]
    n1 = len(urls)
    b1 = reps * sum(PAGE_SIZES)
    f1, cfg1 = write_urls("w1", urls)
    waves = math.ceil(n1 / 5)
    wls.append(Workload(
        "W1", f"W1: {n1} page downloads ({reps} × /page/1, /page/2, /page/3 = 11,369 / 107,786 / 608,312 B), 100 ms server delay",
        f"{n1} GETs, {b1:,} bytes in all. hey takes a single URL, so it has no W1 row.", "req/s",
        [tf_url_row("taskfarm --workers 5 (defaults: --concurrency 32)", "--workers 5", f1, n1, b1, "W1a"),
         tf_url_row("taskfarm --workers 5 --concurrency 1 (the Pool(5) analogue)", "--workers 5 --concurrency 1",
                    f1, n1, b1, "W1b"),
         Row(f"latency bound, 5 at a time: {waves} waves × 100 ms", "—", "bound", n1),
         curl_row(cfg1, 5, n1, b1), curl_row(cfg1, 100, n1, b1)]
        + python_rows(f1, n1, b1, 3),
        bound=waves * 0.1, bound_text=f"{waves} waves × 100 ms"))

    # W2: 1,000 GETs of /json with 50 ms delay, total concurrency 100.
    n2 = 100 if q else 1000
    url2 = f"{base}/json?delay=50"
    f2, cfg2 = write_urls("w2", [url2] * n2)
    b2 = n2 * JSON_SIZE
    waves2 = math.ceil(n2 / 100)
    wls.append(Workload(
        "W2", f"W2: {n2:,} GETs of the 300-byte /json, 50 ms server delay, total concurrency 100",
        f"{n2:,} GETs, {b2:,} bytes. The sequential Python peers take ~{n2 * 0.053:.0f} s a run, so they get "
        "fewer runs (the runs column says how many).", "req/s",
        [tf_url_row("taskfarm --workers 2 --concurrency 50", "--workers 2 --concurrency 50", f2, n2, b2, "W2a"),
         tf_url_row("taskfarm --workers 1 --concurrency 100", "--workers 1 --concurrency 100", f2, n2, b2, "W2b"),
         Row(f"latency bound, 100 at a time: {waves2} waves × 50 ms", "—", "bound", n2),
         curl_row(cfg2, 100, n2, b2),
         Row("hey -c 100", f"hey -n {n2} -c 100 '{url2}'", "peer", n2, check_hey(n2, b2))]
        + python_rows(f2, n2, b2, 2),
        bound=waves2 * 0.05, bound_text=f"{waves2} waves × 50 ms"))

    # W3: 10,000 GETs of /json, no delay: throughput.
    n3 = 1000 if q else 10000
    url3 = f"{base}/json"
    f3, cfg3 = write_urls("w3", [url3] * n3)
    b3 = n3 * JSON_SIZE
    wls.append(Workload(
        "W3", f"W3: {n3:,} GETs of the 300-byte /json, no delay (throughput)",
        f"{n3:,} GETs, {b3:,} bytes. The Python peers take 5-30 s a run here, so they get at most 2 runs. Client and server share the machine's {os.cpu_count()} cores. "
        "taskfarm runs with its defaults (2 workers × 32 in flight = 64); curl and hey at 100 (hey splits -n "
        "evenly over -c, so -c must divide -n); wrk at 64 connections gives the server's ceiling (a "
        "fixed-duration run, so it has no wall time and is not a peer for the ratio). `--metrics` adds "
        "its HTTP thread and the loop's counting (docs/METRICS.md) to the first row's run.", "req/s",
        [tf_url_row("taskfarm --workers 2 (defaults: --concurrency 32)", "--workers 2", f3, n3, b3, "W3a", mem=True),
         tf_url_row("taskfarm --workers 1 (defaults: --concurrency 32)", "--workers 1", f3, n3, b3, "W3b"),
         tf_url_row("taskfarm --workers 2 --metrics (served, not scraped)", "--workers 2 --metrics 127.0.0.1:0", f3,
                    n3, b3, "W3c"),
         Row("wrk -t1 -c64 (server ceiling)", "", "ceiling", n3),
         curl_row(cfg3, 100, n3, b3),
         Row("hey -c 100", f"hey -n {n3} -c 100 '{url3}'", "peer", n3, check_hey(n3, b3))]
        + python_rows(f3, n3, b3, 2, cap_all=2)))
    wls[-1].wrk_url = url3

    # W4: 300 HTTPS GETs of /json at 20 ms round trip: the server behind the
    # rig's latency proxy (testserver --https --rtt 20), so every new
    # connection pays its TCP and TLS handshakes in round trips. Every client
    # verifies the server's certificate against the run's CA, except hey,
    # which cannot (it sets InsecureSkipVerify and has no CA option).
    base4, ca, rtt_ms = tls
    n8 = 100 if q else 300  # hey splits -n evenly over -c (50, 100)
    url4 = f"{base4}/json"
    f4, cfg4 = write_urls("w4", [url4] * n8)
    b4 = n8 * JSON_SIZE
    cores = os.cpu_count()
    in_flight = min(n8, cores * 32)  # taskfarm's defaults: a worker per core, 32 in flight each
    waves4 = math.ceil(n8 / in_flight)
    bound4 = (2 * rtt_ms + waves4 * rtt_ms) / 1000
    curl4 = lambda label, k: Row(label, f"curl --cacert {ca} -K {cfg4} -Z{f' --parallel-max {k}' if k else ''} -s "
                                 "-w '%{http_code} %{size_download}\\n'", "peer", n8, check_curl(n8, b4))
    c4 = check_peer_urls(n8, b4)
    wls.append(Workload(
        "W4", f"W4: {n8} HTTPS GETs of the 300-byte /json at {rtt_ms:g} ms round trip",
        f"{n8} GETs, {b4:,} bytes, from `testserver --https --rtt {rtt_ms:g}`: a latency proxy in front of the "
        f"test server (the rig's stand-in for a network's round trips, since these machines' kernels have no netem) holds each "
        f"direction's bytes {rtt_ms / 2:g} ms and a new connection's first flight {rtt_ms:g} ms more, for the TCP "
        "handshake it stands in for. The server resumes no TLS sessions, so every new connection is 2 round trips "
        "of handshakes (that stand-in, then TLS 1.3's) before its request's own. Everyone verifies the server's "
        "certificate against the run's CA (`--cacert`, `verify=`) except hey, which cannot: it skips "
        "verification (InsecureSkipVerify) and has no CA option. taskfarm runs with its defaults (a worker per "
        f"core: {cores} × 32 in flight = {cores * 32}); the peers at 100 in flight as in W2 and W3, and curl and hey "
        "at their own defaults (50) too.", "req/s",
        [tf_url_row(f"taskfarm defaults ({cores} workers × --concurrency 32)", f"--cacert {ca}", f4, n8, b4, "W4a"),
         tf_url_row("taskfarm --no-reuse (a new connection per request)", f"--cacert {ca} --no-reuse", f4, n8, b4,
                    "W4b"),
         tf_url_row(f"taskfarm --concurrency 1 ({cores} workers, 1 at a time each)", f"--cacert {ca} --concurrency 1",
                    f4, n8, b4, "W4c"),
         tf_url_row(f"taskfarm --concurrency 50 ({cores * 50} in flight)", f"--cacert {ca} --concurrency 50", f4, n8,
                    b4, "W4d"),
         Row(f"latency bound, {in_flight} at a time: 2 round trips of handshakes + {waves4} waves × {rtt_ms:g} ms",
             "—", "bound", n8),
         curl4("curl --parallel (its default --parallel-max 50)", 0),
         curl4("curl --parallel --parallel-max 100", 100),
         Row("hey (-c 50, its default; no certificate check)", f"hey -n {n8} '{url4}'", "peer", n8,
             check_hey(n8, b4)),
         Row("hey -c 100 (no certificate check)", f"hey -n {n8} -c 100 '{url4}'", "peer", n8, check_hey(n8, b4)),
         Row("Python sequential requests.get", f"{PY} {PEERS}/seq_requests.py --cacert {ca} {f4}", "peer", n8, c4,
             max_runs=3),
         Row("Python one requests.Session", f"{PY} {PEERS}/session_requests.py --cacert {ca} {f4}", "peer", n8, c4,
             max_runs=3),
         Row("Python asyncio + httpx.AsyncClient, 100 at once",
             f"{PY} {PEERS}/asyncio_httpx.py --limit 100 --cacert {ca} {f4}", "peer", n8, c4)],
        bound=bound4, bound_text=f"2 × {rtt_ms:g} ms of handshakes + {waves4} waves × {rtt_ms:g} ms",
        notes=connection_notes(rtt_ms)))

    # C1: 400 × cpu primes 125000 on 1 and 2 workers vs the bare kernel.
    n4 = 50 if q else 400
    c1 = work / "c1.tasks"
    c1.write_text("cpu primes 125000\n" * n4)
    total = n4 * primes_below(125000)
    jsonl_a, jsonl_b = work / "C1a-check.jsonl", work / "C1b-check.jsonl"
    cmd_a = f"{coord} --workers 1 --tasks {c1} -q"
    cmd_b = f"{coord} --workers 2 --tasks {c1} -q"
    wls.append(Workload(
        "C1", f"C1: {n4} × `cpu primes 125000` (CPU-bound)",
        f"Each task counts the {primes_below(125000):,} primes below 125,000 by trial division; the check wants "
        f"{total:,} in all. primes_baseline runs the same kernel (worker/cpu_kernels.h) with no farm: in one "
        "process, and split statically over 2 forked processes.", "tasks/s",
        [Row("taskfarm --workers 1", cmd_a, "taskfarm", n4, check_taskfarm_cpu(n4, total, jsonl_a),
             check_cmd=f"{cmd_a} -o {jsonl_a}"),
         Row("taskfarm --workers 2", cmd_b, "taskfarm", n4, check_taskfarm_cpu(n4, total, jsonl_b),
             check_cmd=f"{cmd_b} -o {jsonl_b}"),
         Row("primes_baseline, 1 process", f"{binr}/primes_baseline --tasks {n4}", "peer", n4, check_baseline(total)),
         Row("primes_baseline --procs 2 (static split)", f"{binr}/primes_baseline --tasks {n4} --procs 2", "peer",
             n4, check_baseline(total))]))

    # D1: a million no-op tasks.
    n5 = 50_000 if q else 1_000_000
    n5_c1 = 10_000 if q else 100_000
    d1 = work / "d1.tasks"
    d1.write_text("noop\n" * n5)
    wls.append(Workload(
        "D1", f"D1: {n5:,} `noop` tasks through 2 workers (dispatch overhead)",
        f"No output file. `Pool.map` with chunksize 1 runs {n5_c1:,} calls, not {n5:,} (it does ~30k a second), "
        "so compare it by rate or per-task time, not wall time. Ratios here are by rate.", "tasks/s",
        [Row("taskfarm --workers 2 -q (batching on, default --batch 256)", f"{coord} --workers 2 --tasks {d1} -q",
             "taskfarm", n5, check_taskfarm_summary(n5), mem=True),
         Row("taskfarm --workers 2 -q --no-batch", f"{coord} --workers 2 --tasks {d1} -q --no-batch", "taskfarm",
             n5, check_taskfarm_summary(n5), versus="Python multiprocessing.Pool(2).map, chunksize=1"),
         Row("Python multiprocessing.Pool(2).map, default chunksize",
             f"{PY} {PEERS}/pool_noop.py --procs 2 --tasks {n5}", "peer", n5, check_pool_noop(n5)),
         Row(f"Python multiprocessing.Pool(2).map, chunksize=1 ({n5_c1:,} calls)",
             f"{PY} {PEERS}/pool_noop.py --procs 2 --chunksize 1 --tasks {n5_c1}", "peer", n5_c1,
             check_pool_noop(n5_c1))]))

    # ST: start-up. One task, five workers: what every short run, every
    # compare mode and sweep point pays before and after its work. The
    # --worker-bin row spawns each worker (posix_spawn + exec of `worker`),
    # as every local worker was started before the fork server.
    st = work / "st.tasks"
    st.write_text("noop\n")
    wls.append(Workload(
        "ST", "ST: start-up, `coordinator --workers 5` over one `noop` task (whole process)",
        "From exec to exit: the coordinator starts, its five workers start and register (one runs the task), "
        "all are told to go and reaped. Local workers are forked from the fork server by default; `--worker-bin` "
        "spawns them as every local worker was started before it. The Python peer starts a Pool of 5 "
        "(fork, Linux's default start method) and maps one no-op call.", "tasks/s",
        [Row("taskfarm --workers 5 (workers forked from the fork server)", f"{coord} --workers 5 --tasks {st} -q",
             "taskfarm", 1, check_taskfarm_summary(1), min_runs=30),
         Row("taskfarm --workers 5 --worker-bin (each worker spawned and exec'd)",
             f"{coord} --workers 5 --worker-bin {binr}/worker --tasks {st} -q", "taskfarm", 1,
             check_taskfarm_summary(1), min_runs=30, versus="taskfarm --workers 5 (workers forked"),
         Row("taskfarm --workers 1", f"{coord} --workers 1 --tasks {st} -q", "taskfarm", 1,
             check_taskfarm_summary(1), min_runs=30),
         Row("Python multiprocessing.Pool(5).map over one call", f"{PY} {PEERS}/pool_noop.py --procs 5 --tasks 1",
             "peer", 1, check_pool_noop(1), min_runs=30)]))

    # The million-task run from standard input.
    wls.append(Workload(
        "STDIN", f"{n5:,} `noop` tasks read from standard input",
        "The coordinator streams the task list from a pipe; its peak RSS must stay under 100 MB.", "tasks/s",
        [Row("taskfarm --workers 2 --tasks - -q", f"yes noop | head -{n5} | {coord} --workers 2 --tasks - -q",
             "taskfarm", n5, check_taskfarm_summary(n5), mem=True)]))

    # E1 and E2: the user's own commands (exec / sh tasks) beside xargs -P and
    # GNU parallel. taskfarm's timed command writes its records (--output):
    # every task's full JSON record is part of what is timed, not only of the
    # check. The peers' check runs add -t (xargs) or --joblog (parallel) to
    # count the commands they ran; --will-cite keeps GNU parallel's citation
    # notice out of every run.
    def tf_exec_row(label, flags, key, count, kind, **kw):
        jsonl = work / f"{key}.jsonl"
        cmd = f"{coord} {flags} -o {jsonl} -q"
        return Row(label, cmd, "taskfarm", count, check_taskfarm_exec(count, kind, jsonl), **kw)

    def xargs_row(label, p, count, command, each="-n1"):
        # -n1 appends the input line to the command; -I{} with no {} in the
        # command runs it as written, once a line.
        cmd = f"seq {count} | xargs -P{p} {each} {command}"
        return Row(label, cmd, "peer", count, check_xargs_trace(count),
                   check_cmd=f"seq {count} | xargs -t -P{p} {each} {command}")

    def parallel_row(label, j, count, command, key, quote=False):
        q = " -q" if quote else ""
        joblog = work / f"{key}.joblog"
        cmd = f"seq {count} | parallel --will-cite -j{j} -N0{q} {command}"
        return Row(label, cmd, "peer", count, check_parallel_joblog(count, joblog),
                   check_cmd=f"seq {count} | parallel --will-cite --joblog {joblog} -j{j} -N0{q} {command}")

    # E1: 2,000 × `exec true` through 2 workers: the cost of one command.
    n6 = 200 if q else 2000
    e1 = work / "e1.tasks"
    e1.write_text("exec true\n" * n6)
    e1_args = work / "e1.args"
    e1_args.write_text("".join(f"{i}\n" for i in range(1, n6 + 1)))
    wls.append(Workload(
        "E1", f"E1: {n6:,} × `exec true` through 2 workers (per-command overhead)",
        f"Each task runs /bin/true, so the time is what it costs to start, wait for and record one command. "
        f"taskfarm writes a full JSON record per task (`-o`); the check reads it back: {n6:,} records, each exit 0. "
        "Rows come in pairs that run the same argv, because `true N` is not `true`: coreutils' true, given exactly "
        "one argument, sets up its locale to look for --help/--version, ~0.2 ms more a call here. `true`: the "
        "`exec true` file, `xargs -I{} true` (no {} in the command, so nothing is appended) and `parallel -N0 true`; "
        "`true N`: `--exec true --args` (GNU parallel's habit of appending the argument) and `xargs -n1 true`.",
        "tasks/s",
        [tf_exec_row("taskfarm --workers 2, `exec true` task file (runs `true`)", f"--workers 2 --tasks {e1}", "E1a",
                     n6, "exec"),
         tf_exec_row("taskfarm --workers 2 --exec true --args (runs `true N`)",
                     f"--workers 2 --exec true --args {e1_args}", "E1b", n6, "exec", versus="xargs -P2 -n1"),
         xargs_row("xargs -P2 -I{} (runs `true`)", 2, n6, "true", each="-I{}"),
         xargs_row("xargs -P2 -n1 (runs `true N`)", 2, n6, "true"),
         parallel_row("GNU parallel -j2 -N0 (runs `true`)", 2, n6, "true", "E1-parallel")],
        notes=exec_time_note("taskfarm --workers 2, `exec", work / "E1a.jsonl", "xargs -P2 -I{}")))

    # E2: 200 CPU-bound shell commands (~60 ms of dash arithmetic each) on 1
    # and 2 workers; xargs -P1/-P2 show what the 2 cores give with no farm.
    n7 = 20 if q else 200
    loop = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"
    e2 = work / "e2.tasks"
    e2.write_text(f"sh '{loop}'\n" * n7)
    sh_loop = f"sh -c '{loop}'"
    wls.append(Workload(
        "E2", f"E2: {n7} × `sh '{loop}'` (CPU-bound commands)",
        f"Each command is /bin/sh (dash) counting to 100,000, ~70 ms of CPU here. taskfarm writes a record per task "
        f"(`-o`); the check reads back {n7} `sh` records, each exit 0. xargs passes its input line as the "
        "script's $0, which it ignores; GNU parallel needs -q to keep the quoted script one argument.", "tasks/s",
        [tf_exec_row("taskfarm --workers 1", f"--workers 1 --tasks {e2}", "E2a", n7, "sh"),
         tf_exec_row("taskfarm --workers 2", f"--workers 2 --tasks {e2}", "E2b", n7, "sh"),
         xargs_row("xargs -P1 -n1 (one at a time, no farm)", 1, n7, sh_loop),
         xargs_row("xargs -P2 -n1", 2, n7, sh_loop),
         parallel_row("GNU parallel -j2 -N0 -q", 2, n7, sh_loop, "E2-parallel", quote=True)]))
    return wls


# ---------------------------------------------------------------- report


def fmt_s(x):
    if math.isnan(x):
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def fmt_rate(x):
    if math.isnan(x):
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def best_peer(wl):
    peers = [r for r in wl.rows if r.kind == "peer" and r.status == "ok" and not math.isnan(r.rate)]
    return max(peers, key=lambda r: r.rate) if peers else None


def machine_info():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    def dpkg(pkg):
        try:
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True).stdout
        except Exception:
            return "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem": mem,
        "kernel": f"{platform.system()} {platform.release()}",
        "tools": ", ".join([
            version(["hyperfine", "--version"]),
            version(["curl", "--version"]).split(" (")[0],
            f"wrk {dpkg('wrk')}", f"hey {dpkg('hey')}", f"GNU parallel {dpkg('parallel')}",
            f"xargs (findutils) {dpkg('findutils')}",
            f"Python {platform.python_version()}", f"requests {dpkg('python3-requests')}",
            f"httpx {dpkg('python3-httpx')}"]),
    }


def commit_id():
    """The checked-out commit, read from .git without running git."""
    try:
        git = ROOT / ".git"
        if git.is_file():
            git = (ROOT / git.read_text().split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if (git / "commondir").exists():  # a worktree: its branches live in the main .git
            git = (git / (git / "commondir").read_text().strip()).resolve()
        if head.startswith("ref:"):
            ref = head.split(None, 1)[1]
            p = git / ref
            if p.exists():
                return p.read_text().strip()[:12]
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:12]
            return "?"
        return head[:12]
    except OSError:
        return "?"


def find_row(by, wk, label):
    """The first row of workload wk whose label starts with label, or None."""
    for r in by[wk].rows if wk in by else []:
        if r.label.startswith(label):
            return r
    return None


def good(*rs):
    """Whether every row ran, passed its check and has a median."""
    return all(r is not None and r.status == "ok" and not math.isnan(r.median) for r in rs)


def target_rows(wls):
    """Issue 5's 'must show' list, evaluated on this run."""
    by = {w.key: w for w in wls}
    out = []
    row = lambda wk, label: find_row(by, wk, label)

    if "W1" in by:
        w = by["W1"]
        a, b = row("W1", "taskfarm --workers 5 (defaults"), row("W1", "taskfarm --workers 5 --concurrency 1")
        bp = best_peer(w)
        if good(a) and bp:
            r = bp.median / a.median
            out.append(("W1 `--workers 5` faster than every peer", f"{r:.2f}× the best peer ({bp.label} {fmt_s(bp.median)} s; taskfarm {fmt_s(a.median)} s)", r > 1))
        if good(b):
            r = b.median / w.bound
            c5 = row("W1", "curl --parallel --parallel-max 5")
            ctx = f"; curl --parallel-max 5 takes {fmt_s(c5.median)} s = {c5.median / w.bound:.2f}×" if good(c5) else ""
            out.append(("W1 `--workers 5 --concurrency 1` within 1.1× of the latency bound",
                        f"{fmt_s(b.median)} s = {r:.2f}× the bound ({w.bound_text} = {w.bound:.2f} s){ctx}", r <= 1.1))
    if "W2" in by:
        w = by["W2"]
        hey, curl = row("W2", "hey"), row("W2", "curl")
        for label in ("taskfarm --workers 2 --concurrency 50", "taskfarm --workers 1 --concurrency 100"):
            t = row("W2", label)
            if good(t, hey, curl):
                rh, rc = hey.median / t.median, curl.median / t.median
                out.append((f"W2 `{label[9:]}` faster than hey -c 100 and curl --parallel-max 100",
                            f"{rh:.2f}× hey, {rc:.2f}× curl", rh > 1 and rc > 1))
            if good(t):
                r = t.median / w.bound
                out.append((f"W2 `{label[9:]}` within 1.3× of the latency bound",
                            f"{fmt_s(t.median)} s = {r:.2f}× the bound ({w.bound_text} = {w.bound:.2f} s)", r <= 1.3))
    if "W3" in by:
        t, curl, hey = row("W3", "taskfarm --workers 2"), row("W3", "curl"), row("W3", "hey")
        if good(t, curl, hey):
            out.append(("W3 at least curl --parallel's requests/s (aim: hey's)",
                        f"{fmt_rate(t.rate)} req/s vs curl {fmt_rate(curl.rate)} ({t.rate / curl.rate:.2f}×), "
                        f"hey {fmt_rate(hey.rate)} ({t.rate / hey.rate:.2f}×)", t.rate >= curl.rate))
        m = row("W3", "taskfarm --workers 2 --metrics")
        if good(t, m):
            out.append(("W3 with `--metrics` within noise of without (its median inside the plain run's range)",
                        f"{fmt_s(m.median)} s vs {fmt_s(t.median)} s [{fmt_s(t.tmin)}–{fmt_s(t.tmax)}] "
                        f"({m.median / t.median:.2f}×)", m.median <= t.tmax))
    if "C1" in by:
        a, b = row("C1", "taskfarm --workers 1"), row("C1", "taskfarm --workers 2")
        split = row("C1", "primes_baseline --procs 2")
        if good(a, b):
            r = a.median / b.median
            base = row("C1", "primes_baseline, 1 process")
            ctx = f" ({fmt_s(a.median)} s → {fmt_s(b.median)} s; 1 worker is {a.median / base.median:.2f}× the bare kernel's {fmt_s(base.median)} s)" if good(base) else ""
            out.append(("C1 2 workers ≥ 1.8× faster than 1 worker", f"{r:.3f}×{ctx}", r >= 1.8))
        if good(b, split):
            r = b.median / split.median
            out.append(("C1 2 workers within 1.15× of the static 2-process split",
                        f"{fmt_s(b.median)} s vs {fmt_s(split.median)} s = {r:.2f}×", r <= 1.15))
    if "D1" in by:
        a, nb = row("D1", "taskfarm --workers 2 -q (batching"), row("D1", "taskfarm --workers 2 -q --no-batch")
        pd, p1 = row("D1", "Python multiprocessing.Pool(2).map, default"), row("D1", "Python multiprocessing.Pool(2).map, chunksize=1")
        if good(a):
            extra = f" (Pool.map default chunksize: {fmt_rate(pd.rate)})" if good(pd) else ""
            out.append(("D1 ≥ 1,000,000 no-op tasks/s with batching", f"{fmt_rate(a.rate)} tasks/s{extra}",
                        a.rate >= 1_000_000))
        if good(nb, p1):
            us_nb, us_p1 = 1e6 / nb.rate, 1e6 / p1.rate
            out.append(("D1 per-task overhead with --no-batch well under Pool.map chunksize=1",
                        f"{us_nb:.1f} µs vs {us_p1:.1f} µs per task (Pool ÷ taskfarm = {us_p1 / us_nb:.2f}; "
                        "'well under' taken as ≥ 2)", us_nb <= 0.5 * us_p1))
    if "STDIN" in by:
        s = by["STDIN"].rows[0]
        if s.mem_result:
            mb = s.mem_result["coordinator_mb"]
            out.append(("Million tasks from stdin: coordinator peak RSS < 100 MB", f"{mb:.1f} MB", mb < 100))
    return out


def exec_target_rows(wls):
    """The exec/sh feature's targets (E1, E2), evaluated on this run."""
    by = {w.key: w for w in wls}
    out = []
    row = lambda wk, label: find_row(by, wk, label)
    if "E1" in by:
        t, tn = row("E1", "taskfarm --workers 2, `exec"), row("E1", "taskfarm --workers 2 --exec")
        xi, xn, gp = row("E1", "xargs -P2 -I{}"), row("E1", "xargs -P2 -n1"), row("E1", "GNU parallel")
        for tf, xa, what in ((t, xi, "`true`: `exec true` file vs `xargs -P2 -I{} true`"),
                             (tn, xn, "`true N`: `--exec true --args` vs `xargs -P2 -n1 true`")):
            if good(tf, xa):
                r = tf.rate / xa.rate
                out.append((f"E1 2 workers, a record per task, at least xargs -P2's tasks/s ({what})",
                            f"{fmt_rate(tf.rate)} vs {fmt_rate(xa.rate)} tasks/s = {r:.2f}×; "
                            f"{tf.detail.split(' (')[0]}", r >= 1))
        if good(t, gp):
            r = t.rate / gp.rate
            out.append(("E1 at least 5× GNU parallel -j2's tasks/s (`true`: `exec true` file vs `parallel -j2 -N0 true`)",
                        f"{fmt_rate(t.rate)} vs {fmt_rate(gp.rate)} tasks/s = {r:.2f}×", r >= 5))
    if "E2" in by:
        a, b = row("E2", "taskfarm --workers 1"), row("E2", "taskfarm --workers 2")
        x1, x2 = row("E2", "xargs -P1"), row("E2", "xargs -P2")
        if good(a, b):
            r = a.median / b.median
            ctx = f"; xargs -P1 → -P2: {x1.median / x2.median:.3f}×" if good(x1, x2) else ""
            out.append(("E2 2 workers ≥ 1.8× faster than 1 worker",
                        f"{r:.3f}× ({fmt_s(a.median)} s → {fmt_s(b.median)} s{ctx})", r >= 1.8))
    return out


def w4_target_rows(wls, rtt_ms):
    """Issue 14's W4 targets, evaluated on this run."""
    by = {w.key: w for w in wls}
    if "W4" not in by:
        return []
    out = []
    w = by["W4"]
    t = find_row(by, "W4", "taskfarm defaults")
    bp = best_peer(w)
    if good(t) and bp:
        r = bp.median / t.median
        out.append(("W4 taskfarm's defaults faster than every peer",
                    f"{r:.2f}× the best peer ({bp.label} {fmt_s(bp.median)} s; taskfarm {fmt_s(t.median)} s)", r > 1))
    f = connection_figures(t.records) if good(t) else None
    if f:
        _, conns, tls, _ = f
        r = tls / (2 * rtt_ms)
        ctx = ""
        c1 = find_row(by, "W4", "taskfarm --concurrency 1")
        g = connection_figures(c1.records) if good(c1) else None
        if g:
            ctx = f"; with --concurrency 1 ({g[1]} connections, {os.cpu_count()} at once) {g[2]:.1f} ms = {g[2] / (2 * rtt_ms):.2f}×"
        out.append(("W4 the per-connection cost in the records matches the RTT: median `tls_ms` of the records that "
                    f"opened a connection within 25 % of 2 × RTT ({2 * rtt_ms:g} ms), taskfarm's defaults",
                    f"{tls:.1f} ms = {r:.2f}× ({conns} connections){ctx}", abs(r - 1) <= 0.25))
    return out


def startup_target_rows(wls):
    """Issue 17's start-up target, evaluated on this run."""
    by = {w.key: w for w in wls}
    if "ST" not in by:
        return []
    t = find_row(by, "ST", "taskfarm --workers 5 (workers forked")
    spawned = find_row(by, "ST", "taskfarm --workers 5 --worker-bin")
    if not good(t):
        return []
    before = f"; spawned instead (--worker-bin): {t_ms(spawned)} ms" if good(spawned) else ""
    return [("Start-up: `coordinator --workers 5` over one `noop`, whole process, under 25 ms median (1.04 s when "
             "issue 17 was filed)", f"{t_ms(t)} ms [{t.tmin * 1000:.1f}–{t.tmax * 1000:.1f}], {t.runs} runs{before}",
             t.median < 0.025)]


def t_ms(row):
    return f"{row.median * 1000:.1f}"


def write_report(args, wls, info, started, finished, load0, load1, scale=None):
    L = []
    mode = "scripts/bench --quick" if args.quick else "scripts/bench"
    extra = f" --only {args.only}" if args.only else ""
    extra += f" --retime-noisy {args.retime_noisy}" if args.retime_noisy else ""
    extra += f" --lock {args.lock}" if args.lock else ""
    extra += f" --workdir {args.workdir}" if args.workdir != "/tmp/tfb" else ""
    L.append("# taskfarm benchmarks")
    L.append("")
    L.append(f"Produced by `{mode}{extra}` (bench/run_bench.py), {started:%Y-%m-%d %H:%M} UTC, "
             f"in {(finished - started).total_seconds() / 60:.1f} min; regenerate with the same command. "
             "Every number below is from that one run.")
    if args.quick:
        L.append("")
        L.append("**Quick mode: smaller workloads and 1–2 runs each, for smoke testing only.**")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- {info['nproc']} CPUs: {info['cpu']}; {info['mem']} RAM; {info['kernel']}")
    # The load average counts this harness's own commands too, so whether
    # others disturbed the timings is judged from the per-row measurement.
    timed = [r for wl in wls for r in wl.rows if not math.isnan(r.others)]
    disturbed = [r for r in timed if r.others > args.quiet_cores]
    worst = max((r.others for r in timed), default=math.nan)
    if disturbed:
        verdict = (f" — **{len(disturbed)} of {len(timed)} rows were timed while other processes used over "
                   f"{args.quiet_cores} cores (bold in their others' CPU column): treat those as noisy**")
    elif timed:
        verdict = f"; other processes used at most {worst:.2f} cores while any row was timed"
    else:
        verdict = ""
    L.append(f"- load average (1 min, this run's own commands included) at start {load0:.2f}, at end {load1:.2f}"
             + verdict)
    L.append(f"- taskfarm commit {commit_id()}, Release build")
    L.append(f"- {info['tools']}")
    L.append("")
    L.append("## How it is measured")
    L.append("")
    L.append(f"- `{args.bin}/` is a copy of `build/bin/` taken at the start of the run (so a rebuild during the "
             "run cannot swap binaries); URL and task files are in the same work directory.")
    L.append("- The server is `build/bin/testserver` on 127.0.0.1 (one libevent thread; `?delay=MS` is a server-side "
             "timer standing in for network latency). Client and server share the machine. W4's is a second one, "
             f"`testserver --https --rtt {args.rtt_ms:g}`: HTTPS with a CA made for the run, behind a latency proxy "
             "(its own thread, in the same process).")
    L.append("- Each command first runs once with its output captured and checked: HTTP status 200 and the exact byte "
             "total for URL workloads, the prime total for C1, the task count for D1. taskfarm's check run adds "
             "`-o FILE.jsonl` (except for `noop` runs, checked from the summary); a command that fails its check "
             "says **FAILED CHECK** in its row. E1 and E2 time taskfarm with `-o` in the command itself (a full "
             "record per task is part of the work) and check the record file: one per task, each exit 0; their "
             "peers' check runs add `xargs -t` or `parallel --joblog` to count the commands run.")
    L.append("- Then `hyperfine --runs N` times it (whole process, start-up included; output discarded). Wall is the "
             "median [min–max] of those runs. Runs: 5, or 3 for commands whose check run took over 5 s and 2 for "
             "over 30 s, to keep the whole run near 20 minutes on 2 cores (W3's Python peers: at most 2); the runs "
             "column gives each row's count. Quick mode: 1–2.")
    L.append("- Rate = requests or tasks ÷ median wall. Client CPU = mean user+sys of the command and all its "
             "children (coordinator and workers), from hyperfine; the server's CPU is not included.")
    L.append("- **vs best peer** (taskfarm rows) = taskfarm's rate ÷ the best peer's rate, which is the best peer's "
             "median ÷ taskfarm's median when both do the same work: >1 means taskfarm is faster. A row compared "
             "with a particular peer instead (D1 with batching off against Pool.map with chunksize 1) names it.")
    L.append(f"- **others' CPU**: CPU cores that other processes on the machine (not this harness, its commands or "
             f"the test server) used on average while the row was timed, from /proc/stat. Before each row the harness "
             f"waits (up to {args.max_wait:.0f} s) for that to drop under {args.quiet_cores} cores; values above it are "
             f"in bold and those rows' times are suspect. Time spent waiting in this run: {args.waited:.0f} s."
             + (f" With `--retime-noisy {args.retime_noisy}`, a row timed while others used over {args.quiet_cores} "
                f"cores was timed again (up to {args.retime_noisy} times, the last timing kept): {args.retimed} "
                f"re-timing{'' if args.retimed == 1 else 's'} in this run." if args.retime_noisy else ""))
    L.append("- GNU parallel runs with `--will-cite`: without it, it prints a citation notice whenever its stderr is a "
             "terminal (and counts those runs in `~/.parallel`); the flag silences that and needs no interaction.")
    L.append("- Peak RSS: the command runs once more while /proc is polled every 10 ms for VmHWM of the "
             "coordinator and its worker processes.")
    L.append("")

    for heading, targets in (("Issue 5 targets, from this run", target_rows(wls)),
                             ("HTTPS at a round-trip time targets (W4), from this run",
                              w4_target_rows(wls, args.rtt_ms)),
                             ("exec and sh targets (E1, E2), from this run", exec_target_rows(wls)),
                             ("Start-up target (ST), from this run", startup_target_rows(wls)),
                             ("One coordinator, many workers: targets (S1, S2), from this run",
                              scale_bench.target_rows(scale or {}))):
        if not targets:
            continue
        L.append(f"## {heading}")
        L.append("")
        L.append("| target | measured | met? |")
        L.append("| --- | --- | --- |")
        for name, val, met in targets:
            L.append(f"| {name} | {val} | {'yes' if met else '**NO**'} |")
        L.append("")

    for wl in wls:
        L.append(f"## {wl.title}")
        L.append("")
        L.append(wl.description + f" (Load average when this workload started: {getattr(wl, 'load', math.nan):.2f}.)")
        L.append("")
        bp = best_peer(wl)
        L.append(f"| tool / mode | command | median wall s [min–max] | runs | {wl.unit} | client CPU s | vs best peer "
                 "| others' CPU |")
        L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in wl.rows:
            cmd = f"`{r.cmd}`".replace("|", "\\|") if r.cmd and r.cmd != "—" else "—"
            oth = "—" if math.isnan(r.others) else (f"**{r.others:.2f}**" if r.others > args.quiet_cores else f"{r.others:.2f}")
            if r.kind == "bound":
                L.append(f"| *{r.label}* | — | {fmt_s(wl.bound)} | — | {fmt_rate(r.count / wl.bound)} | — | — | — |")
                continue
            if r.kind == "ceiling":
                L.append(f"| {r.label} | {cmd} | ({r.median:.0f} s fixed) | 1 | {fmt_rate(r.rate)} | — | — | {oth} |")
                continue
            if r.status in ("FAILED CHECK", "FAILED RUN"):
                wall = f"**{r.status}**"
                if not math.isnan(r.median):
                    wall += f" {fmt_s(r.median)} [{fmt_s(r.tmin)}–{fmt_s(r.tmax)}]"
            else:
                wall = f"{fmt_s(r.median)} [{fmt_s(r.tmin)}–{fmt_s(r.tmax)}]"
            ratio = "—"
            vs = next((p for p in wl.rows if r.versus and p.label.startswith(r.versus) and p.status == "ok"), None)
            if r.kind == "taskfarm" and vs and r.status == "ok" and not math.isnan(vs.rate):
                ratio = f"{r.rate / vs.rate:.2f}× ({vs.label.split(' (')[0]})"
            elif r.kind == "taskfarm" and bp and r.status == "ok":
                ratio = f"{r.rate / bp.rate:.2f}×"
            elif r.kind == "peer" and r is bp:
                ratio = "(best peer)"
            L.append(f"| {r.label} | {cmd} | {wall} | {r.runs or '—'} | {fmt_rate(r.rate)} | {fmt_s(r.cpu)} | {ratio} | {oth} |")
        L.append("")
        failed = [r for r in wl.rows if r.status.startswith("FAILED")]
        for r in failed:
            L.append(f"- **{r.label}: {r.status}**: {r.detail}")
        mems = [r for r in wl.rows if r.mem_result]
        for r in mems:
            m = r.mem_result
            selfrep = "" if math.isnan(m["self_reported_mb"]) else f" (its own summary says {m['self_reported_mb']:.1f} MB)"
            L.append(f"- Peak RSS of `{r.label}`: coordinator {m['coordinator_mb']:.1f} MB{selfrep}; "
                     f"largest of its {m['workers_seen']} workers {m['worker_mb']:.1f} MB.")
        notes = wl.notes(wl) if wl.notes else []
        L.extend(notes)
        if failed or mems or notes:
            L.append("")
    if scale:
        L.extend(scale_bench.render(scale, args.quiet_cores))
    out = Path(args.out)
    out.write_text("\n".join(L) + "\n")
    log(f"wrote {out}")


# ---------------------------------------------------------------- main


def snapshot_bins(args):
    """Copies the programs out of build/bin so a rebuild during the run can't
    swap binaries under it; every command runs the copies in WORKDIR/bin."""
    args.bin = args.work / "bin"
    args.bin.mkdir()
    for b in ("coordinator", "worker", "testserver", "primes_baseline"):
        src = ROOT / BIN / b
        if not src.exists():
            raise SystemExit(f"{BIN}/{b} missing: build first (scripts/setup --bench)")
        shutil.copy2(src, args.bin / b)


def start_server(args, name="testserver", extra=()):
    work = args.work
    port_file = work / f"{name}.port"
    if port_file.exists():
        port_file.unlink()
    log_file = open(work / f"{name}.log", "w")
    p = subprocess.Popen([str(args.bin / "testserver"), "--address", "127.0.0.1", "--port", "0", "--port-file", str(port_file),
                          *extra], cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    for _ in range(200):
        if port_file.exists() and port_file.read_text().strip():
            return p, int(port_file.read_text().strip())
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    raise SystemExit(f"testserver did not start (see {work / name}.log)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller workloads, 1-2 runs each (smoke test)")
    ap.add_argument("--runs", type=int, default=0, help="runs per command (default: 5/3/2 by duration)")
    ap.add_argument("--only", default="",
                    help="comma-separated workloads, e.g. W1,C1 (W1 W2 W3 W4 C1 D1 STDIN E1 E2 S1 S2)")
    ap.add_argument("--lock", default="",
                    help="flock this file around each of S1's and S2's timed sections (other experiments wait)")
    ap.add_argument("--out", default="", help="report file (default BENCHMARKS.md; quick: WORKDIR/BENCHMARKS.quick.md)")
    ap.add_argument("--quiet-cores", type=float, default=0.25,
                    help="before timing a row, wait until other processes use less CPU than this (cores)")
    ap.add_argument("--max-wait", type=float, default=-1,
                    help="longest wait for quiet before one row, s (default 30; 0 in --quick)")
    ap.add_argument("--max-wait-total", type=float, default=300, help="cap on all those waits together, s")
    ap.add_argument("--retime-noisy", type=int, default=0,
                    help="time a row again, up to this many times, when others used over --quiet-cores meanwhile")
    ap.add_argument("--workdir", default="/tmp/tfb", help="where URL/task files and raw results go")
    args = ap.parse_args()
    if args.max_wait < 0:
        args.max_wait = 0 if args.quick else 30
    os.chdir(ROOT)
    args.work = Path(args.workdir)
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    if not args.out:
        args.out = str(args.work / "BENCHMARKS.quick.md") if args.quick else str(ROOT / "BENCHMARKS.md")
    for tool in ("hyperfine", "curl", "hey", "wrk", "parallel", "xargs"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: run scripts/setup --bench")
    snapshot_bins(args)
    try:
        import httpx  # noqa: F401
        import requests  # noqa: F401
    except ImportError as e:
        raise SystemExit(f"run with Debian's /usr/bin/python3 and python3-requests/httpx installed: {e}")

    started = datetime.datetime.utcnow()
    load0 = os.getloadavg()[0]
    server, port = start_server(args)
    servers = [server]
    try:
        # W4's: HTTPS with a CA made now in WORKDIR/tls, behind the latency proxy.
        args.rtt_ms = 20
        tls_dir = args.work / "tls"
        tls_dir.mkdir()
        tls_server, tls_port = start_server(args, "testserver-https",
                                            ["--https", "--tls-dir", str(tls_dir), "--rtt", str(args.rtt_ms)])
        servers.append(tls_server)
        args.server_pids = [p.pid for p in servers]
        args.waited = 0.0
        args.retimed = 0
        base = f"http://127.0.0.1:{port}"
        tls_base = f"https://127.0.0.1:{tls_port}"
        log(f"testserver on {base}, {tls_base} (HTTPS, {args.rtt_ms} ms round trip); work dir {args.work}; "
            f"load average {load0:.2f}")
        wls = build_workloads(args, base, (tls_base, str(tls_dir / "ca.pem"), args.rtt_ms))
        keep = {k.strip().upper() for k in args.only.split(",")} if args.only else None
        if keep is not None:
            wls = [w for w in wls if w.key in keep]
        args.scale_keys = [k for k in ("S1", "S2") if keep is None or k in keep]
        for wl in wls:
            wl.load = os.getloadavg()[0]
            for i, row in enumerate(wl.rows):
                if row.kind == "ceiling":
                    run_wrk(args, wl, row, wl.wrk_url)
                else:
                    run_row(args, wl, row, i)
        scale = scale_bench.run_scale(args, log) if args.scale_keys else {}
        load1 = os.getloadavg()[0]
        finished = datetime.datetime.utcnow()
        write_report(args, wls, machine_info(), started, finished, load0, load1, scale)
        (args.work / "results.json").write_text(json.dumps(
            [{"workload": w.key, "rows": [{k: v for k, v in r.__dict__.items() if k != "check"} for r in w.rows]}
             for w in wls] + [{"workload": k, "results": v} for k, v in scale.items()], indent=1, default=str))
    finally:
        for p in servers:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    bad = [(w.key, r.label) for w in wls for r in w.rows if r.status.startswith("FAILED")]
    bad += scale_bench.failures(scale)
    if bad:
        log(f"{len(bad)} row(s) failed: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
