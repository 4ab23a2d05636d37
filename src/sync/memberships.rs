//! Keycloak's members of the groups and holders of the realm roles that roles are mapped from: the group by
//! path (`GET …/group-by-path/{path}`) or by exact name (`GET …/groups?search=&exact=true`), then
//! `GET …/groups/{id}/members?first=&max=` and `GET …/roles/{name}/users?first=&max=`, paged to a short page.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use serde::{Deserialize, de::DeserializeOwned};

use super::{
    directory::{DirectoryError, classify, transport},
    keycloak::AdminToken,
};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    sub_groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Member {
    #[serde(deserialize_with = "crate::text::de_storable_id")]
    id: String,
}

pub(super) struct KeycloakMemberships {
    http: reqwest::Client,
    /// `{base}/admin/realms/{realm}`
    realm_url: String,
    admin: Arc<AdminToken>,
    page_size: u32,
}

impl KeycloakMemberships {
    pub(super) fn new(
        http: reqwest::Client,
        realm_url: &str,
        admin: Arc<AdminToken>,
        page_size: u32,
    ) -> Self {
        Self {
            http,
            realm_url: realm_url.to_owned(),
            admin,
            page_size: page_size.max(1),
        }
    }

    /// Per subject, which of `names` they are in: a group of that path or name, or a realm role of that name
    /// (a login's groups claim and realm roles are matched against `idp_group` alike). Any read that fails
    /// fails the whole answer, so that no grant is changed from half of it. A name that is both a group and a
    /// realm role is read as the group. A realm role held only through a group or a composite role
    /// (`default-roles-{realm}`) is not listed by Keycloak's role-users endpoint: map such roles by group.
    pub(super) async fn read(
        &self,
        names: &BTreeSet<String>,
    ) -> Result<HashMap<String, BTreeSet<String>>, DirectoryError> {
        let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
        for name in names {
            let mut subjects = BTreeSet::new();
            let groups = self.groups_named(name).await?;
            for group in &groups {
                let url = format!("{}/groups/{group}/members", self.realm_url);
                subjects.extend(self.paged(&url, "Keycloak group members").await?);
            }
            // Reading a realm role's users needs `view-realm`: only asked when no group has the name.
            if groups.is_empty() && !name.contains('/') {
                let url = format!("{}/roles/{}/users", self.realm_url, segment(name));
                subjects.extend(self.paged(&url, "Keycloak realm-role users").await?);
            }
            for subject in subjects {
                out.entry(subject).or_default().insert(name.clone());
            }
        }
        Ok(out)
    }

    /// The ids of the groups `name` may mean: the group at that path (`/a/b`, or `/name` for a bare name),
    /// and, for a bare name (a groups mapper without full paths sends those), every group of that name.
    async fn groups_named(&self, name: &str) -> Result<BTreeSet<String>, DirectoryError> {
        let mut ids = BTreeSet::new();
        let path = format!("/{}", name.trim_start_matches('/'));
        let encoded: Vec<String> = path.split('/').skip(1).map(segment).collect();
        let url = format!("{}/group-by-path/{}", self.realm_url, encoded.join("/"));
        if let Some(group) = self
            .get::<Group>(&url, &[], "Keycloak group by path")
            .await?
        {
            ids.insert(group.id);
        }
        if !name.starts_with('/') && !name.contains('/') {
            let url = format!("{}/groups", self.realm_url);
            let query = [
                ("search", name.to_owned()),
                ("exact", "true".to_owned()),
                ("briefRepresentation", "true".to_owned()),
            ];
            let found = self
                .get::<Vec<Group>>(&url, &query, "Keycloak group search")
                .await?
                .unwrap_or_default();
            collect_named(&found, name, &mut ids);
        }
        Ok(ids)
    }

    /// Every page of a listing of users, `first=` by `max=` until a short page; 404 (no such group or
    /// role) is an empty listing.
    async fn paged(&self, url: &str, what: &str) -> Result<Vec<String>, DirectoryError> {
        let mut subjects = Vec::new();
        let mut first: u64 = 0;
        loop {
            let query = [
                ("first", first.to_string()),
                ("max", self.page_size.to_string()),
                ("briefRepresentation", "true".to_owned()),
            ];
            let what = format!("{what} first={first}");
            let Some(page) = self.get::<Vec<Member>>(url, &query, &what).await? else {
                return Ok(subjects);
            };
            let short = page.len() < self.page_size as usize;
            subjects.extend(page.into_iter().map(|m| m.id));
            if short {
                return Ok(subjects);
            }
            first += u64::from(self.page_size);
        }
    }

    /// One admin API read with retries; `None` on 404.
    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<Option<T>, DirectoryError> {
        self.admin
            .authorized(what, |token| async move {
                let resp = self
                    .http
                    .get(url)
                    .bearer_auth(token)
                    .query(query)
                    .send()
                    .await
                    .map_err(|e| transport(e, what))?;
                let status = resp.status();
                if status == reqwest::StatusCode::NOT_FOUND {
                    return Ok(None);
                }
                if !status.is_success() {
                    let body = resp.text().await.unwrap_or_default();
                    return Err(classify(status, &body, what));
                }
                resp.json::<T>()
                    .await
                    .map(Some)
                    .map_err(|e| DirectoryError::Transient(format!("{what}: {}", e.without_url())))
            })
            .await
    }
}

/// A path segment, percent-encoded (group and role names may hold spaces, `#`, `?`, non-ASCII letters).
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The ids of the groups named `name` in a search answer's tree.
fn collect_named(groups: &[Group], name: &str, ids: &mut BTreeSet<String>) {
    for g in groups {
        if g.name == name {
            ids.insert(g.id.clone());
        }
        collect_named(&g.sub_groups, name, ids);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_answer_is_walked_for_every_group_of_the_name() {
        // Keycloak's search answers top-level groups with the matching subgroups beneath them.
        let found: Vec<Group> = serde_json::from_value(serde_json::json!([
            {"id": "1", "name": "ops", "path": "/ops", "subGroups": []},
            {"id": "2", "name": "eu", "path": "/eu", "subGroups": [
                {"id": "3", "name": "ops", "path": "/eu/ops", "subGroups": []}
            ]}
        ]))
        .unwrap();
        let mut ids = BTreeSet::new();
        collect_named(&found, "ops", &mut ids);
        assert_eq!(ids, BTreeSet::from(["1".to_owned(), "3".to_owned()]));
    }

    #[test]
    fn names_are_encoded_as_path_segments() {
        assert_eq!(
            segment("Ünïcödé Grüppe"),
            "%C3%9Cn%C3%AFc%C3%B6d%C3%A9%20Gr%C3%BCppe"
        );
        assert_eq!(segment("a#b?c/d"), "a%23b%3Fc%2Fd");
    }
}
