// Minimal HTML pages (no external assets). The login form's field names are part of the contract
// with the Rust test harness: hidden `prompt`, `login`, `password`.
export function esc(v) {
  return String(v ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0}
main{max-width:22rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0}input,button{display:block;width:100%;box-sizing:border-box;margin:.5rem 0;padding:.6rem;font-size:1rem}
button{background:#2563eb;color:#fff;border:0;border-radius:4px;cursor:pointer}button.secondary{background:#6b7280}
.error{color:#b91c1c;background:#fee2e2;padding:.5rem;border-radius:4px}a{color:#2563eb}pre{white-space:pre-wrap}`;

export function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export function loginPage({ title, action, abortUrl, clientName, loginHint, error }) {
  return page(title, `<h1>${esc(title)}</h1>
<p>Sign in to continue to <strong>${esc(clientName)}</strong>.</p>
${error ? `<p class="error" id="login-error">${esc(error)}</p>` : ''}
<form id="login-form" action="${esc(action)}" method="post" autocomplete="off">
<input type="hidden" name="prompt" value="login"/>
<label for="login">Username or email</label>
<input required type="text" id="login" name="login" placeholder="Username" autofocus="on" value="${esc(loginHint)}"/>
<label for="password">Password</label>
<input required type="password" id="password" name="password" placeholder="Password"/>
<button type="submit" id="login-submit" class="login login-submit">Sign in</button>
</form>
<p><a id="login-cancel" href="${esc(abortUrl)}">Cancel</a></p>`);
}

export function errorPage(title, fields) {
  return page(title, `<h1>${esc(title)}</h1>${Object.entries(fields)
    .map(([k, v]) => `<pre><strong>${esc(k)}</strong>: ${esc(v)}</pre>`).join('')}`);
}

export function logoutPage({ title, form }) {
  return page(title, `<h1>${esc(title)}</h1><p>Do you want to sign out?</p>
${form}
<button autofocus type="submit" form="op.logoutForm" name="logout" value="yes" id="logout-yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" class="secondary" id="logout-no">No, stay signed in</button>`);
}

export function loggedOutPage(title) {
  return page(title, `<h1>${esc(title)}</h1><p id="logged-out">You have been signed out.</p>`);
}
