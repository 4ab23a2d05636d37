// Starts and stops what the suite runs against: the bundled test identity provider, real Keyward processes
// (the binary of KEYWARD_BIN, by default the checkout's debug build) and the console's Vite dev server.
// Each process logs to target/e2e/logs/, whose tail is printed when it does not come up.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const outDir = join(repoRoot, "target", "e2e");
const logDir = join(outDir, "logs");

const children: ChildProcess[] = [];
const tempDirs: string[] = [];

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `keyward-e2e-${name}-`));
  tempDirs.push(dir);
  return dir;
}

/** A port nothing listens on right now (the OS picks it; closed again before use). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Whether something already listens on `port` of 127.0.0.1. */
export async function portTaken(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once("error", () => done(true));
    server.listen(port, "127.0.0.1", () => server.close(() => done(false)));
  });
}

function start(name: string, command: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(join(logDir, `${name}.log`));
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr?.pipe(log);
  children.push(child);
  return { child, logFile: join(logDir, `${name}.log`) };
}

function failure(name: string, logFile: string, why: string): Error {
  const tail = existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-30).join("\n") : "";
  return new Error(`${name} ${why}; the end of ${logFile}:\n${tail}`);
}

/** Polls `url` until it answers `status`, the process exits, or `seconds` pass. */
async function waitFor(url: string, name: string, child: ChildProcess, logFile: string, seconds = 60, status = 200) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw failure(name, logFile, `exited with ${child.exitCode}`);
    try {
      const resp = await fetch(url, { redirect: "manual" });
      if (resp.status === status) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw failure(name, logFile, `did not answer ${url} within ${seconds} s`);
}

export interface Idp {
  issuer: string;
}

/**
 * The test identity provider in `layout`, accepting the given redirect and post-logout URIs, and posting a
 * logout token to `backchannelLogout` whenever someone signs out at it.
 */
export async function startIdp(
  layout: "keycloak" | "authentik",
  redirects: string[],
  postLogout: string[],
  backchannelLogout: string,
): Promise<Idp> {
  const name = `idp-${layout}`;
  const { child, logFile } = start(name, process.execPath, [join(repoRoot, "testing/idp/server.mjs")], {
    cwd: repoRoot,
    env: {
      IDP_LAYOUT: layout,
      IDP_PORT: "0",
      IDP_REDIRECT_URIS: redirects.join(","),
      IDP_POST_LOGOUT_REDIRECT_URIS: postLogout.join(","),
      IDP_BACKCHANNEL_LOGOUT_URI: backchannelLogout,
    },
  });
  // It prints exactly one JSON line on stdout once it listens.
  const line = await new Promise<string>((done, fail) => {
    let buffered = "";
    const timer = setTimeout(() => fail(failure(name, logFile, "printed no ready line within 15 s")), 15_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        clearTimeout(timer);
        done(buffered.slice(0, end));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(failure(name, logFile, `exited with ${code}`));
    });
  });
  return { issuer: (JSON.parse(line) as { issuer: string }).issuer };
}

/** A Keyward on `port` with a fresh SQLite database, alice as bootstrap admin, and the built console. */
export async function startKeyward(name: string, port: number, issuer: string, env: Record<string, string> = {}) {
  const bin = process.env.KEYWARD_BIN || join(repoRoot, "target/debug/keyward");
  if (!existsSync(bin)) throw new Error(`no Keyward binary at ${bin}: run \`cargo build\` (or set KEYWARD_BIN)`);
  const consoleDist = join(repoRoot, "console/dist");
  if (!existsSync(join(consoleDist, "index.html"))) {
    throw new Error("the console is not built: run `npm ci && npm run build` in console/");
  }
  const { child, logFile } = start(name, bin, ["serve"], {
    // Its SQLite file keyward.db lands here, new for every run.
    cwd: tempDir(name),
    env: {
      KEYWARD_LISTEN: `127.0.0.1:${port}`,
      KEYWARD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      KEYWARD_RATE_LIMIT_PER_MINUTE: "0",
      KEYWARD_SHUTDOWN_DRAIN: "0s",
      KEYWARD_CONSOLE_DIR: consoleDist,
      KEYWARD_OIDC_ISSUER: issuer,
      KEYWARD_OIDC_CLIENT_ID: "keyward",
      KEYWARD_OIDC_CLIENT_SECRET: "keyward-secret",
      KEYWARD_BOOTSTRAP_ADMINS: "alice@example.com",
      RUST_LOG: "warn",
      ...env,
    },
  });
  child.stdout?.resume();
  await waitFor(`http://127.0.0.1:${port}/healthz`, name, child, logFile);
  return `http://127.0.0.1:${port}`;
}

/** The console's `npm run dev` (Vite at http://localhost:5173), its proxy pointed at `keyward`. */
export async function startVite(keyward: string) {
  const consoleDir = join(repoRoot, "console");
  const { child, logFile } = start("vite", process.execPath, [join(consoleDir, "node_modules/vite/bin/vite.js")], {
    cwd: consoleDir,
    env: { KEYWARD_PROXY_TARGET: keyward },
  });
  child.stdout?.pipe(createWriteStream(join(logDir, "vite.out.log")));
  await waitFor("http://localhost:5173/console/", "vite", child, logFile, 60);
}

/** Ends every process started here and waits for each to go. */
export async function stopAll() {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once("exit", () => done());
          child.kill("SIGTERM");
        }),
    ),
  );
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
