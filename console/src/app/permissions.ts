// What the signed-in user may do, from `GET /api/v1/me`: controls they may not use are not shown.
import { useQuery } from "@tanstack/react-query";

import { meQuery } from "./keyward";

/** The names the console checks; each is what the matching API operation requires. */
export type Permission =
  | "roles:read"
  | "roles:write"
  | "users:read"
  | "users:write"
  | "audit:read"
  | "sync:read"
  | "sync:run";

export function useCan(): (permission: Permission) => boolean {
  const { data: me } = useQuery(meQuery);
  return (permission) => me?.permissions.includes(permission) ?? false;
}
