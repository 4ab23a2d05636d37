// The provider's event log for changes made through /__control/users: Keycloak admin events
// (AdminEventRepresentation, GET /admin/realms/{realm}/admin-events, /events/config) and authentik events
// (GET /api/v3/events/events/). Both layouts record both shapes; each serves its own.
import crypto from 'node:crypto';

import { uuidFromName } from './users.mjs';

function intParam(v, dflt) {
  if (v === null || v === undefined || v === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : NaN;
}

// Keycloak reads dateFrom/dateTo as epoch milliseconds (26.1 on) or a whole day `yyyy-MM-dd` (any version);
// a day runs from its start (dateFrom) or to its end (dateTo).
function kcTime(v, endOfDay) {
  if (v === null || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(`${v}T00:00:00Z`);
  if (Number.isNaN(t)) return NaN;
  return endOfDay ? t + 86_400_000 - 1 : t;
}

export class EventLog {
  constructor() {
    this.admin = []; // Keycloak admin events, oldest first
    this.authentik = []; // authentik events, oldest first
    this.config = { adminEventsEnabled: true, adminEventsDetailsEnabled: true, eventsEnabled: false };
    this.lastTime = 0;
  }

  // Distinct, increasing times unless `sameTime` asks for ties (Keycloak stores milliseconds; ties happen).
  #now() {
    const t = Math.max(Date.now(), this.lastTime);
    this.lastTime = t;
    return t;
  }

  // A change to user `after` (undefined when deleted) that was `before` (undefined when created).
  record({ before, after, realm, groupsAdded = [], groupsRemoved = [] }) {
    const time = this.#now();
    const u = after || before;
    const op = !before ? 'CREATE' : !after ? 'DELETE' : 'UPDATE';
    if (this.config.adminEventsEnabled) {
      const base = {
        time,
        realmId: uuidFromName('realm', realm),
        authDetails: {
          realmId: uuidFromName('realm', 'master'),
          clientId: uuidFromName('client', 'admin-cli'),
          userId: uuidFromName('user', 'admin'),
          ipAddress: '127.0.0.1',
        },
      };
      const rep = after && this.config.adminEventsDetailsEnabled
        ? JSON.stringify({ id: after.sub, username: after.username, enabled: after.enabled !== false })
        : undefined;
      const changed = !before || !after || groupsAdded.length + groupsRemoved.length === 0
        || JSON.stringify({ ...before, groups: [], updated: 0 }) !== JSON.stringify({ ...after, groups: [], updated: 0 });
      if (changed) {
        this.admin.push({
          id: crypto.randomUUID(), ...base, operationType: op, resourceType: 'USER', resourcePath: `users/${u.sub}`, ...(rep ? { representation: rep } : {}),
        });
      }
      for (const [g, kind] of [...groupsAdded.map((g) => [g, 'CREATE']), ...groupsRemoved.map((g) => [g, 'DELETE'])]) {
        const gid = uuidFromName('group', g);
        this.admin.push({
          id: crypto.randomUUID(),
          ...base,
          operationType: kind,
          resourceType: 'GROUP_MEMBERSHIP',
          resourcePath: `users/${u.sub}/groups/${gid}`,
          ...(this.config.adminEventsDetailsEnabled ? { representation: JSON.stringify({ id: gid, name: g, path: `/${g}` }) } : {}),
        });
      }
    }
    const action = { CREATE: 'model_created', UPDATE: 'model_updated', DELETE: 'model_deleted' }[op];
    this.authentik.push({
      pk: crypto.randomUUID(),
      user: { pk: 1, email: 'root@localhost', username: 'akadmin' },
      action,
      app: 'authentik.events.signals',
      context: {
        http_request: { args: {}, path: `/api/v3/core/users/${u.pk}/`, method: { CREATE: 'POST', UPDATE: 'PATCH', DELETE: 'DELETE' }[op] },
        model: {
          app: 'authentik_core', name: u.username, model_name: 'user', pk: u.pk,
        },
      },
      client_ip: '127.0.0.1',
      created: new Date(time).toISOString(),
      expires: new Date(time + 365 * 86_400_000).toISOString(),
      brand: { pk: uuidFromName('brand', 'default'), app: 'authentik_brands', name: 'Default brand', model_name: 'brand' },
    });
  }

  // GET /admin/realms/{realm}/admin-events: newest first unless `direction=asc`, then first/max.
  keycloakAdminEvents(q) {
    const from = kcTime(q.get('dateFrom'), false);
    const to = kcTime(q.get('dateTo'), true);
    if (Number.isNaN(from) || Number.isNaN(to)) return { status: 400, body: { error: 'Invalid value for \'Date(From|To)\', expected format is yyyy-MM-dd or an Epoch timestamp' } };
    const types = q.getAll('resourceTypes');
    const ops = q.getAll('operationTypes');
    const first = Math.max(0, intParam(q.get('first'), 0) || 0);
    let max = intParam(q.get('max'), 100);
    if (Number.isNaN(max) || max < 0) max = 100;
    let list = this.admin.filter((e) => (from === undefined || e.time >= from) && (to === undefined || e.time <= to)
      && (!types.length || types.includes(e.resourceType)) && (!ops.length || ops.includes(e.operationType)));
    if ((q.get('direction') || 'desc').toLowerCase() !== 'asc') list = [...list].reverse();
    return { status: 200, body: list.slice(first, first + max) };
  }

  // GET /api/v3/events/events/: `action` matches as a substring (authentik's `icontains`), `ordering`
  // `created` or `-created` (the default), page/page_size.
  authentikEvents(q) {
    const action = q.get('action');
    const name = q.get('context_model_name');
    const app = q.get('context_model_app');
    const pkFilter = q.get('context_model_pk');
    let list = this.authentik.filter((e) => (!action || e.action.includes(action.toLowerCase()))
      && (!name || e.context.model?.model_name === name) && (!app || e.context.model?.app === app)
      && (!pkFilter || String(e.context.model?.pk) === pkFilter));
    if ((q.get('ordering') || '-created') !== 'created') list = [...list].reverse();
    const page = intParam(q.get('page'), 1);
    let size = intParam(q.get('page_size'), 20);
    if (Number.isNaN(page) || page < 1) return { status: 404, body: { detail: 'Invalid page.' } };
    if (Number.isNaN(size) || size < 1) size = 20;
    const count = list.length;
    const totalPages = Math.max(1, Math.ceil(count / size));
    if (page > totalPages) return { status: 404, body: { detail: 'Invalid page.' } };
    const results = list.slice((page - 1) * size, page * size);
    const start = count === 0 ? 0 : (page - 1) * size + 1;
    return {
      status: 200,
      body: {
        pagination: {
          next: page < totalPages ? page + 1 : 0,
          previous: page > 1 ? page - 1 : 0,
          count,
          current: page,
          total_pages: totalPages,
          start_index: start,
          end_index: count === 0 ? 0 : start + results.length - 1,
        },
        results,
        autocomplete: {},
      },
    };
  }

  // RealmEventsConfigRepresentation, the parts a reader needs.
  keycloakConfig() {
    return {
      eventsEnabled: this.config.eventsEnabled,
      eventsListeners: ['jboss-logging'],
      enabledEventTypes: [],
      adminEventsEnabled: this.config.adminEventsEnabled,
      adminEventsDetailsEnabled: this.config.adminEventsDetailsEnabled,
    };
  }
}
