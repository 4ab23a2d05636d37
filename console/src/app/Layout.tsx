// The frame around every signed-in page: who is signed in, sign out, and links to the pages they may read.
import { useMutation } from "@tanstack/react-query";
import { NavLink, Outlet } from "react-router";
import type { components } from "@keyward/client";

import { Avatar } from "../components/Avatar";
import { ProblemMessage } from "../components/Problem";
import { keyward } from "./keyward";
import { useCan, type Permission } from "./permissions";

type Me = components["schemas"]["Me"];

const pages: { to: string; label: string; needs?: Permission }[] = [
  { to: "/me", label: "Me" },
  { to: "/roles", label: "Roles", needs: "roles:read" },
  { to: "/permissions", label: "Permissions", needs: "roles:read" },
  { to: "/users", label: "Users", needs: "users:read" },
  { to: "/audit", label: "Audit log", needs: "audit:read" },
  { to: "/sync", label: "Sync", needs: "sync:read" },
];

export function Layout({ me }: { me: Me }) {
  const can = useCan();
  // Without a provider end-session URL, land on the console's own start page (signed out by then).
  const signOut = useMutation({ mutationFn: () => keyward.logout("/console/") });
  const name = me.display_name ?? me.username ?? me.email ?? "signed in";

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Keyward</span>
        <nav aria-label="Console">
          <ul>
            {pages
              .filter((p) => !p.needs || can(p.needs))
              .map((p) => (
                <li key={p.to}>
                  <NavLink to={p.to}>{p.label}</NavLink>
                </li>
              ))}
          </ul>
        </nav>
        <div className="who" data-testid="signed-in-user">
          <Avatar url={me.avatar_url} name={name} size={32} />
          <span>{name}</span>
          <button type="button" onClick={() => signOut.mutate()} disabled={signOut.isPending}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <ProblemMessage error={signOut.error} />
        <Outlet />
      </main>
    </>
  );
}
