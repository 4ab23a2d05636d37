//! Bare poem-openapi serving `/healthz` and a `/api/v1/me` of Keyward's JSON shape, with no middleware at all:
//! what the framework alone costs. `BARE_LISTEN` (default 127.0.0.1:3999) is the address.

use poem::{Route, Server, listener::TcpListener};
use poem_openapi::{Object, OpenApi, OpenApiService, payload::Json};

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

struct Api;

#[OpenApi]
impl Api {
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<HealthStatus> {
        Json(HealthStatus {
            status: "ok".into(),
        })
    }

    #[oai(path = "/api/v1/me", method = "get")]
    async fn me(&self) -> Json<Me> {
        let permissions = [
            "users:read", "users:write", "roles:read", "roles:write", "audit:read", "sync:read", "sync:run",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain((1..=13).map(|i| format!("app:action{i}")))
        .collect();
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
            roles: vec!["bench-admins".into(), "bench-users".into(), "user".into()],
            permissions,
        })
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:3999".into());
    let app = Route::new().nest("/", OpenApiService::new(Api, "bare", "0"));
    Server::new(TcpListener::bind(listen)).run(app).await
}
