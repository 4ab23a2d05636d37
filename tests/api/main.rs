//! Integration tests: each spawns the real Keyward on a random port with a fresh database.
//! The database is SQLite unless `KEYWARD_TEST_PG_URL` names a PostgreSQL server to create databases on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_log;
mod bad_input;
mod bootstrap_admin;
mod cli;
mod console;
mod cors;
mod db_faults;
mod deleted_meanwhile;
mod deploy_realm;
mod errors;
mod health;
mod helpers;
mod idp;
mod login;
mod logs;
mod mappings;
mod ops_cli;
mod pg_cluster;
mod rate_limit;
mod rbac;
mod request_bodies;
mod revoke_guard;
mod roles_cli;
mod security_headers;
mod session_ends;
mod sessions;
mod shared_budget;
mod shutdown;
mod spec;
mod sync;
mod sync_events;
mod takeover;
mod user_search;
