"""``DELIVERIES_FILE``: outbound delivery subscriptions kept in a YAML file, read when Candystore starts::

    subscriptions:
      - name: crm-offers
        patterns: ["retail.offer.#"]
        filters: ["payload.store_id=S-42", "payload.price[gt]=30"]   # optional
        url: https://crm.example.com/hooks/33god
        secret_env: CRM_WEBHOOK_SECRET      # or `secret: whsec_…` in the file itself
        retry_delays: [10, 60, 300, 1800]   # optional; the platform's tiers otherwise
        concurrency: 4                      # optional
        timeout: 5                          # optional, seconds
        enabled: true                       # optional

Each entry has the fields of ``POST /subscriptions`` (:class:`~.subscription.SubscriptionFields`),
except that the secret must be given (in the file or, better, in the environment variable that
``secret_env`` names): a secret made at each start would change under the receiver's feet.
Anything wrong stops the start with a :class:`DeliveriesFileError` naming the file, the line
and the field (``DELIVERIES_FILE: hooks.yaml, line 7: subscriptions[1].url: must be an http or
https URL, got scheme 'ftp', …``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from candystore.deliveries.subscription import Subscription, SubscriptionFields, SubscriptionSource, check_secret
from gumdrop.unavailable import SettingRefused

__all__ = ["DeliveriesFileError", "load_deliveries_file"]

SETTING = "DELIVERIES_FILE"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DeliveriesFileError(SettingRefused):
    """The deliveries file cannot be used; the message names the file, the line and the field at fault."""


class _FileEntry(SubscriptionFields):
    secret_env: str | None = Field(default=None, pattern=_ENV_NAME)

    @model_validator(mode="after")
    def _one_secret(self) -> _FileEntry:
        if (self.secret is None) == (self.secret_env is None):
            raise PydanticCustomError(
                "secret", "give the secret as secret_env (the environment variable holding it) or as secret, not both"
            )
        return self


class _DeliveriesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subscriptions: list[_FileEntry] = Field(default_factory=list)


def _location(loc: Sequence[int | str]) -> str:
    """``("subscriptions", 1, "url")`` as ``subscriptions[1].url``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """The line (from 1) of the deepest part of ``loc`` the document has: a key's line, or an item's."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        found: tuple[yaml.Node, yaml.Node] | None = None
        if isinstance(node, yaml.MappingNode):
            found = next(((key, value) for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = (node.value[part], node.value[part])
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeliveriesFileError(f"{SETTING}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return (None if node is None else loader.construct_document(node)), node
    except yaml.YAMLError as exc:
        raise DeliveriesFileError(f"{SETTING}: {path} is not YAML: {exc}") from exc
    finally:
        loader.dispose()


def _secret(entry: _FileEntry, environment: Mapping[str, str]) -> str:
    if entry.secret is not None:
        return entry.secret
    assert entry.secret_env is not None  # noqa: S101 - one of the two is given (checked by the model)
    value = environment.get(entry.secret_env)
    if value is None:
        raise ValueError(f"the environment variable {entry.secret_env} is not set")
    try:
        return check_secret(value)
    except ValueError as exc:
        raise ValueError(f"the environment variable {entry.secret_env}: {exc}") from None


def load_deliveries_file(path: Path, *, environment: Mapping[str, str] | None = None) -> list[Subscription]:
    """The subscriptions of the YAML file at ``path``, in its order; raises :class:`DeliveriesFileError`.

    ``environment`` (``os.environ`` by default) holds the secrets that entries name with ``secret_env``.
    """
    environment = os.environ if environment is None else environment
    document, root = _read(path)
    if document is None:
        return []

    def refused(loc: Sequence[int | str], message: str) -> DeliveriesFileError:
        line = _line(root, loc)
        where = f"{path}, line {line}" if line is not None else str(path)
        return DeliveriesFileError(f"{SETTING}: {where}: {_location(loc) or 'the file'}: {message}")

    try:
        parsed = _DeliveriesFile.model_validate(document)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise refused(problem["loc"], problem["msg"]) from exc
    subscriptions: list[Subscription] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(parsed.subscriptions):
        if entry.name in seen:
            raise refused(
                ("subscriptions", index, "name"),
                f"{entry.name!r} is already the name of subscriptions[{seen[entry.name]}]: each name is used once",
            )
        seen[entry.name] = index
        try:
            secret = _secret(entry, environment)
        except ValueError as exc:
            raise refused(("subscriptions", index, "secret_env"), str(exc)) from exc
        subscriptions.append(Subscription.of(entry.name, entry, source=SubscriptionSource.FILE, secret=secret))
    return subscriptions
