// The audit log, newest first, filtered by user, type and time range.
import { keepPreviousData, queryOptions } from "@tanstack/react-query";
import type { operations } from "@keyward/client";

import { keyward, unwrap } from "../../app/keyward";

export type AuditFilters = NonNullable<operations["listAuditEvents"]["parameters"]["query"]>;

export const auditQuery = (filters: AuditFilters) =>
  queryOptions({
    queryKey: ["audit", filters],
    queryFn: () => unwrap(keyward.GET("/api/v1/audit-events", { params: { query: filters } })),
    placeholderData: keepPreviousData,
  });
