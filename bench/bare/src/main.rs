//! Bare poem-openapi serving `/healthz` and a `/api/v1/me` of Keyward's JSON shape, with no middleware at all:
//! what the framework alone costs. `/api/v1/me-direct` writes the same document straight with serde, as Keyward's
//! `/me` does: the stricter ceiling. `BARE_LISTEN` (default 127.0.0.1:3999) is the address.

use poem::{IntoResponse, Response, Route, Server, listener::TcpListener};
use poem_openapi::{
    ApiResponse, Object, OpenApi, OpenApiService,
    payload::{Json, Payload},
    registry::{MetaResponses, MetaSchemaRef, Registry},
};
use serde::Serialize;
use std::sync::Arc;

#[derive(Object)]
struct HealthStatus {
    status: String,
}

/// The fields of Keyward's `Me`, filled like the bench user's (3 roles, 20 permissions).
#[derive(Object)]
struct Me {
    id: String,
    email: Option<String>,
    email_verified: bool,
    display_name: Option<String>,
    username: Option<String>,
    avatar_url: Option<String>,
    roles: Vec<String>,
    permissions: Vec<String>,
}

/// The same document written straight with serde, as Keyward's `/me` writes it (`MeJson`): the strict ceiling,
/// the framework with no copy of the fields and no JSON document built first.
#[derive(Serialize)]
struct MeView<'a> {
    id: &'a str,
    email: Option<&'a str>,
    email_verified: bool,
    display_name: Option<&'a str>,
    username: Option<&'a str>,
    avatar_url: Option<String>,
    roles: &'a [String],
    permissions: &'a [String],
}

/// Roles and permissions shared by `Arc`, as Keyward's access cache shares them.
struct Direct(Arc<(Vec<String>, Vec<String>)>);

impl Payload for Direct {
    const CONTENT_TYPE: &'static str = <Json<Me> as Payload>::CONTENT_TYPE;
    fn check_content_type(content_type: &str) -> bool {
        <Json<Me> as Payload>::check_content_type(content_type)
    }
    fn schema_ref() -> MetaSchemaRef {
        <Json<Me> as Payload>::schema_ref()
    }
    fn register(registry: &mut Registry) {
        <Json<Me> as Payload>::register(registry);
    }
}

impl ApiResponse for Direct {
    fn meta() -> MetaResponses {
        <Json<Me> as ApiResponse>::meta()
    }
    fn register(registry: &mut Registry) {
        <Json<Me> as ApiResponse>::register(registry);
    }
}

impl IntoResponse for Direct {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&MeView {
            id: "0190a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
            email: Some("alice@example.com"),
            email_verified: true,
            display_name: Some("Alice Example"),
            username: Some("alice"),
            // Keyward formats the Gravatar URL per request too.
            avatar_url: Some(format!(
                "https://www.gravatar.com/avatar/{}?d=identicon",
                AVATAR_HASH
            )),
            roles: &self.0.0,
            permissions: &self.0.1,
        })
        .unwrap_or_default();
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(body)
    }
}

const AVATAR_HASH: &str = "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976";

struct Api {
    direct: Arc<(Vec<String>, Vec<String>)>,
}

#[OpenApi]
impl Api {
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
        })
    }

    #[oai(path = "/api/v1/me-direct", method = "get")]
    async fn me_direct(&self) -> Direct {
        Direct(self.direct.clone())
    }

    #[oai(path = "/api/v1/me", method = "get")]
    async fn me(&self) -> Json<Me> {
        Json(Me {
            id: "0190a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d".into(),
            email: Some("alice@example.com".into()),
            email_verified: true,
            display_name: Some("Alice Example".into()),
            username: Some("alice".into()),
            avatar_url: Some(
                "https://www.gravatar.com/avatar/ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976?d=identicon"
                    .into(),
            ),
            roles: roles(),
            permissions: permissions(),
        })
    }
}

/// The bench user's roles and permissions (3 and 20), built per request by bare `/me` as before.
fn roles() -> Vec<String> {
    vec!["bench-admins".into(), "bench-users".into(), "user".into()]
}

fn permissions() -> Vec<String> {
    [
        "users:read",
        "users:write",
        "roles:read",
        "roles:write",
        "audit:read",
        "sync:read",
        "sync:run",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain((1..=13).map(|i| format!("app:action{i}")))
    .collect()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:3999".into());
    let api = Api {
        direct: Arc::new((roles(), permissions())),
    };
    let app = Route::new().nest("/", OpenApiService::new(api, "bare", "0"));
    Server::new(TcpListener::bind(listen)).run(app).await
}
