//! Keyward's routes as the spec lists them, for the answers given before or without routing (429, 413, 405):
//! the metrics label of a path and the `Allow` header of a 405; and each operation's parameters, so that all
//! the bad ones are reported at once.

use std::collections::BTreeSet;

use serde_json::Value;

/// A path segment of a route: literal text, or a `{parameter}` by its name.
enum Segment {
    Literal(String),
    Param(String),
}

/// A path or query parameter an operation declares.
pub struct Param {
    pub name: String,
    pub required: bool,
    /// Its schema in the spec (`{"type": "integer", "minimum": 1}`).
    pub schema: Value,
    in_path: bool,
}

/// One route: its path segments, its metrics label, the methods it answers and their parameters.
struct RouteEntry {
    segments: Vec<Segment>,
    label: String,
    allow: String,
    params: Vec<(String, Vec<Param>)>,
}

impl RouteEntry {
    fn new(path: &str, methods: String) -> Self {
        let mut params = 0;
        let mut label = String::new();
        let segments = path
            .trim_matches('/')
            .split('/')
            .map(|s| {
                label.push('/');
                if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    // The name poem-openapi gives the parameter, so both ways of finding a route agree.
                    label.push_str(&format!(":param{params}"));
                    params += 1;
                    Segment::Param(name.to_owned())
                } else {
                    label.push_str(s);
                    Segment::Literal(s.to_owned())
                }
            })
            .collect();
        Self {
            segments,
            label,
            allow: methods,
            params: Vec::new(),
        }
    }

    fn params(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Param(_)))
            .count()
    }

    fn matches(&self, path: &str) -> bool {
        let mut wanted = path.trim_matches('/').split('/');
        self.segments.iter().all(|p| {
            wanted.next().is_some_and(|w| match p {
                Segment::Literal(p) => p == w,
                Segment::Param(_) => true,
            })
        }) && wanted.next().is_none()
    }
}

/// Every route of the spec plus a few plain GET paths, literal routes tried before templated ones.
pub struct RouteTable(Vec<RouteEntry>);

impl RouteTable {
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
                let methods = methods.into_iter().collect::<Vec<_>>().join(", ");
                let mut entry = RouteEntry::new(path, methods);
                for (method, op) in ops.as_object().into_iter().flatten() {
                    entry.params.push((method.to_uppercase(), params_of(op)));
                }
                table.push(entry);
            }
        }
        for path in extra_get_paths {
            table.push(RouteEntry::new(path, "GET, HEAD".into()));
        }
        table.sort_by_key(RouteEntry::params);
        Self(table)
    }

    /// The parameters `method` declares on the route of `path`, each with its raw value in the request.
    pub fn parameters<'a>(
        &'a self,
        method: &str,
        path: &'a str,
        query: &str,
    ) -> Vec<(&'a Param, Option<String>)> {
        let Some(entry) = self.find(path) else {
            return Vec::new();
        };
        let Some((_, params)) = entry.params.iter().find(|(m, _)| m == method) else {
            return Vec::new();
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        params
            .iter()
            .map(|p| {
                let value = if p.in_path {
                    let index = entry
                        .segments
                        .iter()
                        .position(|s| matches!(s, Segment::Param(n) if *n == p.name));
                    index.and_then(|i| segments.get(i)).map(|s| (*s).to_owned())
                } else {
                    url::form_urlencoded::parse(query.as_bytes())
                        .find(|(name, _)| *name == p.name)
                        .map(|(_, value)| value.into_owned())
                };
                (p, value)
            })
            .collect()
    }

    fn find(&self, path: &str) -> Option<&RouteEntry> {
        self.0.iter().find(|r| r.matches(path))
    }

    /// The methods the route of `path` answers, as an `Allow` header value.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.find(path).map(|r| r.allow.as_str())
    }

    /// The name of the parameter at segment `index` of `path` (counted without the leading slash), when the
    /// route of `path` has one there.
    pub fn path_param(&self, path: &str, index: usize) -> Option<&str> {
        match self.find(path)?.segments.get(index)? {
            Segment::Param(name) => Some(name),
            Segment::Literal(_) => None,
        }
    }

    /// The spec's name of the `n`th parameter (from 0) of the route of `path`: the router's `param{n}`.
    pub fn param_name(&self, path: &str, n: usize) -> Option<&str> {
        self.find(path)?
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(name) => Some(name.as_str()),
                Segment::Literal(_) => None,
            })
            .nth(n)
    }

    /// The route of `path` as the router names it (`/api/v1/roles/:param0`).
    pub fn label(&self, path: &str) -> Option<&str> {
        self.find(path).map(|r| r.label.as_str())
    }
}

fn params_of(op: &Value) -> Vec<Param> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "path" || p["in"] == "query")
        .map(|p| Param {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            required: p["required"] == true,
            schema: p["schema"].clone(),
            in_path: p["in"] == "path",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let spec = r#"{"paths":{"/api/v1/roles/{id}":{"get":{},"delete":{}},
            "/api/v1/roles/{id}/permissions":{"put":{}},"/api/v1/roles/mine":{"get":{}},
            "/healthz":{"get":{}}}}"#;
        RouteTable::from_spec(spec, &["/metrics"])
    }

    #[test]
    fn allow_lists_the_methods_of_templated_and_plain_paths() {
        let t = table();
        assert_eq!(t.allow("/api/v1/roles/42"), Some("DELETE, GET, HEAD"));
        assert_eq!(t.allow("/healthz"), Some("GET, HEAD"));
        assert_eq!(t.allow("/metrics"), Some("GET, HEAD"));
        assert_eq!(t.allow("/nope"), None);
        assert_eq!(t.path_param("/api/v1/roles/42", 3), Some("id"));
        assert_eq!(t.path_param("/api/v1/roles/42", 2), None);
        assert_eq!(t.param_name("/api/v1/roles/42/permissions", 0), Some("id"));
        assert_eq!(t.param_name("/api/v1/roles/42/permissions", 1), None);
    }

    #[test]
    fn labels_are_the_routers_patterns_and_literal_routes_win() {
        let t = table();
        assert_eq!(t.label("/api/v1/roles/42"), Some("/api/v1/roles/:param0"));
        assert_eq!(
            t.label("/api/v1/roles/42/permissions"),
            Some("/api/v1/roles/:param0/permissions")
        );
        assert_eq!(t.label("/api/v1/roles/mine"), Some("/api/v1/roles/mine"));
        assert_eq!(t.label("/healthz"), Some("/healthz"));
        assert_eq!(t.label("/api/v1/roles/42/x"), None);
        assert_eq!(t.label("/api/v1"), None);
    }
}
