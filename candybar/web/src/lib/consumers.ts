// The consumer queues in words: rates, retry tiers and whether a queue needs a look.
import type { ConsumerQueue, Consumers } from "../api/operations";

/** Messages per second, or a dash where the broker tells no rate. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  return rate >= 10 ? `${Math.round(rate)}/s` : `${rate.toFixed(1)}/s`;
}

/** A retry tier's delay as people say it: 1 s, 2 min, 6 h. */
export function formatDelay(seconds: number): string {
  if (seconds < 60) return `${Number(seconds.toPrecision(3))} s`;
  if (seconds < 3600) return `${Number((seconds / 60).toPrecision(3))} min`;
  return `${Number((seconds / 3600).toPrecision(3))} h`;
}

/** Messages waiting in a consumer's retry tiers (a tier whose queue is missing counts none). */
export function retrying(queue: ConsumerQueue): number {
  return queue.retry_tiers.reduce((sum, tier) => sum + (tier.messages ?? 0), 0);
}

export type QueueHealth = "ok" | "busy" | "failing" | "idle";

/**
 * What a queue's row says at a glance: failing (open dead letters), busy (a backlog or messages
 * retrying), idle (no consumer attached) or ok.
 */
export function queueHealth(queue: ConsumerQueue): QueueHealth {
  if (queue.dead_letters_open > 0) return "failing";
  if (queue.consumers === 0) return "idle";
  if (queue.ready > 0 || retrying(queue) > 0) return "busy";
  return "ok";
}

/** Where the figures come from, in words, for the page's note. */
export function readingText(answer: Consumers): string {
  switch (answer.reading) {
    case "management":
      return "Read from RabbitMQ's management API: every consumer queue, with unacknowledged counts and rates.";
    case "passive":
      return "Read by passive declarations: ready messages and consumers of the known queues; no unacknowledged counts or rates (set BLOODBANK_MANAGEMENT_URL for them).";
    case "embedded":
      return "Read from the embedded broker: every queue, with unacknowledged counts; it keeps no rates.";
  }
}
