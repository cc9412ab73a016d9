// `npm run api:ui`: write the API clients' types from the OpenAPI snapshots.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { API_DIR, generateClients } from "./clients.mjs";

for (const [file, text] of Object.entries(await generateClients())) {
  writeFileSync(join(API_DIR, file), text);
  console.log(`wrote candybar/web/src/api/${file}`);
}
