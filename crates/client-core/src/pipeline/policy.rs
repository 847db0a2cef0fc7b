//! The retry and throttle policy as the pipeline applies it: when to retry and how long to
//! wait, and the per-server hold after a 429.

use crate::SharedClock;
use crate::retry::{RetryBudget, RetryPolicy};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// How many times one attempt waits for a server's 429 hold (which other requests may extend)
/// before it is sent anyway.
pub(super) const MAX_HOLD_WAITS: u32 = 4;

/// Per server (`host:port`), when a 429's `Retry-After` ends: until then no request to that
/// server starts, because requests sent while throttled lengthen the wait (Dataverse, Graph).
#[derive(Debug, Default)]
pub(super) struct Holds {
    until: Mutex<HashMap<String, OffsetDateTime>>,
}

impl Holds {
    /// How long requests to `server` must still wait after a 429, if at all.
    pub(super) fn pause(&self, server: &str, now: OffsetDateTime) -> Option<Duration> {
        let until = *self
            .until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(server)?;
        let left = until - now;
        left.is_positive().then(|| left.unsigned_abs())
    }

    /// Holds every request to `server` for `wait`, capped by `ceiling`.
    pub(super) fn hold(
        &self,
        server: &str,
        wait: Duration,
        ceiling: Duration,
        now: OffsetDateTime,
    ) {
        // A ceiling configured as "forever" must not overflow the date arithmetic.
        let until = time::Duration::try_from(wait.min(ceiling))
            .ok()
            .and_then(|w| now.checked_add(w))
            .unwrap_or(OffsetDateTime::new_utc(
                time::Date::MAX,
                time::Time::MIDNIGHT,
            ));
        let mut map = self.until.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(server.to_owned()).or_insert(until);
        if *entry < until {
            *entry = until;
        }
    }
}

/// What the pipeline's retry loop consults.
#[derive(Debug)]
pub(super) struct Policy {
    pub(super) retry: RetryPolicy,
    pub(super) budget: RetryBudget,
    pub(super) holds: Holds,
    pub(super) clock: SharedClock,
}

impl Policy {
    /// The wait before the next attempt, or `None` when the policy, the elapsed-time limit or
    /// the retry budget says to stop.
    pub(super) fn backoff(
        &self,
        attempt: u32,
        start: OffsetDateTime,
        requested: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.retry.max_attempts() {
            return None;
        }
        let unit: f64 = rand::rng().random();
        let delay = self.retry.delay(attempt - 1, requested, unit);
        let elapsed = (self.clock.now() - start).unsigned_abs();
        // A service that asks us back only after the deadline gets its answer now, with its
        // Retry-After kept on the error, instead of an early retry it would refuse again.
        let wait = delay.max(requested.unwrap_or_default());
        if elapsed.saturating_add(wait) > self.retry.max_elapsed() {
            tracing::debug!("retry would pass the elapsed-time limit");
            return None;
        }
        if !self.budget.try_withdraw() {
            tracing::warn!("retry budget exhausted: returning the failure without retrying");
            return None;
        }
        Some(delay)
    }

    /// How long requests to `server` must still wait after a 429, if at all.
    pub(super) fn pause(&self, server: &str) -> Option<Duration> {
        self.holds.pause(server, self.clock.now())
    }

    /// Holds `server` for `wait` (capped by the Retry-After ceiling).
    pub(super) fn hold(&self, server: &str, wait: Duration) {
        self.holds.hold(
            server,
            wait,
            self.retry.retry_after_ceiling(),
            self.clock.now(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_hold_only_grows_and_never_overflows() {
        let holds = Holds::default();
        let now = datetime!(2026-03-01 12:00 UTC);
        holds.hold(
            "h:443",
            Duration::from_secs(5),
            Duration::from_secs(60),
            now,
        );
        holds.hold(
            "h:443",
            Duration::from_secs(2),
            Duration::from_secs(60),
            now,
        );
        assert_eq!(holds.pause("h:443", now), Some(Duration::from_secs(5)));
        assert_eq!(holds.pause("h:8443", now), None);
        holds.hold("x:1", Duration::MAX, Duration::MAX, now);
        assert!(holds.pause("x:1", now).is_some());
        holds.hold(
            "c:1",
            Duration::from_secs(600),
            Duration::from_secs(60),
            now,
        );
        assert_eq!(holds.pause("c:1", now), Some(Duration::from_secs(60)));
    }
}
