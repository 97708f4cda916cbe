#!/usr/bin/python3
"""Tutorial approach 2: a sequential loop over one reused requests.Session (keep-alive)."""
import sys

import requests

from peercommon import Tally, parse_args


def main():
    args = parse_args(__doc__)
    tally = Tally()
    with requests.Session() as session:
        session.verify = args.verify
        for url in args.url_list:
            r = session.get(url)
            tally.add(r.status_code, len(r.content))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
