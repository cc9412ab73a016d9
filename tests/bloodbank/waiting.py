"""Waiting for asynchronous outcomes in tests: brokers deliver when they deliver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

__all__ = ["eventually"]


async def eventually(check: Callable[[], Awaitable[bool] | bool], *, timeout: float = 10.0) -> None:
    """Wait until ``check`` holds (the broker works asynchronously); fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
