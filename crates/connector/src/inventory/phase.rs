//! The scan's phases, timed: each runs inside a `tracing` span named after it and, when it
//! ends, logs at `info` (shown with `-v`) how long it took and how much CPU the process used
//! meanwhile, e.g. `phase="state commit" wall_s=0.412 cpu_s=0.400`.
//!
//! A user waits for the whole process, not only for the reads: these lines show where the
//! time between the command's start and its exit goes (opening the state, the layers, the
//! mapping, the diff, the document, the state's commit). Events have the target
//! [`TARGET`], so a subscriber can pick them out (the scan benchmark does).

use std::time::{Duration, Instant};

/// The `tracing` target of the phase events.
pub const TARGET: &str = "connector::inventory::phase";

/// One phase being timed; logs when dropped (also on an early return or an error).
#[derive(Debug)]
pub(crate) struct Phase {
    name: &'static str,
    span: tracing::Span,
    started: Instant,
    cpu: Option<Duration>,
}

impl Phase {
    /// Starts timing `name`.
    pub(crate) fn start(name: &'static str) -> Self {
        Phase {
            name,
            span: tracing::info_span!("phase", name),
            started: Instant::now(),
            cpu: process_cpu(),
        }
    }

    /// The phase's span, for what runs inside it (`.instrument(phase.span())` or `enter`).
    pub(crate) fn span(&self) -> tracing::Span {
        self.span.clone()
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        let wall = self.started.elapsed().as_secs_f64();
        // CPU of the whole process (every thread) while the phase ran; with phases that
        // overlap nothing else, the phase's own.
        let cpu = match (self.cpu, process_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a).as_secs_f64(),
            _ => f64::NAN,
        };
        tracing::info!(
            target: TARGET,
            parent: &self.span,
            phase = self.name,
            wall_s = wall,
            cpu_s = cpu,
            "{}: {wall:.3} s ({cpu:.3} s CPU)",
            self.name
        );
    }
}

/// The CPU time (user + system, all threads) of this process so far: Linux only (from
/// `/proc/self/stat`, in clock ticks of 10 ms), `None` elsewhere.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // utime and stime are fields 14 and 15; the second field `(comm)` may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture.
    Some(Duration::from_millis((user + system) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn cpu_time_is_read_and_grows_with_work() {
        let a = process_cpu().unwrap();
        // Work until the process's CPU time has grown by a few ticks (bounded, in case it
        // never does: then the wrong field is read).
        let spin = Instant::now();
        let mut x = 0u64;
        let mut b = a;
        while b < a + Duration::from_millis(30) && spin.elapsed() < Duration::from_secs(20) {
            for _ in 0..100_000 {
                x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(7));
            }
            b = process_cpu().unwrap();
        }
        std::hint::black_box(x);
        assert!(b >= a + Duration::from_millis(30), "{a:?} -> {b:?}");
    }
}
