//! What Azure's responses say about its limits: the lowest remaining ARM request count of the
//! buckets a call counts against, and when Resource Graph's user quota resets.

use std::time::Duration;

use crate::azure::budget::Access;

/// What ARM says is left of the limit a call counts against: per instance (`-reads`,
/// `-writes`, `-deletes`) and, under its token-bucket throttling, per subscription and
/// principal (`-global-reads`, `-global-writes`). The lowest one throttles next.
pub(super) fn lowest_remaining(
    access: Access,
    delete: bool,
    header: &dyn Fn(&'static str) -> Option<String>,
) -> Option<u32> {
    let names: &[&'static str] = match (access, delete) {
        (Access::Read, _) => &[
            "x-ms-ratelimit-remaining-subscription-reads",
            "x-ms-ratelimit-remaining-subscription-global-reads",
        ],
        (Access::Write, true) => &[
            "x-ms-ratelimit-remaining-subscription-deletes",
            "x-ms-ratelimit-remaining-subscription-global-writes",
        ],
        (Access::Write, false) => &[
            "x-ms-ratelimit-remaining-subscription-writes",
            "x-ms-ratelimit-remaining-subscription-global-writes",
        ],
    };
    names
        .iter()
        .filter_map(|n| header(n))
        .filter_map(|r| r.trim().parse::<u32>().ok())
        .min()
}

/// `hh:mm:ss`, as Resource Graph's `x-ms-user-quota-resets-after` says it.
pub(super) fn parse_hms(text: &str) -> Option<Duration> {
    let parts: Vec<u64> = text
        .trim()
        .split(':')
        .map(|p| p.trim().parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    match parts.as_slice() {
        [h, m, s] => Some(Duration::from_secs(h * 3600 + m * 60 + s)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_remaining_limit_counts_deletes_and_global_buckets_too() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &'static str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let arm = headers(&[
            ("x-ms-ratelimit-remaining-subscription-reads", "11990"),
            ("x-ms-ratelimit-remaining-subscription-global-reads", "240"),
            ("x-ms-ratelimit-remaining-subscription-writes", "1190"),
            ("x-ms-ratelimit-remaining-subscription-deletes", "14"),
            ("x-ms-ratelimit-remaining-subscription-global-writes", "180"),
        ]);
        assert_eq!(lowest_remaining(Access::Read, false, &arm), Some(240));
        assert_eq!(lowest_remaining(Access::Write, false, &arm), Some(180));
        assert_eq!(lowest_remaining(Access::Write, true, &arm), Some(14));
        assert_eq!(lowest_remaining(Access::Read, false, &headers(&[])), None);
        assert_eq!(parse_hms("00:00:03"), Some(Duration::from_secs(3)));
        assert_eq!(parse_hms("01:02:03"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_hms("soon"), None);
    }
}
