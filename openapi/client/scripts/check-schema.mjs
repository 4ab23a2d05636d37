// Fails (exit 1) when src/schema.d.ts is not what `npm run generate` would
// write from ../openapi.json today, so CI catches a stale client.
// It regenerates into a temporary file and never touches the committed one.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = join(root, "..", "openapi.json");
const committed = join(root, "src", "schema.d.ts");
const cli = join(root, "node_modules", "openapi-typescript", "bin", "cli.js");

const dir = mkdtempSync(join(tmpdir(), "keyward-client-check-"));
const fresh = join(dir, "schema.d.ts");
try {
  execFileSync(process.execPath, [cli, spec, "-o", fresh], { stdio: ["ignore", "ignore", "inherit"] });
  const normalize = (s) => s.replace(/\r\n/g, "\n");
  const want = normalize(readFileSync(fresh, "utf8"));
  let have;
  try {
    have = normalize(readFileSync(committed, "utf8"));
  } catch {
    have = null;
  }
  if (have !== want) {
    console.error(
      have === null
        ? "openapi/client/src/schema.d.ts is missing."
        : "openapi/client/src/schema.d.ts is stale: it differs from what openapi/openapi.json generates.",
    );
    console.error("Run `npm run generate` in openapi/client and commit the result.");
    process.exitCode = 1;
  } else {
    console.log("src/schema.d.ts is up to date with ../openapi.json");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
