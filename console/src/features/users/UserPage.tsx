// One user: profile, roles with where each grant comes from, and (with users:write) activate or deactivate,
// end their sessions, and edit the roles granted by hand. Default and provider-mapped grants follow their
// rules (the default flag, the provider's groups), so they are shown, never edited here.
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router";

import { useCan } from "../../app/permissions";
import { Avatar } from "../../components/Avatar";
import { ConfirmButton } from "../../components/ConfirmButton";
import { formatTime } from "../../components/format";
import { ProblemMessage } from "../../components/Problem";
import { userSessionsQuery } from "../sessions/api";
import { SessionsTable } from "../sessions/SessionsTable";
import { grantsOf, roleNamesQuery, useEndSessions, userQuery, useSetActive, useSetManualRoles, type Grant, type User } from "./api";

const sourceLabel: Record<Grant["source"], string> = {
  manual: "granted by hand",
  default: "default role",
  provider: "from a provider group",
};

export function UserPage() {
  const { id = "" } = useParams();
  const can = useCan();
  const user = useQuery(userQuery(id));

  return (
    <>
      <p>
        <Link to="/users">← All users</Link>
      </p>
      <ProblemMessage error={user.error} />
      {user.data && (
        <>
          <h1>{user.data.display_name ?? user.data.username ?? user.data.email ?? "User"}</h1>
          <Profile user={user.data} />
          {can("audit:read") && (
            <p>
              <Link to={`/audit?user_id=${user.data.id}`}>Audit events by this user</Link>
            </p>
          )}
          <Grants user={user.data} />
          <Sessions user={user.data} />
          {can("users:write") && <Actions user={user.data} />}
          {can("users:write") && <ManualGrantsForm key={user.data.roles.join()} user={user.data} />}
        </>
      )}
    </>
  );
}

function Profile({ user }: { user: User }) {
  return (
    <section aria-labelledby="user-profile">
      <h2 id="user-profile">Profile</h2>
      <div className="profile">
        <Avatar url={user.avatar_url} name={user.display_name ?? user.email ?? ""} size={64} />
        <dl>
          <dt>Status</dt>
          <dd data-testid="user-status">{user.active ? "active" : "deactivated"}</dd>
          <dt>Username</dt>
          <dd>{user.username ?? "—"}</dd>
          <dt>Email</dt>
          <dd>
            {user.email ?? "—"} {user.email && (user.email_verified ? "(verified)" : "(not verified)")}
          </dd>
          <dt>First seen</dt>
          <dd>{formatTime(user.created_at)}</dd>
          <dt>Last login</dt>
          <dd>{formatTime(user.last_login_at)}</dd>
          <dt>Keyward id</dt>
          <dd>
            <code>{user.id}</code>
          </dd>
        </dl>
      </div>
    </section>
  );
}

function Grants({ user }: { user: User }) {
  const grants = grantsOf(user);
  return (
    <section aria-labelledby="user-roles">
      <h2 id="user-roles">Roles</h2>
      {user.roles.length === 0 && <p>No roles.</p>}
      <ul className="grants" data-testid="user-grants">
        {grants.map((g) => (
          <li key={`${g.role}-${g.source}`}>
            <code>{g.role}</code> <span className={`badge source-${g.source}`}>{sourceLabel[g.source]}</span>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Sessions({ user }: { user: User }) {
  const sessions = useQuery(userSessionsQuery(user.id));
  return (
    <section aria-labelledby="user-sessions">
      <h2 id="user-sessions">Sessions</h2>
      <ProblemMessage error={sessions.error} />
      {sessions.data && <SessionsTable label="Their sessions" sessions={sessions.data.items} />}
    </section>
  );
}

function Actions({ user }: { user: User }) {
  const setActive = useSetActive(user.id);
  const endSessions = useEndSessions(user.id);
  return (
    <section aria-labelledby="user-actions">
      <h2 id="user-actions">Access</h2>
      <div className="actions">
        {user.active ? (
          <ConfirmButton
            label="Deactivate"
            question="Deactivate: end their sessions and refuse their tokens?"
            onConfirm={() => setActive.mutate(false)}
            disabled={setActive.isPending}
          />
        ) : (
          <button type="button" className="primary" onClick={() => setActive.mutate(true)} disabled={setActive.isPending}>
            Activate
          </button>
        )}
        <ConfirmButton
          label="End sessions"
          question="Sign them out everywhere?"
          onConfirm={() => endSessions.mutate()}
          disabled={endSessions.isPending}
        />
      </div>
      <ProblemMessage error={setActive.error} />
      <ProblemMessage error={endSessions.error} />
      {endSessions.isSuccess && <p role="status">Their sessions ended and the API tokens issued to them so far are refused.</p>}
    </section>
  );
}

function ManualGrantsForm({ user }: { user: User }) {
  const grants = grantsOf(user);
  const roles = useQuery(roleNamesQuery);
  const save = useSetManualRoles(user.id);
  const [manual, setManual] = useState(() => new Set(grants.filter((g) => g.source === "manual").map((g) => g.role)));

  const ruled = (role: string) => grants.filter((g) => g.role === role && g.source !== "manual");

  function toggle(role: string, on: boolean) {
    const next = new Set(manual);
    if (on) next.add(role);
    else next.delete(role);
    setManual(next);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate([...manual].sort());
  }

  return (
    <section aria-labelledby="manual-grants">
      <h2 id="manual-grants">Roles granted by hand</h2>
      <ProblemMessage error={roles.error} />
      {roles.data && (
        <form onSubmit={submit} className="form" data-testid="manual-grants-form">
          <fieldset>
            <legend>Manual grants</legend>
            <p className="hint">Default and provider-group grants follow their rules and are not changed here.</p>
            <div className="checks">
              {roles.data.map((role) => (
                <div className="check" key={role}>
                  <input id={`grant-${role}`} type="checkbox" checked={manual.has(role)} onChange={(e) => toggle(role, e.target.checked)} />
                  <label htmlFor={`grant-${role}`}>
                    <code>{role}</code>
                    {ruled(role).map((g) => (
                      <span key={g.source} className="hint">
                        {" "}
                        (also {sourceLabel[g.source]})
                      </span>
                    ))}
                  </label>
                </div>
              ))}
            </div>
          </fieldset>
          <ProblemMessage error={save.error} />
          {save.isSuccess && <p role="status">Manual grants saved.</p>}
          <button type="submit" className="primary" disabled={save.isPending}>
            Save manual grants
          </button>
        </form>
      )}
    </section>
  );
}
