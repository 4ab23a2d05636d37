//! sea-orm entities for Keyward's tables, one module per table.

pub mod users;
