#!/usr/bin/python3
"""The --metrics HTTP server against hostile clients (a real coordinator).

  * A request that announces a huge body and streams it is cut off: the
    server stops reading (no GET here has a body) and the coordinator's RSS
    stays small.
  * Headers past 8 KiB are refused.
  * 200 connections at once: the coordinator holds at most 64 of them
    (its open descriptors say so), and answers again once they close.
  * DNS rebinding: on loopback, a request whose Host is not a loopback
    address or localhost with the server's port gets 421, not the page.

Usage: metrics_http_test.py BIN_DIR
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    sys.exit(f"FAIL: no VmRSS for {pid}: {open(f'/proc/{pid}/stat').read()}")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def status(port, host_header, path="/metrics"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.putrequest("GET", path, skip_host=True)
    if host_header is not None:
        c.putheader("Host", host_header)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def wait_up(port):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if status(port, f"127.0.0.1:{port}")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("FAIL: --metrics never answered")


def check(what, ok):
    print(("ok   " if ok else "FAIL ") + what)
    return ok


def streamed_body(port, pid):
    """Announces 10 GB and sends up to 256 MB: the server must stop it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Content-Length: 10000000000\r\n\r\n".encode())
    chunk = b"x" * (1 << 20)
    sent = 0
    try:
        while sent < 256 << 20:
            s.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    s.close()
    rss = rss_kb(pid)
    print(f"     streamed {sent >> 20} MB before the server closed; coordinator RSS {rss // 1024} MB")
    return check("a streamed huge body is cut off", sent < 64 << 20) & check("RSS stays under 64 MB", rss < 64 << 10)


def big_headers(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    answer = b""
    try:
        s.sendall(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Big: {'a' * 20000}\r\n\r\n".encode())
        answer = s.recv(100)
    except OSError:
        pass  # closed without an answer: refused as well
    s.close()
    return check(f"20 KB of headers refused ({answer[:12] or 'a close'})", not answer.startswith(b"HTTP/1.1 200"))


def connection_cap(port, pid):
    before = open_fds(pid)
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(200)]
    time.sleep(0.5)
    held = open_fds(pid) - before
    for s in socks:
        s.close()
    time.sleep(0.5)
    again = status(port, f"127.0.0.1:{port}")[0]
    return check(f"200 clients: {held} descriptors held (at most 64)", held <= 64) & check(
        "answers again once they close", again == 200)


def host_header(port):
    ok = True
    for host in [f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]:
        ok &= check(f"Host {host}: 200", status(port, host)[0] == 200)
    for host in [f"evil.example:{port}", f"127.evil.example:{port}", "127.0.0.1:1", "127.0.0.1", None]:
        code, body = status(port, host, "/state.json")
        ok &= check(f"Host {host}: {code} (421)", code == 421 and b"done" not in body)
    return ok


def main():
    bin_dir = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="taskfarm-metrics-http-") as tmp:
        tasks = os.path.join(tmp, "tasks.txt")
        open(tasks, "w").write("sleep 600000\n")
        port = free_port()
        coordinator = subprocess.Popen(
            [os.path.join(bin_dir, "coordinator"), "--tasks", tasks, "--workers", "1", "--quiet",
             "--metrics", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(port)
            ok = streamed_body(port, coordinator.pid)
            ok &= big_headers(port)
            ok &= connection_cap(port, coordinator.pid)
            ok &= host_header(port)
        finally:
            coordinator.send_signal(signal.SIGINT)
            coordinator.send_signal(signal.SIGINT)
            coordinator.wait(60)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
