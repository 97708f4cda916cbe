#!/usr/bin/python3
"""Runs every shell and task-file example in README.md, as written.

A README that is not typed literally by its tests drifts: this test reads the
fenced blocks of README.md and runs each command line in a shell, from a fresh
directory per section (a user's working directory: `build/` there is the real
build tree), and fails, naming the README line, if one exits non-zero.

It runs inside its own network and pid namespaces (as root; otherwise it
skips with 77), so the README can use fixed ports (`--port 8080`) and the
example host `10.0.0.1`, which exists there on loopback; everything it starts
dies with the namespace.

A block may be preceded by HTML comments (invisible on the page) that say how
to run it:
  <!-- readme-test: skip REASON -->     not run (say why)
  <!-- readme-test: output -->          sample output, not a command
  <!-- readme-test: file NAME -->       a file the next blocks use: saved as NAME
  <!-- readme-test: tasks NAME -->      a task file: saved as NAME, then run
                                        with `build/bin/coordinator --tasks NAME`
  <!-- readme-test: setup COMMAND -->   run first, unseen (fixtures a reader
                                        would already have: their files)
  <!-- readme-test: together -->        the block's programs talk to each other:
                                        each `build/bin/coordinator` and
                                        `build/bin/worker` line runs in the
                                        background, and all must exit 0
  <!-- readme-test: skipline TEXT: WHY -->  lines starting with TEXT are not run
  <!-- readme-test: repo -->            run from the repository, not a fresh
                                        directory
A command line ending in `&` starts in the background and is stopped with the
namespace. Usage: readme_test.py REPO BUILD_DIR [--inner]
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

COMMAND_TIMEOUT_S = 240
TOGETHER_TIMEOUT_S = 60


class Block:
    def __init__(self, line, lang, text, section, directives):
        self.line = line  # 1-based line of the opening fence
        self.lang = lang
        self.text = text
        self.section = section
        self.directives = directives

    def has(self, name):
        return any(d[0] == name for d in self.directives)

    def values(self, name):
        return [d[1] for d in self.directives if d[0] == name]


def parse_readme(path):
    blocks = []
    section = ""
    directives = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"<!-- readme-test: (\w+)\s*(.*?)\s*-->$", line.strip())
        if m:
            directives.append((m.group(1), m.group(2)))
            i += 1
            continue
        if line.startswith("## "):
            section = line[3:].strip()
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append(Block(start, fence.group(1), "\n".join(lines[start:j]), section, directives))
            directives = []
            i = j + 1
            continue
        if line.strip():
            directives = []  # a directive belongs to the block right after it
        i += 1
    return blocks


def commands(block):
    """(README line, command) for each command line; `\\` joins lines."""
    out = []
    pending, first = "", None
    for k, raw in enumerate(block.text.split("\n")):
        if first is None:
            first = block.line + k + 1
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        cmd = (pending + raw).strip()
        pending = ""
        if cmd and not cmd.startswith("#"):
            out.append((first, cmd))
        first = None
    return out


class Failure(Exception):
    pass


def run(cmd, cwd, where):
    if cmd.endswith("&") and not cmd.endswith("&&"):
        # A server the next lines use: started, given a moment to listen,
        # and stopped with the namespace.
        log = open(os.path.join(cwd, "background.log"), "ab")
        subprocess.Popen(["bash", "-c", cmd[:-1]], cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        port = re.search(r"--port (\d+)", cmd)
        deadline = time.monotonic() + 10
        while port and time.monotonic() < deadline:  # a server: until it listens
            try:
                socket.create_connection(("127.0.0.1", int(port.group(1))), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        if not port:
            time.sleep(0.5)
        print(f"  bg  {where}: {cmd}", flush=True)
        return None
    started = time.monotonic()
    try:
        p = subprocess.run(["bash", "-c", cmd], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Failure(f"{where}: `{cmd}` did not finish within {COMMAND_TIMEOUT_S} s")
    secs = time.monotonic() - started
    if p.returncode != 0:
        raise Failure(f"{where}: `{cmd}` exited {p.returncode}\n--- stdout (end)\n"
                      f"{p.stdout.decode(errors='replace')[-2000:]}\n--- stderr (end)\n"
                      f"{p.stderr.decode(errors='replace')[-2000:]}")
    print(f"  ok  {where}: {cmd}  ({secs:.1f} s)", flush=True)
    return p


def run_together(cmds, cwd, where_of):
    """Sequential lines first; then every farm program at once, all to exit 0."""
    background = [(n, c) for n, c in cmds if re.match(r"build/bin/(coordinator|worker) --", c)]
    # Each program of the farm runs in the background and is waited for,
    # whether the README starts it with `&` or not.
    strip = lambda c: c[:-1].rstrip() if c.endswith("&") and not c.endswith("&&") else c
    for n, c in cmds:
        if (n, c) not in background:
            run(c, cwd, where_of(n))
    procs = []
    for n, c in background:
        log = open(os.path.join(cwd, f"readme-line-{n}.log"), "w+b")
        procs.append((n, c, log, subprocess.Popen(["bash", "-c", strip(c)], cwd=cwd, stdin=subprocess.DEVNULL,
                                                   stdout=log, stderr=subprocess.STDOUT)))
        time.sleep(0.3)
    deadline = time.monotonic() + TOGETHER_TIMEOUT_S
    failures = []
    for n, c, log, p in procs:
        try:
            code = p.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            code = "no exit (killed)"
        log.seek(0)
        text = log.read().decode(errors="replace")
        if code != 0:
            failures.append(f"{where_of(n)}: `{c}` exited {code}\n--- output (end)\n{text[-2000:]}")
        else:
            print(f"  ok  {where_of(n)}: {c}", flush=True)
    if failures:
        raise Failure("\n".join(failures))


def inner(repo, build):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "10.0.0.1/32", "dev", "lo"], check=True)
    readme = os.path.join(repo, "README.md")
    blocks = parse_readme(readme)
    root = tempfile.mkdtemp(prefix="taskfarm-readme-")
    dirs = {}
    failures = []
    ran = 0
    for b in blocks:
        where_of = lambda n: f"README.md:{n}"
        if b.has("skip") or b.has("output"):
            print(f"  --  README.md:{b.line}: {' '.join(b.values('skip')) or 'sample output'}", flush=True)
            continue
        if b.lang not in ("sh", "") or b.lang == "" and not (b.has("file") or b.has("tasks")):
            failures.append(f"README.md:{b.line}: a ```{b.lang} block with no readme-test directive: say how "
                            "to run it (file NAME, output, skip REASON)")
            continue
        if b.has("repo"):
            cwd = repo
        else:
            cwd = dirs.get(b.section)
            if cwd is None:
                cwd = tempfile.mkdtemp(prefix="section-", dir=root)
                os.symlink(build, os.path.join(cwd, "build"))
                dirs[b.section] = cwd
        try:
            for setup in b.values("setup"):
                run(setup, cwd, f"README.md:{b.line} (setup)")
            if b.has("file") or b.has("tasks"):
                name = (b.values("file") + b.values("tasks"))[0]
                with open(os.path.join(cwd, name), "w", encoding="utf-8") as f:
                    f.write(b.text + "\n")
                if b.has("tasks"):
                    run(f"build/bin/coordinator --tasks {name} --quiet", cwd, f"README.md:{b.line} (task file)")
            elif b.has("together"):
                run_together(commands(b), cwd, where_of)
            else:
                skipped = [v.split(":")[0].strip() for v in b.values("skipline")]
                for n, c in commands(b):
                    if any(c.startswith(t) for t in skipped):
                        print(f"  --  {where_of(n)}: {c} (not run: see the README's readme-test comment)")
                        continue
                    run(c, cwd, where_of(n))
            ran += 1
        except Failure as e:
            failures.append(str(e))
    shutil.rmtree(root, ignore_errors=True)
    if failures:
        print("\nREADME examples that do not work as written:\n", file=sys.stderr)
        for f in failures:
            print(f + "\n", file=sys.stderr)
        return 1
    print(f"all {ran} README examples ran as written")
    return 0


def main():
    repo, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if "--inner" in sys.argv:
        return inner(repo, build)
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("SKIP: the README test runs in its own network namespace: needs root and unshare")
        return 77
    # Its own network (fixed ports, 10.0.0.1) and pid namespace: when this
    # returns, every process an example started is gone with it.
    cmd = ["unshare", "--net", "--pid", "--fork", "--mount-proc", sys.executable, os.path.abspath(__file__), repo,
           build, "--inner"]
    p = subprocess.Popen(cmd)
    try:
        return p.wait()
    except KeyboardInterrupt:
        p.send_signal(signal.SIGINT)
        return p.wait()


if __name__ == "__main__":
    sys.exit(main())
