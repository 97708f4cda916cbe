"""Shared bits of the benchmark peers: argument parsing and the check line.

Every peer reads a file of URLs (one a line), fetches each once (HTTPS
verified against the system's CAs, or only --cacert FILE's), and ends with
two lines the harness (scripts/bench) parses:
    Downloaded N in S seconds
    check: count=N ok=N bytes=B
It exits 1 if any response was not 200 or any request raised.
"""
import argparse
import sys
import time


def parse_args(description, extra=None):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("urls", help="file of URLs, one a line")
    p.add_argument("--cacert", help="verify HTTPS servers with this CA file (PEM) instead of the system's")
    if extra:
        extra(p)
    args = p.parse_args()
    # requests' and httpx's `verify`: a CA file, or True for the system's CAs.
    args.verify = args.cacert or True
    with open(args.urls) as f:
        args.url_list = [line.strip() for line in f if line.strip()]
    return args


class Tally:
    def __init__(self):
        self.start = time.perf_counter()
        self.count = 0
        self.ok = 0
        self.bytes = 0

    def add(self, status, nbytes):
        self.count += 1
        if status == 200:
            self.ok += 1
        self.bytes += nbytes

    def finish(self):
        elapsed = time.perf_counter() - self.start
        print(f"Downloaded {self.count} in {elapsed:.2f} seconds")
        print(f"check: count={self.count} ok={self.ok} bytes={self.bytes}")
        sys.stdout.flush()
        return 0 if self.ok == self.count else 1
