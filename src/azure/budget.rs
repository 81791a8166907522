//! The request budget: a per-subscription token bucket for reads and writes that keeps the
//! operator under a configured share of Azure Resource Manager's limits, and slows down further
//! when ARM's `x-ms-ratelimit-remaining-subscription-*` headers say the subscription is running low
//! for everyone. The headers count down from different maxima depending on ARM's throttling model
//! (12,000 an hour in the classic one, a bucket of a few hundred in the token-bucket one), so
//! "running low" is judged against the largest value seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether a call reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

/// The operator's share of a subscription's ARM limits.
#[derive(Clone, Debug)]
pub struct BudgetConfig {
    /// Reads per hour the operator may use per subscription. ARM's token bucket refills 25
    /// reads a second per principal and subscription (90,000 an hour; the classic model allowed
    /// 12,000); the default takes a quarter of the token-bucket rate.
    pub reads_per_hour: u32,
    /// Writes per hour (ARM refills 10 a second, 36,000 an hour; the default takes a quarter).
    pub writes_per_hour: u32,
    /// Calls that may go at once before the hourly rate applies.
    pub burst: u32,
    /// When ARM reports fewer remaining calls than this fraction of the most it has reported,
    /// the operator stops spending its burst and waits for its own refill, leaving the rest to
    /// other users.
    pub reserve_fraction: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            reads_per_hour: 22_500,
            writes_per_hour: 9_000,
            burst: 100,
            reserve_fraction: 0.2,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    updated: Instant,
}

impl Bucket {
    fn new(per_hour: u32, burst: u32, now: Instant) -> Bucket {
        let capacity = f64::from(burst.max(1));
        Bucket {
            tokens: capacity,
            capacity,
            per_second: f64::from(per_hour.max(1)) / 3600.0,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// Per-subscription buckets.
#[derive(Debug)]
pub struct Budget {
    config: BudgetConfig,
    buckets: Mutex<HashMap<(String, Access), Bucket>>,
    /// The largest remaining-calls value ARM has reported, per subscription and access.
    highest: Mutex<HashMap<(String, Access), u32>>,
}

impl Budget {
    pub fn new(config: BudgetConfig) -> Budget {
        Budget {
            config,
            buckets: Mutex::new(HashMap::new()),
            highest: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until the operator may make one more call of `access` in `subscription`. Returns how
    /// long it waited (for the throttling-wait metric).
    pub async fn acquire(&self, subscription: &str, access: Access) -> Duration {
        let mut waited = Duration::ZERO;
        loop {
            let wait = self.try_take(subscription, access, Instant::now());
            match wait {
                Ok(()) => return waited,
                Err(wait) => {
                    tokio::time::sleep(wait).await;
                    waited += wait;
                }
            }
        }
    }

    fn try_take(&self, subscription: &str, access: Access, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let per_hour = match access {
            Access::Read => self.config.reads_per_hour,
            Access::Write => self.config.writes_per_hour,
        };
        buckets
            .entry((subscription.to_ascii_lowercase(), access))
            .or_insert_with(|| Bucket::new(per_hour, self.config.burst, now))
            .take(now)
    }

    /// Reads ARM's remaining-calls header: below the reserve, the burst is given up so the
    /// operator proceeds only at its own steady rate.
    pub fn observe_remaining(&self, subscription: &str, access: Access, remaining: u32) {
        let key = (subscription.to_ascii_lowercase(), access);
        let limit = {
            let mut highest = self.highest.lock().unwrap_or_else(|p| p.into_inner());
            let seen = highest.entry(key.clone()).or_insert(remaining);
            *seen = (*seen).max(remaining);
            f64::from(*seen)
        };
        if f64::from(remaining) >= limit * self.config.reserve_fraction {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.tokens = bucket.tokens.min(0.0);
        }
        tracing::warn!(
            subscription,
            ?access,
            remaining,
            "Azure Resource Manager reports the subscription close to its limit; slowing down"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(per_hour: u32, burst: u32) -> Budget {
        Budget::new(BudgetConfig {
            reads_per_hour: per_hour,
            writes_per_hour: per_hour,
            burst,
            reserve_fraction: 0.2,
        })
    }

    #[test]
    fn burst_then_the_hourly_rate() {
        let b = budget(3600, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(b.try_take("sub", Access::Read, t0).is_ok());
        }
        let wait = b
            .try_take("sub", Access::Read, t0)
            .expect_err("burst spent");
        assert!(
            (wait.as_secs_f64() - 1.0).abs() < 0.01,
            "one token per second: {wait:?}"
        );
        assert!(
            b.try_take("sub", Access::Read, t0 + Duration::from_secs(1))
                .is_ok()
        );
    }

    #[test]
    fn subscriptions_and_access_kinds_have_their_own_buckets() {
        let b = budget(3600, 1);
        let t0 = Instant::now();
        assert!(b.try_take("sub-a", Access::Read, t0).is_ok());
        assert!(b.try_take("sub-a", Access::Read, t0).is_err());
        assert!(
            b.try_take("SUB-A", Access::Read, t0).is_err(),
            "ids are case-insensitive"
        );
        assert!(b.try_take("sub-a", Access::Write, t0).is_ok());
        assert!(b.try_take("sub-b", Access::Read, t0).is_ok());
    }

    #[test]
    fn a_subscription_close_to_its_limit_loses_the_burst() {
        let b = budget(3600, 10);
        let t0 = Instant::now();
        assert!(b.try_take("sub", Access::Write, t0).is_ok());
        b.observe_remaining("sub", Access::Write, 1_199);
        b.observe_remaining("sub", Access::Write, 1_000);
        assert!(
            b.try_take("sub", Access::Write, t0).is_ok(),
            "1000 of 1200 left is plenty"
        );
        b.observe_remaining("sub", Access::Write, 100);
        assert!(
            b.try_take("sub", Access::Write, t0).is_err(),
            "below the 20% reserve"
        );
    }

    #[test]
    fn a_token_bucket_sized_header_is_judged_against_its_own_scale() {
        let b = budget(3600, 10);
        let t0 = Instant::now();
        assert!(b.try_take("sub", Access::Read, t0).is_ok());
        // ARM's token-bucket model reports a bucket of ~250 reads: 249 left is a full bucket.
        b.observe_remaining("sub", Access::Read, 249);
        b.observe_remaining("sub", Access::Read, 200);
        assert!(b.try_take("sub", Access::Read, t0).is_ok());
        b.observe_remaining("sub", Access::Read, 20);
        assert!(
            b.try_take("sub", Access::Read, t0).is_err(),
            "20 of 249 is below the reserve"
        );
    }
}
