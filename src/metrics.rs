//! Prometheus metrics: one registry per app instance, rendered in the text format at `GET /metrics`.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub rate_limited: IntCounterVec,
    pub rate_limit_store_errors: IntCounter,
    pub logins: IntCounter,
    pub login_failures: IntCounterVec,
    pub tokens_issued: IntCounter,
    pub sync_runs: IntCounterVec,
    pub sync_users: IntCounterVec,
    pub sync_duration: Histogram,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("keyward".into()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route pattern, method and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer HTTP requests",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limit_rejections_total",
                "Requests refused with 429, by bucket",
            ),
            &["bucket"],
        )?;
        let rate_limit_store_errors = IntCounter::new(
            "rate_limit_store_errors_total",
            "Requests let through unchecked because the shared rate-limit store failed or timed out",
        )?;
        let logins = IntCounter::new("logins_total", "Completed logins (sessions created)")?;
        let login_failures = IntCounterVec::new(
            Opts::new(
                "login_failures_total",
                "Logins that did not complete, by reason",
            ),
            &["reason"],
        )?;
        let tokens_issued = IntCounter::new(
            "api_tokens_issued_total",
            "Keyward API tokens issued by POST /auth/token",
        )?;
        let sync_runs = IntCounterVec::new(
            Opts::new("sync_runs_total", "User-sync runs by how they ended"),
            &["status"],
        )?;
        let sync_users = IntCounterVec::new(
            Opts::new(
                "sync_users_total",
                "Users the sync saw, updated, deactivated or created",
            ),
            &["change"],
        )?;
        let sync_duration = Histogram::with_opts(
            HistogramOpts::new("sync_duration_seconds", "How long user-sync runs take")
                .buckets(vec![0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0]),
        )?;
        registry.register(Box::new(sync_runs.clone()))?;
        registry.register(Box::new(sync_users.clone()))?;
        registry.register(Box::new(sync_duration.clone()))?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(rate_limit_store_errors.clone()))?;
        registry.register(Box::new(logins.clone()))?;
        registry.register(Box::new(login_failures.clone()))?;
        registry.register(Box::new(tokens_issued.clone()))?;
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            rate_limited,
            rate_limit_store_errors,
            logins,
            login_failures,
            tokens_issued,
            sync_runs,
            sync_users,
            sync_duration,
        })
    }

    /// Lets later features add their counters to the same registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "could not encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
