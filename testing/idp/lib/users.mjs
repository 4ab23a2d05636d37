// User directory: fixture users (+ users added through /__control) and N generated users.
// Generated users are computed from their index on demand (nothing is materialised), so
// IDP_GENERATED_USERS=100000 costs no start-up time; edits/deletes of generated users are kept
// as per-index overrides.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const GEN_PK_BASE = 1_000_000; // authentik pk of generated user n is GEN_PK_BASE + n
const GEN_CREATED_BASE = Date.UTC(2024, 0, 1); // generated user n was "created" n minutes later
const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Felix', 'Greta', 'Hugo', 'Ida', 'Jonas', 'Kira', 'Lukas', 'Mia', 'Noah', 'Olga', 'Paul'];
const LAST = ['Berg', 'Fischer', 'Hansen', 'Jensen', 'Keller', 'Lang', 'Meyer', 'Novak', 'Olsen', 'Peters', 'Roth', 'Schulz', 'Weber', 'Zimmer'];
const GEN_SUB_RE = /^00000000-0000-4000-8000-(\d{12})$/;
const KNOWN = new Set(['sub', 'username', 'password', 'email', 'email_verified', 'name', 'given_name', 'family_name',
  'picture', 'groups', 'roles', 'enabled', 'type', 'attributes', 'created', 'updated', 'last_login', 'is_superuser', 'pk']);

// Group, role and realm names are few, but a listing asks for them once per user: a hash each time was a third
// of the cost of serving an authentik page.
const uuidsByName = new Map();

export function uuidFromName(ns, name) {
  const key = `${ns}:${name}`;
  let id = uuidsByName.get(key);
  if (id === undefined) {
    const h = createHash('sha1').update(key).digest('hex');
    id = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    uuidsByName.set(key, id);
  }
  return id;
}

export class UserError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function validate(u, { partial = false } = {}) {
  for (const k of Object.keys(u)) {
    if (!KNOWN.has(k)) throw new UserError(400, `unknown user field ${JSON.stringify(k)}`);
  }
  const str = (k, { nullable = true } = {}) => {
    if (u[k] === undefined) return;
    if (u[k] === null && nullable) return;
    if (typeof u[k] !== 'string') throw new UserError(400, `${k} must be a string${nullable ? ' or null' : ''}`);
  };
  ['email', 'name', 'given_name', 'family_name', 'picture', 'password', 'last_login'].forEach((k) => str(k));
  str('username', { nullable: false });
  str('sub', { nullable: false });
  str('type', { nullable: false });
  for (const k of ['groups', 'roles']) {
    if (u[k] !== undefined && (!Array.isArray(u[k]) || u[k].some((g) => typeof g !== 'string'))) throw new UserError(400, `${k} must be an array of strings`);
  }
  for (const k of ['enabled', 'email_verified', 'is_superuser']) {
    if (u[k] !== undefined && typeof u[k] !== 'boolean') throw new UserError(400, `${k} must be a boolean`);
  }
  if (u.attributes !== undefined && (u.attributes === null || typeof u.attributes !== 'object' || Array.isArray(u.attributes))) {
    throw new UserError(400, 'attributes must be an object');
  }
  if (u.created !== undefined && !(typeof u.created === 'number' || (typeof u.created === 'string' && !Number.isNaN(Date.parse(u.created))))) {
    throw new UserError(400, 'created must be epoch ms or an ISO date');
  }
  if (u.type !== undefined && !['internal', 'external', 'service_account', 'internal_service_account'].includes(u.type)) {
    throw new UserError(400, 'type must be internal, external, service_account or internal_service_account');
  }
  if (!partial) {
    if (!u.sub) throw new UserError(400, 'sub is required');
    if (!u.username) throw new UserError(400, 'username is required');
  }
  // Keycloak's subjects are UUIDs, but OIDC allows any string of up to 255 ASCII characters (NUL included),
  // and the tests try the odd ones a generic provider may send.
  if (u.sub !== undefined && !(typeof u.sub === 'string' && u.sub.length >= 1 && u.sub.length <= 255)) {
    throw new UserError(400, 'sub must be a string of 1 to 255 characters');
  }
}

function normalize(u) {
  const out = {
    sub: u.sub.toLowerCase(),
    username: u.username.toLowerCase(),
    password: u.password ?? undefined,
    email: u.email || undefined,
    email_verified: u.email_verified ?? false,
    name: u.name || undefined,
    given_name: u.given_name || undefined,
    family_name: u.family_name || undefined,
    picture: u.picture || undefined,
    groups: [...(u.groups || [])],
    roles: [...(u.roles || [])],
    enabled: u.enabled ?? true,
    type: u.type || 'internal',
    attributes: u.attributes ? { ...u.attributes } : {},
    created: typeof u.created === 'string' ? Date.parse(u.created) : (u.created ?? Date.now()),
    last_login: u.last_login || null,
    is_superuser: u.is_superuser,
    pk: u.pk,
  };
  out.updated = typeof u.updated === 'number' ? u.updated : out.created;
  return out;
}

export function displayName(u) {
  if (u.name) return u.name;
  const n = [u.given_name, u.family_name].filter(Boolean).join(' ');
  return n || undefined;
}

export class UserStore {
  // `list` (users already read, e.g. from a realm file) instead of `file`.
  constructor({ file, list: given, generated }) {
    this.explicit = new Map(); // sub -> user (insertion order == pk order)
    this.byUsername = new Map(); // username -> sub (explicit users only)
    this.byEmail = new Map(); // lower email -> sub (explicit users only)
    this.nextPk = 1;
    this.generated = generated;
    this.genWidth = Math.max(6, String(generated).length);
    this.genOverrides = new Map(); // index -> user
    this.genDeleted = new Set(); // index
    this.genDeletedSorted = null;
    this.version = 0;
    this.cache = new Map();
    const raw = given ?? JSON.parse(readFileSync(file, 'utf8'));
    const list = Array.isArray(raw) ? raw : raw.users;
    if (!Array.isArray(list)) throw new Error(`${file}: expected an array of users (or {"users": [...]})`);
    const baseCreated = Date.UTC(2023, 5, 1);
    list.forEach((u, i) => {
      validate(u);
      this.#insertExplicit(normalize({ created: baseCreated + i * 86_400_000, ...u }));
    });
  }

  #changed() {
    this.version += 1;
    this.cache.clear();
    this.genDeletedSorted = null;
  }

  #index(u, add) {
    if (add) {
      this.byUsername.set(u.username, u.sub);
      if (u.email) this.byEmail.set(u.email.toLowerCase(), u.sub);
    } else {
      if (this.byUsername.get(u.username) === u.sub) this.byUsername.delete(u.username);
      if (u.email && this.byEmail.get(u.email.toLowerCase()) === u.sub) this.byEmail.delete(u.email.toLowerCase());
    }
  }

  #insertExplicit(u) {
    if (this.#genIndexOfUsername(u.username) !== undefined) throw new UserError(409, `username ${u.username} is reserved for generated users`);
    const other = this.byUsername.get(u.username);
    if (other && other !== u.sub) throw new UserError(409, `username ${u.username} already taken`);
    const prev = this.explicit.get(u.sub);
    if (prev) {
      this.#index(prev, false);
      u.pk = prev.pk;
    } else if (u.pk === undefined) {
      u.pk = this.nextPk;
    }
    if (!Number.isInteger(u.pk) || u.pk < 1 || u.pk >= GEN_PK_BASE) throw new UserError(400, 'pk must be an integer in [1, 999999]');
    this.nextPk = Math.max(this.nextPk, u.pk + 1);
    this.explicit.set(u.sub, u);
    this.#index(u, true);
    this.#changed();
    return u;
  }

  // ---- generated users -------------------------------------------------------------------------
  #pad(n) {
    return String(n).padStart(this.genWidth, '0');
  }

  #genIndexOfUsername(username) {
    const m = /^user(\d+)$/.exec(username);
    if (!m || m[1].length !== this.genWidth) return undefined;
    const i = Number(m[1]) - 1;
    return i >= 0 && i < this.generated ? i : undefined;
  }

  #genIndexOfSub(sub) {
    const m = GEN_SUB_RE.exec(sub);
    if (!m) return undefined;
    const i = Number(m[1]) - 1;
    return i >= 0 && i < this.generated ? i : undefined;
  }

  #gen(i) {
    if (this.genDeleted.has(i)) return undefined;
    const o = this.genOverrides.get(i);
    if (o) return o;
    const n = i + 1;
    const p = this.#pad(n);
    const given = FIRST[n % FIRST.length];
    const family = LAST[Math.floor(n / FIRST.length) % LAST.length];
    return {
      sub: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
      username: `user${p}`,
      password: `user${p}-pw`,
      email: `user${p}@example.com`,
      email_verified: true,
      name: `${given} ${family} ${p}`,
      given_name: given,
      family_name: `${family} ${p}`,
      picture: undefined,
      groups: ['users'],
      roles: ['user'],
      enabled: true,
      type: 'internal',
      attributes: {},
      created: GEN_CREATED_BASE + n * 60_000,
      last_login: null,
      pk: GEN_PK_BASE + n,
      generated: true,
    };
  }

  #deletedSorted() {
    if (!this.genDeletedSorted) this.genDeletedSorted = [...this.genDeleted].sort((a, b) => a - b);
    return this.genDeletedSorted;
  }

  // ---- lookups ---------------------------------------------------------------------------------
  get(sub) {
    if (typeof sub !== 'string') return undefined;
    const s = sub.toLowerCase();
    const u = this.explicit.get(s);
    if (u) return u;
    const i = this.#genIndexOfSub(s);
    return i === undefined ? undefined : this.#gen(i);
  }

  getByPk(pk) {
    if (pk > GEN_PK_BASE) {
      const i = pk - GEN_PK_BASE - 1;
      return i < this.generated ? this.#gen(i) : undefined;
    }
    for (const u of this.explicit.values()) if (u.pk === pk) return u;
    return undefined;
  }

  findLogin(login) {
    if (typeof login !== 'string' || !login) return undefined;
    const l = login.trim().toLowerCase();
    let sub = this.byUsername.get(l) || this.byEmail.get(l);
    if (sub) return this.explicit.get(sub);
    let i = this.#genIndexOfUsername(l);
    if (i === undefined) {
      const m = /^(user\d+)@example\.com$/.exec(l);
      if (m) i = this.#genIndexOfUsername(m[1]);
    }
    return i === undefined ? undefined : this.#gen(i);
  }

  // ---- mutations (control API) -----------------------------------------------------------------
  upsert(body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new UserError(400, 'expected a JSON object');
    validate(body);
    const sub = body.sub.toLowerCase();
    const gi = this.#genIndexOfSub(sub);
    const existing = this.get(sub);
    const u = normalize({ created: existing?.created, ...body });
    u.updated = Date.now();
    if (gi !== undefined) {
      const gOther = this.#genIndexOfUsername(u.username);
      if (this.byUsername.has(u.username) || (gOther !== undefined && gOther !== gi)) {
        throw new UserError(409, `username ${u.username} already taken`);
      }
      u.pk = GEN_PK_BASE + gi + 1;
      u.generated = true;
      this.genDeleted.delete(gi);
      this.genOverrides.set(gi, u);
      this.#changed();
      return { user: u, created: !existing };
    }
    if (body.pk === undefined) delete u.pk;
    this.#insertExplicit(u);
    return { user: u, created: !existing };
  }

  patch(sub, body) {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new UserError(400, 'expected a JSON object');
    const cur = this.get(sub);
    if (!cur) throw new UserError(404, 'user not found');
    validate(body, { partial: true });
    if (body.sub !== undefined && body.sub.toLowerCase() !== cur.sub) throw new UserError(400, 'sub cannot be changed');
    const merged = { ...cur };
    for (const [k, v] of Object.entries(body)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    delete merged.generated;
    return this.upsert(merged).user;
  }

  remove(sub) {
    const s = String(sub).toLowerCase();
    const u = this.explicit.get(s);
    if (u) {
      this.explicit.delete(s);
      this.#index(u, false);
      this.#changed();
      return true;
    }
    const i = this.#genIndexOfSub(s);
    if (i !== undefined && !this.genDeleted.has(i)) {
      this.genDeleted.add(i);
      this.genOverrides.delete(i);
      this.#changed();
      return true;
    }
    return false;
  }

  touchLogin(u) {
    const now = new Date().toISOString();
    if (u.generated) {
      const i = u.pk - GEN_PK_BASE - 1;
      const copy = { ...u, last_login: now };
      this.genOverrides.set(i, copy);
    } else {
      u.last_login = now;
    }
  }

  // ---- listing ---------------------------------------------------------------------------------
  // `visible(u)` filters explicit users (e.g. hide service accounts in the Keycloak layout).
  explicitList(key, visible) {
    let arr = this.cache.get(key);
    if (!arr) {
      arr = [...this.explicit.values()].filter(visible);
      this.cache.set(key, arr);
    }
    return arr;
  }

  count(key, visible) {
    return this.explicitList(key, visible).length + this.generated - this.genDeleted.size;
  }

  // users [offset, offset+limit) in listing order (explicit by pk, then generated by index)
  slice(key, visible, offset, limit) {
    const ex = this.explicitList(key, visible);
    const out = [];
    let off = offset;
    if (off < ex.length) {
      for (let j = off; j < ex.length && out.length < limit; j += 1) out.push(ex[j]);
      off = 0;
    } else {
      off -= ex.length;
    }
    if (out.length >= limit || !this.generated) return out;
    // map `off` (position among non-deleted generated users) to an index
    let i = off;
    for (const d of this.#deletedSorted()) {
      if (d <= i) i += 1;
      else break;
    }
    for (; i < this.generated && out.length < limit; i += 1) {
      const u = this.#gen(i);
      if (u) out.push(u);
    }
    return out;
  }

  // full scan with a predicate (only used when a search filter is given)
  *all(visible) {
    for (const u of this.explicit.values()) if (visible(u)) yield u;
    for (let i = 0; i < this.generated; i += 1) {
      const u = this.#gen(i);
      if (u) yield u;
    }
  }
}
