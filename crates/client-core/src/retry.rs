//! Retry policy: exponential backoff with full jitter, `Retry-After` honoured, and a shared
//! retry budget so a struggling service is not hammered.

use http::HeaderMap;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// When and how long to wait before trying a request again.
///
/// Waits are `random(0 ..= min(max_backoff, initial_backoff * 2^n))` (full jitter), never
/// shorter than what the service asked for (`Retry-After`, `retry-after-ms`,
/// `x-ms-retry-after-ms`) and never longer than `retry_after_ceiling`. Retrying stops after
/// `max_attempts` attempts or when the next wait would pass `max_elapsed`.
///
/// ```
/// use client_core::RetryPolicy;
/// use std::time::Duration;
/// let policy = RetryPolicy::default()
///     .with_max_attempts(6)
///     .with_max_elapsed(Duration::from_secs(120));
/// assert_eq!(policy.max_attempts(), 6);
/// ```
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_elapsed: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
    retry_after_ceiling: Duration,
    statuses: Vec<u16>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(300),
            initial_backoff: Duration::from_millis(800),
            max_backoff: Duration::from_secs(60),
            retry_after_ceiling: Duration::from_secs(300),
            statuses: vec![408, 429, 500, 502, 503, 504],
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Total attempts, the first included (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The longest time from the first attempt after which no retry starts.
    pub fn with_max_elapsed(mut self, d: Duration) -> Self {
        self.max_elapsed = d;
        self
    }

    /// The backoff cap for the first retry; it doubles on each further retry.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The largest jittered backoff.
    pub fn with_max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The longest wait, even when the service asks for more.
    pub fn with_retry_after_ceiling(mut self, d: Duration) -> Self {
        self.retry_after_ceiling = d;
        self
    }

    /// The HTTP statuses that are retried (default 408, 429, 500, 502, 503, 504).
    pub fn with_statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Total attempts, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The elapsed-time limit.
    pub fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// The longest wait honoured when a service asks for more.
    pub fn retry_after_ceiling(&self) -> Duration {
        self.retry_after_ceiling
    }

    /// Whether `status` is retried.
    pub fn retries_status(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    /// The wait before retry number `retry` (0 for the first retry), given the service's
    /// requested wait and a uniform random number `unit` in `[0, 1]`.
    pub fn delay(&self, retry: u32, requested: Option<Duration>, unit: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let cap = exp.min(self.max_backoff);
        let jittered = cap.mul_f64(unit.clamp(0.0, 1.0));
        let floor = requested.unwrap_or_default();
        jittered.max(floor).min(self.retry_after_ceiling)
    }
}

/// The longest wait [`parse_retry_after`] reports: a service asking for more is treated as
/// asking for a day, so no arithmetic on the wait can overflow.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// Reads the wait a service asked for: `retry-after-ms`, `x-ms-retry-after-ms` (milliseconds),
/// then `Retry-After` (seconds, possibly fractional, or an HTTP date relative to `now`).
/// Waits longer than a day are reported as one day.
pub fn parse_retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    parse_retry_after_unbounded(headers, now).map(|d| d.min(MAX_RETRY_AFTER))
}

fn parse_retry_after_unbounded(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = headers.get(name).and_then(|v| v.to_str().ok())
            && let Ok(ms) = ms.trim().parse::<u64>()
        {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(
            secs.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at = OffsetDateTime::from(at);
    let wait = at - now;
    Some(if wait.is_negative() {
        Duration::ZERO
    } else {
        wait.unsigned_abs()
    })
}

/// A budget shared by all requests of one client: each retry spends one token, each success
/// earns back a fraction of one. When it runs dry, failures are returned without retrying, so
/// a service that is down or throttling is not multiplied by the retry count.
#[derive(Debug)]
pub struct RetryBudget {
    state: Mutex<f64>,
    capacity: f64,
    refill_per_success: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(50, 0.2)
    }
}

impl RetryBudget {
    /// A budget of `capacity` retries in a burst, refilled by `refill_per_success` per
    /// successful request.
    pub fn new(capacity: u32, refill_per_success: f64) -> Self {
        let capacity = f64::from(capacity);
        Self {
            state: Mutex::new(capacity),
            capacity,
            refill_per_success: refill_per_success.max(0.0),
        }
    }

    /// An unlimited budget.
    pub fn unlimited() -> Self {
        Self {
            state: Mutex::new(f64::INFINITY),
            capacity: f64::INFINITY,
            refill_per_success: 0.0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, f64> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes one retry from the budget; false when it is empty.
    pub fn try_withdraw(&self) -> bool {
        let mut tokens = self.lock();
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Records a success.
    pub fn deposit(&self) {
        let mut tokens = self.lock();
        *tokens = (*tokens + self.refill_per_success).min(self.capacity);
    }

    /// Retries left right now.
    pub fn remaining(&self) -> f64 {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = datetime!(2026-01-01 00:00:00 UTC);
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "2")]), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "Thu, 01 Jan 2026 00:00:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "Wed, 31 Dec 2025 23:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after(
                &headers(&[("retry-after", "9"), ("x-ms-retry-after-ms", "1500")]),
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after-ms", "20")]), now),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            parse_retry_after(&headers(&[("retry-after", "soon")]), now),
            None
        );
        assert_eq!(parse_retry_after(&HeaderMap::new(), now), None);
        for huge in [
            ("retry-after", "18446744073709551615"),
            ("retry-after", "1e300"),
            ("retry-after-ms", "18446744073709551615"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(
                parse_retry_after(&headers(&[huge]), now),
                Some(Duration::from_secs(86_400)),
                "{huge:?}"
            );
        }
    }

    #[test]
    fn budget_runs_dry_and_refills() {
        let b = RetryBudget::new(2, 0.5);
        assert!(b.try_withdraw() && b.try_withdraw());
        assert!(!b.try_withdraw());
        b.deposit();
        assert!(!b.try_withdraw());
        b.deposit();
        assert!(b.try_withdraw());
    }

    #[test]
    fn backoff_doubles_with_full_jitter_up_to_the_cap() {
        let p = RetryPolicy::default()
            .with_initial_backoff(Duration::from_millis(800))
            .with_max_backoff(Duration::from_secs(5));
        // unit = 1: the cap itself, doubling per retry up to max_backoff.
        let caps: Vec<Duration> = (0..5).map(|r| p.delay(r, None, 1.0)).collect();
        assert_eq!(
            caps,
            [800, 1600, 3200, 5000, 5000].map(Duration::from_millis)
        );
        // Full jitter: anywhere from zero to the cap, in proportion to the random unit.
        assert_eq!(p.delay(2, None, 0.0), Duration::ZERO);
        assert_eq!(p.delay(2, None, 0.5), Duration::from_millis(1600));
        // The service's wait is a floor even when the jitter is small.
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(2)), 0.0),
            Duration::from_secs(2)
        );
    }

    proptest! {
        #[test]
        fn delay_respects_floor_cap_and_ceiling(retry in 0u32..40, unit in 0.0f64..=1.0, req in proptest::option::of(0u64..1000)) {
            let p = RetryPolicy::default()
                .with_initial_backoff(Duration::from_millis(100))
                .with_max_backoff(Duration::from_secs(10))
                .with_retry_after_ceiling(Duration::from_secs(120));
            let requested = req.map(Duration::from_secs);
            let d = p.delay(retry, requested, unit);
            prop_assert!(d <= Duration::from_secs(120));
            if let Some(r) = requested {
                prop_assert!(d >= r.min(Duration::from_secs(120)));
            } else {
                prop_assert!(d <= Duration::from_secs(10));
            }
        }
    }
}
