//! Per-subscription, per-principal token buckets for reads and writes, as ARM's throttling does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Bucket sizes and refill rates. The defaults are ARM's documented token-bucket figures for a
/// subscription (250 reads refilling at 25/s, 200 writes refilling at 10/s).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub read_capacity: f64,
    pub read_refill_per_sec: f64,
    pub write_capacity: f64,
    pub write_refill_per_sec: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            read_capacity: 250.0,
            read_refill_per_sec: 25.0,
            write_capacity: 200.0,
            write_refill_per_sec: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    pub fn header(self) -> &'static str {
        match self {
            Kind::Read => "x-ms-ratelimit-remaining-subscription-reads",
            Kind::Write => "x-ms-ratelimit-remaining-subscription-writes",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The outcome of taking one token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allowed { remaining: u64 },
    Throttled { retry_after_secs: u64 },
}

#[derive(Debug, Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<(String, String, Kind), Bucket>>,
}

impl Throttle {
    /// Takes one token from the bucket of (subscription, principal, kind). Real time is used, not
    /// the simulated clock, so clock jumps do not refill buckets.
    pub fn take(&self, cfg: &ThrottleConfig, sub: &str, principal: &str, kind: Kind) -> Decision {
        let (cap, rate) = match kind {
            Kind::Read => (cfg.read_capacity, cfg.read_refill_per_sec),
            Kind::Write => (cfg.write_capacity, cfg.write_refill_per_sec),
        };
        if !cfg.enabled {
            return Decision::Allowed {
                remaining: cap.max(0.0) as u64,
            };
        }
        let now = Instant::now();
        let mut map = match self.buckets.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let b = map
            .entry((
                sub.to_ascii_lowercase(),
                principal.to_ascii_lowercase(),
                kind,
            ))
            .or_insert(Bucket {
                tokens: cap,
                at: now,
            });
        let elapsed = now.duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Decision::Allowed {
                remaining: b.tokens.floor() as u64,
            }
        } else {
            let wait = if rate > 0.0 {
                ((1.0 - b.tokens) / rate).ceil().max(1.0)
            } else {
                3600.0
            };
            Decision::Throttled {
                retry_after_secs: wait as u64,
            }
        }
    }

    pub fn reset(&self) {
        match self.buckets.lock() {
            Ok(mut m) => m.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_then_throttles_per_kind_and_subscription() {
        let t = Throttle::default();
        let cfg = ThrottleConfig {
            read_capacity: 2.0,
            read_refill_per_sec: 0.0,
            ..ThrottleConfig::default()
        };
        assert_eq!(
            t.take(&cfg, "s", "p", Kind::Read),
            Decision::Allowed { remaining: 1 }
        );
        assert_eq!(
            t.take(&cfg, "s", "p", Kind::Read),
            Decision::Allowed { remaining: 0 }
        );
        assert!(matches!(
            t.take(&cfg, "s", "p", Kind::Read),
            Decision::Throttled { .. }
        ));
        assert!(matches!(
            t.take(&cfg, "s", "p", Kind::Write),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            t.take(&cfg, "other", "p", Kind::Read),
            Decision::Allowed { .. }
        ));
    }
}
