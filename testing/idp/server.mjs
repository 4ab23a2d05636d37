// Keyward test identity provider: oidc-provider in a Keycloak- or authentik-shaped URL layout,
// plus fake admin APIs and /__control endpoints for tests. See README.md.
//
//   node testing/idp/server.mjs      (env: IDP_LAYOUT, IDP_PORT, IDP_REALM, IDP_SLUG, IDP_CLIENT_ID, ...)
//
// stdout carries exactly one line, once ready:
//   {"ready":true,"port":N,"issuer":"...","base":"http://127.0.0.1:N"}
// everything else goes to stderr.
import { writeReadyLine } from './lib/stdio.mjs'; // must stay the first import

import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { promisify } from 'node:util';

import { createLocalJWKSet, jwtVerify } from 'jose';

import { authentikApi, keycloakAdmin } from './lib/admin.mjs';
import { createSharedStorage } from './lib/adapter.mjs';
import { loadConfig } from './lib/config.mjs';
import {
  claimsConfig, createProvider, isLoginable, makeLayout, userClaims,
} from './lib/provider.mjs';
import { UserError, UserStore } from './lib/users.mjs';
import { EventLog } from './lib/events.mjs';
import * as views from './lib/views.mjs';

const generateKeyPair = promisify(crypto.generateKeyPair);

// 1x1 transparent PNG (authentik's default avatar path is served with it)
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

function freshStats() {
  return {
    started_at: new Date().toISOString(),
    requests: 0,
    admin_requests: 0,
    admin_list_requests: 0,
    admin_list_pages: {},
    admin_unauthorized: 0,
    admin_tokens_refused: 0, // distinct tokens refused by the admin_token_uses fault
    admin_faults_injected: 0,
    event_reads: 0, // pages of the event log served (Keycloak admin events, authentik events)
    token_requests: { total: 0, by_grant: {}, errors: 0 },
    jwks_fetches: 0,
    discovery_fetches: 0,
    authorize_requests: 0,
    userinfo_requests: 0,
    logins: { ok: 0, failed: 0 },
    logouts: 0,
    backchannel_logouts: { ok: 0, failed: 0 },
    revocations: 0,
    key_rotations: 0,
  };
}

async function newSigningKey() {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    ...jwk, kid: crypto.randomBytes(24).toString('base64url'), alg: 'RS256', use: 'sig',
  };
}

const publicJwk = ({
  kty, n, e, kid, alg, use,
}) => ({
  kty, n, e, kid, alg, use,
});

async function main() {
  const cfg = loadConfig();
  const users = new UserStore({ file: cfg.usersFile, list: cfg.realmFile?.users, generated: cfg.generatedUsers });
  const storage = createSharedStorage();
  const events = new EventLog();
  if (cfg.realmFile) {
    events.config.adminEventsEnabled = cfg.realmFile.adminEvents.enabled;
    events.config.adminEventsDetailsEnabled = cfg.realmFile.adminEvents.details;
  }
  const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
  const keyPromise = newSigningKey(); // overlaps with listen()

  const state = {
    base: undefined,
    faults: {},
    stats: freshStats(),
    adminTokenUses: new Map(), // admin access token -> admin requests made with it
    keys: [],
    jwkSet: undefined,
    provider: undefined,
    handler: undefined,
    loginErrors: new Map(), // interaction uid -> message shown once
  };
  let layout;

  function buildProvider() {
    const provider = createProvider({
      cfg, layout, keys: state.keys, storage, users, cookieKeys, state,
    });
    state.provider = provider;
    state.handler = provider.callback();
    state.jwkSet = createLocalJWKSet({ keys: state.keys.map(publicJwk) });
  }

  // ---------------------------------------------------------------------------------------------
  function send(res, status, body, headers = {}) {
    if (res.headersSent) return;
    const isJson = typeof body !== 'string' && !Buffer.isBuffer(body);
    const payload = isJson ? JSON.stringify(body) : body;
    res.writeHead(status, {
      'content-type': isJson ? 'application/json' : 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(payload),
      ...headers,
    });
    res.end(payload);
  }

  function redirect(res, location, headers = {}) {
    res.writeHead(303, {
      location, 'content-length': 0, 'cache-control': 'no-store', ...headers,
    });
    res.end();
  }

  function readBody(req, limit = 1 << 20) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      let size = 0;
      req.on('data', (c) => {
        size += c.length;
        if (size > limit) {
          reject(new UserError(413, 'body too large'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  async function readJson(req) {
    const raw = await readBody(req);
    if (!raw.trim()) return {};
    try {
      return JSON.parse(raw);
    } catch {
      throw new UserError(400, 'invalid JSON body');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Login interactions (replace oidc-provider's devInteractions)
  async function interaction(req, res, pathname) {
    const rest = pathname.slice(layout.interactionBase.length + 1).replace(/\/$/, '');
    const [uid, action, extra] = rest.split('/');
    const { provider } = state;
    if (!uid || extra !== undefined || (action !== undefined && action !== 'abort')) {
      return send(res, 404, views.errorPage('Not found', { error: 'not_found' }));
    }
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      return send(res, 400, views.errorPage('Login session expired', {
        error: 'invalid_request', error_description: `${err.error_description || err.message}; start the login again`,
      }));
    }
    if (details.uid !== uid) {
      return send(res, 400, views.errorPage('Login session mismatch', {
        error: 'invalid_request', error_description: 'interaction cookie does not belong to this URL; start the login again',
      }));
    }
    const selfUrl = `${state.base}${layout.interactionBase}/${uid}`;

    if (action === 'abort') {
      state.loginErrors.delete(uid);
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
    }

    if (details.prompt.name !== 'login') {
      // consent (or anything else): granted automatically, no screen
      if (req.method === 'POST') await readBody(req);
      return autoConsent(req, res, details);
    }

    if (req.method === 'GET' || req.method === 'HEAD') {
      const error = state.loginErrors.get(uid);
      state.loginErrors.delete(uid);
      return send(res, 200, views.loginPage({
        title: layout.name === 'keycloak' ? `Sign in to ${cfg.realm}` : 'Welcome to authentik!',
        action: selfUrl,
        abortUrl: `${selfUrl}/abort`,
        clientName: details.params.client_id,
        loginHint: details.params.login_hint,
        error,
      }));
    }
    if (req.method !== 'POST') return send(res, 405, views.errorPage('Method not allowed', {}), { allow: 'GET, POST' });

    const form = new URLSearchParams(await readBody(req));
    if (form.get('prompt') && form.get('prompt') !== 'login') {
      state.loginErrors.set(uid, 'Unexpected form submission.');
      return redirect(res, selfUrl);
    }
    const user = users.findLogin(form.get('login') || '');
    const password = form.get('password') || '';
    const ok = isLoginable(user) && user.password.length === password.length
      && crypto.timingSafeEqual(Buffer.from(user.password), Buffer.from(password));
    if (!ok) {
      state.stats.logins.failed += 1;
      let msg = 'Invalid username or password.';
      if (user && user.enabled === false && user.password === password) msg = 'Account is disabled, contact your administrator.';
      state.loginErrors.set(uid, msg);
      if (cfg.log) console.error(`[idp] login rejected for ${JSON.stringify(form.get('login'))}`);
      return redirect(res, selfUrl);
    }
    state.stats.logins.ok += 1;
    users.touchLogin(user);
    state.loginErrors.delete(uid);
    return provider.interactionFinished(req, res, {
      login: { accountId: user.sub },
    }, { mergeWithLastSubmission: false });
  }

  async function autoConsent(req, res, details) {
    const { provider } = state;
    const { prompt: { details: missing = {} }, params, session } = details;
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  // ---------------------------------------------------------------------------------------------
  // userinfo: served here (not by oidc-provider) so that the JWT access tokens work with it
  async function userinfo(req, res) {
    state.stats.userinfo_requests += 1;
    let token;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
    if (m) token = m[1];
    else if (req.method === 'POST') token = new URLSearchParams(await readBody(req)).get('access_token') || undefined;
    const fail = (desc) => send(res, 401, { error: 'invalid_token', error_description: desc }, {
      'www-authenticate': `Bearer error="invalid_token", error_description="${desc}"`,
    });
    if (!token) {
      return send(res, 401, { error: 'invalid_request', error_description: 'no access token provided' }, { 'www-authenticate': 'Bearer' });
    }
    let payload;
    try {
      ({ payload } = await jwtVerify(token, state.jwkSet, { issuer: layout.issuer, algorithms: ['RS256'] }));
    } catch (err) {
      return fail(`access token invalid (${err.code || err.message})`);
    }
    if (payload.sub === payload.client_id && !users.get(payload.sub)) {
      return send(res, 200, { sub: payload.sub, preferred_username: `service-account-${payload.client_id}` });
    }
    const u = users.get(payload.sub);
    if (!isLoginable(u)) return fail('user not found or disabled');
    const all = userClaims(u, layout, cfg.client);
    const map = claimsConfig(layout, cfg.client);
    const scopes = new Set(['openid', ...String(payload.scope || '').split(' ')]);
    const out = {};
    for (const s of scopes) for (const c of map[s] || []) if (all[c] !== undefined) out[c] = all[c];
    out.sub = u.sub;
    return send(res, 200, out);
  }

  // ---------------------------------------------------------------------------------------------
  function controlUser(u) {
    if (!u) return u;
    const { password, ...rest } = u;
    return { ...rest, has_password: typeof password === 'string' };
  }

  // A user as it was before a change, for the event log (the store changes users in place).
  function snapshot(u) {
    return u ? { ...u, groups: [...(u.groups || [])] } : undefined;
  }

  function recordChange(before, after) {
    const was = new Set(before?.groups || []);
    const now = new Set(after?.groups || []);
    events.record({
      before,
      after,
      realm: cfg.realm,
      groupsAdded: before && after ? [...now].filter((g) => !was.has(g)) : [],
      groupsRemoved: before && after ? [...was].filter((g) => !now.has(g)) : [],
    });
  }

  async function control(req, res, pathname) {
    const p = pathname.replace(/\/$/, '');
    const { method } = req;
    if (p === '/__control/users') {
      if (method === 'GET') {
        return send(res, 200, {
          users: [...users.explicit.values()].map(controlUser),
          generated: users.generated,
          generated_deleted: users.genDeleted.size,
        });
      }
      if (method === 'POST') {
        const body = await readJson(req);
        const before = snapshot(users.get(body?.sub));
        const { user, created } = users.upsert(body);
        recordChange(before, user);
        return send(res, created ? 201 : 200, controlUser(user));
      }
      return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, POST' });
    }
    const um = /^\/__control\/users\/([^/]+)$/.exec(p);
    if (um) {
      const sub = decodeURIComponent(um[1]);
      if (method === 'GET') {
        const u = users.get(sub);
        return u ? send(res, 200, controlUser(u)) : send(res, 404, { error: 'user not found' });
      }
      if (method === 'PATCH' || method === 'PUT') {
        const body = await readJson(req);
        const before = snapshot(users.get(sub));
        if (method === 'PUT') {
          const { user } = users.upsert({ ...body, sub });
          recordChange(before, user);
          return send(res, 200, controlUser(user));
        }
        const user = users.patch(sub, body);
        recordChange(before, user);
        return send(res, 200, controlUser(user));
      }
      if (method === 'DELETE') {
        const before = snapshot(users.get(sub));
        if (!users.remove(sub)) return send(res, 404, { error: 'user not found' });
        recordChange(before, undefined);
        return send(res, 200, { deleted: sub });
      }
      return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, PATCH, PUT, DELETE' });
    }
    if (p === '/__control/events') {
      if (method === 'GET') return send(res, 200, { config: events.config, admin_events: events.admin, authentik_events: events.authentik });
      if (method === 'PATCH') {
        const body = await readJson(req);
        if (typeof body.admin_events_enabled === 'boolean') events.config.adminEventsEnabled = body.admin_events_enabled;
        if (typeof body.admin_events_details_enabled === 'boolean') events.config.adminEventsDetailsEnabled = body.admin_events_details_enabled;
        return send(res, 200, { config: events.config });
      }
      return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, PATCH' });
    }
    if (p === '/__control/rotate-keys' && method === 'POST') {
      const body = await readJson(req);
      const key = await newSigningKey();
      state.keys = [key, ...(body.keep_old ? state.keys : [])].slice(0, 5);
      buildProvider();
      state.stats.key_rotations += 1;
      return send(res, 200, { active_kid: key.kid, published_kids: state.keys.map((k) => k.kid) });
    }
    // Signs any claims with the active key, so tests can craft logout tokens the provider itself would not.
    if (p === '/__control/sign' && method === 'POST') {
      const body = await readJson(req);
      const key = state.keys[0];
      const header = { alg: 'RS256', kid: key.kid, typ: body.typ || 'logout+jwt' };
      const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const input = `${enc(header)}.${enc(body.claims || {})}`;
      const signature = crypto.sign('sha256', Buffer.from(input), crypto.createPrivateKey({ key, format: 'jwk' }));
      return send(res, 200, { jwt: `${input}.${signature.toString('base64url')}` });
    }
    if (p === '/__control/keys' && method === 'GET') {
      return send(res, 200, { active_kid: state.keys[0].kid, published_kids: state.keys.map((k) => k.kid) });
    }
    if (p === '/__control/faults') {
      if (method === 'GET') return send(res, 200, state.faults);
      if (method === 'DELETE') {
        state.faults = {};
        return send(res, 200, state.faults);
      }
      if (method === 'POST' || method === 'PUT') {
        const b = await readJson(req);
        const allowed = ['fail_page', 'fail_count', 'status', 'slow_ms', 'admin_token_ttl_s', 'admin_token_uses', 'fail_memberships', 'refresh_without_id_token'];
        for (const k of Object.keys(b)) {
          if (!allowed.includes(k)) throw new UserError(400, `unknown fault ${k}; allowed: ${allowed.join(', ')}`);
          if (b[k] !== null && (!Number.isInteger(b[k]) || b[k] < 0)) throw new UserError(400, `${k} must be a non-negative integer or null`);
        }
        if (b.admin_token_ttl_s === 0) throw new UserError(400, 'admin_token_ttl_s must be >= 1');
        if (b.status !== undefined && b.status !== null && (b.status < 400 || b.status > 599)) throw new UserError(400, 'status must be 400..599');
        const f = { ...state.faults };
        for (const [k, v] of Object.entries(b)) {
          if (v === null) delete f[k];
          else f[k] = v;
        }
        if (b.fail_page !== undefined || b.fail_count !== undefined) f.remaining = f.fail_count ?? 1;
        if (f.fail_page === undefined) delete f.remaining;
        state.faults = f;
        return send(res, 200, state.faults);
      }
      return send(res, 405, { error: 'method not allowed' }, { allow: 'GET, POST, PUT, DELETE' });
    }
    if (p === '/__control/stats') {
      if (method === 'GET') {
        return send(res, 200, {
          ...state.stats,
          active_kid: state.keys[0].kid,
          published_kids: state.keys.map((k) => k.kid),
          storage_entries: storage.size(),
        });
      }
      if (method === 'DELETE') {
        state.stats = freshStats();
        return send(res, 200, state.stats);
      }
    }
    return send(res, 404, { error: 'unknown control endpoint' });
  }

  // ---------------------------------------------------------------------------------------------
  function realmInfo(res) {
    const { n, e } = state.keys[0];
    const der = crypto.createPublicKey({ key: { kty: 'RSA', n, e }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
    return send(res, 200, {
      realm: cfg.realm,
      public_key: der.toString('base64'),
      'token-service': `${layout.issuer}/protocol/openid-connect`,
      'account-service': `${layout.issuer}/account`,
      'tokens-not-before': 0,
    });
  }

  function countProviderRequest(rel) {
    const path = rel.split('?')[0].replace(/\/$/, '');
    const r = layout.routes;
    if (path === r.jwks) state.stats.jwks_fetches += 1;
    else if (path === r.token) state.stats.token_requests.total += 1;
    else if (path === r.revocation) state.stats.revocations += 1;
    else if (path === r.authorization) state.stats.authorize_requests += 1;
    else if (path.startsWith('/.well-known/')) state.stats.discovery_fetches += 1;
  }

  async function handle(req, res) {
    state.stats.requests += 1;
    const url = new URL(req.url, state.base);
    const { pathname, search } = url;

    if (!state.handler) return send(res, 503, { error: 'starting' });
    if (pathname.startsWith('/__control/')) return control(req, res, pathname);
    if (layout.name === 'keycloak' && (pathname.startsWith('/admin/realms/'))) {
      return keycloakAdmin({
        req, url, state, users, layout, cfg, events, send: (s, b, h) => send(res, s, b, h),
      });
    }
    if (layout.name === 'authentik' && pathname.startsWith('/api/v3/')) {
      return authentikApi({
        req, url, state, users, layout, cfg, events, base: state.base, send: (s, b, h) => send(res, s, b, h),
      });
    }
    if (pathname === '/static/dist/assets/images/user_default.png') {
      return send(res, 200, PNG, { 'content-type': 'image/png', 'cache-control': 'public, max-age=3600' });
    }
    if (pathname.startsWith(`${layout.interactionBase}/`)) return interaction(req, res, pathname);
    if (pathname.replace(/\/$/, '') === `${layout.mount}${layout.routes.userinfo}`) return userinfo(req, res);
    if (layout.name === 'keycloak' && pathname.replace(/\/$/, '') === layout.issuerPath && req.method === 'GET') return realmInfo(res);
    if (pathname === '/' && req.method === 'GET') {
      return send(res, 200, {
        layout: layout.name,
        issuer: layout.issuer,
        discovery: `${layout.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
      });
    }
    const mapped = layout.map(pathname, search);
    if (!mapped) return send(res, 404, { error: 'not_found', error_description: `no route for ${pathname}` });
    countProviderRequest(mapped.url);
    req.originalUrl = mapped.mount + mapped.url;
    req.url = mapped.url;
    return state.handler(req, res);
  }

  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    if (cfg.log) {
      res.on('finish', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        console.error(`[idp] ${req.method} ${req.originalUrl || req.url} -> ${res.statusCode} ${ms.toFixed(1)}ms`);
      });
    }
    Promise.resolve(handle(req, res)).catch((err) => {
      if (err instanceof UserError) return send(res, err.status, { error: err.message });
      console.error('[idp] unhandled error', req.method, req.url, err);
      return send(res, 500, { error: 'server_error', error_description: String(err?.message || err) });
    });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, resolve);
  });
  const { port } = server.address();
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  state.base = `http://${hostForUrl}:${port}`;
  layout = makeLayout(cfg, state.base);
  state.keys = [await keyPromise];
  buildProvider();

  const shutdown = () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (cfg.exitWithParent) {
    // don't outlive a crashed/killed test harness
    const parent = process.ppid; // (a snapshot in Node; poll the parent pid itself)
    setInterval(() => {
      try {
        process.kill(parent, 0);
      } catch (err) {
        if (err.code === 'ESRCH') shutdown();
      }
    }, 500).unref();
  }
  if (cfg.exitOnStdinClose) {
    process.stdin.on('end', shutdown);
    process.stdin.on('error', shutdown);
    process.stdin.resume();
  }

  console.error(`[idp] layout=${layout.name} issuer=${layout.issuer} client=${cfg.client.id} users=${users.explicit.size}+${users.generated} generated`);
  writeReadyLine({
    ready: true, port, issuer: layout.issuer, base: state.base,
  });
}

main().catch((err) => {
  console.error('[idp] failed to start:', err);
  process.exit(1);
});
