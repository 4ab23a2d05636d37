// What the scenarios share: where each Keyward is, browser contexts that reach no other host, signing in
// through the test identity provider's real form, and the accessibility check plus screenshot of a page.
import { join } from "node:path";

import AxeBuilder from "@axe-core/playwright";
import { expect, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";

import { outDir } from "./servers";

/** The Keyward on the Keycloak-layout provider, the one on the Authentik layout, and Vite's dev server. */
export const keycloakUrl = () => need("E2E_KEYCLOAK_URL");
export const authentikUrl = () => need("E2E_AUTHENTIK_URL");
export const viteUrl = () => need("E2E_VITE_URL");
/** The issuers of the two test identity providers (where a user signs out at the provider). */
export const keycloakIssuer = () => need("E2E_KEYCLOAK_ISSUER");
export const authentikIssuer = () => need("E2E_AUTHENTIK_ISSUER");

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the global setup did not run`);
  return value;
}

/**
 * A browser context that only reaches this machine: avatars on Gravatar (bob's) fail at once, as they would
 * offline, instead of waiting on a network the build machines do not have.
 */
export async function localContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/]|localhost[:/])/, (route) => route.abort("blockedbyclient"));
  return context;
}

/** The login form's address per layout: proves the provider sent the browser where that product would. */
const interaction = {
  keycloak: /\/realms\/keyward\/interaction\//,
  authentik: /\/application\/o\/keyward\/interaction\//,
};

/**
 * From the console's signed-out page: Sign in, fill the provider's form as `user` (password `<user>-pw`),
 * and wait until the console shows the signed-in header.
 */
export async function signIn(page: Page, user: string, layout: keyof typeof interaction = "keycloak") {
  await expect(page.getByTestId("signed-out")).toBeVisible();
  await page.getByTestId("signed-out").getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(interaction[layout]);
  await page.getByLabel("Username or email").fill(user);
  await page.getByLabel("Password").fill(`${user}-pw`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-user")).toBeVisible();
}

/** A screenshot as target/e2e/<name>.png (the whole page unless said), of a moment worth looking at afterwards. */
export async function snap(page: Page, name: string, fullPage = true) {
  await page.screenshot({ path: join(outDir, `${name}.png`), fullPage });
}

const WIDTHS = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];

/**
 * At 1280 and 390 px wide: waits for `ready`, runs axe (no serious or critical violation; the others are
 * printed), and saves a full-page screenshot as target/e2e/<name>-<width>.png.
 */
export async function checkPage(page: Page, name: string, ready: Locator) {
  for (const size of WIDTHS) {
    await page.setViewportSize(size);
    await expect(ready).toBeVisible();
    const started = Date.now();
    const { violations } = await new AxeBuilder({ page }).analyze();
    const summary = violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length}×)`).join(", ") || "none";
    console.log(`axe: ${name} at ${size.width} px: ${summary} (${Date.now() - started} ms)`);
    const blocking = violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`);
    expect(blocking, `serious or critical accessibility violations on ${name} at ${size.width} px`).toEqual([]);
    await page.screenshot({ path: join(outDir, `${name}-${size.width}.png`), fullPage: true });
  }
  await page.setViewportSize(WIDTHS[0]!);
}
