// Environment parsing. All env vars are documented in README.md.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadRealm } from './realm.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function list(v, dflt) {
  const s = v === undefined || v === '' ? dflt : v;
  return s.split(',').map((x) => x.trim()).filter(Boolean);
}

function int(name, dflt, { min = 0 } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export function loadConfig() {
  const env = process.env;
  const layout = (env.IDP_LAYOUT || 'keycloak').toLowerCase();
  if (!['keycloak', 'authentik'].includes(layout)) throw new Error(`IDP_LAYOUT must be keycloak or authentik, got ${layout}`);
  const slugRe = /^[A-Za-z0-9_.-]+$/;
  const realm = env.IDP_REALM || 'keyward';
  const slug = env.IDP_SLUG || 'keyward';
  if (!slugRe.test(realm)) throw new Error('IDP_REALM must match [A-Za-z0-9_.-]+');
  if (!slugRe.test(slug)) throw new Error('IDP_SLUG must match [A-Za-z0-9_.-]+');
  const accessTokenTtl = int('IDP_ACCESS_TOKEN_TTL', 300, { min: 1 });
  const realmFile = env.IDP_REALM_FILE ? realmSettings(env, layout) : undefined;
  return {
    layout,
    host: env.IDP_HOST || '127.0.0.1',
    port: int('IDP_PORT', 0),
    realm: realmFile?.realm ?? realm,
    slug,
    realmFile,
    client: realmFile?.client ?? {
      id: env.IDP_CLIENT_ID || 'keyward',
      secret: env.IDP_CLIENT_SECRET || 'keyward-secret',
      redirectUris: list(env.IDP_REDIRECT_URIS, 'http://127.0.0.1:8080/auth/callback'),
      postLogoutRedirectUris: list(env.IDP_POST_LOGOUT_REDIRECT_URIS, 'http://127.0.0.1:8080/'),
      // empty: no back-channel logout
      backchannelLogoutUri: env.IDP_BACKCHANNEL_LOGOUT_URI || '',
      backchannelSessionRequired: true,
      pkceRequired: true,
      standardFlow: true,
      serviceAccount: true,
      audience: undefined, // the client id
      groupsClaim: { name: 'groups', fullPath: false },
    },
    usersFile: env.IDP_USERS_FILE || path.join(here, '..', 'fixtures', 'users.json'),
    generatedUsers: int('IDP_GENERATED_USERS', 0),
    adminToken: env.IDP_ADMIN_TOKEN || 'authentik-admin-token',
    akMaxPageSize: int('IDP_AK_MAX_PAGE_SIZE', 1000, { min: 1 }),
    ttl: {
      accessToken: accessTokenTtl,
      idToken: int('IDP_ID_TOKEN_TTL', accessTokenTtl, { min: 1 }),
      refreshToken: int('IDP_REFRESH_TOKEN_TTL', 1800, { min: 1 }),
      session: int('IDP_SESSION_TTL', 36000, { min: 1 }),
    },
    logoutConfirm: ['1', 'true', 'yes', 'always'].includes(String(env.IDP_LOGOUT_CONFIRM || '').toLowerCase()),
    log: ['1', 'true', 'yes'].includes(String(env.IDP_LOG || '').toLowerCase()),
    exitWithParent: !['0', 'false', 'no'].includes(String(env.IDP_EXIT_WITH_PARENT || '').toLowerCase()),
    exitOnStdinClose: ['1', 'true', 'yes'].includes(String(env.IDP_EXIT_ON_STDIN_CLOSE || '').toLowerCase()),
  };
}

// Settings the realm file gives may not come from the environment as well: which one won would be a guess.
const FROM_REALM = ['IDP_REALM', 'IDP_CLIENT_ID', 'IDP_CLIENT_SECRET', 'IDP_REDIRECT_URIS',
  'IDP_POST_LOGOUT_REDIRECT_URIS', 'IDP_BACKCHANNEL_LOGOUT_URI', 'IDP_USERS_FILE'];

function realmSettings(env, layout) {
  if (layout !== 'keycloak') throw new Error('IDP_REALM_FILE is a Keycloak realm: it needs IDP_LAYOUT=keycloak');
  const both = FROM_REALM.filter((k) => env[k]);
  if (both.length) throw new Error(`IDP_REALM_FILE gives ${both.join(', ')}: unset them`);
  const file = path.resolve(env.IDP_REALM_FILE);
  return { file, ...loadRealm(file, env, { rootUrlOverride: env.IDP_REALM_ROOT_URL || '' }) };
}
