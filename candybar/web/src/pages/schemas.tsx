// Schemas: the Holyfields catalog — every event type with version, owner and status; for one, a
// table of its payload fields, its examples checked against it, and its majors side by side with
// what changed between them (as `holyfields diff` classifies it).
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import type { GatewayClient, SchemaDetail, SchemaSummary } from "../api/gateway";
import { JsonTree } from "../components/json-tree";
import { Link } from "../components/link";
import { Empty, Failure, Loading } from "../components/states";
import { useAsync } from "../hooks";
import { exampleProblems, schemaFields } from "../lib/schema-fields";
import { NO_QUERY } from "../lib/filters";
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

function FieldTable(props: { schema: SchemaDetail }): JSX.Element {
  const fields = schemaFields(props.schema.schema);
  if (fields.length === 0) return <p class="muted">The payload has no named fields.</p>;
  return (
    <div class="table-scroll">
      <table class="grid fields" data-event-type={props.schema.event_type}>
        <caption class="visually-hidden">Payload fields of {props.schema.event_type}</caption>
        <thead>
          <tr>
            <th scope="col">Field</th>
            <th scope="col">Type</th>
            <th scope="col">Required</th>
            <th scope="col">Constraints</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {fields.map((field) => (
            <tr key={field.path} data-field={field.path}>
              <td class="mono">{field.path}</td>
              <td class="mono">{field.type}</td>
              <td>{field.required ? "required" : <span class="muted">optional</span>}</td>
              <td class="constraints">{field.constraints.join("; ")}</td>
              <td>{field.description}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Examples(props: { schema: SchemaDetail }): JSX.Element {
  const { schema } = props;
  return (
    <>
      <h3>Examples ({schema.examples.length})</h3>
      {schema.examples.map((example, index) => {
        const problems = exampleProblems(schema.event_type, example);
        return (
          <div key={index} class="example" data-valid={problems === null ? "unknown" : String(problems.length === 0)}>
            <p>
              Example {index + 1}:{" "}
              {problems === null ? (
                <span class="pill grey">not checked: no generated schema in this build</span>
              ) : problems.length === 0 ? (
                <span class="pill green">valid</span>
              ) : (
                <span class="pill red" title={problems.join("\n")}>
                  invalid: {problems.length} problem{problems.length === 1 ? "" : "s"}
                </span>
              )}
            </p>
            <JsonTree value={example} open={2} />
          </div>
        );
      })}
    </>
  );
}

/** Two majors side by side, with what the registry says changed from the older to the newer. */
function Versions(props: { gateway: GatewayClient; versions: string[] }): JSX.Element {
  const { versions } = props;
  const newest = versions[versions.length - 1] as string;
  const [older, setOlder] = useState(versions.find((version) => version !== newest) ?? newest);
  const pair = useAsync(
    async () => {
      const [before, after] = await Promise.all([props.gateway.schema(older), props.gateway.schema(newest)]);
      const diff = older === newest ? null : await props.gateway.compatibility(older, after.schema);
      return { before, after, diff };
    },
    [older, newest],
  );
  return (
    <section class="versions" aria-label="Versions">
      <h3>Versions</h3>
      <label>
        Compare{" "}
        <select value={older} onChange={(event) => setOlder((event.currentTarget as HTMLSelectElement).value)}>
          {versions
            .filter((version) => version !== newest)
            .map((version) => (
              <option key={version} value={version}>
                {version}
              </option>
            ))}
        </select>{" "}
        with <code>{newest}</code>
      </label>
      {pair.status === "loading" ? (
        <Loading what="both versions" />
      ) : pair.status === "error" ? (
        <Failure error={pair.error} retry={pair.reload} what="the versions" />
      ) : (
        <>
          {pair.data.diff ? (
            <div class={`diff ${pair.data.diff.compatible ? "compatible" : "breaking"}`} data-level={pair.data.diff.level}>
              <p>
                <strong>{pair.data.diff.level}</strong> change from {pair.data.diff.registered_version ?? "?"} to {pair.data.diff.candidate_version ?? "?"}
                {pair.data.diff.compatible ? ": consumers of the older read events of the newer." : ": breaking for consumers of the older."}
              </p>
              <ul>
                {[...pair.data.diff.breaking_changes, ...pair.data.diff.other_changes].map((change) => (
                  <li key={`${change.path} ${change.message}`} class={change.level === "major" ? "breaking" : ""}>
                    <span class={`pill ${change.level === "major" ? "red" : change.level === "minor" ? "amber" : "grey"}`}>{change.level}</span>{" "}
                    <code>{change.path}</code> {change.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
          <div class="side-by-side">
            {[pair.data.before, pair.data.after].map((schema) => (
              <div key={schema.event_type}>
                <h4>
                  {schema.event_type} <span class="muted">{schema.version}</span>
                </h4>
                <FieldTable schema={schema} />
              </div>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

function Detail(props: { gateway: GatewayClient; eventType: string }): JSX.Element {
  const detail = useAsync(
    async () => {
      const [schema, majors] = await Promise.all([props.gateway.schema(props.eventType), props.gateway.versions(props.eventType)]);
      return { schema, versions: majors.map((major) => major.event_type) };
    },
    [props.eventType],
  );
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
  const { schema, versions } = detail.data;
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
        <Link href={routeHref({ page: "events", query: { ...NO_QUERY, eventType: schema.event_type } })}>Watch these events live</Link>
        {" · "}
        <Link href={routeHref({ page: "events", query: { ...NO_QUERY, mode: "history", eventType: schema.event_type } })}>Stored events of the last hour</Link>
      </p>
      <h3>Payload fields</h3>
      <FieldTable schema={schema} />
      <Examples schema={schema} />
      {versions.length > 1 ? (
        <Versions gateway={props.gateway} versions={versions} />
      ) : (
        <p class="muted">
          One major is registered ({schema.event_type}, x-version {schema.version}); a breaking change would register {schema.event_type.replace(/\.v(\d+)$/, (_, n: string) => `.v${Number(n) + 1}`)} beside it.
        </p>
      )}
      <details>
        <summary>The payload schema as JSON</summary>
        <JsonTree value={schema.schema} open={2} />
      </details>
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
                  <tr key={schema.event_type} class={schema.event_type === props.eventType ? "selected" : ""} aria-current={schema.event_type === props.eventType ? "true" : undefined}>
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
