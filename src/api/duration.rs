//! ISO-8601 durations as the API uses them (`PT30M`, `P90D`, `P1Y`), converted to
//! `std::time::Duration` with years as 365 days and months as 30 days.

use std::time::Duration;

/// Parses a positive ISO-8601 duration; `None` for anything else.
pub fn parse(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    if rest.is_empty() || rest.ends_with('T') {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut seconds: u64 = 0;
    let mut add = |part: &str, units: &[(char, u64)]| -> Option<()> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            // Units must appear in order, each at most once.
            let (_, factor) = allowed.by_ref().find(|(u, _)| *u == c)?;
            let n: u64 = number.parse().ok()?;
            seconds = seconds.checked_add(n.checked_mul(*factor)?)?;
            number.clear();
        }
        number.is_empty().then_some(())
    };
    const DAY: u64 = 86_400;
    add(
        date,
        &[
            ('Y', 365 * DAY),
            ('M', 30 * DAY),
            ('W', 7 * DAY),
            ('D', DAY),
        ],
    )?;
    if let Some(time) = time {
        add(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn durations_the_api_accepts() {
        assert_eq!(parse("PT30M"), Some(Duration::from_secs(1800)));
        assert_eq!(parse("PT1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("P90D"), Some(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse("P1Y"), Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(parse("P1DT12H"), Some(Duration::from_secs(36 * 3600)));
        assert_eq!(parse("P2W"), Some(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn durations_the_api_rejects() {
        for bad in [
            "",
            "P",
            "PT",
            "P1DT",
            "-PT1H",
            "1h",
            "PT0S",
            "P1H",
            "PT1D",
            "P1D1Y",
            "PxD",
            "P99999999999999999999Y",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
