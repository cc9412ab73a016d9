// Events the tests share: valid envelopes built from the schemas' own examples.
export const OFFER_PAYLOAD = {
  team: "magic-apron",
  product_id: "1004417382",
  store_id: "store-0121",
  price: 39.98,
  currency: "USD",
  availability: "in_stock",
  quantity: 12,
  channel: "app",
  customer_facing: true,
  surfaced_at: "2026-11-02T14:05:12.331-05:00",
};

export const WORKFLOW_PAYLOAD = {
  workflow_id: "Rk3zR5ZlU6cXbd7q",
  workflow_name: "Transcript to TheBoard",
  execution_id: "48213",
  mode: "webhook",
  started_at: "2026-11-02T14:03:28.104Z",
  input: { transcript_id: "tr_01JBX7Z5K3", title: "Weekly platform sync" },
};

let counter = 0;

export function uuid(n: number = ++counter): string {
  return `0193a5f2-7d4e-7c1a-8b2f-${n.toString(16).padStart(12, "0")}`;
}

export function envelope(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: uuid(),
    event_type: "retail.offer.surfaced.v1",
    timestamp: "2026-11-02T19:05:12.331Z",
    version: "1.0.0",
    source: { host: "pricing-1", type: "system", app: "pricing" },
    correlation_ids: [],
    payload: OFFER_PAYLOAD,
    ...overrides,
  };
}

/** An observation as the visibility layer records it (the `Observation` of visibility.conflict.detected.v1). */
export function observation(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    team: "magic-apron",
    source: "offer",
    price: 39.98,
    availability: "in_stock",
    quantity: 12,
    on_hand: null,
    observed_at: "2026-11-02T14:05:12.331000-05:00",
    event_id: uuid(),
    ...overrides,
  };
}
