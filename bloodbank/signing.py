"""Signed bus messages (design.md, "Security"): an HMAC-SHA256 over the exact body, carried in two AMQP headers.

``x-bloodbank-key-id`` names the key and ``x-bloodbank-signature`` holds the base64 HMAC.
The secrets come from ``BLOODBANK_SIGNING_KEYS``, comma-separated ``id:secret`` pairs: the
first signs every message published, every one listed verifies. So a key is rotated in
three steps, a restart of every process after each: list the new key second (everyone
verifies it), move it first (it signs), remove the old one once no message it signed
waits in a queue (or in a retry queue).

With no keys nothing is signed or verified. With keys, a consumer dead-letters a message
whose signature does not verify (a bad signature, an unknown key id), and an unsigned one
unless ``BLOODBANK_ACCEPT_UNSIGNED`` is set (while producers are being migrated).

Exceptions::

    ValueError
    └── MalformedSigningKeys   BLOODBANK_SIGNING_KEYS cannot be read (raised at start)

Neither the errors nor the representations here ever show a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from binascii import b2a_base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "MalformedSigningKeys",
    "MessageSignatures",
    "SigningKey",
    "parse_signing_keys",
]

KEY_ID_HEADER = "x-bloodbank-key-id"
SIGNATURE_HEADER = "x-bloodbank-signature"
SETTING = "BLOODBANK_SIGNING_KEYS"
_SHOWN_KEY_ID = 64  # characters of a received key id quoted in a reason: the header is the sender's to fill

_UNSIGNED = f"no signature: the message carries no {SIGNATURE_HEADER} header"
_NO_KEY_ID = f"no key id: the message carries an {SIGNATURE_HEADER} header but no {KEY_ID_HEADER} header"
_MISMATCH = "the signature does not match the body (tampered, or signed with another secret)"


class MalformedSigningKeys(ValueError):
    """``BLOODBANK_SIGNING_KEYS`` has an entry that is not ``id:secret``, or repeats a key id."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One ``id:secret`` pair; the secret is the UTF-8 bytes of its text and never shown."""

    key_id: str
    secret: bytes = field(repr=False)


def parse_signing_keys(entries: Sequence[str]) -> list[SigningKey]:
    """The keys of ``BLOODBANK_SIGNING_KEYS``'s entries, in order; :class:`MalformedSigningKeys` says what is wrong.

    Raises on the first problem: an entry without ``:``, an empty id or secret, a key id
    listed twice. The message quotes key ids, never an entry (it may be a bare secret).
    """
    keys: list[SigningKey] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        key_id, colon, secret = entry.partition(":")
        key_id, secret = key_id.strip(), secret.strip()
        where = f"{SETTING} entry {number} of {len(entries)}"
        if not colon:
            raise MalformedSigningKeys(f"{where} has no ':'; write comma-separated id:secret pairs")
        if not key_id:
            raise MalformedSigningKeys(f"{where} has an empty key id before its ':'; write id:secret")
        if not secret:
            raise MalformedSigningKeys(f"{where} (key id {key_id!r}) has an empty secret after its ':'")
        if key_id in seen:
            raise MalformedSigningKeys(
                f"{where} repeats key id {key_id!r} (entry {seen[key_id]}); give every secret its own id"
            )
        seen[key_id] = number
        keys.append(SigningKey(key_id, secret.encode()))
    return keys


class MessageSignatures:
    """Signs message bodies with the first key and verifies them with every key.

    The HMAC state after each key is computed once; a message costs a copy of it and the
    hash of its body (a few microseconds for a kilobyte).
    """

    __slots__ = ("_accept_unsigned", "_signer", "_signing_id", "_verifiers")

    def __init__(self, keys: Sequence[SigningKey], *, accept_unsigned: bool = False) -> None:
        if not keys:
            raise ValueError("MessageSignatures needs at least one key; without keys messages are not signed")
        self._verifiers = {key.key_id: hmac.new(key.secret, digestmod=hashlib.sha256) for key in keys}
        self._signing_id = keys[0].key_id
        self._signer = self._verifiers[self._signing_id]
        self._accept_unsigned = accept_unsigned

    @classmethod
    def from_settings(cls, entries: Sequence[str], *, accept_unsigned: bool = False) -> MessageSignatures | None:
        """The signatures ``BLOODBANK_SIGNING_KEYS`` asks for; ``None`` when it lists no key (nothing to sign)."""
        keys = parse_signing_keys(entries)
        return cls(keys, accept_unsigned=accept_unsigned) if keys else None

    @property
    def signing_key_id(self) -> str:
        return self._signing_id

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id that verifies, the signing one first."""
        return tuple(self._verifiers)

    @property
    def accept_unsigned(self) -> bool:
        return self._accept_unsigned

    def sign(self, body: bytes) -> dict[str, str]:
        """The two headers that sign ``body``."""
        mac = self._signer.copy()
        mac.update(body)
        return {KEY_ID_HEADER: self._signing_id, SIGNATURE_HEADER: b2a_base64(mac.digest(), newline=False).decode()}

    def verify(self, body: bytes, headers: Mapping[str, Any]) -> str | None:
        """``None`` when ``body`` may be handled; otherwise why not (a bad or missing signature, an unknown key)."""
        signature = _text(headers.get(SIGNATURE_HEADER))
        if signature is None:
            if SIGNATURE_HEADER in headers:
                return f"the {SIGNATURE_HEADER} header is not text"
            return None if self._accept_unsigned else _UNSIGNED
        key_id = _text(headers.get(KEY_ID_HEADER))
        if key_id is None:
            return _NO_KEY_ID
        template = self._verifiers.get(key_id)
        if template is None:
            return f"signed with unknown key id {key_id[:_SHOWN_KEY_ID]!r}"
        mac = template.copy()
        mac.update(body)
        # Compared in constant time: how long a comparison takes must not tell how much of a forgery was right.
        if not hmac.compare_digest(b2a_base64(mac.digest(), newline=False), signature.encode(errors="replace")):
            return _MISMATCH
        return None

    def __repr__(self) -> str:
        unsigned = ", accept_unsigned" if self._accept_unsigned else ""
        return f"MessageSignatures(signing {self._signing_id!r}, verifying {list(self._verifiers)!r}{unsigned})"


def _text(value: object) -> str | None:
    """A header's text: AMQP brings strings as ``str``, or as ``bytes`` from a byte-array field."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return None
