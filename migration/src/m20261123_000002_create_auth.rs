//! Login state: pending logins, server-side sessions, Keyward's token-signing keys, its own settings
//! (the generated secret key) and the audit log.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum KeywardSettings {
    Table,
    Name,
    Value,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    State,
    Nonce,
    PkceVerifier,
    BrowserBinding,
    ReturnTo,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    IdToken,
    RefreshToken,
    ProviderExpiresAt,
    RefreshClaimedUntil,
    Ip,
    UserAgent,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    PrivateKey,
    PublicJwk,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    OccurredAt,
    Kind,
    Outcome,
    UserId,
    Target,
    Ip,
    UserAgent,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KeywardSettings::Table)
                    .if_not_exists()
                    .col(string(KeywardSettings::Name).primary_key())
                    .col(text(KeywardSettings::Value))
                    .col(timestamp_with_time_zone(KeywardSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginAttempts::Table)
                    .if_not_exists()
                    .col(string(LoginAttempts::State).primary_key())
                    .col(string(LoginAttempts::Nonce))
                    .col(string(LoginAttempts::PkceVerifier))
                    .col(string(LoginAttempts::BrowserBinding))
                    .col(text(LoginAttempts::ReturnTo))
                    .col(timestamp_with_time_zone(LoginAttempts::CreatedAt))
                    .col(timestamp_with_time_zone(LoginAttempts::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    // The SHA-256 of the cookie value: a copy of the table does not hand out sessions.
                    .col(string(Sessions::Id).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(text_null(Sessions::IdToken))
                    .col(text_null(Sessions::RefreshToken))
                    .col(timestamp_with_time_zone_null(Sessions::ProviderExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RefreshClaimedUntil))
                    .col(string_null(Sessions::Ip))
                    .col(text_null(Sessions::UserAgent))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("sessions_user_id_fkey")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("sessions_user_id_idx", Sessions::UserId),
            ("sessions_expires_at_idx", Sessions::ExpiresAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Sessions::Table)
                        .col(col)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::Algorithm))
                    .col(text(SigningKeys::PrivateKey))
                    .col(text(SigningKeys::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .if_not_exists()
                    .col(uuid(AuditEvents::Id).primary_key())
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .col(string(AuditEvents::Kind))
                    .col(string(AuditEvents::Outcome))
                    // No foreign key: the log outlives what it describes.
                    .col(uuid_null(AuditEvents::UserId))
                    .col(string_null(AuditEvents::Target))
                    .col(string_null(AuditEvents::Ip))
                    .col(text_null(AuditEvents::UserAgent))
                    .col(text_null(AuditEvents::Detail))
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("audit_events_occurred_at_idx", AuditEvents::OccurredAt),
            ("audit_events_user_id_idx", AuditEvents::UserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(col)
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Sessions::Table.into_iden(),
            LoginAttempts::Table.into_iden(),
            KeywardSettings::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
