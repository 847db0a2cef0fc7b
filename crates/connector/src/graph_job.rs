//! What the Microsoft Graph jobs (`m365`, `seccopilot`, `permissions`) share: the Graph client
//! built from the shared settings, the destination they deliver to, the checkpoint scope's
//! destination part, and delivering records in batches with at-least-once bookkeeping.

use crate::config::{SharedSettings, SinkConfig};
use crate::ingest::StopSignal;
use crate::sink::{AktoSink, JsonLinesSink, RecordJson, Sink, SinkError};
use client_core::{Pipeline, RetryPolicy, SharedClock, SharedCredential};
use entra_auth::Cloud;
use graph_client::GraphClient;
use std::time::Duration;

/// The cloud an authority host signs in to (public when unknown).
pub(crate) fn cloud_of(authority: &url::Url) -> Cloud {
    match authority.host_str().unwrap_or_default() {
        "login.microsoftonline.us" => Cloud::UsGovHigh,
        "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => Cloud::China,
        _ => Cloud::Public,
    }
}

/// A Graph client for the settings' cloud (or `graph_url`), `concurrency` requests at once.
/// The error says which setting to fix.
pub(crate) fn graph_client(
    settings: &SharedSettings,
    graph_url: Option<&str>,
    concurrency: usize,
    credential: SharedCredential,
    clock: SharedClock,
) -> Result<GraphClient, String> {
    let mut builder = GraphClient::builder(credential)
        .cloud(cloud_of(&settings.authority_host))
        .max_concurrency(concurrency.max(2))
        .clock(clock);
    if let Some(url) = graph_url {
        builder = builder.base_url(url);
    }
    builder
        .build()
        .map_err(|e| format!("GRAPH_URL (or --graph-url) is not usable: {e}"))
}

/// The destination part of a checkpoint scope: records delivered to one destination are not
/// delivered-to another.
pub(crate) fn sink_label(settings: &SharedSettings) -> String {
    match &settings.sink {
        SinkConfig::Akto { url, .. } => format!("akto:{url}"),
        SinkConfig::JsonLinesFile(p) => format!("jsonl:{}", p.display()),
        SinkConfig::Stdout => "stdout".to_owned(),
        #[allow(unreachable_patterns)]
        _ => "other".to_owned(),
    }
}

/// Why the destination could not be opened.
#[derive(Debug)]
pub(crate) enum OpenSinkError {
    /// A setting is unusable (the text says which).
    Setup(String),
    /// The destination itself failed (e.g. the output file cannot be opened).
    Sink(SinkError),
}

/// The destination the settings name, delivering on `clock`.
pub(crate) async fn open_sink(
    settings: &SharedSettings,
    clock: SharedClock,
) -> Result<Box<dyn Sink>, OpenSinkError> {
    Ok(match &settings.sink {
        SinkConfig::Akto { url, token } => {
            let pipeline = Pipeline::builder()
                .user_agent_prefix(concat!("copilot-connector/", env!("CARGO_PKG_VERSION")))
                .retry_policy(RetryPolicy::default().with_max_attempts(6))
                .connect_timeout(Duration::from_secs(10))
                .clock(clock)
                .build()
                .map_err(|e| OpenSinkError::Setup(format!("cannot set up HTTP: {e}")))?;
            Box::new(
                AktoSink::new(url, token.clone(), pipeline)
                    .map(|s| s.with_deadline(settings.delivery_timeout))
                    .map_err(|e| {
                        OpenSinkError::Setup(format!(
                            "DATA_INGESTION_SERVICE_URL cannot take the ingestion path: {e}"
                        ))
                    })?,
            )
        }
        SinkConfig::JsonLinesFile(path) => Box::new(
            JsonLinesSink::file(path)
                .await
                .map_err(OpenSinkError::Sink)?,
        ),
        _ => Box::new(JsonLinesSink::stdout()),
    })
}

/// What [`deliver_batches`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub(crate) records: usize,
    pub(crate) batches: usize,
    pub(crate) undeliverable: usize,
    pub(crate) stopped: bool,
}

/// Why [`deliver_batches`] stopped.
#[derive(Debug)]
pub(crate) enum DeliverError<E> {
    /// A record could not be encoded.
    Encode(String),
    /// The destination refused or failed a batch.
    Sink(SinkError),
    /// Recording a delivered batch failed.
    Commit(E),
}

/// Delivers `items` in batches of `batch_size`: each batch goes to `sink`, then `commit` is
/// called with the items it carried (recording them as delivered); the next batch is sent
/// only after that. A record the destination can never take (over its limits) is reported,
/// counted as undeliverable and committed with its batch so it cannot block progress. Stops
/// between batches when `stop` is set. A crash loses nothing and repeats at most the batch in
/// flight.
pub(crate) async fn deliver_batches<T, E>(
    sink: &dyn Sink,
    batch_size: usize,
    stop: &StopSignal,
    items: &[T],
    encode: impl Fn(&T) -> Result<RecordJson, String>,
    mut commit: impl FnMut(&[&T]) -> Result<(), E>,
) -> Result<Delivered, DeliverError<E>> {
    let limits = sink.limits();
    let mut done = Delivered::default();
    for chunk in items.chunks(batch_size.max(1)) {
        if stop.is_stopped() {
            done.stopped = true;
            return Ok(done);
        }
        let mut batch: Vec<RecordJson> = Vec::with_capacity(chunk.len());
        let mut carried: Vec<&T> = Vec::with_capacity(chunk.len());
        for item in chunk {
            let json = encode(item).map_err(DeliverError::Encode)?;
            if let Some(why) = limits.refuses(&json) {
                tracing::warn!("undeliverable record: {why}");
                done.undeliverable += 1;
            } else {
                batch.push(json);
            }
            carried.push(item);
        }
        if !batch.is_empty() {
            sink.deliver(&batch).await.map_err(DeliverError::Sink)?;
        }
        commit(&carried).map_err(DeliverError::Commit)?;
        done.records += batch.len();
        done.batches += usize::from(!batch.is_empty());
    }
    Ok(done)
}

/// Runs an `ingest` command of a Graph job: one pass with `once`, or a pass every `every` until
/// `stop`; `report` prints each pass's outcome. Returns the exit code: 0, 1 when a scheduled
/// pass last failed or a single pass left records undeliverable, `exit_for` of a single pass's
/// error, or 2 when neither `--once` nor `--every` was given.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_ingest<S, E, P, Fut>(
    command: &str,
    once: bool,
    every: Option<Duration>,
    clock: SharedClock,
    stop: StopSignal,
    mut pass: P,
    report: impl Fn(&Result<S, E>),
    undeliverable: impl Fn(&S) -> bool,
    exit_for: impl Fn(&E) -> u8,
) -> u8
where
    P: FnMut(StopSignal) -> Fut,
    Fut: std::future::Future<Output = Result<S, E>>,
    E: std::fmt::Display,
{
    const EXIT_OK: u8 = 0;
    const EXIT_FAILED: u8 = 1;
    const EXIT_CONFIG: u8 = 2;
    match (once, every) {
        (_, Some(interval)) => {
            let outcome = crate::schedule::run_every(interval, clock, stop.clone(), || {
                let run = pass(stop.clone());
                let report = &report;
                async move {
                    let r = run.await;
                    report(&r);
                    r.map(|_| ())
                }
            })
            .await;
            if outcome.last_pass_failed {
                EXIT_FAILED
            } else {
                EXIT_OK
            }
        }
        (true, None) => {
            let r = pass(stop).await;
            report(&r);
            match &r {
                Ok(s) if undeliverable(s) => EXIT_FAILED,
                Ok(_) => EXIT_OK,
                Err(e) => exit_for(e),
            }
        }
        (false, None) => {
            complain(&format!(
                "say how to run: `{command} ingest --once` (one pass) or `{command} ingest --every 5m` (a schedule)"
            ));
            EXIT_CONFIG
        }
    }
}

/// Writes `error: {line}` to standard error, as the Graph commands report a failure.
pub(crate) fn complain(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "error: {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exit code of one `--once` (or flag-less) run whose pass answers `outcome`.
    async fn exit_of(once: bool, outcome: Result<u32, String>) -> (u8, usize) {
        let passes = std::cell::Cell::new(0);
        let code = run_ingest(
            "m365",
            once,
            None,
            client_core::system_clock(),
            StopSignal::new(),
            |_| {
                passes.set(passes.get() + 1);
                std::future::ready(outcome.clone())
            },
            |_| {},
            |undeliverable: &u32| *undeliverable > 0,
            |_: &String| 9,
        )
        .await;
        (code, passes.get())
    }

    #[tokio::test]
    async fn ingest_exit_codes() {
        assert_eq!(exit_of(true, Ok(0)).await, (0, 1));
        assert_eq!(
            exit_of(true, Ok(3)).await,
            (1, 1),
            "undeliverable records fail the run"
        );
        assert_eq!(
            exit_of(true, Err("x".into())).await,
            (9, 1),
            "the job's own exit code"
        );
        assert_eq!(
            exit_of(false, Ok(0)).await,
            (2, 0),
            "neither --once nor --every"
        );
    }

    #[test]
    fn clouds_from_authority() {
        let u = |s: &str| url::Url::parse(s).unwrap_or_else(|_| unreachable!());
        assert_eq!(
            cloud_of(&u("https://login.microsoftonline.com")),
            Cloud::Public
        );
        assert_eq!(
            cloud_of(&u("https://login.microsoftonline.us")),
            Cloud::UsGovHigh
        );
        assert_eq!(cloud_of(&u("https://login.chinacloudapi.cn")), Cloud::China);
        assert_eq!(cloud_of(&u("http://127.0.0.1:9")), Cloud::Public);
    }
}
