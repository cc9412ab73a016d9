"""``DELIVERIES_FILE``: the subscriptions it defines, and errors naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from bloodbank import BloodbankSettings, Bus
from candystore.deliveries import DeliveriesFileError, SubscriptionSource, load_deliveries_file
from candystore.service import CandystoreService
from candystore.settings import CandystoreSettings
from gumdrop.access_control import Access
from gumdrop.unavailable import SettingRefused

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the Standard Webhooks example secret
GOOD = f"""\
subscriptions:
  - name: crm
    patterns: ["retail.offer.#"]
    filters: ["payload.store_id=S-42", "payload.price[gt]=30"]
    url: https://crm.example.com/hooks/33god
    secret_env: CRM_SECRET
    retry_delays: [10, 60]
    concurrency: 4
    timeout: 5
  - name: audit
    patterns: ["#"]
    url: http://audit.internal:8080/in
    secret: {SECRET}
    enabled: false
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deliveries.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_gives_its_subscriptions_in_order(tmp_path: Path) -> None:
    """Every field is read; the secret comes from the environment variable named, or from the file."""
    crm, audit = load_deliveries_file(written(tmp_path, GOOD), environment={"CRM_SECRET": SECRET})
    assert (crm.name, crm.consumer, crm.source) == ("crm", "delivery.crm", SubscriptionSource.FILE)
    assert crm.patterns == ("retail.offer.#",)
    assert crm.filters == ("payload.store_id=S-42", "payload.price[gt]=30")
    assert (crm.url, crm.secret, crm.retry_delays, crm.concurrency, crm.timeout, crm.enabled) == (
        "https://crm.example.com/hooks/33god",
        SECRET,
        (10.0, 60.0),
        4,
        5.0,
        True,
    )
    assert (audit.secret, audit.enabled, audit.retry_delays, audit.filters) == (SECRET, False, None, ())
    assert SECRET not in repr(crm)


def test_an_empty_file_or_list_defines_nothing(tmp_path: Path) -> None:
    """An empty file, or ``subscriptions: []``, is no subscription (not an error)."""
    assert load_deliveries_file(written(tmp_path, "")) == []
    assert load_deliveries_file(written(tmp_path, "subscriptions: []\n")) == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            GOOD.replace("https://crm.example.com", "ftp://crm.example.com"),
            "line 5: subscriptions[0].url: must be an http or https URL, got scheme 'ftp'",
        ),
        (
            GOOD.replace("payload.price[gt]=30", "payload.price[>]=30"),
            "line 4: subscriptions[0].filters[1]: 'payload.price[>]=30' is not a payload condition",
        ),
        (
            GOOD.replace('["#"]', '["retail.#x"]'),
            "line 11: subscriptions[1].patterns[0]: 'retail.#x' is not a valid event-type pattern",
        ),
        (GOOD.replace("name: audit", "name: crm"), "line 10: subscriptions[1].name: 'crm' is already the name of"),
        (GOOD.replace("name: audit", "name: Audit Log"), "line 10: subscriptions[1].name: a name is 1 to 63"),
        (
            GOOD.replace("    concurrency: 4\n", "    concurency: 4\n"),
            "line 8: subscriptions[0].concurency: Extra inputs",
        ),
        (
            GOOD.replace("[10, 60]", "[10, -1]"),
            "line 7: subscriptions[0].retry_delays[1]: Input should be greater than or equal to 0.01",
        ),
        (
            GOOD.replace(f"    secret: {SECRET}\n", ""),
            (
                "line 10: subscriptions[1]: give the secret as secret_env (the environment variable holding it) or "
                "as secret, not both"
            ),
        ),
        (
            GOOD.replace("secret_env: CRM_SECRET", f"secret_env: CRM_SECRET\n    secret: {SECRET}"),
            "line 2: subscriptions[0]: give the secret as secret_env",
        ),
        (
            GOOD.replace("secret_env: CRM_SECRET", "secret_env: MISSING_SECRET"),
            "line 6: subscriptions[0].secret_env: the environment variable MISSING_SECRET is not set",
        ),
        ("subscription:\n  - name: crm\n", "line 1: subscription: Extra inputs are not permitted"),
        ("subscriptions:\n  name: crm\n", "line 1: subscriptions: Input should be a valid list"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_the_field(tmp_path: Path, text: str, error: str) -> None:
    """The first problem is named with its line (from 1) and field path, behind the setting and the file."""
    path = written(tmp_path, text)
    with pytest.raises(DeliveriesFileError) as raised:
        load_deliveries_file(path, environment={"CRM_SECRET": SECRET})
    assert str(raised.value).startswith(f"DELIVERIES_FILE: {path}, ")
    assert error in str(raised.value), str(raised.value)
    assert isinstance(raised.value, SettingRefused)  # `candystore serve` exits 1 with the message


def test_a_secret_in_the_environment_is_checked_like_one_in_the_file(tmp_path: Path) -> None:
    """The variable's value must be a Standard Webhooks secret too."""
    with pytest.raises(DeliveriesFileError, match=r"line 6: subscriptions\[0\]\.secret_env: the environment variable"):
        load_deliveries_file(written(tmp_path, GOOD), environment={"CRM_SECRET": "hunter2"})


def test_unreadable_or_not_yaml_is_refused(tmp_path: Path) -> None:
    """A missing file and a file that is not YAML are named, with why."""
    with pytest.raises(DeliveriesFileError, match=r"DELIVERIES_FILE: cannot read .*nothing\.yaml: No such file"):
        load_deliveries_file(tmp_path / "nothing.yaml")
    with pytest.raises(DeliveriesFileError, match="is not YAML"):
        load_deliveries_file(written(tmp_path, "subscriptions: [\n"))


def test_the_setting_is_read_from_deliveries_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variable is DELIVERIES_FILE exactly (design.md), not CANDYSTORE_DELIVERIES_FILE."""
    monkeypatch.setenv("DELIVERIES_FILE", str(tmp_path / "hooks.yaml"))
    assert CandystoreSettings().deliveries_file == tmp_path / "hooks.yaml"


async def test_candystore_does_not_start_with_a_bad_file(tmp_path: Path) -> None:
    """The service reads the file as it is built: a bad one stops it before anything starts."""
    path = written(tmp_path, GOOD.replace("https://crm", "gopher://crm"))
    bus = await Bus.start(BloodbankSettings(data_dir=tmp_path / "bus", redis_url=None))
    try:
        with pytest.raises(DeliveriesFileError, match=r"line 5: subscriptions\[0\]\.url"):
            CandystoreService(CandystoreSettings(data_dir=tmp_path, deliveries_file=path), bus, access=Access.open())
    finally:
        await bus.close(timeout=5)
