//! Wiring: opens and migrates the database, builds the shared state, binds the port, and runs the server with
//! its background tasks (housekeeping, role-change polling, the sync schedule). `main` and the tests both start
//! Keyward through `Application::build`.

use std::{future::Future, sync::Arc, time::Duration};

use poem::{
    Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};
use poem_openapi::OpenApi;

use crate::{
    auth::{Auth, backchannel, sessions},
    config::Config,
    db,
    http::{routes::endpoint, sessions::BACKCHANNEL_LOGOUT_PATH},
    metrics::Metrics,
    rate_limit::{Bucket, RateLimits, redis::RedisStore},
    rbac,
    state::{AppState, AppStateInner},
    sync::{Syncer, Trigger, schedule},
};

/// A bound, ready-to-run Keyward: database migrated, port taken.
pub struct Application<T = ()> {
    acceptor: TcpAcceptor,
    port: u16,
    state: AppState,
    extra: T,
}

impl Application<()> {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, ()).await
    }
}

impl<T: OpenApi + 'static> Application<T> {
    pub async fn build_with(config: Config, extra: T) -> anyhow::Result<Self> {
        Self::build_on(config, extra, None).await
    }

    /// Like `build_with`, on a socket the caller already bound (tests need the port before the app exists:
    /// the identity provider must know the redirect URI).
    pub async fn build_on(
        config: Config,
        extra: T,
        listener: Option<std::net::TcpListener>,
    ) -> anyhow::Result<Self> {
        let db = db::connect(&config.database)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
        db::migrate(&db)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the database: {e}"))?;
        let metrics = Arc::new(Metrics::new()?);
        let seed = match &config.rbac_seed {
            Some(path) => Some(
                rbac::seed::SeedFile::load(path)
                    .map_err(|e| anyhow::anyhow!("KEYWARD_RBAC_SEED: {e}"))?,
            ),
            None => None,
        };
        rbac::seed::apply(&db, seed.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot seed roles and permissions: {e}"))?;
        let auth = Arc::new(Auth::new(&config, &db).await?);
        let sync = Arc::new(Syncer::new(
            &config,
            db.clone(),
            metrics.clone(),
            auth.access.clone(),
        )?);
        // Login endpoints get their own, stricter bucket on top of the global one, always by address: they
        // are where credentials are obtained. The global one counts authenticated callers by user.
        let buckets = [
            // Back-channel logouts come from the provider, many at once for a realm-wide logout, and are
            // not retried: they are no login attempts.
            Bucket::new("auth", config.auth_rate_limit, |path| {
                path.starts_with("/auth/") && path != BACKCHANNEL_LOGOUT_PATH
            }),
            Bucket::new("global", config.rate_limit, |_| true).map(Bucket::per_user),
        ];
        let mut rate_limits = RateLimits::new(
            buckets.into_iter().flatten().collect(),
            config.trusted_proxies.clone(),
        );
        if let Some(url) = &config.rate_limit_store {
            let store = RedisStore::new(url, metrics.rate_limit_store_errors.clone())
                .map_err(|e| anyhow::anyhow!("KEYWARD_RATE_LIMIT_STORE: {e}"))?;
            rate_limits = rate_limits.shared_in(store);
        }
        let rate_limits = Arc::new(rate_limits);
        let acceptor = match listener {
            Some(l) => TcpAcceptor::from_std(l),
            None => TcpListener::bind(config.listen).into_acceptor().await,
        }
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(config.listen.port());
        let state = AppState::new(AppStateInner {
            config,
            db,
            metrics,
            rate_limits,
            auth,
            sync,
            draining: Default::default(),
        });
        Ok(Self {
            acceptor,
            port,
            state,
            extra,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains: `/readyz` answers 503 for `KEYWARD_SHUTDOWN_DRAIN` while
    /// requests are still served, then no new connection is accepted and requests in flight finish
    /// ([`SHUTDOWN_GRACE`] at most).
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            let mut minutes = 0u64;
            loop {
                tick.tick().await;
                state.rate_limits.evict_idle();
                if minutes.is_multiple_of(5) {
                    match sessions::purge_expired(&state.db).await {
                        Ok((0, 0)) => {}
                        Ok((sessions, logins)) => {
                            tracing::info!(sessions, logins, "purged expired sessions and logins")
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "could not purge expired sessions")
                        }
                    }
                    if let Err(err) = backchannel::purge_expired(&state.db).await {
                        tracing::warn!(error = %err, "could not purge expired logout tokens");
                    }
                }
                minutes += 1;
            }
        });
        let state = self.state.clone();
        let rbac_poll = tokio::spawn(async move {
            let mut tick = tokio::time::interval(rbac::cache::POLL_EVERY);
            let mut failing = false;
            loop {
                tick.tick().await;
                match state.auth.access.poll(&state.db).await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("role changes can be checked again");
                    }
                    Ok(()) => {}
                    // Once per outage: the poll fails every 2 s until the database is back.
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(
                            error = %err,
                            stale_max = ?state.auth.access.stale_max(),
                            "could not check for role changes; serving cached access for at most stale_max"
                        );
                    }
                    Err(_) => {}
                }
            }
        });
        let scheduler = self.start_sync_schedule().await;
        let events = crate::sync::events::start(self.state.sync.clone());
        let takeover = crate::sync::start_takeover(self.state.sync.clone());
        let ep = endpoint(self.state.clone(), self.extra);
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                ep,
                drain(self.state.clone(), shutdown),
                Some(SHUTDOWN_GRACE),
            )
            .await;
        housekeeping.abort();
        rbac_poll.abort();
        for task in [events, takeover].into_iter().flatten() {
            task.abort();
        }
        if let Some(mut scheduler) = scheduler {
            scheduler.shutdown().await.ok();
        }
        self.state.sync.release_leases().await;
        self.state.db.clone().close().await.ok();
        result
    }
}

impl<T> Application<T> {
    /// The daily (or as configured) sync, and the start-up run when asked for. Nothing without a directory.
    async fn start_sync_schedule(&self) -> Option<tokio_cron_scheduler::JobScheduler> {
        let syncer = self.state.sync.clone();
        if let Err(why) = syncer.provider() {
            tracing::info!("user sync off: {why}");
            return None;
        }
        if syncer.settings().on_startup
            && let Err(err) = syncer.spawn(Trigger::Startup).await
        {
            tracing::warn!(error = %err, "start-up sync not started");
        }
        if !syncer.settings().enabled {
            tracing::info!(
                "scheduled user sync disabled (KEYWARD_SYNC_ENABLED=false); manual runs work"
            );
            return None;
        }
        let plan = syncer.schedule()?;
        tracing::info!(
            schedule = %syncer.settings().schedule,
            timezone = %syncer.settings().timezone,
            next = ?plan.next_after(chrono::Utc::now()),
            "user sync scheduled"
        );
        match schedule::start(syncer, plan).await {
            Ok(s) => Some(s),
            Err(err) => {
                tracing::error!(error = %err, "could not start the sync scheduler");
                None
            }
        }
    }
}

/// How long requests in flight may take to finish once the instance stops accepting connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves when the server should stop accepting connections: `KEYWARD_SHUTDOWN_DRAIN` after `shutdown`,
/// time in which the balancer sees `/readyz` fail and sends no more requests here.
async fn drain(state: AppState, shutdown: impl Future<Output = ()>) {
    shutdown.await;
    state.start_draining();
    let drain = state.config.shutdown_drain;
    if !drain.is_zero() {
        tracing::info!(
            ?drain,
            "draining: /readyz answers 503 until the balancer stops sending requests here"
        );
        tokio::time::sleep(drain).await;
    }
    tracing::info!("no longer accepting connections; finishing requests in flight");
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
