//! The shared state every request handler and background task reads. It sits below the HTTP edge and the
//! wiring alike, so handlers reach it without importing `app` (which imports them).

use std::{
    ops::Deref,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::db::Db;

use crate::{
    auth::{Auth, login::LoginFlow},
    config::Config,
    metrics::Metrics,
    rate_limit::RateLimits,
    sync::Syncer,
};

/// Everything a request handler may need, reached through `Data<&AppState>`. Cloning shares it.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

pub struct AppStateInner {
    pub config: Config,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub rate_limits: Arc<RateLimits>,
    pub auth: Arc<Auth>,
    pub sync: Arc<Syncer>,
    /// Set at shutdown: `/readyz` answers 503 from then on, while every other request is still served.
    pub draining: AtomicBool,
}

impl AppState {
    pub fn new(inner: AppStateInner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The login flow over this state's provider, database and metrics.
    pub fn login(&self) -> LoginFlow<'_> {
        LoginFlow {
            auth: &self.auth,
            db: &self.db,
            metrics: &self.metrics,
            config: &self.config,
        }
    }
}

impl Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
