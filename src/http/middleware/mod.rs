//! Cross-cutting request handling, in two layers (`http::routes::endpoint`): the edge (request id, request span,
//! metrics, security headers, errors as problems) outside CORS, the gate (rate limits, which also resolve the
//! caller; NUL in the query or path; body size limit; panics; auditing refused attempts) inside it. The other
//! modules are the concerns those two call.

pub mod body_limit;
pub mod edge;
pub mod gate;
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
