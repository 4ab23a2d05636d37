// Sessions: the signed-in user's own (each can be ended), and a user's for admins (read-only here: the user
// page's "End sessions" ends them all).
import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components } from "@keyward/client";

import { keyward, sessionKey, unwrap } from "../../app/keyward";

export type Session = components["schemas"]["Session"];

export const mySessionsQuery = queryOptions({
  queryKey: ["sessions", "mine"],
  queryFn: () => unwrap(keyward.GET("/auth/sessions", { params: { query: { per_page: 200 } } })),
});

export const userSessionsQuery = (id: string) =>
  queryOptions({
    queryKey: ["sessions", "user", id],
    queryFn: () => unwrap(keyward.GET("/api/v1/users/{id}/sessions", { params: { path: { id }, query: { per_page: 200 } } })),
  });

export function useEndMySession() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (session: Session) => {
      await unwrap(keyward.DELETE("/auth/sessions/{id}", { params: { path: { id: session.id } } }));
      return session;
    },
    onSuccess: (session) =>
      // Ending the session this page runs on signs the console out; any other just leaves the list.
      session.current
        ? queryClient.invalidateQueries({ queryKey: sessionKey })
        : queryClient.invalidateQueries({ queryKey: ["sessions"] }),
  });
}
