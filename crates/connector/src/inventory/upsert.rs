//! Writing rows into the eight tables of an inventory environment: `PATCH` by alternate key
//! (an upsert: created or updated, so a scan run twice never duplicates a row), sent as
//! `$batch` change sets of at most [`MAX_CHANGE_SET`] operations, a few batches at a time.

use std::collections::BTreeMap;

use dataverse_client::{Batch, BatchMode, DataverseClient, FilterValue, Key, UpsertOptions};
use futures::StreamExt;
use inventory_model::{Encoding, InventoryRow, InventoryRows};
use serde::Serialize;
use serde_json::{Map, Value};

/// The most operations Dataverse takes in one change set (and one batch).
pub const MAX_CHANGE_SET: usize = 1000;
/// Operations per change set by default: Microsoft advises several small batches over one huge
/// one, as each batch still counts against the service's time limits.
pub const DEFAULT_CHANGE_SET: usize = 100;
/// Attempts per change set when its failing request failed for a passing reason (an inner
/// `429` with its `Retry-After`, a `5xx`): the service rolled the change set back, and an
/// upsert by key can be sent again safely. (The pipeline already retries the `$batch` request
/// itself when the whole request is throttled.)
pub const MAX_CHANGE_SET_ATTEMPTS: u32 = 4;

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WriteReport {
    /// Upserts sent.
    pub operations: usize,
    /// `$batch` requests sent.
    pub batches: usize,
    /// Rows written per table (logical name).
    pub written: BTreeMap<&'static str, usize>,
    /// Rows that could not be written, with the service's reason.
    pub failed: Vec<String>,
    /// Rows without an alternate key (never produced by the scan), not written.
    pub without_key: usize,
}

impl WriteReport {
    /// Whether every row was written.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.without_key == 0
    }
}

/// One upsert.
#[derive(Debug, Clone)]
struct Op {
    table: &'static str,
    entity_set: &'static str,
    key: Vec<(&'static str, String)>,
    body: Map<String, Value>,
}

fn ops_of<R: InventoryRow>(rows: &[R], out: &mut Vec<Op>, without_key: &mut usize) {
    for r in rows {
        let Some(key) = r.key_values() else {
            *without_key += 1;
            continue;
        };
        let mut body = r.to_json(Encoding::Dataverse);
        // The key is in the address; Dataverse refuses it repeated in the body.
        for (c, _) in &key {
            body.remove(*c);
        }
        out.push(Op {
            table: R::TABLE.logical_name,
            entity_set: R::TABLE.entity_set_name,
            key,
            body,
        });
    }
}

/// The upserts of `rows`, environments first, then agents, then the tables that refer to them.
fn operations(rows: &InventoryRows) -> (Vec<Op>, usize) {
    let mut out = Vec::new();
    let mut without_key = 0;
    ops_of(&rows.environments, &mut out, &mut without_key);
    ops_of(&rows.agents, &mut out, &mut without_key);
    ops_of(&rows.features, &mut out, &mut without_key);
    ops_of(&rows.auth_shares, &mut out, &mut without_key);
    ops_of(&rows.usage, &mut out, &mut without_key);
    ops_of(&rows.compliance, &mut out, &mut without_key);
    ops_of(&rows.work_iq, &mut out, &mut without_key);
    ops_of(&rows.billing, &mut out, &mut without_key);
    (out, without_key)
}

fn key_text(key: &[(&'static str, String)]) -> String {
    key.iter()
        .map(|(c, v)| format!("{c}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Sends one change set, again while its failure is passing (see
/// [`MAX_CHANGE_SET_ATTEMPTS`]), waiting on the client's clock for the inner part's
/// `Retry-After` (else 2, 4, 8 s).
/// Returns the `$batch` requests sent and the outcome.
async fn send_change_set(
    client: &DataverseClient,
    batch: Batch,
    operations: usize,
) -> (usize, Result<(), String>) {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let sent = attempt as usize;
        let results = match client.batch(batch.clone(), BatchMode::StopOnError).await {
            Ok(results) => results,
            Err(e) => return (sent, Err(e.to_string())),
        };
        let failure = results.iter().find_map(|r| r.error());
        match failure {
            None if results.len() == operations && results.iter().all(|r| r.is_success()) => {
                return (sent, Ok(()));
            }
            None => return (sent, Err("the change set was not executed".to_owned())),
            Some(e)
                if (e.is_throttled() || e.is_retryable()) && attempt < MAX_CHANGE_SET_ATTEMPTS =>
            {
                let wait = e
                    .retry_after()
                    .unwrap_or_else(|| std::time::Duration::from_secs(1 << attempt));
                tracing::info!(attempt, wait_ms = wait.as_millis() as u64, error = %e, "change set failed for a passing reason: sending it again");
                client.pipeline().clock().sleep(wait).await;
            }
            Some(e) => return (sent, Err(e.to_string())),
        }
    }
}

/// Upserts `rows` into the inventory environment behind `client`: change sets of
/// `change_set` operations (1..=[`MAX_CHANGE_SET`]), `concurrency` batches at a time. A failed
/// operation is reported with its reason (its change set is rolled back by the service and
/// reported whole); other change sets still go.
pub async fn write_rows(
    client: &DataverseClient,
    rows: &InventoryRows,
    change_set: usize,
    concurrency: usize,
) -> WriteReport {
    let (ops, without_key) = operations(rows);
    let size = change_set.clamp(1, MAX_CHANGE_SET);
    let mut report = WriteReport {
        without_key,
        ..WriteReport::default()
    };
    let chunks: Vec<Vec<Op>> = ops.chunks(size).map(<[Op]>::to_vec).collect();
    let results: Vec<(Vec<Op>, usize, Result<(), String>)> = futures::stream::iter(chunks)
        .map(|chunk| async move {
            let mut batch = Batch::new();
            {
                let mut cs = batch.change_set();
                for op in &chunk {
                    let key = Key::alternate(
                        op.key
                            .iter()
                            .map(|(c, v)| (*c, FilterValue::from(v.as_str()))),
                    );
                    cs.upsert(
                        op.entity_set,
                        &key,
                        Value::Object(op.body.clone()),
                        &UpsertOptions::new(),
                    );
                }
            }
            let (sent, outcome) = send_change_set(client, batch, chunk.len()).await;
            (chunk, sent, outcome)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (chunk, sent, outcome) in results {
        report.batches += sent;
        report.operations += chunk.len();
        match outcome {
            Ok(_) => {
                for op in &chunk {
                    *report.written.entry(op.table).or_insert(0) += 1;
                }
            }
            Err(reason) => {
                // A change set is atomic: none of its rows were written.
                for op in &chunk {
                    report
                        .failed
                        .push(format!("{} ({}): {reason}", op.table, key_text(&op.key)));
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use inventory_model::{AgentRow, EnvironmentRow};

    #[test]
    fn keys_go_in_the_address_not_the_body() {
        let mut rows = InventoryRows::default();
        rows.agents.push(AgentRow::new("a'1", "env-1"));
        rows.environments.push(EnvironmentRow::new("env-1"));
        let (ops, without) = operations(&rows);
        assert_eq!(without, 0);
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].table, "fsi_caienvironment");
        let agent = &ops[1];
        assert_eq!(agent.entity_set, "fsi_copilotagents");
        assert_eq!(
            agent.key,
            vec![
                ("fsi_agentid", "a'1".to_owned()),
                ("fsi_environmentid", "env-1".to_owned())
            ]
        );
        assert!(!agent.body.contains_key("fsi_agentid"));
        assert!(!agent.body.contains_key("fsi_environmentid"));
        assert!(agent.body.contains_key("fsi_ownerupn"));
    }
}
