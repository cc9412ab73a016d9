"""Every subscription, wherever it is defined: those of ``DELIVERIES_FILE`` and those made through the API.

File subscriptions are read-only here (they change when the file does, at the next start);
API subscriptions live in Candystore's database, so every Candystore process sees the same
ones. A name is one subscription: an API subscription whose name the file also defines is
hidden behind the file's (and a warning says so). Exceptions::

    SubscriptionError (Exception)
    ├── SubscriptionNotFound       no subscription has that name
    ├── SubscriptionExists         the name is taken (by the file or the database)
    └── SubscriptionReadOnly       it is defined in DELIVERIES_FILE: change the file instead
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from candystore.deliveries.subscription import (
    Subscription,
    SubscriptionFields,
    SubscriptionSettings,
    new_secret,
)
from candystore.store import EventStore
from candystore.store.subscriptions import SubscriptionRecord

__all__ = [
    "SubscriptionCatalog",
    "SubscriptionError",
    "SubscriptionExists",
    "SubscriptionNotFound",
    "SubscriptionReadOnly",
]

log = structlog.get_logger(__name__)

SYSTEM_ACTOR = "candystore"
"""Who a change the platform makes by itself is recorded as (a receiver's 410 disabling a subscription)."""


class SubscriptionError(Exception):
    """A subscription cannot be read or changed as asked; ``name`` is the one concerned."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(message)


class SubscriptionNotFound(SubscriptionError):
    def __init__(self, name: str) -> None:
        super().__init__(name, f"no subscription {name!r}")


class SubscriptionExists(SubscriptionError):
    def __init__(self, name: str, *, in_file: bool) -> None:
        where = "DELIVERIES_FILE defines" if in_file else "there is already"
        super().__init__(name, f"{where} a subscription {name!r}: choose another name, or change that one")


class SubscriptionReadOnly(SubscriptionError):
    def __init__(self, name: str) -> None:
        super().__init__(
            name, f"subscription {name!r} comes from DELIVERIES_FILE: change it there (read when Candystore starts)"
        )


class SubscriptionCatalog:
    """The file's subscriptions (given at start) and the database's, read and changed as one list."""

    def __init__(self, store: EventStore, file_subscriptions: Sequence[Subscription] = ()) -> None:
        self.store = store
        self._file = {subscription.name: subscription for subscription in file_subscriptions}
        self._receiver_disabled: dict[str, str] = {}
        """File subscriptions a receiver's 410 disabled, with why, until Candystore starts again."""
        self._shadowed: set[str] = set()

    async def all(self) -> list[Subscription]:
        """Every subscription: the file's in its order, then the database's by name."""
        stored = await self.store.subscriptions()
        for record in stored:
            if record.name in self._file and record.name not in self._shadowed:
                self._shadowed.add(record.name)
                log.warning(
                    "an API subscription has the name of one in DELIVERIES_FILE; the file's is used",
                    subscription=record.name,
                )
        file_subscriptions = [self._from_file(name) for name in self._file]
        return file_subscriptions + [Subscription.from_record(r) for r in stored if r.name not in self._file]

    async def get(self, name: str) -> Subscription:
        """The subscription ``name``; raises :class:`SubscriptionNotFound`."""
        if name in self._file:
            return self._from_file(name)
        record = await self.store.subscription(name)
        if record is None:
            raise SubscriptionNotFound(name)
        return Subscription.from_record(record)

    async def create(self, fields: SubscriptionFields, *, actor: str) -> Subscription:
        """Keep a new API subscription (its secret made unless given); raises :class:`SubscriptionExists`."""
        if fields.name in self._file:
            raise SubscriptionExists(fields.name, in_file=True)
        now = datetime.now(UTC)
        record = SubscriptionRecord(
            name=fields.name,
            patterns=tuple(fields.patterns),
            filters=tuple(fields.filters),
            url=fields.url,
            secret=fields.secret or new_secret(),
            retry_delays=None if fields.retry_delays is None else tuple(fields.retry_delays),
            concurrency=fields.concurrency,
            timeout=fields.timeout,
            enabled=fields.enabled,
            disabled_reason=None,
            created_at=now,
            created_by=actor,
            updated_at=now,
            updated_by=actor,
        )
        if not await self.store.add_subscription(record):
            raise SubscriptionExists(fields.name, in_file=False)
        return Subscription.from_record(record)

    async def replace(self, name: str, settings: SubscriptionSettings, *, actor: str) -> Subscription:
        """Give an API subscription new settings (its secret kept unless one is given)."""
        self._writable(name)
        values: dict[str, Any] = {
            "patterns": tuple(settings.patterns),
            "filters": tuple(settings.filters),
            "url": settings.url,
            "retry_delays": None if settings.retry_delays is None else tuple(settings.retry_delays),
            "concurrency": settings.concurrency,
            "timeout": settings.timeout,
            "enabled": settings.enabled,
        }
        if settings.secret is not None:
            values["secret"] = settings.secret
        return await self._change(name, values, actor=actor)

    async def update(self, name: str, changes: Mapping[str, Any], *, actor: str) -> Subscription:
        """Change some settings of an API subscription; ``changes`` are checked as a whole against the rest."""
        self._writable(name)
        current = await self.get(name)
        merged = {
            "patterns": list(current.patterns),
            "filters": list(current.filters),
            "url": current.url,
            "retry_delays": None if current.retry_delays is None else list(current.retry_delays),
            "concurrency": current.concurrency,
            "timeout": current.timeout,
            "enabled": current.enabled,
            **changes,
        }
        return await self.replace(name, SubscriptionSettings.model_validate(merged), actor=actor)

    async def delete(self, name: str) -> Subscription:
        """Delete an API subscription and the record of what it delivered."""
        self._writable(name)
        record = await self.store.remove_subscription(name)
        if record is None:
            raise SubscriptionNotFound(name)
        return Subscription.from_record(record)

    async def disable(self, name: str, reason: str) -> None:
        """Stop delivering to a subscription whose receiver said it is gone (410); the file's until the next start."""
        if name in self._file:
            self._receiver_disabled[name] = reason
            return
        await self.store.change_subscription(
            name,
            {"enabled": False, "disabled_reason": reason, "updated_at": datetime.now(UTC), "updated_by": SYSTEM_ACTOR},
        )

    def _writable(self, name: str) -> None:
        if name in self._file:
            raise SubscriptionReadOnly(name)

    def _from_file(self, name: str) -> Subscription:
        subscription = self._file[name]
        reason = self._receiver_disabled.get(name)
        if reason is None:
            return subscription
        return dataclasses.replace(subscription, enabled=False, disabled_reason=reason)

    async def _change(self, name: str, values: Mapping[str, Any], *, actor: str) -> Subscription:
        enabled = values.get("enabled")
        changes = {
            **values,
            "updated_at": datetime.now(UTC),
            "updated_by": actor,
            # Enabled again by someone: whatever disabled it no longer holds.
            **({"disabled_reason": None} if enabled else {}),
        }
        record = await self.store.change_subscription(name, changes)
        if record is None:
            raise SubscriptionNotFound(name)
        return Subscription.from_record(record)
