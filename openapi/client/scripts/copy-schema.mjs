// tsc does not copy hand-written or generated .d.ts files into its output, but
// dist/index.d.ts imports "./schema.js", so ship the generated types beside it.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "dist"), { recursive: true });
copyFileSync(join(root, "src", "schema.d.ts"), join(root, "dist", "schema.d.ts"));
