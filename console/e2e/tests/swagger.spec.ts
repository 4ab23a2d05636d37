// Swagger UI at /docs with a browser session: "Try it out" on GET /api/v1/me answers 200, because the page
// adds X-CSRF: 1 to its requests (without it Keyward refuses cookie-authenticated calls).
import { expect, test } from "@playwright/test";

import { keycloakUrl, localContext, signIn, snap } from "../support/console";

test("Swagger UI's Try it out on GET /api/v1/me answers 200 with the browser's session", async ({ browser }) => {
  const context = await localContext(browser);
  const page = await context.newPage();
  await page.goto(`${keycloakUrl()}/console/`);
  await signIn(page, "zoe");

  await page.goto(`${keycloakUrl()}/docs`);
  // Swagger UI marks operations up without roles of their own: the block is found by its path.
  const operation = page.locator(".opblock-get").filter({ has: page.locator('[data-path="/api/v1/me"]') });
  await operation.getByRole("button", { name: /\/api\/v1\/me/ }).first().click();
  await operation.getByRole("button", { name: "Try it out" }).click();
  const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/v1/me");
  await operation.getByRole("button", { name: "Execute" }).click();
  const response = await answered;
  expect(response.request().headers()["x-csrf"]).toBe("1");
  expect(response.status()).toBe(200);
  expect(await response.json()).toMatchObject({ username: "zoe" });
  await expect(operation.locator(".live-responses-table tbody .response-col_status")).toHaveText("200");
  // Swagger UI's page is long: the part that shows the answer.
  await operation.locator(".live-responses-table").scrollIntoViewIfNeeded();
  await snap(page, "swagger-try-it-out", false);
  await context.close();
});
