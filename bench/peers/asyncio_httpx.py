#!/usr/bin/python3
"""Tutorial approach 5: one asyncio event loop with httpx.AsyncClient, at most
--limit requests in flight (httpx.Limits(max_connections=limit), plus a
semaphore of the same size so queued requests don't hit httpx's pool timeout)."""
import asyncio
import sys

import httpx

from peercommon import Tally, parse_args


async def run(urls, limit, verify, tally):
    sem = asyncio.Semaphore(limit)
    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    async with httpx.AsyncClient(limits=limits, timeout=60.0, verify=verify) as client:

        async def fetch(url):
            async with sem:
                r = await client.get(url)
                return r.status_code, len(r.content)

        for status, nbytes in await asyncio.gather(*(fetch(u) for u in urls)):
            tally.add(status, nbytes)


def main():
    args = parse_args(__doc__, lambda p: p.add_argument("--limit", type=int, default=100))
    tally = Tally()
    asyncio.run(run(args.url_list, args.limit, args.verify, tally))
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
