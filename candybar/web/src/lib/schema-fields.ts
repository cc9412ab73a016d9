// A payload schema read as a table: one row per field (nested objects flattened to dotted paths,
// array items as `path[]`), with its type, whether it is required, its constraints and its
// description; and whether an example is a valid payload.
import { payloadSchemas } from "@holyfields";

import { jsonPath } from "./envelope";

export interface FieldRow {
  /** `customer.tier`, `items[].sku`. */
  path: string;
  type: string;
  /** Required at its level and every object above it is required too. */
  required: boolean;
  constraints: string[];
  description: string;
}

type Schema = Record<string, unknown>;

function object(value: unknown): Schema | null {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Schema) : null;
}

/** A local `$ref` (`#/definitions/money`) resolved against the root; the schema itself otherwise. */
function resolved(schema: Schema, root: Schema, seen: Set<string>): Schema {
  const ref = schema.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/") || seen.has(ref)) return schema;
  seen.add(ref);
  let target: unknown = root;
  for (const key of ref.slice(2).split("/")) target = object(target)?.[key.replace(/~1/g, "/").replace(/~0/g, "~")];
  const found = object(target);
  return found === null ? schema : { ...resolved(found, root, seen), ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== "$ref")) };
}

function typeText(schema: Schema): string {
  if ("const" in schema) return `const ${JSON.stringify(schema.const)}`;
  const type = schema.type;
  const named = Array.isArray(type) ? type.join(" | ") : typeof type === "string" ? type : typeof schema.$ref === "string" ? schema.$ref : "any";
  if (named === "array") {
    const items = object(schema.items);
    const itemType = items === null ? "any" : typeText(items);
    return `array of ${itemType}`;
  }
  return named;
}

const CONSTRAINTS: [string, (value: unknown) => string][] = [
  ["enum", (value) => `one of ${(value as unknown[]).map((item) => JSON.stringify(item)).join(", ")}`],
  ["format", (value) => `format ${String(value)}`],
  ["pattern", (value) => `pattern ${String(value)}`],
  ["minLength", (value) => `≥ ${String(value)} characters`],
  ["maxLength", (value) => `≤ ${String(value)} characters`],
  ["minimum", (value) => `≥ ${String(value)}`],
  ["exclusiveMinimum", (value) => `> ${String(value)}`],
  ["maximum", (value) => `≤ ${String(value)}`],
  ["exclusiveMaximum", (value) => `< ${String(value)}`],
  ["minItems", (value) => `≥ ${String(value)} items`],
  ["maxItems", (value) => `≤ ${String(value)} items`],
  ["uniqueItems", (value) => (value === true ? "unique items" : "")],
  ["additionalProperties", (value) => (value === false ? "no other fields" : "")],
  ["default", (value) => `default ${JSON.stringify(value)}`],
];

function constraintsOf(schema: Schema): string[] {
  return CONSTRAINTS.filter(([key]) => key in schema)
    .map(([key, text]) => text(schema[key]))
    .filter((text) => text !== "");
}

/** The fields of a payload schema, parents before their children, in the schema's order. */
export function schemaFields(root: unknown): FieldRow[] {
  const top = object(root);
  if (top === null) return [];
  const rows: FieldRow[] = [];
  const walk = (schema: Schema, prefix: string, required: boolean, depth: number): void => {
    if (depth > 12) return; // a recursive schema: deep enough to read
    const properties = object(schema.properties) ?? {};
    const needed = new Set(Array.isArray(schema.required) ? schema.required : []);
    for (const [name, child] of Object.entries(properties)) {
      const raw = object(child);
      if (raw === null) continue;
      const field = resolved(raw, top, new Set());
      const path = prefix === "" ? name : `${prefix}.${name}`;
      const isRequired = required && needed.has(name);
      rows.push({
        path,
        type: typeText(field),
        required: isRequired,
        constraints: constraintsOf(field),
        description: typeof field.description === "string" ? field.description : "",
      });
      walk(field, path, isRequired, depth + 1);
      const items = object(field.items);
      if (items !== null) {
        const item = resolved(items, top, new Set());
        if (object(item.properties) !== null) walk(item, `${path}[]`, isRequired, depth + 1);
      }
    }
  };
  walk(resolved(top, top, new Set()), "", true, 0);
  return rows;
}

/** Whether `example` is a valid payload of `eventType`, by the generated Zod schema: its problems, or [] when valid. */
export function exampleProblems(eventType: string, example: unknown): string[] | null {
  const schema = (payloadSchemas as Record<string, (typeof payloadSchemas)[keyof typeof payloadSchemas]>)[eventType];
  if (schema === undefined) return null;
  const result = schema.safeParse(example);
  return result.success ? [] : (result.error?.issues ?? []).map((issue) => `${jsonPath(["payload", ...issue.path])}: ${issue.message}`);
}
