"""Clients that are slow on purpose, for the tests of the servers' deadlines."""

from __future__ import annotations

import asyncio

import pytest

__all__ = ["closed_within", "trickle"]


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before it closed the connection; fails if it is still open after ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=seconds)
    except ConnectionResetError:
        return b""
    except TimeoutError:
        pytest.fail(f"the connection is still open after {seconds} s")


async def trickle(writer: asyncio.StreamWriter, data: bytes, *, every: float = 0.05) -> None:
    """Send ``data`` a byte at a time until done or the server closes the connection."""
    for byte in data:
        if writer.is_closing():
            return
        writer.write(bytes([byte]))
        try:
            await writer.drain()
        except ConnectionError:
            return
        await asyncio.sleep(every)
