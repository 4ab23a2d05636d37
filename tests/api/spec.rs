//! The spec tells the truth: what SPA developers generate their types from matches what Keyward sends and
//! answers.

use std::collections::BTreeSet;

use keyward::{error::ProblemType, http::routes::spec_json};
use serde_json::{Value, json};

use crate::helpers::spawn_app_with;

fn spec() -> Value {
    serde_json::from_str(&spec_json()).unwrap()
}

/// Every operation: (method, path, operation).
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, methods) in spec["paths"].as_object().unwrap() {
        for (method, op) in methods.as_object().unwrap() {
            ops.push((method.clone(), path.clone(), op.clone()));
        }
    }
    ops
}

fn statuses(op: &Value) -> BTreeSet<u16> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|s| s.parse().unwrap())
        .collect()
}

/// A response, following a `$ref` into `components/responses`.
fn response<'a>(spec: &'a Value, op: &'a Value, status: u16) -> &'a Value {
    let r = &op["responses"][status.to_string()];
    match r["$ref"].as_str() {
        Some(name) => &spec["components"]["responses"][name.rsplit('/').next().unwrap()],
        None => r,
    }
}

/// Where `value` holds null outside an example.
fn nulls(at: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => out.push(at.to_owned()),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nulls(&format!("{at}/{i}"), item, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter().filter(|(k, _)| *k != "example") {
                nulls(&format!("{at}/{key}"), item, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_spec_holds_no_null_where_a_value_belongs() {
    let mut found = Vec::new();
    nulls("", &spec(), &mut found);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn optional_fields_are_nullable_unless_they_are_left_out_instead() {
    // These are absent rather than null when there is nothing to say.
    let absent = [
        "Problem.errors",
        "SessionInfo.user",
        "SessionInfo.expires_at",
    ];
    let spec = spec();
    let mut not_nullable = Vec::new();
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        let required: Vec<&Value> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for (prop, p) in schema["properties"].as_object().into_iter().flatten() {
            let field = format!("{name}.{prop}");
            if !required.contains(&&json!(prop))
                && p["nullable"] != true
                && !absent.contains(&&*field)
            {
                not_nullable.push(field);
            }
        }
    }
    assert_eq!(not_nullable, Vec::<String>::new());
    for (schema, prop) in [
        ("Role", "idp_group"),
        ("AuditEvent", "user_id"),
        ("SyncRun", "finished_at"),
    ] {
        assert_eq!(
            spec["components"]["schemas"][schema]["properties"][prop]["nullable"],
            true
        );
    }
}

#[test]
fn each_operation_lists_only_the_problems_it_can_answer() {
    let spec = spec();
    let op = |method: &str, path: &str| spec["paths"][path][method].clone();
    let set = |s: &[u16]| s.iter().copied().collect::<BTreeSet<u16>>();
    // 403: a browser page on an origin CORS does not allow, whatever it calls.
    assert_eq!(statuses(&op("get", "/healthz")), set(&[200, 403]));
    assert_eq!(statuses(&op("get", "/readyz")), set(&[200, 403, 503]));
    assert_eq!(
        statuses(&op("get", "/.well-known/jwks.json")),
        set(&[200, 403, 429, 500, 503])
    );
    assert_eq!(
        statuses(&op("get", "/auth/session")),
        set(&[200, 403, 429, 500, 503])
    );
    assert_eq!(
        statuses(&op("post", "/api/v1/roles")),
        set(&[201, 400, 401, 403, 409, 413, 415, 429, 500, 503])
    );
    assert_eq!(
        statuses(&op("get", "/api/v1/roles/{id}")),
        set(&[200, 400, 401, 403, 404, 429, 500, 503])
    );
    for (method, path, op) in operations(&spec) {
        let listed = statuses(&op);
        let probe = path == "/healthz" || path == "/readyz";
        assert_eq!(listed.contains(&429), !probe, "{method} {path}");
        if !probe {
            let retry = &response(&spec, &op, 429)["headers"]["Retry-After"];
            assert_eq!(retry["schema"]["type"], "integer", "{method} {path}");
        }
        let body = op.get("requestBody").is_some();
        assert_eq!(
            listed.contains(&413) && listed.contains(&415),
            body,
            "{method} {path}"
        );
        if listed.contains(&401) {
            assert!(response(&spec, &op, 401)["headers"]["WWW-Authenticate"].is_object());
        }
    }
}

#[test]
fn problem_types_and_the_states_of_runs_and_events_are_enums() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let uris: Vec<Value> = ProblemType::ALL.iter().map(|t| json!(t.uri())).collect();
    assert_eq!(
        schemas["Problem"]["properties"]["type"]["enum"],
        json!(uris)
    );
    let enum_of = |schema: &str, prop: &str| {
        let p = &schemas[schema]["properties"][prop];
        let name = p["allOf"][0]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        schemas[name]["enum"].clone()
    };
    assert_eq!(
        enum_of("SyncRun", "status"),
        json!(["running", "succeeded", "failed"])
    );
    assert_eq!(
        enum_of("SyncRun", "trigger"),
        json!(["schedule", "manual", "startup", "takeover"])
    );
    assert_eq!(
        enum_of("AuditEvent", "outcome"),
        json!(["success", "failure"])
    );
}

#[test]
fn every_schema_property_parameter_and_response_is_described_and_every_body_has_an_example() {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let described = |v: &Value| v["description"].as_str().is_some_and(|d| !d.is_empty());
    let mut missing = Vec::new();
    for (name, schema) in schemas {
        if !described(schema) {
            missing.push(name.clone());
        }
        for (prop, p) in schema["properties"].as_object().into_iter().flatten() {
            if !described(p) {
                missing.push(format!("{name}.{prop}"));
            }
        }
    }
    for (method, path, op) in operations(&spec) {
        for param in op["parameters"].as_array().into_iter().flatten() {
            if !described(param) {
                missing.push(format!("{method} {path} {}", param["name"]));
            }
        }
        if op.get("requestBody").is_some_and(|b| !described(b)) {
            missing.push(format!("{method} {path} request body"));
        }
        for status in statuses(&op) {
            let r = response(&spec, &op, status);
            if !described(r) {
                missing.push(format!("{method} {path} {status}"));
            }
            for (name, h) in r["headers"].as_object().into_iter().flatten() {
                if !described(h) {
                    missing.push(format!("{method} {path} {status} {name}"));
                }
            }
            for content in r["content"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, c)| c)
            {
                let schema = content["schema"]["$ref"]
                    .as_str()
                    .map(|r| &schemas[r.rsplit('/').next().unwrap()]);
                if content["example"].is_null() && schema.is_none_or(|s| s["example"].is_null()) {
                    missing.push(format!("{method} {path} {status}: example"));
                }
                if content["schema"]["$ref"] == "#/components/schemas/Problem" {
                    assert_eq!(content["example"]["status"], status, "{method} {path}");
                }
            }
        }
    }
    assert_eq!(missing, Vec::<String>::new());
}

#[test]
fn the_csrf_header_is_a_security_scheme_required_with_the_session_cookie() {
    let spec = spec();
    let scheme = &spec["components"]["securitySchemes"]["CsrfHeader"];
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (&json!("apiKey"), &json!("header"), &json!("X-CSRF"))
    );
    let mut with_cookie = 0;
    for (method, path, op) in operations(&spec) {
        for requirement in op["security"].as_array().into_iter().flatten() {
            if requirement.get("SessionCookie").is_some() {
                with_cookie += 1;
                assert!(requirement.get("CsrfHeader").is_some(), "{method} {path}");
            }
        }
        let params = op["parameters"].as_array().into_iter().flatten();
        assert!(
            params.into_iter().all(|p| p["name"] != "X-CSRF"),
            "{method} {path}"
        );
    }
    assert!(with_cookie > 20, "{with_cookie}");
}

/// A request for an operation as a client without credentials might send it.
async fn send(app: &crate::helpers::TestApp, method: &str, path: &str) -> reqwest::Response {
    let path = path.replace("{id}", "01937c2e-5a10-7000-8000-000000000001");
    app.client
        .request(method.to_uppercase().parse().unwrap(), app.url(&path))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn what_the_server_answers_is_listed_for_the_operation() {
    let spec = spec();
    let app = spawn_app_with(&[("KEYWARD_RATE_LIMIT_PER_MINUTE", "0")]).await;
    for (method, path, op) in operations(&spec) {
        let status = send(&app, &method, &path).await.status().as_u16();
        assert!(
            statuses(&op).contains(&status),
            "{method} {path} answered {status}"
        );
        if op.get("requestBody").is_some() {
            let resp = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&path))
                .header("content-type", "application/json")
                .body(vec![b' '; 65 * 1024])
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 413, "{method} {path}");
            assert!(statuses(&op).contains(&413), "{method} {path}");
        }
    }

    for (method, path, op) in operations(&spec) {
        // The provider's back-channel logout is server to server: CORS does not guard it.
        if path == "/auth/backchannel-logout" {
            continue;
        }
        let path = path.replace("{id}", "01937c2e-5a10-7000-8000-000000000001");
        let resp = app
            .client
            .request(method.to_uppercase().parse().unwrap(), app.url(&path))
            .header("Origin", "https://evil.example.net")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{method} {path}");
        assert!(statuses(&op).contains(&403), "{method} {path}");
    }

    // One request each spends the whole budget; the next answers 429 wherever the spec lists it.
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "1"),
        ("KEYWARD_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    send(&app, "get", "/openapi.json").await;
    for (method, path, op) in operations(&spec) {
        let status = send(&app, &method, &path).await.status().as_u16();
        let probe = path == "/healthz" || path == "/readyz";
        assert_eq!(status == 429, !probe, "{method} {path} answered {status}");
        assert!(
            statuses(&op).contains(&status),
            "{method} {path} answered {status}"
        );
    }
}
