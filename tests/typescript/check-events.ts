// Checks payloads with the generated Zod schemas, the way a browser does at run time.
// Input (argv[2]): a JSON file of [{event_type, payload}]; output: a JSON array of booleans.
import { readFileSync } from "fs";

import { EventEnvelopeSchema, payloadSchemas } from "../../holyfields/generated/typescript";
import type { EventType, PayloadByType } from "../../holyfields/generated/typescript";

interface Case {
  event_type: EventType;
  payload?: unknown;
  envelope?: unknown;
}

const cases = JSON.parse(readFileSync(process.argv[2], "utf-8")) as Case[];
const results = cases.map((c) => {
  if (c.envelope !== undefined) {
    return EventEnvelopeSchema.safeParse(c.envelope).success;
  }
  return payloadSchemas[c.event_type].safeParse(c.payload).success;
});
process.stdout.write(JSON.stringify(results));

// The generated interfaces and the Zod schemas describe the same shape.
export function sameShape<T extends EventType>(payload: PayloadByType[T]): PayloadByType[T] {
  return payload;
}
