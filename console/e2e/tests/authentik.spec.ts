// The Authentik layout: sign in through its login form, and a sync run through its admin API (Keyward holds
// the static API token) that finishes.
import { expect, test } from "@playwright/test";

import { authentikUrl, localContext, signIn, snap } from "../support/console";

test("alice signs in through the Authentik-layout login form and runs a sync to the end", async ({ browser }) => {
  const context = await localContext(browser);
  const page = await context.newPage();
  await page.goto(`${authentikUrl()}/console/`);
  await signIn(page, "alice", "authentik");
  await expect(page.getByTestId("me-roles")).toContainText("admin");

  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Sync" }).click();
  await expect(page.getByTestId("sync-schedule")).toContainText("authentik");
  await page.getByRole("button", { name: "Run now" }).click();
  const run = page.getByTestId("sync-run");
  await expect(run.getByText("succeeded")).toBeVisible({ timeout: 30_000 });
  // Authentik's API lists the service account too, which Keyward does not count as a user.
  await expect(run.locator("dt", { hasText: /^Users seen$/ }).locator("xpath=following-sibling::dd[1]")).toHaveText("5");
  await snap(page, "authentik-sync-run");
  await context.close();
});
