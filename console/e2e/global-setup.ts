// Starts the servers every scenario needs, once: two test identity providers (Keycloak and Authentik
// layouts), a Keyward on each, a third Keyward behind the console's Vite dev server (its public URL
// http://localhost:5173), and hands their addresses to the tests through the environment.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

import { chromium } from "@playwright/test";

import { chromiumPath } from "./support/browser";
import { freePort, outDir, portTaken, startIdp, startKeyward, startVite, stopAll } from "./support/servers";

const VITE = "http://localhost:5173";

async function versions() {
  const require = createRequire(import.meta.url);
  const playwright = (JSON.parse(readFileSync(require.resolve("@playwright/test/package.json"), "utf8")) as { version: string })
    .version;
  let debian = "not a Debian package";
  try {
    debian = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "chromium"], { encoding: "utf8" });
  } catch {
    // another system: the browser's own version below still says what ran
  }
  const browser = await chromium.launch({ executablePath: chromiumPath });
  const version = browser.version();
  await browser.close();
  console.log(`e2e: Playwright ${playwright}, Chromium ${version} (${chromiumPath}, package ${debian})`);
}

export default async function globalSetup() {
  const started = Date.now();
  mkdirSync(outDir, { recursive: true });
  await versions();
  if (await portTaken(5173)) {
    throw new Error("port 5173 is taken (a console dev server already running?): the Vite scenario needs it");
  }
  try {
    const [keycloakPort, authentikPort, vitePort] = await Promise.all([freePort(), freePort(), freePort()]);
    const keycloakUrl = `http://127.0.0.1:${keycloakPort}`;
    const authentikUrl = `http://127.0.0.1:${authentikPort}`;
    const [keycloak, authentik] = await Promise.all([
      // The dev-server Keyward shares the Keycloak-layout provider: its callback comes through Vite.
      // Sign-outs at each provider reach the Keyward on its own port (not the dev-server one).
      startIdp(
        "keycloak",
        [`${keycloakUrl}/auth/callback`, `${VITE}/auth/callback`],
        [`${keycloakUrl}/`, `${VITE}/`],
        `${keycloakUrl}/auth/backchannel-logout`,
      ),
      startIdp("authentik", [`${authentikUrl}/auth/callback`], [`${authentikUrl}/`], `${authentikUrl}/auth/backchannel-logout`),
    ]);
    const viteKeyward = await Promise.all([
      startKeyward("keyward-keycloak", keycloakPort, keycloak.issuer),
      startKeyward("keyward-authentik", authentikPort, authentik.issuer, { KEYWARD_IDP_ADMIN_TOKEN: "authentik-admin-token" }),
      startKeyward("keyward-vite", vitePort, keycloak.issuer, { KEYWARD_PUBLIC_URL: VITE }),
    ]).then(([, , vite]) => vite);
    await startVite(viteKeyward);
    process.env.E2E_KEYCLOAK_URL = keycloakUrl;
    process.env.E2E_AUTHENTIK_URL = authentikUrl;
    process.env.E2E_VITE_URL = VITE;
    process.env.E2E_KEYCLOAK_ISSUER = keycloak.issuer;
    process.env.E2E_AUTHENTIK_ISSUER = authentik.issuer;
  } catch (error) {
    await stopAll();
    throw error;
  }
  console.log(`e2e: servers up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return async () => {
    const stopping = Date.now();
    await stopAll();
    console.log(`e2e: servers stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
  };
}
