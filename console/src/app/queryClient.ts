// The one TanStack Query cache: server state lives here, keyed by the request that fetched it.
import { QueryClient } from "@tanstack/react-query";
import { ProblemError } from "@keyward/client";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change on retry; a 503 (database away) often does.
      retry: (failures, error) => !(error instanceof ProblemError && error.status < 500) && failures < 2,
      staleTime: 10_000,
    },
  },
});
