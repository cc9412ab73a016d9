// Builds the UI into candybar/static (shipped in the Python package); Vitest reads the same config.
import { fileURLToPath } from "node:url";

import { defineConfig } from "vitest/config";

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "/",
  publicDir: false,
  resolve: {
    alias: { "@holyfields": here("../../holyfields/generated/typescript/index.ts") },
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: here("../static"),
    emptyOutDir: true,
    sourcemap: false,
    // One script and one stylesheet, no inline code: the server's CSP allows only 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1024,
    reportCompressedSize: false,
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
