#!/usr/bin/python3
"""Tutorial approach 2: a sequential loop over one reused requests.Session (keep-alive)."""
import sys

import requests

from peercommon import Tally, parse_args


def main():
    args = parse_args(__doc__)
    tally = Tally()
    with requests.Session() as session:
        for url in args.url_list:
            # verify= on each call: a Session's own .verify loses to
            # REQUESTS_CA_BUNDLE in the environment (requests' merge order).
            r = session.get(url, verify=args.verify)
            tally.add(r.status_code, len(r.content))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
