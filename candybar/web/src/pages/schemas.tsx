// Schemas: the Holyfields catalog — every event type with version, owner, status, its schema and examples.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { GatewayClient, SchemaSummary } from "../api/gateway";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { useAsync } from "../hooks";
import { routeHref } from "../router";

function Status(props: { schema: SchemaSummary }): JSX.Element {
  const { schema } = props;
  if (schema.status !== "deprecated") return <span class="pill green">{schema.status}</span>;
  return (
    <span class="pill amber" title={schema.replaced_by ? `replaced by ${schema.replaced_by}` : undefined}>
      deprecated{schema.deprecated_since ? ` since ${schema.deprecated_since}` : ""}
    </span>
  );
}

function Detail(props: { gateway: GatewayClient; eventType: string }): JSX.Element {
  const detail = useAsync(() => props.gateway.schema(props.eventType), [props.eventType]);
  if (detail.status === "loading") return <Loading what={`the schema of ${props.eventType}`} />;
  if (detail.status === "error") {
    if ("notFound" in detail.error && detail.error.notFound) {
      return (
        <Empty title="No such event type">
          <p>
            The registry has no schema for <code>{props.eventType}</code>. Pick one from the list.
          </p>
        </Empty>
      );
    }
    return <Failure error={detail.error} retry={detail.reload} what="the schema" />;
  }
  const schema = detail.data;
  return (
    <article class="schema-detail">
      <h2>{schema.event_type}</h2>
      <p>{schema.description}</p>
      <dl class="inline">
        <dt>version</dt>
        <dd>{schema.version}</dd>
        <dt>owner</dt>
        <dd>{schema.owner}</dd>
        <dt>status</dt>
        <dd>
          <Status schema={schema} />
        </dd>
        {schema.replaced_by ? (
          <>
            <dt>replaced by</dt>
            <dd>
              <Link href={routeHref({ page: "schemas", eventType: schema.replaced_by })}>{schema.replaced_by}</Link>
            </dd>
          </>
        ) : null}
        <dt>$id</dt>
        <dd>{schema.schema_id}</dd>
      </dl>
      <p>
        <Link href={routeHref({ page: "live", filters: { type: schema.event_type, source: "", agent: "", search: "" } })}>
          Watch these events live
        </Link>
      </p>
      <h3>Payload schema</h3>
      <JsonTree value={schema.schema} open={2} />
      <h3>Examples ({schema.examples.length})</h3>
      {schema.examples.map((example, index) => (
        <JsonTree key={index} value={example} open={2} />
      ))}
    </article>
  );
}

export function SchemasPage(props: { gateway: GatewayClient; eventType: string | null }): JSX.Element {
  const list = useAsync(() => props.gateway.schemas(), []);
  const [filter, setFilter] = useState("");
  return (
    <section class="page schemas">
      <div class="toolbar">
        <h1>Schemas</h1>
        <input type="search" placeholder="Filter event types" value={filter} onInput={(event) => setFilter((event.currentTarget as HTMLInputElement).value)} aria-label="Filter event types" />
      </div>
      {list.status === "loading" ? (
        <Loading what="the schema catalog" />
      ) : list.status === "error" ? (
        <Failure error={list.error} retry={list.reload} what="the schema catalog" />
      ) : list.data.length === 0 ? (
        <Empty title="The registry is empty">
          <p>Add a schema under holyfields/schemas/ and run <code>holyfields generate</code>.</p>
        </Empty>
      ) : (
        <div class="split with-detail">
          <table class="grid schema-list">
            <thead>
              <tr>
                <th>Event type</th>
                <th>Version</th>
                <th>Owner</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {list.data
                .filter((schema) => schema.event_type.includes(filter.trim()))
                .map((schema) => (
                  <tr key={schema.event_type} class={schema.event_type === props.eventType ? "selected" : ""}>
                    <td>
                      <Link href={routeHref({ page: "schemas", eventType: schema.event_type })}>{schema.event_type}</Link>
                    </td>
                    <td>{schema.version}</td>
                    <td>{schema.owner}</td>
                    <td>
                      <Status schema={schema} />
                    </td>
                  </tr>
                ))}
            </tbody>
          </table>
          {props.eventType ? (
            <Detail gateway={props.gateway} eventType={props.eventType} />
          ) : (
            <Empty title="Pick an event type">
              <p>{list.data.length} event types are registered. Choose one to see its payload schema and examples.</p>
            </Empty>
          )}
        </div>
      )}
    </section>
  );
}
