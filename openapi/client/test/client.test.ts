// Runs against a live Keyward whose base URL is in KEYWARD_URL, e.g.
//   KEYWARD_URL=http://127.0.0.1:8080 npm test
// Without KEYWARD_URL every test fails: this suite never skips silently.
//
// It imports the built package by its own name ("@keyward/client" resolves to
// dist/ through package.json "exports"), exactly as an SPA would, and tsc
// type-checks it against the generated src/schema.d.ts.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createKeywardClient, type KeywardClient, type Problem, type components } from "@keyward/client";

function keywardUrl(): string {
  const url = process.env.KEYWARD_URL;
  if (!url) {
    throw new Error("KEYWARD_URL is not set: point it at a running Keyward, e.g. KEYWARD_URL=http://127.0.0.1:8080");
  }
  return url;
}

test("GET /healthz through the generated client", async () => {
  const client = createKeywardClient(keywardUrl());
  const { data, error, response } = await client.GET("/healthz");
  assert.equal(response.status, 200);
  assert.equal(error, undefined);
  assert.ok(data, "expected a body on 200");
  const status: components["schemas"]["HealthStatus"]["status"] = data.status;
  assert.equal(status, "ok");
});

test("GET /readyz through the generated client", async () => {
  const client = createKeywardClient(keywardUrl());
  const { data, error, response } = await client.GET("/readyz");
  // On failure `error` is typed as Problem; show it in the assertion message.
  assert.equal(response.status, 200, `readyz failed: ${JSON.stringify(error)}`);
  assert.ok(data, "expected a body on 200");
  assert.equal(data.status, "ok");
});

test("every request carries X-CSRF: 1 and credentials: include", async () => {
  const seen: Request[] = [];
  const client = createKeywardClient(keywardUrl(), {
    fetch: (request) => {
      seen.push(request.clone());
      return globalThis.fetch(request);
    },
  });
  // A per-call header must not be able to drop it.
  const { data } = await client.GET("/healthz", { headers: { "X-CSRF": null } });
  assert.equal(data?.status, "ok");
  assert.equal(seen.length, 1);
  const request = seen[0]!;
  assert.equal(request.headers.get("x-csrf"), "1");
  assert.equal(request.credentials, "include");
});

test("an unknown path answers an RFC 9457 problem (404)", async () => {
  const response = await fetch(new URL("/definitely/not/a/keyward/route", keywardUrl()));
  assert.equal(response.status, 404);
  assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json\b/);
  const problem = (await response.json()) as Problem;
  assert.equal(typeof problem.type, "string");
  assert.ok(problem.type.startsWith("urn:keyward:problem:"), `type was ${problem.type}`);
  assert.equal(problem.status, 404);
  assert.equal(typeof problem.title, "string");
  assert.equal(typeof problem.detail, "string");
});

test("GET /auth/session and /.well-known/jwks.json through the generated client", async () => {
  const client = createKeywardClient(keywardUrl());
  const session = await client.GET("/auth/session");
  assert.equal(session.response.status, 200);
  const info: components["schemas"]["SessionInfo"] | undefined = session.data;
  assert.equal(info?.authenticated, false);
  assert.equal(info?.user, undefined);
  const jwks = await client.GET("/.well-known/jwks.json");
  assert.equal(jwks.response.status, 200);
  const key = jwks.data?.keys[0];
  assert.equal(key?.kty, "OKP");
  assert.equal(key?.alg, "EdDSA");
});

test("GET /api/v1/me without credentials is a 401 problem with a challenge", async () => {
  const client = createKeywardClient(keywardUrl());
  const { data, error, response } = await client.GET("/api/v1/me");
  assert.equal(response.status, 401);
  assert.equal(data, undefined);
  assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer /);
  assert.equal(error?.type, "urn:keyward:problem:unauthorized");
});

// Compile-time only (never called): the client rejects paths and fields that
// are not in the spec, so a stale or wrong usage breaks `tsc`, not production.
export async function typeChecks(client: KeywardClient): Promise<void> {
  // @ts-expect-error: "/no-such-path" is not in the spec.
  await client.GET("/no-such-path");
  // @ts-expect-error: /healthz has no POST.
  await client.POST("/healthz");
  const { data, error } = await client.GET("/readyz");
  if (data) {
    // @ts-expect-error: HealthStatus has no "uptime" field.
    void data.uptime;
  }
  if (error) {
    const problem: Problem = error;
    void problem.type;
  }
}
