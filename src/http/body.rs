//! `JsonBody<T>`: the JSON request body every operation takes. It reports every problem with the body at once
//! as field-level errors (unknown, missing, mistyped fields and the rules the schema declares), then applies
//! `validator` rules.

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::{
    payload::{ParsePayload, Payload},
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};
use serde_json::Value;
use validator::Validate;

use crate::{
    error::{ApiError, FieldError},
    http::middleware::nul::nul_error,
};

/// A JSON object body, checked against the type's schema before it reaches the operation.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(m)
            if m.type_() == "application" && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json")))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON + Validate> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(request, body).await?;
        Ok(Self(parse_body::<T>(&data)?))
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: ParseFromJSON + Validate);

/// Reads and checks a body; kept apart from HTTP so the rules can be tested on plain bytes.
pub fn parse_body<T: ParseFromJSON + Validate>(data: &[u8]) -> Result<T, ApiError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed(
            "the request body is empty; send a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(data)
        .map_err(|e| ApiError::malformed(format!("the request body is not valid JSON: {e}")))?;
    let mut errors = shape_errors::<T>(&value);
    nul_errors("", &value, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Only rules the checks above do not know (a string format, say) reach poem-openapi's own parsing.
    let parsed = T::parse_from_json(Some(value))
        .map_err(|e| ApiError::validation(vec![attribute(e.message())]))?;
    parsed.validate()?;
    Ok(parsed)
}

/// Compares the body with the schema poem-openapi publishes for `T` (which also enforces it, stopping at the
/// first failure), so every failing field is reported at once.
fn shape_errors<T: Type>(value: &Value) -> Vec<FieldError> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    let root = T::schema_ref();
    let Some(schema) = resolve(&registry, &root) else {
        return Vec::new();
    };
    if schema.ty != "object" {
        return Vec::new();
    }
    let Value::Object(obj) = value else {
        return vec![FieldError::new("body", "must be a JSON object")];
    };
    let mut errors: Vec<FieldError> = obj
        .keys()
        .filter(|k| !schema.properties.iter().any(|(name, _)| name == k))
        .map(|k| FieldError::new(k.as_str(), "unknown field"))
        .collect();
    for name in &schema.required {
        if obj.get(*name).is_none_or(Value::is_null) {
            errors.push(FieldError::new(*name, "is required"));
        }
    }
    for (name, field_schema) in &schema.properties {
        if let (Some(v), Some(field_schema)) = (obj.get(*name), resolve(&registry, field_schema)) {
            check_value(&registry, name, v, field_schema, &mut errors);
        }
    }
    errors
}

/// The value's type, then the rules its schema declares: lengths, pattern, bounds, item counts, and each item.
fn check_value(
    registry: &Registry,
    path: &str,
    value: &Value,
    schema: &MetaSchema,
    out: &mut Vec<FieldError>,
) {
    if value.is_null() {
        return;
    }
    if !json_matches(schema.ty, value) {
        out.push(FieldError::new(
            path,
            format!("must be of type {}", schema.ty),
        ));
        return;
    }
    let mut broken = |message: String| out.push(FieldError::new(path, message));
    match value {
        Value::String(s) => {
            let chars = s.chars().count();
            if let Some(min) = schema.min_length.filter(|&min| chars < min) {
                broken(format!("must be at least {min} characters long"));
            }
            if let Some(max) = schema.max_length.filter(|&max| chars > max) {
                broken(format!("must be at most {max} characters long"));
            }
            if let Some(pattern) = &schema.pattern
                && !regex::Regex::new(pattern).is_ok_and(|re| re.is_match(s))
            {
                broken(format!("must match the pattern {pattern}"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or_default();
            let exclusive = |flag: Option<bool>| flag.unwrap_or(false);
            if let Some(min) = schema.minimum
                && (n < min || (exclusive(schema.exclusive_minimum) && n == min))
            {
                broken(format!("must not be less than {min}"));
            }
            if let Some(max) = schema.maximum
                && (n > max || (exclusive(schema.exclusive_maximum) && n == max))
            {
                broken(format!("must not be more than {max}"));
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.min_items.filter(|&min| items.len() < min) {
                broken(format!("must have at least {min} items"));
            }
            if let Some(max) = schema.max_items.filter(|&max| items.len() > max) {
                broken(format!("must have at most {max} items"));
            }
            if let Some(item_schema) = schema.items.as_deref().and_then(|s| resolve(registry, s)) {
                for (i, item) in items.iter().enumerate() {
                    check_value(registry, &format!("{path}[{i}]"), item, item_schema, out);
                }
            }
        }
        _ => {}
    }
}

/// Every string (or key) holding NUL, named by its dotted path (`a.b`, `a[0]`) as `validator` errors are.
fn nul_errors(path: &str, value: &Value, out: &mut Vec<FieldError>) {
    match value {
        Value::String(s) if s.contains('\0') => {
            out.push(nul_error(if path.is_empty() { "body" } else { path }));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_errors(&format!("{path}[{i}]"), item, out);
            }
        }
        Value::Object(obj) => {
            for (key, item) in obj {
                let name = key.replace('\0', "");
                let child = if path.is_empty() {
                    name
                } else {
                    format!("{path}.{name}")
                };
                if key.contains('\0') {
                    out.push(nul_error(child));
                } else {
                    nul_errors(&child, item, out);
                }
            }
        }
        _ => {}
    }
}

fn resolve<'a>(registry: &'a Registry, schema: &'a MetaSchemaRef) -> Option<&'a MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(s) => Some(s),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn json_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

/// poem-openapi names the field in rule failures (``field `name` verification failed. minLength(2)``).
fn attribute(message: &str) -> FieldError {
    let field = message
        .split_once("field `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(field, _)| field);
    let rule = message
        .split_once("verification failed. ")
        .map(|(_, rule)| {
            rule.split(" (occurred while parsing")
                .next()
                .unwrap_or(rule)
        });
    match (field, rule) {
        (Some(field), Some(rule)) => FieldError::new(field, format!("does not satisfy {rule}")),
        _ => FieldError::new("body", message),
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;

    use super::*;
    use crate::error::Problem;

    #[derive(Object, Validate, Debug)]
    #[oai(deny_unknown_fields)]
    struct Sample {
        #[oai(validator(min_length = 2, max_length = 8))]
        name: String,
        count: Option<i64>,
        #[validate(email(message = "must be an email address"))]
        email: Option<String>,
        #[oai(validator(max_length = 4))]
        note: Option<String>,
        #[oai(validator(max_items = 2))]
        tags: Option<Vec<String>>,
    }

    fn problem(err: ApiError) -> Problem {
        match err {
            ApiError::BadRequest(p) => p.0,
            other => panic!("expected 400, got {other:?}"),
        }
    }

    #[test]
    fn broken_json_is_malformed() {
        let p = problem(parse_body::<Sample>(b"{\"name\": ").unwrap_err());
        assert_eq!(p.kind, "urn:keyward:problem:malformed-request");
        assert!(p.detail.contains("not valid JSON"), "{}", p.detail);
        let p = problem(parse_body::<Sample>(b"  ").unwrap_err());
        assert!(p.detail.contains("empty"));
    }

    #[test]
    fn every_shape_error_is_reported_with_its_field() {
        let p = problem(parse_body::<Sample>(br#"{"count": "three", "extra": 1}"#).unwrap_err());
        assert_eq!(p.kind, "urn:keyward:problem:validation-failed");
        let errors = p.errors.unwrap();
        assert!(
            errors.contains(&FieldError::new("extra", "unknown field")),
            "{errors:?}"
        );
        assert!(
            errors.contains(&FieldError::new("name", "is required")),
            "{errors:?}"
        );
        assert!(
            errors.contains(&FieldError::new("count", "must be of type integer")),
            "{errors:?}"
        );
    }

    #[test]
    fn schema_rules_and_validator_rules_name_the_field() {
        let p = problem(parse_body::<Sample>(br#"{"name": "x"}"#).unwrap_err());
        assert_eq!(
            p.errors.unwrap(),
            vec![FieldError::new(
                "name",
                "must be at least 2 characters long"
            )]
        );
        let p = problem(parse_body::<Sample>(br#"{"name": "xy", "email": "nope"}"#).unwrap_err());
        assert_eq!(
            p.errors.unwrap(),
            vec![FieldError::new("email", "must be an email address")]
        );
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let p = problem(
            parse_body::<Sample>(br#"{"name": "x", "note": "way too long", "extra": 1}"#)
                .unwrap_err(),
        );
        assert_eq!(
            p.errors.unwrap(),
            vec![
                FieldError::new("extra", "unknown field"),
                FieldError::new("name", "must be at least 2 characters long"),
                FieldError::new("note", "must be at most 4 characters long"),
            ]
        );
        let p = problem(
            parse_body::<Sample>(br#"{"name": "ok", "tags": ["a", 1, "long"]}"#).unwrap_err(),
        );
        assert_eq!(
            p.errors.unwrap(),
            vec![
                FieldError::new("tags", "must have at most 2 items"),
                FieldError::new("tags[1]", "must be of type string"),
            ]
        );
    }

    #[test]
    fn nul_in_any_string_names_its_field() {
        let p = problem(
            parse_body::<Sample>(br#"{"name": "ok", "note": "a\u0000b", "count": 1}"#).unwrap_err(),
        );
        assert_eq!(p.kind, "urn:keyward:problem:validation-failed");
        assert_eq!(p.errors.unwrap(), vec![nul_error("note")]);
        let mut errors = Vec::new();
        nul_errors(
            "",
            &serde_json::json!({"a": {"b": ["x", "\u{0}"]}}),
            &mut errors,
        );
        assert_eq!(errors, vec![nul_error("a.b[1]")]);
    }

    #[test]
    fn a_valid_body_parses() {
        let s = parse_body::<Sample>(br#"{"name": "ok", "count": 3, "email": "a@example.com"}"#)
            .unwrap();
        assert_eq!((s.name.as_str(), s.count), ("ok", Some(3)));
        let p = problem(parse_body::<Sample>(b"[1]").unwrap_err());
        assert_eq!(
            p.errors.unwrap(),
            vec![FieldError::new("body", "must be a JSON object")]
        );
    }
}
