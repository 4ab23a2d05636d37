//! Per-client request budgets (governor): buckets checked in order, each keyed by a `RateKey`. The HTTP edge
//! enforces them (`http::middleware::rate_limit`); `app.rs` sets up the stricter `/auth/*` bucket and the
//! global one.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use ipnet::IpNet;

use crate::config::RateLimitSettings;

/// What a bucket counts against: the client address now; an authenticated user once a feature keys by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    Ip(IpAddr),
    User(uuid::Uuid),
}

pub struct Bucket {
    pub name: &'static str,
    /// Which request paths this bucket governs.
    pub applies_to: fn(&str) -> bool,
    limiter: DefaultKeyedRateLimiter<RateKey>,
}

impl Bucket {
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
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        })
    }
}

pub struct RateLimits {
    buckets: Vec<Bucket>,
    trusted_proxies: Vec<IpNet>,
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
        }
    }

    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    pub fn check(&self, path: &str, key: &RateKey) -> Result<(), Refusal> {
        let clock = DefaultClock::default();
        for bucket in self.buckets.iter().filter(|b| (b.applies_to)(path)) {
            if let Err(not_until) = bucket.limiter.check_key(key) {
                return Err(Refusal {
                    bucket: bucket.name,
                    retry_after: not_until.wait_time_from(clock.now()),
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
        let key = RateKey::Ip("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            assert!(limits.check("/healthz", &key).is_ok());
        }
        let refusal = limits.check("/healthz", &key).unwrap_err();
        assert_eq!(refusal.bucket, "global");
        assert!(
            refusal.retry_after > Duration::ZERO && refusal.retry_after <= Duration::from_secs(1)
        );
        // Another client has its own bucket.
        assert!(
            limits
                .check("/healthz", &RateKey::Ip("192.0.2.2".parse().unwrap()))
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
        let key = RateKey::Ip("192.0.2.1".parse().unwrap());
        for _ in 0..5 {
            assert!(limits.check("/healthz", &key).is_ok());
        }
        assert!(limits.check("/auth/login", &key).is_ok());
        assert!(limits.check("/auth/login", &key).is_err());
        assert_eq!(limits.tracked_keys(), 1);
        limits.evict_idle();
        // The key is not replenished yet, so it stays.
        assert_eq!(limits.tracked_keys(), 1);
    }
}
