// Permissions: list, create, delete. A change can alter roles and the signed-in user's own permissions.
import { queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components } from "@keyward/client";

import { keyward, unwrap } from "../../app/keyward";

export type CreatePermission = components["schemas"]["CreatePermission"];

export const permissionsQuery = (page: number) =>
  queryOptions({
    queryKey: ["permissions", "list", { page }],
    queryFn: () => unwrap(keyward.GET("/api/v1/permissions", { params: { query: { page, per_page: 50 } } })),
  });

function useRefresh() {
  const queryClient = useQueryClient();
  return () =>
    Promise.all(["permissions", "roles", "me"].map((key) => queryClient.invalidateQueries({ queryKey: [key] })));
}

export function useCreatePermission() {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (body: CreatePermission) => unwrap(keyward.POST("/api/v1/permissions", { body })),
    onSuccess: refresh,
  });
}

export function useDeletePermission() {
  const refresh = useRefresh();
  return useMutation({
    mutationFn: (id: string) => unwrap(keyward.DELETE("/api/v1/permissions/{id}", { params: { path: { id } } })),
    onSuccess: refresh,
  });
}
