// Builds an oidc-provider instance for a layout and a set of signing keys. The server rebuilds the
// Provider on key rotation; storage (adapter), cookie keys, users and counters are shared.
import Provider, { interactionPolicy } from 'oidc-provider';

import { displayName } from './users.mjs';
import * as views from './views.mjs';

export const DEFAULT_RESOURCE = 'urn:keyward:test-idp:api';
const RS_SCOPE = 'openid profile email groups roles offline_access';

// ---- layouts -----------------------------------------------------------------------------------
export function makeLayout(cfg, base) {
  if (cfg.layout === 'keycloak') {
    const issuerPath = `/realms/${cfg.realm}`;
    const oidc = '/protocol/openid-connect';
    return {
      name: 'keycloak',
      issuer: `${base}${issuerPath}`,
      issuerPath,
      mount: issuerPath,
      routes: {
        authorization: `${oidc}/auth`,
        token: `${oidc}/token`,
        userinfo: `${oidc}/userinfo`,
        jwks: `${oidc}/certs`,
        end_session: `${oidc}/logout`,
        introspection: `${oidc}/token/introspect`,
        revocation: `${oidc}/revoke`,
      },
      interactionBase: `${issuerPath}/interaction`,
      trailingSlash: false,
      // returns the provider-relative url (with query) for a request path, or undefined
      map(pathname, search) {
        if (!pathname.startsWith(`${issuerPath}/`)) return undefined;
        return { url: pathname.slice(issuerPath.length) + search, mount: issuerPath };
      },
    };
  }
  const { slug } = cfg;
  const mount = '/application/o';
  const issuerPath = `${mount}/${slug}/`;
  return {
    name: 'authentik',
    issuer: `${base}${issuerPath}`,
    issuerPath,
    mount,
    routes: {
      authorization: '/authorize',
      token: '/token',
      userinfo: '/userinfo',
      introspection: '/introspect',
      revocation: '/revoke',
      jwks: `/${slug}/jwks`,
      end_session: `/${slug}/end-session`,
    },
    interactionBase: `${mount}/${slug}/interaction`,
    trailingSlash: true,
    map(pathname, search) {
      if (!pathname.startsWith(`${mount}/`)) return undefined;
      const rest = pathname.slice(mount.length);
      const wk = `/${slug}/.well-known/`;
      if (rest.startsWith(wk)) {
        // discovery lives under the app slug; the provider serves it at <mount>/.well-known/...
        return { url: `/.well-known/${rest.slice(wk.length)}${search}`, mount };
      }
      if (rest.startsWith('/.well-known/')) return undefined;
      return { url: rest + search, mount };
    },
  };
}

// ---- claims ------------------------------------------------------------------------------------
// The groups claim as a realm's group-membership mapper shapes it; without a realm file, `groups` with names.
const DEFAULT_GROUPS = { name: 'groups', fullPath: false };
const groupsClaimOf = (client) => (client === undefined ? DEFAULT_GROUPS : client.groupsClaim);

export function userClaims(u, layout, client) {
  const c = {
    sub: u.sub,
    email_verified: !!u.email_verified,
    preferred_username: u.username,
  };
  const g = groupsClaimOf(client);
  if (g) c[g.name] = u.groups.map((x) => (g.fullPath ? `/${x}` : x));
  const name = displayName(u);
  if (name) c.name = name;
  if (u.given_name) c.given_name = u.given_name;
  if (u.family_name) c.family_name = u.family_name;
  if (u.email) c.email = u.email;
  if (u.picture) c.picture = u.picture;
  if (layout.name === 'keycloak') c.realm_access = { roles: [...u.roles] };
  if (layout.name === 'authentik') c.nickname = u.username;
  return c;
}

export function claimsConfig(layout, client) {
  const kc = layout.name === 'keycloak';
  const g = groupsClaimOf(client);
  return {
    openid: ['sub', ...(g ? [g.name] : []), ...(kc ? ['realm_access'] : [])],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', ...(kc ? [] : ['nickname'])],
    groups: g ? [g.name] : [],
    roles: kc ? ['realm_access'] : [],
  };
}

export function isLoginable(u) {
  return !!u && u.enabled !== false && (u.type === 'internal' || u.type === 'external') && typeof u.password === 'string';
}

// ---- provider ----------------------------------------------------------------------------------
export function createProvider({
  cfg, layout, keys, storage, users, cookieKeys, state,
}) {
  const kc = layout.name === 'keycloak';
  const title = kc ? `Sign in to ${cfg.realm}` : 'Welcome to authentik!';

  const policy = interactionPolicy.base();
  // a session whose account was disabled/removed must log in again (instead of crashing on a missing grant)
  policy.get('login').checks.add(new interactionPolicy.Check(
    'account_unusable',
    'the session account is disabled or was removed',
    (ctx) => (ctx.oidc.session.accountId && !ctx.oidc.account
      ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT),
  ));

  const configuration = {
    adapter: storage.Adapter,
    clients: [{
      client_id: cfg.client.id,
      client_secret: cfg.client.secret,
      client_name: cfg.client.id,
      redirect_uris: cfg.client.redirectUris,
      post_logout_redirect_uris: cfg.client.postLogoutRedirectUris,
      ...(cfg.client.backchannelLogoutUri ? {
        backchannel_logout_uri: cfg.client.backchannelLogoutUri,
        backchannel_logout_session_required: cfg.client.backchannelSessionRequired,
      } : {}),
      grant_types: [
        ...(cfg.client.standardFlow ? ['authorization_code', 'refresh_token'] : []),
        ...(cfg.client.serviceAccount ? ['client_credentials'] : []),
      ],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys },
    // oidc-provider refuses to call loopback addresses (SSRF guard); the relying party under test lives there.
    fetch(url, options) {
      delete options.dispatcher;
      return globalThis.fetch(url, options);
    },
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    routes: layout.routes,
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', ...(kc ? ['roles'] : [])],
    claims: claimsConfig(layout, cfg.client),
    conformIdTokenClaims: false,
    pkce: { required: () => cfg.client.pkceRequired },
    responseTypes: ['code'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, client, oneOf) => oneOf || DEFAULT_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => ({
          audience: cfg.client.audience || client.clientId,
          accessTokenFormat: 'jwt',
          scope: RS_SCOPE,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          if (!cfg.logoutConfirm && ctx.oidc.entities.IdTokenHint) {
            // Keycloak-like: a valid id_token_hint logs out without a confirmation page
            await autoLogout(ctx);
            return;
          }
          ctx.body = views.logoutPage({ title: 'Sign out', form });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = views.loggedOutPage('Signed out');
        },
      },
    },
    interactions: {
      policy,
      url: (ctx, interaction) => `${state.base}${layout.interactionBase}/${interaction.uid}`,
    },
    async findAccount(ctx, sub) {
      const u = users.get(sub);
      if (!isLoginable(u)) return undefined;
      return {
        accountId: u.sub,
        async claims() {
          // re-read: claims must reflect /__control edits made after login
          return userClaims(users.get(sub) || u, layout, cfg.client);
        },
      };
    },
    async loadExistingGrant(ctx) {
      // No consent screen (Keycloak default): grant whatever the client asked for.
      const { oidc } = ctx;
      const { accountId } = oidc.account;
      const clientId = oidc.client.clientId;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (grant && (grant.accountId !== accountId || grant.clientId !== clientId)) grant = undefined;
      if (!grant) grant = new oidc.provider.Grant({ accountId, clientId });
      const oidcScopes = [...oidc.requestParamOIDCScopes];
      if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
      const claims = [...oidc.requestParamClaims];
      if (claims.length) grant.addOIDCClaims(claims);
      for (const [indicator, rs] of Object.entries(oidc.resourceServers)) {
        const s = [...oidc.requestParamScopes].filter((x) => rs.scopes.has(x));
        if (s.length) grant.addResourceScope(indicator, s.join(' '));
      }
      await grant.save();
      return grant;
    },
    issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
    async extraTokenClaims(ctx, token) {
      if (token.kind !== 'AccessToken' && token.kind !== 'ClientCredentials') return undefined;
      const extra = { azp: token.clientId, typ: 'Bearer' };
      if (token.accountId) {
        const u = users.get(token.accountId);
        if (u) {
          const { sub, ...rest } = userClaims(u, layout, cfg.client);
          Object.assign(extra, rest);
        }
        if (token.sessionUid) extra.sid = token.sessionUid;
      } else {
        extra.preferred_username = `service-account-${token.clientId}`;
        if (kc) extra.realm_access = { roles: [`default-roles-${cfg.realm}`] };
        // Keycloak names the service account's client roles; the admin API checks them (realm file only).
        if (cfg.realmFile) extra.resource_access = cfg.realmFile.serviceAccountRoles;
      }
      return extra;
    },
    ttl: {
      AccessToken: () => cfg.ttl.accessToken,
      ClientCredentials: () => state.faults.admin_token_ttl_s ?? cfg.ttl.accessToken,
      IdToken: () => cfg.ttl.idToken,
      RefreshToken: () => cfg.ttl.refreshToken,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: cfg.ttl.session,
      Grant: cfg.ttl.session,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = views.errorPage('Error', out);
    },
  };

  const provider = new Provider(layout.issuer, configuration);

  async function autoLogout(ctx) {
    const { session } = ctx.oidc;
    const st = session.state || {};
    // as the library's own end-session action does: each client with a back-channel URI hears of it
    await Promise.all(Object.keys(session.authorizations || {}).map(async (clientId) => {
      const client = await provider.Client.find(clientId);
      if (!client?.backchannelLogoutUri) return;
      const sid = session.sidFor(clientId);
      try {
        await client.backchannelLogout(session.accountId, sid);
        provider.emit('backchannel.success', ctx, client, session.accountId, sid);
      } catch (err) {
        provider.emit('backchannel.error', ctx, err, client, session.accountId, sid);
      }
    }));
    for (const { grantId } of Object.values(session.authorizations || {})) {
      if (grantId) storage.revokeGrant(grantId);
    }
    await session.destroy();
    ctx.cookies.set(provider.cookieName('session'), null, configuration.cookies.long);
    let target;
    if (st.postLogoutRedirectUri) {
      const u = new URL(st.postLogoutRedirectUri);
      if (st.state != null) u.searchParams.set('state', st.state);
      target = u.href;
    } else {
      target = ctx.oidc.urlFor('end_session_success');
    }
    ctx.oidc.provider.emit('end_session.success', ctx);
    ctx.status = 303;
    ctx.type = undefined;
    ctx.redirect(target);
  }

  // discovery: authentik advertises its endpoints with a trailing slash
  provider.use(async (ctx, next) => {
    await next();
    // A refresh need not return an ID token (OIDC Core 12.2): the `refresh_without_id_token` fault leaves it out.
    if (ctx.oidc?.route === 'token' && state.faults.refresh_without_id_token
      && ctx.oidc.params?.grant_type === 'refresh_token' && ctx.body && typeof ctx.body === 'object') {
      delete ctx.body.id_token;
    }
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      if (layout.trailingSlash) {
        for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
          'end_session_endpoint', 'introspection_endpoint', 'revocation_endpoint']) {
          if (typeof ctx.body[k] === 'string' && !ctx.body[k].endsWith('/')) ctx.body[k] += '/';
        }
      }
    }
  });

  provider.on('server_error', (ctx, err) => {
    console.error('[idp] server_error', ctx?.method, ctx?.path, err);
  });
  provider.on('grant.success', (ctx) => {
    const gt = ctx.oidc?.params?.grant_type || 'unknown';
    state.stats.token_requests.by_grant[gt] = (state.stats.token_requests.by_grant[gt] || 0) + 1;
  });
  provider.on('grant.error', (ctx, err) => {
    state.stats.token_requests.errors += 1;
    if (cfg.log) console.error('[idp] grant.error', err?.error, err?.error_description);
  });
  provider.on('end_session.success', () => {
    state.stats.logouts += 1;
  });
  provider.on('backchannel.success', () => {
    state.stats.backchannel_logouts.ok += 1;
  });
  provider.on('backchannel.error', (ctx, err) => {
    state.stats.backchannel_logouts.failed += 1;
    console.error('[idp] backchannel.error', err?.message);
  });
  return provider;
}
