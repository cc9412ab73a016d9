"""Token buckets: one contract that the memory and Redis limiters both keep, then what each adds."""

from __future__ import annotations

import asyncio
import json
import math
import random
import socket
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gumdrop.rate_limits import (
    MemoryRateLimiter,
    Rate,
    RateLimiter,
    RateLimitUnavailable,
    RedisRateLimiter,
    Verdict,
    _allowed,
    _refused,
    rate_limiter,
)
from gumdrop.unavailable import ServiceUnavailable
from tests.conftest import RedisNamespace

REPOSITORY = Path(__file__).resolve().parents[2]
SLOW = Rate(per_second=0.001, burst=3)
"""A refill of a thousandth of a token per second: nothing that a test could notice."""
SECONDS = 0.25
"""How far the seconds of a Redis verdict may be from the exact ones: the time the test itself takes."""


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """A limiter, and how to make time pass for its buckets."""

    limiter: RateLimiter
    age: Callable[[float], Awaitable[None]]


def passed(limit: int, remaining: int, reset_seconds: float) -> Verdict:
    return Verdict(allowed=True, limit=limit, remaining=remaining, reset_seconds=reset_seconds, retry_after=0.0)


def refused(limit: int, reset_seconds: float, retry_after: float) -> Verdict:
    return Verdict(allowed=False, limit=limit, remaining=0, reset_seconds=reset_seconds, retry_after=retry_after)


def assert_same(actual: Verdict, expected: Verdict) -> None:
    """The same answer: the counts exactly, the seconds within the time a test takes."""
    assert (actual.allowed, actual.limit, actual.remaining) == (expected.allowed, expected.limit, expected.remaining)
    assert actual.reset_seconds == pytest.approx(expected.reset_seconds, abs=SECONDS)
    assert actual.retry_after == pytest.approx(expected.retry_after, abs=SECONDS)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def namespace(request: pytest.FixtureRequest) -> RedisNamespace | None:
    """The test's Redis namespace for the redis parameter, None for memory."""
    return request.getfixturevalue("redis_namespace") if request.param == "redis" else None


@pytest.fixture
async def backend(namespace: RedisNamespace | None) -> AsyncIterator[Backend]:
    if namespace is None:
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        memory = MemoryRateLimiter(clock=clock)
        yield Backend(memory, advance)
        await memory.close()
        return
    redis = Redis.from_url(namespace.url)

    async def age(seconds: float) -> None:
        """Move every bucket's time stamp and expiry back, as if ``seconds`` had passed on the server."""
        micros = round(seconds * 1_000_000)
        async for key in redis.scan_iter(match=namespace.prefix + "*"):
            left = await redis.pttl(key)
            if left <= micros // 1000:
                await redis.delete(key)
            else:
                await redis.hincrby(key, "at", -micros)
                await redis.pexpire(key, left - micros // 1000)

    shared = RedisRateLimiter(namespace.url, prefix=namespace.prefix)
    yield Backend(shared, age)
    await shared.close()
    await redis.aclose()


# --- The contract -------------------------------------------------------------------------


async def test_a_bucket_starts_full_and_lets_its_burst_pass(backend: Backend) -> None:
    """A new bucket holds `burst` tokens: that many takes pass, the next is refused until one token is back."""
    answers = [await backend.limiter.take("client:a", SLOW) for _ in range(4)]
    assert_same(answers[0], passed(3, 2, 1000))
    assert_same(answers[1], passed(3, 1, 2000))
    assert_same(answers[2], passed(3, 0, 3000))
    assert_same(answers[3], refused(3, 3000, 1000))


async def test_a_refused_take_removes_nothing(backend: Backend) -> None:
    """A take of more tokens than are left is refused and leaves them all for a smaller take."""
    rate = Rate(per_second=0.001, burst=5)
    assert_same(await backend.limiter.take("client:a", rate, cost=3), passed(5, 2, 3000))
    assert_same(await backend.limiter.take("client:a", rate, cost=3), refused(5, 3000, 1000))
    assert_same(await backend.limiter.take("client:a", rate, cost=2), passed(5, 0, 5000))


async def test_a_take_of_nothing_checks_for_one_token_and_takes_none(backend: Backend) -> None:
    """Cost 0 passes while one token is there, without spending it; refused on an empty bucket."""
    limiter = backend.limiter
    assert_same(await limiter.take("auth-failures:10.0.0.1", SLOW, cost=0), passed(3, 3, 0))
    await limiter.take("auth-failures:10.0.0.1", SLOW, cost=2)
    assert_same(await limiter.take("auth-failures:10.0.0.1", SLOW, cost=0), passed(3, 1, 2000))
    assert_same(await limiter.take("auth-failures:10.0.0.1", SLOW, cost=0), passed(3, 1, 2000))
    await limiter.take("auth-failures:10.0.0.1", SLOW)
    assert_same(await limiter.take("auth-failures:10.0.0.1", SLOW, cost=0), refused(3, 3000, 1000))


async def test_tokens_come_back_at_the_rate_fractions_included_up_to_the_burst(backend: Backend) -> None:
    """Half a token is kept and counts toward the next one; a bucket never holds more than its burst."""
    rate = Rate(per_second=1.0, burst=5)
    limiter = backend.limiter
    assert_same(await limiter.take("client:a", rate, cost=5), passed(5, 0, 5))
    assert_same(await limiter.take("client:a", rate), refused(5, 5, 1))
    await backend.age(2.5)
    assert_same(await limiter.take("client:a", rate, cost=2), passed(5, 0, 4.5))
    assert_same(await limiter.take("client:a", rate), refused(5, 4.5, 0.5))
    await backend.age(0.6)
    assert_same(await limiter.take("client:a", rate), passed(5, 0, 4.9))
    await backend.age(3600)
    assert_same(await limiter.take("client:a", rate, cost=0), passed(5, 5, 0))
    assert_same(await limiter.take("client:a", rate), passed(5, 4, 1))


async def test_a_take_larger_than_the_burst_never_passes_and_takes_nothing(backend: Backend) -> None:
    """Cost above the burst is refused even from a full bucket; its retry_after is the time to fill up."""
    limiter = backend.limiter
    assert_same(await limiter.take("client:a", SLOW, cost=4), refused(3, 0, 0))
    assert_same(await limiter.take("client:a", SLOW), passed(3, 2, 1000))
    assert_same(await limiter.take("client:a", SLOW, cost=4), refused(3, 1000, 1000))


async def test_each_key_has_a_bucket_of_its_own(backend: Backend) -> None:
    """Draining one client's bucket leaves another's, and the same client's for another scope, full."""
    await backend.limiter.take("client:a:publish", SLOW, cost=3)
    assert not (await backend.limiter.take("client:a:publish", SLOW)).allowed
    assert_same(await backend.limiter.take("client:a:read", SLOW), passed(3, 2, 1000))
    assert_same(await backend.limiter.take("client:b:publish", SLOW), passed(3, 2, 1000))


async def test_a_negative_cost_is_refused_with_the_reason(backend: Backend) -> None:
    """A take cannot give tokens back."""
    with pytest.raises(ValueError, match=r"^a take costs 0 tokens or more, got -1$"):
        await backend.limiter.take("client:a", SLOW, cost=-1)


@pytest.mark.redis
async def test_memory_and_redis_answer_a_random_sequence_alike(redis_namespace: RedisNamespace) -> None:
    """Five hundred takes of random keys, rates and costs (0 and above the burst included) get the same verdicts."""
    chooser = random.Random(20240611)  # noqa: S311 - a sequence to repeat, not a secret
    rates = {"a": Rate(0.001, 1), "b": Rate(0.001, 4), "c": Rate(0.002, 10)}
    memory = MemoryRateLimiter(clock=FakeClock())
    shared = RedisRateLimiter(redis_namespace.url, prefix=redis_namespace.prefix)
    try:
        for _ in range(500):
            key = chooser.choice("abc")
            cost = chooser.choice([0, 1, 1, 1, 2, 3, 5, 11])
            expected = await memory.take(key, rates[key], cost=cost)
            actual = await shared.take(key, rates[key], cost=cost)
            assert_same(actual, expected)
    finally:
        await shared.close()


# --- The verdict --------------------------------------------------------------------------


def test_an_allowed_verdict_has_rate_limit_headers_in_whole_seconds_up() -> None:
    """A take that passed says the limit, what is left and when the bucket is full, and no Retry-After."""
    headers = passed(10, 7, 2.2).headers()
    assert headers == {"RateLimit-Limit": "10", "RateLimit-Remaining": "7", "RateLimit-Reset": "3"}


@pytest.mark.parametrize(
    ("retry_after", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (2.01, "3"), (59.5, "60")], ids=str
)
def test_a_refusal_says_when_to_retry_in_whole_seconds_up_at_least_one(retry_after: float, header: str) -> None:
    """Retry-After is never 0, which a client would take as "at once"."""
    headers = refused(30, 59.5, retry_after).headers()
    assert headers == {
        "RateLimit-Limit": "30",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "60",
        "Retry-After": header,
    }


def test_the_verdicts_of_a_take_equal_those_the_constructor_makes() -> None:
    """The limiters fill a verdict's slots directly: every field is set, and equal to Verdict(...)'s."""
    rate = Rate(per_second=2.0, burst=5)
    assert _allowed(2.5, rate) == passed(5, 2, 1.25)
    assert _refused(0.5, rate, 1) == refused(5, 2.25, 0.25)
    assert _refused(5.0, rate, 6) == refused(5, 0.0, 0.0)
    assert repr(_allowed(5.0, rate)) == repr(passed(5, 5, 0.0))
    assert hash(_allowed(5.0, rate)) == hash(passed(5, 5, 0.0))


@pytest.mark.parametrize(
    ("per_second", "burst", "message"),
    [
        (0.0, 1, "a rate refills a finite number of tokens per second above 0, got 0.0"),
        (-1.0, 1, "a rate refills a finite number of tokens per second above 0, got -1.0"),
        (math.inf, 1, "a rate refills a finite number of tokens per second above 0, got inf"),
        (math.nan, 1, "a rate refills a finite number of tokens per second above 0, got nan"),
        (1.0, 0, "a rate's burst is a whole number of tokens, 1 or more, got 0"),
        (1.0, 2.5, "a rate's burst is a whole number of tokens, 1 or more, got 2.5"),
        (1.0, True, "a rate's burst is a whole number of tokens, 1 or more, got True"),
    ],
)
def test_a_rate_that_cannot_fill_a_bucket_is_refused(per_second: float, burst: int, message: str) -> None:
    """A rate needs a finite refill above 0 and a whole burst of 1 or more, and says which it lacks."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        Rate(per_second, burst)


# --- In memory ----------------------------------------------------------------------------


async def test_buckets_full_again_are_forgotten() -> None:
    """Keys that come once and refill within a second leave at most a second's worth of buckets behind."""
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock)
    rate = Rate(per_second=1.0, burst=10)
    most = 0
    for number in range(100_000):
        clock.advance(0.001)
        await limiter.take(f"auth-failures:{number}", rate)
        most = max(most, len(limiter))
    assert most <= 2 * 1024 + 1000
    clock.advance(1.0)
    for _ in range(2 * 1024):
        await limiter.take("client:a", rate, cost=0)
    assert len(limiter) == 0


async def test_a_flood_of_new_keys_stays_within_the_cap_and_spares_a_drained_bucket() -> None:
    """100k source addresses at once keep at most max_buckets in memory; the one that had used its tokens stays."""
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock=clock, max_buckets=10_000)
    rate = Rate(per_second=0.5, burst=30)
    await limiter.take("auth-failures:attacker", rate, cost=30)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(100_000):
            await limiter.take(f"auth-failures:10.{number >> 16}.{(number >> 8) & 255}.{number & 255}", rate)
            assert len(limiter) <= 10_000
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 4_000_000, f"{held} bytes held for 10k buckets"
    assert not (await limiter.take("auth-failures:attacker", rate, cost=0)).allowed


async def test_checks_and_refusals_hold_no_bucket() -> None:
    """Only a take that spends tokens is remembered: checks from a million addresses cost no memory."""
    limiter = MemoryRateLimiter(clock=FakeClock())
    await limiter.take("auth-failures:10.0.0.1", SLOW, cost=0)
    await limiter.take("auth-failures:10.0.0.2", SLOW, cost=4)
    assert len(limiter) == 0


def test_a_memory_limiter_holds_one_bucket_at_least() -> None:
    """A cap of no buckets is refused at construction."""
    with pytest.raises(ValueError, match=r"^a memory rate limiter holds 1 bucket or more, got max_buckets=0$"):
        MemoryRateLimiter(max_buckets=0)


# --- Through Redis ------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_bucket_is_a_key_under_the_prefix_that_expires_once_full(redis_namespace: RedisNamespace) -> None:
    """A take writes `{prefix}{key}`, stamped with the server's clock, expiring when the bucket is full again."""
    shared = RedisRateLimiter(redis_namespace.url, prefix=redis_namespace.prefix)
    redis = Redis.from_url(redis_namespace.url)
    try:
        await shared.take("client:a", Rate(per_second=0.5, burst=10), cost=3)
        await shared.take("client:b", SLOW, cost=0)
        await shared.take("client:c", SLOW, cost=4)
        assert [key async for key in redis.scan_iter(match=redis_namespace.prefix + "*")] == [
            redis_namespace.key("client:a").encode()
        ]
        bucket = await redis.hgetall(redis_namespace.key("client:a"))
        seconds, micros = await redis.time()
        assert float(bucket[b"tokens"]) == 7.0
        assert int(bucket[b"at"]) == pytest.approx(seconds * 1_000_000 + micros, abs=SECONDS * 1_000_000)
        assert await redis.pttl(redis_namespace.key("client:a")) == pytest.approx(6000, abs=SECONDS * 1000)
    finally:
        await redis.aclose()
        await shared.close()


@pytest.mark.redis
async def test_processes_sharing_a_redis_share_one_budget(redis_namespace: RedisNamespace) -> None:
    """Three OS processes of eight tasks each take 900 times from one bucket of 500: exactly 500 pass in all."""
    processes, burst, takes = 3, 500, 300
    redis = Redis.from_url(redis_namespace.url)
    hammers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.gumdrop.rate_limit_hammer",
            redis_namespace.url,
            redis_namespace.prefix,
            str(burst),
            str(takes),
            "8",
            cwd=REPOSITORY,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    try:
        async with asyncio.timeout(30):
            while int(await redis.get(redis_namespace.key("ready")) or 0) < processes:
                await asyncio.sleep(0.02)
            await redis.rpush(redis_namespace.key("go"), *["go"] * processes)
            outputs = [await hammer.communicate() for hammer in hammers]
    finally:
        for hammer in hammers:
            if hammer.returncode is None:
                hammer.kill()
                await hammer.wait()
        await redis.aclose()
    assert [hammer.returncode for hammer in hammers] == [0] * processes, [err.decode() for _, err in outputs]
    allowed = [json.loads(out)["allowed"] for out, _ in outputs]
    assert sum(allowed) == burst, allowed


async def test_redis_down_is_a_clear_error_not_a_redis_one() -> None:
    """A Redis that refuses connections raises RateLimitUnavailable at once, naming the address without secrets."""
    shared = RedisRateLimiter("redis://rater:s3cret@127.0.0.1:1/0", timeout=5.0)
    started = time.monotonic()
    try:
        with pytest.raises(RateLimitUnavailable) as raised:
            await shared.take("client:a", SLOW)
    finally:
        await shared.close()
    assert time.monotonic() - started < 2.0, "no waiting for a timeout or a backoff: the port refuses at once"
    error = raised.value
    assert isinstance(error, ServiceUnavailable)
    assert isinstance(error.__cause__, RedisConnectionError)
    assert error.address == "redis://127.0.0.1:1/0"
    assert str(error).startswith("Redis at redis://127.0.0.1:1/0 failed: Error 111 connecting to 127.0.0.1:1.")
    assert str(error).endswith(": the shared rate limits cannot be checked until it answers")
    assert "s3cret" not in str(error)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


async def test_redis_that_does_not_answer_is_given_up_after_the_timeout(silent_port: int) -> None:
    """A Redis that accepts the connection and stays silent is an error after `timeout`, with the exact message."""
    shared = RedisRateLimiter(f"redis://127.0.0.1:{silent_port}/0", timeout=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(RateLimitUnavailable) as raised:
            await shared.take("client:a", SLOW)
    finally:
        await shared.close()
    assert time.monotonic() - started < 1.0
    assert str(raised.value) == (
        f"Redis at redis://127.0.0.1:{silent_port}/0 did not answer within 0.2 s: "
        "the shared rate limits cannot be checked until it answers"
    )


async def test_a_redis_url_picks_the_shared_limiter_and_none_the_memory_one() -> None:
    """The setting decides: a URL shares the buckets through Redis, none (or an empty one) keeps them in memory."""
    assert isinstance(rate_limiter(None), MemoryRateLimiter)
    assert isinstance(rate_limiter(""), MemoryRateLimiter)
    shared = rate_limiter("redis://127.0.0.1:6379/0", prefix="elsewhere:")
    assert isinstance(shared, RedisRateLimiter)
    assert shared.prefix == "elsewhere:"
    await shared.close()
