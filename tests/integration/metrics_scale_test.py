#!/usr/bin/python3
"""The --metrics scrape does not grow with the workers.

The same run is scraped twice: with 2 remote workers, then with 1,000 (real
`worker --connect` processes on tcp://127.0.0.1, about 7 s on 2 cores). Once
all are connected (taskfarm_workers_connected says so) each scrape is
measured: the 1,000-worker one must be under 100 KB, with the same series as
the 2-worker one and within 1 KB of its size (numbers get more digits; no
series is added per worker). These workers share one host; 1,000 hosts are
capped at 32 (tests/unit/metrics_test.cc).

Usage: metrics_scale_test.py BIN_DIR
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def value(text, name):
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else -1


def scrape_with(bin_dir, tmp, workers):
    tasks = os.path.join(tmp, "tasks.txt")
    # One quick task per worker, then sleeps that outlast the test (it ends
    # the run with SIGINT): the run is still going, with every worker
    # connected and some records counted, whenever the scrape comes.
    open(tasks, "w").write("sleep 1\n" * workers + "sleep 600000\n" * (2 * workers))
    bind = f"tcp://127.0.0.1:{free_port()}"
    metrics = f"127.0.0.1:{free_port()}"
    procs = []
    coordinator = subprocess.Popen(
        [os.path.join(bin_dir, "coordinator"), "--tasks", tasks, "--workers", "0", "--bind", bind,
         "--min-workers", str(workers), "--quiet", "--metrics", metrics],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for i in range(workers):
            procs.append(subprocess.Popen(
                [os.path.join(bin_dir, "worker"), "--connect", bind, "--concurrency", "2", "--name", f"r{i}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as r:
                    text = r.read().decode()
                done = sum(float(v) for v in re.findall(r"^taskfarm_tasks_total\{[^}]*\} (\S+)$", text, re.M))
                if value(text, "taskfarm_workers_connected") == workers and done > 0:
                    return text
            except OSError:
                pass
            time.sleep(0.2)
        sys.exit(f"FAIL: {workers} workers never all connected")
    finally:
        coordinator.send_signal(signal.SIGINT)  # the workers are told to leave
        coordinator.send_signal(signal.SIGINT)
        coordinator.wait(60)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def main():
    bin_dir = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="taskfarm-metrics-scale-") as tmp:
        small = scrape_with(bin_dir, tmp, 2)
        large = scrape_with(bin_dir, tmp, 1000)
    series = lambda text: len([l for l in text.split("\n") if l and not l.startswith("#")])
    print(f"scrape with 2 workers: {len(small)} bytes, {series(small)} series")
    print(f"scrape with 1000 workers: {len(large)} bytes, {series(large)} series")
    print(f"per worker: {(len(large) - len(small)) / 998:.1f} bytes")
    if series(large) != series(small) or len(large) >= 100_000 or abs(len(large) - len(small)) > 1024:
        sys.exit("FAIL: the scrape grows with the workers")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
