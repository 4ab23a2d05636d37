//! Folding repeats: a refused attempt repeated by the same caller for the same operation within a minute adds
//! to one event (`count`, `last_at`) instead of writing a row each time, so nobody can flood the table.

use chrono::{Duration, Utc};
use entity::audit_events::{self, Column};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::{Event, Origin, outcome_name};
use crate::text::without_nul;

/// How long an event keeps absorbing repeats, from its first occurrence.
pub const WINDOW: Duration = Duration::minutes(1);

/// Records `event`, or adds it to the open event with the same `key` (caller and operation). Best effort, like
/// [`super::record`]. Safe across concurrent requests and instances: the key is unique among open events, so
/// the database decides between "insert" and "add one".
pub async fn record_folded(db: &impl ConnectionTrait, origin: &Origin, event: Event, key: &str) {
    let key = without_nul(key.to_owned());
    if let Err(err) = fold(db, origin, &event, &key).await {
        tracing::error!(error = %err, kind = event.kind, "could not write the audit event");
    }
    tracing::info!(
        target: "keyward::audit",
        kind = event.kind,
        outcome = outcome_name(event.outcome),
        user_id = ?event.user_id,
        detail = event.detail.as_deref().unwrap_or(""),
        "audit (folded)"
    );
}

async fn fold(
    db: &impl ConnectionTrait,
    origin: &Origin,
    event: &Event,
    key: &str,
) -> Result<(), DbErr> {
    // Twice at most: the second try follows closing a stale event that held the key.
    for _ in 0..2 {
        let now = Utc::now();
        let row = audit_events::ActiveModel {
            last_at: Set(Some(now)),
            fold_key: Set(Some(key.to_owned())),
            ..super::row(origin, event, now)
        };
        let written = audit_events::Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::FoldKey)
                    .value(
                        Column::Count,
                        Expr::col((audit_events::Entity, Column::Count)).add(1),
                    )
                    .update_columns([Column::LastAt, Column::Target, Column::Detail])
                    .action_and_where(
                        Expr::col((audit_events::Entity, Column::OccurredAt)).gt(now - WINDOW),
                    )
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        if written > 0 {
            return Ok(());
        }
        // The event holding the key is older than the window: it stops folding, a new one starts.
        audit_events::Entity::update_many()
            .col_expr(Column::FoldKey, Expr::value(Option::<String>::None))
            .filter(Column::FoldKey.eq(key))
            .filter(Column::OccurredAt.lte(now - WINDOW))
            .exec(db)
            .await?;
    }
    Err(DbErr::Custom(
        "the folded audit event kept changing under us".into(),
    ))
}
