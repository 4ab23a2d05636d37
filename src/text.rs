//! Text from outside Keyward's control (a provider's claims, directory listings, error descriptions) made fit
//! for every database Keyward runs on: PostgreSQL refuses NUL (U+0000) in text, SQLite would keep it.

/// `text` without NUL characters; anything else is kept as sent.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nul_is_removed() {
        assert_eq!(without_nul("a\0b\0".into()), "ab");
        assert_eq!(without_nul("ä b\u{1}".into()), "ä b\u{1}");
    }
}
