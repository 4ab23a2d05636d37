use crate::{
    helpers::{TestApp, problem, spawn_app_with, spawn_sibling},
    idp::Layout,
    rbac::{token_for, with_admin},
};

const SPA: &str = "https://spa.example.com";

#[tokio::test]
async fn after_the_burst_requests_get_429_with_retry_after_and_cors_headers() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "3"),
        ("KEYWARD_CORS_ORIGINS", SPA),
    ])
    .await;
    // Every path but the probes counts: known, unknown and the spec.
    for path in ["/api/v1/me", "/no/such/path", "/openapi.json"] {
        let resp = app.get_from(path, SPA).await;
        assert_ne!(resp.status(), 429, "{path} within the burst");
    }
    let resp = app.get_from("/api/v1/me", SPA).await;
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(resp.headers()["access-control-allow-origin"], SPA);
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:rate-limited"
    );

    let metrics = app.get("/metrics").await;
    assert_eq!(
        metrics.status(),
        429,
        "metrics is rate limited like any path"
    );
}

#[tokio::test]
async fn preflights_are_not_counted() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
        ("KEYWARD_CORS_ORIGINS", SPA),
    ])
    .await;
    for _ in 0..5 {
        let resp = app.preflight("/openapi.json", SPA, "GET", None).await;
        assert!(resp.status().is_success());
    }
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    assert_eq!(app.get("/openapi.json").await.status(), 429);
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    let statuses = send_as_many_clients(&app, 3).await;
    // All three came from the same peer; pretending to be others does not earn a fresh bucket.
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
        ("KEYWARD_TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    let statuses = send_as_many_clients(&app, 3).await;
    assert_eq!(statuses, [200, 200, 200]);
    // The same forwarded client is limited like any other.
    let again: Vec<u16> = futures_util::future::join_all((0..3).map(|_| async {
        app.client
            .get(app.url("/openapi.json"))
            .header("X-Forwarded-For", "198.51.100.1")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }))
    .await;
    assert!(again.contains(&429), "{again:?}");
}

#[tokio::test]
async fn a_client_written_forwarded_field_before_the_proxys_own_does_not_pick_the_bucket() {
    // HAProxy's `option forwardfor` adds its own X-Forwarded-For field after any the client sent; a client that
    // writes a new address into its field on every request is still the address the proxy saw.
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
        ("KEYWARD_TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.append("X-Forwarded-For", format!("203.0.113.{i}").parse().unwrap());
        headers.append("X-Forwarded-For", "198.51.100.7".parse().unwrap());
        let resp = app
            .client
            .get(app.url("/openapi.json"))
            .headers(headers)
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}

/// Sends one request per pretended client address, in order.
async fn send_as_many_clients(app: &crate::helpers::TestApp, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let resp = app
            .client
            .get(app.url("/openapi.json"))
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn zero_per_minute_turns_limiting_off() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "0"),
        ("KEYWARD_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    for _ in 0..20 {
        assert_eq!(app.get("/openapi.json").await.status(), 200);
    }
}

#[tokio::test]
async fn probes_are_never_rate_limited_nor_spend_the_budget() {
    let app = spawn_app_with(&[
        ("KEYWARD_RATE_LIMIT_PER_MINUTE", "60"),
        ("KEYWARD_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    // A load balancer probing every 300 ms for a while, well past the burst.
    for _ in 0..20 {
        assert_eq!(app.get("/healthz").await.status(), 200);
        assert_eq!(app.get("/readyz").await.status(), 200);
    }
    // The client's budget is untouched: its whole burst is left for other paths.
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    assert_eq!(app.get("/openapi.json").await.status(), 429);
}

/// One request from `client` (a forwarded address), as `token`'s user or anonymous; its status.
pub async fn from_client(app: &TestApp, client: &str, token: Option<&str>, path: &str) -> u16 {
    let mut req = app
        .client
        .get(app.url(path))
        .header("X-Forwarded-For", client);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn an_authenticated_caller_spends_their_own_budget_wherever_they_connect_from() {
    let (app, idp, alice) = with_admin(Layout::Keycloak, &[]).await;
    let bob = token_for(&app, "bob").await;
    // A fresh instance with a tight budget: the logins above spent nothing of it.
    let mut settings: Vec<(String, String)> = idp.keyward_settings();
    settings.extend(
        [
            ("KEYWARD_RATE_LIMIT_PER_MINUTE", "6"),
            ("KEYWARD_RATE_LIMIT_BURST", "3"),
            ("KEYWARD_TRUSTED_PROXIES", "127.0.0.0/8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let limited = spawn_sibling(&app, &pairs).await;
    let nat = "198.51.100.7";

    // Two users behind one address: each has a whole budget.
    for user in [alice.as_str(), bob.as_str()] {
        for i in 0..3 {
            let status = from_client(&limited, nat, Some(user), "/api/v1/me").await;
            assert_eq!(status, 200, "request {i}");
        }
    }
    let resp = limited
        .client
        .get(limited.url("/api/v1/me"))
        .header("X-Forwarded-For", nat)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(
        problem(resp).await["type"],
        "urn:keyward:problem:rate-limited"
    );

    // The address's own budget, for anonymous requests, is untouched by its users, and shared by them.
    for _ in 0..3 {
        assert_eq!(from_client(&limited, nat, None, "/openapi.json").await, 200);
    }
    assert_eq!(from_client(&limited, nat, None, "/openapi.json").await, 429);

    // One user on another address keeps the budget they spent; the address itself is fresh.
    let elsewhere = "203.0.113.9";
    assert_eq!(
        from_client(&limited, elsewhere, Some(&bob), "/api/v1/me").await,
        429
    );
    assert_eq!(
        from_client(&limited, elsewhere, None, "/openapi.json").await,
        200
    );

    // Credentials that are not valid are no user: they spend the address's budget.
    let third = "192.0.2.44";
    for _ in 0..3 {
        let status = from_client(&limited, third, Some("not.a.token"), "/api/v1/me").await;
        assert_eq!(status, 401);
    }
    assert_eq!(
        from_client(&limited, third, None, "/openapi.json").await,
        429
    );
}
