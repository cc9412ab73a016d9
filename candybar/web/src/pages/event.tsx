// Event: the full envelope as stored — source, agent context, trace context, parents — and the JSON tree.
import type { ComponentChildren, JSX } from "preact";

import type { CandystoreClient } from "../api/candystore";
import { CopyButton } from "../components/copy";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { checkEvent } from "../lib/envelope";
import { formatTimestamp } from "../lib/format";
import { isUuid } from "../lib/ids";
import { useAsync } from "../hooks";
import { routeHref } from "../router";

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function Field(props: { name: string; children: ComponentChildren; copy?: string | undefined }): JSX.Element {
  return (
    <>
      <dt>{props.name}</dt>
      <dd>
        {props.children}
        {props.copy ? <CopyButton text={props.copy} /> : null}
      </dd>
    </>
  );
}

function textOf(value: unknown): string {
  if (value === undefined || value === null) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The envelope's own fields that link to other events: the parents in `correlation_ids`. */
export function envelopeLink(path: (string | number)[], value: unknown): string | null {
  return path.length === 2 && path[0] === "correlation_ids" && isUuid(value) ? routeHref({ page: "event", id: value }) : null;
}

export function EventPage(props: { id: string; candystore: CandystoreClient }): JSX.Element {
  const answer = useAsync(() => props.candystore.event(props.id), [props.id]);
  if (answer.status === "loading") return <Loading what={`event ${props.id}`} />;
  if (answer.status === "error") {
    if ("notFound" in answer.error && answer.error.notFound) {
      return (
        <Empty title="No such event">
          <p>
            Candystore has no event <code>{props.id}</code>. It may not be stored yet, or retention removed it. Find events on the{" "}
            <Link href="/events">Events</Link> page.
          </p>
        </Empty>
      );
    }
    return <Failure error={answer.error} retry={answer.reload} what="the event" />;
  }
  const checked = checkEvent(answer.data);
  const raw = record(answer.data);
  const source = record(raw.source);
  const agent = raw.agent_context === undefined ? null : record(raw.agent_context);
  const trace = raw.trace_context === undefined ? null : record(raw.trace_context);
  return (
    <section class="page event">
      <div class="toolbar">
        <h1>{checked.eventType}</h1>
        <Link href={routeHref({ page: "trace", id: props.id })} class="button">
          Causation trace
        </Link>
        <CopyButton text={JSON.stringify(answer.data, null, 2)} label="Copy envelope" />
      </div>
      {checked.issues.length > 0 ? (
        <div class="issues" role="alert">
          <strong>This stored event does not match its schema</strong>
          <ul>
            {checked.issues.map((issue, index) => (
              <li key={index}>
                <code>{issue.path}</code> {issue.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <div class="envelope">
        <div class="card">
          <h2>Event</h2>
          <dl>
            <Field name="event_id" copy={checked.eventId ?? undefined}>{textOf(raw.event_id)}</Field>
            <Field name="event_type">{textOf(raw.event_type)}</Field>
            <Field name="version">{textOf(raw.version)}</Field>
            <Field name="timestamp">{formatTimestamp(checked.timestamp)} UTC</Field>
          </dl>
        </div>
        <div class="card">
          <h2>Source</h2>
          <dl>
            <Field name="app">{textOf(source.app)}</Field>
            <Field name="host">{textOf(source.host)}</Field>
            <Field name="type">{textOf(source.type)}</Field>
            {source.meta !== undefined ? <Field name="meta">{textOf(source.meta)}</Field> : null}
          </dl>
        </div>
        <div class="card">
          <h2>Agent context</h2>
          {agent === null ? (
            <p class="muted">Not produced by an agent.</p>
          ) : (
            <dl>
              <Field name="type">{textOf(agent.type)}</Field>
              <Field name="name">{textOf(agent.name)}</Field>
              {agent.instance_id !== undefined ? <Field name="instance_id">{textOf(agent.instance_id)}</Field> : null}
              {agent.mcp_servers !== undefined ? <Field name="mcp_servers">{textOf(agent.mcp_servers)}</Field> : null}
              {agent.file_references !== undefined ? <Field name="file_references">{textOf(agent.file_references)}</Field> : null}
              {agent.system_prompt !== undefined ? (
                <Field name="system_prompt" copy={textOf(agent.system_prompt)}>
                  <span class="prompt">{textOf(agent.system_prompt)}</span>
                </Field>
              ) : null}
            </dl>
          )}
        </div>
        <div class="card">
          <h2>Trace context</h2>
          {trace === null ? (
            <p class="muted">No trace context.</p>
          ) : (
            <dl>
              <Field name="trace_id" copy={textOf(trace.trace_id)}>{textOf(trace.trace_id)}</Field>
              <Field name="span_id">{textOf(trace.span_id)}</Field>
              {trace.trace_flags !== undefined ? <Field name="trace_flags">{textOf(trace.trace_flags)}</Field> : null}
            </dl>
          )}
        </div>
        <div class="card">
          <h2>Parents (correlation_ids)</h2>
          {checked.correlationIds.length === 0 ? (
            <p class="muted">None: a root event.</p>
          ) : (
            <ul class="parents">
              {checked.correlationIds.map((id) => (
                <li key={id}>
                  {isUuid(id) ? <Link href={routeHref({ page: "event", id })}>{id}</Link> : <span>{id}</span>}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
      <div class="card">
        <h2>Envelope</h2>
        <JsonTree value={answer.data} open={3} linkFor={envelopeLink} />
      </div>
    </section>
  );
}
