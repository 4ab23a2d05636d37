//! sea-orm entities for Keyward's tables, one module per table.

pub mod audit_events;
pub mod job_leases;
pub mod keyward_settings;
pub mod login_attempts;
pub mod logout_tokens_seen;
pub mod permissions;
pub mod rbac_seed_applied;
pub mod role_permissions;
pub mod roles;
pub mod sessions;
pub mod signing_keys;
pub mod sync_event_cursors;
pub mod sync_runs;
pub mod user_roles;
pub mod users;
