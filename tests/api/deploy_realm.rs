//! The stack in `deploy/`, checked without Docker: the test provider loads `deploy/keycloak/realm.json` (its
//! client, service account and users) and Keyward runs with the environment `compose.yaml` gives its instances;
//! every `${VAR}` of the compose file, the realm and the Authentik blueprint is in `deploy/.env.example`; and
//! `haproxy -c` accepts `deploy/haproxy/haproxy.cfg`.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    time::Duration,
};

use serde_json::json;

use crate::{
    helpers::{TestApp, header, spawn_app_on_listener},
    idp::TestIdp,
    login::{api_token, assert_unauthorized, cookie_get, cookie_post, logged_in},
    mappings::grants,
    rbac::json_of,
    sync::sync,
};

/// How long a stopping Keyward lets requests in flight finish (`Application::run_until`).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `deploy/.env.example` as name → value (comments and blank lines skipped).
fn env_example() -> HashMap<String, String> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!(".env.example: not NAME=value: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// `.env.example` as an operator fills it in: it leaves the key empty on purpose (compose refuses to start
/// without one).
fn deployment_env() -> HashMap<String, String> {
    let mut env = env_example();
    env.insert("KEYWARD_SECRET_KEY".into(), "ab".repeat(32));
    env
}

/// The variables a file names as `${VAR}`, `${VAR:-default}`, `${VAR:?message}` (compose) or `${VAR:default}`
/// (Keycloak's import).
fn placeholders(text: &str) -> BTreeSet<String> {
    regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect()
}

/// Compose's interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?message}` from `env`.
fn interpolate(value: &str, env: &HashMap<String, String>) -> String {
    let re = regex::Regex::new(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}").unwrap();
    re.replace_all(value, |c: &regex::Captures| {
        let set = env.get(&c[1]).filter(|v| !v.is_empty());
        match (set, c.get(2).map(|m| m.as_str())) {
            (Some(v), _) => v.clone(),
            (None, Some("-")) => c[3].to_owned(),
            (None, Some("?")) => panic!("compose would stop: {} ({})", &c[1], &c[3]),
            (None, _) => String::new(),
        }
    })
    .into_owned()
}

fn compose() -> serde_norway::Value {
    let mut doc: serde_norway::Value =
        serde_norway::from_str(&read("compose.yaml")).expect("compose.yaml is valid YAML");
    doc.apply_merge().expect("compose.yaml's merge keys apply");
    doc
}

/// The environment compose gives a Keyward instance, interpolated from `env`.
fn keyward_environment(
    doc: &serde_norway::Value,
    service: &str,
    env: &HashMap<String, String>,
) -> HashMap<String, String> {
    doc["services"][service]["environment"]
        .as_mapping()
        .unwrap_or_else(|| panic!("compose.yaml: {service} has an environment mapping"))
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_norway::Value::String(s) => s.clone(),
                other => serde_norway::to_string(other).unwrap().trim().to_owned(),
            };
            (k.as_str().unwrap().to_owned(), interpolate(&value, env))
        })
        .collect()
}

/// Keyward configured as a compose instance, beside a provider loaded from realm.json. Only what cannot exist
/// here is replaced: the listen address and public URL (a local port), the database (the test's), the
/// issuer's host (the test provider's), the seed file's path (its mount), and Redis (not started: per process).
async fn deployed() -> (TestApp, TestIdp) {
    let env = deployment_env();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let secret = env["KEYWARD_OIDC_CLIENT_SECRET"].clone();
    let idp = TestIdp::start_with_realm(
        &deploy_dir().join("keycloak/realm.json"),
        &base,
        &secret,
        &[
            ("KEYWARD_OIDC_CLIENT_SECRET", &secret),
            ("KEYWARD_PUBLIC_URL", &base),
            ("KEYWARD_INTERNAL_URL", &base),
        ],
    )
    .await;

    let mut settings = keyward_environment(&compose(), "keyward-1", &env);
    let issuer = &settings["KEYWARD_OIDC_ISSUER"];
    assert!(
        issuer.starts_with(&env["KEYCLOAK_PUBLIC_URL"]) && idp.issuer.ends_with("/realms/keyward"),
        "compose's issuer {issuer} and the realm's {}",
        idp.issuer
    );
    assert_eq!(issuer.rsplit_once("/realms/").unwrap().1, "keyward");
    assert_eq!(settings["KEYWARD_RBAC_SEED"], "/etc/keyward/rbac.yaml");
    let seed = deploy_dir().join("keyward/rbac.yaml").display().to_string();
    for (name, value) in [
        (
            "KEYWARD_LISTEN",
            base.trim_start_matches("http://").to_owned(),
        ),
        ("KEYWARD_PUBLIC_URL", base.clone()),
        ("KEYWARD_OIDC_ISSUER", idp.issuer.clone()),
        ("KEYWARD_RBAC_SEED", seed),
    ] {
        settings.insert(name.into(), value);
    }
    settings.remove("KEYWARD_RATE_LIMIT_STORE");
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    (spawn_app_on_listener(&pairs, listener).await, idp)
}

async fn roles_of_me(app: &TestApp, browser: &reqwest::Client) -> serde_json::Value {
    json_of(cookie_get(app, browser, "/api/v1/me").await, 200).await["roles"].clone()
}

#[tokio::test]
async fn the_realm_files_users_log_in_their_groups_map_to_roles_and_its_service_account_syncs() {
    let (app, idp) = deployed().await;

    // alice: admin through KEYWARD_BOOTSTRAP_ADMINS of .env.example, with the password realm.json gives her.
    let alice = logged_in(&app, "alice").await;
    assert_eq!(roles_of_me(&app, &alice).await, json!(["admin", "user"]));
    let admin = api_token(&app, &alice).await;

    // The service account's realm-management roles let the sync read users and group members: bob, who never
    // logged in, is created with the role his group `auditors` maps to in deploy/keyward/rbac.yaml.
    let run = sync(&app, &admin).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (run["seen"].as_i64(), run["created"].as_i64()),
        (Some(2), Some(1)),
        "alice and bob listed, the service account not; bob created: {run}"
    );
    assert_eq!(
        grants(&app, &admin, "bob@example.com").await,
        ["auditor provider"],
        "the default role comes with the first login"
    );

    // bob logs in: the ID token's `groups` (the realm's group-membership mapper) keeps the role.
    let bob = logged_in(&app, "bob").await;
    assert_eq!(roles_of_me(&app, &bob).await, json!(["auditor", "user"]));

    // Signing out at the provider reaches Keyward at the realm's back-channel logout URL and ends his session.
    idp.sign_out(&bob).await;
    assert_unauthorized(cookie_get(&app, &bob, "/api/v1/me").await, "bob signed out").await;
    assert_eq!(roles_of_me(&app, &alice).await, json!(["admin", "user"]));

    // alice logs out of Keyward: the provider accepts the realm's post-logout URI and sends her back.
    let resp = cookie_post(&app, &alice, "/auth/logout").await;
    assert_eq!(resp.status(), 200);
    let logout_url = json_of(resp, 200).await["logout_url"]
        .as_str()
        .expect("a logout URL")
        .to_owned();
    let resp = alice.get(&logout_url).send().await.unwrap();
    assert_eq!(resp.status(), 303, "{logout_url}");
    assert_eq!(header(&resp, "location"), Some(app.url("/").as_str()));
}

#[tokio::test]
async fn every_variable_of_compose_the_realm_and_the_blueprint_is_in_env_example() {
    let listed: BTreeSet<String> = env_example().into_keys().collect();
    let doc = compose();
    for service in [
        "postgres",
        "redis",
        "keycloak",
        "keyward-1",
        "keyward-2",
        "balancer",
    ] {
        assert!(
            doc["services"][service].is_mapping(),
            "compose.yaml: no {service}"
        );
    }
    let env = deployment_env();
    assert_eq!(
        keyward_environment(&doc, "keyward-1", &env),
        keyward_environment(&doc, "keyward-2", &env),
        "both instances are configured alike"
    );
    serde_json::from_str::<serde_json::Value>(&read("keycloak/realm.json"))
        .expect("realm.json is valid JSON");
    let blueprint: serde_norway::Value =
        serde_norway::from_str(&read("authentik/blueprint.yaml")).expect("blueprint.yaml is YAML");
    assert_eq!(blueprint["version"], 1);
    let env_tags = regex::Regex::new(r"!Env\s+\[?\s*([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    for file in [
        "compose.yaml",
        "keycloak/realm.json",
        "authentik/blueprint.yaml",
    ] {
        let text = read(file);
        let mut used = placeholders(&text);
        used.extend(env_tags.captures_iter(&text).map(|c| c[1].to_owned()));
        let missing: Vec<&String> = used.difference(&listed).collect();
        assert!(
            missing.is_empty(),
            "{file} uses {missing:?}, not in .env.example"
        );
    }
    assert!(
        !read("keycloak/realm.json").contains(&env["KEYWARD_OIDC_CLIENT_SECRET"]),
        "the client secret comes from the environment"
    );
}

#[tokio::test]
async fn haproxy_accepts_the_balancer_configuration_and_its_checks_fit_in_the_drain() {
    let cfg = deploy_dir().join("haproxy/haproxy.cfg");
    let out = tokio::process::Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .await
        .expect("haproxy is installed (Debian's haproxy package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "haproxy -c: {text}");
    assert!(text.contains("Configuration file is valid"), "{text}");
    assert!(!text.contains("[ALERT]"), "{text}");

    // The balancer must see an instance's 503 before the drain ends: inter x fall < KEYWARD_SHUTDOWN_DRAIN.
    let config = read("haproxy/haproxy.cfg");
    let checks = regex::Regex::new(r"check inter (\S+) fall (\d+)")
        .unwrap()
        .captures(&config)
        .expect("haproxy.cfg: check inter … fall …");
    let detection = humantime::parse_duration(&checks[1]).unwrap() * checks[2].parse().unwrap();
    let drain = humantime::parse_duration(&env_example()["KEYWARD_SHUTDOWN_DRAIN"]).unwrap();
    assert!(
        detection < drain,
        "{detection:?} to notice, {drain:?} of drain"
    );
    // compose's stop_grace_period covers the drain and the 10 s Keyward gives requests in flight (`app.rs`).
    let grace = compose()["services"]["keyward-1"]["stop_grace_period"]
        .as_str()
        .map(|g| humantime::parse_duration(g).unwrap())
        .expect("compose.yaml: keyward-1 has a stop_grace_period");
    assert!(
        drain + SHUTDOWN_GRACE < grace,
        "{grace:?} for {drain:?} + {SHUTDOWN_GRACE:?}"
    );
    for line in [
        "balance roundrobin",
        "option httpchk GET /readyz",
        "option forwardfor",
        "retry-on conn-failure",
        "option redispatch",
    ] {
        assert!(config.contains(line), "haproxy.cfg lacks {line}");
    }
    assert!(!config.contains("cookie "), "no stickiness");
}
