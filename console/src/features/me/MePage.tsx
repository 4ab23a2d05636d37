// The signed-in user as Keyward sees them: profile, roles, the permissions those roles add up to, and the
// browsers they are signed in on (each can be signed out).
import { useQuery } from "@tanstack/react-query";

import { meQuery } from "../../app/keyward";
import { Avatar } from "../../components/Avatar";
import { ProblemMessage } from "../../components/Problem";
import { mySessionsQuery, useEndMySession } from "../sessions/api";
import { SessionsTable } from "../sessions/SessionsTable";

export function MePage() {
  const { data: me } = useQuery(meQuery);
  if (!me) return null;
  return (
    <>
      <h1>Me</h1>
      <section aria-labelledby="me-profile">
        <h2 id="me-profile">Profile</h2>
        <div className="profile">
          <Avatar url={me.avatar_url} name={me.display_name ?? me.email ?? ""} size={64} />
          <dl>
            <dt>Name</dt>
            <dd>{me.display_name ?? "—"}</dd>
            <dt>Username</dt>
            <dd>{me.username ?? "—"}</dd>
            <dt>Email</dt>
            <dd>
              {me.email ?? "—"} {me.email && (me.email_verified ? "(verified)" : "(not verified)")}
            </dd>
            <dt>Keyward id</dt>
            <dd>
              <code>{me.id}</code>
            </dd>
          </dl>
        </div>
      </section>
      <section aria-labelledby="me-roles">
        <h2 id="me-roles">Roles</h2>
        <List items={me.roles} empty="No roles." testId="me-roles" />
      </section>
      <section aria-labelledby="me-permissions">
        <h2 id="me-permissions">Permissions</h2>
        <List items={me.permissions} empty="No permissions: the console shows only this page." testId="me-permissions" />
      </section>
      <MySessions />
    </>
  );
}

function MySessions() {
  const sessions = useQuery(mySessionsQuery);
  const end = useEndMySession();
  return (
    <section aria-labelledby="me-sessions">
      <h2 id="me-sessions">Sessions</h2>
      <p className="hint">Ending a session signs that browser out and refuses the API tokens it was given.</p>
      <ProblemMessage error={sessions.error ?? end.error} />
      {sessions.data && (
        <SessionsTable label="My sessions" sessions={sessions.data.items} onEnd={(s) => end.mutate(s)} ending={end.isPending} />
      )}
    </section>
  );
}

function List({ items, empty, testId }: { items: string[]; empty: string; testId: string }) {
  if (items.length === 0) return <p>{empty}</p>;
  return (
    <ul className="tags" data-testid={testId}>
      {items.map((item) => (
        <li key={item}>
          <code>{item}</code>
        </li>
      ))}
    </ul>
  );
}
