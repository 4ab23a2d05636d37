//! The real `keyward serve` binary's log output: a whole login, a token request and an API call leave no
//! one-time value, token or cookie in it.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    helpers::{TestDb, header},
    idp::{Layout, TestIdp, browser, complete_login, query_params},
};

/// `keyward serve` as a child process writing stdout and stderr to one file; killed when dropped.
struct Server {
    child: Child,
    log: tempfile::NamedTempFile,
    base: String,
}

impl Server {
    fn start(port: u16, vars: &[(String, String)]) -> Server {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
        // Run where no .env can leak in, with no inherited Keyward settings.
        cmd.arg("serve")
            .current_dir(tempfile::tempdir().unwrap().keep())
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap());
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") || k == "DATABASE_URL" || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("RUST_LOG", "debug")
            .env("NO_COLOR", "1")
            .env("KEYWARD_LISTEN", format!("127.0.0.1:{port}"))
            .envs(vars.iter().map(|(k, v)| (k, v)));
        Server {
            child: cmd.spawn().unwrap(),
            log,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while Instant::now() < deadline {
            if let Ok(resp) = client.get(format!("{}/healthz", self.base)).send().await
                && resp.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("keyward serve not ready; log:\n{}", self.log_text());
    }

    fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.log.path()).unwrap()).into_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every `name=value` a response asked the browser to store.
fn cookie_values(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v.to_owned()))
        .filter(|v| !v.is_empty())
        .collect()
}

#[tokio::test]
async fn a_whole_login_leaves_no_secret_in_the_debug_log() {
    // The provider must know Keyward's redirect URI before Keyward starts: take a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let idp = TestIdp::start(Layout::Keycloak, &format!("http://127.0.0.1:{port}"), &[]).await;
    let db = TestDb::create().await;
    let mut vars = idp.keyward_settings();
    vars.push(("DATABASE_URL".into(), db.url.clone()));
    let server = Server::start(port, &vars);
    server.wait_ready().await;

    let b = browser();
    let resp = b
        .get(format!("{}/auth/login?return_to=%2Fafter", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let mut secrets = cookie_values(&resp);
    let authorize = header(&resp, "location").unwrap().to_owned();
    let callback = complete_login(&b, &authorize, "alice", "alice-pw")
        .await
        .unwrap();
    let params = query_params(&callback);
    secrets.push(params["code"].clone());
    secrets.push(params["state"].clone());

    let resp = b.get(&callback).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", server.log_text());
    secrets.extend(cookie_values(&resp));
    let resp = b
        .post(format!("{}/auth/token", server.base))
        .header("X-CSRF", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let me = reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    secrets.push(token);
    assert!(
        secrets.len() >= 5,
        "login cookie, code, state, session, token"
    );

    let log = server.log_text();
    // The request is still there to read: which one, its id, its answer.
    let callback_line = log
        .lines()
        .find(|l| {
            l.contains("uri=/auth/callback?code=[redacted]&state=[redacted]")
                && l.contains("response")
        })
        .unwrap_or_else(|| panic!("no response line for the callback:\n{log}"));
    for field in ["method=GET", "request_id=", "status=302", "duration="] {
        assert!(callback_line.contains(field), "{field}: {callback_line}");
    }
    let leaks: Vec<&str> = log
        .lines()
        .filter(|line| secrets.iter().any(|s| line.contains(s.as_str())))
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}",
        leaks.join("\n")
    );
}
