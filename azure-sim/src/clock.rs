//! The simulated clock: wall time plus an offset that the admin API can advance or set.

use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// Domain time for the simulator (resource timestamps, LRO completion, key rotation).
///
/// Token expiry and throttling use the real clock instead, so that jumping the simulated clock by
/// months (to trigger key rotation) does not invalidate tokens that real clients cached.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ns: AtomicI64,
}

impl SimClock {
    pub fn now(&self) -> OffsetDateTime {
        let offset = time::Duration::nanoseconds(self.offset_ns.load(Ordering::SeqCst));
        OffsetDateTime::now_utc() + offset
    }

    /// Moves simulated time forward; negative values are refused by the caller.
    pub fn advance(&self, by: time::Duration) {
        let ns = i64::try_from(by.whole_nanoseconds()).unwrap_or(i64::MAX);
        self.offset_ns
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |cur| {
                Some(cur.saturating_add(ns))
            })
            .ok();
    }

    pub fn set(&self, to: OffsetDateTime) {
        let delta = to - OffsetDateTime::now_utc();
        let ns = i64::try_from(delta.whole_nanoseconds()).unwrap_or(0);
        self.offset_ns.store(ns, Ordering::SeqCst);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ns.load(Ordering::SeqCst) / 1_000_000
    }

    pub fn set_offset_ms(&self, ms: i64) {
        self.offset_ns
            .store(ms.saturating_mul(1_000_000), Ordering::SeqCst);
    }

    pub fn reset(&self) {
        self.offset_ns.store(0, Ordering::SeqCst);
    }
}

/// RFC 3339 with 7 fractional digits, as ARM writes timestamps.
pub fn arm_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// RFC 1123 (`Mon, 13 Jan 2020 14:40:33 GMT`), as Log Analytics writes the dates of clusters and
/// data exports in its recorded examples.
pub fn rfc1123(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        [usize::from(t.weekday().number_days_from_monday())];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][usize::from(u8::from(t.month()) - 1)];
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        t.day(),
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an ISO-8601 duration of the forms Key Vault uses (`P90D`, `P2Y`, `P1M`, `PT12H`, `P1Y2M3DT4H5M6S`).
/// Years count 365 days and months 30 days, as Key Vault documents for rotation policies.
pub fn parse_iso8601_duration(s: &str) -> Option<time::Duration> {
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut in_time = false;
    let mut num = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' if !in_time && num.is_empty() => in_time = true,
            '0'..='9' => num.push(c),
            _ => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                let unit = match (in_time, c) {
                    (false, 'Y') => 365 * 86_400,
                    (false, 'M') => 30 * 86_400,
                    (false, 'W') => 7 * 86_400,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3_600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                total = total.checked_add(n.checked_mul(unit)?)?;
                any = true;
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(time::Duration::seconds(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_dates() {
        let t = OffsetDateTime::from_unix_timestamp(1_578_926_433).expect("time");
        assert_eq!(rfc1123(t), "Mon, 13 Jan 2020 14:40:33 GMT");
    }

    #[test]
    fn durations_parse_like_key_vault() {
        assert_eq!(
            parse_iso8601_duration("P90D"),
            Some(time::Duration::days(90))
        );
        assert_eq!(
            parse_iso8601_duration("P2Y"),
            Some(time::Duration::days(730))
        );
        assert_eq!(
            parse_iso8601_duration("PT1H30M"),
            Some(time::Duration::minutes(90))
        );
        assert_eq!(parse_iso8601_duration("P"), None);
        assert_eq!(parse_iso8601_duration("90D"), None);
        assert_eq!(parse_iso8601_duration("P9X"), None);
        assert_eq!(parse_iso8601_duration("P99999999999999999999D"), None);
    }

    #[test]
    fn advancing_moves_now_forward() {
        let c = SimClock::default();
        let before = c.now();
        c.advance(time::Duration::days(91));
        assert!(c.now() - before >= time::Duration::days(91));
        c.reset();
        assert!(c.now() - before < time::Duration::days(1));
    }

    #[test]
    fn timestamps_have_seven_digits() {
        let t = time::macros::datetime!(2026-01-02 03:04:05.123456789 UTC);
        assert_eq!(arm_timestamp(t), "2026-01-02T03:04:05.1234567Z");
    }
}
