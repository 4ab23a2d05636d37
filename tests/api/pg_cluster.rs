//! A PostgreSQL cluster of one test's own, from `scripts/pg.sh`, which the test may stop, start again, freeze
//! (`SIGSTOP`, as a hung host looks to its clients) and thaw: the server the other tests share must stay up.

use std::path::PathBuf;

use tokio::process::Command;

pub struct PgCluster {
    dir: String,
    port: u16,
}

impl PgCluster {
    /// A new cluster, in the PostgreSQL run only (`KEYWARD_TEST_PG_URL` set: the binaries are there).
    pub async fn start() -> Option<Self> {
        if std::env::var("KEYWARD_TEST_PG_URL").map_or(true, |v| v.is_empty()) {
            return None;
        }
        let out = pg_sh(
            "pg_up >/dev/null 2>&1 && echo \"$PG_DIR $PG_PORT\"",
            &[("PG_DURABLE", "1")],
        )
        .await;
        let (dir, port) = out
            .trim()
            .split_once(' ')
            .expect("pg_up printed its folder and port");
        Some(Self {
            dir: dir.into(),
            port: port.parse().unwrap(),
        })
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m immediate`: connections are cut, new ones refused.
    pub async fn stop(&self) {
        self.run("pg_stop").await;
    }

    pub async fn start_again(&self) {
        self.run("pg_start").await;
    }

    /// Stops every process of the cluster: connections stay open, nothing answers.
    pub async fn freeze(&self) {
        self.signal("STOP").await;
    }

    pub async fn thaw(&self) {
        self.signal("CONT").await;
    }

    async fn signal(&self, sig: &str) {
        self.run(&format!(
            "pid=$(head -n 1 \"$PG_DIR/data/postmaster.pid\"); kill -{sig} $pid $(pgrep -P $pid)"
        ))
        .await;
    }

    async fn run(&self, script: &str) -> String {
        pg_sh(
            script,
            &[
                ("PG_DIR", self.dir.as_str()),
                ("PG_PORT", &self.port.to_string()),
                ("PG_DURABLE", "1"),
            ],
        )
        .await
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg("-c")
            .arg("source scripts/pg.sh && pg_down")
            .current_dir(repo())
            .env("PG_DIR", &self.dir)
            .env("PG_PORT", self.port.to_string())
            .status();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn pg_sh(script: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("source scripts/pg.sh && {script}"))
        .current_dir(repo())
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
