"""Token buckets: how many requests a client may make, in one process or shared through Redis.

A :class:`Rate` is a bucket's size (``burst``) and its refill (``per_second``). A bucket
starts full and refills continuously, fractions of a token included, up to its size. A take
of ``cost`` tokens passes when that many are there and removes them; a refused take removes
nothing; a take of cost 0 only checks that one token is there. Each take answers a
:class:`Verdict`, whose :meth:`~Verdict.headers` are a response's ``RateLimit-*`` and
``Retry-After``.

Two :class:`RateLimiter` give the same answers to the same takes:

- :class:`MemoryRateLimiter` holds the buckets of one process, on its monotonic clock. A
  bucket full again is forgotten (a missing bucket is a full one), and their number is
  capped, so that a flood of source addresses cannot grow its memory without bound. It is
  also the double for tests, with a clock of their own.
- :class:`RedisRateLimiter` holds buckets every process shares: each take is one Lua script
  run atomically on the Redis server's clock, so that processes on machines whose clocks
  disagree share one budget. An idle bucket expires once it would be full again.

:func:`rate_limiter` picks one from a setting: Redis when a URL is given.

Exceptions::

    ServiceUnavailable (gumdrop.unavailable)
    └── RateLimitUnavailable        Redis cannot be reached, did not answer in time or failed
                                    the script: the limits cannot be checked now, and the
                                    caller answers 503 (nothing passes unchecked)

A rate or a cost out of range raises :class:`ValueError`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gumdrop.unavailable import ServiceUnavailable

__all__ = [
    "DEFAULT_PREFIX",
    "MemoryRateLimiter",
    "Rate",
    "RateLimitUnavailable",
    "RateLimiter",
    "RedisRateLimiter",
    "Verdict",
    "rate_limiter",
]

DEFAULT_PREFIX: Final = "bloodbank:rate:"
"""Where :class:`RedisRateLimiter` keeps its buckets unless told otherwise: ``{prefix}{key}``."""


class RateLimitUnavailable(ServiceUnavailable):
    """The rate limits cannot be checked now (their Redis failed); ``address`` is that Redis, without credentials."""

    def __init__(self, message: str, *, address: str) -> None:
        self.address = address
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's refill per second and its size."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and math.isfinite(self.per_second)):
            raise ValueError(f"a rate refills a finite number of tokens per second above 0, got {self.per_second!r}")
        if isinstance(self.burst, bool) or not isinstance(self.burst, int) or self.burst < 1:
            raise ValueError(f"a rate's burst is a whole number of tokens, 1 or more, got {self.burst!r}")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one take, and what to tell the client about its bucket."""

    allowed: bool
    """Whether the take passed, its tokens removed."""
    limit: int
    """The bucket's size (its burst): ``RateLimit-Limit``."""
    remaining: int
    """Whole tokens left after this take, 0 when refused: ``RateLimit-Remaining``."""
    reset_seconds: float
    """Seconds until the bucket is full again: ``RateLimit-Reset``."""
    retry_after: float
    """When refused, seconds until the tokens asked for are there (0 when allowed): ``Retry-After``.

    A take of more tokens than the burst can never pass; its ``retry_after`` is ``reset_seconds``,
    after which it is refused again.
    """

    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``-Remaining`` and ``-Reset``, and ``Retry-After`` when refused; whole seconds, up."""
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_seconds)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers


class RateLimiter(Protocol):
    """Token buckets by key: a client's per scope, a source address's failed authentications."""

    async def take(self, key: str, rate: Rate, *, cost: int = 1) -> Verdict:
        """Take ``cost`` tokens from ``key``'s bucket of ``rate`` when they are there (cost 0: check for one).

        Raises :class:`RateLimitUnavailable` when the buckets cannot be reached, ValueError for a cost below 0.
        """
        ...

    async def close(self) -> None:
        """Release the connections; the limiter is not used afterwards."""
        ...


def _allowed(tokens: float, rate: Rate) -> Verdict:
    """A take that passed and left ``tokens``; the arithmetic of both limiters."""
    verdict = _new_verdict(Verdict)
    _set_allowed(verdict, True)  # noqa: FBT003 - a slot's value
    _set_limit(verdict, rate.burst)
    _set_remaining(verdict, int(tokens))
    _set_reset_seconds(verdict, (rate.burst - tokens) / rate.per_second)
    _set_retry_after(verdict, 0.0)
    return verdict


def _refused(tokens: float, rate: Rate, cost: int) -> Verdict:
    """A take of ``cost`` refused with ``tokens`` in the bucket; the arithmetic of both limiters."""
    reset_seconds = (rate.burst - tokens) / rate.per_second
    verdict = _new_verdict(Verdict)
    _set_allowed(verdict, False)  # noqa: FBT003 - a slot's value
    _set_limit(verdict, rate.burst)
    _set_remaining(verdict, 0)
    _set_reset_seconds(verdict, reset_seconds)
    _set_retry_after(verdict, reset_seconds if cost > rate.burst else (max(cost, 1) - tokens) / rate.per_second)
    return verdict


# A frozen dataclass's __init__ sets each field through object.__setattr__: about 1 µs for a
# Verdict, a third of a take in memory. The two above fill its slots directly instead, at half
# the cost (a test checks that they set every field).
_new_verdict = object.__new__


def _slot_setter(name: str) -> Callable[[Verdict, object], None]:
    setter: Callable[[Verdict, object], None] = vars(Verdict)[name].__set__
    return setter


_set_allowed, _set_limit, _set_remaining, _set_reset_seconds, _set_retry_after = map(
    _slot_setter, ("allowed", "limit", "remaining", "reset_seconds", "retry_after")
)


def _negative_cost(cost: int) -> ValueError:
    return ValueError(f"a take costs 0 tokens or more, got {cost}")


# --- In one process -----------------------------------------------------------------------


class _Bucket:
    """Tokens at ``stamp``, refilling at ``rate`` (the rate of the last take)."""

    __slots__ = ("rate", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float, rate: Rate) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.rate = rate

    def full_at(self) -> float:
        return self.stamp + (self.rate.burst - self.tokens) / self.rate.per_second


_SWEEP_EVERY = 1024
"""Takes between two sweeps at least; more when more buckets are held, so a sweep costs one bucket per take at most."""


class MemoryRateLimiter(RateLimiter):
    """The buckets of one process, on ``clock`` (seconds, never going back), at most ``max_buckets`` of them.

    A take is a dict lookup and arithmetic, with no lock: use one limiter from one event loop.
    A bucket full again is forgotten at the next sweep. When ``max_buckets`` are held all the
    same, an eighth of them is forgotten, those nearest to full: a flood of new keys wipes out
    the buckets it barely touched before one that was drained.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000) -> None:
        if max_buckets < 1:
            raise ValueError(f"a memory rate limiter holds 1 bucket or more, got max_buckets={max_buckets}")
        self.max_buckets = max_buckets
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._until_sweep = _SWEEP_EVERY

    def __len__(self) -> int:
        """How many buckets are held (those not known to be full)."""
        return len(self._buckets)

    async def take(self, key: str, rate: Rate, *, cost: int = 1) -> Verdict:
        """Take ``cost`` tokens from ``key``'s bucket of ``rate`` when they are there (cost 0: check for one)."""
        if cost < 0:
            raise _negative_cost(cost)
        now = self._clock()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            tokens: float = rate.burst
        else:
            tokens = bucket.tokens + (now - bucket.stamp) * rate.per_second
            if tokens > rate.burst:  # noqa: PLR1730 - min() costs twice the comparison on the hot path
                tokens = rate.burst
        if tokens < (cost or 1):
            return _refused(tokens, rate, cost)
        if cost:
            tokens -= cost
            if bucket is None:
                self._hold(key, _Bucket(tokens, now, rate), now)
            else:
                bucket.tokens, bucket.stamp, bucket.rate = tokens, now, rate
        return _allowed(tokens, rate)

    async def close(self) -> None:
        self._buckets.clear()

    def _hold(self, key: str, bucket: _Bucket, now: float) -> None:
        if len(self._buckets) >= self.max_buckets:
            self._make_room(now)
        self._buckets[key] = bucket

    def _make_room(self, now: float) -> None:
        """Forget the buckets full again, and those nearest to full until an eighth of the places is free."""
        buckets = self._buckets
        keep = self.max_buckets - max(1, self.max_buckets // 8)
        farthest_first = sorted(((bucket.full_at(), key) for key, bucket in buckets.items()), reverse=True)
        self._buckets = {key: buckets[key] for full_at, key in farthest_first[:keep] if full_at > now}

    def _sweep(self, now: float) -> None:
        """Forget the buckets that are full again (rebuilding the dict gives its memory back)."""
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if bucket.full_at() > now}
        self._until_sweep = max(_SWEEP_EVERY, len(self._buckets))


# --- Shared through Redis -----------------------------------------------------------------

# KEYS[1] the bucket, a hash of `tokens` and `at` (microseconds of the server's clock).
# ARGV: tokens per second, burst, cost, longest expiry in milliseconds.
# Returns {1 or 0 (allowed), the tokens left as text (a Lua number would come back truncated)}.
# The arithmetic is MemoryRateLimiter.take's; numbers are written with 17 digits, which read back exactly.
_TAKE_SCRIPT: Final = """
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tokens = burst
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
if state[1] and state[2] then
  local elapsed = math.max(now - tonumber(state[2]), 0) / 1000000
  tokens = math.min(burst, tonumber(state[1]) + elapsed * per_second)
end
if tokens < math.max(cost, 1) then
  return {0, string.format('%.17g', tokens)}
end
if cost > 0 then
  tokens = tokens - cost
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.0f', now))
  local full_in = math.ceil((burst - tokens) / per_second * 1000)
  redis.call('PEXPIRE', KEYS[1], string.format('%.0f', math.min(full_in, tonumber(ARGV[4]))))
end
return {1, string.format('%.17g', tokens)}
"""

_MAX_EXPIRY_MS: Final = 2**40
"""About 35 years: a bucket slower to refill expires then all the same (PEXPIRE refuses larger times)."""


class RedisRateLimiter(RateLimiter):
    """Buckets shared by every process using the Redis at ``url``, under ``prefix``.

    Each take is one round trip (EVALSHA), atomic on the server, timed by the server's clock
    (Redis 5 or later, which replicates a script's effects). ``timeout`` bounds a take,
    connecting included; a take that fails raises :class:`RateLimitUnavailable`. A connection
    found dropped is retried once, at once.
    """

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, timeout: float = 1.0) -> None:
        if not timeout > 0:
            raise ValueError(f"a Redis timeout is a number of seconds above 0, got {timeout!r}")
        self.prefix = prefix
        self.timeout = timeout
        self.address = _without_credentials(url)
        self._redis = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._take = self._redis.register_script(_TAKE_SCRIPT)

    async def take(self, key: str, rate: Rate, *, cost: int = 1) -> Verdict:
        """Take ``cost`` tokens from ``key``'s bucket of ``rate`` when they are there (cost 0: check for one)."""
        if cost < 0:
            raise _negative_cost(cost)
        args = (rate.per_second, rate.burst, cost, _MAX_EXPIRY_MS)
        try:
            async with asyncio.timeout(self.timeout):
                allowed, tokens = await self._take(keys=[self.prefix + key], args=args)
        except (TimeoutError, RedisTimeoutError) as exc:
            raise self._unavailable(f"did not answer within {self.timeout:g} s") from exc
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"failed: {exc}") from exc
        return _allowed(float(tokens), rate) if allowed == 1 else _refused(float(tokens), rate, cost)

    async def close(self) -> None:
        await self._redis.aclose()

    def _unavailable(self, what: str) -> RateLimitUnavailable:
        return RateLimitUnavailable(
            f"Redis at {self.address} {what}: the shared rate limits cannot be checked until it answers",
            address=self.address,
        )


def _without_credentials(url: str) -> str:
    """``url`` without its user and password, to be shown in errors and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=host).geturl()


def rate_limiter(redis_url: str | None, *, prefix: str = DEFAULT_PREFIX) -> RateLimiter:
    """Redis when a URL is given, memory otherwise."""
    if redis_url:
        return RedisRateLimiter(redis_url, prefix=prefix)
    return MemoryRateLimiter()
