//! NUL (U+0000) in a query parameter or a path segment is refused before routing, with a 400 naming the
//! parameter: no database Keyward runs on stores it in text, so it must never reach one.

use poem::{IntoResponse, Response, http::Uri};

use crate::{
    error::{ApiError, FieldError},
    http::middleware::route_table::RouteTable,
};

/// Free text a provider sends through the browser: the login flow removes NUL from it itself, because
/// refusing the callback would lose the failed login's audit event.
const PROVIDER_TEXT: &[(&str, &str)] = &[("/auth/callback", "error_description")];

/// A 400 naming the first parameter holding NUL, if one does.
pub fn refuse(table: &RouteTable, uri: &Uri) -> Option<Response> {
    let field = nul_field(table, uri.path(), uri.query().unwrap_or(""))?;
    Some(ApiError::validation(vec![nul_error(field)]).into_response())
}

/// The error for a field holding NUL; request bodies (`http::body`) report it the same way.
pub fn nul_error(field: impl Into<String>) -> FieldError {
    FieldError::new(field, "must not contain the NUL character (U+0000)")
}

/// The first parameter whose decoded value holds NUL. A raw URI cannot carry NUL, and `%00` is its only
/// encoding in valid UTF-8, so a path segment is checked for that text.
fn nul_field(table: &RouteTable, path: &str, query: &str) -> Option<String> {
    // Every request crosses this: the common case costs two substring scans and no allocation.
    if !path.contains("%00") && !query.contains("%00") {
        return None;
    }
    let in_path = path
        .trim_matches('/')
        .split('/')
        .position(|s| s.contains("%00"));
    if let Some(index) = in_path {
        return Some(table.path_param(path, index).unwrap_or("path").to_owned());
    }
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| {
            value.contains('\0') && !PROVIDER_TEXT.iter().any(|&(p, n)| p == path && n == name)
        })
        .map(|(name, _)| name.replace('\0', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        RouteTable::from_spec(
            r#"{"paths":{"/api/v1/roles/{id}":{"get":{}},"/api/v1/users":{"get":{}}}}"#,
            &[],
        )
    }

    #[test]
    fn a_query_parameter_with_nul_is_named() {
        let t = table();
        assert_eq!(
            nul_field(&t, "/api/v1/users", "page=2&email=a%00b"),
            Some("email".into())
        );
        assert_eq!(nul_field(&t, "/api/v1/users", "email=a%2500b&role=x"), None);
        assert_eq!(nul_field(&t, "/api/v1/users", ""), None);
    }

    #[test]
    fn a_path_segment_with_nul_names_the_template_parameter() {
        let t = table();
        assert_eq!(nul_field(&t, "/api/v1/roles/a%00", ""), Some("id".into()));
        assert_eq!(nul_field(&t, "/api/v1/%00/x", ""), Some("path".into()));
    }

    #[test]
    fn the_providers_error_description_is_left_to_the_login_flow() {
        let t = table();
        let q = "state=s&error=access_denied&error_description=a%00b";
        assert_eq!(nul_field(&t, "/auth/callback", q), None);
        assert_eq!(
            nul_field(&t, "/auth/callback", "state=a%00b"),
            Some("state".into())
        );
    }
}
