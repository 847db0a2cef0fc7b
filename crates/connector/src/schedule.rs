//! The recurring schedules of `ingest --every` (a fixed interval) and `ingest --cron` /
//! `copilot-shield -schedule` (a cron expression): one pass at a time, stopping cleanly when
//! asked.

use crate::cron::Cron;
use crate::ingest::StopSignal;
use client_core::SharedClock;
use std::future::Future;
use std::time::Duration;
use time::OffsetDateTime;

/// How a scheduled run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduleOutcome {
    /// Passes started.
    pub passes: u64,
    /// Passes that returned an error.
    pub failed_passes: u64,
    /// Whether the last pass returned an error (the exit status of `ingest --every` says so).
    pub last_pass_failed: bool,
}

/// Runs `pass` now and then every `interval` (measured from the start of each pass), until
/// `stop` is raised.
///
/// Passes never overlap: a pass that takes longer than the interval is followed at once by
/// the next one, and the missed starts are skipped, not queued. A failed pass is logged and
/// the schedule goes on (the next pass resumes from the checkpoint). A stop raised during a
/// pass lets that pass finish its batch in flight (the pass checks the same signal); a stop
/// raised while waiting ends the wait at once.
pub async fn run_every<F, Fut, T, E>(
    interval: Duration,
    clock: SharedClock,
    stop: StopSignal,
    mut pass: F,
) -> ScheduleOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut outcome = ScheduleOutcome {
        passes: 0,
        failed_passes: 0,
        last_pass_failed: false,
    };
    while !stop.is_stopped() {
        let started = clock.now();
        outcome.passes = outcome.passes.saturating_add(1);
        let result = pass().await;
        outcome.last_pass_failed = result.is_err();
        if let Err(e) = result {
            outcome.failed_passes = outcome.failed_passes.saturating_add(1);
            tracing::error!(error = %e, "ingestion pass failed; the next pass resumes from the checkpoint");
        }
        if stop.is_stopped() {
            break;
        }
        let wait = next_wait(started, clock.now(), interval);
        if wait.is_zero() {
            tracing::warn!(
                interval_secs = interval.as_secs(),
                "the pass took longer than the interval; starting the next one now"
            );
            continue;
        }
        tracing::info!(wait_secs = wait.as_secs(), "waiting for the next pass");
        tokio::select! {
            () = clock.sleep(wait) => {}
            () = stop.stopped() => break,
        }
    }
    outcome
}

/// Runs `pass` at every time of `cron` (UTC), until `stop` is raised. The first pass runs at
/// the first firing time after the start, as cron does.
///
/// Passes never overlap: a pass still running at a firing time makes that time be skipped
/// (not queued), and the next pass starts at the first firing time after it ends. A failed
/// pass is logged and the schedule goes on. A stop raised while waiting ends the wait at once.
pub async fn run_cron<F, Fut, T, E>(
    cron: &Cron,
    clock: SharedClock,
    stop: StopSignal,
    mut pass: F,
) -> ScheduleOutcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut outcome = ScheduleOutcome {
        passes: 0,
        failed_passes: 0,
        last_pass_failed: false,
    };
    while !stop.is_stopped() {
        let now = clock.now();
        let Some(next) = cron.next_after(now) else {
            tracing::error!(schedule = %cron, "the schedule fires no more; stopping");
            break;
        };
        let wait = (next - now).unsigned_abs();
        tracing::info!(schedule = %cron, wait_secs = wait.as_secs(), "waiting for the next pass");
        tokio::select! {
            () = clock.sleep(wait) => {}
            () = stop.stopped() => break,
        }
        outcome.passes = outcome.passes.saturating_add(1);
        let result = pass().await;
        outcome.last_pass_failed = result.is_err();
        if let Err(e) = result {
            outcome.failed_passes = outcome.failed_passes.saturating_add(1);
            tracing::error!(error = %e, "ingestion pass failed; the next pass resumes from the checkpoint");
        }
    }
    outcome
}

/// The wait from `now` until `started + interval` (zero when that is past).
fn next_wait(started: OffsetDateTime, now: OffsetDateTime, interval: Duration) -> Duration {
    let elapsed = (now - started).unsigned_abs();
    interval.saturating_sub(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::{Clock, ManualClock};
    use std::sync::Arc;
    use std::sync::Mutex;
    use time::macros::datetime;

    #[tokio::test]
    async fn passes_start_every_interval_and_never_overlap() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let shared: SharedClock = Arc::new(clock.clone());
        let stop = StopSignal::new();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(Mutex::new(false));
        let (c, s, st, r) = (clock.clone(), stop.clone(), starts.clone(), running.clone());
        let outcome = run_every(Duration::from_secs(300), shared, stop, move || {
            let (c, s, st, r) = (c.clone(), s.clone(), st.clone(), r.clone());
            async move {
                {
                    let mut running = r.lock().unwrap();
                    assert!(!*running, "passes overlapped");
                    *running = true;
                }
                st.lock().unwrap().push(c.now());
                let n = st.lock().unwrap().len();
                // The third pass runs longer than the interval; the fourth fails.
                c.advance(Duration::from_secs(if n == 3 { 400 } else { 20 }));
                *r.lock().unwrap() = false;
                if n == 5 {
                    s.stop();
                }
                if n == 4 { Err("boom") } else { Ok(()) }
            }
        })
        .await;
        assert_eq!(
            outcome,
            ScheduleOutcome {
                passes: 5,
                failed_passes: 1,
                last_pass_failed: false
            }
        );
        let t0 = datetime!(2026-03-01 12:00 UTC);
        let starts = starts.lock().unwrap().clone();
        let offsets: Vec<i64> = starts.iter().map(|t| (*t - t0).whole_seconds()).collect();
        assert_eq!(offsets, vec![0, 300, 600, 1000, 1300]);
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(280); 3]);
    }

    #[tokio::test]
    async fn the_outcome_says_whether_the_last_pass_failed() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let stop = StopSignal::new();
        let s = stop.clone();
        let mut n = 0;
        let outcome = run_every(Duration::from_secs(60), Arc::new(clock), stop, move || {
            n += 1;
            if n == 2 {
                s.stop();
            }
            // The first pass succeeds, the last one (stopped by SIGTERM) fails.
            let result = if n == 2 {
                Err("ingestion unavailable")
            } else {
                Ok(())
            };
            async move { result }
        })
        .await;
        assert_eq!((outcome.passes, outcome.failed_passes), (2, 1));
        assert!(outcome.last_pass_failed);
    }

    #[tokio::test]
    async fn cron_passes_start_at_firing_times_and_skip_those_missed_while_running() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:02:30 UTC));
        let shared: SharedClock = Arc::new(clock.clone());
        let stop = StopSignal::new();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let cron = Cron::parse("*/5 * * * *").unwrap();
        let (c, s, st) = (clock.clone(), stop.clone(), starts.clone());
        let outcome = run_cron(&cron, shared, stop, move || {
            let (c, s, st) = (c.clone(), s.clone(), st.clone());
            async move {
                st.lock().unwrap().push(c.now());
                let n = st.lock().unwrap().len();
                // The second pass runs 12 minutes: the firing times in between are skipped.
                c.advance(Duration::from_secs(if n == 2 { 720 } else { 30 }));
                if n == 4 {
                    s.stop();
                }
                if n == 3 { Err("boom") } else { Ok(()) }
            }
        })
        .await;
        assert_eq!(
            outcome,
            ScheduleOutcome {
                passes: 4,
                failed_passes: 1,
                last_pass_failed: false
            }
        );
        let starts: Vec<String> = starts
            .lock()
            .unwrap()
            .iter()
            .map(|t| format!("{:02}:{:02}", t.hour(), t.minute()))
            .collect();
        assert_eq!(starts, ["12:05", "12:10", "12:25", "12:30"]);
    }

    #[tokio::test]
    async fn a_stop_while_waiting_ends_the_wait_at_once() {
        let stop = StopSignal::new();
        let s = stop.clone();
        let task = tokio::spawn(run_every(
            Duration::from_secs(3600),
            client_core::system_clock(),
            stop,
            move || {
                let s = s.clone();
                async move {
                    // Raised after the pass, from another task, while the schedule waits.
                    tokio::spawn(async move { s.stop() });
                    Ok::<(), String>(())
                }
            },
        ));
        let outcome = tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the schedule did not stop")
            .unwrap();
        assert_eq!(outcome.passes, 1);
    }
}
