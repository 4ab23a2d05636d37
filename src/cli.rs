//! The ops commands beside `serve`: `keyward roles list | grant | revoke`. They work on the database directly,
//! apply the same rules as the admin API (built-ins, last admin), and tell running instances through the
//! same change signal.

use crate::db::Db;
use entity::users;
use sea_orm::{EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    audit::{self, Event, Origin},
    rbac::{SOURCE_MANUAL, cache::AccessCache, store},
};

/// The user a roles command names: an argument that parses as a UUID is their id; anything else is an email.
async fn find_user(db: &Db, who: &str) -> anyhow::Result<users::Model> {
    match Uuid::parse_str(who) {
        Ok(id) => users::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user with id {id}")),
        Err(_) => user_by_verified_email(db, who).await,
    }
}

/// The one user whose provider verified this email (case-insensitive), or a message saying why not. An
/// unverified email is only what someone typed into their account, so granting by it could hand a role to an
/// impostor.
async fn user_by_verified_email(db: &Db, email: &str) -> anyhow::Result<users::Model> {
    use sea_orm::sea_query::{Expr, ExprTrait, Func};
    let (verified, unverified): (Vec<users::Model>, Vec<users::Model>) = users::Entity::find()
        .filter(Expr::expr(Func::lower(Expr::col(users::Column::Email))).eq(email.to_lowercase()))
        .all(db)
        .await?
        .into_iter()
        .partition(|u| u.email_verified);
    let ids = |found: &[users::Model]| {
        found
            .iter()
            .map(|u| u.id.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match verified.as_slice() {
        [user] => Ok(user.clone()),
        [] if unverified.is_empty() => {
            anyhow::bail!("no user with email {email} (users appear after their first login)")
        }
        [] => anyhow::bail!(
            "the email {email} is not verified by the provider, so it does not prove who holds it; \
             name the user by id instead: {}",
            ids(&unverified)
        ),
        _ => anyhow::bail!(
            "several users have the verified email {email}; name one by id: {}",
            ids(&verified)
        ),
    }
}

/// Tells running instances and writes the audit event; called only when a grant really changed.
async fn role_changed(
    db: &Db,
    kind: &'static str,
    user: &users::Model,
    role: &str,
) -> anyhow::Result<()> {
    AccessCache::default().changed(db).await?;
    audit::record(
        db,
        &Origin::cli(),
        Event::success(kind, None)
            .target(crate::users::label(user))
            .detail(role),
    )
    .await;
    Ok(())
}

pub async fn roles_list(db: &Db) -> anyhow::Result<String> {
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

/// `keyward roles grant <user> <role>`: a manual grant; the user is named as [`find_user`] reads it.
pub async fn roles_grant(db: &Db, who: &str, role: &str) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let role = store::find_role_by_name(db, role)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no role named {role}"))?;
    let name = crate::users::label(&user);
    if !store::grant(db, user.id, role.id, SOURCE_MANUAL, None).await? {
        return Ok(format!("{name} already holds {}", role.name));
    }
    role_changed(db, "user.role_granted", &user, &role.name).await?;
    Ok(format!("granted {} to {name}", role.name))
}

/// `keyward roles revoke <user> <role>`: removes a manual grant; the last admin keeps `admin`.
pub async fn roles_revoke(db: &Db, who: &str, role: &str) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let role = store::find_role_by_name(db, role)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no role named {role}"))?;
    let name = crate::users::label(&user);
    let removed = store::revoke_manual(db, user.id, &role)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !removed {
        return Ok(format!("{name} holds no manual grant of {}", role.name));
    }
    role_changed(db, "user.role_revoked", &user, &role.name).await?;
    Ok(format!("revoked {} from {name}", role.name))
}

fn syncer(config: &crate::config::Config, db: &Db) -> anyhow::Result<crate::sync::Syncer> {
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
pub async fn sync_run(config: &crate::config::Config, db: &Db) -> anyhow::Result<String> {
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
pub async fn sync_status(config: &crate::config::Config, db: &Db) -> anyhow::Result<String> {
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
