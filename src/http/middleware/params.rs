//! Every path and query parameter of an operation checked against its schema in the spec, so that the first
//! bad one poem-openapi stops at is reported together with all the others.

use serde_json::Value;

use crate::{error::FieldError, http::middleware::route_table::RouteTable};

/// The declared parameters of the request that break their schema, or are required and missing.
pub fn parameter_errors(
    table: &RouteTable,
    method: &str,
    path: &str,
    query: &str,
) -> Vec<FieldError> {
    table
        .parameters(method, path, query)
        .into_iter()
        .filter_map(|(param, raw)| {
            let message = match raw {
                None => param.required.then(|| "is required".to_owned()),
                Some(raw) => broken_rule(&param.schema, &raw),
            };
            message.map(|m| FieldError::new(param.name.as_str(), m))
        })
        .collect()
}

/// The first rule of `schema` the raw text breaks, in words.
fn broken_rule(schema: &Value, raw: &str) -> Option<String> {
    let bound = |key: &str| schema[key].as_f64();
    match schema["type"].as_str()? {
        "integer" => {
            let Ok(n) = raw.parse::<i128>() else {
                return Some("must be an integer".into());
            };
            let n = n as f64;
            if let Some(min) = bound("minimum").filter(|&min| n < min) {
                return Some(format!("must not be less than {min}"));
            }
            if let Some(max) = bound("maximum").filter(|&max| n > max) {
                return Some(format!("must not be more than {max}"));
            }
            let unsigned = schema["format"]
                .as_str()
                .is_some_and(|f| f.starts_with("uint"));
            (unsigned && n < 0.0).then(|| "must not be negative".into())
        }
        "boolean" => (raw != "true" && raw != "false").then(|| "must be true or false".into()),
        "string" => {
            let chars = raw.chars().count();
            let too_short = bound("minLength").filter(|&min| (chars as f64) < min);
            let too_long = bound("maxLength").filter(|&max| (chars as f64) > max);
            if let Some(min) = too_short {
                Some(format!("must be at least {min} characters long"))
            } else if let Some(max) = too_long {
                Some(format!("must be at most {max} characters long"))
            } else {
                match schema["format"].as_str() {
                    Some("uuid") if uuid::Uuid::parse_str(raw).is_err() => {
                        Some("must be a UUID".into())
                    }
                    Some("date-time") if chrono::DateTime::parse_from_rfc3339(raw).is_err() => {
                        Some("must be an RFC 3339 date-time".into())
                    }
                    _ => None,
                }
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_rule_is_named_in_words() {
        let page = json!({"type": "integer", "format": "uint64", "minimum": 1.0, "maximum": 200.0});
        assert_eq!(
            broken_rule(&page, "0").as_deref(),
            Some("must not be less than 1")
        );
        assert_eq!(
            broken_rule(&page, "201").as_deref(),
            Some("must not be more than 200")
        );
        assert_eq!(
            broken_rule(&page, "x").as_deref(),
            Some("must be an integer")
        );
        assert_eq!(broken_rule(&page, "20"), None);
        let id = json!({"type": "string", "format": "uuid"});
        assert_eq!(
            broken_rule(&id, "not-a-uuid").as_deref(),
            Some("must be a UUID")
        );
        assert_eq!(
            broken_rule(&id, "01937c2e-5a10-7000-8000-000000000001"),
            None
        );
        let email = json!({"type": "string", "maxLength": 3});
        assert_eq!(
            broken_rule(&email, "abcd").as_deref(),
            Some("must be at most 3 characters long")
        );
        assert_eq!(
            broken_rule(&json!({"type": "boolean"}), "yes").as_deref(),
            Some("must be true or false")
        );
    }
}
