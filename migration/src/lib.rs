//! Keyward's schema migrations, applied at `keyward serve` start-up and by `keyward migrate`.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_auth;
mod m20261123_000003_create_rbac;
mod m20261123_000004_create_sync;
mod m20261130_000005_seed_ledger_and_token_revocation;
mod m20261201_000006_default_grant_source;
mod m20261201_000007_session_ids;
mod m20261201_000008_provider_events;
mod m20261201_000009_audit_counts;
mod m20261201_000011_drop_token_revocations;
mod m20261201_000012_user_search;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_auth::Migration),
            Box::new(m20261123_000003_create_rbac::Migration),
            Box::new(m20261123_000004_create_sync::Migration),
            Box::new(m20261130_000005_seed_ledger_and_token_revocation::Migration),
            Box::new(m20261201_000006_default_grant_source::Migration),
            Box::new(m20261201_000007_session_ids::Migration),
            Box::new(m20261201_000008_provider_events::Migration),
            Box::new(m20261201_000009_audit_counts::Migration),
            Box::new(m20261201_000011_drop_token_revocations::Migration),
            Box::new(m20261201_000012_user_search::Migration),
        ]
    }
}
