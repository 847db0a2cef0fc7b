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

/// How an `ingest` command of a Graph job was asked to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IngestCommand {
    /// The command's name, as its messages say it (`m365`).
    pub(crate) command: &'static str,
    /// `--once`.
    pub(crate) once: bool,
    /// `--every`.
    pub(crate) every: Option<Duration>,
    /// `--json`: each pass's summary as a JSON line instead of a sentence.
    pub(crate) json: bool,
}

/// What an ingest pass of a Graph job reports: a sentence (`Display`), a JSON form, and how
/// many records the destination could never take (they fail a single run).
pub(crate) trait IngestSummary: serde::Serialize + std::fmt::Display {
    /// Records over the destination's limits.
    fn undeliverable(&self) -> usize;
}

/// Runs an `ingest` command of a Graph job end to end: takes the opened checkpoint `store`
/// (on an error, its message and `exit_for`), then opens the destination `sink` (on an error,
/// its message and exit 2), then runs `pass` as [`run_ingest`] does, printing each pass's
/// summary to stdout and each failure to stderr.
pub(crate) async fn run_ingest_command<S, E>(
    cmd: IngestCommand,
    clock: SharedClock,
    stop: StopSignal,
    store: Result<crate::state::StateStore, E>,
    sink: impl std::future::Future<Output = Result<Box<dyn Sink>, E>>,
    pass: impl AsyncFn(&mut crate::state::StateStore, &dyn Sink, StopSignal) -> Result<S, E>,
    exit_for: impl Fn(&E) -> u8,
) -> u8
where
    S: IngestSummary,
    E: std::fmt::Display,
{
    const EXIT_CONFIG: u8 = 2;
    let store = match store {
        Ok(s) => tokio::sync::Mutex::new(s),
        Err(e) => {
            complain(&e.to_string());
            return exit_for(&e);
        }
    };
    // Opened only once the store is held, so a second run makes no output file.
    let sink = match sink.await {
        Ok(s) => s,
        Err(e) => {
            complain(&e.to_string());
            return EXIT_CONFIG;
        }
    };
    let report = |r: &Result<S, E>| match r {
        Ok(s) if cmd.json => say(&serde_json::to_string(s).unwrap_or_default()),
        Ok(s) => say(&format!("{}: {s}", cmd.command)),
        Err(e) => complain(&e.to_string()),
    };
    let (store, sink, pass) = (&store, &sink, &pass);
    run_ingest(
        cmd.command,
        cmd.once,
        cmd.every,
        clock,
        stop,
        |stop| async move {
            let mut guard = store.lock().await;
            pass(&mut guard, sink.as_ref(), stop).await
        },
        report,
        |s: &S| s.undeliverable() > 0,
        exit_for,
    )
    .await
}

/// Writes `line` to standard output.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
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

    /// A summary that is only its undeliverable count.
    #[derive(serde::Serialize)]
    struct Undeliverable(usize);

    impl std::fmt::Display for Undeliverable {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{} undeliverable", self.0)
        }
    }

    impl IngestSummary for Undeliverable {
        fn undeliverable(&self) -> usize {
            self.0
        }
    }

    /// The exit code of `ingest --once` with this store and sink, whether the sink was opened
    /// and how many passes ran (each answering `undeliverable`).
    async fn command_exit(
        store: Result<(), &'static str>,
        sink: Result<(), &'static str>,
        undeliverable: usize,
    ) -> (u8, bool, usize) {
        let dir = tempfile::tempdir().unwrap_or_else(|_| unreachable!());
        let store = store.map(|()| {
            crate::state::StateStore::open(&dir.path().join("s.db"), "test")
                .unwrap_or_else(|_| unreachable!())
        });
        let opened = std::cell::Cell::new(false);
        let passes = std::cell::Cell::new(0);
        let cmd = IngestCommand {
            command: "m365",
            once: true,
            every: None,
            json: false,
        };
        let code = run_ingest_command(
            cmd,
            client_core::system_clock(),
            StopSignal::new(),
            store,
            async {
                opened.set(true);
                sink.map(|()| Box::new(JsonLinesSink::stdout()) as Box<dyn Sink>)
            },
            async |_store, _sink, _stop| {
                passes.set(passes.get() + 1);
                Ok::<_, &'static str>(Undeliverable(undeliverable))
            },
            |e: &&str| if *e == "locked" { 3 } else { 9 },
        )
        .await;
        (code, opened.get(), passes.get())
    }

    #[tokio::test]
    async fn ingest_command_opens_the_store_then_the_sink_then_runs_the_pass() {
        assert_eq!(command_exit(Ok(()), Ok(()), 0).await, (0, true, 1));
        assert_eq!(
            command_exit(Ok(()), Ok(()), 2).await,
            (1, true, 1),
            "undeliverable records fail the run"
        );
        assert_eq!(
            command_exit(Err("locked"), Ok(()), 0).await,
            (3, false, 0),
            "a store that cannot be opened: the job's exit code, and no output is opened"
        );
        assert_eq!(
            command_exit(Ok(()), Err("no such directory"), 0).await,
            (2, true, 0),
            "a destination that cannot be opened is a setting to fix"
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
