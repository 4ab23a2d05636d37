// Roles: the calls, their query keys, and the mutations that refresh what they change.
import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components } from "@keyward/client";

import { keyward, unwrap } from "../../app/keyward";

export type Role = components["schemas"]["Role"];
export type CreateRole = components["schemas"]["CreateRole"];
export type UpdateRole = components["schemas"]["UpdateRole"];

const PER_PAGE = 50;

export const rolesQuery = (page: number) =>
  queryOptions({
    queryKey: ["roles", "list", { page }],
    queryFn: () => unwrap(keyward.GET("/api/v1/roles", { params: { query: { page, per_page: PER_PAGE } } })),
  });

export const roleQuery = (id: string) =>
  queryOptions({
    queryKey: ["roles", "one", id],
    queryFn: () => unwrap(keyward.GET("/api/v1/roles/{id}", { params: { path: { id } } })),
  });

/** Every permission name, for the role's permission checkboxes (all pages, 200 at a time). */
export const permissionNamesQuery = queryOptions({
  queryKey: ["permissions", "names"],
  queryFn: async () => {
    const names: string[] = [];
    for (let page = 1; ; page++) {
      const list = await unwrap(keyward.GET("/api/v1/permissions", { params: { query: { page, per_page: 200 } } }));
      names.push(...list.items.map((p) => p.name));
      if (names.length >= list.total || list.items.length === 0) return names;
    }
  },
});

/** After any role change: the lists, the role, and the signed-in user's own permissions may differ. */
function useRefresh() {
  const queryClient = useQueryClient();
  return () => Promise.all([queryClient.invalidateQueries({ queryKey: ["roles"] }), queryClient.invalidateQueries({ queryKey: ["me"] })]);
}

export function useCreateRole() {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: CreateRole) => unwrap(keyward.POST("/api/v1/roles", { body })),
    onSuccess: refresh,
  });
}

export function useUpdateRole(id: string) {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: UpdateRole) => unwrap(keyward.PATCH("/api/v1/roles/{id}", { params: { path: { id } }, body })),
    onSuccess: refresh,
  });
}

export function useSetRolePermissions(id: string) {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (permissions: string[]) =>
      unwrap(keyward.PUT("/api/v1/roles/{id}/permissions", { params: { path: { id } }, body: { permissions } })),
    onSuccess: refresh,
  });
}

export function useDeleteRole() {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (id: string) => unwrap(keyward.DELETE("/api/v1/roles/{id}", { params: { path: { id } } })),
    onSuccess: refresh,
  });
}
