//! The audit log: security events written to `audit_events` with who, what, when, from where and outcome.
//! Writing is best effort: a failed audit write is logged loudly but never turns a request into an error.

use chrono::Utc;
use entity::audit_events;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::text::without_nul;

pub mod fold;

/// Where a request came from, as far as the audit log cares (the HTTP edge fills it in).
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// The `keyward` command line. It acts as no user (the event's `user_id` stays empty), so the log names it
    /// where a request names its client: no address, user agent `cli`.
    pub fn cli() -> Self {
        Self {
            ip: None,
            user_agent: Some("cli".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// One event, built with the helpers below and written with [`record`].
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: &'static str,
    pub outcome: Outcome,
    pub user_id: Option<Uuid>,
    pub target: Option<String>,
    pub detail: Option<String>,
}

impl Event {
    pub fn success(kind: &'static str, user_id: Option<Uuid>) -> Self {
        Self {
            kind,
            outcome: Outcome::Success,
            user_id,
            target: None,
            detail: None,
        }
    }

    pub fn failure(kind: &'static str, user_id: Option<Uuid>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            outcome: Outcome::Failure,
            user_id,
            target: None,
            detail: Some(detail.into()),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Filters of the audit-log listing.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub user_id: Option<Uuid>,
    pub kind: Option<String>,
    pub from: Option<chrono::DateTime<Utc>>,
    pub to: Option<chrono::DateTime<Utc>>,
}

/// Newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &Filter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<audit_events::Model>, u64), sea_orm::DbErr> {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
    let mut q = audit_events::Entity::find()
        .order_by_desc(audit_events::Column::OccurredAt)
        .order_by_desc(audit_events::Column::Id);
    if let Some(user_id) = filter.user_id {
        q = q.filter(audit_events::Column::UserId.eq(user_id));
    }
    if let Some(kind) = &filter.kind {
        q = q.filter(audit_events::Column::Kind.eq(kind.as_str()));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_events::Column::OccurredAt.gte(from));
    }
    if let Some(to) = filter.to {
        q = q.filter(audit_events::Column::OccurredAt.lt(to));
    }
    let pages = q.paginate(db, per_page);
    let total = pages.num_items().await?;
    Ok((pages.fetch_page(page - 1).await?, total))
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failure => "failure",
    }
}

/// The row of one event at `at`, counted once and folding nothing.
fn row(origin: &Origin, event: &Event, at: chrono::DateTime<Utc>) -> audit_events::ActiveModel {
    audit_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        occurred_at: Set(at),
        kind: Set(event.kind.into()),
        outcome: Set(outcome_name(event.outcome).into()),
        user_id: Set(event.user_id),
        // A provider's text (an error description) may carry NUL; the event must not be lost to it.
        target: Set(event.target.clone().map(without_nul)),
        ip: Set(origin.ip.clone()),
        user_agent: Set(origin.user_agent.clone()),
        detail: Set(event.detail.clone().map(without_nul)),
        count: Set(1),
        last_at: Set(None),
        fold_key: Set(None),
    }
}

pub async fn record(db: &impl ConnectionTrait, origin: &Origin, event: Event) {
    let outcome = outcome_name(event.outcome);
    let row = row(origin, &event, Utc::now());
    if let Err(err) = audit_events::Entity::insert(row)
        .exec_without_returning(db)
        .await
    {
        tracing::error!(error = %err, kind = event.kind, outcome, "could not write the audit event");
    }
    tracing::info!(
        target: "keyward::audit",
        kind = event.kind,
        outcome,
        user_id = ?event.user_id,
        detail = event.detail.as_deref().unwrap_or(""),
        "audit"
    );
}
