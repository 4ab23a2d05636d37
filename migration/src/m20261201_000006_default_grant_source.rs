//! Grants of a default role made at first login get their own source, `default`, beside `manual` and
//! `provider`: replacing a user's manual grants through the API must not turn them into manual ones, nor drop
//! them. Until now such grants were stored as `manual` with no granting user; those of roles that are default
//! today become `default`. (A `keyward roles grant` of a default role, also without a granting user, is taken
//! for one: the difference is only where the console shows it.)

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE user_roles SET source = 'default' \
                 WHERE source = 'manual' AND granted_by IS NULL \
                 AND role_id IN (SELECT id FROM roles WHERE is_default)",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE user_roles SET source = 'manual' WHERE source = 'default' \
                 AND NOT EXISTS (SELECT 1 FROM user_roles m WHERE m.user_id = user_roles.user_id \
                 AND m.role_id = user_roles.role_id AND m.source = 'manual')",
            )
            .await
            .map(|_| ())
    }
}
