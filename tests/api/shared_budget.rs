//! Rate limits shared by instances through Redis (`KEYWARD_RATE_LIMIT_STORE`): one budget whichever instance
//! answers, each its own without the store, and requests let through (counted) while Redis is away.

use std::{
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU8, Ordering},
    time::{Duration, Instant},
};

use crate::{
    helpers::{TestApp, spawn_app_with, spawn_sibling},
    idp::Layout,
    rate_limit::from_client,
    rbac::with_admin,
};

/// A throwaway `redis-server` on a free loopback port, with nothing saved; killed when dropped.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    async fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Redis { port, child: None };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts the server (again, on the same port) and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server (Debian's redis-server package) must be installed for these tests",
            );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A budget of 3 at once and one request every 10 s: a test's requests see the burst, not the refill.
fn budget(store: Option<&str>) -> Vec<(&str, &str)> {
    let mut vars = vec![
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "3"),
        // Requests without X-Forwarded-For are the loopback client; `store_errors` names others.
        ("KEYWARD_TRUSTED_PROXIES", "127.0.0.0/8"),
    ];
    if let Some(url) = store {
        vars.push(("KEYWARD_RATE_LIMIT_STORE", url));
    }
    vars
}

/// Sends `n` requests alternating between the instances; returns the statuses and the last Retry-After.
async fn alternate(apps: [&TestApp; 2], n: usize) -> (Vec<u16>, Option<u64>) {
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..n {
        let resp = apps[i % 2].get("/openapi.json").await;
        if let Some(v) = resp.headers().get("retry-after") {
            retry_after = v.to_str().ok().and_then(|v| v.parse().ok());
        }
        statuses.push(resp.status().as_u16());
    }
    (statuses, retry_after)
}

fn passed(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| **s == 200).count()
}

/// The instance's count of requests let through unchecked, read as a client of its own (a fresh address each
/// time, through the trusted loopback proxy), so that reading it never meets a spent budget.
async fn store_errors(app: &TestApp) -> u64 {
    static READS: AtomicU8 = AtomicU8::new(1);
    let reader = format!("192.0.2.{}", READS.fetch_add(1, Ordering::Relaxed));
    let resp = app
        .client
        .get(app.url("/metrics"))
        .header("X-Forwarded-For", reader)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("keyward_rate_limit_store_errors_total "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test]
async fn two_instances_sharing_a_store_allow_one_budget_between_them() {
    let redis = Redis::start().await;
    let url = redis.url();
    let a = spawn_app_with(&budget(Some(&url))).await;
    let b = spawn_sibling(&a, &budget(Some(&url))).await;
    let started = Instant::now();
    let (statuses, retry_after) = alternate([&a, &b], 12).await;
    // burst + rate × t, ± 1: 3 now and one more per 10 s elapsed.
    let allowed = 3 + started.elapsed().as_secs() as usize / 10;
    let n = passed(&statuses);
    assert!(
        n.abs_diff(allowed) <= 1,
        "{n} passed of {statuses:?}, one budget is {allowed}"
    );
    assert_eq!(&statuses[..3], [200, 200, 200], "{statuses:?}");
    // The wait comes from Redis's answer: under 10 s, the time one request takes to refill.
    assert!(matches!(retry_after, Some(1..=10)), "{retry_after:?}");
    // The budget is spent, yet the probes still answer and spend nothing.
    for app in [&a, &b] {
        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(app.get("/readyz").await.status(), 200);
    }
    assert_eq!(store_errors(&a).await + store_errors(&b).await, 0);

    // One key for the client, expiring once its bucket is full again (3 × 10 s at most), so idle clients go.
    let mut redis_conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("keyward:rate:*")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    let key = "keyward:rate:global:ip:127.0.0.1";
    assert!(keys.iter().any(|k| k == key), "{keys:?}");
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    assert!((1..=31_000).contains(&ttl_ms), "{ttl_ms} ms");

    // Redis forgot the script (as after a restart): EVALSHA's NOSCRIPT falls back to EVAL, still limiting.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis_conn)
        .await
        .unwrap();
    assert_eq!(a.get("/openapi.json").await.status(), 429);
    assert_eq!(b.get("/openapi.json").await.status(), 429);
    assert_eq!(store_errors(&a).await + store_errors(&b).await, 0);
}

#[tokio::test]
async fn without_a_store_each_instance_allows_its_own_budget() {
    let a = spawn_app_with(&budget(None)).await;
    let b = spawn_sibling(&a, &budget(None)).await;
    let (statuses, _) = alternate([&a, &b], 12).await;
    assert_eq!(passed(&statuses), 6, "two budgets of 3: {statuses:?}");
}

#[tokio::test]
async fn while_the_store_is_down_requests_pass_and_are_counted_then_limits_hold_again() {
    let mut redis = Redis::start().await;
    let url = redis.url();
    let a = spawn_app_with(&budget(Some(&url))).await;
    let b = spawn_sibling(&a, &budget(Some(&url))).await;
    let (statuses, _) = alternate([&a, &b], 6).await;
    assert_eq!(passed(&statuses), 3, "{statuses:?}");

    redis.kill();
    let (statuses, _) = alternate([&a, &b], 10).await;
    assert_eq!(passed(&statuses), 10, "fail open: {statuses:?}");
    // Ten requests plus each /metrics read, each counted once on the instance that let it through.
    let errors = store_errors(&a).await + store_errors(&b).await;
    assert_eq!(errors, 12, "store errors counted");

    redis.restart().await;
    // Redis came back empty: a fresh budget, shared again once the instances have reconnected.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (statuses, _) = alternate([&a, &b], 6).await;
        if statuses.contains(&429) {
            assert!(passed(&statuses) <= 4, "{statuses:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "limits never held again: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn over_a_few_seconds_the_shared_budget_is_the_burst_plus_the_rate() {
    let redis = Redis::start().await;
    let url = redis.url();
    // 2 at once, then 2 per second.
    let vars = [
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "120"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
        ("KEYWARD_RATE_LIMIT_STORE", url.as_str()),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_sibling(&a, &vars).await;
    let started = Instant::now();
    let mut statuses = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        statuses.extend(alternate([&a, &b], 2).await.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let allowed = 2.0 + 2.0 * started.elapsed().as_secs_f64();
    let n = passed(&statuses) as f64;
    eprintln!(
        "shared budget: {n} of {} requests passed in {:?} through two instances (one budget: {allowed:.1})",
        statuses.len(),
        started.elapsed()
    );
    // Whole requests: a refill due in the last instant may not have been spent yet.
    assert!(
        n <= allowed + 1.0 && n >= allowed.floor() - 1.0,
        "{n} of {} passed in {:?}, one budget is {allowed:.1}",
        statuses.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn a_user_and_an_address_on_auth_keep_one_budget_across_instances() {
    let redis = Redis::start().await;
    let url = redis.url();
    let (app, idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let mut settings: Vec<(String, String)> = idp.keyward_settings();
    settings.extend(
        [
            ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
            ("KEYWARD_RATE_LIMIT_BURST", "3"),
            ("KEYWARD_AUTH_RATE_LIMIT_PER_MINUTE", "6"),
            ("KEYWARD_AUTH_RATE_LIMIT_BURST", "2"),
            ("KEYWARD_TRUSTED_PROXIES", "127.0.0.0/8"),
            ("KEYWARD_RATE_LIMIT_STORE", url.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let a = spawn_sibling(&app, &pairs).await;
    let b = spawn_sibling(&app, &pairs).await;

    // Alice from a new address at each request, on alternate instances: one budget of 3.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        let addr = format!("198.51.100.{}", i + 1);
        statuses.push(from_client(app, &addr, Some(&alice), "/api/v1/me").await);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);

    // `/auth/*` counts the address, across instances: 2 at once.
    let nat = "203.0.113.5";
    let mut statuses = Vec::new();
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        statuses.push(from_client(app, nat, None, "/auth/session").await);
    }
    assert!(!statuses[..2].contains(&429), "{statuses:?}");
    assert_eq!(&statuses[2..], [429, 429]);

    // Back-channel logouts spend none of the `/auth/*` bucket: three from one address pass its burst of 2
    // (the general bucket, 3, still counts them).
    for app in [&a, &b, &a] {
        let resp = app
            .client
            .post(app.url("/auth/backchannel-logout"))
            .header("X-Forwarded-For", "203.0.113.77")
            .form(&[("logout_token", "not-a-jwt")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
    }
}
