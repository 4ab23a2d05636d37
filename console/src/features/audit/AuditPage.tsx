// The audit log: who did what, when, from where. Filters live in the URL (the user page links here with
// ?user_id=…); times are entered in the browser's zone and sent as RFC 3339.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";

import { useCan } from "../../app/permissions";
import { Field } from "../../components/Field";
import { formatTime } from "../../components/format";
import { Pager } from "../../components/Pager";
import { TableWrap } from "../../components/TableWrap";
import { fieldErrors, ProblemMessage } from "../../components/Problem";
import { auditQuery, type AuditFilters } from "./api";

const PER_PAGE = 50;
const FILTERS = ["user_id", "type", "from", "to"] as const;

/** Types Keyward writes, offered as suggestions; the field takes any. */
const KNOWN_TYPES = [
  "login",
  "logout",
  "token.issued",
  "role.created",
  "role.updated",
  "role.deleted",
  "role.permissions_set",
  "permission.created",
  "permission.deleted",
  "user.activated",
  "user.deactivated",
  "user.roles_set",
  "user.role_granted",
  "user.role_revoked",
  "user.sessions_ended",
  "sync.started",
];

function filtersFrom(params: URLSearchParams): AuditFilters {
  return {
    user_id: params.get("user_id") || undefined,
    type: params.get("type") || undefined,
    from: params.get("from") || undefined,
    to: params.get("to") || undefined,
    page: Number(params.get("page")) || 1,
    per_page: PER_PAGE,
  };
}

/** Ids are UUIDv7: their first digits are a timestamp, so the last ones tell users apart. */
function shortId(id: string): string {
  return `…${id.slice(-8)}`;
}

/** `<input type="datetime-local">` holds local time without a zone; Keyward wants RFC 3339. */
function toRfc3339(local: string): string {
  return local ? new Date(local).toISOString() : "";
}

function toLocalInput(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function AuditPage() {
  const can = useCan();
  const [params, setParams] = useSearchParams();
  const filters = filtersFrom(params);
  const events = useQuery(auditQuery(filters));
  const errors = fieldErrors(events.error);

  const [userId, setUserId] = useState(filters.user_id ?? "");
  const [type, setType] = useState(filters.type ?? "");
  const [from, setFrom] = useState(toLocalInput(filters.from));
  const [to, setTo] = useState(toLocalInput(filters.to));

  function apply(event: FormEvent) {
    event.preventDefault();
    const values: Record<(typeof FILTERS)[number], string> = {
      user_id: userId.trim(),
      type: type.trim(),
      from: toRfc3339(from),
      to: toRfc3339(to),
    };
    const next = new URLSearchParams();
    for (const name of FILTERS) if (values[name]) next.set(name, values[name]);
    setParams(next);
  }

  function goTo(page: number) {
    const next = new URLSearchParams(params);
    next.set("page", String(page));
    setParams(next);
  }

  return (
    <>
      <h1>Audit log</h1>
      <form onSubmit={apply} className="filters" role="search" aria-label="Filter audit events">
        <Field label="User id" name="user_id" errors={errors}>
          <input value={userId} onChange={(e) => setUserId(e.target.value)} autoComplete="off" spellCheck={false} />
        </Field>
        <Field label="Type" name="type" errors={errors}>
          <input value={type} onChange={(e) => setType(e.target.value)} list="audit-types" autoComplete="off" />
        </Field>
        <datalist id="audit-types">
          {KNOWN_TYPES.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <Field label="From" name="from" errors={errors}>
          <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <Field label="Until" name="to" errors={errors}>
          <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ProblemMessage error={events.error} shownFields={[...FILTERS]} />
      {events.data && (
        <>
          <TableWrap label="Audit events">
            <table data-testid="audit-table">
              <caption className="visually-hidden">Audit events</caption>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Type</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">User</th>
                  <th scope="col">Target</th>
                  <th scope="col">Address</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {events.data.items.map((e) => (
                  <tr key={e.id}>
                    <td>
                      {formatTime(e.occurred_at)}
                      {e.count > 1 && (
                        // Repeated refusals within a minute are one event: say how many and until when.
                        <span className="badge warn" title={`the last at ${formatTime(e.last_at)}`}>
                          ×{e.count}
                        </span>
                      )}
                    </td>
                    <td>
                      <code>{e.type}</code>
                    </td>
                    <td>{e.outcome === "success" ? "success" : <span className="badge warn">{e.outcome}</span>}</td>
                    <td>
                      {e.user_id &&
                        (can("users:read") ? (
                          <Link to={`/users/${e.user_id}`} title={e.user_id} className="id">
                            {shortId(e.user_id)}
                          </Link>
                        ) : (
                          <code title={e.user_id} className="id">
                            {shortId(e.user_id)}
                          </code>
                        ))}
                    </td>
                    <td>{e.target}</td>
                    <td>{e.ip}</td>
                    <td>{e.detail}</td>
                  </tr>
                ))}
                {events.data.items.length === 0 && (
                  <tr>
                    <td colSpan={7}>No event matches.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={events.data.page} perPage={events.data.per_page} total={events.data.total} onPage={goTo} />
        </>
      )}
    </>
  );
}
