// Users: the filtered list, one user, and the admin actions on them.
import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components, operations } from "@keyward/client";

import { keyward, unwrap } from "../../app/keyward";

export type User = components["schemas"]["User"];
export type UserFilters = NonNullable<operations["listUsers"]["parameters"]["query"]>;

/** A role grant with where it comes from; only `manual` ones are edited here, the others follow their rule. */
export type Grant = components["schemas"]["RoleGrant"];
export type GrantSource = Grant["source"];

/** The user's grants with their sources. */
export function grantsOf(user: User): Grant[] {
  return user.grants;
}

export const usersQuery = (filters: UserFilters) =>
  queryOptions({
    queryKey: ["users", "list", filters],
    queryFn: () => unwrap(keyward.GET("/api/v1/users", { params: { query: filters } })),
    placeholderData: keepPreviousData,
  });

export const userQuery = (id: string) =>
  queryOptions({
    queryKey: ["users", "one", id],
    queryFn: () => unwrap(keyward.GET("/api/v1/users/{id}", { params: { path: { id } } })),
  });

/** Role names, for the role filter and the grants editor. */
export const roleNamesQuery = queryOptions({
  queryKey: ["roles", "names"],
  queryFn: async () => {
    const names: string[] = [];
    for (let page = 1; ; page++) {
      const list = await unwrap(keyward.GET("/api/v1/roles", { params: { query: { page, per_page: 200 } } }));
      names.push(...list.items.map((r) => r.name));
      if (names.length >= list.total || list.items.length === 0) return names.sort();
    }
  },
});

function useRefresh() {
  const queryClient = useQueryClient();
  return () => Promise.all(["users", "me", "audit", "sessions"].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
}

export function useSetActive(id: string) {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (active: boolean) =>
      unwrap(keyward.PATCH("/api/v1/users/{id}", { params: { path: { id } }, body: { active } })),
    onSuccess: refresh,
  });
}

export function useEndSessions(id: string) {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: () => unwrap(keyward.DELETE("/api/v1/users/{id}/sessions", { params: { path: { id } } })),
    onSuccess: refresh,
  });
}

export function useSetManualRoles(id: string) {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (roles: string[]) =>
      unwrap(keyward.PUT("/api/v1/users/{id}/roles", { params: { path: { id } }, body: { roles } })),
    onSuccess: refresh,
  });
}
