//! The HTTP edge: poem-openapi services (one file per resource), request bodies and middleware.
//! Handlers stay thin (read the request, call the domain, map the outcome): clippy refuses one over 60 lines.
#![deny(clippy::too_many_lines)]

pub mod admin_types;
pub mod auth;
pub mod authn;
pub mod body;
pub mod client_ip;
pub mod console;
pub mod health;
pub mod me;
pub mod middleware;
pub mod pagination;
pub mod roles;
pub mod routes;
pub mod sessions;
pub mod spec;
pub mod sync;
pub mod users;
pub mod validation;

#[derive(poem_openapi::Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes for orchestrators.
    Health,
    /// Login through the OpenID provider, the session, logout and API tokens.
    Auth,
    /// Users: the current one, and (for admins) everyone, their status and their roles.
    Users,
    /// Roles and permissions.
    Roles,
    /// The user sync with the provider's directory.
    Sync,
}
