// The console's Keyward client: same origin (Keyward serves the console, or Vite proxies to it), and a 401
// anywhere marks the session as ended, which shows the signed-out page.
import { createKeywardClient, toProblemError, type SessionInfo } from "@keyward/client";
import { queryOptions } from "@tanstack/react-query";

import { queryClient } from "./queryClient";

export const sessionKey = ["session"] as const;

export const keyward = createKeywardClient("/", {
  // Never login() from here: with single sign-on the provider would send a deactivated user straight back.
  onUnauthorized: () => queryClient.setQueryData<SessionInfo>(sessionKey, { authenticated: false }),
});

/** What every openapi-fetch call answers; `unwrap` turns it into data or a thrown `ProblemError`. */
interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The call's data, or a `ProblemError` thrown, as TanStack Query's query and mutation functions want. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) throw toProblemError(error, response);
  return data as T;
}

export const sessionQuery = queryOptions({
  queryKey: sessionKey,
  queryFn: () => keyward.session(),
  // A session can end elsewhere (signed out at the provider, ended by an admin or from another tab): look
  // again whenever the console comes back into view, and every 15 s while it stays open, so it never shows
  // a signed-in page for long after the session is gone.
  refetchOnWindowFocus: "always",
  refetchInterval: 15_000,
});

export const meQuery = queryOptions({
  queryKey: ["me"],
  queryFn: () => unwrap(keyward.GET("/api/v1/me")),
});
