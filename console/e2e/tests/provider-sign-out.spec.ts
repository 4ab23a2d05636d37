// Signing out at the provider ends the console session too: the provider posts a back-channel logout token
// to Keyward, which ends the session; the console notices on its next look at the session (on focus, or
// within 15 s while open) and shows the sign-in page. Bob on the Authentik layout, zoe on the Keycloak one
// (the admin story deactivates bob there).
import { expect, test, type Page } from "@playwright/test";

import { authentikIssuer, authentikUrl, keycloakIssuer, keycloakUrl, localContext, signIn, snap } from "../support/console";

/** In another tab: the provider's end-session page (no hint, so it asks), then "Yes, sign me out". */
async function signOutAtProvider(page: Page, issuer: string) {
  const discovery = (await (await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`)).json()) as {
    end_session_endpoint: string;
  };
  await page.goto(`${discovery.end_session_endpoint}?client_id=keyward`);
  const confirmed = page.waitForResponse((r) => r.request().method() === "POST");
  await page.getByRole("button", { name: "Yes, sign me out" }).click();
  await confirmed;
}

const cases = [
  { user: "bob", layout: "authentik" as const, url: authentikUrl, issuer: authentikIssuer },
  { user: "zoe", layout: "keycloak" as const, url: keycloakUrl, issuer: keycloakIssuer },
];

for (const { user, layout, url, issuer } of cases) {
  test(`${user} signs out at the ${layout}-layout provider in another tab and the console session ends`, async ({ browser }) => {
    const context = await localContext(browser);
    const consoleTab = await context.newPage();
    await consoleTab.goto(`${url()}/console/`);
    await signIn(consoleTab, user, layout);
    const sessions = consoleTab.getByTestId("sessions-table");
    await expect(sessions.getByRole("row").filter({ hasText: "this session" })).toHaveCount(1);
    await snap(consoleTab, `provider-sign-out-${layout}-before`);

    const providerTab = await context.newPage();
    await signOutAtProvider(providerTab, issuer());
    const signedOutAt = Date.now();

    await consoleTab.bringToFront();
    await expect(consoleTab.getByTestId("signed-out")).toBeVisible({ timeout: 20_000 });
    console.log(`${layout}: the console showed the sign-in page ${Date.now() - signedOutAt} ms after the provider sign-out`);
    await snap(consoleTab, `provider-sign-out-${layout}-after`);
    // The cookie is still in the browser, but the session behind it is gone: a call with it is refused.
    const me = await consoleTab.request.get(`${url()}/api/v1/me`, { headers: { "X-CSRF": "1" } });
    expect(me.status()).toBe(401);
    await context.close();
  });
}
