"""One OS process taking from a shared Redis bucket: prints how many of its takes passed.

Run several at once by ``tests/gumdrop/test_rate_limits.py``::

    python -m tests.gumdrop.rate_limit_hammer URL PREFIX BURST TAKES TASKS

Each counts itself ready (``{PREFIX}ready``), waits for the go (``{PREFIX}go``), so that
every process starts together, then makes ``TAKES`` takes from the bucket ``shared`` of
``BURST`` tokens (refilling at 0.001 per second: nothing within a test) over ``TASKS``
concurrent tasks, and prints ``{"allowed": N}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from redis.asyncio import Redis

from gumdrop.rate_limits import Rate, RedisRateLimiter

GO_TIMEOUT = 30


async def hammer(url: str, prefix: str, rate: Rate, takes: int, tasks: int) -> int:
    limiter = RedisRateLimiter(url, prefix=prefix, timeout=10)
    signals = Redis.from_url(url)
    try:
        await signals.incr(f"{prefix}ready")
        if await signals.blpop([f"{prefix}go"], timeout=GO_TIMEOUT) is None:
            raise SystemExit(f"no go within {GO_TIMEOUT} s")

        async def task(count: int) -> int:
            return sum([(await limiter.take("shared", rate)).allowed for _ in range(count)])

        share, extra = divmod(takes, tasks)
        return sum(await asyncio.gather(*(task(share + (index < extra)) for index in range(tasks))))
    finally:
        await signals.aclose()
        await limiter.close()


def main() -> None:
    url, prefix, burst, takes, tasks = sys.argv[1:]
    allowed = asyncio.run(hammer(url, prefix, Rate(0.001, int(burst)), int(takes), int(tasks)))
    print(json.dumps({"allowed": allowed}))  # noqa: T201 - the answer to the test that runs it


if __name__ == "__main__":
    main()
