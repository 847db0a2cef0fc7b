//! Dataverse service protection: per user, a sliding window (300 s by default) over the number
//! of requests (6000), the combined execution time (20 minutes) and the number of concurrent
//! requests (52). Over a limit, Dataverse answers `429 Too Many Requests` with `Retry-After` in
//! seconds and the documented error code.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SharedClock;

/// Service protection limits. The defaults are the documented Dataverse values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ServiceProtectionLimits {
    /// Requests per user per window (6000).
    pub requests: u32,
    /// The sliding window (300 s).
    #[serde(with = "secs")]
    pub window: Duration,
    /// Concurrent requests per user (52).
    pub concurrent: u32,
    /// Combined execution time per user per window (20 minutes).
    #[serde(with = "secs")]
    pub execution_time: Duration,
    /// Whether service protection is applied at all.
    pub enabled: bool,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

impl Default for ServiceProtectionLimits {
    fn default() -> Self {
        Self {
            requests: 6000,
            window: Duration::from_secs(300),
            concurrent: 52,
            execution_time: Duration::from_secs(20 * 60),
            enabled: true,
        }
    }
}

impl ServiceProtectionLimits {
    /// The longest window and combined execution time that can be set: one day.
    pub const MAX_WINDOW: Duration = Duration::from_secs(86_400);

    /// Checks the durations; says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        if self.window.is_zero() || self.window > Self::MAX_WINDOW {
            return Err(format!(
                "window must be from 1 to {} seconds, got {}",
                Self::MAX_WINDOW.as_secs(),
                self.window.as_secs()
            ));
        }
        if self.execution_time > Self::MAX_WINDOW {
            return Err(format!(
                "execution_time must be at most {} seconds, got {}",
                Self::MAX_WINDOW.as_secs(),
                self.execution_time.as_secs()
            ));
        }
        Ok(())
    }

    /// Sets the number of requests allowed per window.
    #[must_use]
    pub fn with_requests(mut self, requests: u32) -> Self {
        self.requests = requests;
        self
    }

    /// Sets the window length.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the number of concurrent requests allowed.
    #[must_use]
    pub fn with_concurrent(mut self, concurrent: u32) -> Self {
        self.concurrent = concurrent;
        self
    }

    /// Sets the combined execution time allowed per window.
    #[must_use]
    pub fn with_execution_time(mut self, execution_time: Duration) -> Self {
        self.execution_time = execution_time;
        self
    }

    /// No service protection at all.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }
}

/// Which limit refused a request, and for how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Throttled {
    /// Too many requests in the window (`0x80072322`).
    Requests {
        /// Seconds until a request would be accepted again.
        retry_after: u64,
        /// The limit that was exceeded.
        limit: u32,
        /// The window, in seconds.
        window: u64,
    },
    /// Too much combined execution time in the window (`0x80072321`).
    ExecutionTime {
        /// Seconds until a request would be accepted again.
        retry_after: u64,
        /// The limit, in milliseconds.
        limit_ms: u128,
        /// The window, in seconds.
        window: u64,
    },
    /// Too many concurrent requests (`0x80072326`).
    Concurrency {
        /// Seconds to wait.
        retry_after: u64,
        /// The limit that was exceeded.
        limit: u32,
    },
}

impl Throttled {
    /// Seconds to send in `Retry-After`.
    pub fn retry_after(&self) -> u64 {
        match *self {
            Self::Requests { retry_after, .. }
            | Self::ExecutionTime { retry_after, .. }
            | Self::Concurrency { retry_after, .. } => retry_after,
        }
    }

    /// The hex error code Dataverse's Web API returns.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Requests { .. } => "0x80072322",
            Self::ExecutionTime { .. } => "0x80072321",
            Self::Concurrency { .. } => "0x80072326",
        }
    }

    /// The error message.
    pub fn message(&self) -> String {
        match *self {
            Self::Requests { limit, window, .. } => format!(
                "Number of requests exceeded the limit of {limit} over time window of {window} seconds."
            ),
            Self::ExecutionTime {
                limit_ms, window, ..
            } => format!(
                "Combined execution time of incoming requests exceeded limit of {limit_ms} milliseconds over time window of {window} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later."
            ),
            Self::Concurrency { limit, .. } => {
                format!("Number of concurrent requests exceeded the limit of {limit}.")
            }
        }
    }

    /// The `{"error":{...}}` body Dataverse answers with.
    pub fn body(&self) -> Value {
        let limit_name = match self {
            Self::Requests { .. } => "NumberOfRequests",
            Self::ExecutionTime { .. } => "ExecutionTime",
            Self::Concurrency { .. } => "ConcurrentRequests",
        };
        let message = self.message();
        json!({"error": {
            "code": self.code(),
            "message": message,
            "@Microsoft.PowerApps.CDS.ErrorDetails.ApiExceededLimitName": limit_name,
            "@Microsoft.PowerApps.CDS.HelpLink": "http://go.microsoft.com/fwlink/?LinkID=2153234",
            "@Microsoft.PowerApps.CDS.InnerError.Message": message,
        }})
    }
}

#[derive(Default)]
struct UserState {
    /// Arrival times inside the window (rejected requests too: sending more lengthens the wait).
    requests: VecDeque<OffsetDateTime>,
    /// (finish time, duration) of completed requests inside the window.
    executions: VecDeque<(OffsetDateTime, Duration)>,
    in_flight: u32,
}

struct Inner {
    limits: Mutex<ServiceProtectionLimits>,
    users: Mutex<HashMap<Uuid, UserState>>,
    clock: SharedClock,
}

/// Per-user service protection state.
#[derive(Clone)]
pub struct ServiceProtection {
    inner: Arc<Inner>,
}

impl fmt::Debug for ServiceProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceProtection")
            .field("limits", &self.limits())
            .finish_non_exhaustive()
    }
}

/// Remaining budget reported on accepted requests (the `x-ms-ratelimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// Requests left in the window.
    pub requests: u32,
    /// Execution milliseconds left in the window.
    pub execution_ms: u128,
}

/// An accepted request; dropping it ends the request (frees the concurrency slot and records
/// its execution time).
pub struct Permit {
    inner: Arc<Inner>,
    user: Uuid,
    started: OffsetDateTime,
    remaining: Remaining,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("user", &self.user)
            .field("remaining", &self.remaining)
            .finish()
    }
}

impl Permit {
    /// The budget left when the request was accepted.
    pub fn remaining(&self) -> Remaining {
        self.remaining
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let now = self.inner.clock.now();
        let took = (now - self.started).try_into().unwrap_or(Duration::ZERO);
        let mut users = self
            .inner
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(state) = users.get_mut(&self.user) {
            state.in_flight = state.in_flight.saturating_sub(1);
            state.executions.push_back((now, took));
        }
    }
}

fn ceil_secs(d: time::Duration) -> u64 {
    let ms = d.whole_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(u64::MAX).max(1)
}

impl ServiceProtection {
    /// Service protection with these limits, timed by `clock`.
    pub fn new(limits: ServiceProtectionLimits, clock: SharedClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits: Mutex::new(limits),
                users: Mutex::new(HashMap::new()),
                clock,
            }),
        }
    }

    /// The current limits.
    pub fn limits(&self) -> ServiceProtectionLimits {
        *self
            .inner
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the limits (existing window contents are kept).
    pub fn set_limits(&self, limits: ServiceProtectionLimits) {
        *self
            .inner
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = limits;
    }

    /// Forgets every user's history.
    pub fn reset(&self) {
        self.inner
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Admits or refuses one request of `user`.
    pub fn begin(&self, user: Uuid) -> Result<Permit, Throttled> {
        let limits = self.limits();
        let now = self.inner.clock.now();
        // Bounded by `validate`; clamped here too, so an unvalidated value cannot overflow.
        let window =
            time::Duration::try_from(limits.window.min(ServiceProtectionLimits::MAX_WINDOW))
                .unwrap_or(time::Duration::DAY);
        let mut users = self
            .inner
            .users
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let state = users.entry(user).or_default();
        while state.requests.front().is_some_and(|t| *t + window <= now) {
            state.requests.pop_front();
        }
        while state
            .executions
            .front()
            .is_some_and(|(t, _)| *t + window <= now)
        {
            state.executions.pop_front();
        }
        let unlimited = Remaining {
            requests: u32::MAX,
            execution_ms: u128::MAX,
        };
        if !limits.enabled {
            state.in_flight += 1;
            return Ok(Permit {
                inner: Arc::clone(&self.inner),
                user,
                started: now,
                remaining: unlimited,
            });
        }
        if state.in_flight >= limits.concurrent {
            return Err(Throttled::Concurrency {
                retry_after: 1,
                limit: limits.concurrent,
            });
        }
        let limit = limits.requests as usize;
        if state.requests.len() >= limit {
            state.requests.push_back(now);
            let len = state.requests.len();
            // Accepted again once len - limit + 1 of the oldest arrivals have left the window.
            let pivot = state.requests.get(len - limit).copied().unwrap_or(now);
            return Err(Throttled::Requests {
                retry_after: ceil_secs(pivot + window - now),
                limit: limits.requests,
                window: limits.window.as_secs(),
            });
        }
        let used: Duration = state.executions.iter().map(|(_, d)| *d).sum();
        if used >= limits.execution_time {
            let mut excess = used - limits.execution_time;
            let mut retry = 1;
            for (end, took) in &state.executions {
                retry = ceil_secs(*end + window - now);
                if *took > excess {
                    break;
                }
                excess -= *took;
            }
            return Err(Throttled::ExecutionTime {
                retry_after: retry,
                limit_ms: limits.execution_time.as_millis(),
                window: limits.window.as_secs(),
            });
        }
        state.requests.push_back(now);
        state.in_flight += 1;
        let remaining = Remaining {
            requests: u32::try_from(limit - state.requests.len()).unwrap_or(u32::MAX),
            execution_ms: (limits.execution_time - used).as_millis(),
        };
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            user,
            started: now,
            remaining,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use time::macros::datetime;

    fn protection(limits: ServiceProtectionLimits) -> (ServiceProtection, ManualClock) {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        (
            ServiceProtection::new(limits, Arc::new(clock.clone())),
            clock,
        )
    }

    #[test]
    fn request_limit_with_exact_retry_after() {
        let (sp, clock) = protection(ServiceProtectionLimits::default().with_requests(3));
        let user = Uuid::from_u128(1);
        for _ in 0..3 {
            drop(sp.begin(user).unwrap());
            clock.advance(Duration::from_secs(10));
        }
        // Arrivals at 0, 10, 20, and the refused one at 30: two must leave the window, the
        // second (10) at 310.
        let err = sp.begin(user).unwrap_err();
        assert_eq!(err.retry_after(), 280);
        assert_eq!(err.code(), "0x80072322");
        assert!(
            err.message()
                .contains("limit of 3 over time window of 300 seconds")
        );
        // Other users are not affected.
        assert!(sp.begin(Uuid::from_u128(2)).is_ok());
        // Sending more while throttled lengthens the wait.
        assert_eq!(sp.begin(user).unwrap_err().retry_after(), 290);
        clock.advance(Duration::from_secs(289));
        assert!(sp.begin(user).is_err());
        // Honouring the last Retry-After (plus the refusal just sent) is enough.
        clock.advance(Duration::from_secs(11));
        assert!(sp.begin(user).is_ok());
    }

    #[test]
    fn concurrency_limit() {
        let (sp, _clock) = protection(ServiceProtectionLimits::default());
        let user = Uuid::from_u128(1);
        let permits: Vec<Permit> = (0..52).map(|_| sp.begin(user).unwrap()).collect();
        let err = sp.begin(user).unwrap_err();
        assert_eq!(err.code(), "0x80072326");
        assert!(err.message().contains("52"));
        drop(permits);
        assert!(sp.begin(user).is_ok());
    }

    #[test]
    fn execution_time_limit() {
        let limits =
            ServiceProtectionLimits::default().with_execution_time(Duration::from_secs(60));
        let (sp, clock) = protection(limits);
        let user = Uuid::from_u128(1);
        let permit = sp.begin(user).unwrap();
        clock.advance(Duration::from_secs(61));
        drop(permit);
        let err = sp.begin(user).unwrap_err();
        assert_eq!(err.code(), "0x80072321");
        assert_eq!(err.retry_after(), 300);
        clock.advance(Duration::from_secs(300));
        assert!(sp.begin(user).is_ok());
        let _ = clock.now();
    }

    #[test]
    fn remaining_counts_down() {
        let (sp, _clock) = protection(ServiceProtectionLimits::default().with_requests(10));
        let p = sp.begin(Uuid::nil()).unwrap();
        assert_eq!(p.remaining().requests, 9);
    }

    proptest::proptest! {
        /// Whatever the arrival pattern, a refused client that waits exactly `Retry-After`
        /// (sending nothing meanwhile) is admitted, and one second earlier it is not.
        #[test]
        fn waiting_retry_after_is_exactly_enough(
            gaps in proptest::collection::vec(0u64..40, 1..60),
            limit in 1u32..8,
        ) {
            let (sp, clock) = protection(ServiceProtectionLimits::default().with_requests(limit));
            let user = Uuid::from_u128(9);
            for gap in gaps {
                clock.advance(Duration::from_secs(gap));
                if let Err(throttled) = sp.begin(user) {
                    let wait = throttled.retry_after();
                    proptest::prop_assert!((1..=300).contains(&wait));
                    // Probe one second early on a copy of the state: still refused.
                    let probe = ServiceProtection {
                        inner: Arc::new(Inner {
                            limits: Mutex::new(sp.limits()),
                            users: Mutex::new(
                                sp.inner.users.lock().unwrap().iter().map(|(k, v)| (*k, UserState {
                                    requests: v.requests.clone(),
                                    executions: v.executions.clone(),
                                    in_flight: v.in_flight,
                                })).collect(),
                            ),
                            clock: Arc::new(ManualClock::new(clock.now() + Duration::from_secs(wait - 1))),
                        }),
                    };
                    proptest::prop_assert!(wait == 1 || probe.begin(user).is_err());
                    clock.advance(Duration::from_secs(wait));
                    proptest::prop_assert!(sp.begin(user).is_ok());
                }
            }
        }
    }

    #[test]
    fn disabled_limits_admit_everything() {
        let (sp, _clock) = protection(ServiceProtectionLimits::disabled().with_requests(1));
        for _ in 0..5 {
            assert!(sp.begin(Uuid::nil()).is_ok());
        }
    }
}
