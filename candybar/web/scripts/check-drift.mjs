// `npm run check:ui`: fail when the committed bundle (candybar/static) or the generated API clients
// differ from what their sources produce now, the way `holyfields check` guards generated code.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

import { API_DIR, generateClients } from "./clients.mjs";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const STATIC = join(ROOT, "candybar", "static");
const problems = [];

function files(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out = out.concat(files(path).map((file) => join(entry, file)));
    else out.push(entry);
  }
  return out.sort();
}

function read(path) {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

for (const [file, text] of Object.entries(await generateClients())) {
  const committed = read(join(API_DIR, file));
  if (committed === null || committed.toString("utf-8") !== text) {
    problems.push(`candybar/web/src/api/${file} differs from its OpenAPI snapshot: run \`npm run api:ui\``);
  }
}

const out = mkdtempSync(join(tmpdir(), "candybar-build-"));
try {
  execFileSync(
    process.execPath,
    [join(ROOT, "node_modules", "vite", "bin", "vite.js"), "build", "--config", "candybar/web/vite.config.mts", "--outDir", out, "--logLevel", "error"],
    { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] },
  );
  const built = files(out);
  const committed = files(STATIC);
  for (const file of new Set([...built, ...committed])) {
    const want = read(join(out, file));
    const have = read(join(STATIC, file));
    if (want === null) problems.push(`candybar/static/${file} is not produced by the sources any more`);
    else if (have === null) problems.push(`candybar/static/${file} is missing`);
    else if (!want.equals(have)) problems.push(`candybar/static/${file} differs from a fresh build`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

if (problems.length > 0) {
  for (const problem of problems) console.error(problem);
  console.error(
    `\nThe committed UI is out of date with its sources (${relative(process.cwd(), STATIC) || STATIC}). ` +
      "Run `npm run build:ui` (and `npm run api:ui` for the clients) and commit the result.",
  );
  process.exit(1);
}
console.log("candybar: the committed bundle and API clients match their sources");
