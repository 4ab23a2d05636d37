//! Text from outside Keyward's control (a provider's claims, directory listings, error descriptions) made fit
//! for every database Keyward runs on: PostgreSQL refuses NUL (U+0000) in text, SQLite would keep it.

use serde::{Deserialize, Deserializer};

/// `text` without NUL characters; anything else is kept as sent.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

/// A provider's identifier (a subject) fit for every database: each NUL becomes U+FFFD. Replaced rather than
/// removed, so that `a\0b` cannot become the same user as `ab`; applied where the provider's answers are
/// read (ID and access token claims, directory listings), so login, Bearer and sync find the same row.
pub fn storable_id(id: String) -> String {
    if id.contains('\0') {
        id.replace('\0', "\u{FFFD}")
    } else {
        id
    }
}

/// `storable_id` as a serde field attribute: `#[serde(deserialize_with = "crate::text::de_storable_id")]`.
pub fn de_storable_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(storable_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_in_an_identifier_is_replaced_not_dropped() {
        assert_eq!(storable_id("a\0b".into()), "a\u{FFFD}b");
        assert_ne!(storable_id("a\0b".into()), storable_id("ab".into()));
    }

    #[test]
    fn only_nul_is_removed() {
        assert_eq!(without_nul("a\0b\0".into()), "ab");
        assert_eq!(without_nul("ä b\u{1}".into()), "ä b\u{1}");
    }
}
