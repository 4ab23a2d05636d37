//! Turns errors from the routes into problem documents (RFC 9457), with the `Allow` header of a 405 taken
//! from the spec, and keeps the matched route on the response for the metrics.

use std::{collections::BTreeSet, sync::Arc};

use poem::{Endpoint, EndpointExt, IntoResponse, PathPattern, Response};

use crate::error::problem_from_error;

/// Which methods each path answers, for the `Allow` header of 405 responses.
pub struct AllowTable(Vec<(Vec<String>, String)>);

impl AllowTable {
    pub fn from_spec(spec: &str, extra_get_paths: &[&str]) -> Self {
        let mut table = Vec::new();
        if let Ok(doc) = serde_json::from_str::<serde_json::Value>(spec)
            && let Some(paths) = doc.get("paths").and_then(|p| p.as_object())
        {
            for (path, ops) in paths {
                let mut methods: BTreeSet<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    .unwrap_or_default();
                if methods.contains("GET") {
                    methods.insert("HEAD".into());
                }
                table.push((
                    segments(path),
                    methods.into_iter().collect::<Vec<_>>().join(", "),
                ));
            }
        }
        for path in extra_get_paths {
            table.push((segments(path), "GET, HEAD".into()));
        }
        Self(table)
    }

    fn allow(&self, path: &str) -> Option<String> {
        self.route(path).map(|(_, methods)| methods.clone())
    }

    /// The name of the path parameter at segment `index` of `path`, when a templated path matches it.
    pub fn path_param(&self, path: &str, index: usize) -> Option<&str> {
        let (pattern, _) = self.route(path)?;
        pattern.get(index)?.strip_prefix('{')?.strip_suffix('}')
    }

    fn route(&self, path: &str) -> Option<&(Vec<String>, String)> {
        let wanted = segments(path);
        self.0.iter().find(|(pattern, _)| {
            pattern.len() == wanted.len()
                && pattern
                    .iter()
                    .zip(&wanted)
                    .all(|(p, w)| p.starts_with('{') || p == w)
        })
    }
}

/// A path's segments without the leading and trailing slash, as both the table and its callers count them.
pub fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

/// Turns errors from the wrapped endpoint into problem responses, keeping the matched route for metrics.
pub fn problems<E: Endpoint + 'static>(
    ep: E,
    table: Arc<AllowTable>,
) -> impl Endpoint<Output = Response> {
    ep.around(move |ep, req| {
        let table = table.clone();
        async move {
            // A Uri clone shares its bytes; the path is only read when there is an error to describe.
            let uri = req.uri().clone();
            match ep.call(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(err) => {
                    let pattern = err.data::<PathPattern>().cloned();
                    let mut resp = problem_from_error(err, table.allow(uri.path()));
                    if let Some(pattern) = pattern {
                        resp.set_data(pattern);
                    }
                    Ok(resp)
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_table_matches_templated_paths() {
        let spec =
            r#"{"paths":{"/api/v1/roles/{id}":{"get":{},"delete":{}},"/healthz":{"get":{}}}}"#;
        let t = AllowTable::from_spec(spec, &["/metrics"]);
        assert_eq!(
            t.allow("/api/v1/roles/42").as_deref(),
            Some("DELETE, GET, HEAD")
        );
        assert_eq!(t.allow("/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(t.allow("/metrics").as_deref(), Some("GET, HEAD"));
        assert_eq!(t.allow("/nope"), None);
        assert_eq!(t.path_param("/api/v1/roles/42", 3), Some("id"));
        assert_eq!(t.path_param("/api/v1/roles/42", 2), None);
    }
}
