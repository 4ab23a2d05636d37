//! Shutting down behind a load balancer: for `KEYWARD_SHUTDOWN_DRAIN` the instance fails `/readyz` and still
//! serves everything else, then refuses new connections and lets the requests in flight finish.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, spawn_app_with};

/// A request on a connection of its own, as a balancer's new connection would be.
async fn fresh_get(app: &TestApp, path: &str) -> Result<reqwest::StatusCode, reqwest::Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    client.get(app.url(path)).send().await.map(|r| r.status())
}

#[tokio::test]
async fn a_stopping_instance_fails_readiness_serves_through_the_drain_then_finishes_what_is_in_flight()
 {
    let app = spawn_app_with(&[("KEYWARD_SHUTDOWN_DRAIN", "2s")]).await;
    assert_eq!(fresh_get(&app, "/readyz").await.unwrap(), 200);
    app.shut_down();
    let stopped = Instant::now();
    // Readiness fails at once...
    loop {
        let status = fresh_get(&app, "/readyz").await.unwrap();
        if status == 503 {
            break;
        }
        assert!(stopped.elapsed() < Duration::from_millis(500), "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resp = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("shutting down"),
        "{body}"
    );
    // ... while every other request, on new connections too, is still served.
    assert_eq!(fresh_get(&app, "/healthz").await.unwrap(), 200);
    assert_eq!(fresh_get(&app, "/api/v1/probe").await.unwrap(), 200);
    // A slow request that is still running when the drain ends.
    tokio::time::sleep(Duration::from_millis(1200).saturating_sub(stopped.elapsed())).await;
    let slow = {
        let url = app.url("/api/v1/probe?sleep_ms=2000");
        tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) })
    };
    // After the drain no new connection is accepted.
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if fresh_get(&app, "/healthz").await.is_err() {
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "still accepting after {:?}",
            stopped.elapsed()
        );
    }
    let refused_after = stopped.elapsed();
    assert!(
        refused_after >= Duration::from_secs(2),
        "stopped accepting after {refused_after:?}"
    );
    // The request in flight finishes normally.
    assert_eq!(slow.await.unwrap().unwrap(), 200);
}
