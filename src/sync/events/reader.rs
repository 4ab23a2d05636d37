//! Reading a provider's event log and the current record of a user it names, over the same admin API and
//! credentials as the full sync: Keycloak's admin events (newest first, whole days, which every version reads
//! the same way) and Authentik's events API.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::feed::{self, FeedEvent, Named};
use crate::sync::{
    authentik::AuthentikUser,
    directory::{DirectoryError, DirectoryUser, classify, transport},
    keycloak::{AdminToken, KeycloakUser},
    target::Target,
};

const PAGE: usize = 100;
/// A poll reads at most this many pages; a log that long since the last poll is left to the full sync.
pub(super) const MAX_PAGES: usize = 200;

/// Whether the provider records the events the poller reads.
pub(super) enum Recording {
    On,
    Off(String),
}

/// A named user as the provider has them now.
pub(super) enum Record {
    Present(DirectoryUser),
    Gone,
    /// A service account: not synced.
    Skipped,
}

pub(super) enum Reader {
    Keycloak {
        http: reqwest::Client,
        admin: String,
        /// The same kind of admin token the full sync uses: fetched once, again once when refused.
        token: AdminToken,
    },
    Authentik {
        http: reqwest::Client,
        api: String,
        token: String,
    },
}

#[derive(Deserialize)]
struct EventsConfig {
    #[serde(default, rename = "adminEventsEnabled")]
    admin_events_enabled: bool,
}

#[derive(Deserialize)]
struct AuthentikPage {
    pagination: crate::sync::authentik::Pagination,
    results: Vec<Value>,
}

impl Reader {
    pub(super) fn new(http: reqwest::Client, target: &Target) -> Option<Self> {
        match target {
            Target::Keycloak {
                base,
                realm,
                client_id,
                client_secret,
            } => Some(Self::Keycloak {
                token: AdminToken::new(
                    http.clone(),
                    base,
                    realm,
                    client_id.clone(),
                    client_secret.clone(),
                ),
                http,
                admin: format!("{base}/admin/realms/{realm}"),
            }),
            Target::Authentik { base, token } => Some(Self::Authentik {
                http,
                api: format!("{base}/api/v3"),
                token: token.clone(),
            }),
            Target::Unavailable(_) => None,
        }
    }

    /// Keycloak: the realm's event settings (needs `view-events`); Authentik always records model changes.
    pub(super) async fn recording(&self) -> Result<Recording, DirectoryError> {
        let Self::Keycloak { admin, .. } = self else {
            return Ok(Recording::On);
        };
        match self.get::<EventsConfig>(&format!("{admin}/events/config"), &[]).await {
            Ok(Some(c)) if c.admin_events_enabled => Ok(Recording::On),
            Ok(_) => Ok(Recording::Off(
                "the realm does not save admin events (Realm settings → Events → Admin events settings → \
                 Save events, with Include representation): users disabled or deleted at Keycloak are applied \
                 by the scheduled sync only"
                    .into(),
            )),
            Err(DirectoryError::Fatal(why)) if why.contains("403") => Ok(Recording::Off(format!(
                "the admin client may not read the realm's events (give its service account \
                 realm-management view-events): {why}"
            ))),
            Err(e) => Err(e),
        }
    }

    /// The user events at or after `from_ms`, read newest first until older ones begin; `None` when there are
    /// more than a poll reads (after a long outage, say).
    pub(super) async fn events_since(
        &self,
        from_ms: i64,
    ) -> Result<Option<Vec<FeedEvent>>, DirectoryError> {
        let mut events = Vec::new();
        for n in 0..MAX_PAGES {
            let (page, more) = self.page(from_ms, n).await?;
            let oldest = match self {
                Self::Keycloak { .. } => {
                    events.extend(feed::keycloak_events(&page));
                    feed::oldest_time(&page, feed::keycloak_time)
                }
                Self::Authentik { .. } => {
                    events.extend(feed::authentik_events(&page));
                    feed::oldest_time(&page, feed::authentik_time)
                }
            };
            let older = oldest.is_some_and(|t| t < from_ms);
            if !more || older {
                return Ok(Some(events));
            }
        }
        Ok(None)
    }

    /// Page `n` (from 0) of the events, newest first, and whether another may follow.
    async fn page(&self, from_ms: i64, n: usize) -> Result<(Vec<Value>, bool), DirectoryError> {
        match self {
            Self::Keycloak { admin, .. } => {
                // Whole days work on every version (epoch milliseconds only from 26.1); the day before the
                // cursor's covers a server that reads days in its own time zone. Newest first is the order of
                // old versions, and `direction` asks new ones for the same.
                let day = chrono::DateTime::from_timestamp_millis(from_ms - 86_400_000)
                    .unwrap_or_default()
                    .format("%Y-%m-%d")
                    .to_string();
                let query = [
                    ("dateFrom", day),
                    ("direction", "desc".into()),
                    ("resourceTypes", "USER".into()),
                    ("resourceTypes", "GROUP_MEMBERSHIP".into()),
                    ("first", (n * PAGE).to_string()),
                    ("max", PAGE.to_string()),
                ];
                let page: Vec<Value> = self
                    .get(&format!("{admin}/admin-events"), &query)
                    .await?
                    .unwrap_or_default();
                let more = page.len() >= PAGE;
                Ok((page, more))
            }
            Self::Authentik { api, .. } => {
                // `action` matches as a substring: `model_` is model_created, model_updated and model_deleted.
                let query = [
                    ("action", "model_".to_owned()),
                    ("context_model_app", "authentik_core".into()),
                    ("context_model_name", "user".into()),
                    ("ordering", "-created".into()),
                    ("page", (n + 1).to_string()),
                    ("page_size", PAGE.to_string()),
                ];
                let Some(page) = self
                    .get::<AuthentikPage>(&format!("{api}/events/events/"), &query)
                    .await?
                else {
                    return Ok((Vec::new(), false));
                };
                let more = page.pagination.next as usize > n + 1;
                Ok((page.results, more))
            }
        }
    }

    /// The user an event names, as the provider has them now.
    pub(super) async fn user(&self, named: &Named) -> Result<Record, DirectoryError> {
        match (self, named) {
            (Self::Keycloak { admin, .. }, Named::Subject(id)) => {
                let url = format!("{admin}/users/{}", segment(id));
                Ok(match self.get::<KeycloakUser>(&url, &[]).await? {
                    None => Record::Gone,
                    Some(u)
                        if u.username
                            .as_deref()
                            .is_some_and(|n| n.starts_with("service-account-")) =>
                    {
                        Record::Skipped
                    }
                    Some(u) => Record::Present(u.into()),
                })
            }
            (Self::Authentik { api, .. }, Named::ProviderPk(pk)) => {
                let url = format!("{api}/core/users/{}/", segment(pk));
                Ok(match self.get::<AuthentikUser>(&url, &[]).await? {
                    None => Record::Gone,
                    Some(u) if u.is_service_account() => Record::Skipped,
                    Some(u) => Record::Present(u.into()),
                })
            }
            _ => Ok(Record::Skipped),
        }
    }

    /// The groups (names and paths) and Keycloak realm roles the provider says `user` is in now: what a login
    /// reads from the claims, for the roles mapped from them. `None` when the user is gone meanwhile.
    pub(super) async fn groups(
        &self,
        user: &DirectoryUser,
    ) -> Result<Option<BTreeSet<String>>, DirectoryError> {
        let mut groups = BTreeSet::new();
        match self {
            Self::Keycloak { admin, .. } => {
                let base = format!("{admin}/users/{}", segment(&user.subject));
                let query = [
                    ("briefRepresentation", "true".to_owned()),
                    ("max", "1000".to_owned()),
                ];
                let Some(listed) = self
                    .get::<Vec<KeycloakNamed>>(&format!("{base}/groups"), &query)
                    .await?
                else {
                    return Ok(None);
                };
                // Both spellings of a path, as login matches the groups claim ("/admins" and "admins").
                for g in listed {
                    if let Some(path) = g.path {
                        groups.extend(path.strip_prefix('/').map(str::to_owned));
                        groups.insert(path);
                    }
                    groups.insert(g.name);
                }
                let roles = format!("{base}/role-mappings/realm");
                let Some(roles) = self.get::<Vec<KeycloakNamed>>(&roles, &[]).await? else {
                    return Ok(None);
                };
                groups.extend(roles.into_iter().map(|r| r.name));
            }
            Self::Authentik { api, .. } => {
                let Some(pk) = &user.provider_pk else {
                    return Ok(Some(groups));
                };
                let url = format!("{api}/core/users/{}/", segment(pk));
                let query = [("include_groups", "true".to_owned())];
                let Some(u) = self.get::<AuthentikUser>(&url, &query).await? else {
                    return Ok(None);
                };
                groups.extend(u.groups_obj.unwrap_or_default().into_iter().map(|g| g.name));
            }
        }
        Ok(Some(groups))
    }

    /// A GET with the admin credentials; `None` for 404. Keycloak's token is fetched again once when refused.
    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Option<T>, DirectoryError> {
        let what = url.rsplit("/admin/").next().unwrap_or(url).to_owned();
        // The generation of the Keycloak token a 401 refused: the next try fetches a new one.
        let mut refused = None;
        for attempt in 0..2 {
            let (request, sent) = match self {
                Self::Keycloak { http, token, .. } => {
                    let (generation, token) = token.get(refused).await?;
                    (http.get(url).bearer_auth(token), Some(generation))
                }
                Self::Authentik { http, token, .. } => (http.get(url).bearer_auth(token), None),
            };
            let resp = request
                .query(query)
                .send()
                .await
                .map_err(|e| transport(e, &what))?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                let body = resp.text().await.unwrap_or_default();
                match classify(status, &body, &what) {
                    DirectoryError::Unauthorized(_) if attempt == 0 && sent.is_some() => {
                        refused = sent;
                        continue;
                    }
                    DirectoryError::Unauthorized(m) => return Err(DirectoryError::Fatal(m)),
                    other => return Err(other),
                }
            }
            return resp
                .json::<T>()
                .await
                .map(Some)
                .map_err(|e| DirectoryError::Transient(format!("{what}: {}", e.without_url())));
        }
        Err(DirectoryError::Fatal(format!(
            "{what}: admin token refused"
        )))
    }
}

/// A Keycloak group or role as its lists show it: the name (and a group's path).
#[derive(Deserialize)]
struct KeycloakNamed {
    name: String,
    #[serde(default)]
    path: Option<String>,
}

/// An id as one path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
