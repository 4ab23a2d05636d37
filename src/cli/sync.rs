//! `keyward sync run | status`.

use crate::{cli::Db, rbac::cache::AccessCache};

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
