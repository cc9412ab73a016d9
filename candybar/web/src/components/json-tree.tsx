// A collapsible JSON tree. Every key and value is rendered as text (never as HTML, never as a link
// that the data chooses); only `linkFor` — the page's own rule — may turn a value into an in-app link.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

import { jsonPath } from "../lib/envelope";
import { CopyButton } from "./copy";
import { Link } from "./link";

type Path = (string | number)[];

export interface JsonTreeProps {
  value: unknown;
  /** Levels open at first. */
  open?: number;
  linkFor?: (path: Path, value: unknown) => string | null;
}

const PAGE = 200;

function leafText(value: unknown): { text: string; kind: string } {
  if (value === null) return { text: "null", kind: "null" };
  switch (typeof value) {
    case "string":
      return { text: JSON.stringify(value), kind: "string" };
    case "number":
    case "bigint":
      return { text: String(value), kind: "number" };
    case "boolean":
      return { text: String(value), kind: "boolean" };
    default:
      return { text: String(value), kind: "other" };
  }
}

function copyText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value, null, 2) ?? String(value);
}

function Node(props: { name: string | number | null; value: unknown; path: Path; depth: number } & JsonTreeProps): JSX.Element {
  const { name, value, path } = props;
  const label =
    name === null ? null : <span class="json-key">{typeof name === "number" ? `[${name}]` : name}</span>;
  if (typeof value === "object" && value !== null) {
    const entries: [string | number, unknown][] = Array.isArray(value)
      ? value.map((item, index) => [index, item])
      : Object.entries(value as Record<string, unknown>);
    return <Branch {...props} label={label} entries={entries} isArray={Array.isArray(value)} />;
  }
  const leaf = leafText(value);
  const href = props.linkFor?.(path, value) ?? null;
  return (
    <div class="json-leaf" data-path={jsonPath(path)}>
      {label}
      {label ? <span class="json-colon">: </span> : null}
      {href ? (
        <Link href={href} class={`json-value json-${leaf.kind}`}>
          {leaf.text}
        </Link>
      ) : (
        <span class={`json-value json-${leaf.kind}`}>{leaf.text}</span>
      )}
      <CopyButton text={copyText(value)} label="Copy" />
    </div>
  );
}

function Branch(
  props: {
    label: JSX.Element | null;
    entries: [string | number, unknown][];
    isArray: boolean;
    value: unknown;
    path: Path;
    depth: number;
  } & JsonTreeProps,
): JSX.Element {
  const { label, entries, isArray, path, depth } = props;
  const [shown, setShown] = useState(PAGE);
  const summary = isArray ? `[${entries.length} item${entries.length === 1 ? "" : "s"}]` : `{${entries.length} key${entries.length === 1 ? "" : "s"}}`;
  return (
    <details class="json-branch" open={depth < (props.open ?? 2)} data-path={jsonPath(path)}>
      <summary>
        {label}
        {label ? <span class="json-colon">: </span> : null}
        <span class="json-summary">{summary}</span>
        <CopyButton text={copyText(props.value)} label="Copy" />
      </summary>
      <div class="json-children">
        {entries.slice(0, shown).map(([key, child]) => (
          <Node {...props} key={String(key)} name={key} value={child} path={[...path, key]} depth={depth + 1} />
        ))}
        {entries.length > shown ? (
          <button type="button" class="more" onClick={() => setShown(shown + PAGE)}>
            Show {Math.min(PAGE, entries.length - shown)} more of {entries.length - shown}
          </button>
        ) : null}
      </div>
    </details>
  );
}

export function JsonTree(props: JsonTreeProps): JSX.Element {
  return (
    <div class="json-tree">
      <Node {...props} name={null} path={[]} depth={0} />
    </div>
  );
}
