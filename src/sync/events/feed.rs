//! The pure part of reading a provider's event log: which users a page of events names, and a cursor that
//! lets no event be skipped or applied twice (events with equal times included).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Events this much older than the newest one read are read again (and skipped by id), so that an event
/// stored a little after its own time, or one sharing the newest time, is not lost at the boundary.
pub const OVERLAP_MS: i64 = 5_000;

/// Who an event is about, as the provider names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Named {
    /// Keycloak: the user's id, which is the token subject.
    Subject(String),
    /// Authentik: the user's numeric `pk`, which is not the token subject.
    ProviderPk(String),
}

/// One event about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The provider's id for the event, or a hash of its content where the provider gives none.
    pub id: String,
    pub time_ms: i64,
    pub user: Named,
}

/// Where reading stopped: the newest event time read, and the events read at or near it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub time_ms: i64,
    /// Ids of events read within [`OVERLAP_MS`] of `time_ms`, with their times.
    pub seen: Vec<(String, i64)>,
}

impl Cursor {
    /// A cursor that starts at `now`: the full sync covers what happened before.
    pub fn starting_at(now_ms: i64) -> Self {
        Self {
            time_ms: now_ms,
            seen: Vec::new(),
        }
    }

    /// The oldest event time a poll must read.
    pub fn read_from(&self) -> i64 {
        self.time_ms - OVERLAP_MS
    }

    /// Of the events read (in any order, duplicates allowed), those not applied yet, oldest first, and the
    /// cursor once they are applied.
    pub fn advance(&self, events: Vec<FeedEvent>) -> (Vec<FeedEvent>, Cursor) {
        let from = self.read_from();
        let mut known: HashSet<String> = self.seen.iter().map(|(id, _)| id.clone()).collect();
        let mut fresh: Vec<FeedEvent> = events
            .into_iter()
            .filter(|e| e.time_ms >= from && known.insert(e.id.clone()))
            .collect();
        fresh.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
        let time_ms = fresh.iter().map(|e| e.time_ms).fold(self.time_ms, i64::max);
        let keep_from = time_ms - OVERLAP_MS;
        let seen = self
            .seen
            .iter()
            .cloned()
            .chain(fresh.iter().map(|e| (e.id.clone(), e.time_ms)))
            .filter(|(_, t)| *t >= keep_from)
            .collect();
        (fresh, Cursor { time_ms, seen })
    }
}

/// The users named by events, each once, in the order of their first event.
pub fn users_named(events: &[FeedEvent]) -> Vec<Named> {
    let mut seen = HashSet::new();
    events
        .iter()
        .filter(|e| seen.insert(e.user.clone()))
        .map(|e| e.user.clone())
        .collect()
}

/// Keycloak's `AdminEventRepresentation`s about users: resource type `USER` (`users/{id}`) and
/// `GROUP_MEMBERSHIP` (`users/{id}/groups/{group}`). Events before Keycloak 22 carry no `id`: a hash of the
/// event stands in for it.
pub fn keycloak_events(page: &[Value]) -> Vec<FeedEvent> {
    page.iter()
        .filter_map(|e| {
            let kind = e.get("resourceType")?.as_str()?;
            if kind != "USER" && kind != "GROUP_MEMBERSHIP" {
                return None;
            }
            let path = e.get("resourcePath")?.as_str()?;
            let mut parts = path.trim_start_matches('/').split('/');
            if parts.next()? != "users" {
                return None;
            }
            let user = parts.next().filter(|s| !s.is_empty())?;
            let time_ms = e.get("time")?.as_i64()?;
            let id = match e.get("id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => content_id(e),
            };
            Some(FeedEvent {
                id,
                time_ms,
                user: Named::Subject(user.to_owned()),
            })
        })
        .collect()
}

/// Authentik's events about users: `model_created`, `model_updated` and `model_deleted` of
/// `authentik_core.user`, which name the user by `pk`.
pub fn authentik_events(page: &[Value]) -> Vec<FeedEvent> {
    page.iter()
        .filter_map(|e| {
            let action = e.get("action")?.as_str()?;
            if !matches!(action, "model_created" | "model_updated" | "model_deleted") {
                return None;
            }
            let model = e.get("context")?.get("model")?;
            if model.get("app")?.as_str()? != "authentik_core"
                || model.get("model_name")?.as_str()? != "user"
            {
                return None;
            }
            let pk = match model.get("pk")? {
                Value::Number(n) => n.to_string(),
                Value::String(s) if !s.is_empty() => s.clone(),
                _ => return None,
            };
            let created = e.get("created")?.as_str()?;
            let time_ms = chrono::DateTime::parse_from_rfc3339(created)
                .ok()?
                .timestamp_millis();
            let id = match e.get("pk").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => content_id(e),
            };
            Some(FeedEvent {
                id,
                time_ms,
                user: Named::ProviderPk(pk),
            })
        })
        .collect()
}

/// The time of the oldest event in a page, whatever it is about: a page read newest first whose oldest
/// event is older than the cursor ends the reading.
pub fn oldest_time(page: &[Value], time_of: impl Fn(&Value) -> Option<i64>) -> Option<i64> {
    page.iter().filter_map(time_of).min()
}

pub fn keycloak_time(e: &Value) -> Option<i64> {
    e.get("time")?.as_i64()
}

pub fn authentik_time(e: &Value) -> Option<i64> {
    let created = e.get("created")?.as_str()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(created)
            .ok()?
            .timestamp_millis(),
    )
}

fn content_id(e: &Value) -> String {
    let digest = Sha256::digest(e.to_string().as_bytes());
    format!("sha256:{}", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Recorded from the test provider's Keycloak layout: bob disabled, carol added to a group, a client
    /// changed (not about a user), dave deleted.
    fn keycloak_page() -> Vec<Value> {
        serde_json::from_value(json!([
            {"id": "e4", "time": 1_764_600_004_000_i64, "realmId": "r", "authDetails": {"realmId": "m"},
             "operationType": "DELETE", "resourceType": "USER", "resourcePath": "users/dave-id"},
            {"id": "e3", "time": 1_764_600_003_000_i64, "operationType": "UPDATE", "resourceType": "CLIENT",
             "resourcePath": "clients/c1"},
            {"id": "e2", "time": 1_764_600_002_000_i64, "operationType": "CREATE",
             "resourceType": "GROUP_MEMBERSHIP", "resourcePath": "users/carol-id/groups/g1",
             "representation": "{\"id\":\"g1\",\"name\":\"staff\"}"},
            {"id": "e1", "time": 1_764_600_001_000_i64, "operationType": "UPDATE", "resourceType": "USER",
             "resourcePath": "users/bob-id", "representation": "{\"enabled\":false}"}
        ]))
        .unwrap()
    }

    #[test]
    fn keycloak_events_name_users_by_their_id_in_the_resource_path() {
        let events = keycloak_events(&keycloak_page());
        let named: Vec<_> = users_named(&events);
        assert_eq!(
            named,
            [
                Named::Subject("dave-id".into()),
                Named::Subject("carol-id".into()),
                Named::Subject("bob-id".into())
            ]
        );
    }

    #[test]
    fn authentik_events_name_users_by_pk_and_ignore_other_models() {
        let page: Vec<Value> = serde_json::from_value(json!([
            {"pk": "a1", "action": "model_updated", "app": "authentik.events.signals",
             "context": {"model": {"app": "authentik_core", "model_name": "user", "pk": 7, "name": "bob"}},
             "created": "2026-12-01T10:00:01.500Z"},
            {"pk": "a2", "action": "model_updated", "app": "authentik.events.signals",
             "context": {"model": {"app": "authentik_core", "model_name": "group", "pk": "g", "name": "staff"}},
             "created": "2026-12-01T10:00:02Z"},
            {"pk": "a3", "action": "login", "context": {}, "created": "2026-12-01T10:00:03Z"},
            {"pk": "a4", "action": "model_deleted",
             "context": {"model": {"app": "authentik_core", "model_name": "user", "pk": 9, "name": "dave"}},
             "created": "2026-12-01T10:00:04Z"}
        ]))
        .unwrap();
        let events = authentik_events(&page);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].user, Named::ProviderPk("7".into()));
        assert_eq!(events[0].time_ms % 1000, 500);
        assert_eq!(events[1].user, Named::ProviderPk("9".into()));
    }

    #[test]
    fn an_event_is_applied_once_even_when_read_again() {
        let start = Cursor::starting_at(1_764_600_000_000);
        let (fresh, after) = start.advance(keycloak_events(&keycloak_page()));
        assert_eq!(fresh.len(), 3);
        assert_eq!(fresh[0].id, "e1", "oldest first");
        assert_eq!(after.time_ms, 1_764_600_004_000);
        // The next poll reads the overlap again: nothing is new.
        let (again, same) = after.advance(keycloak_events(&keycloak_page()));
        assert!(again.is_empty());
        assert_eq!(same, after);
    }

    #[test]
    fn events_sharing_the_newest_time_are_not_lost_at_the_boundary() {
        let t = 1_764_600_010_000;
        let ev = |id: &str, user: &str| FeedEvent {
            id: id.into(),
            time_ms: t,
            user: Named::Subject(user.into()),
        };
        let (fresh, cursor) = Cursor::starting_at(t - 1000).advance(vec![ev("x", "bob")]);
        assert_eq!(fresh.len(), 1);
        // A second event with the same millisecond, stored after the first poll read.
        let (fresh, cursor) = cursor.advance(vec![ev("x", "bob"), ev("y", "carol")]);
        assert_eq!(fresh, [ev("y", "carol")]);
        assert_eq!(cursor.time_ms, t);
        assert_eq!(cursor.seen.len(), 2);
    }

    #[test]
    fn events_older_than_the_overlap_are_not_read_again_and_old_ids_are_forgotten() {
        let ev = |id: &str, t: i64| FeedEvent {
            id: id.into(),
            time_ms: t,
            user: Named::Subject("u".into()),
        };
        let cursor = Cursor::starting_at(100_000);
        let (fresh, cursor) =
            cursor.advance(vec![ev("old", 100_000 - OVERLAP_MS - 1), ev("a", 101_000)]);
        assert_eq!(fresh, [ev("a", 101_000)]);
        let (_, cursor) = cursor.advance(vec![ev("b", 101_000 + OVERLAP_MS + 1)]);
        assert_eq!(
            cursor.seen,
            [("b".to_owned(), 101_000 + OVERLAP_MS + 1)],
            "ids outside the overlap are dropped"
        );
    }

    #[test]
    fn an_event_without_an_id_gets_a_stable_one_from_its_content() {
        let page = vec![
            json!({"time": 5, "resourceType": "USER", "resourcePath": "users/u1",
            "operationType": "UPDATE"}),
        ];
        let a = keycloak_events(&page);
        let b = keycloak_events(&page);
        assert_eq!(a, b);
        assert!(a[0].id.starts_with("sha256:"));
    }
}
