//! Applying a page: the metadata updates, reactivations and new users that one page of the listing calls for,
//! in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::users;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use crate::users::BY_PROVIDER;

use super::{
    Syncer,
    local::Candidates,
    reconcile::{self, Change},
};

/// Rows per multi-row insert or upsert: a whole page (at most 1 000 users) in one statement. SQLite binds at most
/// 32 766 parameters a statement, and 14 columns × 1 000 rows stay below that. Each statement that writes users
/// also writes the search's FTS5 table (migration 12), which flushes its pending terms to a new segment at
/// every statement and merges those segments as they pile up: with 60 rows a statement, that merging was a
/// seventh of a first sync of a million users.
const ROWS_PER_STATEMENT: usize = 1000;
/// Users per statement that records provider keys: a `CASE` with a branch per user.
const KEYS_PER_STATEMENT: usize = 300;

#[derive(Default)]
pub(super) struct Applied {
    pub(super) updated: i64,
    pub(super) created: i64,
    pub(super) disabled: Vec<Uuid>,
    /// Users this page brought back (the provider enabled them again), for the audit log.
    pub(super) reactivated: Vec<Uuid>,
}

impl Syncer {
    /// One page in one transaction. Deactivations are returned, not applied. Reads only the local users
    /// that `wanted` names: those the page may change.
    pub(super) async fn apply_page(
        &self,
        issuer: &str,
        wanted: Candidates,
    ) -> Result<Applied, DbErr> {
        if wanted.users.is_empty() {
            return Ok(Applied::default());
        }
        let local: HashMap<String, reconcile::LocalUser> = if wanted.ids.is_empty() {
            HashMap::new()
        } else {
            users::Entity::find()
                .select_only()
                .columns(reconcile::LocalUser::COLUMNS)
                .filter(users::Column::Id.is_in(wanted.ids))
                .into_model::<reconcile::LocalUser>()
                .all(&self.db)
                .await?
                .into_iter()
                .map(|u| (u.subject.clone(), u))
                .collect()
        };
        let changes = reconcile::reconcile_page(&wanted.users, &local, self.settings.create_users);
        let provider_pks: HashMap<&str, String> = wanted
            .users
            .iter()
            .filter_map(|u| Some((u.subject.as_str(), u.provider_pk.clone()?)))
            .collect();
        let mut applied = Applied::default();
        if changes.is_empty() {
            return Ok(applied);
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let mut creates = Vec::new();
        let mut updates = Vec::new();
        let subject_of: HashMap<Uuid, &str> =
            local.values().map(|u| (u.id, u.subject.as_str())).collect();
        // A user both updated and reactivated counts once.
        let mut touched: HashSet<Uuid> = HashSet::new();
        for change in changes {
            match change {
                Change::Update { id, profile } => {
                    let Some(subject) = subject_of.get(&id) else {
                        continue;
                    };
                    // A whole row, so that a page of updates goes out as a few upserts on the primary key
                    // (one statement per user made a sync that updates everyone ten times slower).
                    updates.push(users::ActiveModel {
                        id: Set(id),
                        issuer: Set(issuer.to_owned()),
                        subject: Set((*subject).to_owned()),
                        email: Set(profile.email),
                        email_verified: Set(profile.email_verified),
                        display_name: Set(profile.display_name),
                        username: Set(profile.username),
                        avatar_url: Set(profile.avatar_url),
                        active: Set(true),
                        created_at: Set(now),
                        updated_at: Set(now),
                        last_login_at: Set(None),
                        last_synced_at: Set(Some(now)),
                        deactivated_by: Set(None),
                        provider_pk: Set(None),
                    });
                    touched.insert(id);
                }
                Change::Reactivate { id } => {
                    // Only while the provider's deactivation still holds: an admin who deactivated the user
                    // since the page was read has the last word.
                    let n = users::Entity::update_many()
                        .col_expr(users::Column::Active, Expr::value(true))
                        .col_expr(
                            users::Column::DeactivatedBy,
                            Expr::value(Option::<String>::None),
                        )
                        .col_expr(users::Column::UpdatedAt, Expr::value(now))
                        .filter(users::Column::Id.eq(id))
                        .filter(users::Column::Active.eq(false))
                        .filter(users::Column::DeactivatedBy.eq(BY_PROVIDER))
                        .exec(&txn)
                        .await?
                        .rows_affected;
                    if n > 0 {
                        touched.insert(id);
                        applied.reactivated.push(id);
                    }
                }
                Change::Deactivate { id } => applied.disabled.push(id),
                Change::Create {
                    subject,
                    profile,
                    active,
                } => {
                    let provider_pk = provider_pks.get(subject.as_str()).cloned();
                    creates.push(users::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        issuer: Set(issuer.to_owned()),
                        subject: Set(subject),
                        email: Set(profile.email),
                        email_verified: Set(profile.email_verified),
                        display_name: Set(profile.display_name),
                        username: Set(profile.username),
                        avatar_url: Set(profile.avatar_url),
                        active: Set(active),
                        created_at: Set(now),
                        updated_at: Set(now),
                        last_login_at: Set(None),
                        last_synced_at: Set(Some(now)),
                        deactivated_by: Set((!active).then(|| BY_PROVIDER.to_owned())),
                        provider_pk: Set(provider_pk),
                    });
                }
            }
        }
        // Only the metadata columns change: the rest of each row above exists to satisfy the insert half of
        // the upsert, which never runs, since users are never deleted.
        for chunk in updates.chunks(ROWS_PER_STATEMENT) {
            use users::Column as C;
            users::Entity::insert_many(chunk.to_vec())
                .on_conflict(
                    OnConflict::column(C::Id)
                        .update_columns([
                            C::Email,
                            C::EmailVerified,
                            C::DisplayName,
                            C::Username,
                            C::AvatarUrl,
                            C::UpdatedAt,
                            C::LastSyncedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        if !creates.is_empty() {
            for chunk in creates.chunks(ROWS_PER_STATEMENT) {
                applied.created += users::Entity::insert_many(chunk.to_vec())
                    .on_conflict(
                        OnConflict::columns([users::Column::Issuer, users::Column::Subject])
                            .do_nothing()
                            .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await? as i64;
            }
        }
        txn.commit().await?;
        applied.updated = touched.len() as i64;
        Ok(applied)
    }

    /// Records the provider's own key of listed users that have none yet (Authentik's `pk`, by which its events
    /// name users): one statement per page, which changes nothing once every key is known.
    pub(super) async fn store_provider_pks(
        &self,
        issuer: &str,
        pks: &[(String, String)],
    ) -> Result<(), DbErr> {
        use sea_orm::sea_query::CaseStatement;
        use users::Column as C;
        for chunk in pks.chunks(KEYS_PER_STATEMENT) {
            let mut case = CaseStatement::new();
            for (subject, pk) in chunk {
                case = case.case(C::Subject.eq(subject.as_str()), pk.as_str());
            }
            users::Entity::update_many()
                .col_expr(C::ProviderPk, case.into())
                .filter(C::Issuer.eq(issuer))
                .filter(C::Subject.is_in(chunk.iter().map(|(s, _)| s.as_str())))
                .filter(C::ProviderPk.is_null())
                .exec(&self.db)
                .await?;
        }
        Ok(())
    }
}
