// Fake admin APIs for user-sync tests: Keycloak Admin REST (users, groups and their members, realm-role users,
// admin events) and authentik API v3 (core/users with groups_obj, events/events; the event log is in events.mjs).
import { jwtVerify } from 'jose';

import { displayName, uuidFromName } from './users.mjs';

const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

function bool(v) {
  if (v === undefined || v === null || v === '') return undefined;
  return ['true', '1', 'yes'].includes(String(v).toLowerCase());
}

function intParam(v, dflt) {
  if (v === null || v === undefined || v === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : NaN;
}

// The `admin_token_uses` fault: a token is refused after that many admin requests, so that a test decides
// when a token runs out by counting requests rather than racing a clock. The refusal takes `slow_ms` like a
// page does: every request sent before the first refusal comes back carries the used-up token too.
async function usedUp(state, token) {
  const limit = state.faults.admin_token_uses;
  if (!limit) return false;
  const uses = (state.adminTokenUses.get(token) || 0) + 1;
  state.adminTokenUses.set(token, uses);
  if (uses <= limit) return false;
  state.stats.admin_unauthorized += 1;
  if (uses === limit + 1) state.stats.admin_tokens_refused += 1;
  if (state.faults.slow_ms) await sleep(state.faults.slow_ms);
  return true;
}

// Fault injection shared by both listing endpoints. Returns an error status or undefined.
async function listingFaults(state, pageIndex) {
  const f = state.faults;
  state.stats.admin_list_pages[pageIndex] = (state.stats.admin_list_pages[pageIndex] || 0) + 1;
  if (f.slow_ms) await sleep(f.slow_ms);
  if (f.fail_page !== undefined && f.fail_page === pageIndex && f.remaining > 0) {
    f.remaining -= 1;
    state.stats.admin_faults_injected += 1;
    return f.status || 500;
  }
  return undefined;
}

// A membership read (groups, their members, a role's users) fails while `fail_memberships` lasts.
function membershipFault(state) {
  const f = state.faults;
  state.stats.admin_membership_requests = (state.stats.admin_membership_requests || 0) + 1;
  if (f.fail_memberships > 0) {
    f.fail_memberships -= 1;
    state.stats.admin_faults_injected += 1;
    return f.status || 500;
  }
  return undefined;
}

// ================================ Keycloak ======================================================
const kcVisible = (u) => u.type !== 'service_account' && u.type !== 'internal_service_account';

export function keycloakUser(u, { brief = false } = {}) {
  const r = {
    id: u.sub,
    username: u.username,
  };
  if (u.given_name) r.firstName = u.given_name;
  if (u.family_name) r.lastName = u.family_name;
  if (u.email) r.email = u.email;
  r.emailVerified = !!u.email_verified;
  r.createdTimestamp = u.created;
  r.enabled = u.enabled !== false;
  r.totp = false;
  if (!brief) {
    const attributes = {};
    for (const [k, v] of Object.entries(u.attributes || {})) attributes[k] = Array.isArray(v) ? v.map(String) : [String(v)];
    if (u.picture) attributes.picture = [u.picture];
    if (Object.keys(attributes).length) r.attributes = attributes;
    r.disableableCredentialTypes = [];
    r.requiredActions = [];
    r.notBefore = 0;
    r.access = {
      manageGroupMembership: true, view: true, mapRoles: true, impersonate: false, manage: true,
    };
  }
  return r;
}

function kcMatches(u, q) {
  const exact = q.exact === true;
  const norm = (s) => String(s ?? '').toLowerCase();
  const m = (field, needle) => {
    if (needle === undefined) return true;
    const n = norm(needle);
    return exact ? norm(field) === n : norm(field).includes(n);
  };
  if (q.enabled !== undefined && (u.enabled !== false) !== q.enabled) return false;
  if (q.emailVerified !== undefined && !!u.email_verified !== q.emailVerified) return false;
  if (!m(u.username, q.username) || !m(u.email, q.email)) return false;
  if (!m(u.given_name, q.firstName) || !m(u.family_name, q.lastName)) return false;
  if (q.search !== undefined && q.search !== '*' && q.search !== '') {
    const s = norm(q.search).replace(/^\*|\*$/g, '');
    if (![u.username, u.email, u.given_name, u.family_name].some((f) => norm(f).includes(s))) return false;
  }
  return true;
}

// With a realm file, the realm-management client role Keycloak wants for a read (from the service account's
// token), so a realm.json that forgets one fails the tests as it would fail against Keycloak.
function missingRole(claims, rest) {
  const held = claims?.resource_access?.['realm-management']?.roles || [];
  let need = 'view-users';
  if (rest === '/admin-events' || rest.startsWith('/events')) need = 'view-events';
  else if (rest.startsWith('/roles')) need = 'view-realm';
  return held.includes(need) ? undefined : need;
}

export async function keycloakAdmin(ctx) {
  const {
    req, url, state, users, layout, cfg, events, send,
  } = ctx;
  state.stats.admin_requests += 1;
  const prefix = `/admin/realms/${cfg.realm}`;
  if (!url.pathname.startsWith(`${prefix}/`) && url.pathname !== prefix) {
    return send(404, { error: 'Realm not found.' });
  }
  // --- authentication: a (client_credentials) access token issued by this realm ---
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
  if (!m) {
    state.stats.admin_unauthorized += 1;
    return send(401, { error: 'HTTP 401 Unauthorized' }, { 'www-authenticate': `Bearer realm="${cfg.realm}"` });
  }
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(m[1], state.jwkSet, { issuer: layout.issuer, algorithms: ['RS256'] }));
  } catch (err) {
    state.stats.admin_unauthorized += 1;
    if (cfg.log) console.error('[idp] keycloak admin: token rejected:', err.code || err.message);
    return send(401, { error: 'HTTP 401 Unauthorized' }, { 'www-authenticate': `Bearer realm="${cfg.realm}", error="invalid_token"` });
  }
  if (await usedUp(state, m[1])) {
    return send(401, { error: 'HTTP 401 Unauthorized' }, { 'www-authenticate': `Bearer realm="${cfg.realm}", error="invalid_token"` });
  }
  if (req.method !== 'GET') return send(405, { error: 'HTTP 405 Method Not Allowed' });

  const rest = url.pathname.slice(prefix.length).replace(/\/$/, '');
  const missing = cfg.realmFile ? missingRole(claims, rest) : undefined;
  if (missing) {
    if (cfg.log) console.error(`[idp] keycloak admin: ${rest} needs realm-management ${missing}`);
    return send(403, { error: 'HTTP 403 Forbidden' });
  }
  const q = url.searchParams;
  const query = {
    search: q.get('search') ?? undefined,
    username: q.get('username') ?? undefined,
    email: q.get('email') ?? undefined,
    firstName: q.get('firstName') ?? undefined,
    lastName: q.get('lastName') ?? undefined,
    exact: bool(q.get('exact')),
    enabled: bool(q.get('enabled')),
    emailVerified: bool(q.get('emailVerified')),
  };
  if (query.search === '*' || query.search === '') query.search = undefined;
  const filtered = ['search', 'username', 'email', 'firstName', 'lastName', 'enabled', 'emailVerified']
    .some((k) => query[k] !== undefined);

  if (rest === '/users') {
    state.stats.admin_list_requests += 1;
    const first = Math.max(0, intParam(q.get('first'), 0) || 0);
    let max = intParam(q.get('max'), 100);
    if (Number.isNaN(max)) max = 100;
    if (max < 0) max = Number.MAX_SAFE_INTEGER;
    const brief = bool(q.get('briefRepresentation')) === true;
    const pageIndex = max > 0 ? Math.floor(first / max) : 0;
    const fault = await listingFaults(state, pageIndex);
    if (fault) return send(fault, { error: 'unknown_error', error_description: `injected fault on page ${pageIndex}` });
    let list;
    if (filtered) {
      // Like Keycloak's UsersResource: a search by attributes (username, email, ...) includes service
      // accounts; the plain listing and `search=` leave them out.
      const visible = query.search === undefined ? () => true : kcVisible;
      list = [];
      let skipped = 0;
      for (const u of users.all(visible)) {
        if (!kcMatches(u, query)) continue;
        if (skipped < first) { skipped += 1; continue; }
        if (list.length >= max) break;
        list.push(u);
      }
    } else {
      list = users.slice('kc', kcVisible, first, max);
    }
    return send(200, list.map((u) => keycloakUser(u, { brief })));
  }
  if (rest === '/admin-events') {
    state.stats.event_reads += 1;
    const { status, body } = events.keycloakAdminEvents(q);
    return send(status, body);
  }
  if (rest === '/events/config') return send(200, events.keycloakConfig());
  if (rest === '/users/count') {
    if (!filtered) return send(200, users.count('kc', kcVisible));
    let n = 0;
    for (const u of users.all(kcVisible)) if (kcMatches(u, query)) n += 1;
    return send(200, n);
  }
  let mm = /^\/users\/([^/]+)$/.exec(rest);
  if (mm) {
    const u = users.get(decodeURIComponent(mm[1]));
    if (!u || !kcVisible(u)) return send(404, { error: 'User not found' });
    return send(200, keycloakUser(u));
  }
  mm = /^\/users\/([^/]+)\/groups$/.exec(rest);
  if (mm) {
    const u = users.get(decodeURIComponent(mm[1]));
    if (!u || !kcVisible(u)) return send(404, { error: 'User not found' });
    return send(200, u.groups.map((g) => ({
      id: uuidFromName('group', g), name: g, path: `/${g}`, subGroups: [],
    })));
  }
  mm = /^\/users\/([^/]+)\/role-mappings\/realm$/.exec(rest);
  if (mm) {
    const u = users.get(decodeURIComponent(mm[1]));
    if (!u || !kcVisible(u)) return send(404, { error: 'User not found' });
    return send(200, u.roles.map((r) => ({
      id: uuidFromName('role', r), name: r, composite: false, clientRole: false, containerId: uuidFromName('realm', cfg.realm),
    })));
  }
  const members = await keycloakMemberships(ctx, rest, q);
  if (members !== undefined) return members;
  return send(404, { error: 'HTTP 404 Not Found' });
}

// Groups are the users' group names, each a top-level group at `/name`; realm roles the users' role names.
function kcGroup(name, { brief = true } = {}) {
  const g = {
    id: uuidFromName('group', name), name, path: `/${name}`, subGroupCount: 0, subGroups: [],
  };
  if (!brief) Object.assign(g, { attributes: {}, realmRoles: [], clientRoles: {} });
  return g;
}

function kcGroupNames(users) {
  const names = new Set();
  for (const u of users.all(kcVisible)) for (const g of u.groups) names.add(g);
  return [...names].sort();
}

function kcPage(list, q) {
  const first = Math.max(0, intParam(q.get('first'), 0) || 0);
  let max = intParam(q.get('max'), 100);
  if (Number.isNaN(max) || max < 0) max = 100;
  return list.slice(first, first + max);
}

function kcMembers(users, has, q) {
  const brief = bool(q.get('briefRepresentation')) === true;
  const list = [];
  for (const u of users.all(kcVisible)) if (has(u)) list.push(u);
  return kcPage(list, q).map((u) => keycloakUser(u, { brief }));
}

// GET /groups, /group-by-path/{path}, /groups/{id}, /groups/{id}/members, /roles/{name}/users.
async function keycloakMemberships({ state, users, send }, rest, q) {
  const known = /^\/(groups|group-by-path|roles)(\/|$)/.test(rest);
  if (!known) return undefined;
  const fault = membershipFault(state);
  if (fault) return send(fault, { error: 'unknown_error', error_description: 'injected membership fault' });
  const byId = (id) => kcGroupNames(users).find((n) => uuidFromName('group', n) === id);
  if (rest === '/groups') {
    const search = q.get('search');
    const exact = bool(q.get('exact')) === true;
    const brief = bool(q.get('briefRepresentation')) !== false;
    let names = kcGroupNames(users);
    if (search) {
      const s = search.toLowerCase();
      names = names.filter((n) => (exact ? n === search : n.toLowerCase().includes(s)));
    }
    return send(200, kcPage(names, q).map((n) => kcGroup(n, { brief })));
  }
  let mm = /^\/group-by-path\/(.+)$/.exec(rest);
  if (mm) {
    const path = decodeURIComponent(mm[1]);
    const name = kcGroupNames(users).find((n) => n === path);
    return name ? send(200, kcGroup(name, { brief: false })) : send(404, { error: `Group path does not exist` });
  }
  mm = /^\/groups\/([^/]+)(\/members)?$/.exec(rest);
  if (mm) {
    const name = byId(decodeURIComponent(mm[1]));
    if (!name) return send(404, { error: 'Could not find group by id' });
    if (!mm[2]) return send(200, kcGroup(name, { brief: false }));
    return send(200, kcMembers(users, (u) => u.groups.includes(name), q));
  }
  mm = /^\/roles\/([^/]+)\/users$/.exec(rest);
  if (mm) {
    const role = decodeURIComponent(mm[1]);
    let exists = false;
    for (const u of users.all(kcVisible)) if (u.roles.includes(role)) { exists = true; break; }
    if (!exists) return send(404, { error: 'Could not find role' });
    return send(200, kcMembers(users, (u) => u.roles.includes(role), q));
  }
  return send(404, { error: 'HTTP 404 Not Found' });
}

// ================================ authentik =====================================================
const iso = (ms) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function authentikUser(u, { base, includeGroups = false }) {
  const isSuper = u.is_superuser ?? u.groups.includes('admins');
  const groupIds = u.groups.map((g) => uuidFromName('group', g));
  return {
    pk: u.pk,
    username: u.username,
    name: displayName(u) || '',
    is_active: u.enabled !== false,
    last_login: u.last_login || null,
    date_joined: iso(u.created),
    is_superuser: isSuper,
    groups: groupIds,
    groups_obj: includeGroups
      ? u.groups.map((g, i) => ({
        pk: groupIds[i], num_pk: 0, name: g, is_superuser: g === 'admins', parent: null, parent_name: null, attributes: {},
      }))
      : null,
    email: u.email || '',
    avatar: u.picture || `${base}/static/dist/assets/images/user_default.png`,
    attributes: { ...(u.attributes || {}) },
    uid: u.sub,
    path: u.type === 'service_account' || u.type === 'internal_service_account' ? 'goauthentik.io/service-accounts' : 'users',
    type: u.type || 'internal',
    uuid: u.sub,
    password_change_date: iso(u.created),
    last_updated: iso(u.updated ?? u.created),
  };
}

const akVisible = () => true;

function akFilter(q) {
  const f = [];
  const username = q.get('username');
  if (username !== null) f.push((u) => u.username === username.toLowerCase());
  const email = q.get('email');
  if (email !== null) f.push((u) => (u.email || '') === email);
  const active = bool(q.get('is_active'));
  if (active !== undefined) f.push((u) => (u.enabled !== false) === active);
  const types = q.getAll('type');
  if (types.length) f.push((u) => types.includes(u.type || 'internal'));
  const uuid = q.get('uuid');
  if (uuid !== null) f.push((u) => u.sub === uuid.toLowerCase());
  const search = q.get('search');
  if (search) {
    const s = search.toLowerCase();
    f.push((u) => [u.username, u.email, displayName(u)].some((x) => String(x ?? '').toLowerCase().includes(s)));
  }
  return f.length ? (u) => f.every((fn) => fn(u)) : undefined;
}

const AK_SORT = {
  pk: (u) => u.pk,
  username: (u) => u.username,
  name: (u) => displayName(u) || '',
  email: (u) => u.email || '',
  is_active: (u) => (u.enabled !== false ? 1 : 0),
  last_login: (u) => u.last_login || '',
  date_joined: (u) => u.created,
  last_updated: (u) => u.updated ?? u.created,
};

export async function authentikApi(ctx) {
  const {
    req, url, state, users, cfg, events, send, base,
  } = ctx;
  state.stats.admin_requests += 1;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
  if (!m) {
    state.stats.admin_unauthorized += 1;
    return send(403, { detail: 'Authentication credentials were not provided.' });
  }
  if (m[1] !== cfg.adminToken) {
    state.stats.admin_unauthorized += 1;
    return send(403, { detail: 'Token invalid/expired' });
  }
  if (req.method !== 'GET') return send(405, { detail: `Method "${req.method}" not allowed.` });
  const q = url.searchParams;
  // Like authentik (2024.x on): groups_obj is listed unless the client asks `include_groups=false`.
  const includeGroups = bool(q.get('include_groups')) !== false;

  if (url.pathname === '/api/v3/core/users/') {
    state.stats.admin_list_requests += 1;
    const page = intParam(q.get('page'), 1);
    let pageSize = intParam(q.get('page_size'), 20);
    if (Number.isNaN(page) || page < 1) return send(404, { detail: 'Invalid page.' });
    if (Number.isNaN(pageSize) || pageSize < 1) pageSize = 20;
    pageSize = Math.min(pageSize, cfg.akMaxPageSize);
    const fault = await listingFaults(state, page - 1);
    if (fault) return send(fault, { detail: `injected fault on page ${page - 1}` });

    const ordering = (q.get('ordering') || 'pk').split(',')[0].trim() || 'pk';
    const desc = ordering.startsWith('-');
    const key = AK_SORT[ordering.replace(/^-/, '')] ? ordering.replace(/^-/, '') : 'pk';
    const filter = akFilter(q);
    let count;
    let results;
    if (!filter && key === 'pk' && !desc) {
      count = users.count('ak', akVisible);
      results = users.slice('ak', akVisible, (page - 1) * pageSize, pageSize);
    } else {
      let all = [...users.all(akVisible)];
      if (filter) all = all.filter(filter);
      if (key !== 'pk' || desc) {
        const get = AK_SORT[key];
        all.sort((a, b) => {
          const x = get(a);
          const y = get(b);
          const c = x < y ? -1 : x > y ? 1 : a.pk - b.pk;
          return desc ? -c : c;
        });
      }
      count = all.length;
      results = all.slice((page - 1) * pageSize, page * pageSize);
    }
    const totalPages = Math.max(1, Math.ceil(count / pageSize));
    if (page > totalPages) return send(404, { detail: 'Invalid page.' });
    const startIndex = count === 0 ? 0 : (page - 1) * pageSize + 1;
    return send(200, {
      pagination: {
        next: page < totalPages ? page + 1 : 0,
        previous: page > 1 ? page - 1 : 0,
        count,
        current: page,
        total_pages: totalPages,
        start_index: startIndex,
        end_index: count === 0 ? 0 : startIndex + results.length - 1,
      },
      results: results.map((u) => authentikUser(u, { base, includeGroups })),
      autocomplete: {},
    });
  }
  if (url.pathname === '/api/v3/events/events/') {
    state.stats.event_reads += 1;
    const { status, body } = events.authentikEvents(q);
    return send(status, body);
  }
  const mm = /^\/api\/v3\/core\/users\/(\d+)\/$/.exec(url.pathname);
  if (mm) {
    const u = users.getByPk(Number(mm[1]));
    if (!u) return send(404, { detail: 'No User matches the given query.' });
    return send(200, authentikUser(u, { base, includeGroups }));
  }
  return send(404, { detail: 'Not found.' });
}
