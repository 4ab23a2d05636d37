//! Per-client request budgets (governor): buckets checked in order, each keyed by a `RateKey`: the caller's
//! user when the request carries valid credentials and the bucket counts users, else the client address. The
//! HTTP edge enforces them (`http::middleware::rate_limit`); `app.rs` sets up the `/auth/*` bucket and the global one.
//! Kept in this process, or in Redis (`redis`) so that all instances share one budget.

pub mod redis;

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};
use ipnet::IpNet;

use crate::config::RateLimitSettings;

/// What a bucket counts against: an authenticated user (wherever they connect from), or a client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    Ip(IpAddr),
    User(uuid::Uuid),
}

pub struct Bucket {
    pub name: &'static str,
    /// Which request paths this bucket governs.
    pub applies_to: fn(&str) -> bool,
    /// Whether an authenticated caller spends their own budget rather than their address's.
    pub per_user: bool,
    limiter: DefaultKeyedRateLimiter<RateKey>,
    /// The same quota for the shared store: one request per `interval`, `burst` at once.
    interval: Duration,
    burst: u32,
}

impl Bucket {
    fn key(&self, ip: IpAddr, user: Option<uuid::Uuid>) -> RateKey {
        match user {
            Some(id) if self.per_user => RateKey::User(id),
            _ => RateKey::Ip(ip),
        }
    }

    /// Counts authenticated callers by user: users behind one NAT do not share a budget, a user on many
    /// addresses keeps one.
    pub fn per_user(mut self) -> Self {
        self.per_user = true;
        self
    }

    /// `None` when `per_minute` is 0, which turns the bucket off.
    pub fn new(
        name: &'static str,
        settings: RateLimitSettings,
        applies_to: fn(&str) -> bool,
    ) -> Option<Self> {
        let per_minute = NonZeroU32::new(settings.per_minute)?;
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        Some(Self {
            name,
            applies_to,
            per_user: false,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            interval: Duration::from_secs(60) / per_minute.get(),
            burst: burst.get(),
        })
    }
}

pub struct RateLimits {
    buckets: Vec<Bucket>,
    trusted_proxies: Vec<IpNet>,
    /// Where budgets are kept when they are shared across instances; `None` counts in this process.
    store: Option<redis::RedisStore>,
}

/// Refused: which bucket, and how long until the next request would pass.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub bucket: &'static str,
    pub retry_after: Duration,
}

impl RateLimits {
    pub fn new(buckets: Vec<Bucket>, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            buckets,
            trusted_proxies,
            store: None,
        }
    }

    /// Keeps the budgets in `store`, shared with every instance using it.
    pub fn shared_in(mut self, store: redis::RedisStore) -> Self {
        self.store = Some(store);
        self
    }

    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    /// Whether some bucket for `path` counts users, so that knowing the caller is worth the trouble.
    pub fn per_user(&self, path: &str) -> bool {
        self.buckets
            .iter()
            .any(|b| b.per_user && (b.applies_to)(path))
    }

    /// Spends one request of `ip`'s budget, or `user`'s in buckets that count users.
    pub async fn check(
        &self,
        path: &str,
        ip: IpAddr,
        user: Option<uuid::Uuid>,
    ) -> Result<(), Refusal> {
        let Some(store) = &self.store else {
            return self.check_local(path, ip, user);
        };
        for bucket in self.buckets.iter().filter(|b| (b.applies_to)(path)) {
            let key = match bucket.key(ip, user) {
                RateKey::Ip(ip) => format!("keyward:rate:{}:ip:{ip}", bucket.name),
                RateKey::User(id) => format!("keyward:rate:{}:user:{id}", bucket.name),
            };
            match store.spend(&key, bucket.interval, bucket.burst).await {
                Ok(None) => {}
                Ok(Some(retry_after)) => {
                    return Err(Refusal {
                        bucket: bucket.name,
                        retry_after,
                    });
                }
                // Fail open, and skip the other buckets: they would wait on the same unreachable store.
                Err(redis::Unavailable) => return Ok(()),
            }
        }
        Ok(())
    }

    fn check_local(&self, path: &str, ip: IpAddr, user: Option<uuid::Uuid>) -> Result<(), Refusal> {
        for bucket in self.buckets.iter().filter(|b| (b.applies_to)(path)) {
            let key = bucket.key(ip, user);
            if let Err(not_until) = bucket.limiter.check_key(&key) {
                // The limiter's own clock: a new one reads the CPU's features (CPUID) and calibrates, which
                // cost every request a tenth of its time when it was made here for each.
                return Err(Refusal {
                    bucket: bucket.name,
                    retry_after: not_until.wait_time_from(bucket.limiter.clock().now()),
                });
            }
        }
        Ok(())
    }

    /// Forgets clients whose buckets are full again, so memory follows recent traffic, not all traffic ever.
    pub fn evict_idle(&self) {
        for bucket in &self.buckets {
            bucket.limiter.retain_recent();
            bucket.limiter.shrink_to_fit();
        }
    }

    pub fn tracked_keys(&self) -> usize {
        self.buckets.iter().map(|b| b.limiter.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn everywhere(_: &str) -> bool {
        true
    }

    #[test]
    fn the_burst_passes_then_requests_are_refused_with_a_wait() {
        let bucket = Bucket::new(
            "global",
            RateLimitSettings {
                per_minute: 60,
                burst: 3,
            },
            everywhere,
        )
        .unwrap();
        let limits = RateLimits::new(vec![bucket], vec![]);
        let key = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_local("/healthz", key, None).is_ok());
        }
        let refusal = limits.check_local("/healthz", key, None).unwrap_err();
        assert_eq!(refusal.bucket, "global");
        assert!(
            refusal.retry_after > Duration::ZERO && refusal.retry_after <= Duration::from_secs(1)
        );
        // Another client has its own bucket.
        assert!(
            limits
                .check_local("/healthz", "192.0.2.2".parse().unwrap(), None)
                .is_ok()
        );
    }

    #[test]
    fn zero_per_minute_turns_a_bucket_off() {
        assert!(
            Bucket::new(
                "global",
                RateLimitSettings {
                    per_minute: 0,
                    burst: 5
                },
                everywhere
            )
            .is_none()
        );
    }

    #[test]
    fn buckets_apply_only_to_their_paths_and_idle_keys_are_evicted() {
        fn auth_only(path: &str) -> bool {
            path.starts_with("/auth/")
        }
        let strict = Bucket::new(
            "auth",
            RateLimitSettings {
                per_minute: 60,
                burst: 1,
            },
            auth_only,
        )
        .unwrap();
        let limits = RateLimits::new(vec![strict], vec![]);
        let key = "192.0.2.1".parse().unwrap();
        for _ in 0..5 {
            assert!(limits.check_local("/healthz", key, None).is_ok());
        }
        assert!(limits.check_local("/auth/login", key, None).is_ok());
        assert!(limits.check_local("/auth/login", key, None).is_err());
        assert_eq!(limits.tracked_keys(), 1);
        limits.evict_idle();
        // The key is not replenished yet, so it stays.
        assert_eq!(limits.tracked_keys(), 1);
    }

    #[test]
    fn a_per_user_bucket_counts_users_apart_and_others_by_address() {
        let settings = RateLimitSettings {
            per_minute: 60,
            burst: 1,
        };
        let global = Bucket::new("global", settings, everywhere)
            .unwrap()
            .per_user();
        let by_ip = Bucket::new("auth", settings, |p| p.starts_with("/auth/")).unwrap();
        let limits = RateLimits::new(vec![by_ip, global], vec![]);
        let nat = "192.0.2.1".parse().unwrap();
        let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert!(limits.check_local("/api", nat, Some(alice)).is_ok());
        assert!(limits.check_local("/api", nat, Some(bob)).is_ok());
        assert!(limits.check_local("/api", nat, None).is_ok());
        assert!(
            limits
                .check_local("/api", "192.0.2.2".parse().unwrap(), Some(alice))
                .is_err()
        );
        // The address-keyed bucket ignores the user: a fresh user behind a spent address is refused.
        let other = "192.0.2.9".parse().unwrap();
        assert!(
            limits
                .check_local("/auth/x", other, Some(uuid::Uuid::new_v4()))
                .is_ok()
        );
        assert!(
            limits
                .check_local("/auth/x", other, Some(uuid::Uuid::new_v4()))
                .is_err()
        );
        assert!(limits.per_user("/api") && limits.per_user("/auth/x"));
    }
}
