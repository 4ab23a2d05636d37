// The user sync (/api/v1/sync/*) through the generated client, as a logged-in admin.
//
// Needs a live Keyward at KEYWARD_URL configured with the test identity provider
// at IDP_ISSUER (Keycloak layout) and KEYWARD_BOOTSTRAP_ADMINS=alice@example.com,
// as scripts/test.sh starts them. The sync reads the provider's Keycloak Admin
// REST API with the login client's own credentials (client_credentials), which
// the test provider accepts. Without either variable every test fails: this
// suite never skips silently.
//
// The tests do not rely on timing: a second start while a run is going may
// answer 202 (the first one already finished) or 409 (it has not).
import assert from "node:assert/strict";
import { before, test } from "node:test";

import { createKeywardClient, type KeywardClient, type Problem, type components } from "@keyward/client";

import { login, requiredEnv } from "./login.js";

type SyncRun = components["schemas"]["SyncRun"];

let admin: KeywardClient;

before(async () => {
  const keywardUrl = requiredEnv("KEYWARD_URL");
  const issuer = requiredEnv("IDP_ISSUER");
  const { accessToken } = await login({ keywardUrl, issuer, username: "alice" });
  admin = createKeywardClient(keywardUrl, { headers: { Authorization: `Bearer ${accessToken}` } });
});

function assertProblem(error: Problem | undefined, status: number, type: string): Problem {
  assert.ok(error, `expected a ${status} problem`);
  assert.equal(error.status, status);
  assert.equal(error.type, type);
  assert.equal(typeof error.title, "string");
  assert.equal(typeof error.detail, "string");
  return error;
}

/** Polls GET /api/v1/sync/runs/{id} until the run is no longer running; fails after `timeoutMs`. */
async function waitForRun(id: string, timeoutMs = 30_000): Promise<SyncRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { data, error, response } = await admin.GET("/api/v1/sync/runs/{id}", { params: { path: { id } } });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    if (data.status !== "running") return data;
    if (Date.now() > deadline) {
      throw new Error(`sync run ${id} still running after ${timeoutMs / 1000} s: ${JSON.stringify(data)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("POST /api/v1/sync/runs starts a run (202 + Location); it succeeds, having seen the provider's users", async () => {
  const started = await admin.POST("/api/v1/sync/runs");
  assert.equal(started.response.status, 202, JSON.stringify(started.error));
  const run = started.data;
  assert.ok(run);
  assert.match(run.id, /^[0-9a-f-]{36}$/);
  assert.equal(run.status, "running");
  assert.equal(run.trigger, "manual");
  assert.ok(!Number.isNaN(Date.parse(run.started_at)));
  assert.equal(started.response.headers.get("location"), `/api/v1/sync/runs/${run.id}`);

  // One at a time: a second start either finds this run going (409) or, if it already ended, starts another.
  const second = await admin.POST("/api/v1/sync/runs");
  if (second.response.status === 409) {
    assertProblem(second.error, 409, "urn:keyward:problem:conflict");
  } else {
    assert.equal(second.response.status, 202, JSON.stringify(second.error));
    assert.ok(second.data);
    assert.notEqual(second.data.id, run.id);
  }

  const finished = await waitForRun(run.id);
  assert.equal(finished.status, "succeeded", `error: ${finished.error ?? "none"}`);
  assert.equal(finished.error ?? null, null);
  assert.ok(finished.finished_at && !Number.isNaN(Date.parse(finished.finished_at)));
  // alice, bob, zoe, noemail, disabled: the test provider's Keycloak listing.
  assert.ok(finished.seen >= 5, `seen ${finished.seen}`);
  assert.ok(finished.pages >= 1, `pages ${finished.pages}`);
  assert.equal(finished.created, 0, "KEYWARD_SYNC_CREATE_USERS is off");

  if (second.response.status === 202 && second.data) {
    const other = await waitForRun(second.data.id);
    assert.equal(other.status, "succeeded", `error: ${other.error ?? "none"}`);
  }

  // alice is enabled at the provider: still active, still an admin.
  const me = await admin.GET("/api/v1/me");
  assert.equal(me.response.status, 200, JSON.stringify(me.error));
  assert.ok(me.data?.roles.includes("admin"));
});

test("GET /api/v1/sync/runs lists runs newest first in the list envelope", async () => {
  const started = await admin.POST("/api/v1/sync/runs");
  // 409 only if another run (e.g. from the test above) is still going; either way there is a run to list.
  assert.ok(
    started.response.status === 202 || started.response.status === 409,
    `start: ${started.response.status} ${JSON.stringify(started.error)}`,
  );
  if (started.data) await waitForRun(started.data.id);

  const { data, error, response } = await admin.GET("/api/v1/sync/runs", { params: { query: { page: 1, per_page: 10 } } });
  assert.equal(response.status, 200, JSON.stringify(error));
  const list: components["schemas"]["SyncRunList"] | undefined = data;
  assert.ok(list);
  assert.equal(list.page, 1);
  assert.equal(list.per_page, 10);
  assert.ok(list.total >= 1, `total ${list.total}`);
  assert.ok(list.items.length >= 1 && list.items.length <= 10);
  for (const run of list.items) {
    assert.ok(["schedule", "manual", "startup"].includes(run.trigger), `trigger ${run.trigger}`);
    assert.ok(["running", "succeeded", "failed"].includes(run.status), `status ${run.status}`);
  }
  const starts = list.items.map((r) => Date.parse(r.started_at));
  assert.deepEqual(starts, [...starts].sort((a, b) => b - a), "newest first");
  if (started.data) assert.ok(list.items.some((r) => r.id === started.data?.id), "the run just started is listed");

  const missing = await admin.GET("/api/v1/sync/runs/{id}", {
    params: { path: { id: "00000000-0000-4000-8000-000000000000" } },
  });
  assert.equal(missing.response.status, 404);
  assertProblem(missing.error, 404, "urn:keyward:problem:not-found");
});

test("GET /api/v1/sync/schedule: the default daily 03:00 UTC schedule on Keycloak", async () => {
  const { data, error, response } = await admin.GET("/api/v1/sync/schedule");
  assert.equal(response.status, 200, JSON.stringify(error));
  const schedule: components["schemas"]["SyncSchedule"] | undefined = data;
  assert.ok(schedule);
  assert.equal(schedule.enabled, true);
  assert.equal(schedule.cron, "0 0 3 * * *");
  assert.equal(schedule.timezone, "UTC");
  assert.equal(schedule.provider, "keycloak");
  assert.ok(schedule.next_run_at, "next_run_at is set");
  const next = new Date(schedule.next_run_at);
  assert.ok(!Number.isNaN(next.getTime()), `next_run_at ${schedule.next_run_at}`);
  assert.ok(next.getTime() > Date.now(), "next_run_at is in the future");
  assert.ok(next.getTime() <= Date.now() + 24 * 3600 * 1000, "within a day");
  assert.equal(next.getUTCHours(), 3);
  assert.equal(next.getUTCMinutes(), 0);
  assert.equal(next.getUTCSeconds(), 0);
});

test("the sync endpoints need sync:run / sync:read: bob (role user) gets 403, nobody gets 401", async () => {
  const keywardUrl = requiredEnv("KEYWARD_URL");
  const { accessToken } = await login({ keywardUrl, issuer: requiredEnv("IDP_ISSUER"), username: "bob" });
  const bob = createKeywardClient(keywardUrl, { headers: { Authorization: `Bearer ${accessToken}` } });

  const start = await bob.POST("/api/v1/sync/runs");
  assert.equal(start.response.status, 403);
  assert.match(assertProblem(start.error, 403, "urn:keyward:problem:forbidden").detail ?? "", /sync:run/);

  const schedule = await bob.GET("/api/v1/sync/schedule");
  assert.equal(schedule.response.status, 403);
  assert.match(assertProblem(schedule.error, 403, "urn:keyward:problem:forbidden").detail ?? "", /sync:read/);

  const anonymous = createKeywardClient(keywardUrl);
  const runs = await anonymous.GET("/api/v1/sync/runs");
  assert.equal(runs.response.status, 401);
  assertProblem(runs.error, 401, "urn:keyward:problem:unauthorized");
});
