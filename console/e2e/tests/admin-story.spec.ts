// The admin story on the Keycloak layout, one step a test, in order: alice (a bootstrap admin) and bob sign
// in through the provider's form in two browser contexts; alice gives bob a new role and bob's console
// grows after a reload; alice deactivates bob and his console falls back to sign-in; alice reads the audit
// log, runs a sync and signs out.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";

import { keycloakUrl, localContext, signIn, snap } from "../support/console";

test.describe.configure({ mode: "serial" });

let aliceContext: BrowserContext;
let bobContext: BrowserContext;
let alice: Page;
let bob: Page;

test.beforeAll(async ({ browser }) => {
  aliceContext = await localContext(browser);
  bobContext = await localContext(browser);
  alice = await aliceContext.newPage();
  bob = await bobContext.newPage();
});

test.afterAll(async () => {
  await aliceContext?.close();
  await bobContext?.close();
});

const nav = (page: Page) => page.getByRole("navigation", { name: "Console" });

test("alice signs in through the Keycloak-layout login form and sees the admin's pages", async () => {
  await alice.goto(`${keycloakUrl()}/console/`);
  await signIn(alice, "alice");
  await expect(alice).toHaveURL(`${keycloakUrl()}/console/me`);
  await expect(alice.getByTestId("signed-in-user")).toContainText("Alice");
  await expect(alice.getByTestId("me-roles")).toContainText("admin");
  for (const link of ["Me", "Roles", "Permissions", "Users", "Audit log", "Sync"]) {
    await expect(nav(alice).getByRole("link", { name: link, exact: true })).toBeVisible();
  }
});

test("bob signs in and, holding no permission, sees only his own page", async () => {
  await bob.goto(`${keycloakUrl()}/console/`);
  await signIn(bob, "bob");
  await expect(bob.getByText("No permissions: the console shows only this page.")).toBeVisible();
  await expect(nav(bob).getByRole("link")).toHaveText(["Me"]);
  await snap(bob, "story-bob-without-permissions");
});

test("alice creates a role with two permissions, maps it to a provider group and grants it to bob", async () => {
  await nav(alice).getByRole("link", { name: "Roles", exact: true }).click();
  const create = alice.getByTestId("create-role-form");
  await create.getByLabel("Name").fill("auditor");
  await create.getByLabel("Description").fill("Reads users and the audit log");
  await create.getByLabel("Provider group").fill("auditors");
  await create.getByRole("button", { name: "Create role" }).click();
  await expect(create.getByRole("status")).toHaveText("Role auditor created.");
  const row = alice.getByTestId("roles-table").getByRole("row").filter({ hasText: "auditor" });
  await expect(row).toContainText("auditors");

  await row.getByRole("link", { name: "auditor" }).click();
  await expect(alice.getByRole("heading", { level: 1 })).toHaveText("Role auditor");
  const permissions = alice.getByTestId("role-permissions-form");
  await permissions.getByLabel("users:read").check();
  await permissions.getByLabel("audit:read").check();
  const saved = alice.waitForResponse((r) => r.url().endsWith("/permissions") && r.request().method() === "PUT");
  await permissions.getByRole("button", { name: "Save permissions" }).click();
  expect((await saved).status()).toBe(200);
  // What the server holds now, not what the form was left showing.
  await alice.reload();
  await expect(alice.getByTestId("role-permissions-form").getByRole("checkbox", { checked: true })).toHaveCount(2);
  await expect(alice.getByTestId("role-permissions-form").getByLabel("audit:read")).toBeChecked();
  await expect(alice.getByTestId("role-permissions-form").getByLabel("users:read")).toBeChecked();
  await expect(alice.getByTestId("edit-role-form").getByLabel("Provider group")).toHaveValue("auditors");

  await nav(alice).getByRole("link", { name: "Users", exact: true }).click();
  await alice.getByTestId("users-table").getByRole("link", { name: "Bob Builder" }).click();
  await expect(alice.getByTestId("user-status")).toHaveText("active");
  await alice.getByTestId("manual-grants-form").getByLabel("auditor").check();
  await alice.getByTestId("manual-grants-form").getByRole("button", { name: "Save manual grants" }).click();
  await expect(alice.getByTestId("user-grants").getByRole("listitem").filter({ hasText: "auditor" })).toContainText(
    "granted by hand",
  );
});

test("bob, after a reload, sees what the new permissions allow", async () => {
  await bob.reload();
  await expect(bob.getByTestId("me-roles")).toContainText("auditor");
  await expect(bob.getByTestId("me-permissions").getByRole("listitem")).toHaveText(["audit:read", "users:read"]);
  await expect(nav(bob).getByRole("link")).toHaveText(["Me", "Users", "Audit log"]);
  await snap(bob, "story-bob-after-grant");
  await nav(bob).getByRole("link", { name: "Users", exact: true }).click();
  await expect(bob.getByTestId("users-table").getByRole("row").filter({ hasText: "alice@example.com" })).toBeVisible();
  // users:read without users:write: bob's own page offers no deactivate button and no grants editor.
  await bob.getByTestId("users-table").getByRole("link", { name: "Bob Builder" }).click();
  await expect(bob.getByTestId("user-grants")).toContainText("auditor");
  await expect(bob.getByRole("button", { name: "Deactivate" })).toHaveCount(0);
  await expect(bob.getByTestId("manual-grants-form")).toHaveCount(0);
});

test("alice deactivates bob: his next action is refused and his console returns to sign-in", async () => {
  await alice.getByRole("button", { name: "Deactivate" }).click();
  await alice.getByRole("button", { name: "Yes, deactivate" }).click();
  await expect(alice.getByTestId("user-status")).toHaveText("deactivated");
  await snap(alice, "story-bob-deactivated");

  const refused = bob.waitForResponse((r) => r.url().includes("/api/v1/audit"));
  await nav(bob).getByRole("link", { name: "Audit log", exact: true }).click();
  expect((await refused).status()).toBe(401);
  await expect(bob.getByTestId("signed-out")).toBeVisible();
  await expect(bob.getByTestId("signed-in-user")).toHaveCount(0);

  // Signing in again goes through the provider's single sign-on and comes back refused, without a loop.
  await bob.getByTestId("signed-out").getByRole("button", { name: "Sign in" }).click();
  await expect(bob.getByTestId("login-error")).toBeVisible();
  await expect(bob.getByTestId("signed-out")).toBeVisible();
  await snap(bob, "story-bob-refused");
});

test("alice reads the audit entries of those changes", async () => {
  await nav(alice).getByRole("link", { name: "Audit log", exact: true }).click();
  const rows = alice.getByTestId("audit-table").getByRole("row");
  for (const [type, target] of [
    ["role.created", "auditor"],
    ["role.permissions_set", "auditor"],
    ["user.roles_set", "bob"],
    ["user.deactivated", "bob"],
  ] as const) {
    await expect(rows.filter({ hasText: type }).filter({ hasText: target }), `${type} of ${target}`).toHaveCount(1);
  }
  await alice.getByLabel("Type").fill("user.deactivated");
  await alice.getByRole("button", { name: "Filter" }).click();
  await expect(alice).toHaveURL(/type=user.deactivated/);
  await expect(rows).toHaveCount(2); // the header row and the one event
  await expect(rows.nth(1)).toContainText("bob");
  await snap(alice, "story-audit-filtered");
});

test("alice starts a sync run and sees it finish", async () => {
  await nav(alice).getByRole("link", { name: "Sync", exact: true }).click();
  await expect(alice.getByTestId("sync-schedule")).toContainText("keycloak");
  await alice.getByRole("button", { name: "Run now" }).click();
  await expect(alice).toHaveURL(/\/console\/sync\/runs\//);
  const run = alice.getByTestId("sync-run");
  await expect(run.getByText("succeeded")).toBeVisible({ timeout: 30_000 });
  // The fixtures list 5 users to Keycloak's admin API (the service account is left out).
  await expect(run.locator("dt", { hasText: /^Users seen$/ }).locator("xpath=following-sibling::dd[1]")).toHaveText("5");
  await alice.getByRole("link", { name: "← Sync" }).click();
  await expect(alice.getByTestId("sync-runs-table").getByRole("row").nth(1)).toContainText("manual");
});

test("signing out lands on a page that exists", async () => {
  await alice.getByRole("button", { name: "Sign out" }).click();
  // Through the provider's end-session endpoint back to Keyward's /, which leads to the console.
  await expect(alice).toHaveURL(`${keycloakUrl()}/console/`);
  await expect(alice.getByTestId("signed-out")).toBeVisible();
  const session = await alice.request.get(`${keycloakUrl()}/auth/session`);
  expect(await session.json()).toEqual({ authenticated: false });
});
