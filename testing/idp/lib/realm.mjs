// IDP_REALM_FILE: a Keycloak realm export (the one `deploy/` imports) read as Keycloak's --import-realm reads it,
// so the tests run against the client settings and users a deployment imports. Only what this provider models is
// taken: the realm name, one client, its service account's realm-management roles and the users.
import { readFileSync } from 'node:fs';

import { uuidFromName } from './users.mjs';

// Keycloak resolves ${VAR} (and ${VAR:default}) from the environment in every string of the file at import.
export function substitute(text, env, file) {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (whole, name, dflt) => {
    const v = env[name];
    if (v !== undefined && v !== '') return v;
    if (dflt !== undefined) return dflt;
    throw new Error(`${file}: \${${name}} is used but ${name} is not set in the environment`);
  });
}

// Keycloak: a redirect URI (or back-channel URL) starting with "/" is relative to the client's rootUrl.
function resolve(uri, rootUrl) {
  if (!uri.startsWith('/')) return uri;
  if (!rootUrl) throw new Error(`relative URI ${uri} but the client has no rootUrl`);
  return rootUrl.replace(/\/$/, '') + uri;
}

function mapper(client, type) {
  return (client.protocolMappers || []).find((m) => m.protocolMapper === type);
}

const isTrue = (v) => v === true || v === 'true';

function readClient(client, { rootUrlOverride }) {
  const attrs = client.attributes || {};
  const rootUrl = rootUrlOverride || client.rootUrl || '';
  const redirectUris = (client.redirectUris || []).map((u) => resolve(u, rootUrl));
  // "+" stands for the redirect URIs; Keycloak keeps several post-logout URIs in one attribute split by "##".
  const postLogout = String(attrs['post.logout.redirect.uris'] || '').split('##').filter(Boolean)
    .flatMap((u) => (u === '+' ? redirectUris : [resolve(u, rootUrl)]));
  const groups = mapper(client, 'oidc-group-membership-mapper');
  const audience = mapper(client, 'oidc-audience-mapper');
  if (client.publicClient) throw new Error(`client ${client.clientId} is public; Keyward needs a confidential client`);
  if (!client.secret) throw new Error(`client ${client.clientId} has no secret`);
  return {
    id: client.clientId,
    secret: client.secret,
    redirectUris,
    postLogoutRedirectUris: postLogout,
    backchannelLogoutUri: attrs['backchannel.logout.url'] ? resolve(attrs['backchannel.logout.url'], rootUrl) : '',
    backchannelSessionRequired: isTrue(attrs['backchannel.logout.session.required']),
    pkceRequired: attrs['pkce.code.challenge.method'] === 'S256',
    standardFlow: client.standardFlowEnabled !== false,
    serviceAccount: isTrue(client.serviceAccountsEnabled),
    // Keycloak's access tokens name the `account` client unless an audience mapper adds this one.
    audience: audience?.config?.['included.client.audience'] || 'account',
    groupsClaim: groups ? {
      name: groups.config?.['claim.name'] || 'groups',
      fullPath: isTrue(groups.config?.['full.path'] ?? 'true'),
    } : null,
  };
}

function readUser(u, realm, clientId) {
  const password = (u.credentials || []).find((c) => c.type === 'password' && !c.temporary)?.value;
  const name = [u.firstName, u.lastName].filter(Boolean).join(' ');
  return {
    sub: u.id || uuidFromName(`user:${realm}`, u.username),
    username: u.username,
    ...(password !== undefined ? { password } : {}),
    ...(u.email ? { email: u.email } : {}),
    email_verified: !!u.emailVerified,
    ...(name ? { name } : {}),
    ...(u.firstName ? { given_name: u.firstName } : {}),
    ...(u.lastName ? { family_name: u.lastName } : {}),
    // group paths ("/admins"); this provider's groups are top-level names
    groups: (u.groups || []).map((g) => g.replace(/^\//, '')),
    roles: [...(u.realmRoles || [])],
    enabled: u.enabled !== false,
    type: u.serviceAccountClientId === clientId ? 'service_account' : 'internal',
  };
}

export function loadRealm(file, env, { rootUrlOverride } = {}) {
  const realm = JSON.parse(substitute(readFileSync(file, 'utf8'), env, file));
  if (!realm.realm) throw new Error(`${file}: no "realm" name`);
  const clients = (realm.clients || []).filter((c) => !c.bearerOnly && c.protocol !== 'saml' && c.secret !== undefined);
  const wanted = env.IDP_REALM_CLIENT || 'keyward';
  const raw = clients.find((c) => c.clientId === wanted);
  if (!raw) throw new Error(`${file}: no confidential client ${wanted}`);
  const client = readClient(raw, { rootUrlOverride });
  const serviceUser = (realm.users || []).find((u) => u.serviceAccountClientId === client.id);
  return {
    realm: realm.realm,
    client,
    // as Keycloak's tokens carry them: resource_access.{client}.roles
    serviceAccountRoles: Object.fromEntries(Object.entries(serviceUser?.clientRoles || {})
      .map(([c, roles]) => [c, { roles: [...roles] }])),
    adminEvents: { enabled: !!realm.adminEventsEnabled, details: !!realm.adminEventsDetailsEnabled },
    users: (realm.users || []).map((u) => readUser(u, realm.realm, client.id)),
  };
}
