//! The HTTP edge: poem-openapi services (one file per resource), request bodies and middleware.

pub mod auth;
pub mod authn;
pub mod body;
pub mod client_ip;
pub mod health;
pub mod me;
pub mod middleware;

#[derive(poem_openapi::Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes for orchestrators.
    Health,
    /// Login through the OpenID provider, the session, logout and API tokens.
    Auth,
    /// Users.
    Users,
}
