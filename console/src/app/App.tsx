// The session decides everything: signed out shows the sign-in page, signed in the console with the pages
// the user's permissions allow.
import { useQuery } from "@tanstack/react-query";
import { Navigate, Route, Routes } from "react-router";

import { ProblemMessage } from "../components/Problem";
import { AuditPage } from "../features/audit/AuditPage";
import { MePage } from "../features/me/MePage";
import { PermissionsPage } from "../features/permissions/PermissionsPage";
import { RolesPage } from "../features/roles/RolesPage";
import { RolePage } from "../features/roles/RolePage";
import { SyncPage } from "../features/sync/SyncPage";
import { SyncRunPage } from "../features/sync/SyncRunPage";
import { UserPage } from "../features/users/UserPage";
import { UsersPage } from "../features/users/UsersPage";
import { Layout } from "./Layout";
import { meQuery, sessionQuery } from "./keyward";
import { SignedOut } from "./SignedOut";

export function App() {
  const session = useQuery(sessionQuery);
  const signedIn = session.data?.authenticated === true;
  const me = useQuery({ ...meQuery, enabled: signedIn });

  if (session.isPending) return <p className="loading">Loading…</p>;
  if (session.isError) return <Unavailable error={session.error} />;
  if (!signedIn) return <SignedOut />;
  if (me.isPending) return <p className="loading">Loading…</p>;
  // A 401 from /me has already switched to the signed-out page (see keyward.ts); anything else is shown.
  if (me.isError) return <Unavailable error={me.error} />;

  return (
    <Routes>
      <Route element={<Layout me={me.data} />}>
        <Route index element={<Navigate to="/me" replace />} />
        <Route path="me" element={<MePage />} />
        <Route path="roles" element={<RolesPage />} />
        <Route path="roles/:id" element={<RolePage />} />
        <Route path="permissions" element={<PermissionsPage />} />
        <Route path="users" element={<UsersPage />} />
        <Route path="users/:id" element={<UserPage />} />
        <Route path="audit" element={<AuditPage />} />
        <Route path="sync" element={<SyncPage />} />
        <Route path="sync/runs/:id" element={<SyncRunPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

function Unavailable({ error }: { error: unknown }) {
  return (
    <main className="centered">
      <h1>Keyward is not answering</h1>
      <ProblemMessage error={error} />
      <button type="button" onClick={() => window.location.reload()}>
        Try again
      </button>
    </main>
  );
}

function NotFound() {
  return (
    <>
      <h1>Page not found</h1>
      <p>There is no console page at this address.</p>
    </>
  );
}
