/**
 * Typed client for the Keyward HTTP API.
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

/** One field-level error inside a validation `Problem`. */
export type FieldError = components["schemas"]["FieldError"];

/** The client `createKeywardClient` returns. */
export type KeywardClient = Client<paths>;

/** Options for `createKeywardClient`: everything openapi-fetch takes, except `baseUrl`. */
export type KeywardClientOptions = Omit<ClientOptions, "baseUrl">;

/** The header Keyward requires on cookie-authenticated calls (CSRF defence). */
export const CSRF_HEADER = "X-CSRF";
export const CSRF_HEADER_VALUE = "1";

const csrfHeader: Middleware = {
  onRequest({ request }) {
    request.headers.set(CSRF_HEADER, CSRF_HEADER_VALUE);
    return request;
  },
};

/**
 * Creates a typed Keyward client.
 *
 * Every request carries the session cookie (`credentials: "include"`, unless
 * `init.credentials` says otherwise) and the `X-CSRF: 1` header, which is set
 * last, so per-call headers cannot drop it.
 *
 * @param baseUrl Where Keyward is served from, e.g. `"/"` when the SPA is served
 *   (or proxied) from the same origin, or `"https://keyward.example.com"`.
 * @param init Further openapi-fetch options: default headers, a custom `fetch`, ...
 */
export function createKeywardClient(baseUrl: string, init?: KeywardClientOptions): KeywardClient {
  const client = createClient<paths>({
    ...init,
    baseUrl,
    credentials: init?.credentials ?? "include",
  });
  client.use(csrfHeader);
  return client;
}

export default createKeywardClient;
