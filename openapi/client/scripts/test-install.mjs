// Proves the two installs the README promises, into empty projects, with no build step:
//   npm install <checkout>/openapi/client      (a folder, as from a fresh clone)
//   npm install <the npm pack tarball>
// then `import("@keyward/client")` at run time and `tsc --noEmit` on a file using its types.
// The "checkout" is a copy of this package's git-tracked (and new, unignored) files only, so a
// local node_modules/ or dist-test/ cannot hide a missing file. npm runs --prefer-offline: only
// openapi-fetch is fetched, and only when the npm cache lacks it.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const quiet = ["--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"];

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });

// What runs in the empty project: the package's entry point, used as an SPA would.
const probeJs = `
import { createKeywardClient, ProblemError } from "@keyward/client";
const fetch = async () => new Response(JSON.stringify({ authenticated: false }), { headers: { "Content-Type": "application/json" } });
const keyward = createKeywardClient("http://keyward.test", { fetch });
const session = await keyward.session();
if (session.authenticated !== false || typeof ProblemError !== "function") throw new Error("unexpected: " + JSON.stringify(session));
console.log("import ok");
`;
// The types an SPA relies on, from the generated schema through dist/schema.d.ts.
const probeTs = `
import { createKeywardClient, type components, type KeywardClient } from "@keyward/client";
const keyward: KeywardClient = createKeywardClient("/", { onUnauthorized: (response) => console.log(response.status) });
export async function roleNames(): Promise<string[]> {
  const { data } = await keyward.GET("/api/v1/roles", { params: { query: { page: 1 } } });
  const roles: components["schemas"]["Role"][] = data?.items ?? [];
  return roles.map((role) => role.name);
}
// @ts-expect-error: a path the spec does not have must not type-check
void keyward.GET("/api/v1/no-such-path");
`;
const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "ESNext",
    moduleResolution: "Bundler",
    lib: ["ES2022", "DOM"],
    strict: true,
    noEmit: true,
    types: [],
  },
  include: ["probe.ts"],
};

function probe(work, name, spec) {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `probe-${name}`, private: true, type: "module" }));
  writeFileSync(join(dir, ".npmrc"), "omit-lockfile-registry-resolved=true\n");
  run(npm, ["install", spec, ...quiet], dir);
  writeFileSync(join(dir, "probe.mjs"), probeJs);
  run(process.execPath, ["probe.mjs"], dir);
  writeFileSync(join(dir, "probe.ts"), probeTs);
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
  run(process.execPath, [tsc, "-p", "tsconfig.json"], dir);
  console.log(`ok - npm install ${name === "folder" ? "<checkout>/openapi/client" : "<tarball>"}: import and types work`);
}

const work = mkdtempSync(join(tmpdir(), "keyward-client-install-"));
try {
  const checkout = join(work, "checkout", "openapi", "client");
  const files = run("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z", "."], root)
    .split("\0")
    .filter(Boolean);
  for (const file of files) cpSync(join(root, file), join(checkout, file));

  run(npm, ["pack", "--pack-destination", work, "--loglevel=error"], checkout);
  const tarball = readdirSync(work).find((f) => f.endsWith(".tgz"));
  if (!tarball) throw new Error("npm pack wrote no tarball");

  probe(work, "folder", checkout);
  probe(work, "tarball", join(work, tarball));
  console.log("2 passed, 0 failed");
} finally {
  rmSync(work, { recursive: true, force: true });
}
