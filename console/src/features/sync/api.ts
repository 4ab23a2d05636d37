// The user sync: its schedule, its runs (polled while one is running), and starting one by hand.
import { keepPreviousData, queryOptions, useMutation, useQueryClient } from "@tanstack/react-query";
import type { components } from "@keyward/client";

import { keyward, unwrap } from "../../app/keyward";

export type SyncRun = components["schemas"]["SyncRun"];

const POLL_MS = 1000;

export const scheduleQuery = queryOptions({
  queryKey: ["sync", "schedule"],
  queryFn: () => unwrap(keyward.GET("/api/v1/sync/schedule")),
});

export const runsQuery = (page: number) =>
  queryOptions({
    queryKey: ["sync", "runs", { page }],
    queryFn: () => unwrap(keyward.GET("/api/v1/sync/runs", { params: { query: { page, per_page: 20 } } })),
    placeholderData: keepPreviousData,
    refetchInterval: (query) => (query.state.data?.items.some((r) => r.status === "running") ? POLL_MS : false),
  });

export const runQuery = (id: string) =>
  queryOptions({
    queryKey: ["sync", "run", id],
    queryFn: () => unwrap(keyward.GET("/api/v1/sync/runs/{id}", { params: { path: { id } } })),
    refetchInterval: (query) => (query.state.data?.status === "running" ? POLL_MS : false),
  });

export function useStartRun() {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(keyward.POST("/api/v1/sync/runs")),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["sync"] }),
  });
}
