//! Cross-cutting request handling, outermost first in `http::routes::endpoint`: request id, request span,
//! metrics, security headers, CORS, rate limits (which also resolve the caller), auditing refused attempts, NUL
//! in the query or path, body size limit, panic catching.

pub mod body_limit;
pub mod metrics;
pub mod nul;
pub mod params;
pub mod problems;
pub mod rate_limit;
pub mod refusals;
pub mod request_id;
pub mod request_span;
pub mod route_table;
pub mod security_headers;
