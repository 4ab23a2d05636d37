// The page for a browser without a session, and for one whose session ended (a 401 anywhere). Signing in is
// always the person's choice: no automatic redirect to the provider.
import { keyward } from "./keyward";

export function SignedOut() {
  return (
    <main className="centered" data-testid="signed-out">
      <h1>Keyward console</h1>
      <p>Sign in to manage roles, permissions, users and the user sync.</p>
      {/* Back to the page the person was on, which login() takes as return_to. */}
      <button type="button" className="primary" onClick={() => keyward.login()}>
        Sign in
      </button>
    </main>
  );
}
