// Fails (exit 1) when the committed dist/ is not what `npm run build` makes from src/ today.
// dist/ is committed so that `npm install <checkout>/openapi/client` and the `npm pack` tarball
// work without a build step (npm runs a linked folder's `prepare` without its devDependencies).
// It builds into a temporary folder and never touches the committed one.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "dist");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

const read = (dir) => {
  const files = new Map();
  let names = [];
  try {
    names = readdirSync(dir, { recursive: true })
      .filter((name) => statSync(join(dir, name)).isFile())
      .sort();
  } catch {
    // a missing dist/ reads as empty, and so differs
  }
  for (const name of names) files.set(name, readFileSync(join(dir, name), "utf8").replace(/\r\n/g, "\n"));
  return files;
};

const dir = mkdtempSync(join(tmpdir(), "keyward-client-dist-"));
try {
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json"), "--outDir", dir], { stdio: "inherit" });
  execFileSync(process.execPath, [join(root, "scripts", "complete-dist.mjs"), dir], { stdio: "inherit" });
  const want = read(dir);
  const have = read(committed);
  const stale = [...new Set([...want.keys(), ...have.keys()])].filter((name) => want.get(name) !== have.get(name));
  if (stale.length > 0) {
    console.error(`openapi/client/dist is stale (${stale.join(", ")}): it differs from what src/ builds.`);
    console.error("Run `npm run build` in openapi/client and commit dist/.");
    process.exitCode = 1;
  } else {
    console.log("dist/ is up to date with src/");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
