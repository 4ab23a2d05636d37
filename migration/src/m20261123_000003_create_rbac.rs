//! Roles and permissions: `roles`, `permissions`, which role holds which permission, and who holds which role.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    IsDefault,
    BuiltIn,
    IdpGroup,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Permissions {
    Table,
    Id,
    Name,
    Description,
    BuiltIn,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RoleId,
    PermissionId,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
    Source,
    GrantedBy,
    GrantedAt,
}

fn cascade(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .if_not_exists()
                    .col(uuid(Roles::Id).primary_key())
                    .col(string(Roles::Name).unique_key())
                    .col(string(Roles::Description).default(""))
                    .col(boolean(Roles::IsDefault).default(false))
                    .col(boolean(Roles::BuiltIn).default(false))
                    .col(string_null(Roles::IdpGroup))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .col(timestamp_with_time_zone(Roles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Permissions::Table)
                    .if_not_exists()
                    .col(uuid(Permissions::Id).primary_key())
                    .col(string(Permissions::Name).unique_key())
                    .col(string(Permissions::Description).default(""))
                    .col(boolean(Permissions::BuiltIn).default(false))
                    .col(timestamp_with_time_zone(Permissions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RolePermissions::Table)
                    .if_not_exists()
                    .col(uuid(RolePermissions::RoleId))
                    .col(uuid(RolePermissions::PermissionId))
                    .primary_key(
                        Index::create()
                            .col(RolePermissions::RoleId)
                            .col(RolePermissions::PermissionId),
                    )
                    .foreign_key(&mut cascade(
                        "role_permissions_role_id_fkey",
                        (RolePermissions::Table, RolePermissions::RoleId),
                        (Roles::Table, Roles::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "role_permissions_permission_id_fkey",
                        (RolePermissions::Table, RolePermissions::PermissionId),
                        (Permissions::Table, Permissions::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .if_not_exists()
                    .col(uuid(UserRoles::UserId))
                    .col(uuid(UserRoles::RoleId))
                    // `manual` (granted in Keyward, by an admin, the CLI, the default role or bootstrap) or
                    // `provider` (mapped from the provider's groups at login, replaced at each login).
                    .col(string(UserRoles::Source))
                    .col(uuid_null(UserRoles::GrantedBy))
                    .col(timestamp_with_time_zone(UserRoles::GrantedAt))
                    .primary_key(
                        Index::create()
                            .col(UserRoles::UserId)
                            .col(UserRoles::RoleId)
                            .col(UserRoles::Source),
                    )
                    .foreign_key(&mut cascade(
                        "user_roles_user_id_fkey",
                        (UserRoles::Table, UserRoles::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "user_roles_role_id_fkey",
                        (UserRoles::Table, UserRoles::RoleId),
                        (Roles::Table, Roles::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("user_roles_role_id_idx")
                    .table(UserRoles::Table)
                    .col(UserRoles::RoleId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UserRoles::Table.into_iden(),
            RolePermissions::Table.into_iden(),
            Permissions::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
