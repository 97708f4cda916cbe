#!/usr/bin/python3
"""Tutorial approach 4: multiprocessing.Pool(N).map, one requests.Session per
process (created by the pool initializer, as the tutorial does)."""
import multiprocessing
import sys

import requests

from peercommon import Tally, parse_args

session = None


def set_global_session():
    global session
    if not session:
        session = requests.Session()


def fetch(url):
    r = session.get(url)
    return r.status_code, len(r.content)


def main():
    args = parse_args(__doc__, lambda p: p.add_argument("--procs", type=int, default=5))
    tally = Tally()
    with multiprocessing.Pool(args.procs, initializer=set_global_session) as pool:
        for status, nbytes in pool.map(fetch, args.url_list):
            tally.add(status, nbytes)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
