//! The spec as published: poem-openapi's document, finished in one place with what its derives cannot say:
//! the problems each operation can really answer, the `X-CSRF` header required together with the session
//! cookie, the values of `Problem.type`, and descriptions of shared parameters and of bodies from their schema.

use serde_json::{Map, Value, json};

use crate::{
    error::{FieldError, Problem, ProblemType},
    http::{
        authn::{CSRF_SCHEME, SESSION_SCHEME},
        health,
        sessions::BACKCHANNEL_LOGOUT_PATH,
    },
};

/// Operations that can refuse a change for the state it would break (a name taken, a built-in, the last
/// admin, a bootstrap admin, a sync already running). Every other status follows from the operation's shape (`answers`).
const CONFLICTS: &[&str] = &[
    "createRole",
    "updateRole",
    "deleteRole",
    "setRolePermissions",
    "createPermission",
    "deletePermission",
    "updateUser",
    "endUserSessions",
    "setUserRoles",
    "startSyncRun",
];

/// The problems an operation can answer, from what it takes and where the edge stands in front of it.
fn answers(path: &str, op: &Value) -> Vec<ProblemType> {
    use ProblemType as P;
    let params = op["parameters"].as_array().map_or(&[][..], Vec::as_slice);
    let has_body = op.get("requestBody").is_some();
    let mut kinds = Vec::new();
    if has_body || !params.is_empty() {
        kinds.push(P::ValidationFailed);
    }
    if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
        kinds.push(P::Unauthorized);
    }
    // A browser page on an origin CORS does not allow is refused whatever it calls, but for the provider's
    // back-channel, which CORS does not guard.
    if path != BACKCHANNEL_LOGOUT_PATH {
        kinds.push(P::Forbidden);
    }
    if params.iter().any(|p| p["in"] == "path") {
        kinds.push(P::NotFound);
    }
    if op["operationId"]
        .as_str()
        .is_some_and(|id| CONFLICTS.contains(&id))
    {
        kinds.push(P::Conflict);
    }
    if has_body {
        kinds.extend([P::PayloadTooLarge, P::UnsupportedMediaType]);
    }
    // Probes spend no rate-limit budget, and read nothing that can fail but the database's answer.
    if !health::is_probe(path) {
        kinds.extend([P::RateLimited, P::Internal]);
    }
    if path != "/healthz" {
        kinds.push(P::ServiceUnavailable);
    }
    kinds
}

/// Each problem status an operation can answer: its name under `components/responses`, what it means, and the
/// `detail` of its example.
const PROBLEMS: &[(ProblemType, &str, &str, &str)] = &[
    (
        ProblemType::ValidationFailed,
        "BadRequest",
        "`validation-failed`: fields or parameters break the rules, each one in `errors`; \
         `malformed-request`: the body cannot be read; `login-failed` (`/auth/callback` only): the login \
         cannot complete; `logout-token-invalid` (`/auth/backchannel-logout` only): the logout token is not \
         valid or was used before.",
        "name: must match the pattern ^[a-z][a-z0-9_-]{1,63}$",
    ),
    (
        ProblemType::Unauthorized,
        "Unauthorized",
        "No credentials, or credentials that are not valid.",
        "no valid credentials: send the session cookie or an `Authorization: Bearer` token",
    ),
    (
        ProblemType::Forbidden,
        "Forbidden",
        "Not allowed: a missing permission (named in `detail`), a session cookie without `X-CSRF: 1`, or a \
         browser page on an origin Keyward's CORS settings do not allow.",
        "this operation needs the permission `roles:write`",
    ),
    (
        ProblemType::NotFound,
        "NotFound",
        "No resource with this id.",
        "no role with this id",
    ),
    (
        ProblemType::Conflict,
        "Conflict",
        "The change would break the current state: a name already taken, a built-in, the last admin, \
         a sync already running.",
        "a role named `auditor` already exists",
    ),
    (
        ProblemType::PayloadTooLarge,
        "PayloadTooLarge",
        "The request body is larger than 64 KiB.",
        "request bodies are limited to 65536 bytes",
    ),
    (
        ProblemType::UnsupportedMediaType,
        "UnsupportedMediaType",
        "The request body is not sent in the media type the operation takes (`application/json`; a form for \
         `/auth/backchannel-logout`).",
        "the content type is not supported; send application/json",
    ),
    (
        ProblemType::RateLimited,
        "TooManyRequests",
        "Too many requests from this client; retry after `Retry-After` seconds.",
        "rate limit exceeded; retry in 2 s",
    ),
    (
        ProblemType::Internal,
        "Internal",
        "Something failed inside Keyward; the details are in its logs, never in the response.",
        "an unexpected error occurred; it has been logged",
    ),
    (
        ProblemType::ServiceUnavailable,
        "Unavailable",
        "A dependency (the database, the identity provider) does not answer right now; retry after `Retry-After` seconds.",
        "the database does not answer",
    ),
];

/// The shared response of one problem status, under `components/responses`.
fn problem_response(kind: ProblemType) -> Option<(&'static str, Value)> {
    let &(_, name, description, detail) = PROBLEMS.iter().find(|(k, ..)| *k == kind)?;
    let mut example = Problem::new(kind, detail);
    if kind == ProblemType::ValidationFailed {
        example = example.with_errors(vec![FieldError::new(
            "name",
            "must match the pattern ^[a-z][a-z0-9_-]{1,63}$",
        )]);
    }
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"},
            "example": poem_openapi::types::ToJSON::to_json(&example),
        }},
    });
    let header = |name: &str, description: &str, ty: &str| json!({name: {"description": description, "required": true, "schema": {"type": ty}}});
    match kind {
        ProblemType::Unauthorized => {
            response["headers"] = header(
                "WWW-Authenticate",
                "The Bearer challenge (RFC 6750).",
                "string",
            );
        }
        ProblemType::RateLimited | ProblemType::ServiceUnavailable => {
            response["headers"] = header(
                "Retry-After",
                "Seconds to wait before the next request.",
                "integer",
            );
        }
        _ => {}
    }
    Some((name, response))
}

/// The finished spec, as `keyward openapi` prints it and `/openapi.json` serves it.
pub fn finish(raw: &str) -> String {
    let Ok(mut doc) = serde_json::from_str::<Value>(raw) else {
        return raw.to_owned();
    };
    let mut responses = Map::new();
    let schemas = doc["components"]["schemas"].clone();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, ops) in paths.iter_mut() {
            for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                finish_operation(path, op, &schemas, &mut responses);
            }
        }
    }
    // Every request body denies unknown fields (`#[oai(deny_unknown_fields)]`), which poem-openapi does not say.
    for name in request_body_schemas(&doc) {
        doc["components"]["schemas"][name.as_str()]["additionalProperties"] = json!(false);
    }
    doc["components"]["responses"] = Value::Object(responses);
    doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"] =
        ProblemType::ALL.iter().map(|t| json!(t.uri())).collect();
    serde_json::to_string(&doc).unwrap_or_else(|_| raw.to_owned())
}

/// The parameters many operations share, described once.
const SHARED_PARAMETERS: &[(&str, &str)] = &[
    ("id", "The resource's id."),
    ("page", "The page to answer, from 1 (default 1)."),
    ("per_page", "Items per page (default 50)."),
];

/// What a schema says of itself, for a request or response body that refers to it.
fn description_of(content: &Value, schemas: &Value) -> Value {
    content
        .as_object()
        .and_then(|c| c.values().next())
        .and_then(|c| c["schema"]["$ref"].as_str())
        .and_then(|r| r.rsplit('/').next())
        .map_or(Value::Null, |name| schemas[name]["description"].clone())
}

/// The names of the schemas that operations take as their body.
fn request_body_schemas(doc: &Value) -> Vec<String> {
    let ops = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|ops| ops.values());
    ops.filter_map(|op| op["requestBody"]["content"].as_object())
        .flat_map(|content| content.values())
        .filter_map(|media| media["schema"]["$ref"].as_str())
        .filter_map(|r| r.rsplit('/').next())
        .map(str::to_owned)
        .collect()
}

fn finish_operation(path: &str, op: &mut Value, schemas: &Value, shared: &mut Map<String, Value>) {
    // `get_mut`, not indexing: indexing a missing key would add it as null.
    let params = op.get_mut("parameters").and_then(Value::as_array_mut);
    for param in params.into_iter().flatten() {
        let known = SHARED_PARAMETERS
            .iter()
            .find(|(name, _)| param["name"] == *name);
        if let (Some((_, description)), None) = (known, param.get("description")) {
            param["description"] = json!(description);
        }
    }
    if let Some(body) = op.get_mut("requestBody")
        && body.get("description").is_none()
    {
        body["description"] = description_of(&body["content"], schemas);
    }
    let kinds = answers(path, op);
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    responses.retain(|status, _| !status.starts_with(['4', '5']));
    for r in responses.values_mut() {
        // A plain `Json<T>` answer has no description of its own; its schema's says what it is.
        if r["description"].as_str().is_none_or(str::is_empty) {
            r["description"] = description_of(&r["content"], schemas);
        }
    }
    for (kind, (name, response)) in kinds
        .into_iter()
        .filter_map(|k| Some((k, problem_response(k)?)))
    {
        responses.insert(
            kind.status().as_str().to_owned(),
            json!({"$ref": format!("#/components/responses/{name}")}),
        );
        shared.entry(name).or_insert(response);
    }
    // poem-openapi lists an operation's schemes as alternatives; the cookie is only half of its scheme.
    let security = op.get_mut("security").and_then(Value::as_array_mut);
    for requirement in security.into_iter().flatten() {
        if requirement.get(SESSION_SCHEME).is_some() {
            requirement[CSRF_SCHEME] = json!([]);
        }
    }
}
