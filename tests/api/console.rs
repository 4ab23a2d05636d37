//! The admin console's files at `/console/`: client-side routes fall back to `index.html`, hashed assets are
//! cached for long and `index.html` not at all, its own CSP, `/` leads to it, and a missing build is a 404
//! problem that says how to build it. Also Swagger UI's `X-CSRF` interceptor.

use crate::helpers::{TestApp, header, problem, spawn_app_with};

/// A built console as Vite lays it out: `index.html` and content-hashed files under `assets/`.
fn fake_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><script type=module src=/console/assets/app-1a2b3c.js></script>",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    std::fs::write(dir.path().join("assets/app-1a2b3c.js"), "console.log(1)").unwrap();
    std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
    dir
}

async fn console_app(dir: &str) -> TestApp {
    spawn_app_with(&[("KEYWARD_CONSOLE_DIR", dir)]).await
}

#[tokio::test]
async fn the_console_is_served_with_route_fallback_cache_rules_and_its_own_csp() {
    let build = fake_build();
    let app = console_app(build.path().to_str().unwrap()).await;

    let resp = app.get("/").await;
    assert_eq!(
        resp.status(),
        302,
        "/ leads to the console: {:?}",
        resp.text().await
    );
    assert_eq!(header(&resp, "location"), Some("/console/"));
    let resp = app.get("/console").await;
    assert_eq!(resp.status(), 302);
    assert_eq!(header(&resp, "location"), Some("/console/"));

    for page in [
        "/console/",
        "/console/users/0190c7e2",
        "/console/roles?page=2",
    ] {
        let resp = app.get(page).await;
        assert_eq!(resp.status(), 200, "{page}");
        assert_eq!(header(&resp, "cache-control"), Some("no-cache"), "{page}");
        assert!(
            header(&resp, "content-type")
                .unwrap()
                .starts_with("text/html")
        );
        let csp = header(&resp, "content-security-policy").unwrap().to_owned();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains("img-src 'self' https:"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            resp.text().await.unwrap().contains("app-1a2b3c.js"),
            "{page}"
        );
    }

    let resp = app.get("/console/assets/app-1a2b3c.js").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        header(&resp, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        header(&resp, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let resp = app.get("/console/favicon.svg").await;
    assert_eq!(header(&resp, "content-type"), Some("image/svg+xml"));
    assert_eq!(header(&resp, "cache-control"), Some("no-cache"));

    // A stale asset name is a 404, not index.html handed to a <script> tag; nothing outside the folder.
    for missing in [
        "/console/assets/app-000000.js",
        "/console/robots.txt",
        "/console/%2e%2e/Cargo.toml",
        "/console/..%2fCargo.toml",
    ] {
        let resp = app.get(missing).await;
        assert_eq!(resp.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn an_unbuilt_console_is_a_404_problem_saying_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let app = console_app(empty.path().to_str().unwrap()).await;
    let resp = app.get("/console/").await;
    assert_eq!(resp.status(), 404);
    let body = problem(resp).await;
    assert!(
        body["detail"].as_str().unwrap().contains("npm run build"),
        "{body}"
    );
    assert_eq!(app.get("/").await.status(), 404, "no console to lead to");
}

#[tokio::test]
async fn an_empty_console_dir_turns_the_console_off() {
    let app = console_app("").await;
    assert_eq!(app.get("/console/").await.status(), 404);
    assert_eq!(app.get("/").await.status(), 404);
}

#[tokio::test]
async fn swagger_ui_sends_the_csrf_header_so_try_it_out_works_with_a_session() {
    let app = console_app("").await;
    let resp = app.get("/docs").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("requestInterceptor"),
        "the interceptor is in the page"
    );
    assert!(html.contains("req.headers['X-CSRF'] = '1'"));
}
