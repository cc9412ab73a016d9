"""A RabbitMQ resource alarm for the connections of one virtual host only.

A memory or disk alarm makes RabbitMQ's alarm handler send ``{conserve_resources, Source,
true}`` to every connection process; each then blocks its client (``connection.blocked``
when it publishes) until the same message with ``false`` arrives. Raising the real alarm
(``rabbitmqctl set_vm_memory_high_watermark``) would block every connection of the
shared broker, other tests' included, so this sends that message, through
``rabbitmqctl eval``, to the connections of the test's own virtual host: the broker's
own blocking path, for those connections alone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from yarl import URL

from tests.conftest import unavailable

__all__ = ["memory_alarm"]


@contextmanager
def memory_alarm(amqp_url: str) -> Iterator[None]:
    """Block publishing for the connections of ``amqp_url``'s virtual host (open now) until the block ends."""
    vhost = URL(amqp_url).path.lstrip("/")
    _conserve(vhost, on=True)
    try:
        yield
    finally:
        _conserve(vhost, on=False)


def _conserve(vhost: str, *, on: bool) -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        unavailable("rabbitmqctl is not installed: a resource alarm cannot be raised")
    flag = "true" if on else "false"
    expression = (
        f"[Pid ! {{conserve_resources, memory, {flag}}} || "
        f"[{{pid, Pid}}, {{vhost, V}}] <- rabbit_networking:connection_info_all([pid, vhost]), "
        f'V =:= <<"{vhost}">>], ok.'
    )
    result = subprocess.run([tool, "-q", "eval", expression], capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        unavailable(f"rabbitmqctl eval failed: {result.stderr.strip() or result.stdout.strip()}")
