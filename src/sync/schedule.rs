//! When the scheduled sync runs: a 6-field cron expression evaluated in an IANA time zone, so 03:00 stays
//! 03:00 local time across daylight-saving changes. tokio-cron-scheduler fires each run as a one-shot job,
//! re-armed after every firing with the next time computed here (its own `_tz` jobs keep the UTC offset of
//! the day they were created, which drifts by an hour at the next change).

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds},
};
use tokio_cron_scheduler::{Job, JobScheduler};

use super::Syncer;

pub fn parse_cron(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Required)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// The first firing strictly after `after`, computed on the local clock of `tz`, in whole seconds: every
/// instance must name a firing identically, whatever its clock's fraction of a second.
pub fn next_run(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    use chrono::Timelike;
    let after = after.with_nanosecond(0).unwrap_or(after);
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[derive(Clone)]
pub struct Schedule {
    pub cron: Cron,
    pub tz: Tz,
}

impl Schedule {
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_run(&self.cron, self.tz, after)
    }
}

/// Starts the scheduler: one one-shot job at a time, each arming the next.
pub async fn start(syncer: Arc<Syncer>, schedule: Schedule) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    arm(scheduler.clone(), syncer, schedule, Utc::now()).await?;
    scheduler.start().await?;
    Ok(scheduler)
}

/// Schedules the first firing after `after` (and after now: a firing is never scheduled twice).
fn arm(
    scheduler: JobScheduler,
    syncer: Arc<Syncer>,
    schedule: Schedule,
    after: DateTime<Utc>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        let Some(at) = schedule.next_after(after.max(Utc::now())) else {
            tracing::warn!("the sync schedule has no future firing; nothing scheduled");
            return Ok(());
        };
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        let next_scheduler = scheduler.clone();
        let job = Job::new_one_shot_async(wait, move |_, _| {
            let (scheduler, syncer, schedule) =
                (next_scheduler.clone(), syncer.clone(), schedule.clone());
            Box::pin(async move {
                // Arm the next firing first, so a long run cannot make the schedule skip one.
                if let Err(err) = arm(scheduler, syncer.clone(), schedule, at).await {
                    tracing::error!(error = %err, "could not schedule the next sync");
                }
                // The scheduler's clock may fire a little early; a run never starts before its time.
                if let Ok(early) = (at - Utc::now()).to_std() {
                    tokio::time::sleep(early).await;
                }
                syncer.run_scheduled(at).await;
            })
        })?;
        scheduler.add(job).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn three_oclock_stays_three_oclock_across_daylight_saving_changes() {
        let cron = parse_cron("0 0 3 * * *").unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        // Winter (UTC+1): 03:00 local is 02:00 UTC.
        assert_eq!(
            next_run(&cron, berlin, utc("2026-03-27T12:00:00Z")).unwrap(),
            utc("2026-03-28T02:00:00Z")
        );
        // Clocks go forward at 02:00 on 29 March 2026, before the firing: 03:00 that night is already summer
        // time (UTC+2), 01:00 UTC.
        assert_eq!(
            next_run(&cron, berlin, utc("2026-03-28T12:00:00Z")).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
        // And the day after, still 01:00 UTC.
        assert_eq!(
            next_run(&cron, berlin, utc("2026-03-29T01:00:00Z")).unwrap(),
            utc("2026-03-30T01:00:00Z")
        );
        // Back to winter time on 25 October 2026.
        assert_eq!(
            next_run(&cron, berlin, utc("2026-10-24T12:00:00Z")).unwrap(),
            utc("2026-10-25T02:00:00Z")
        );
        let local = next_run(&cron, berlin, utc("2026-10-25T02:00:00Z"))
            .unwrap()
            .with_timezone(&berlin);
        assert_eq!(
            local,
            berlin.with_ymd_and_hms(2026, 10, 26, 3, 0, 0).unwrap()
        );
        // New York springs forward on 8 March 2026.
        let ny = chrono_tz::America::New_York;
        assert_eq!(
            next_run(&cron, ny, utc("2026-03-07T12:00:00Z")).unwrap(),
            utc("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            next_run(&cron, ny, utc("2026-03-08T12:00:00Z")).unwrap(),
            utc("2026-03-09T07:00:00Z")
        );
        // Fractions of a second never leak into a firing: instances compare firings for equality.
        assert_eq!(
            next_run(&cron, chrono_tz::UTC, utc("2026-11-23T10:00:00.987654321Z")).unwrap(),
            utc("2026-11-24T03:00:00Z")
        );
        // UTC is UTC.
        assert_eq!(
            next_run(&cron, chrono_tz::UTC, utc("2026-11-23T03:00:00Z")).unwrap(),
            utc("2026-11-24T03:00:00Z")
        );
    }

    #[test]
    fn only_six_field_expressions_with_seconds_are_accepted() {
        assert!(parse_cron("0 0 3 * * *").is_ok());
        assert!(parse_cron("*/5 * * * * *").is_ok());
        assert!(parse_cron("0 3 * * *").is_err());
        assert!(parse_cron("daily at three").is_err());
    }
}
