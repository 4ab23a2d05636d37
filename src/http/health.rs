//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};

use crate::{error::ApiError, http::ApiTags, state::AppState};

pub struct HealthApi;

/// `/readyz` answers within a second whatever the database does: a load balancer's probe has its own
/// timeout, and a probe that hangs tells it less than a 503.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

/// The probes orchestrators and load balancers poll: never rate-limited.
pub const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

pub fn is_probe(path: &str) -> bool {
    PROBE_PATHS.contains(&path)
}

/// A probe's answer.
#[derive(Object)]
#[oai(example)]
pub struct HealthStatus {
    /// Always `ok` when the response is 200.
    pub status: String,
}

impl Example for HealthStatus {
    fn example() -> Self {
        Self {
            status: "ok".into(),
        }
    }
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Healthy.
    #[oai(status = 200)]
    Ok(Json<HealthStatus>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: the process is up and serving requests.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(HealthStatus {
            status: "ok".into(),
        }))
    }

    /// Readiness: the database answers. 503 while it does not, and while the instance shuts down
    /// (`KEYWARD_SHUTDOWN_DRAIN`), so load balancers stop sending traffic.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, state: Data<&AppState>) -> Result<HealthResponse, ApiError> {
        if state.is_draining() {
            return Err(ApiError::unavailable("this instance is shutting down"));
        }
        match state.db.ping_within(READY_WITHIN).await {
            Ok(()) => Ok(HealthResponse::Ok(Json(HealthStatus {
                status: "ok".into(),
            }))),
            Err(err) => {
                tracing::warn!(error = %err, "readiness check failed: database unreachable");
                Err(ApiError::unavailable("the database does not answer"))
            }
        }
    }
}
