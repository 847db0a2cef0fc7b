//! Microsoft 365 Copilot interactions (Graph `aiInteraction`), paired like transcripts.
//!
//! A prompt (`interactionType` `userPrompt`) and its responses share a `requestId`. Items are
//! ordered by `createdDateTime` (input order breaks ties and places items without a time last),
//! grouped by `requestId` in order of first appearance, and each group is paired with the same
//! rules as transcripts ([`crate::pairing`]): every response pairs with the latest prompt before
//! it, a response with no prompt has no request, a prompt with no response has no response.
//! Items without a `requestId` form a group of their own. Any `interactionType` other than
//! `userPrompt` counts as the agent side.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::activity::is_empty_json;
use crate::error::PageError;
use crate::pairing::{Message, Pair, Side, pair_sequence};

/// `body` of an interaction.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ItemBody {
    /// `text` or `html`.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The prompt or response text.
    #[serde(default)]
    pub content: Option<String>,
}

/// One Graph `aiInteraction`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AiInteraction {
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `sessionId`: the Copilot conversation.
    #[serde(default)]
    pub session_id: Option<String>,
    /// `requestId`: joins a prompt to its responses.
    #[serde(default)]
    pub request_id: Option<String>,
    /// `appClass`: the Copilot surface (for example `IPM.SkypeTeams.Message.Copilot.Word`).
    #[serde(default)]
    pub app_class: Option<String>,
    /// `interactionType`: `userPrompt` or `aiResponse`.
    #[serde(default)]
    pub interaction_type: Option<String>,
    /// `conversationType`.
    #[serde(default)]
    pub conversation_type: Option<String>,
    /// `createdDateTime`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_date_time: Option<OffsetDateTime>,
    /// `locale`.
    #[serde(default)]
    pub locale: Option<String>,
    /// `body`.
    #[serde(default)]
    pub body: Option<ItemBody>,
    /// `from` (an identity set), verbatim.
    #[serde(default)]
    pub from: Option<Box<RawValue>>,
    /// `attachments`, verbatim.
    #[serde(default)]
    pub attachments: Option<Box<RawValue>>,
    /// `links`, verbatim.
    #[serde(default)]
    pub links: Option<Box<RawValue>>,
    /// `mentions`, verbatim.
    #[serde(default)]
    pub mentions: Option<Box<RawValue>>,
    /// `contexts`, verbatim.
    #[serde(default)]
    pub contexts: Option<Box<RawValue>>,
}

impl AiInteraction {
    /// Whether this is the user's prompt.
    pub fn is_prompt(&self) -> bool {
        self.interaction_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("userPrompt"))
    }

    fn message(&self) -> Message<'_> {
        Message {
            id: self.id.as_deref(),
            timestamp: self.created_date_time.map(OffsetDateTime::unix_timestamp),
            text: self.body.as_ref().and_then(|b| b.content.as_deref()),
            attachments: self.attachments.as_deref().filter(|a| !is_empty_json(a)),
            ..Message::default()
        }
    }
}

/// Parses a Graph page of interactions (`{"value": [...]}`) or a JSON array of them.
///
/// # Errors
/// A [`PageError`] when the input is not JSON or not such a page (including an item whose
/// fields have the wrong types).
pub fn parse_interactions(json: &[u8]) -> Result<Vec<AiInteraction>, PageError> {
    let page: serde_json::Value = serde_json::from_slice(json).map_err(PageError::from_json)?;
    let items = match page {
        serde_json::Value::Object(mut map) => map.remove("value").ok_or(PageError::NoValueArray)?,
        other => other,
    };
    serde_json::from_value(items).map_err(PageError::from_json)
}

/// Pairs interactions by `requestId`; see the [module docs](self).
pub fn pair_interactions(items: &[AiInteraction]) -> Vec<Pair<'_>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|&i| {
        (
            items[i].created_date_time.is_none(),
            items[i].created_date_time,
            i,
        )
    });

    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_request: HashMap<&str, usize> = HashMap::new();
    for i in order {
        match items[i].request_id.as_deref() {
            Some(r) => match by_request.get(r) {
                Some(&g) => groups[g].push(i),
                None => {
                    by_request.insert(r, groups.len());
                    groups.push(vec![i]);
                }
            },
            None => groups.push(vec![i]),
        }
    }

    let mut pairs = Vec::new();
    for group in groups {
        let sequence = group.into_iter().map(|i| {
            let side = if items[i].is_prompt() {
                Side::Request
            } else {
                Side::Response
            };
            (side, i)
        });
        for (request, response) in pair_sequence(sequence) {
            let first = request.or(response).map(|i| &items[i]);
            pairs.push(Pair {
                index: pairs.len(),
                request: request.map(|i| items[i].message()),
                response: response.map(|i| items[i].message()),
                tools: Vec::new(),
                session_id: first.and_then(|f| f.session_id.as_deref()),
                request_id: first.and_then(|f| f.request_id.as_deref()),
                app_class: request
                    .and_then(|i| items[i].app_class.as_deref())
                    .or_else(|| response.and_then(|i| items[i].app_class.as_deref())),
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"{"@odata.nextLink":"x","value":[
      {"id":"r2","requestId":"B","sessionId":"s1","appClass":"IPM.SkypeTeams.Message.Copilot.Teams",
       "interactionType":"aiResponse","createdDateTime":"2025-01-01T10:00:09Z",
       "body":{"contentType":"text","content":"answer B"},"attachments":[]},
      {"id":"p1","requestId":"A","sessionId":"s1","appClass":"IPM.SkypeTeams.Message.Copilot.Teams",
       "interactionType":"userPrompt","createdDateTime":"2025-01-01T10:00:00Z",
       "body":{"contentType":"text","content":"question A"}},
      {"id":"r1","requestId":"A","sessionId":"s1","appClass":"IPM.SkypeTeams.Message.Copilot.Teams",
       "interactionType":"aiResponse","createdDateTime":"2025-01-01T10:00:02.5Z",
       "body":{"contentType":"html","content":"<p>answer A</p>"},
       "attachments":[{"attachmentId":"1","name":"doc.docx"}]},
      {"id":"p2","requestId":"B","sessionId":"s1","interactionType":"userPrompt",
       "createdDateTime":"2025-01-01T10:00:05Z","body":{"content":"question B"}},
      {"id":"p3","requestId":"C","sessionId":"s1","interactionType":"userPrompt",
       "createdDateTime":"2025-01-01T10:01:00Z","body":{"content":"unanswered"}},
      {"id":"r9","sessionId":"s2","interactionType":"aiResponse","body":{"content":"orphan"}}
    ]}"#;

    #[test]
    fn pairs_by_request_id() {
        let items = parse_interactions(PAGE.as_bytes()).unwrap();
        let pairs = pair_interactions(&items);
        let got: Vec<_> = pairs
            .iter()
            .map(|p| {
                (
                    p.index,
                    p.request.and_then(|m| m.text),
                    p.response.and_then(|m| m.text),
                    p.request_id,
                    p.session_id,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    0,
                    Some("question A"),
                    Some("<p>answer A</p>"),
                    Some("A"),
                    Some("s1")
                ),
                (
                    1,
                    Some("question B"),
                    Some("answer B"),
                    Some("B"),
                    Some("s1")
                ),
                (2, Some("unanswered"), None, Some("C"), Some("s1")),
                (3, None, Some("orphan"), None, Some("s2")),
            ]
        );
        assert_eq!(
            pairs[0].app_class,
            Some("IPM.SkypeTeams.Message.Copilot.Teams")
        );
        assert_eq!(
            pairs[1].app_class,
            Some("IPM.SkypeTeams.Message.Copilot.Teams")
        );
        assert_eq!(
            pairs[0].response.unwrap().attachments.map(RawValue::get),
            Some(r#"[{"attachmentId":"1","name":"doc.docx"}]"#)
        );
        assert!(pairs[1].response.unwrap().attachments.is_none());
        assert_eq!(pairs[0].request.unwrap().timestamp, Some(1_735_725_600));
    }

    #[test]
    fn from_value_and_errors() {
        let v: serde_json::Value = serde_json::from_str(PAGE).unwrap();
        let items: Vec<AiInteraction> = serde_json::from_value(v["value"].clone()).unwrap();
        assert_eq!(items.len(), 6);
        assert!(matches!(
            parse_interactions(b"[1"),
            Err(PageError::NotJson { .. })
        ));
        assert!(matches!(
            parse_interactions(b"{}"),
            Err(PageError::NoValueArray)
        ));
        assert!(matches!(
            parse_interactions(b"[7]"),
            Err(PageError::UnexpectedShape { .. })
        ));
    }
}
