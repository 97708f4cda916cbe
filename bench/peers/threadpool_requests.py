#!/usr/bin/python3
"""Tutorial approach 3: ThreadPoolExecutor(max_workers=N), one requests.Session per
thread (thread-local), executor.map over the URLs."""
import concurrent.futures
import sys
import threading

import requests

from peercommon import Tally, parse_args

thread_local = threading.local()


def get_session():
    if not hasattr(thread_local, "session"):
        thread_local.session = requests.Session()
    return thread_local.session


def fetch(url):
    r = get_session().get(url)
    return r.status_code, len(r.content)


def main():
    args = parse_args(__doc__, lambda p: p.add_argument("--workers", type=int, default=5))
    tally = Tally()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as executor:
        for status, nbytes in executor.map(fetch, args.url_list):
            tally.add(status, nbytes)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
