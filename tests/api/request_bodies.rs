//! Request bodies: a field the schema does not name is refused (400 naming it), and the spec says so
//! (`additionalProperties: false`), so that clients and fuzzers generated from it do not send one.

use keyward::http::routes::spec_json;
use serde_json::{Value, json};

use crate::{
    helpers::problem,
    idp::Layout,
    rbac::{call, with_admin},
};

#[test]
fn every_request_body_schema_refuses_unknown_fields() {
    let spec: Value = serde_json::from_str(&spec_json()).unwrap();
    let mut bodies = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for media in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flat_map(|c| c.values())
            {
                let name = media["schema"]["$ref"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap();
                let schema = &spec["components"]["schemas"][name];
                assert_eq!(
                    schema["additionalProperties"], false,
                    "{method} {path}: {name}"
                );
                bodies += 1;
            }
        }
    }
    assert!(bodies >= 6, "{bodies} request bodies");
}

#[tokio::test]
async fn an_unknown_body_field_is_a_400_naming_it() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let resp = call(
        &app,
        Some(&admin),
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "auditor", "colour": "red"})),
    )
    .await;
    let p = problem(resp).await;
    assert_eq!(p["status"], 400, "{p}");
    assert_eq!(p["errors"][0]["field"], "colour", "{p}");
}
