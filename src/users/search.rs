//! The admin listing of users, fast at a million rows: an exact total counted from an index alone, then the
//! page's ids in the listing's order (`created_at`, then id), then the page's rows only. SQLite goes through
//! migration 12's trigram table and sort keys; PostgreSQL's planner through `pg_trgm` and `users_created_at_idx`.

use entity::users;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement, TransactionSession, TransactionTrait, Value,
    sea_query::{Alias, Expr, ExprTrait, Func, PostgresQueryBuilder, Query, SelectStatement},
};
use uuid::Uuid;

use super::UserFilter;

/// Walking the sort keys in order reads about a tenth of what sorting a match costs (one index entry against one
/// row lookup): a walk wins while it reads fewer than this many entries per match.
const WALK_PER_MATCH: u64 = 8;

/// PostgreSQL's walk of `users_created_at_idx` reads a row in about a quarter of the time a match costs through
/// the trigram index (a heap block and a recheck each, then the sort): 1 against 4 µs a row at a million users.
const PG_WALK_PER_MATCH: u64 = 4;

/// Whether reading the table in the listing's order, keeping the matches, reads fewer than `per_match` rows per
/// match to reach the end of the page: it reads about `rows / total` rows for each match it keeps.
fn walk_wins(offset: u64, limit: u64, rows: u64, total: u64, per_match: u64) -> bool {
    total > 0 && (offset + limit).saturating_mul(rows) / total <= per_match.saturating_mul(total)
}

/// One page of the users `filter` selects, oldest first, and how many it selects in all. `page` counts from 1.
pub async fn list(
    db: &(impl ConnectionTrait + TransactionTrait),
    filter: &UserFilter,
    page: u64,
    per_page: u64,
) -> Result<(Vec<users::Model>, u64), DbErr> {
    let offset = page.saturating_sub(1).saturating_mul(per_page);
    match db.get_database_backend() {
        DbBackend::Sqlite => match Keys::of(filter) {
            Some(keys) => sqlite_indexed(db, &keys, offset, per_page).await,
            None => scan(db, filter, offset, per_page).await,
        },
        _ => scan(db, filter, offset, per_page).await,
    }
}

/// The filters SQLite answers from its sort keys alone (`users_search_keys`), without reading `users` but for
/// the page.
enum Keys {
    All,
    /// An FTS5 phrase: a plain substring of three or more characters.
    Email(String),
    Role(Uuid),
}

impl Keys {
    fn of(filter: &UserFilter) -> Option<Self> {
        if filter.active.is_some() {
            return None;
        }
        match (&filter.email, filter.role_id) {
            (None, None) => Some(Self::All),
            (Some(email), None) => fts_phrase(&email.to_lowercase()).map(Self::Email),
            (None, Some(role_id)) => Some(Self::Role(role_id)),
            (Some(_), Some(_)) => None,
        }
    }

    /// A condition on `users_search_keys`, and the exact count of the users it selects, from an index.
    fn member_and_total(&self) -> (&'static str, &'static str, Vec<Value>) {
        match self {
            Self::All => ("1", "SELECT COUNT(*) FROM users_search_keys", vec![]),
            Self::Email(phrase) => (
                "seq IN (SELECT rowid FROM users_email_fts WHERE users_email_fts MATCH ?)",
                "SELECT COUNT(*) FROM users_email_fts WHERE users_email_fts MATCH ?",
                vec![phrase.clone().into()],
            ),
            // Every holder is a user: the foreign key cascades deletes.
            Self::Role(role_id) => (
                "user_id IN (SELECT user_id FROM user_roles WHERE role_id = ?)",
                "SELECT COUNT(DISTINCT user_id) FROM user_roles WHERE role_id = ?",
                vec![(*role_id).into()],
            ),
        }
    }
}

/// The trigram table's phrase for a lower-cased needle, when it answers the listing's `LIKE '%needle%'`
/// exactly: three characters at least (shorter phrases match nothing) and no LIKE wildcard (a phrase has none).
fn fts_phrase(needle: &str) -> Option<String> {
    let plain = !needle.contains(['%', '_']) && needle.chars().count() >= 3;
    plain.then(|| format!("\"{}\"", needle.replace('"', "\"\"")))
}

async fn sqlite_indexed(
    db: &impl ConnectionTrait,
    keys: &Keys,
    offset: u64,
    limit: u64,
) -> Result<(Vec<users::Model>, u64), DbErr> {
    let (member, total_sql, values) = keys.member_and_total();
    let sql =
        format!("SELECT ({total_sql}) AS total, (SELECT MAX(seq) FROM users_search_keys) AS n");
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values.clone(),
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("no count".into()))?;
    let total: i64 = row.try_get("", "total")?;
    let keys_max: Option<i64> = row.try_get("", "n")?;
    let (total, keys_max) = (total as u64, keys_max.unwrap_or(0) as u64);
    if offset >= total {
        return Ok((vec![], total));
    }
    // Walk the keys in order and keep the members, or look every member up and sort them: the walk reads about
    // `keys_max / total` entries per row it keeps. `+` keeps the sort from walking the index.
    let walk =
        matches!(keys, Keys::All) || walk_wins(offset, limit, keys_max, total, WALK_PER_MATCH);
    let (from, order) = if walk {
        (
            "users_search_keys INDEXED BY users_search_keys_order_idx",
            "created_at, user_id",
        )
    } else {
        ("users_search_keys", "+created_at, +user_id")
    };
    let sql =
        format!("SELECT user_id FROM {from} WHERE {member} ORDER BY {order} LIMIT ? OFFSET ?");
    let mut values = values;
    values.extend([(limit as i64).into(), (offset as i64).into()]);
    let ids = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "user_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = users::Entity::find()
        .filter(users::Column::Id.is_in(ids.clone()))
        .all(db)
        .await?;
    rows.sort_by_key(|u| ids.iter().position(|id| *id == u.id));
    Ok((rows, total))
}

/// Any filter on either database: the count without the ordering (PostgreSQL would sort what it counts),
/// then the page. PostgreSQL's planner walks `users_created_at_idx` for a first page of common matches and
/// takes the trigram index for rare ones, which needs the values inline: a prepared statement's generic plan
/// cannot tell a substring held by 1 % of users from one held by nobody. For an email search its guess is
/// still a guess (a whole 6-letter tag held by 1 % of a million users was taken for 100 users, and its first
/// page sorted 10 000 matches: 37 ms instead of 3), so there the exact count picks the read ([`PgRead`]).
async fn scan(
    db: &(impl ConnectionTrait + TransactionTrait),
    filter: &UserFilter,
    offset: u64,
    limit: u64,
) -> Result<(Vec<users::Model>, u64), DbErr> {
    let backend = db.get_database_backend();
    let cond = condition(backend, filter);
    let pg_email =
        backend == DbBackend::Postgres && filter.email.is_some() && filter.role_id.is_none();
    let mut count = match (filter.role_id, &filter.email, filter.active) {
        (Some(role_id), None, None) => Query::select()
            .expr_as(Expr::cust("COUNT(DISTINCT user_id)"), Alias::new("n"))
            .from(entity::user_roles::Entity)
            .and_where(entity::user_roles::Column::RoleId.eq(role_id))
            .to_owned(),
        _ => Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from(users::Entity)
            .cond_where(cond.clone())
            .to_owned(),
    };
    if pg_email {
        // The table's size as of its last ANALYZE (-1 before any): what a walk would read, near enough.
        count.expr_as(
            Expr::cust("(SELECT reltuples::bigint FROM pg_class WHERE oid = 'users'::regclass)"),
            Alias::new("rows"),
        );
    }
    let counted = db
        .query_one_raw(statement(backend, &count))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("no count".into()))?;
    let total = counted.try_get::<i64>("", "n")? as u64;
    if offset >= total {
        return Ok((vec![], total));
    }
    let page = users::Entity::find()
        .filter(cond)
        .order_by_asc(users::Column::CreatedAt)
        .order_by_asc(users::Column::Id)
        .limit(limit)
        .offset(offset)
        .into_query();
    let page = users::Entity::find().from_raw_sql(statement(backend, &page));
    let read = match pg_email {
        true => PgRead::of(offset, limit, counted.try_get::<i64>("", "rows")?, total),
        false => None,
    };
    let rows = match read {
        None => page.all(db).await?,
        Some(read) => {
            let txn = db.begin().await?;
            txn.execute_unprepared(read.settings()).await?;
            let rows = page.all(&txn).await?;
            txn.commit().await?;
            rows
        }
    };
    Ok((rows, total))
}

/// How PostgreSQL reads a page of an email search, from the exact number of matches.
#[derive(Debug, PartialEq)]
enum PgRead {
    /// Walk `users_created_at_idx` keeping the matches, which the page's end reaches soon.
    Walk,
    /// Take the matches from the trigram index and sort them: they are few, or the page is deep.
    Matches,
}

impl PgRead {
    /// None before the table was ever analyzed: without its size, the planner's guess is as good as any.
    fn of(offset: u64, limit: u64, rows: i64, total: u64) -> Option<Self> {
        let rows = u64::try_from(rows).ok().filter(|r| *r > 0)?;
        Some(
            match walk_wins(offset, limit, rows, total, PG_WALK_PER_MATCH) {
                true => Self::Walk,
                false => Self::Matches,
            },
        )
    }

    /// For the page's transaction: the plans the read rules out.
    fn settings(&self) -> &'static str {
        match self {
            // Parallel workers cost more to start than a walk of a few thousand rows takes (14 ms against 5).
            Self::Walk => {
                "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; \
                 SET LOCAL max_parallel_workers_per_gather = 0"
            }
            Self::Matches => "SET LOCAL enable_indexscan = off",
        }
    }
}

fn condition(backend: DbBackend, filter: &UserFilter) -> Condition {
    let mut cond = Condition::all();
    if let Some(email) = &filter.email {
        // `%` and `_` in the filter act as LIKE wildcards: harmless for a search box.
        let needle = email.to_lowercase();
        if let Some(phrase) = fts_phrase(&needle).filter(|_| backend == DbBackend::Sqlite) {
            // The trigram table narrows the rows; the comparison below still decides.
            cond = cond.add(Expr::cust_with_values(
                "\"users\".\"id\" IN (SELECT user_id FROM users_search_keys WHERE seq IN \
                 (SELECT rowid FROM users_email_fts WHERE users_email_fts MATCH ?))",
                [phrase],
            ));
        }
        cond = cond.add(
            Expr::expr(Func::lower(Expr::col((
                users::Entity,
                users::Column::Email,
            ))))
            .like(format!("%{needle}%")),
        );
    }
    if let Some(active) = filter.active {
        cond = cond.add(users::Column::Active.eq(active));
    }
    if let Some(role_id) = filter.role_id {
        cond = cond.add(users::Column::Id.in_subquery(crate::rbac::store::holders_of(role_id)));
    }
    cond
}

fn statement(backend: DbBackend, query: &SelectStatement) -> Statement {
    match backend {
        DbBackend::Postgres => {
            Statement::from_string(backend, query.to_string(PostgresQueryBuilder))
        }
        _ => backend.build(query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_needles_of_three_characters_or_more_become_a_trigram_phrase() {
        assert_eq!(fts_phrase("abc").as_deref(), Some("\"abc\""));
        assert_eq!(fts_phrase("zoë").as_deref(), Some("\"zoë\""));
        assert_eq!(fts_phrase("a\"b").as_deref(), Some("\"a\"\"b\""));
        for needle in ["", "ab", "é", "a%bcd", "abc_d", "%%%"] {
            assert_eq!(fts_phrase(needle), None, "{needle}");
        }
    }

    #[test]
    fn postgres_walks_for_early_pages_of_common_matches_and_sorts_rare_or_deep_ones() {
        // The bench's shape: 10 000 matches among a million users, 50 a page.
        assert_eq!(PgRead::of(0, 50, 1_000_000, 10_000), Some(PgRead::Walk));
        assert_eq!(
            PgRead::of(4_950, 50, 1_000_000, 10_000),
            Some(PgRead::Matches)
        );
        assert_eq!(PgRead::of(0, 50, 1_000_000, 30), Some(PgRead::Matches));
        assert_eq!(PgRead::of(0, 50, 1_000_000, 1_000_000), Some(PgRead::Walk));
        // Never analyzed (-1), or analyzed empty: the planner decides.
        assert_eq!(PgRead::of(0, 50, -1, 10), None);
        assert_eq!(PgRead::of(0, 50, 0, 10), None);
    }
}
