/**
 * Typed client for the Keyward HTTP API, with the few browser helpers an SPA
 * needs around it (login, logout, session, a 401 hook).
 *
 * The types in ./schema.d.ts are generated from openapi/openapi.json by
 * `npm run generate`; never edit them by hand.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";
export type { Client, ClientOptions, FetchResponse, Middleware } from "openapi-fetch";

/** An RFC 9457 problem document: the body of every Keyward error response. */
export type Problem = components["schemas"]["Problem"];

/**
 * What a `ProblemError` carries: Keyward's problem, or for an error answer that was not one (a proxy's error
 * page, say) a stand-in of type `about:blank` (RFC 9457's "no more than the status") with the status as title.
 */
export type AnyProblem = Omit<Problem, "type"> & { type: Problem["type"] | "about:blank" };

/** One field-level error inside a validation `Problem`. */
export type FieldError = components["schemas"]["FieldError"];

/** What `GET /auth/session` answers. */
export type SessionInfo = components["schemas"]["SessionInfo"];

/** The header Keyward requires on cookie-authenticated calls (CSRF defence). */
export const CSRF_HEADER = "X-CSRF";
export const CSRF_HEADER_VALUE = "1";

/** The part of `window.location` the helpers use; tests and non-browser hosts pass their own. */
export interface LocationLike {
  assign(url: string): void;
  readonly pathname: string;
  readonly search: string;
  readonly hash: string;
}

/** Options for `createKeywardClient`: everything openapi-fetch takes except `baseUrl`, plus Keyward's own. */
export interface KeywardClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /**
   * Called with every 401 answer (no session, or it ended: expired, signed out
   * elsewhere, user deactivated). Typically shows a signed-out page with a
   * sign-in button. Prefer that to calling `login()` from here: with single
   * sign-on the provider may send a refused user straight back, in a loop.
   */
  onUnauthorized?: (response: Response, request: Request) => void;
  /** Where `login()` and `logout()` navigate; defaults to `globalThis.location`. */
  location?: LocationLike;
}

/** The openapi-fetch client plus the session helpers. */
export interface KeywardClient extends Client<paths> {
  /**
   * Sends the browser to Keyward's login (`GET /auth/login?return_to=…`), which
   * sends it on to the provider and back to `returnTo` once signed in.
   * @param returnTo a path on Keyward's origin (or an allowed origin's URL);
   *   defaults to the current page.
   */
  login(returnTo?: string): void;
  /**
   * Ends the session (`POST /auth/logout`), then navigates to the provider's
   * end-session URL so the provider's session ends too, or to `fallback` when
   * the provider has none.
   * @throws ProblemError when Keyward refuses (the session is then unchanged).
   */
  logout(fallback?: string): Promise<void>;
  /**
   * `GET /auth/session`: whether the browser is signed in, and as whom. Never a
   * 401, so it is the cheap way to decide between the signed-out and the
   * signed-in UI.
   * @throws ProblemError when Keyward cannot answer (e.g. 503).
   */
  session(): Promise<SessionInfo>;
}

/** A Keyward error answer as an exception, for code that prefers throwing to `{ error }`. */
export class ProblemError extends Error {
  readonly problem: AnyProblem;
  readonly status: number;

  constructor(problem: AnyProblem, status: number) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ProblemError";
    this.problem = problem;
    this.status = status;
  }
}

/**
 * Makes a `ProblemError` from an openapi-fetch `{ error, response }`. Keyward
 * answers every error with a problem document; anything else (a proxy's HTML
 * error page, say) still becomes one, with the status as its title.
 */
export function toProblemError(error: unknown, response: Response): ProblemError {
  const problem: AnyProblem =
    typeof error === "object" && error !== null && "type" in error
      ? (error as Problem)
      : { type: "about:blank", title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: "" };
  return new ProblemError(problem, response.status);
}

const csrfHeader: Middleware = {
  onRequest({ request }) {
    request.headers.set(CSRF_HEADER, CSRF_HEADER_VALUE);
    return request;
  },
};

function unauthorizedHook(onUnauthorized: NonNullable<KeywardClientOptions["onUnauthorized"]>): Middleware {
  return {
    onResponse({ request, response }) {
      if (response.status === 401) onUnauthorized(response, request);
      return undefined;
    },
  };
}

/** `base` + `path` with exactly one slash between them; `base` may be "/" or a full URL. */
function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}

/**
 * Creates a typed Keyward client.
 *
 * Every request carries the session cookie (`credentials: "include"`, unless
 * `init.credentials` says otherwise) and the `X-CSRF: 1` header, which is set
 * last, so per-call headers cannot drop it.
 *
 * @param baseUrl Where Keyward is served from, e.g. `"/"` when the SPA is served
 *   (or proxied) from the same origin, or `"https://keyward.example.com"`.
 * @param init Further openapi-fetch options (default headers, a custom `fetch`, ...)
 *   and Keyward's `onUnauthorized` and `location`.
 */
export function createKeywardClient(baseUrl: string, init: KeywardClientOptions = {}): KeywardClient {
  const { onUnauthorized, location, ...fetchOptions } = init;
  const client = createClient<paths>({
    ...fetchOptions,
    baseUrl,
    credentials: fetchOptions.credentials ?? "include",
  });
  client.use(csrfHeader);
  if (onUnauthorized) client.use(unauthorizedHook(onUnauthorized));

  // Looked up at call time, so a client created outside a browser (SSR, tests) still loads.
  const nav = (): LocationLike => {
    const found = location ?? (globalThis as { location?: LocationLike }).location;
    if (!found) throw new Error("no location to navigate: pass `location` to createKeywardClient");
    return found;
  };

  return Object.assign(client, {
    login(returnTo?: string): void {
      const here = nav();
      const target = returnTo ?? here.pathname + here.search + here.hash;
      here.assign(`${joinUrl(baseUrl, "/auth/login")}?return_to=${encodeURIComponent(target)}`);
    },

    async logout(fallback = "/"): Promise<void> {
      const { data, error, response } = await client.POST("/auth/logout");
      if (error !== undefined || data === undefined) throw toProblemError(error, response);
      nav().assign(data.logout_url ?? fallback);
    },

    async session(): Promise<SessionInfo> {
      const { data, error, response } = await client.GET("/auth/session");
      if (error !== undefined || data === undefined) throw toProblemError(error, response);
      return data;
    },
  });
}

export default createKeywardClient;
