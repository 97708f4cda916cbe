#!/usr/bin/python3
"""A real Prometheus scrapes a running coordinator's --metrics every second.

Debian's `prometheus` runs with its own config and data directory under a
temporary directory, listening on loopback. The coordinator runs url tasks
(against the project's testserver: some fetched, some 404, some 503 and
retried) and sleep tasks with --journal, and keeps its final numbers served
for --metrics-linger 3s, so Prometheus' 1 s scrapes catch the state after
the last record. Then Prometheus' HTTP API must say:
  * sum(taskfarm_tasks_total) == the records in --output,
  * sum(taskfarm_task_duration_seconds_count) == the same,
  * the outcomes, retries, fetched bytes and journal syncs match the records,
  * taskfarm_run_finished == 1 (the final state was scraped).
A scrape taken mid-run passes `promtool check metrics`.
The queries use last_over_time: once the coordinator has gone, Prometheus
marks its series stale and a plain instant query returns nothing.

Usage: prometheus_test.py BIN_DIR    (exit 77: prometheus not installed)
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def wait_for(what, check, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"FAIL: {what} within {timeout_s} s")


def query(prom, expr):
    url = f"http://{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.loads(get(url))
    if answer["status"] != "success":
        sys.exit(f"FAIL: query {expr}: {answer}")
    result = answer["data"]["result"]
    if not result:
        sys.exit(f"FAIL: query {expr}: no data")
    return float(result[0]["value"][1])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bin_dir = sys.argv[1]
    if not (os.access(PROMETHEUS, os.X_OK) and os.access(PROMTOOL, os.X_OK)):
        print("SKIP: Debian's prometheus package is not installed (scripts/setup installs it)")
        return 77
    tmp = tempfile.mkdtemp(prefix="taskfarm-prometheus-")
    children = []
    try:
        return run(bin_dir, tmp, children)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run(bin_dir, tmp, children):
    port_file = os.path.join(tmp, "testserver.port")
    children.append(subprocess.Popen([os.path.join(bin_dir, "testserver"), "--port-file", port_file],
                                     stdout=subprocess.DEVNULL))
    wait_for("the testserver's port", lambda: os.path.exists(port_file), 10)
    base = "http://127.0.0.1:" + open(port_file).read().strip()

    metrics = f"127.0.0.1:{free_port()}"
    prom = f"127.0.0.1:{free_port()}"
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                f"scrape_configs:\n  - job_name: taskfarm\n    static_configs:\n"
                f"      - targets: ['{metrics}']\n")
    prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
    children.append(subprocess.Popen(
        [PROMETHEUS, "--config.file", os.path.join(tmp, "prometheus.yml"),
         "--storage.tsdb.path", os.path.join(tmp, "data"), "--web.listen-address", prom],
        stdout=prom_log, stderr=subprocess.STDOUT))
    wait_for("Prometheus ready", lambda: get(f"http://{prom}/-/ready").startswith("Prometheus"), 60)
    # Its discovery hands the target over up to 5 s after start: the run
    # begins once Prometheus has tried to scrape it (and found nobody).
    def scraping():
        targets = json.loads(get(f"http://{prom}/api/v1/targets"))["data"]["activeTargets"]
        return any(t["health"] != "unknown" for t in targets)
    wait_for("Prometheus scraping the coordinator's address", scraping, 30)

    # About 6 s on 2 workers: 8 slots, sleeps of 40 to 120 ms, pages with a delay.
    tasks = []
    for i in range(300):
        tasks.append(f"sleep {40 + (i * 7) % 80}")
        if i % 3 == 0:
            tasks.append(f"url {base}/bytes/{1000 + i}?delay=30")
        if i % 50 == 0:
            tasks.append(f"url {base}/status/404")
        if i % 75 == 0:
            tasks.append(f"url {base}/status/503")
    tasks_file = os.path.join(tmp, "tasks.txt")
    open(tasks_file, "w").write("\n".join(tasks) + "\n")
    out = os.path.join(tmp, "out.jsonl")
    log = open(os.path.join(tmp, "coordinator.log"), "w+")
    start = time.monotonic()
    coordinator = subprocess.Popen(
        [os.path.join(bin_dir, "coordinator"), "--tasks", tasks_file, "--workers", "2", "--concurrency", "4",
         "--retries", "1", "--quiet", "--output", out, "--journal", os.path.join(tmp, "journal"),
         "--metrics", metrics, "--metrics-linger", "3s"],
        stdout=log, stderr=subprocess.STDOUT)
    children.append(coordinator)

    # Mid-run: records written, the run not over.
    def mid_run_scrape():
        text = get(f"http://{metrics}/metrics")
        done = sum(float(v) for v in re.findall(r'^taskfarm_tasks_total\{[^}]*\} (\S+)$', text, re.M))
        return text if 50 <= done < len(tasks) else None
    scrape = wait_for("a scrape with some records written", mid_run_scrape, 30)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=scrape, capture_output=True, text=True)
    if check.returncode != 0 or check.stdout.strip() or check.stderr.strip():
        sys.exit(f"FAIL: promtool check metrics on a mid-run scrape: exit {check.returncode}\n"
                 f"{check.stdout}{check.stderr}")
    print(f"promtool check metrics: a mid-run scrape of {len(scrape)} bytes passes")

    code = coordinator.wait(120)
    elapsed = time.monotonic() - start
    log.seek(0)
    if code != 1:  # the 404s and 503s failed
        sys.exit(f"FAIL: coordinator exited {code}, not 1:\n{log.read()}")
    records = [json.loads(line) for line in open(out)]
    if len(records) != len(tasks):
        sys.exit(f"FAIL: {len(records)} records for {len(tasks)} tasks")

    def last(expr):
        return query(prom, f"sum(last_over_time({expr}[10m]))")
    checks = {
        "taskfarm_tasks_total": len(records),
        "taskfarm_task_duration_seconds_count": len(records),
        'taskfarm_tasks_total{outcome="ok"}': sum(r["ok"] for r in records),
        'taskfarm_tasks_total{outcome="failed"}': sum(not r["ok"] for r in records),
        'taskfarm_tasks_total{kind="url"}': sum(r["kind"] == "url" for r in records),
        "taskfarm_task_retries_total": sum(r["attempts"] - 1 for r in records),
        "taskfarm_fetched_bytes_total": sum(r.get("bytes", 0) for r in records),
        "taskfarm_run_finished": 1,
    }
    failed = False
    for expr, want in checks.items():
        got = last(expr)
        print(f"{expr}: Prometheus says {got:g}, the records {want}")
        failed = failed or got != want
    syncs = last("taskfarm_journal_syncs_total")
    sync_count = last("taskfarm_journal_sync_seconds_count")
    print(f"taskfarm_journal_syncs_total: {syncs:g} (histogram count {sync_count:g})")
    failed = failed or syncs < 1 or syncs != sync_count
    scrapes = query(prom, "count_over_time(taskfarm_run_finished[10m])")
    print(f"{scrapes:g} scrapes of the coordinator over {elapsed:.1f} s (3 s of it lingering)")
    failed = failed or scrapes < 4
    if failed:
        sys.exit("FAIL: Prometheus' numbers are not the run's")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
