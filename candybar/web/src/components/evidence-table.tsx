// A conflict's evidence side by side: a column per observation, the rows where they disagree marked.
import type { JSX } from "preact";

import { pairEvidence } from "../lib/evidence";
import { isUuid } from "../lib/ids";
import { routeHref } from "../router";
import { JsonTree } from "./json-tree";
import { Link } from "./link";

export function EvidenceTable(props: { details: unknown }): JSX.Element {
  const result = pairEvidence(props.details);
  if (!result.ok) {
    return (
      <>
        <div class="issues" role="alert">
          <strong>The evidence is not in the shape of visibility.conflict.detected.v1; shown as sent.</strong>
          <ul>
            {result.issues.map((issue, index) => (
              <li key={index}>
                <code>{issue.path}</code> {issue.message}
              </li>
            ))}
          </ul>
        </div>
        <JsonTree value={props.details} open={3} />
      </>
    );
  }
  const { columns, rows } = result.evidence;
  return (
    <table class="grid evidence">
      <thead>
        <tr>
          <th />
          {columns.map((column, index) => (
            <th key={index} class={`side ${column.source}`} data-side={column.label}>
              {column.label}
              <span class="muted"> {column.source === "inventory" ? "ground truth" : "offer"}</span>
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.field} data-field={row.field} class={row.differs ? "differs" : ""}>
            <th scope="row">
              {row.label}
              {row.differs ? <span class="flag" title="The sides disagree here"> ≠</span> : null}
            </th>
            {row.cells.map((cell, index) => (
              <td key={index}>{cell}</td>
            ))}
          </tr>
        ))}
        <tr data-field="event">
          <th scope="row">Event</th>
          {columns.map((column, index) => (
            <td key={index} class="mono">
              {isUuid(column.eventId) ? <Link href={routeHref({ page: "event", id: column.eventId })}>{column.eventId}</Link> : column.eventId}
            </td>
          ))}
        </tr>
      </tbody>
    </table>
  );
}
