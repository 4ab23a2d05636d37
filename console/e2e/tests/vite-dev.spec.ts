// The console on Vite's dev server (npm run dev) at http://localhost:5173: the provider's callback comes back
// through Vite's proxy to a Keyward whose public URL is that origin, and an admin action works.
import { expect, test } from "@playwright/test";

import { localContext, signIn, snap, viteUrl } from "../support/console";

test("through the Vite dev server, alice signs in and creates a permission", async ({ browser }) => {
  const context = await localContext(browser);
  const page = await context.newPage();
  await page.goto(`${viteUrl()}/console/`);
  await signIn(page, "alice");
  await expect(page).toHaveURL(`${viteUrl()}/console/me`);

  await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Permissions" }).click();
  const create = page.getByTestId("create-permission-form");
  await create.getByLabel("Name").fill("reports:export");
  await create.getByLabel("Description").fill("Exports reports");
  await create.getByRole("button", { name: "Create permission" }).click();
  await expect(create.getByRole("status")).toHaveText("Permission reports:export created.");
  await expect(page.getByTestId("permissions-table").getByRole("row").filter({ hasText: "reports:export" })).toContainText(
    "Exports reports",
  );
  await snap(page, "vite-permission-created");
  await context.close();
});
