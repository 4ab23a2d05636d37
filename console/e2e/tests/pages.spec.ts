// Every console page at 1280 and 390 px wide: no serious or critical axe violation, and a screenshot of each
// in target/e2e/ (page-<name>-<width>.png) for people to look at.
import { expect, test } from "@playwright/test";

import { checkPage, keycloakUrl, localContext, signIn } from "../support/console";

test("every console page passes axe and is photographed at 1280 and 390 px", async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await localContext(browser);
  const page = await context.newPage();
  const nav = page.getByRole("navigation", { name: "Console" });
  const heading = page.getByRole("heading", { level: 1 });

  await page.goto(`${keycloakUrl()}/console/`);
  await checkPage(page, "page-signed-out", page.getByTestId("signed-out"));
  await signIn(page, "alice");
  await checkPage(page, "page-me", page.getByTestId("me-permissions"));

  await nav.getByRole("link", { name: "Roles", exact: true }).click();
  await checkPage(page, "page-roles", page.getByTestId("roles-table"));
  await page.getByTestId("roles-table").getByRole("link", { name: "admin", exact: true }).click();
  await expect(heading).toContainText("Role admin");
  await checkPage(page, "page-role", page.getByTestId("role-permissions-form"));

  await nav.getByRole("link", { name: "Permissions", exact: true }).click();
  await checkPage(page, "page-permissions", page.getByTestId("permissions-table"));

  await nav.getByRole("link", { name: "Users", exact: true }).click();
  await checkPage(page, "page-users", page.getByTestId("users-table"));
  await page.getByTestId("users-table").getByRole("link", { name: "Alice Admin" }).click();
  await expect(heading).toHaveText("Alice Admin");
  await checkPage(page, "page-user", page.getByTestId("manual-grants-form"));

  await nav.getByRole("link", { name: "Audit log", exact: true }).click();
  await checkPage(page, "page-audit", page.getByTestId("audit-table"));

  await nav.getByRole("link", { name: "Sync", exact: true }).click();
  await checkPage(page, "page-sync", page.getByTestId("sync-schedule"));
  await page.getByRole("button", { name: "Run now" }).click();
  await expect(page.getByTestId("sync-run").getByText("succeeded")).toBeVisible({ timeout: 30_000 });
  await checkPage(page, "page-sync-run", page.getByTestId("sync-run"));

  await page.goto(`${keycloakUrl()}/console/no-such-page`);
  await checkPage(page, "page-not-found", page.getByRole("heading", { name: "Page not found" }));
  await context.close();
});
