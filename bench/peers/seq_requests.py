#!/usr/bin/python3
"""Tutorial approach 1: a sequential loop of requests.get (a new connection each time)."""
import sys

import requests

from peercommon import Tally, parse_args


def main():
    args = parse_args(__doc__)
    tally = Tally()
    for url in args.url_list:
        r = requests.get(url, verify=args.verify)
        tally.add(r.status_code, len(r.content))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
