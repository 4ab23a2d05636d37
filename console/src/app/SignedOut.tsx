// The page for a browser without a session, and for one whose session ended (a 401 anywhere). Signing in is
// always the person's choice: no automatic redirect to the provider.
import { keyward } from "./keyward";

/** Keyward adds these to `return_to` when a login did not succeed (cancelled, account deactivated). */
const LOGIN_ERROR_PARAMS = ["error", "error_description"];

export function SignedOut() {
  const params = new URLSearchParams(window.location.search);
  const loginError = params.get("error_description") || params.get("error");

  // Back to the page the person was on, without the last attempt's error.
  const returnTo = new URL(window.location.href);
  for (const name of LOGIN_ERROR_PARAMS) returnTo.searchParams.delete(name);

  return (
    <main className="centered" data-testid="signed-out">
      <h1>Keyward console</h1>
      <p>Sign in to manage roles, permissions, users and the user sync.</p>
      {loginError && (
        <p className="problem" role="alert" data-testid="login-error">
          Signing in did not work: {loginError}
        </p>
      )}
      <button type="button" className="primary" onClick={() => keyward.login(returnTo.pathname + returnTo.search + returnTo.hash)}>
        Sign in
      </button>
    </main>
  );
}
