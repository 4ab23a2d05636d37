//! The ops commands beside `serve`: `keyward roles list | grant | revoke`. They work on the database directly,
//! apply the same rules as the admin API (built-ins, last admin), and tell running instances through the
//! same change signal.

use entity::users;
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};

use crate::{
    audit::{self, Event, Origin},
    rbac::{SOURCE_MANUAL, cache::AccessCache, store},
};

/// The one user with this email (case-insensitive), or a message saying why not.
async fn user_by_email(db: &DatabaseConnection, email: &str) -> anyhow::Result<users::Model> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let matches: Vec<users::Model> = users::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(users::Column::Email))).eq(email.to_lowercase()))
        .all(db)
        .await?;
    let mut found = matches.into_iter();
    match (found.next(), found.next()) {
        (Some(user), None) => Ok(user),
        (None, _) => {
            anyhow::bail!("no user with email {email} (users appear after their first login)")
        }
        (Some(_), Some(_)) => {
            anyhow::bail!("several users share the email {email}; use the admin API with their ids")
        }
    }
}

pub async fn roles_list(db: &DatabaseConnection) -> anyhow::Result<String> {
    let (roles, _) = store::list_roles(db, 1, u64::MAX / 2).await?;
    let mut out = String::new();
    for r in roles {
        let holders = crate::users::list(
            db,
            &crate::users::UserFilter {
                role_id: Some(r.role.id),
                ..Default::default()
            },
            1,
            1,
        )
        .await?
        .1;
        let flags = [
            r.role.built_in.then_some("built-in"),
            r.role.is_default.then_some("default"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(",");
        out.push_str(&format!(
            "{}\t{} users\t{}\t{}\n",
            r.role.name,
            holders,
            if flags.is_empty() { "-" } else { &flags },
            r.permissions.join(" ")
        ));
    }
    Ok(out)
}

pub async fn roles_grant(
    db: &DatabaseConnection,
    email: &str,
    role: &str,
) -> anyhow::Result<String> {
    let user = user_by_email(db, email).await?;
    let role = store::find_role_by_name(db, role)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no role named {role}"))?;
    let added = store::grant(db, user.id, role.id, SOURCE_MANUAL, None).await?;
    AccessCache::default().changed(db).await?;
    audit::record(
        db,
        &Origin::default(),
        Event::success("user.role_granted", None)
            .target(email)
            .detail(format!("{} (cli)", role.name)),
    )
    .await;
    Ok(if added {
        format!("granted {} to {email}", role.name)
    } else {
        format!("{email} already holds {}", role.name)
    })
}

pub async fn roles_revoke(
    db: &DatabaseConnection,
    email: &str,
    role: &str,
) -> anyhow::Result<String> {
    let user = user_by_email(db, email).await?;
    let role = store::find_role_by_name(db, role)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no role named {role}"))?;
    let removed = store::revoke_manual(db, user.id, &role)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    AccessCache::default().changed(db).await?;
    audit::record(
        db,
        &Origin::default(),
        Event::success("user.role_revoked", None)
            .target(email)
            .detail(format!("{} (cli)", role.name)),
    )
    .await;
    Ok(if removed {
        format!("revoked {} from {email}", role.name)
    } else {
        format!("{email} holds no manual grant of {}", role.name)
    })
}

fn syncer(
    config: &crate::config::Config,
    db: &DatabaseConnection,
) -> anyhow::Result<crate::sync::Syncer> {
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new()?);
    crate::sync::Syncer::new(
        config,
        db.clone(),
        metrics,
        std::sync::Arc::new(AccessCache::default()),
    )
}

fn describe_run(r: &entity::sync_runs::Model) -> String {
    let took = r
        .finished_at
        .map(|f| {
            format!(
                "{:.1}s",
                (f - r.started_at).num_milliseconds() as f64 / 1000.0
            )
        })
        .unwrap_or_else(|| "running".into());
    let mut line = format!(
        "{} {} ({}) started {} took {}: pages {}, seen {}, updated {}, deactivated {}, created {}",
        r.id,
        r.status,
        r.trigger,
        r.started_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        took,
        r.pages,
        r.seen,
        r.updated,
        r.deactivated,
        r.created
    );
    if let Some(e) = &r.error {
        line.push_str(&format!("; error: {e}"));
    }
    line
}

/// `keyward sync run`: a manual run in this process; fails (exit 1) when the run fails or cannot start.
pub async fn sync_run(
    config: &crate::config::Config,
    db: &DatabaseConnection,
) -> anyhow::Result<String> {
    let syncer = syncer(config, db)?;
    let run = syncer
        .run_now(crate::sync::Trigger::Manual)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let summary = describe_run(&run);
    if run.status != "succeeded" {
        anyhow::bail!("{summary}");
    }
    Ok(summary)
}

/// `keyward sync status`: the provider, the schedule and the last runs.
pub async fn sync_status(
    config: &crate::config::Config,
    db: &DatabaseConnection,
) -> anyhow::Result<String> {
    let syncer = syncer(config, db)?;
    let s = syncer.settings();
    let mut out = match syncer.provider() {
        Ok(p) => format!("provider: {p}\n"),
        Err(why) => format!("provider: none ({why})\n"),
    };
    let next = syncer
        .schedule()
        .and_then(|p| p.next_after(chrono::Utc::now()))
        .map(|t| t.with_timezone(&s.timezone).to_rfc3339())
        .unwrap_or_else(|| "-".into());
    out.push_str(&format!(
        "schedule: {} ({}), {}; next run {}\n",
        s.schedule,
        s.timezone.name(),
        if s.enabled { "enabled" } else { "disabled" },
        if s.enabled { next } else { "-".into() }
    ));
    let (runs, total) = syncer.runs(1, 10).await?;
    out.push_str(&format!("runs: {total}\n"));
    for r in runs {
        out.push_str(&describe_run(&r));
        out.push('\n');
    }
    Ok(out)
}
