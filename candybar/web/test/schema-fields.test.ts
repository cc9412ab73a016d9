import { describe, expect, it } from "vitest";

import { exampleProblems, schemaFields } from "../src/lib/schema-fields";

const schema = {
  type: "object",
  required: ["store", "price"],
  definitions: { money: { type: "number", minimum: 0, description: "An amount." } },
  properties: {
    price: { $ref: "#/definitions/money" },
    store: {
      type: "object",
      required: ["id"],
      additionalProperties: false,
      properties: { id: { type: "string", minLength: 1, description: "Store id." }, name: { type: "string" } },
    },
    note: { type: "object", required: ["text"], properties: { text: { type: "string" } } },
    items: { type: "array", items: { type: "object", required: ["sku"], properties: { sku: { type: "string", pattern: "^[A-Z]+$" } } } },
    channel: { enum: ["web", "store"] },
  },
};

describe("the field table of a schema", () => {
  const rows = schemaFields(schema);
  const row = (path: string) => rows.find((item) => item.path === path);

  it("flattens nested objects and array items to dotted paths, parents first", () => {
    expect(rows.map((item) => item.path)).toEqual(["price", "store", "store.id", "store.name", "note", "note.text", "items", "items[].sku", "channel"]);
  });

  it("is required only where every object above is required too", () => {
    expect(row("store.id")?.required).toBe(true);
    expect(row("store.name")?.required).toBe(false);
    expect(row("note.text")?.required).toBe(false);
  });

  it("reads types, constraints and descriptions, through local references", () => {
    expect(row("price")).toMatchObject({ type: "number", constraints: ["≥ 0"], description: "An amount." });
    expect(row("store")?.constraints).toEqual(["no other fields"]);
    expect(row("items")?.type).toBe("array of object");
    expect(row("items[].sku")?.constraints).toEqual(["pattern ^[A-Z]+$"]);
    expect(row("channel")?.constraints).toEqual(['one of "web", "store"']);
  });
});

describe("examples", () => {
  it("says whether an example is a valid payload, and null for a type the build does not know", () => {
    expect(exampleProblems("retail.offer.surfaced.v1", {})?.length).toBeGreaterThan(0);
    expect(exampleProblems("nothing.like.this.v1", {})).toBeNull();
  });
});
