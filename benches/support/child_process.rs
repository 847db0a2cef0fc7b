//! What the benches that run their subject in a child process share: their options, and the
//! child's peak resident memory (VmHWM, polled from /proc while it runs; Linux).

#![allow(dead_code, unreachable_pub)]

use std::process::ExitStatus;
use std::time::Duration;

/// The number after `name` on the command line (`-- --latency-ms 20`), else `default`.
pub fn flag(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The environment variable `name` as a number, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident set of `pid` in KiB (VmHWM in /proc/{pid}/status), while it runs.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// KiB as MiB, for printing.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Waits for `child` to exit, reading its peak resident set every `every` (a child's /proc
/// entry goes when it is reaped, so the last reading is the one before it exits): its exit
/// status and that peak in KiB.
pub async fn wait_with_peak_rss(
    child: &mut tokio::process::Child,
    every: Duration,
) -> (ExitStatus, u64) {
    let pid = child.id().expect("the child is running");
    let mut peak = 0;
    loop {
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("the child's status") {
            return (status, peak);
        }
        tokio::time::sleep(every).await;
    }
}
