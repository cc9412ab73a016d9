"""A subscription: which events go where, signed with which secret, retried how.

The same fields come from ``DELIVERIES_FILE`` and from ``POST /subscriptions``, checked by
the same model (:class:`SubscriptionFields`), so a value the file refuses the API refuses
with the same words::

    name          [a-z0-9][a-z0-9_-]{0,62}; the consumer queue is delivery.{name}
    patterns      event-type patterns (`*` one word, `#` zero or more words), bound on the main exchange
    filters       payload conditions every delivered event meets (payload.PATH[op]=value)
    url           http or https, a host name or IPv4 address, no user name, password or fragment
    secret        Standard Webhooks: whsec_ and 24 to 64 random bytes in base64; made when not given
    retry_delays  1 to 20 delays from 10 ms to a week (default CANDYSTORE_DELIVERY_RETRY_DELAYS)
    concurrency   requests in flight at most, 1 to 256 (default CANDYSTORE_DELIVERY_CONCURRENCY)
    timeout       seconds one request may take, 10 ms to 5 min (default CANDYSTORE_DELIVERY_TIMEOUT)
    enabled       false: nothing is sent; events wait in the queue until it is enabled again

Each text field's syntax is also a regular expression (:data:`URL_SYNTAX`, :data:`SECRET_SYNTAX`,
the patterns' and conditions'), so the OpenAPI document says exactly what is accepted.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from candystore.conditions import CONDITION_SYNTAX, MAX_CONDITION_LENGTH, Condition, matches_all
from candystore.settings import MAX_DELIVERY_DELAY, MAX_DELIVERY_TIERS, MIN_DELIVERY_DELAY
from candystore.store.subscriptions import SubscriptionRecord
from holyfields.wildcards import MAX_PATTERN_LENGTH, SYNTAX, TypePattern

__all__ = [
    "CONSUMER_PREFIX",
    "NAME_PATTERN",
    "SECRET_SYNTAX",
    "URL_SYNTAX",
    "Subscription",
    "SubscriptionFields",
    "SubscriptionSettings",
    "SubscriptionSource",
    "check_name",
    "check_secret",
    "check_url",
    "new_secret",
]

T = TypeVar("T")

CONSUMER_PREFIX = "delivery."
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""Lower-case letters, digits, ``-`` and ``_``; no dot, so ``delivery.{name}.retry.10s`` reads one way."""
SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
SECRET_BYTES = (24, 64)
"""The secret's size in bytes, as Standard Webhooks recommends."""
MAX_URL_LENGTH = 2000
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
URL_SYNTAX = rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?(?:[/?][!-\"$-~]*)?$"
"""The URLs a subscription can send to: http or https, a host name or IPv4 address, a port from 1 to 65535, then
printable ASCII but ``#`` (no user name or password, no fragment, anything else percent-encoded)."""
_QUAD = "[A-Za-z0-9+/]{4}"
SECRET_SYNTAX = rf"^whsec_(?:(?:{_QUAD}){{8,21}}(?:[A-Za-z0-9+/]{{2}}==)?|(?:{_QUAD}){{8,20}}[A-Za-z0-9+/]{{3}}=)$"
"""``whsec_`` and the base64 of 24 to 64 bytes, padded."""
MAX_PATTERNS = 50
MAX_FILTERS = 50
MAX_CONCURRENCY = 256
MAX_TIMEOUT = 300.0
MIN_TIMEOUT = 0.01


class SubscriptionSource(StrEnum):
    """Where a subscription is defined, and so who may change it."""

    FILE = "file"
    """``DELIVERIES_FILE``: changed by editing the file; read-only through the API."""
    API = "api"
    """``POST /subscriptions``: kept in Candystore's database, changed through the API."""


def new_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _checked(check: Callable[[T], object]) -> Callable[[T], T]:
    """A pydantic validator from ``check``, which raises ValueError saying what is wrong: said as it is."""

    def validate(value: T) -> T:
        try:
            check(value)
        except ValueError as exc:  # InvalidPattern and InvalidCondition are ValueErrors too
            raise PydanticCustomError("invalid", "{reason}", {"reason": str(exc)}) from None
        return value

    return validate


def check_name(text: str) -> None:
    """Raise ValueError unless ``text`` can name a subscription (and so a queue, ``delivery.{name}``)."""
    if not re.fullmatch(NAME_PATTERN, text):
        raise ValueError(
            "a name is 1 to 63 lower-case letters, digits, '-' and '_', starting with a letter or digit, "
            "e.g. 'crm-offers'"
        )


def check_url(text: str) -> None:
    """Raise ValueError unless ``text`` is an http or https URL that can receive deliveries (:data:`URL_SYNTAX`)."""
    if len(text) > MAX_URL_LENGTH:
        raise ValueError(f"a URL may have at most {MAX_URL_LENGTH} characters")
    if re.fullmatch(URL_SYNTAX, text):
        return
    scheme, colon, rest = text.partition("://")
    if not colon or scheme.lower() not in {"http", "https"}:
        shown = f"scheme {scheme!r}" if colon or ":" in text else "no scheme"
        if not colon and ":" in text:
            shown = f"scheme {text.partition(':')[0]!r}"
        raise ValueError(f"must be an http or https URL, got {shown}, e.g. 'https://example.com/hooks/33god'")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise ValueError("the URL may not hold a user name or password: receivers verify the signature instead")
    if "#" in rest:
        raise ValueError("the URL may not have a #fragment: it is never sent")
    if not authority:
        raise ValueError("the URL names no host, e.g. 'https://example.com/hooks/33god'")
    raise ValueError(
        "expected http(s)://HOST[:PORT][/PATH][?QUERY]: a lower-case scheme, a host name or IPv4 address, a port "
        "from 1 to 65535, printable ASCII after it (percent-encode the rest), e.g. 'https://example.com/hooks/33god'"
    )


def check_secret(text: str) -> str:
    """``text`` if it is a Standard Webhooks secret (:data:`SECRET_SYNTAX`); otherwise a ValueError saying why."""
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"a Standard Webhooks secret starts with {SECRET_PREFIX!r}, e.g. 'whsec_' + base64 bytes")
    if re.fullmatch(SECRET_SYNTAX, text):
        return text
    try:
        key = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = None
    low, high = SECRET_BYTES
    if key is not None and not low <= len(key) <= high:
        raise ValueError(f"a secret is {low} to {high} bytes once decoded, got {len(key)}")
    raise ValueError(f"after {SECRET_PREFIX!r} a secret is padded base64 (A-Z, a-z, 0-9, + and /, then = or ==)")


Name = Annotated[str, AfterValidator(_checked(check_name)), WithJsonSchema({"type": "string", "pattern": NAME_PATTERN})]
PatternText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PATTERN_LENGTH),
    AfterValidator(_checked(TypePattern.parse)),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_LENGTH, "pattern": SYNTAX}),
]
ConditionText = Annotated[
    str,
    AfterValidator(_checked(Condition.parse)),
    WithJsonSchema({"type": "string", "maxLength": MAX_CONDITION_LENGTH, "pattern": CONDITION_SYNTAX}),
]
TargetUrl = Annotated[
    str,
    AfterValidator(_checked(check_url)),
    WithJsonSchema({"type": "string", "maxLength": MAX_URL_LENGTH, "pattern": URL_SYNTAX}),
]
WebhookSecret = Annotated[
    str, AfterValidator(_checked(check_secret)), WithJsonSchema({"type": "string", "pattern": SECRET_SYNTAX})
]


def _json_number(value: object) -> object:
    """A JSON number stays one: text and booleans are refused, not read as numbers (the document says number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number_type", "Input should be a number")
    return value


Count = Annotated[int, Field(ge=1, le=MAX_CONCURRENCY), BeforeValidator(_json_number)]
"""Requests in flight at most: 1 to 256 (a whole number, ``4.0`` included)."""
Seconds = Annotated[float, Field(ge=MIN_TIMEOUT, le=MAX_TIMEOUT), BeforeValidator(_json_number)]
"""Seconds a request may take: 10 ms to 5 minutes."""
Flag = Annotated[bool, Strict()]
"""``true`` or ``false``, nothing else."""
RetryDelays = Annotated[
    list[Annotated[float, Field(ge=MIN_DELIVERY_DELAY, le=MAX_DELIVERY_DELAY), BeforeValidator(_json_number)]],
    Field(min_length=1, max_length=MAX_DELIVERY_TIERS),
]


class SubscriptionSettings(BaseModel):
    """What a subscription does, all but its name: the body of ``PUT /subscriptions/{name}``."""

    model_config = ConfigDict(extra="forbid")

    patterns: list[PatternText] = Field(
        min_length=1, max_length=MAX_PATTERNS, description="event types to deliver", examples=[["retail.offer.#"]]
    )
    filters: list[ConditionText] = Field(
        default_factory=list,
        max_length=MAX_FILTERS,
        description="payload conditions every delivered event meets: `payload.PATH[op]=value`, op one of eq "
        "(the default), ne, lt, gt, contains, exists",
        examples=[["payload.store_id=S-42", "payload.price[gt]=30"]],
    )
    url: TargetUrl = Field(description="where events are POSTed", examples=["https://crm.example.com/hooks/33god"])
    secret: WebhookSecret | None = Field(
        default=None, description="the Standard Webhooks secret; one is made (and shown once) when left out"
    )
    retry_delays: RetryDelays | None = Field(
        default=None, description="seconds before each retry; null: the platform's tiers (10 s … 6 h)"
    )
    concurrency: Count | None = Field(default=None, description="requests in flight at most")
    timeout: Seconds | None = Field(default=None, description="seconds one request may take")
    enabled: Flag = Field(default=True, description="false: nothing is sent; matching events wait in the queue")


class SubscriptionFields(SubscriptionSettings):
    """What defines a subscription, as the file and ``POST /subscriptions`` give it: its name and settings."""

    name: Name = Field(description="its consumer queue is `delivery.{name}`", examples=["crm-offers"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """A subscription as the platform runs it: its fields, where it is defined and its state."""

    name: str
    patterns: tuple[str, ...]
    filters: tuple[str, ...] = ()
    url: str
    secret: str = field(repr=False)
    retry_delays: tuple[float, ...] | None = None
    concurrency: int | None = None
    timeout: float | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    source: SubscriptionSource
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    _conditions: tuple[Condition, ...] = field(init=False, repr=False, compare=False)
    _patterns: tuple[TypePattern, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_conditions", tuple(Condition.parse(text) for text in self.filters))
        object.__setattr__(self, "_patterns", tuple(TypePattern.parse(text) for text in self.patterns))

    @property
    def consumer(self) -> str:
        """Its consumer queue's name (and ``x-bloodbank-consumer`` of its dead letters)."""
        return CONSUMER_PREFIX + self.name

    def wants(self, event_type: str, payload: Mapping[str, Any]) -> bool:
        """Whether an event of ``event_type`` with ``payload`` is delivered (its patterns, then its filters)."""
        return any(pattern.matches(event_type) for pattern in self._patterns) and matches_all(self._conditions, payload)

    @classmethod
    def of(cls, name: str, fields: SubscriptionSettings, *, source: SubscriptionSource, secret: str) -> Subscription:
        return cls(
            name=name,
            patterns=tuple(fields.patterns),
            filters=tuple(fields.filters),
            url=fields.url,
            secret=secret,
            retry_delays=None if fields.retry_delays is None else tuple(fields.retry_delays),
            concurrency=fields.concurrency,
            timeout=fields.timeout,
            enabled=fields.enabled,
            source=source,
        )

    @classmethod
    def from_record(cls, record: SubscriptionRecord) -> Subscription:
        return cls(
            name=record.name,
            patterns=record.patterns,
            filters=record.filters,
            url=record.url,
            secret=record.secret,
            retry_delays=record.retry_delays,
            concurrency=record.concurrency,
            timeout=record.timeout,
            enabled=record.enabled,
            disabled_reason=record.disabled_reason,
            source=SubscriptionSource.API,
            created_at=record.created_at,
            created_by=record.created_by,
            updated_at=record.updated_at,
            updated_by=record.updated_by,
        )
