"""Who may call the platform: named clients, their scopes, and the API keys that stand for them.

A key belongs to one client; a client has several keys so they can rotate. Keys are kept
only as SHA-256 hashes (``sha256:<hex>``): API keys are long random tokens, so a plain
hash is enough to make a leaked keys file useless for calling the platform. A presented
key is hashed and compared against every stored hash in constant time.

Clients come from ``PLATFORM_KEYS_FILE`` (YAML)::

    clients:
      ops:
        scopes: [read, operate]
        keys: ["sha256:9f86d0…"]            # `33god keys new ops` makes one
        rate: {per_second: 50, burst: 100}   # optional; the platform's default otherwise
      visibility:
        scopes: [publish, read]
        publish: ["visibility.#"]            # event types it may publish (all when absent)
        keys: ["sha256:…"]
        webhook_secrets: ["whsec_…"]         # Standard Webhooks secrets its signed requests use
        require_signature: true

or, for a quick start, from ``BLOODBANK_API_KEYS`` (``client:key`` pairs, every scope).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from gumdrop.rate_limits import Rate
from gumdrop.unavailable import SettingRefused

__all__ = [
    "ANONYMOUS",
    "Client",
    "KeyRing",
    "KeysFileError",
    "Scope",
    "describe",
    "hash_key",
    "new_key",
]

KEY_HASH_PREFIX = "sha256:"


class Scope(StrEnum):
    """What a client may do. ``admin`` includes every other scope."""

    PUBLISH = "publish"
    """Publish events (optionally only types matching the client's patterns)."""
    READ = "read"
    """Read events, traces, stats, schemas, dead letters, conflicts and the live stream."""
    OPERATE = "operate"
    """Act: replay or discard dead letters, act on conflicts."""
    ADMIN = "admin"
    """Everything."""


@dataclass(frozen=True, slots=True)
class Client:
    """A caller of the platform, as its key names it."""

    name: str
    scopes: frozenset[Scope]
    publish_patterns: tuple[str, ...] = ()
    """Event-type patterns (``*`` one word, ``#`` any words) it may publish; empty: any type."""
    rate: Rate | None = None
    """Its own token bucket per scope; ``None``: the platform's default."""
    webhook_secrets: tuple[str, ...] = ()
    require_signature: bool = False
    authenticated: bool = True

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


ANONYMOUS = Client("anonymous", frozenset(Scope), authenticated=False)
"""The caller of a platform without keys: open, as on a developer's machine."""


def hash_key(key: str) -> str:
    """What a keys file stores for ``key``."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh API key: 256 random bits, URL-safe (it also fits a WebSocket subprotocol)."""
    return secrets.token_urlsafe(32)


class KeysFileError(SettingRefused):
    """The keys file or ``BLOODBANK_API_KEYS`` cannot be used; the message says where and why."""


@dataclass(frozen=True, slots=True)
class _StoredKey:
    digest: bytes
    client: Client

    @property
    def hex(self) -> str:
        return KEY_HASH_PREFIX + self.digest.hex()


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Every configured client and its key hashes. Empty: the platform is open."""

    clients: Mapping[str, Client] = field(default_factory=dict)
    _keys: tuple[_StoredKey, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self._keys)

    def authenticate(self, key: str) -> Client | None:
        """The client ``key`` belongs to; compares against every stored hash so timing tells nothing."""
        digest = hashlib.sha256(key.encode()).digest()
        found: Client | None = None
        for stored in self._keys:
            if hmac.compare_digest(digest, stored.digest):
                found = stored.client
        return found

    def joined(self, other: KeyRing) -> KeyRing:
        """Both rings' clients and keys; a client name or key in both is an error."""
        return KeyRing.of(
            [(client, [s.hex for s in self._keys if s.client is client]) for client in self.clients.values()]
            + [(client, [s.hex for s in other._keys if s.client is client]) for client in other.clients.values()]
        )

    @classmethod
    def of(cls, clients: Iterable[tuple[Client, Sequence[str]]]) -> KeyRing:
        """A ring of ``clients``, each with its key hashes (``sha256:<hex>``)."""
        by_name: dict[str, Client] = {}
        keys: list[_StoredKey] = []
        seen: set[bytes] = set()
        for client, hashes in clients:
            if client.name in by_name:
                raise KeysFileError(f"client {client.name!r} is configured twice")
            by_name[client.name] = client
            for stored in hashes:
                digest = bytes.fromhex(stored.removeprefix(KEY_HASH_PREFIX))
                if digest in seen:
                    raise KeysFileError(f"client {client.name!r}: a key is configured twice (for it or another client)")
                seen.add(digest)
                keys.append(_StoredKey(digest, client))
        return cls(by_name, tuple(keys))

    @classmethod
    def from_pairs(cls, pairs: Iterable[str]) -> KeyRing:
        """``client:key`` pairs (``BLOODBANK_API_KEYS``), each client with every scope."""
        grouped: dict[str, list[str]] = {}
        for pair in pairs:
            name, colon, key = pair.partition(":")
            if not colon or not name.strip() or not key.strip():
                raise KeysFileError(
                    "BLOODBANK_API_KEYS: expected comma-separated client:key pairs (ops:a-long-random-key), "
                    f"got an entry without {'a client name' if colon else 'a colon'}"
                )
            grouped.setdefault(name.strip(), []).append(hash_key(key.strip()))
        return cls.of((Client(name, frozenset({Scope.ADMIN})), hashes) for name, hashes in grouped.items())

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """The clients of a YAML keys file (see the module's docstring)."""
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeysFileError(f"PLATFORM_KEYS_FILE: cannot read {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise KeysFileError(f"PLATFORM_KEYS_FILE: {path} is not YAML: {exc}") from exc
        try:
            parsed = _KeysFile.model_validate(document)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            raise KeysFileError(f"PLATFORM_KEYS_FILE: {path}: {where}: {problem['msg']}") from exc
        return cls.of((entry.client(name), entry.keys) for name, entry in parsed.clients.items())


_Hash = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]
_Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
_Pattern = Annotated[str, StringConstraints(pattern=r"^(?:[a-z0-9_-]+|\*|#)(?:\.(?:[a-z0-9_-]+|\*|#))*$")]


class _RateEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class _ClientEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(min_length=1)
    keys: list[_Hash] = Field(min_length=1, description="sha256:<hex> of each key; several while rotating")
    publish: list[_Pattern] = Field(default_factory=list)
    rate: _RateEntry | None = None
    webhook_secrets: list[Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/=]{16,}$")]] = Field(
        default_factory=list
    )
    require_signature: bool = False

    def client(self, name: str) -> Client:
        if self.require_signature and not self.webhook_secrets:
            raise KeysFileError(f"PLATFORM_KEYS_FILE: clients.{name}: require_signature needs webhook_secrets")
        return Client(
            name,
            frozenset(self.scopes),
            publish_patterns=tuple(self.publish),
            rate=Rate(self.rate.per_second, self.rate.burst) if self.rate else None,
            webhook_secrets=tuple(self.webhook_secrets),
            require_signature=self.require_signature,
        )


class _KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clients: dict[_Name, _ClientEntry] = Field(min_length=1)


def describe(ring: KeyRing) -> dict[str, Any]:
    """What start-up logs say about the ring (names and scopes, never keys)."""
    return {name: sorted(client.scopes) for name, client in ring.clients.items()}
