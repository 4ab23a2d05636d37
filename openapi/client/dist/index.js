/**
 * Typed client for the Keyward HTTP API, with the few browser helpers an SPA
 * needs around it (login, logout, session, a 401 hook).
 *
 * The types in ./schema.d.ts are generated from openapi/openapi.json by
 * `npm run generate`; never edit them by hand.
 */
import createClient, {} from "./vendor/openapi-fetch.js";
/** The header Keyward requires on cookie-authenticated calls (CSRF defence). */
export const CSRF_HEADER = "X-CSRF";
export const CSRF_HEADER_VALUE = "1";
/** A Keyward error answer as an exception, for code that prefers throwing to `{ error }`. */
export class ProblemError extends Error {
    problem;
    status;
    constructor(problem, status) {
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
export function toProblemError(error, response) {
    const problem = typeof error === "object" && error !== null && "type" in error
        ? error
        : { type: "about:blank", title: response.statusText || `HTTP ${response.status}`, status: response.status, detail: "" };
    return new ProblemError(problem, response.status);
}
const csrfHeader = {
    onRequest({ request }) {
        request.headers.set(CSRF_HEADER, CSRF_HEADER_VALUE);
        return request;
    },
};
function unauthorizedHook(onUnauthorized) {
    return {
        onResponse({ request, response }) {
            if (response.status === 401)
                onUnauthorized(response, request);
            return undefined;
        },
    };
}
/** `base` + `path` with exactly one slash between them; `base` may be "/" or a full URL. */
function joinUrl(base, path) {
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
export function createKeywardClient(baseUrl, init = {}) {
    const { onUnauthorized, location, ...fetchOptions } = init;
    const client = createClient({
        ...fetchOptions,
        baseUrl,
        credentials: fetchOptions.credentials ?? "include",
    });
    client.use(csrfHeader);
    if (onUnauthorized)
        client.use(unauthorizedHook(onUnauthorized));
    // Looked up at call time, so a client created outside a browser (SSR, tests) still loads.
    const nav = () => {
        const found = location ?? globalThis.location;
        if (!found)
            throw new Error("no location to navigate: pass `location` to createKeywardClient");
        return found;
    };
    return Object.assign(client, {
        login(returnTo) {
            const here = nav();
            const target = returnTo ?? here.pathname + here.search + here.hash;
            here.assign(`${joinUrl(baseUrl, "/auth/login")}?return_to=${encodeURIComponent(target)}`);
        },
        async logout(fallback = "/") {
            const { data, error, response } = await client.POST("/auth/logout");
            if (error !== undefined || data === undefined)
                throw toProblemError(error, response);
            nav().assign(data.logout_url ?? fallback);
        },
        async session() {
            const { data, error, response } = await client.GET("/auth/session");
            if (error !== undefined || data === undefined)
                throw toProblemError(error, response);
            return data;
        },
    });
}
export default createKeywardClient;
