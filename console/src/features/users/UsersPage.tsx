// Users: filter by email, role and status, page through, open one. Filters live in the URL, so a filtered
// list can be bookmarked and the back button works.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";

import { Field } from "../../components/Field";
import { formatTime } from "../../components/format";
import { Pager } from "../../components/Pager";
import { TableWrap } from "../../components/TableWrap";
import { fieldErrors, ProblemMessage } from "../../components/Problem";
import { roleNamesQuery, usersQuery, type UserFilters } from "./api";

const PER_PAGE = 25;

function filtersFrom(params: URLSearchParams): UserFilters {
  const active = params.get("active");
  return {
    email: params.get("email") || undefined,
    role: params.get("role") || undefined,
    active: active === "true" ? true : active === "false" ? false : undefined,
    page: Number(params.get("page")) || 1,
    per_page: PER_PAGE,
  };
}

export function UsersPage() {
  const [params, setParams] = useSearchParams();
  const filters = filtersFrom(params);
  const users = useQuery(usersQuery(filters));
  const roles = useQuery(roleNamesQuery);

  const [email, setEmail] = useState(filters.email ?? "");
  const [role, setRole] = useState(filters.role ?? "");
  const [active, setActive] = useState(params.get("active") ?? "");

  function apply(event: FormEvent) {
    event.preventDefault();
    const next = new URLSearchParams();
    if (email.trim()) next.set("email", email.trim());
    if (role) next.set("role", role);
    if (active) next.set("active", active);
    setParams(next);
  }

  function goTo(page: number) {
    const next = new URLSearchParams(params);
    next.set("page", String(page));
    setParams(next);
  }

  return (
    <>
      <h1>Users</h1>
      <form onSubmit={apply} className="filters" role="search" aria-label="Filter users">
        <Field label="Email contains" name="email" errors={fieldErrors(users.error)}>
          <input type="search" value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label="Role" name="role">
          <select value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">Any role</option>
            {roles.data?.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Status" name="active">
          <select value={active} onChange={(e) => setActive(e.target.value)}>
            <option value="">Active or not</option>
            <option value="true">Active</option>
            <option value="false">Deactivated</option>
          </select>
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ProblemMessage error={users.error} shownFields={["email"]} />
      {users.data && (
        <>
          <TableWrap label="Users">
            <table data-testid="users-table">
              <caption className="visually-hidden">Users</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Roles</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last login</th>
                </tr>
              </thead>
              <tbody>
                {users.data.items.map((user) => (
                  <tr key={user.id}>
                    <td>
                      <Link to={`/users/${user.id}`}>{user.display_name ?? user.username ?? user.id}</Link>
                    </td>
                    <td>{user.email ?? "—"}</td>
                    <td>{user.roles.join(", ") || "—"}</td>
                    <td>{user.active ? "active" : <span className="badge warn">deactivated</span>}</td>
                    <td>{formatTime(user.last_login_at)}</td>
                  </tr>
                ))}
                {users.data.items.length === 0 && (
                  <tr>
                    <td colSpan={5}>No user matches.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={users.data.page} perPage={users.data.per_page} total={users.data.total} onPage={goTo} />
        </>
      )}
    </>
  );
}
