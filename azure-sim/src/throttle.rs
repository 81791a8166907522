//! Per-subscription, per-principal token buckets for reads, writes and deletes, as ARM's
//! token-bucket throttling does ("Understand how Azure Resource Manager throttles requests",
//! learn.microsoft.com: per subscription, service principal and operation type, reads a bucket
//! of 250 refilling 25 a second, writes and deletes each 200 refilling 10 a second). The 429s
//! sent are counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// Bucket sizes and refill rates. The defaults are ARM's documented token-bucket figures for a
/// subscription and principal (250 reads refilling at 25/s, 200 writes and 200 deletes each
/// refilling at 10/s).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ThrottleConfig {
    pub enabled: bool,
    pub read_capacity: f64,
    pub read_refill_per_sec: f64,
    pub write_capacity: f64,
    pub write_refill_per_sec: f64,
    pub delete_capacity: f64,
    pub delete_refill_per_sec: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            read_capacity: 250.0,
            read_refill_per_sec: 25.0,
            write_capacity: 200.0,
            write_refill_per_sec: 10.0,
            delete_capacity: 200.0,
            delete_refill_per_sec: 10.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
    Delete,
}

impl Kind {
    /// The kind of an ARM request by its method: GET and HEAD read, DELETE deletes, the rest
    /// (PUT, PATCH, POST) write.
    pub fn of(method: &axum::http::Method) -> Kind {
        use axum::http::Method;
        if method == Method::GET || method == Method::HEAD {
            Kind::Read
        } else if method == Method::DELETE {
            Kind::Delete
        } else {
            Kind::Write
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Kind::Read => "x-ms-ratelimit-remaining-subscription-reads",
            Kind::Write => "x-ms-ratelimit-remaining-subscription-writes",
            Kind::Delete => "x-ms-ratelimit-remaining-subscription-deletes",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Delete => "delete",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::Read => 0,
            Kind::Write => 1,
            Kind::Delete => 2,
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
    /// 429s sent, by kind (reads, writes, deletes), since start or the last admin reset.
    throttled: [AtomicU64; 3],
}

/// How many requests the throttle has refused, by kind.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Throttled {
    pub reads: u64,
    pub writes: u64,
    pub deletes: u64,
}

impl Throttle {
    /// Takes one token from the bucket of (subscription, principal, kind). Real time is used, not
    /// the simulated clock, so clock jumps do not refill buckets.
    pub fn take(&self, cfg: &ThrottleConfig, sub: &str, principal: &str, kind: Kind) -> Decision {
        let (cap, rate) = match kind {
            Kind::Read => (cfg.read_capacity, cfg.read_refill_per_sec),
            Kind::Write => (cfg.write_capacity, cfg.write_refill_per_sec),
            Kind::Delete => (cfg.delete_capacity, cfg.delete_refill_per_sec),
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
            self.throttled[kind.index()].fetch_add(1, Ordering::Relaxed);
            Decision::Throttled {
                retry_after_secs: wait as u64,
            }
        }
    }

    /// Empties the buckets' memory (every bucket starts full again).
    pub fn reset(&self) {
        match self.buckets.lock() {
            Ok(mut m) => m.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }

    /// The 429s sent so far.
    pub fn throttled(&self) -> Throttled {
        let n = |k: Kind| self.throttled[k.index()].load(Ordering::Relaxed);
        Throttled {
            reads: n(Kind::Read),
            writes: n(Kind::Write),
            deletes: n(Kind::Delete),
        }
    }

    /// Sets the 429 counts back to zero.
    pub fn reset_counts(&self) {
        for c in &self.throttled {
            c.store(0, Ordering::Relaxed);
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
        assert!(matches!(
            t.take(&cfg, "s", "another principal", Kind::Read),
            Decision::Allowed { .. }
        ));
        assert_eq!(
            t.throttled(),
            Throttled {
                reads: 1,
                writes: 0,
                deletes: 0
            }
        );
        t.reset_counts();
        assert_eq!(t.throttled(), Throttled::default());
    }

    #[test]
    fn deletes_have_their_own_bucket() {
        let t = Throttle::default();
        let cfg = ThrottleConfig {
            write_capacity: 1.0,
            write_refill_per_sec: 0.0,
            delete_capacity: 1.0,
            delete_refill_per_sec: 0.0,
            ..ThrottleConfig::default()
        };
        assert!(matches!(
            t.take(&cfg, "s", "p", Kind::Write),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            t.take(&cfg, "s", "p", Kind::Write),
            Decision::Throttled { .. }
        ));
        assert!(matches!(
            t.take(&cfg, "s", "p", Kind::Delete),
            Decision::Allowed { .. }
        ));
        assert_eq!(Kind::of(&axum::http::Method::DELETE), Kind::Delete);
        assert_eq!(Kind::of(&axum::http::Method::POST), Kind::Write);
        assert_eq!(Kind::of(&axum::http::Method::HEAD), Kind::Read);
    }
}
