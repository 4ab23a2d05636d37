// The admin API (/api/v1) through the generated client, as a logged-in admin.
//
// Needs a live Keyward at KEYWARD_URL configured with the test identity
// provider at IDP_ISSUER and KEYWARD_BOOTSTRAP_ADMINS=alice@example.com, as
// scripts/test.sh starts them. Without either variable every test fails: this
// suite never skips silently.
//
// alice logs in once (browser flow, see login.ts); every test then calls the API
// with `Authorization: Bearer <Keyward API token>`. Names carry a per-run suffix
// so the suite can run again against the same database.
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { createKeywardClient, type KeywardClient, type Problem, type components } from "@keyward/client";

import { login, requiredEnv } from "./login.js";

type Role = components["schemas"]["Role"];

const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
const permissionName = `invoices-${run}:approve`;

let admin: KeywardClient;

before(async () => {
  const keywardUrl = requiredEnv("KEYWARD_URL");
  const issuer = requiredEnv("IDP_ISSUER");
  const { accessToken } = await login({ keywardUrl, issuer, username: "alice" });
  admin = createKeywardClient(keywardUrl, { headers: { Authorization: `Bearer ${accessToken}` } });
});

/** Creates the run's permission unless it is there already (tests may run alone or in any order). */
async function ensurePermission(): Promise<void> {
  const { response, error } = await admin.POST("/api/v1/permissions", {
    body: { name: permissionName, description: "Approve invoices (client test)" },
  });
  assert.ok(response.status === 201 || response.status === 409, `create permission: ${JSON.stringify(error)}`);
}

/** Creates a role with a fresh name through the client; returns it. */
async function createRole(prefix: string, permissions: string[] = []): Promise<Role> {
  const name = `${prefix}-${run}`;
  const { data, error, response } = await admin.POST("/api/v1/roles", {
    body: { name, description: "client test", permissions },
  });
  assert.equal(response.status, 201, `create role ${name}: ${JSON.stringify(error)}`);
  assert.ok(data);
  return data;
}

function assertProblem(error: Problem | undefined, status: number, type: string): Problem {
  assert.ok(error, `expected a ${status} problem`);
  assert.equal(error.status, status);
  assert.equal(error.type, type);
  assert.equal(typeof error.title, "string");
  assert.equal(typeof error.detail, "string");
  return error;
}

test("GET /api/v1/me: alice is an admin with every permission", async () => {
  const { data, error, response } = await admin.GET("/api/v1/me");
  assert.equal(response.status, 200, JSON.stringify(error));
  assert.ok(data);
  assert.equal(data.email, "alice@example.com");
  assert.equal(data.email_verified, true);
  assert.ok(data.roles.includes("admin"), `roles: ${data.roles.join(", ")}`);
  assert.ok(data.permissions.includes("roles:write"), `permissions: ${data.permissions.join(", ")}`);
  assert.ok(data.permissions.includes("users:read"));
});

test("POST /api/v1/permissions creates one (201 + Location); a duplicate is a 409 problem", async () => {
  const name = `reports-${run}:export`;
  const created = await admin.POST("/api/v1/permissions", {
    body: { name, description: "Export reports" },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  const permission: components["schemas"]["Permission"] | undefined = created.data;
  assert.ok(permission);
  assert.equal(permission.name, name);
  assert.equal(permission.description, "Export reports");
  assert.equal(permission.built_in, false);
  assert.match(permission.id, /^[0-9a-f-]{36}$/);
  assert.ok(!Number.isNaN(Date.parse(permission.created_at)));
  assert.equal(created.response.headers.get("location"), `/api/v1/permissions/${permission.id}`);

  const again = await admin.POST("/api/v1/permissions", { body: { name, description: "again" } });
  assert.equal(again.response.status, 409);
  assert.equal(again.data, undefined);
  assert.match(again.response.headers.get("content-type") ?? "", /^application\/problem\+json\b/);
  assertProblem(again.error, 409, "urn:keyward:problem:conflict");

  const list = await admin.GET("/api/v1/permissions", { params: { query: { per_page: 200 } } });
  assert.equal(list.response.status, 200, JSON.stringify(list.error));
  assert.ok(list.data?.items.some((p) => p.id === permission.id && p.name === name));
});

test("roles: create, set permissions, list, update, delete", async () => {
  await ensurePermission();
  const created = await admin.POST("/api/v1/roles", {
    body: { name: `accountant-${run}`, description: "Books", permissions: [permissionName] },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  const role = created.data;
  assert.ok(role);
  assert.equal(role.name, `accountant-${run}`);
  assert.deepEqual(role.permissions, [permissionName]);
  assert.equal(role.built_in, false);
  assert.equal(role.is_default, false);
  assert.equal(created.response.headers.get("location"), `/api/v1/roles/${role.id}`);
  const params = { path: { id: role.id } };

  const set = await admin.PUT("/api/v1/roles/{id}/permissions", {
    params,
    body: { permissions: [permissionName, "users:read"] },
  });
  assert.equal(set.response.status, 200, JSON.stringify(set.error));
  assert.deepEqual([...(set.data?.permissions ?? [])].sort(), [permissionName, "users:read"].sort());

  const list = await admin.GET("/api/v1/roles", { params: { query: { page: 1, per_page: 200 } } });
  assert.equal(list.response.status, 200, JSON.stringify(list.error));
  const page: components["schemas"]["RoleList"] | undefined = list.data;
  assert.ok(page);
  assert.equal(page.page, 1);
  assert.equal(page.per_page, 200);
  assert.ok(page.total >= 3, `total ${page.total}`); // admin, user and ours at least
  const listed = page.items.find((r) => r.id === role.id);
  assert.ok(listed, "the new role is listed");
  assert.deepEqual([...listed.permissions].sort(), [permissionName, "users:read"].sort());
  assert.ok(page.items.some((r) => r.name === "admin" && r.built_in));

  const patched = await admin.PATCH("/api/v1/roles/{id}", { params, body: { description: "Approves invoices" } });
  assert.equal(patched.response.status, 200, JSON.stringify(patched.error));
  assert.equal(patched.data?.description, "Approves invoices");
  assert.equal(patched.data?.name, role.name);

  const fetched = await admin.GET("/api/v1/roles/{id}", { params });
  assert.equal(fetched.response.status, 200);
  assert.equal(fetched.data?.description, "Approves invoices");

  const deleted = await admin.DELETE("/api/v1/roles/{id}", { params });
  assert.equal(deleted.response.status, 204, JSON.stringify(deleted.error));

  const gone = await admin.GET("/api/v1/roles/{id}", { params });
  assert.equal(gone.response.status, 404);
  assertProblem(gone.error, 404, "urn:keyward:problem:not-found");
});

test("users: alice is listed with her roles; taking admin from the last admin is a 409 problem", async () => {
  const { data, error, response } = await admin.GET("/api/v1/users", { params: { query: { email: "alice" } } });
  assert.equal(response.status, 200, JSON.stringify(error));
  assert.ok(data);
  const alice = data.items.find((u) => u.email === "alice@example.com");
  assert.ok(alice, `alice not in ${JSON.stringify(data.items)}`);
  assert.ok(data.total >= 1);
  assert.equal(alice.active, true);
  assert.equal(alice.username, "alice");
  assert.ok(alice.roles.includes("admin"), `roles: ${alice.roles.join(", ")}`);

  const demoted = await admin.PUT("/api/v1/users/{id}/roles", {
    params: { path: { id: alice.id } },
    body: { roles: ["user"] },
  });
  assert.equal(demoted.response.status, 409, JSON.stringify(demoted.error ?? demoted.data));
  assertProblem(demoted.error, 409, "urn:keyward:problem:conflict");

  const still = await admin.GET("/api/v1/users/{id}", { params: { path: { id: alice.id } } });
  assert.equal(still.response.status, 200);
  assert.ok(still.data?.roles.includes("admin"), "alice is still an admin");
});

test("GET /api/v1/audit-events?type=role.created finds the role just created", async () => {
  const role = await createRole("auditor");
  const { data, error, response } = await admin.GET("/api/v1/audit-events", {
    params: { query: { type: "role.created", per_page: 200 } },
  });
  assert.equal(response.status, 200, JSON.stringify(error));
  assert.ok(data);
  assert.ok(data.total >= 1, `total ${data.total}`);
  assert.ok(data.items.every((e) => e.type === "role.created"));
  const event = data.items.find((e) => e.target === role.name);
  assert.ok(event, `no role.created event for ${role.name}`);
  assert.equal(event.outcome, "success");
  assert.ok(event.user_id, "the acting user is recorded");
  await admin.DELETE("/api/v1/roles/{id}", { params: { path: { id: role.id } } });
});

test("POST /api/v1/roles with a bad name is a 400 validation problem naming the field", async () => {
  const { data, error, response } = await admin.POST("/api/v1/roles", { body: { name: "Bad Name" } });
  assert.equal(response.status, 400);
  assert.equal(data, undefined);
  const problem = assertProblem(error, 400, "urn:keyward:problem:validation-failed");
  assert.ok(problem.errors && problem.errors.length > 0, "errors lists the fields");
  assert.equal(problem.errors[0]?.field, "name");
});

test("the admin API refuses calls without credentials (401)", async () => {
  const anonymous = createKeywardClient(requiredEnv("KEYWARD_URL"));
  const { error, response } = await anonymous.GET("/api/v1/roles");
  assert.equal(response.status, 401);
  assertProblem(error, 401, "urn:keyward:problem:unauthorized");
});
