//! `page` and `per_page` as every list operation takes them, and the list envelope's numbers.

/// Items per page when the client does not say.
pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;
/// The highest `page` accepted (the query validators say `maximum = 1000000`): far past any real listing, and
/// low enough that the offset the database computes cannot overflow.
pub const MAX_PAGE: u64 = 1_000_000;

/// The page asked for, with defaults applied (the query validators already enforce the bounds).
pub fn page(page: Option<u64>, per_page: Option<u64>) -> (u64, u64) {
    (
        page.unwrap_or(1).clamp(1, MAX_PAGE),
        per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE),
    )
}
