//! The admin user search by email substring: the indexed path (a trigram table on SQLite, `pg_trgm` on
//! PostgreSQL) answers exactly as a plain scan of `users` does, and the index follows inserts, email changes
//! and deletions. Without the privilege to create `pg_trgm`, PostgreSQL migrates all the same and scans.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Database, DbBackend, EntityTrait,
    FromQueryResult, IntoActiveModel, Statement,
};

use keyward::users::UserFilter;

use crate::{
    helpers::{TestApp, TestDb, role_row},
    idp::Layout,
    rbac::{call, json_of, with_admin, with_admin_on},
};

const EMAILS: &[&str] = &[
    "Anna.Berg@Example.com",
    "anna_berg@example.com",
    "annaxberg@example.com",
    "ben%berg@example.org",
    "BENJAMIN@EXAMPLE.ORG",
    "chloe@sub.example.net",
    "zo@x.io",
];

async fn insert(app: &TestApp, email: Option<&str>, n: i64) -> uuid::Uuid {
    let at = chrono::Utc::now() + chrono::Duration::seconds(n);
    let id = uuid::Uuid::now_v7();
    entity::users::ActiveModel {
        id: Set(id),
        issuer: Set("https://search.example".into()),
        subject: Set(format!("search-{n}")),
        email: Set(email.map(str::to_owned)),
        email_verified: Set(false),
        display_name: Set(None),
        username: Set(None),
        avatar_url: Set(None),
        active: Set(true),
        created_at: Set(at),
        updated_at: Set(at),
        last_login_at: Set(None),
        last_synced_at: Set(None),
        deactivated_by: Set(None),
        provider_pk: Set(None),
    }
    .insert(&app.state.db)
    .await
    .unwrap();
    id
}

/// The emails the API lists for `?email=needle` (all pages of 200 are more than the test holds), and the total.
async fn searched(app: &TestApp, admin: &str, needle: &str) -> (Vec<String>, u64) {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("email", needle)
        .append_pair("per_page", "200")
        .finish();
    let list = json_of(
        call(
            app,
            Some(admin),
            "GET",
            &format!("/api/v1/users?{query}"),
            None,
        )
        .await,
        200,
    )
    .await;
    let emails = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    (emails, list["total"].as_u64().unwrap())
}

#[derive(FromQueryResult)]
struct Email {
    email: String,
}

/// The same filter as a plain scan of `users`, oldest first, with no index table involved.
async fn scanned(app: &TestApp, needle: &str) -> Vec<String> {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let placeholder = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT email FROM users WHERE lower(email) LIKE {placeholder} ORDER BY created_at"
    );
    let pattern = format!("%{}%", needle.to_lowercase());
    Email::find_by_statement(Statement::from_sql_and_values(
        backend,
        sql,
        [pattern.into()],
    ))
    .all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.email)
    .collect()
}

async fn assert_search(app: &TestApp, admin: &str, needle: &str, expected: &[&str]) {
    let (listed, total) = searched(app, admin, needle).await;
    // Only the users this test made: the admin who logged in is listed too.
    let got: Vec<&str> = listed
        .iter()
        .map(String::as_str)
        .filter(|e| EMAILS.contains(e) || e.ends_with("@search.test"))
        .collect();
    assert_eq!(
        listed,
        scanned(app, needle).await,
        "{needle:?}: index and scan disagree"
    );
    assert_eq!(total, listed.len() as u64, "{needle:?}: exact total");
    assert_eq!(got, expected, "{needle:?}");
}

#[tokio::test]
async fn email_search_answers_as_a_scan_does_for_short_long_and_wildcard_substrings() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    for (n, email) in EMAILS.iter().enumerate() {
        insert(&app, Some(email), n as i64 + 10).await;
    }
    insert(&app, None, 100).await;

    // Two characters scan, three or more use the trigram index; both ignore ASCII case.
    assert_search(&app, &admin, "zo", &["zo@x.io"]).await;
    assert_search(&app, &admin, "ANNA", &EMAILS[..3]).await;
    assert_search(&app, &admin, "anna.b", &["Anna.Berg@Example.com"]).await;
    assert_search(&app, &admin, "example.org", &EMAILS[3..5]).await;
    assert_search(&app, &admin, "benj", &["BENJAMIN@EXAMPLE.ORG"]).await;
    // `_` and `%` are LIKE wildcards, as they always were in this filter.
    assert_search(&app, &admin, "anna_berg", &EMAILS[..3]).await;
    assert_search(&app, &admin, "ben%berg", &["ben%berg@example.org"]).await;
    assert_search(&app, &admin, "n%g@", &EMAILS[..4]).await;
    assert_search(&app, &admin, "nobody-has-this", &[]).await;
}

#[tokio::test]
async fn quotes_and_backslashes_in_the_needle_are_searched_for_not_run() {
    // PostgreSQL's listing writes the needle into the statement (its planner must see the value): quoting it
    // wrong would run the client's text as SQL.
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let odd = [
        "o'neil@search.test",
        "back\\slash@search.test",
        "x');drop@search.test",
    ];
    for (n, email) in odd.iter().enumerate() {
        insert(&app, Some(email), n as i64 + 10).await;
    }
    assert_search(&app, &admin, "o'neil", &odd[..1]).await;
    assert_search(&app, &admin, "x');drop", &odd[2..]).await;
    assert_search(&app, &admin, "'; DROP TABLE users; --", &[]).await;
    assert_search(&app, &admin, "') OR ('1'='1", &[]).await;
    // A backslash escapes the next character in PostgreSQL's LIKE and not in SQLite's: each answers as its own
    // scan does.
    for needle in ["k\\s", "\\'", "é'\\x", "'\\"] {
        let (listed, total) = searched(&app, &admin, needle).await;
        assert_eq!(listed, scanned(&app, needle).await, "{needle:?}");
        assert_eq!(total, listed.len() as u64, "{needle:?}");
    }
    assert_search(&app, &admin, "search.test", &odd).await;
}

#[tokio::test]
async fn the_email_index_follows_new_changed_and_deleted_users() {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    let kept = insert(&app, Some("keep.me@search.test"), 1).await;
    let changed = insert(&app, Some("old.name@search.test"), 2).await;
    let deleted = insert(&app, Some("gone.soon@search.test"), 3).await;
    let later = insert(&app, None, 4).await;
    assert_search(&app, &admin, "old.name", &["old.name@search.test"]).await;

    let mut row = entity::users::Entity::find_by_id(changed)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.email = Set(Some("New.Name@search.test".into()));
    row.update(&app.state.db).await.unwrap();
    let mut row = entity::users::Entity::find_by_id(later)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    row.email = Set(Some("late.comer@search.test".into()));
    row.update(&app.state.db).await.unwrap();
    entity::users::Entity::delete_by_id(deleted)
        .exec(&app.state.db)
        .await
        .unwrap();

    assert_search(&app, &admin, "old.name", &[]).await;
    assert_search(&app, &admin, "new.name", &["New.Name@search.test"]).await;
    assert_search(&app, &admin, "gone.soon", &[]).await;
    assert_search(&app, &admin, "late.comer", &["late.comer@search.test"]).await;
    assert_search(
        &app,
        &admin,
        "search.test",
        &[
            "keep.me@search.test",
            "New.Name@search.test",
            "late.comer@search.test",
        ],
    )
    .await;
    let (_, total) = searched(&app, &admin, "keep.me").await;
    assert_eq!(total, 1, "{kept}");
    assert_index_in_step(&app).await;
}

/// The index the migration made is there, and on SQLite its trigram table holds exactly one row per user with an
/// email, its sort keys one per user.
async fn assert_index_in_step(app: &TestApp) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        "SELECT (SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'users_email_trgm_idx') AS a, 1::bigint AS b"
    } else {
        "SELECT (SELECT COUNT(*) FROM users_email_fts) * 10000000 + (SELECT COUNT(*) FROM users_search_keys) AS a, \
         (SELECT COUNT(*) FROM users WHERE email IS NOT NULL) * 10000000 + (SELECT COUNT(*) FROM users) AS b"
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    let (a, b): (i64, i64) = (row.try_get("", "a").unwrap(), row.try_get("", "b").unwrap());
    assert_eq!(a, b, "index rows against users with an email");
}

#[tokio::test]
async fn without_the_right_to_create_pg_trgm_the_migrations_pass_and_the_search_scans() {
    let admin_url = match std::env::var("KEYWARD_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => return, // PostgreSQL only: SQLite's trigram table needs no privilege
    };
    let mut db = TestDb::on_server(&admin_url).await;
    // A role that may create tables but not extensions: it does not own the database (pg_trgm is a trusted
    // extension, which a database owner may create).
    let role = format!("keyward_noext_{}", uuid::Uuid::new_v4().simple());
    let owner = Database::connect(&db.url).await.unwrap();
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN; GRANT USAGE, CREATE ON SCHEMA public TO {role}"
        ))
        .await
        .unwrap();
    owner.close().await.unwrap();
    db.url = db.url.replacen("://postgres@", &format!("://{role}@"), 1);
    assert!(
        db.url.contains(&role),
        "the test server's URL names its user"
    );

    let (app, _idp, admin) = with_admin_on(Layout::Keycloak, &[], db).await;
    insert(&app, Some("First.Person@search.test"), 1).await;
    insert(&app, Some("second.person@search.test"), 2).await;
    assert_search(
        &app,
        &admin,
        "person",
        &["First.Person@search.test", "second.person@search.test"],
    )
    .await;
    assert_search(&app, &admin, "FIRST", &["First.Person@search.test"]).await;
    let row = app
        .state
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_trgm') AS n",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<i64>("", "n").unwrap(),
        0,
        "the role could not create pg_trgm"
    );

    drop(app);
    let server = Database::connect(&admin_url).await.unwrap();
    server
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await
        .unwrap();
}

/// Every page `users::list` gives for `filter` at `per_page` (the API's listing, without its request budget),
/// joined, and the totals each page reported.
async fn all_pages(
    app: &TestApp,
    filter: &UserFilter,
    per_page: u64,
) -> (Vec<uuid::Uuid>, Vec<u64>) {
    let (mut ids, mut totals) = (vec![], vec![]);
    for page in 1.. {
        let (rows, total) = keyward::users::list(&app.state.db, filter, page, per_page)
            .await
            .unwrap();
        totals.push(total);
        ids.extend(rows.iter().map(|u| u.id));
        if (rows.len() as u64) < per_page {
            break;
        }
    }
    (ids, totals)
}

async fn role_held_by(app: &TestApp, name: &str, holders: &[uuid::Uuid]) {
    let now = chrono::Utc::now();
    let role = role_row(name).insert(&app.state.db).await.unwrap().id;
    for (i, user) in holders.iter().enumerate() {
        // The first holder has the role twice, by hand and from the provider: one user all the same.
        for source in if i == 0 {
            &["manual", "provider"][..]
        } else {
            &["manual"][..]
        } {
            entity::user_roles::ActiveModel {
                user_id: Set(*user),
                role_id: Set(role),
                source: Set((*source).into()),
                granted_by: Set(None),
                granted_at: Set(now),
            }
            .insert(&app.state.db)
            .await
            .unwrap();
        }
    }
}

#[tokio::test]
async fn every_page_of_a_role_an_email_or_no_filter_lists_the_users_oldest_first_with_the_exact_total()
 {
    let (app, _idp, admin) = with_admin(Layout::Keycloak, &[]).await;
    // Inserted newest first, so that the order of insertion is not the order of the listing.
    let mut users = vec![];
    for n in (1..=24i64).rev() {
        let tag = if n % 12 == 5 { "rare" } else { "crowd" };
        let id = insert(&app, Some(&format!("u{n}.{tag}@search.test")), n).await;
        users.push((n, id));
    }
    users.sort();
    let ids: Vec<uuid::Uuid> = users.iter().map(|(_, id)| *id).collect();
    let crowd: Vec<uuid::Uuid> = users
        .iter()
        .filter(|(n, _)| n % 12 != 5)
        .map(|(_, id)| *id)
        .collect();
    let rare = vec![ids[4], ids[16]];
    role_held_by(&app, "crowd-role", &crowd).await;
    role_held_by(&app, "rare-role", &rare).await;
    if app.state.db.get_database_backend() == DbBackend::Postgres {
        // With the table's size known, PostgreSQL's email pages take both reads: walking the listing's
        // order for the crowd, sorting the matches for the rare and for deep pages.
        app.state
            .db
            .execute_unprepared("ANALYZE users")
            .await
            .unwrap();
    }

    let role = |name: &'static str| keyward::rbac::store::find_role_by_name(&app.state.db, name);
    let crowd_role = role("crowd-role").await.unwrap().map(|r| r.id);
    let rare_role = role("rare-role").await.unwrap().map(|r| r.id);
    let email = |needle: &str| Some(needle.to_owned());
    for per_page in [1, 2, 3, 7, 200] {
        for (filter, expected) in [
            (
                UserFilter {
                    role_id: crowd_role,
                    ..Default::default()
                },
                &crowd,
            ),
            (
                UserFilter {
                    role_id: rare_role,
                    ..Default::default()
                },
                &rare,
            ),
            (
                UserFilter {
                    email: email(".crowd@"),
                    ..Default::default()
                },
                &crowd,
            ),
            (
                UserFilter {
                    email: email("RARE"),
                    ..Default::default()
                },
                &rare,
            ),
            (
                UserFilter {
                    email: email("search.test"),
                    active: Some(true),
                    ..Default::default()
                },
                &ids,
            ),
            (
                UserFilter {
                    email: email("rare"),
                    role_id: crowd_role,
                    ..Default::default()
                },
                &vec![],
            ),
        ] {
            let (listed, totals) = all_pages(&app, &filter, per_page).await;
            assert_eq!(&listed, expected, "{filter:?}, {per_page} a page");
            assert!(
                totals.iter().all(|t| *t == expected.len() as u64),
                "{filter:?}: {totals:?}"
            );
        }
        // Unfiltered: the admin who logged in first, then the test's users.
        let (listed, totals) = all_pages(&app, &UserFilter::default(), per_page).await;
        assert_eq!(listed[1..], ids, "unfiltered, {per_page} a page");
        assert!(
            totals.iter().all(|t| *t == ids.len() as u64 + 1),
            "{totals:?}"
        );
    }
    // The API answers from the same listing.
    let list = json_of(
        call(
            &app,
            Some(&admin),
            "GET",
            "/api/v1/users?role=rare-role&per_page=1&page=2",
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][0]["id"], rare[1].to_string());
}

/// Search tables and indexes of migration 12 present in the database.
async fn search_objects(app: &TestApp) -> i64 {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname IN \
         ('users_email_trgm_idx', 'users_created_at_idx', 'user_roles_role_id_user_id_idx')"
    } else {
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE name IN ('users_email_fts', 'users_search_keys', \
         'users_search_keys_order_idx', 'user_roles_role_id_user_id_idx') OR name LIKE 'users_search_%'"
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::test]
async fn the_search_migration_goes_down_and_up_again_and_indexes_the_users_already_there() {
    use migration::MigratorTrait;
    let app = crate::helpers::spawn_app().await;
    let first = insert(&app, Some("Before.Down@search.test"), 1).await;
    let present = search_objects(&app).await;
    assert!(present >= 3, "{present}");

    migration::Migrator::down(app.state.db.pool(), Some(1))
        .await
        .unwrap();
    assert_eq!(search_objects(&app).await, 0);
    // Written while the search tables are gone: indexed when they come back.
    let second = insert(&app, Some("while.down@search.test"), 2).await;
    migration::Migrator::up(app.state.db.pool(), None)
        .await
        .unwrap();
    assert_eq!(search_objects(&app).await, present);
    assert_index_in_step(&app).await;

    let email = |needle: &str| UserFilter {
        email: Some(needle.to_owned()),
        ..Default::default()
    };
    for (needle, expected) in [
        ("before.down", vec![first]),
        ("search.test", vec![first, second]),
    ] {
        let (rows, total) = keyward::users::list(&app.state.db, &email(needle), 1, 20)
            .await
            .unwrap();
        assert_eq!(
            rows.iter().map(|u| u.id).collect::<Vec<_>>(),
            expected,
            "{needle}"
        );
        assert_eq!(total, expected.len() as u64, "{needle}");
    }
}
