//! A random id (a v4 UUID) for every request: in the `x-request-id` response header and in the request span
//! (`middleware::edge` does both).

use poem::{
    Response,
    http::{HeaderName, HeaderValue},
};
use uuid::Uuid;

const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Every request pays for its id: drawn from the thread's generator (a CSPRNG seeded by the OS), not one
/// system call each as `Uuid::new_v4` makes.
pub fn new_id() -> Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// Puts the id in the response's `x-request-id` header, formatted on the stack.
pub fn set_header(resp: &mut Response, id: Uuid) {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut text);
    if let Ok(value) = HeaderValue::from_str(text) {
        resp.headers_mut().insert(HEADER, value);
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
