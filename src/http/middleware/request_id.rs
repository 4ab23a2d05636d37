//! A random id (a v4 UUID) for every request: in the `x-request-id` response header, in an error-level span
//! around the request (as poem's `RequestId` had it), and for the request span to log.

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{HeaderName, HeaderValue},
};
use tracing::Instrument;
use uuid::Uuid;

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for the request span.
#[derive(Clone, Copy)]
pub struct ReqId(pub Uuid);

pub struct RequestId;

impl<E: Endpoint> Middleware<E> for RequestId {
    type Output = RequestIdEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestIdEndpoint { inner }
    }
}

pub struct RequestIdEndpoint<E> {
    inner: E,
}

/// Every request pays for its id: drawn from the thread's generator (a CSPRNG seeded by the OS), not one
/// system call each as `Uuid::new_v4` makes.
fn new_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

impl<E: Endpoint> Endpoint for RequestIdEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let id = new_id();
        req.set_data(ReqId(id));
        let resp = self
            .inner
            .call(req)
            .instrument(tracing::error_span!("", request_id = %id))
            .await?;
        let mut resp = resp.into_response();
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = id.hyphenated().encode_lower(&mut text);
        if let Ok(value) = HeaderValue::from_str(text) {
            resp.headers_mut().insert(HEADER, value);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_v4_uuids() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.get_version(), Some(uuid::Version::Random));
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
