"""How a subscription is delivered: defaults filled in, retry tiers spread per subscription, its consumer queue."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bloodbank.topology import DEAD_LETTER_EXCHANGE
from candystore.deliveries import DeliveryDefaults, DeliveryPlan, Subscription, SubscriptionSource
from candystore.deliveries.plan import spread
from candystore.settings import DEFAULT_DELIVERY_RETRY_DELAYS, CandystoreSettings

NAMES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
DELAYS = st.lists(st.floats(min_value=0.01, max_value=7 * 24 * 3600.0), min_size=1, max_size=20)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the Standard Webhooks example secret


@given(name=NAMES, delays=DELAYS, jitter=st.floats(min_value=0.0, max_value=0.5))
def test_spread_tiers_stay_within_the_jitter_and_name_their_queue_one_way(name, delays, jitter) -> None:
    """Each tier moves by at most ±jitter (three significant digits kept); the same name spreads the same way."""
    spread_delays = spread(name, delays, jitter)
    assert spread_delays == spread(name, delays, jitter)
    assert len(spread_delays) == len(delays)
    for delay, moved in zip(delays, spread_delays, strict=True):
        assert delay * (1 - jitter) * 0.995 <= moved <= delay * (1 + jitter) * 1.005  # 3 digits kept: ±0.5 %
        assert float(f"{moved:g}") == moved  # the retry queue `….retry.{moved:g}s` names this very delay


def test_without_jitter_the_tiers_are_as_given() -> None:
    """Jitter 0 leaves the tiers alone."""
    assert spread("crm", (0.05, 10.0), 0.0) == (0.05, 10.0)


def test_subscriptions_failing_together_come_back_apart() -> None:
    """Two subscriptions with the same tiers wait different times (the point of spreading them)."""
    assert spread("crm", DEFAULT_DELIVERY_RETRY_DELAYS, 0.2) != spread("audit", DEFAULT_DELIVERY_RETRY_DELAYS, 0.2)


def test_a_plan_fills_in_the_defaults_and_declares_the_platform_topology() -> None:
    """Unset settings come from CANDYSTORE_DELIVERY_*; its queue is delivery.{name}, dead-lettered to dlq.all."""
    subscription = Subscription(
        name="crm", patterns=("retail.#",), url="https://x.example/", secret=SECRET, source=SubscriptionSource.API
    )
    defaults = DeliveryDefaults.of(CandystoreSettings(delivery_jitter=0))
    plan = DeliveryPlan.of(subscription, defaults)
    assert (plan.retry_delays, plan.concurrency, plan.timeout, plan.attempts) == (
        DEFAULT_DELIVERY_RETRY_DELAYS,
        16,
        10.0,
        7,
    )
    spec = plan.spec
    assert (spec.name, tuple(spec.bindings), spec.retry_delays) == ("delivery.crm", ("retail.#",), plan.retry_delays)
    assert spec.queue_arguments()["x-dead-letter-exchange"] == DEAD_LETTER_EXCHANGE
    assert spec.dead_letter_routing_key == "dlq.delivery.crm"
    assert [spec.retry_queue(delay) for delay in spec.retry_delays][-1] == "delivery.crm.retry.21600s"
    own = DeliveryPlan.of(
        Subscription(
            name="crm",
            patterns=("retail.#",),
            url="https://x.example/",
            secret=SECRET,
            source=SubscriptionSource.API,
            retry_delays=(1.0,),
            concurrency=2,
            timeout=1.5,
        ),
        defaults,
    )
    assert (own.retry_delays, own.concurrency, own.timeout, own.attempts) == ((1.0,), 2, 1.5, 2)
    assert own != plan  # a change of settings restarts the consumer


def test_the_default_tiers_reach_over_hours() -> None:
    """10 s, 1 min, 5 min, 30 min, 2 h, 6 h: a receiver down for eight hours still gets its events."""
    assert sum(CandystoreSettings().delivery_retry_delays) > 8 * 3600
    assert CandystoreSettings(delivery_retry_delays="1,2.5").delivery_retry_delays == (1.0, 2.5)
