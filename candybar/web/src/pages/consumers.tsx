// Consumers: every consumer queue as the broker sees it (backlog, unsettled, consumers, rates), its
// retry tiers and its open dead letters by reason, and the queues of what went nowhere
// (unrouted.all) and what failed (dlq.all). Refreshed every few seconds.
import type { JSX } from "preact";

import type { ConsumerQueue, Consumers, OperationsClient, QueueFigures } from "../api/operations";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { useInterval, useLatest } from "../hooks";
import { formatDelay, formatRate, queueHealth, readingText, retrying, type QueueHealth } from "../lib/consumers";
import { formatNumber } from "../lib/format";
import { NO_DEAD_LETTER_QUERY, routeHref } from "../router";

/** How often the figures are read again. */
export const CONSUMERS_REFRESH_MS = 5_000;

const HEALTH: Record<QueueHealth, { pill: string; text: string }> = {
  ok: { pill: "green", text: "ok" },
  busy: { pill: "amber", text: "backlog" },
  failing: { pill: "red", text: "dead letters" },
  idle: { pill: "grey", text: "no consumer" },
};

function deadLettersHref(consumer: string): string {
  return routeHref({ page: "dead-letters", query: { ...NO_DEAD_LETTER_QUERY, consumer } });
}

function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : formatNumber(value);
}

function Tiers(props: { queue: ConsumerQueue }): JSX.Element {
  if (props.queue.retry_tiers.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="tiers">
      {props.queue.retry_tiers.map((tier) => (
        <li key={tier.queue} title={tier.queue} class={tier.messages ? "waiting" : ""}>
          <span class="muted">{formatDelay(tier.delay_seconds)}</span> {count(tier.messages)}
        </li>
      ))}
    </ul>
  );
}

function Reasons(props: { queue: ConsumerQueue }): JSX.Element {
  const { queue } = props;
  if (queue.dead_letters.length === 0) return <span class="muted">none open</span>;
  return (
    <ul class="reasons">
      {queue.dead_letters.map((item) => (
        <li key={item.reason}>
          <Link href={routeHref({ page: "dead-letters", query: { ...NO_DEAD_LETTER_QUERY, consumer: queue.name, reason: item.reason } })}>
            <span class="mono">{item.reason}</span> <strong>{formatNumber(item.count)}</strong>
          </Link>
        </li>
      ))}
    </ul>
  );
}

function QueueTable(props: { queues: ConsumerQueue[] }): JSX.Element {
  return (
    <div class="table-scroll">
      <table class="grid consumers-table" aria-label="Consumer queues">
        <thead>
          <tr>
            <th>Queue</th>
            <th>State</th>
            <th class="number">Ready</th>
            <th class="number">Unacked</th>
            <th class="number">Consumers</th>
            <th class="number" title="messages per second entering the queue">In</th>
            <th class="number" title="messages per second delivered to consumers">Delivered</th>
            <th class="number" title="messages per second acknowledged">Acked</th>
            <th>Retry tiers</th>
            <th>Dead letters (open) by reason</th>
          </tr>
        </thead>
        <tbody>
          {props.queues.map((queue) => {
            const health = HEALTH[queueHealth(queue)];
            return (
              <tr key={queue.name} tabIndex={0} data-queue={queue.name} aria-label={`${queue.name}: ${health.text}`}>
                <td class="queue-name" data-label="Queue">
                  <Link href={deadLettersHref(queue.name)} title={`Dead letters of ${queue.name}`}>
                    {queue.name}
                  </Link>
                </td>
                <td data-label="State">
                  <span class={`pill ${health.pill}`}>{health.text}</span>
                </td>
                <td class="number" data-label="Ready">{count(queue.ready)}</td>
                <td class="number" data-label="Unacked">{count(queue.unacked)}</td>
                <td class="number" data-label="Consumers">{count(queue.consumers)}</td>
                <td class="number" data-label="In">{formatRate(queue.publish_rate)}</td>
                <td class="number" data-label="Delivered">{formatRate(queue.deliver_rate)}</td>
                <td class="number" data-label="Acked">{formatRate(queue.ack_rate)}</td>
                <td data-label="Retry tiers">
                  <Tiers queue={queue} />
                  {retrying(queue) > 0 ? <span class="visually-hidden">{retrying(queue)} retrying</span> : null}
                </td>
                <td data-label="Dead letters" class="wide">
                  <Reasons queue={queue} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function SharedQueue(props: { title: string; queue: QueueFigures | null | undefined; note: string }): JSX.Element {
  const { queue } = props;
  return (
    <div class={`card shared-queue ${queue && queue.ready > 0 ? "attention" : ""}`} data-shared-queue={props.title}>
      <h2>{props.title}</h2>
      {queue ? (
        <p class="depth">
          <strong>{formatNumber(queue.ready)}</strong> waiting
          {queue.unacked !== null ? `, ${formatNumber(queue.unacked)} unacked` : ""}, {formatNumber(queue.consumers)} consumer
          {queue.consumers === 1 ? "" : "s"}
        </p>
      ) : (
        <p class="muted">The queue does not exist (yet).</p>
      )}
      <p class="muted note">{props.note}</p>
    </div>
  );
}

function ConsumersView(props: { answer: Consumers }): JSX.Element {
  const { answer } = props;
  return (
    <>
      <p class="muted reading" data-reading={answer.reading}>
        {readingText(answer)}
      </p>
      {answer.problem ? (
        <p class="outcome error" role="status">
          {answer.problem}
        </p>
      ) : null}
      {answer.consumers.length === 0 ? (
        <Empty title="No consumer queues">
          <p>No consumer has declared its queue on this broker yet.</p>
        </Empty>
      ) : (
        <QueueTable queues={answer.consumers} />
      )}
      <div class="shared-queues">
        <SharedQueue
          title="unrouted.all"
          queue={answer.unrouted}
          note="Events no queue was bound to; Candystore moves them to the dead letters with reason unrouted."
        />
        <SharedQueue title="dlq.all" queue={answer.dead_letter_queue} note="Dead letters on their way into Candystore's table." />
      </div>
      {answer.other_dead_letters.length > 0 ? (
        <div class="table-scroll">
          <table class="grid" aria-label="Open dead letters of other consumers">
            <caption class="muted">Open dead letters of consumers without a queue here</caption>
            <thead>
              <tr>
                <th>Consumer</th>
                <th>Reason</th>
                <th class="number">Open</th>
              </tr>
            </thead>
            <tbody>
              {answer.other_dead_letters.map((item) => (
                <tr key={`${item.consumer ?? ""}:${item.reason}`} tabIndex={0}>
                  <td>
                    <Link href={deadLettersHref(item.consumer ?? "")}>{item.consumer ?? "(unknown)"}</Link>
                  </td>
                  <td class="mono">{item.reason}</td>
                  <td class="number">{formatNumber(item.count)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}

export function ConsumersPage(props: { operations: OperationsClient }): JSX.Element {
  const figures = useLatest(() => props.operations.consumers(), [props.operations]);
  useInterval(figures.reload, CONSUMERS_REFRESH_MS);
  return (
    <section class="page consumers">
      <div class="toolbar">
        <h1>Consumers</h1>
        <span class="muted refresh" aria-live="off">
          {figures.loading ? "refreshing…" : `refreshed every ${CONSUMERS_REFRESH_MS / 1000} s`}
        </span>
        <button type="button" onClick={figures.reload}>
          Refresh
        </button>
      </div>
      {figures.data !== undefined ? (
        <>
          {figures.error !== undefined ? (
            <p class="outcome error" role="status">
              The last refresh failed; showing the figures before it.
            </p>
          ) : null}
          <ConsumersView answer={figures.data} />
        </>
      ) : figures.error !== undefined ? (
        <Failure error={figures.error} retry={figures.reload} what="consumer queues" />
      ) : (
        <Loading what="consumer queues" />
      )}
    </section>
  );
}
