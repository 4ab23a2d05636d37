// Finishes what tsc wrote to dist/ so the package needs nothing else at run time:
// - dist/schema.d.ts re-exports the generated src/schema.d.ts (shipped too, see "files"), so
//   regenerating the types never makes the committed dist/ stale;
// - openapi-fetch (MIT, with its type helpers) is copied into dist/vendor/ and imported from there.
//   `npm install <folder>` links the folder and installs none of its dependencies, so a runtime
//   dependency would be missing in every project that installs the client from a checkout.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = process.argv[2] ?? join(root, "dist");
const modules = join(root, "node_modules");
const vendor = join(outDir, "vendor");
mkdirSync(vendor, { recursive: true });

writeFileSync(join(outDir, "schema.d.ts"), 'export type * from "../src/schema.js";\n');

const read = (path) => readFileSync(join(modules, path), "utf8");
const fetchVersion = JSON.parse(read("openapi-fetch/package.json")).version;
const banner = `// openapi-fetch ${fetchVersion} (MIT, see LICENSE-openapi-fetch), vendored by scripts/complete-dist.mjs\n`;
// Its source map is not shipped, so the comment pointing at it goes.
const fetchJs = read("openapi-fetch/dist/index.mjs").replace(/\n\/\/# sourceMappingURL=.*\n?$/, "\n");
writeFileSync(join(vendor, "openapi-fetch.js"), banner + fetchJs);
writeFileSync(
  join(vendor, "openapi-fetch.d.ts"),
  banner + read("openapi-fetch/dist/index.d.mts").replaceAll("'openapi-typescript-helpers'", "'./openapi-typescript-helpers.js'"),
);
writeFileSync(join(vendor, "openapi-typescript-helpers.d.ts"), read("openapi-typescript-helpers/dist/index.d.mts"));
copyFileSync(join(modules, "openapi-fetch", "LICENSE"), join(vendor, "LICENSE-openapi-fetch"));
copyFileSync(join(modules, "openapi-typescript-helpers", "LICENSE"), join(vendor, "LICENSE-openapi-typescript-helpers"));

for (const file of ["index.js", "index.d.ts"]) {
  const path = join(outDir, file);
  writeFileSync(path, readFileSync(path, "utf8").replaceAll('from "openapi-fetch"', 'from "./vendor/openapi-fetch.js"'));
}
