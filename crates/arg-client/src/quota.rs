//! Resource Graph's per-user quota headers, and the waiting they call for.

use http::HeaderMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Requests left in the current quota window (`x-ms-user-quota-remaining`).
pub const QUOTA_REMAINING: &str = "x-ms-user-quota-remaining";
/// Time until the window resets, `hh:mm:ss` (`x-ms-user-quota-resets-after`).
pub const QUOTA_RESETS_AFTER: &str = "x-ms-user-quota-resets-after";

/// The caller's quota as the last response reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests left in the window (counting down locally as requests are sent).
    pub remaining: u64,
    /// When the window resets (the response's time plus `resets-after`).
    pub resets_at: OffsetDateTime,
}

impl Quota {
    /// Reads both headers; `None` unless both are present and valid.
    pub fn from_headers(headers: &HeaderMap, now: OffsetDateTime) -> Option<Quota> {
        let remaining = headers
            .get(QUOTA_REMAINING)?
            .to_str()
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()?;
        let after = parse_timespan(headers.get(QUOTA_RESETS_AFTER)?.to_str().ok()?)?;
        Some(Quota {
            remaining,
            resets_at: now + after,
        })
    }
}

/// Parses a .NET TimeSpan as services write it: `hh:mm:ss`, optionally with a day part
/// (`d.hh:mm:ss`) and fractional seconds (`hh:mm:ss.fff`). Capped at one day.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let s = s.trim();
    let mut parts = s.split(':');
    let (first, minutes, seconds) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (days, hours) = match first.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().ok()?, h.parse::<u64>().ok()?),
        None => (0, first.parse::<u64>().ok()?),
    };
    let minutes = minutes.parse::<u64>().ok()?;
    let secs: f64 = seconds.parse().ok()?;
    if hours > 23 || minutes > 59 || !(0.0..60.0).contains(&secs) {
        return None;
    }
    let total = (days * 86_400 + hours * 3600 + minutes * 60) as f64 + secs;
    Some(Duration::from_secs_f64(total.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:00:05"), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_timespan(" 01:02:03 "),
            Some(Duration::from_secs(3723))
        );
        assert_eq!(
            parse_timespan("00:00:01.500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_timespan("2.00:00:00"),
            Some(Duration::from_secs(86_400))
        );
        for bad in [
            "",
            "5",
            "00:05",
            "00:61:00",
            "a:b:c",
            "00:00:-1",
            "00:00:00:00",
        ] {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers() {
        let now = time::macros::datetime!(2026-01-01 00:00 UTC);
        let mut h = HeaderMap::new();
        h.insert(QUOTA_REMAINING, "3".parse().unwrap());
        assert_eq!(Quota::from_headers(&h, now), None);
        h.insert(QUOTA_RESETS_AFTER, "00:00:04".parse().unwrap());
        assert_eq!(
            Quota::from_headers(&h, now),
            Some(Quota {
                remaining: 3,
                resets_at: now + Duration::from_secs(4)
            })
        );
    }
}
