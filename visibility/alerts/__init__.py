"""Alerts to Slack: new conflicts grouped per rule, spikes of the conflict rate, delivered from an outbox.

Alerting is off while ``VISIBILITY_SLACK_WEBHOOK_URL`` is unset: no conflict is queued
for an alert. When set, each new conflict waits in the outbox; once a rule's oldest
waiting conflict is ``alert_group_window`` old, that rule's waiting conflicts become one
message, so a burst does not flood the channel. Messages are delivered in order with
retries and a doubling pause (up to ``alert_retry_max``), and stay in the outbox until
the webhook accepts them: an outage delays alerts, it loses none. Each escalation step
queues one message (:func:`escalation_message`) in the transaction that takes the step.
"""

from visibility.alerts.alerter import Alerter
from visibility.alerts.messages import conflicts_message, escalation_message, spike_message
from visibility.alerts.sink import AlertSink, DeliveryFailed, MemorySink, SlackWebhook

__all__ = [
    "AlertSink",
    "Alerter",
    "DeliveryFailed",
    "MemorySink",
    "SlackWebhook",
    "conflicts_message",
    "escalation_message",
    "spike_message",
]
