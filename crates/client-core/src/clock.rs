//! Injectable time: the wall clock and sleeping, so backoff and token expiry are testable
//! without real waiting.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// A boxed future returned by [`Clock::sleep`].
pub type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of time for retries, backoff and token expiry.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current UTC time.
    fn now(&self) -> OffsetDateTime;
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// The real clock: system time and `tokio::time::sleep` (so tokio's paused time applies).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place the real clock is read; everything else asks a `Clock`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The default clock.
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

/// A manual clock for tests: `sleep` returns at once and moves the clock forward by the
/// requested duration, and every sleep is recorded so tests can assert on backoff.
///
/// ```
/// use client_core::{Clock, ManualClock};
/// use std::time::Duration;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let clock = ManualClock::new(time::macros::datetime!(2026-01-01 00:00 UTC));
/// clock.sleep(Duration::from_secs(2)).await;
/// assert_eq!(clock.now(), time::macros::datetime!(2026-01-01 00:00:02 UTC));
/// assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
/// # });
/// ```
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Mutex<ManualInner>>,
}

struct ManualInner {
    now: OffsetDateTime,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock that reads `start` until moved.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            inner: Arc::new(Mutex::new(ManualInner {
                now: start,
                sleeps: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualInner> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut g = self.lock();
        g.now += by;
    }

    /// Sets the clock.
    pub fn set(&self, now: OffsetDateTime) {
        self.lock().now = now;
    }

    /// Every duration passed to `sleep` so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// The sum of all sleeps so far.
    pub fn total_slept(&self) -> Duration {
        self.lock().sleeps.iter().sum()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.lock().now)
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.lock().now
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        {
            let mut g = self.lock();
            g.now += duration;
            g.sleeps.push(duration);
        }
        Box::pin(std::future::ready(()))
    }
}
