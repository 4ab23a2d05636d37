// The browser helpers without a browser or a server: `fetch` and `location` are injected,
// so these run anywhere with `npm run test:unit`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createKeywardClient, ProblemError, type LocationLike, type Problem } from "@keyward/client";

interface Recorded {
  method: string;
  url: string;
  csrf: string | null;
}

/** A fetch that answers every request with `status` and `body` as JSON, recording what it was asked. */
function fakeFetch(status: number, body: unknown, contentType = "application/json") {
  const calls: Recorded[] = [];
  const fetch = async (input: Request | string | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    calls.push({ method: request.method, url: request.url, csrf: request.headers.get("X-CSRF") });
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": contentType },
    });
  };
  return { fetch, calls };
}

/** A location that records where it was sent instead of leaving the page. */
function fakeLocation(pathname = "/console/users", search = "?page=2", hash = "") {
  const visited: string[] = [];
  const location: LocationLike = { pathname, search, hash, assign: (url) => void visited.push(url) };
  return { location, visited };
}

const problem = (status: number, detail: string): Problem => ({
  type: `urn:keyward:problem:${status === 403 ? "forbidden" : "unauthorized"}`,
  title: status === 403 ? "Forbidden" : "Unauthorized",
  status,
  detail,
});

test("login() navigates to /auth/login with the current page as return_to", () => {
  const { location, visited } = fakeLocation();
  const keyward = createKeywardClient("/", { location });
  keyward.login();
  assert.deepEqual(visited, ["/auth/login?return_to=%2Fconsole%2Fusers%3Fpage%3D2"]);
});

test("login(returnTo) encodes the given path and honours a full base URL", () => {
  const { location, visited } = fakeLocation();
  const keyward = createKeywardClient("https://keyward.example.com/", { location });
  keyward.login("/console/#me");
  assert.deepEqual(visited, ["https://keyward.example.com/auth/login?return_to=%2Fconsole%2F%23me"]);
});

test("session() answers what GET /auth/session says, with the CSRF header sent", async () => {
  const { fetch, calls } = fakeFetch(200, { authenticated: true, user: { id: "u1", email_verified: true } });
  const keyward = createKeywardClient("http://keyward.test", { fetch });
  const session = await keyward.session();
  assert.equal(session.authenticated, true);
  assert.equal(session.user?.id, "u1");
  assert.deepEqual(calls, [{ method: "GET", url: "http://keyward.test/auth/session", csrf: "1" }]);
});

test("session() throws a ProblemError carrying the problem when Keyward cannot answer", async () => {
  const { fetch } = fakeFetch(503, problem(503, "the database is unavailable"), "application/problem+json");
  const keyward = createKeywardClient("http://keyward.test", { fetch });
  await assert.rejects(keyward.session(), (err: unknown) => {
    assert.ok(err instanceof ProblemError);
    assert.equal(err.status, 503);
    assert.equal(err.message, "the database is unavailable");
    return true;
  });
});

test("logout() posts /auth/logout, then follows the provider's logout_url", async () => {
  const { fetch, calls } = fakeFetch(200, { logout_url: "https://idp.test/logout?id_token_hint=x" });
  const { location, visited } = fakeLocation();
  const keyward = createKeywardClient("http://keyward.test", { fetch, location });
  await keyward.logout();
  assert.deepEqual(calls, [{ method: "POST", url: "http://keyward.test/auth/logout", csrf: "1" }]);
  assert.deepEqual(visited, ["https://idp.test/logout?id_token_hint=x"]);
});

test("logout() goes to the fallback when the provider has no end-session URL", async () => {
  const { fetch } = fakeFetch(200, { logout_url: null });
  const { location, visited } = fakeLocation();
  const keyward = createKeywardClient("http://keyward.test", { fetch, location });
  await keyward.logout("/console/");
  assert.deepEqual(visited, ["/console/"]);
});

test("logout() throws and stays on the page when Keyward refuses", async () => {
  const { fetch } = fakeFetch(403, problem(403, "cookie-authenticated requests must send the header X-CSRF: 1"));
  const { location, visited } = fakeLocation();
  const keyward = createKeywardClient("http://keyward.test", { fetch, location });
  await assert.rejects(keyward.logout(), ProblemError);
  assert.deepEqual(visited, []);
});

test("onUnauthorized is called for a 401 and the caller still gets the problem", async () => {
  const { fetch } = fakeFetch(401, problem(401, "no session"), "application/problem+json");
  const seen: string[] = [];
  const keyward = createKeywardClient("http://keyward.test", {
    fetch,
    onUnauthorized: (response, request) => void seen.push(`${response.status} ${new URL(request.url).pathname}`),
  });
  const { error, response } = await keyward.GET("/api/v1/me");
  assert.equal(response.status, 401);
  assert.equal(error?.detail, "no session");
  assert.deepEqual(seen, ["401 /api/v1/me"]);
});

test("onUnauthorized is not called for other errors, such as a 403", async () => {
  const { fetch } = fakeFetch(403, problem(403, "needs the permission roles:read"), "application/problem+json");
  let called = false;
  const keyward = createKeywardClient("http://keyward.test", { fetch, onUnauthorized: () => (called = true) });
  const { error } = await keyward.GET("/api/v1/roles");
  assert.equal(error?.status, 403);
  assert.equal(called, false);
});

test("a client made where there is no location loads, and login() says what to pass", () => {
  const keyward = createKeywardClient("/");
  assert.throws(() => keyward.login("/"), /pass `location`/);
});
