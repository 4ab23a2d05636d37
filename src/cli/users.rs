//! `keyward users list | show | activate | deactivate | end-sessions`.

use entity::users;

use super::{changed, find_user, role_named};
use crate::{
    audit::Event,
    db::Db,
    rbac::store,
    users::{UserFilter, label},
};

/// What `keyward users list` filters on, as the admin API's query parameters.
#[derive(Default)]
pub struct ListFilter {
    pub email: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
    pub page: u64,
    pub per_page: u64,
}

/// One line per user: id, email, name, status, roles; then the count.
pub async fn users_list(db: &Db, filter: ListFilter) -> anyhow::Result<String> {
    let role_id = match &filter.role {
        Some(name) => Some(role_named(db, name).await?.id),
        None => None,
    };
    let query = UserFilter {
        email: filter.email,
        role_id,
        active: filter.active,
    };
    let (rows, total) = crate::users::list(
        db,
        &query,
        filter.page.max(1),
        filter.per_page.clamp(1, 1000),
    )
    .await?;
    let ids: Vec<_> = rows.iter().map(|u| u.id).collect();
    let mut roles = store::role_names_of_users(db, &ids).await?;
    let mut out = String::new();
    for u in &rows {
        let held: Vec<String> = roles
            .remove(&u.id)
            .unwrap_or_default()
            .into_iter()
            .collect();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            u.id,
            u.email.as_deref().unwrap_or("-"),
            u.display_name.as_deref().unwrap_or("-"),
            if u.active { "active" } else { "inactive" },
            if held.is_empty() {
                "-".into()
            } else {
                held.join(",")
            }
        ));
    }
    out.push_str(&format!(
        "{} of {total} users (page {})\n",
        rows.len(),
        filter.page.max(1)
    ));
    Ok(out)
}

/// The user's profile, status and every grant with where it comes from.
pub async fn users_show(db: &Db, who: &str) -> anyhow::Result<String> {
    let u = find_user(db, who).await?;
    let mut out = format!(
        "id: {}\nsubject: {}\nemail: {}{}\nname: {}\nusername: {}\nstatus: {}\ncreated: {}\nlast login: {}\n",
        u.id,
        u.subject,
        u.email.as_deref().unwrap_or("-"),
        if u.email_verified { " (verified)" } else { "" },
        u.display_name.as_deref().unwrap_or("-"),
        u.username.as_deref().unwrap_or("-"),
        match (&u.active, &u.deactivated_by) {
            (true, _) => "active".to_owned(),
            (false, Some(by)) => format!("inactive (by {by})"),
            (false, None) => "inactive".to_owned(),
        },
        u.created_at.to_rfc3339(),
        u.last_login_at.map_or("-".into(), |t| t.to_rfc3339()),
    );
    let grants = store::grants_of(db, u.id).await?;
    out.push_str("roles:");
    if grants.is_empty() {
        out.push_str(" -");
    }
    for g in grants {
        out.push_str(&format!(" {} ({})", g.role, g.source));
    }
    out.push('\n');
    Ok(out)
}

/// `keyward users activate <user>`.
pub async fn users_activate(db: &Db, who: &str) -> anyhow::Result<String> {
    set_status(db, who, true).await
}

/// `keyward users deactivate <user>`: ends their sessions; the last active admin stays.
pub async fn users_deactivate(db: &Db, who: &str) -> anyhow::Result<String> {
    set_status(db, who, false).await
}

async fn set_status(db: &Db, who: &str, active: bool) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let name = label(&user);
    if user.active == active {
        return Ok(format!("{name} is already {}", status(active)));
    }
    let user: users::Model = crate::users::change_status(db, user, active)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let kind = if user.active {
        "user.activated"
    } else {
        "user.deactivated"
    };
    changed(db, Event::success(kind, None).target(&name)).await?;
    Ok(format!("{name} is now {}", status(user.active)))
}

fn status(active: bool) -> &'static str {
    if active { "active" } else { "inactive" }
}

/// `keyward users end-sessions <user>`: "log out everywhere", also for a bootstrap admin (the API refuses
/// that one so that no API client locks the operator out; the operator at the command line may).
pub async fn users_end_sessions(db: &Db, who: &str) -> anyhow::Result<String> {
    let user = find_user(db, who).await?;
    let ended = crate::users::end_sessions(db, user.id).await?;
    let name = label(&user);
    changed(
        db,
        Event::success("user.sessions_ended", None)
            .target(&name)
            .detail(format!("{ended} sessions ended by the operator")),
    )
    .await?;
    Ok(format!(
        "ended {ended} sessions of {name}; API tokens issued to them until now are refused"
    ))
}
