//! The shared budget: every instance spends the same GCRA buckets in Redis (`KEYWARD_RATE_LIMIT_STORE`), so N
//! instances allow one budget, not N. Redis unreachable or slow fails open: the request passes, counted.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use prometheus::IntCounter;
use redis::{Client, Script, aio::ConnectionManager};

/// Every Redis call waits at most this long: a slow store must not slow every request down.
pub const TIMEOUT: Duration = Duration::from_millis(100);

/// GCRA in one atomic step, on Redis's clock (`TIME`) so that instances with skewed clocks agree. The key holds
/// the theoretical arrival time in µs and expires once the bucket is full again. Returns 0 when the request
/// passes, else the µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - capacity
if over > 0 then return math.ceil(over) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// The store did not answer in time; already counted and logged.
#[derive(Debug, PartialEq, Eq)]
pub struct Unavailable;

/// The Redis side of the budgets; one connection, multiplexed, re-established after Redis comes back.
pub struct RedisStore {
    client: Client,
    conn: Mutex<Option<ConnectionManager>>,
    script: Script,
    errors: IntCounter,
    /// Whether the store is failing now, so that an outage is logged once, not once per request.
    down: AtomicBool,
}

impl RedisStore {
    /// Checks the URL only; the connection is opened on the first request, so Keyward starts without Redis.
    pub fn new(url: &str, errors: IntCounter) -> redis::RedisResult<Self> {
        Ok(Self {
            client: Client::open(url)?,
            conn: Mutex::new(None),
            script: Script::new(GCRA),
            errors,
            down: AtomicBool::new(false),
        })
    }

    /// Spends one request of `key`'s bucket: `Ok(Some(wait))` when refused, `Ok(None)` when it passes, `Err`
    /// when the store cannot answer in time (counted and logged here; the caller lets the request pass, since an
    /// unreachable Redis must not take the whole service down).
    pub async fn spend(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Result<Option<Duration>, Unavailable> {
        match tokio::time::timeout(TIMEOUT, self.eval(key, interval, burst)).await {
            Ok(Ok(wait_us)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate-limit store reachable again: budgets are shared again");
                }
                Ok((wait_us > 0).then(|| Duration::from_micros(wait_us)))
            }
            Ok(Err(err)) => Err(self.failed(&err.to_string())),
            Err(_) => Err(self.failed("timed out")),
        }
    }

    async fn eval(&self, key: &str, interval: Duration, burst: u32) -> redis::RedisResult<u64> {
        let existing = self.conn.lock().ok().and_then(|c| c.clone());
        let mut conn = match existing {
            Some(conn) => conn,
            None => {
                let conn = ConnectionManager::new(self.client.clone()).await?;
                if let Ok(mut slot) = self.conn.lock() {
                    *slot = Some(conn.clone());
                }
                conn
            }
        };
        let interval_us = u64::try_from(interval.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        // `invoke_async` sends EVALSHA and falls back to EVAL when Redis answers NOSCRIPT (after a restart).
        self.script
            .key(key)
            .arg(interval_us)
            .arg(burst)
            .invoke_async(&mut conn)
            .await
    }

    fn failed(&self, why: &str) -> Unavailable {
        self.errors.inc();
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                error = why,
                "rate-limit store unreachable: requests pass unlimited by it until it answers again"
            );
        }
        Unavailable
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use super::*;

    /// Collects what the store logs, to count its warnings.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn warnings(log: &Captured) -> usize {
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        text.matches("rate-limit store unreachable").count()
    }

    async fn spend_five(store: &RedisStore) -> Vec<Result<Option<Duration>, Unavailable>> {
        let mut out = Vec::new();
        for _ in 0..5 {
            out.push(
                store
                    .spend("keyward:rate:test", Duration::from_secs(10), 1)
                    .await,
            );
        }
        out
    }

    #[tokio::test]
    async fn a_store_that_refuses_or_never_answers_lets_requests_pass_counted_and_warns_once() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        // Nobody listens on a port just released: the connection is refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let errors = IntCounter::new("errors", "errors").unwrap();
        let refused =
            RedisStore::new(&format!("redis://127.0.0.1:{port}/0"), errors.clone()).unwrap();
        assert_eq!(
            spend_five(&refused).await,
            (0..5).map(|_| Err(Unavailable)).collect::<Vec<_>>()
        );
        assert_eq!(errors.get(), 5);
        assert_eq!(
            warnings(&log),
            1,
            "one warning for the outage, not one per request"
        );

        // A peer that accepts and never answers: every call gives up after the timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap();
        let errors = IntCounter::new("errors", "errors").unwrap();
        let hung = RedisStore::new(&format!("redis://{addr}/0"), errors.clone()).unwrap();
        let started = std::time::Instant::now();
        assert_eq!(
            spend_five(&hung).await,
            (0..5).map(|_| Err(Unavailable)).collect::<Vec<_>>()
        );
        assert_eq!(errors.get(), 5);
        // Generous bound: 5 calls of 100 ms each, on a loaded machine.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(warnings(&log), 2);
    }
}
