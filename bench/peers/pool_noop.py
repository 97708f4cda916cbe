#!/usr/bin/python3
"""multiprocessing.Pool(N).map over N no-op calls: the dispatch overhead of a
Python process pool. --chunksize 0 means Pool.map's default chunksize
(len / (4 * processes), rounded up)."""
import argparse
import multiprocessing
import sys
import time


def noop(x):
    return x


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tasks", type=int, default=1_000_000)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--chunksize", type=int, default=0)
    args = p.parse_args()
    start = time.perf_counter()
    with multiprocessing.Pool(args.procs) as pool:
        if args.chunksize > 0:
            results = pool.map(noop, range(args.tasks), chunksize=args.chunksize)
        else:
            results = pool.map(noop, range(args.tasks))
    elapsed = time.perf_counter() - start
    ok = sum(1 for i, r in enumerate(results) if r == i)
    print(f"Completed {len(results)} tasks in {elapsed:.2f} seconds")
    print(f"check: count={len(results)} ok={ok}")
    return 0 if ok == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
