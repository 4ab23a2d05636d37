// In-memory storage adapter for oidc-provider. One storage is shared by every Provider instance the
// server builds (key rotation rebuilds the Provider), so sessions, grants, codes and refresh tokens
// survive a rotation. Unlike the stock memory adapter it has no LRU size cap (load tests issue many tokens).
const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode', 'ClientCredentials',
]);

export function createSharedStorage() {
  const store = new Map(); // `${model}:${id}` -> { payload, exp (ms) | undefined }
  const grants = new Map(); // grantId -> Set(keys)
  const uids = new Map(); // session uid -> session id

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of store) if (v.exp !== undefined && v.exp < now) store.delete(k);
    for (const [g, keys] of grants) {
      for (const k of keys) if (!store.has(k)) keys.delete(k);
      if (!keys.size) grants.delete(g);
    }
    for (const [uid, id] of uids) if (!store.has(`Session:${id}`)) uids.delete(uid);
  }, 30_000);
  sweep.unref();

  function get(key) {
    const e = store.get(key);
    if (!e) return undefined;
    if (e.exp !== undefined && e.exp < Date.now()) {
      store.delete(key);
      return undefined;
    }
    return e;
  }

  class SharedMemoryAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      // keep entries 60 s past their expiry; the provider checks `exp` itself
      const exp = typeof expiresIn === 'number' ? Date.now() + (expiresIn + 60) * 1000 : undefined;
      if (this.name === 'Session' && payload.uid) uids.set(payload.uid, id);
      if (grantable.has(this.name) && payload.grantId) {
        let set = grants.get(payload.grantId);
        if (!set) grants.set(payload.grantId, (set = new Set()));
        set.add(key);
      }
      store.set(key, { payload, exp });
    }

    async find(id) {
      return get(this.key(id))?.payload;
    }

    async findByUid(uid) {
      const id = uids.get(uid);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode() {
      return undefined;
    }

    async consume(id) {
      const e = get(this.key(id));
      if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const keys = grants.get(grantId);
      if (!keys) return;
      for (const k of keys) store.delete(k);
      grants.delete(grantId);
    }
  }

  return {
    Adapter: SharedMemoryAdapter,
    size: () => store.size,
    // revoke everything issued under a grant (+ the grant itself)
    revokeGrant(grantId) {
      const keys = grants.get(grantId);
      if (keys) for (const k of keys) store.delete(k);
      grants.delete(grantId);
      store.delete(`Grant:${grantId}`);
    },
  };
}
