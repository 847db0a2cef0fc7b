//! The one way the connector writes a point in time (logs, summaries, the checkpoint store):
//! RFC 3339 in UTC, e.g. `2026-03-01T12:00:00Z`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` in UTC as RFC 3339. A time RFC 3339 cannot write (a year outside 0..=9999) is written as
/// its Unix seconds rather than as nothing.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(
            rfc3339(datetime!(2026-03-01 12:00 UTC)),
            "2026-03-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(datetime!(2026-03-01 14:00 +02:00)),
            "2026-03-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(datetime!(2026-03-01 12:00:00.5 UTC)),
            "2026-03-01T12:00:00.5Z"
        );
    }
}
