"""What a running gateway holds: its settings, who may call it, the bus, whether it is ready, the requests in flight."""

from __future__ import annotations

import asyncio
import socket
from types import TracebackType

import structlog
from redis.asyncio import Redis

from bloodbank.bus import Bus
from bloodbank.gateway.errors import GatewayError
from bloodbank.gateway.signatures import RequestSignatures
from bloodbank.metrics import BloodbankMetrics
from bloodbank.publisher import Publisher
from bloodbank.queue_watch import QueueWatch, watched_queues
from bloodbank.settings import BloodbankSettings
from gumdrop.access_control import Access
from gumdrop.background import Background
from holyfields import EventValidator

__all__ = ["GatewayState", "InFlight"]

log = structlog.get_logger(__name__)


class InFlight:
    """Counts the requests being handled, so that shutdown waits for them before it closes the bus."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __enter__(self) -> None:
        self.count += 1
        self._idle.clear()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def drained(self, *, timeout: float) -> bool:
        """Wait until no request is in flight (at most ``timeout`` seconds); whether it got there."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class GatewayState:
    """The gateway's bus and readiness; started and stopped by the app's lifespan."""

    def __init__(
        self,
        settings: BloodbankSettings,
        *,
        validator: EventValidator,
        metrics: BloodbankMetrics,
        access: Access,
        bus: Bus | None = None,
    ) -> None:
        self.settings = settings
        self.access = access
        redis = Redis.from_url(settings.redis_url) if settings.redis_url and not access.is_open else None
        self.signatures = RequestSignatures(redis=redis, prefix=f"{settings.redis_prefix}webhook-id:")
        self.validator = validator
        self.metrics = metrics
        self.hostname = socket.gethostname()
        self.bus = bus
        self._owns_bus = bus is None
        self.topology_verified = False
        self.in_flight = InFlight()
        self._background = Background()

    async def start(self) -> None:
        """Connect and declare the topology (or, for a bus given already started, verify it)."""
        self.in_flight = InFlight()  # its event belongs to the loop that serves the requests
        if self._owns_bus:
            self.bus = await Bus.start(self.settings, validator=self.validator, metrics=self.metrics)
        else:
            assert self.bus is not None  # noqa: S101 - a gateway that does not own its bus was given one
            await self.bus.transport.declare_topology(verify_only=True)
        self.topology_verified = True
        watch = QueueWatch(self.bus.transport, self.metrics, watched_queues(self.settings.watch_consumers))
        self._background.every(self.settings.watch_seconds, watch.refresh, name="queue watch")

    async def stop(self) -> None:
        """Let the requests in flight finish (up to the publish timeout), then close the bus if it is ours."""
        if not await self.in_flight.drained(timeout=self.settings.publish_timeout):
            log.warning("closing with requests still in flight", requests=self.in_flight.count)
        self.topology_verified = False
        await self._background.stop()
        if self._owns_bus and self.bus is not None:
            bus, self.bus = self.bus, None
            await bus.close()
        await self.signatures.close()
        await self.access.close()

    @property
    def publisher(self) -> Publisher:
        """The bus's publisher; a 503 while the gateway is not started."""
        if self.bus is None:
            raise GatewayError.broker_unavailable("the gateway is not connected to the broker")
        return self.bus.publisher
