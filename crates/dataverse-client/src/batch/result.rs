//! Matching the parts of a `$batch` response to the operations that were sent: one
//! [`BatchResult`] per operation, in order.

use super::Item;
use super::multipart::{PartResponse, ResponseItem};
use crate::Error;
use crate::operation::{ContentId, Operation};
use bytes::Bytes;
use client_core::ServiceError;
use http::HeaderMap;
use uuid::Uuid;

/// A successful inner response.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BatchResponse {
    /// The inner status (200, 201, 204, ...).
    pub status: u16,
    /// The inner headers.
    pub headers: HeaderMap,
    /// The inner body (empty for 204).
    pub body: Bytes,
}

impl BatchResponse {
    /// The body as JSON, `None` when empty.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&self.body)
            .map(Some)
            .map_err(|e| Error::decode("a $batch part's body", e))
    }

    /// The id of the row the operation created or changed (`OData-EntityId`).
    pub fn entity_id(&self) -> Option<Uuid> {
        self.headers
            .get("odata-entityid")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::write::entity_id)
    }
}

/// What happened to one operation of a batch.
#[derive(Debug)]
#[non_exhaustive]
pub enum BatchOutcome {
    /// It succeeded.
    Succeeded(BatchResponse),
    /// It failed; the error carries the status, code, message and request id
    /// ([`Error::service`]).
    Failed(Error),
    /// It ran in a change set that failed on another operation, so it was rolled back.
    RolledBack,
    /// It was not run: the batch stopped at an earlier failure.
    NotExecuted,
}

/// The result of one operation, in the order the operations were added.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchResult {
    /// The operation's position in the batch.
    pub index: usize,
    /// Its `Content-ID`, for change set operations.
    pub content_id: Option<ContentId>,
    /// What happened.
    pub outcome: BatchOutcome,
}

impl BatchResult {
    /// Whether the operation succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, BatchOutcome::Succeeded(_))
    }

    /// The response, if it succeeded.
    pub fn response(&self) -> Option<&BatchResponse> {
        match &self.outcome {
            BatchOutcome::Succeeded(r) => Some(r),
            _ => None,
        }
    }

    /// The error, if it failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.outcome {
            BatchOutcome::Failed(e) => Some(e),
            _ => None,
        }
    }
}

pub(super) fn part_outcome(
    op: &Operation,
    part: PartResponse,
    now: time::OffsetDateTime,
) -> BatchOutcome {
    if part.status.is_success() {
        BatchOutcome::Succeeded(BatchResponse {
            status: part.status.as_u16(),
            headers: part.headers,
            body: part.body,
        })
    } else {
        let e = ServiceError::from_parts(
            part.status.as_u16(),
            op.method.as_str(),
            &op.target,
            part.headers,
            &part.body,
            now,
        );
        BatchOutcome::Failed(Error::Http(client_core::Error::Service(Box::new(e))))
    }
}

/// One result per operation of `items`, from the response items (in order); operations with
/// no response were not executed. Returns whether any operation failed.
pub(super) fn match_results(
    items: &[Item],
    responses: Vec<ResponseItem>,
    first_index: usize,
    now: time::OffsetDateTime,
) -> Result<(Vec<BatchResult>, bool), Error> {
    if responses.len() > items.len() {
        return Err(Error::malformed_batch(format!(
            "{} responses for {} requests and change sets",
            responses.len(),
            items.len()
        )));
    }
    let mut results = Vec::new();
    let mut failed = false;
    let mut index = first_index;
    let mut responses = responses.into_iter();
    for item in items {
        let response = responses.next();
        match (item, response) {
            (Item::Single(op), None) => {
                results.push(result(index, op, BatchOutcome::NotExecuted));
                index += 1;
            }
            (Item::ChangeSet(ops), None) => {
                for op in ops {
                    results.push(result(index, op, BatchOutcome::NotExecuted));
                    index += 1;
                }
            }
            (Item::Single(op), Some(ResponseItem::Single(part))) => {
                let outcome = part_outcome(op, part, now);
                failed |= matches!(outcome, BatchOutcome::Failed(_));
                results.push(result(index, op, outcome));
                index += 1;
            }
            (Item::Single(_), Some(ResponseItem::ChangeSet(_))) => {
                return Err(Error::malformed_batch(format!(
                    "operation {index} is a single request but its response is a change set"
                )));
            }
            (Item::ChangeSet(ops), Some(response)) => {
                let parts = match response {
                    ResponseItem::ChangeSet(parts) => parts,
                    // A failed change set often answers with the failing part alone.
                    ResponseItem::Single(part) => vec![part],
                };
                let cs_failed = parts.iter().any(|p| !p.status.is_success());
                failed |= cs_failed;
                let mut outcomes: Vec<Option<BatchOutcome>> = ops.iter().map(|_| None).collect();
                let mut unmatched = Vec::new();
                for part in parts {
                    let pos = part.content_id.as_deref().and_then(|id| {
                        ops.iter()
                            .position(|op| op.content_id.is_some_and(|c| c.to_string() == id))
                    });
                    match pos {
                        Some(p) if outcomes[p].is_none() => {
                            outcomes[p] = Some(part_outcome(&ops[p], part, now));
                        }
                        _ => unmatched.push(part),
                    }
                }
                // Parts without a usable Content-ID fill the remaining operations in order.
                for part in unmatched {
                    let Some(p) = outcomes.iter().position(Option::is_none) else {
                        return Err(Error::malformed_batch(
                            "a change set response has more parts than operations",
                        ));
                    };
                    outcomes[p] = Some(part_outcome(&ops[p], part, now));
                }
                for (op, outcome) in ops.iter().zip(outcomes) {
                    let outcome = match outcome {
                        // Atomic: one failure undoes the others, even those that answered 2xx.
                        Some(BatchOutcome::Succeeded(_)) | None if cs_failed => {
                            BatchOutcome::RolledBack
                        }
                        Some(o) => o,
                        None => BatchOutcome::NotExecuted,
                    };
                    results.push(result(index, op, outcome));
                    index += 1;
                }
            }
        }
    }
    Ok((results, failed))
}

pub(super) fn result(index: usize, op: &Operation, outcome: BatchOutcome) -> BatchResult {
    BatchResult {
        index,
        content_id: op.content_id,
        outcome,
    }
}
