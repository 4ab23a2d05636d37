// Browser login through Keyward for the admin API tests, in plain fetch:
// manual redirects and a tiny cookie jar, the way a browser would do it.
//
//   GET  {KEYWARD_URL}/auth/login?return_to=/   -> 302 to the provider's authorize URL
//   the provider's login (testing/idp/README.md, "Login recipe"): 303 to the
//     interaction page, GET it, POST the login form, follow the 303s
//     until a Location on {KEYWARD_URL}/auth/callback
//   GET  {KEYWARD_URL}/auth/callback?...        -> 302, sets keyward_session
//   POST {KEYWARD_URL}/auth/token (cookie + X-CSRF: 1) -> {access_token}
//
// Keyward and the provider both listen on 127.0.0.1 (different ports). Cookies
// are scoped by host, not port, so one jar serves both; paths are honoured.

/** Reads a required environment variable; throws (never skips) when it is unset. */
export function requiredEnv(name: "KEYWARD_URL" | "IDP_ISSUER"): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run against a Keyward logged in through the test identity provider, ` +
        "as scripts/test.sh does (KEYWARD_URL=http://127.0.0.1:PORT IDP_ISSUER=<issuer> npm test)",
    );
  }
  return value.replace(/\/+$/, "");
}

interface StoredCookie {
  value: string;
  path: string;
}

/** name -> cookie, per host. Enough for the flow above: no domains, no expiry beyond deletion. */
export class CookieJar {
  private readonly hosts = new Map<string, Map<string, StoredCookie>>();

  /** Stores every Set-Cookie of `response`, which answered a request to `url`. */
  store(url: URL, response: Response): void {
    let jar = this.hosts.get(url.hostname);
    if (!jar) {
      jar = new Map();
      this.hosts.set(url.hostname, jar);
    }
    for (const header of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = header.split(";");
      const eq = pair.indexOf("=");
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let path = "/";
      let expired = value === "";
      for (const attribute of attributes) {
        const [key = "", raw = ""] = attribute.split("=", 2).map((s) => s.trim());
        const k = key.toLowerCase();
        if (k === "path" && raw.startsWith("/")) path = raw;
        if (k === "max-age" && Number(raw) <= 0) expired = true;
        if (k === "expires" && Date.parse(raw) <= Date.now()) expired = true;
      }
      if (expired) jar.delete(name);
      else jar.set(name, { value, path });
    }
  }

  /** The Cookie header for a request to `url`, or undefined when nothing applies. */
  header(url: URL): string | undefined {
    const jar = this.hosts.get(url.hostname);
    if (!jar) return undefined;
    const pairs: string[] = [];
    for (const [name, { value, path }] of jar) {
      const matches =
        url.pathname === path ||
        (url.pathname.startsWith(path) && (path.endsWith("/") || url.pathname[path.length] === "/"));
      if (matches) pairs.push(`${name}=${value}`);
    }
    return pairs.length > 0 ? pairs.join("; ") : undefined;
  }

  /** The value of cookie `name` for `url`'s host, if any. */
  get(url: URL, name: string): string | undefined {
    return this.hosts.get(url.hostname)?.get(name)?.value;
  }
}

/** One request with manual redirects, sending and storing cookies. */
async function send(
  jar: CookieJar,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  const target = new URL(url);
  const headers = new Headers(init.headers);
  const cookie = jar.header(target);
  if (cookie) headers.set("cookie", cookie);
  const response = await fetch(target, { ...init, headers, redirect: "manual" });
  jar.store(target, response);
  return response;
}

function location(response: Response, step: string): string {
  const value = response.headers.get("location");
  if (!value) throw new Error(`${step}: ${response.status} without a Location header`);
  return value;
}

export interface Login {
  /** A Keyward API token (POST /auth/token), for `Authorization: Bearer`. */
  accessToken: string;
  /** The session cookie value, for cookie-authenticated calls. */
  session: string;
}

export interface LoginOptions {
  /** Keyward's base URL (KEYWARD_URL). */
  keywardUrl: string;
  /** The provider's issuer (IDP_ISSUER): the login must go to its authorization endpoint. */
  issuer: string;
  /** Default `alice`; the test provider's passwords are `<username>-pw`. */
  username?: string;
  password?: string;
}

/**
 * Logs a user in through Keyward and the provider and returns a Keyward API token.
 * Throws with the step that failed and what came back.
 */
export async function login(options: LoginOptions): Promise<Login> {
  const username = options.username ?? "alice";
  const password = options.password ?? `${username}-pw`;
  const jar = new CookieJar();
  const base = options.keywardUrl.replace(/\/+$/, "");
  const callbackPrefix = `${base}/auth/callback`;

  const discoveryUrl = `${options.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const discovery = await fetch(discoveryUrl);
  if (discovery.status !== 200) throw new Error(`GET ${discoveryUrl}: ${discovery.status}`);
  const { authorization_endpoint: authorize } = (await discovery.json()) as { authorization_endpoint: string };

  const start = await send(jar, `${base}/auth/login?return_to=/`);
  if (start.status !== 302) {
    throw new Error(`GET /auth/login: expected 302, got ${start.status}: ${await start.text()}`);
  }
  let next = location(start, "GET /auth/login");
  if (!next.startsWith(`${authorize}?`)) {
    throw new Error(`GET /auth/login redirected to ${next}, not to the provider's ${authorize}`);
  }

  // The provider: redirects, one login form, more redirects, then back to Keyward.
  let postedForm = false;
  for (let hop = 0; !next.startsWith(callbackPrefix); hop++) {
    if (hop >= 10) throw new Error(`login did not come back to ${callbackPrefix} after ${hop} hops (at ${next})`);
    const response = await send(jar, next);
    if (response.status === 302 || response.status === 303) {
      next = new URL(location(response, `GET ${next}`), next).toString();
      continue;
    }
    const body = await response.text();
    if (response.status !== 200 || !body.includes('id="login-form"')) {
      throw new Error(`GET ${next}: expected a redirect or the login form, got ${response.status}: ${body.slice(0, 500)}`);
    }
    if (postedForm) {
      throw new Error(`the provider showed the login form again: wrong credentials for ${username}?`);
    }
    postedForm = true;
    const form = new URLSearchParams({ prompt: "login", login: username, password });
    const posted = await send(jar, next, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    });
    if (posted.status !== 303 && posted.status !== 302) {
      throw new Error(`POST ${next}: expected 303, got ${posted.status}: ${(await posted.text()).slice(0, 500)}`);
    }
    next = new URL(location(posted, `POST ${next}`), next).toString();
  }

  const callback = await send(jar, next);
  if (callback.status !== 302) {
    throw new Error(`GET /auth/callback: expected 302, got ${callback.status}: ${await callback.text()}`);
  }
  const landing = new URL(location(callback, "GET /auth/callback"), base);
  if (landing.searchParams.has("error")) {
    throw new Error(`login refused: ${landing.searchParams.get("error")}: ${landing.searchParams.get("error_description")}`);
  }
  const session = jar.get(new URL(base), "keyward_session");
  if (!session) throw new Error("GET /auth/callback did not set the keyward_session cookie");

  const token = await send(jar, `${base}/auth/token`, { method: "POST", headers: { "X-CSRF": "1" } });
  const tokenBody = (await token.json()) as { access_token?: unknown };
  if (token.status !== 200 || typeof tokenBody.access_token !== "string") {
    throw new Error(`POST /auth/token: expected 200 with access_token, got ${token.status}: ${JSON.stringify(tokenBody)}`);
  }
  return { accessToken: tokenBody.access_token, session };
}
