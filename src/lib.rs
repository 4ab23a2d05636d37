//! Keyward: an application backend for single-page apps. Login is delegated to an OpenID Connect provider;
//! Keyward keeps sessions, mints API tokens, syncs users and enforces roles.

pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod rate_limit;
pub mod rbac;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod text;
pub mod users;
