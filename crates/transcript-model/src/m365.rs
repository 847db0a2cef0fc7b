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
use crate::akto::{AktoRecord, RecordParts, encode_segment, json_object, to_json};
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
    /// `etag`: changes when the interaction changes.
    #[serde(default)]
    pub etag: Option<String>,
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
    pair_indices(items)
        .into_iter()
        .enumerate()
        .map(|(index, (request, response))| {
            let first = request.or(response).map(|i| &items[i]);
            Pair {
                index,
                request: request.map(|i| items[i].message()),
                response: response.map(|i| items[i].message()),
                tools: Vec::new(),
                session_id: first.and_then(|f| f.session_id.as_deref()),
                request_id: first.and_then(|f| f.request_id.as_deref()),
                app_class: request
                    .and_then(|i| items[i].app_class.as_deref())
                    .or_else(|| response.and_then(|i| items[i].app_class.as_deref())),
            }
        })
        .collect()
}

/// The pairs as (prompt, response) positions in `items`.
pub(crate) fn pair_indices(items: &[AiInteraction]) -> Vec<(Option<usize>, Option<usize>)> {
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
        pairs.extend(pair_sequence(sequence));
    }
    pairs
}

/// The `tag.source` of Microsoft 365 Copilot records.
pub const M365_TAG_SOURCE: &str = "M365_COPILOT";

/// The host Microsoft 365 Copilot records report unless configured otherwise, so Akto keeps
/// them apart from Copilot Studio traffic (`copilot.microsoft.com`).
pub const M365_DEFAULT_HOST: &str = "m365.copilot.microsoft.com";

/// The Copilot surface named by an `appClass`: its last segment after `Copilot.`
/// (`IPM.SkypeTeams.Message.Copilot.Word` is `Word`), the last dotted segment of any other
/// value, or `Unknown` when there is none.
///
/// ```
/// use transcript_model::m365::app_name;
/// assert_eq!(app_name(Some("IPM.SkypeTeams.Message.Copilot.BizChat")), "BizChat");
/// assert_eq!(app_name(Some("IPM.SkypeTeams.Message.Copilot.Excel")), "Excel");
/// assert_eq!(app_name(Some("Custom.Thing")), "Thing");
/// assert_eq!(app_name(None), "Unknown");
/// ```
pub fn app_name(app_class: Option<&str>) -> &str {
    let Some(class) = app_class.map(str::trim).filter(|c| !c.is_empty()) else {
        return "Unknown";
    };
    let tail = match class.find("Copilot.") {
        Some(i) => &class[i + "Copilot.".len()..],
        None => class.rsplit('.').next().unwrap_or(class),
    };
    if tail.is_empty() { "Unknown" } else { tail }
}

/// The user whose interactions are being turned into records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365User {
    /// The Entra object id.
    pub id: String,
    /// The display name, when known.
    pub display_name: Option<String>,
    /// The user principal name, when known.
    pub user_principal_name: Option<String>,
}

impl M365User {
    /// A user known by object id only.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the display name and UPN.
    #[must_use]
    pub fn with_names(mut self, display_name: Option<String>, upn: Option<String>) -> Self {
        self.display_name = display_name;
        self.user_principal_name = upn;
        self
    }
}

/// One interaction as delivered: its id and etag. A pair is new when one of its sides is new
/// or its etag changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct InteractionVersion {
    /// `id`.
    pub id: String,
    /// `etag`, when the service sent one.
    pub etag: Option<String>,
}

/// An Akto record built from one Microsoft 365 Copilot prompt/response pair, with what a
/// connector needs to de-duplicate and report it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct M365Record {
    /// The record.
    pub record: AktoRecord,
    /// The pair's key: the `requestId`, or the interaction id when there is none.
    pub key: String,
    /// The prompt's and the response's id and etag (one or two).
    pub parts: Vec<InteractionVersion>,
    /// The app ([`app_name`]).
    pub app: String,
    /// The pair's time, unix seconds (0 when neither side has one).
    pub time: i64,
}

/// Settings for Microsoft 365 Copilot records: Akto ids and host.
#[derive(Debug, Clone)]
pub struct M365Config {
    host: String,
    account_id: String,
    vxlan_id: String,
}

impl M365Config {
    /// A configuration with host [`M365_DEFAULT_HOST`].
    pub fn new(account_id: impl Into<String>, vxlan_id: impl Into<String>) -> Self {
        Self {
            host: M365_DEFAULT_HOST.to_owned(),
            account_id: account_id.into(),
            vxlan_id: vxlan_id.into(),
        }
    }

    /// Replaces the host reported in `requestHeaders`.
    #[must_use]
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// One record per pair of `user`'s interactions (paired by `requestId`, see the
    /// [module docs](self)), in pair order.
    ///
    /// - `path`: `/copilot/m365/{app}/conversation/{sessionId}/request/{requestId}` (app
    ///   lower-cased; segments percent-encoded; `-` for a missing session).
    /// - `requestPayload` / `responsePayload`: `{"message": text}` with HTML bodies converted
    ///   to text ([`crate::html_to_text`]), plus the side's `attachments`, `links`,
    ///   `contexts` and `mentions` verbatim when present (the data sources Copilot
    ///   referenced), `{}` for a missing side.
    /// - `requestHeaders`: `host`, `content-type`, `x-m365-user-id`, `x-m365-user-principal-name`,
    ///   `x-m365-user-name`, `x-m365-session-id`, `x-m365-request-id`, `x-m365-app-class`,
    ///   `x-m365-conversation-type`, `x-m365-locale` (each only when known).
    /// - `responseHeaders`: `content-type`, `x-m365-body-content-type` (of the response).
    /// - `time`: the prompt's `createdDateTime` (the response's without a prompt).
    /// - `tag`: `{"source":"M365_COPILOT","app":...,"app-class":...,"bot-name":"m365-copilot-{app}"}`.
    ///
    /// ```
    /// use transcript_model::m365::{M365Config, M365User, parse_interactions};
    /// let items = parse_interactions(br#"[
    ///   {"id":"1","requestId":"r","sessionId":"s","appClass":"IPM.SkypeTeams.Message.Copilot.Word",
    ///    "interactionType":"userPrompt","createdDateTime":"2025-01-01T10:00:00Z","body":{"contentType":"text","content":"Summarise"}},
    ///   {"id":"2","requestId":"r","sessionId":"s","appClass":"IPM.SkypeTeams.Message.Copilot.Word",
    ///    "interactionType":"aiResponse","createdDateTime":"2025-01-01T10:00:03Z","body":{"contentType":"html","content":"<p>Done &amp; dusted</p>"},
    ///    "contexts":[{"contextReference":"https://x/doc.docx","displayName":"doc.docx"}]}
    /// ]"#)?;
    /// let records = M365Config::new("1000000", "0").records(&M365User::new("u1"), &items);
    /// let r = &records[0].record;
    /// assert_eq!(r.path, "/copilot/m365/word/conversation/s/request/r");
    /// assert_eq!(r.request_payload, r#"{"message":"Summarise"}"#);
    /// assert_eq!(r.response_payload, r#"{"message":"Done & dusted","contexts":[{"contextReference":"https://x/doc.docx","displayName":"doc.docx"}]}"#);
    /// assert_eq!(r.tag, r#"{"source":"M365_COPILOT","app":"Word","app-class":"IPM.SkypeTeams.Message.Copilot.Word","bot-name":"m365-copilot-word"}"#);
    /// assert_eq!(r.time, "1735725600");
    /// # Ok::<(), transcript_model::PageError>(())
    /// ```
    pub fn records(&self, user: &M365User, items: &[AiInteraction]) -> Vec<M365Record> {
        pair_indices(items)
            .into_iter()
            .map(|(request, response)| {
                let prompt = request.map(|i| &items[i]);
                let answer = response.map(|i| &items[i]);
                self.record(user, prompt, answer)
            })
            .collect()
    }

    fn record(
        &self,
        user: &M365User,
        prompt: Option<&AiInteraction>,
        answer: Option<&AiInteraction>,
    ) -> M365Record {
        let first = prompt.or(answer);
        let field = |f: fn(&AiInteraction) -> Option<&str>| {
            prompt.and_then(f).or_else(|| answer.and_then(f))
        };
        let app_class = field(|i| i.app_class.as_deref());
        let app = app_name(app_class).to_owned();
        let session = field(|i| i.session_id.as_deref());
        let request_id = field(|i| i.request_id.as_deref());
        let key = request_id
            .or_else(|| first.and_then(|f| f.id.as_deref()))
            .unwrap_or("-")
            .to_owned();
        let time = first
            .and_then(|f| f.created_date_time)
            .or_else(|| answer.and_then(|a| a.created_date_time))
            .map_or(0, OffsetDateTime::unix_timestamp);
        let request_headers = json_object(&[
            ("host", Some(self.host.as_str())),
            ("content-type", Some("application/json")),
            ("x-m365-user-id", Some(user.id.as_str())),
            (
                "x-m365-user-principal-name",
                user.user_principal_name.as_deref(),
            ),
            ("x-m365-user-name", user.display_name.as_deref()),
            ("x-m365-session-id", session),
            ("x-m365-request-id", request_id),
            ("x-m365-app-class", app_class),
            (
                "x-m365-conversation-type",
                field(|i| i.conversation_type.as_deref()),
            ),
            ("x-m365-locale", field(|i| i.locale.as_deref())),
        ]);
        let response_headers = json_object(&[
            ("content-type", Some("application/json")),
            (
                "x-m365-body-content-type",
                answer
                    .and_then(|a| a.body.as_ref())
                    .and_then(|b| b.content_type.as_deref()),
            ),
        ]);
        let tag = json_object(&[
            ("source", Some(M365_TAG_SOURCE)),
            ("app", Some(app.as_str())),
            ("app-class", app_class),
            (
                "bot-name",
                Some(crate::sanitize_bot_name(&format!("m365-copilot-{app}")).as_str()),
            ),
        ]);
        let parts = [prompt, answer]
            .into_iter()
            .flatten()
            .filter_map(|i| {
                i.id.as_ref().map(|id| InteractionVersion {
                    id: id.clone(),
                    etag: i.etag.clone(),
                })
            })
            .collect();
        let fields = RecordParts {
            path: format!(
                "/copilot/m365/{}/conversation/{}/request/{}",
                encode_segment(&app.to_ascii_lowercase(), b":@"),
                encode_segment(session.unwrap_or("-"), b":@"),
                encode_segment(&key, b":@")
            ),
            request_headers,
            response_headers,
            request_payload: m365_payload(prompt),
            response_payload: m365_payload(answer),
            time,
            status_code: 200,
            status: "OK",
            tag,
        };
        let record = AktoRecord::mirrored(fields, &self.account_id, &self.vxlan_id);
        M365Record {
            record,
            key,
            parts,
            app,
            time,
        }
    }
}

/// The text of an interaction's body: HTML converted, text as is.
pub fn body_text(item: &AiInteraction) -> String {
    let Some(body) = &item.body else {
        return String::new();
    };
    let content = body.content.as_deref().unwrap_or_default();
    match body.content_type.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("html") => crate::html_to_text(content),
        _ => content.to_owned(),
    }
}

fn m365_payload(item: Option<&AiInteraction>) -> String {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        attachments: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        links: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        contexts: Option<&'a RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        mentions: Option<&'a RawValue>,
    }
    let Some(i) = item else {
        return "{}".to_owned();
    };
    fn present(v: &Option<Box<RawValue>>) -> Option<&RawValue> {
        v.as_deref().filter(|r| !is_empty_json(r))
    }
    to_json(&Payload {
        message: body_text(i),
        attachments: present(&i.attachments),
        links: present(&i.links),
        contexts: present(&i.contexts),
        mentions: present(&i.mentions),
    })
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

    #[test]
    fn records_per_pair_with_app_html_data_sources_and_versions() {
        let items = parse_interactions(
            br#"[
          {"id":"p1","etag":"e1","requestId":"R/1","sessionId":"19:a b@thread.v2","appClass":"IPM.SkypeTeams.Message.Copilot.Teams",
           "interactionType":"userPrompt","createdDateTime":"2025-01-01T10:00:00Z","locale":"en-us","conversationType":"appchat",
           "body":{"contentType":"text","content":"What did Ann say?"},
           "mentions":[{"mentionId":0,"mentionText":"Ann"}]},
          {"id":"a1","etag":"e2","requestId":"R/1","sessionId":"19:a b@thread.v2","appClass":"IPM.SkypeTeams.Message.Copilot.Teams",
           "interactionType":"aiResponse","createdDateTime":"2025-01-01T10:00:04Z",
           "body":{"contentType":"html","content":"<div>She said <i>yes</i><br>twice</div>"},
           "attachments":[{"attachmentId":"x","name":"card"}],"links":[{"linkUrl":"https://l","displayName":"L"}],
           "contexts":[],"mentions":null},
          {"id":"p2","requestId":"R2","sessionId":"s2","appClass":"IPM.SkypeTeams.Message.Copilot.BizChat",
           "interactionType":"userPrompt","createdDateTime":"2025-01-01T11:00:00Z","body":{"content":"unanswered"}},
          {"id":"z9","interactionType":"aiResponse","body":{"contentType":"HTML","content":"&lt;orphan&gt;"}}
        ]"#,
        )
        .unwrap();
        let user =
            M365User::new("u-1").with_names(Some("Ann Lee".into()), Some("ann@contoso.com".into()));
        let config = M365Config::new("1000000", "0");
        let records = config.records(&user, &items);
        assert_eq!(records.len(), 3);

        let teams = &records[0];
        assert_eq!(teams.app, "Teams");
        assert_eq!(teams.key, "R/1");
        assert_eq!(
            teams.record.path,
            "/copilot/m365/teams/conversation/19:a%20b@thread.v2/request/R%2F1"
        );
        assert_eq!(
            teams.record.request_payload,
            r#"{"message":"What did Ann say?","mentions":[{"mentionId":0,"mentionText":"Ann"}]}"#
        );
        assert_eq!(
            teams.record.response_payload,
            r#"{"message":"She said yes\ntwice","attachments":[{"attachmentId":"x","name":"card"}],"links":[{"displayName":"L","linkUrl":"https://l"}]}"#
        );
        assert_eq!(
            teams.record.request_headers,
            r#"{"host":"m365.copilot.microsoft.com","content-type":"application/json","x-m365-user-id":"u-1","x-m365-user-principal-name":"ann@contoso.com","x-m365-user-name":"Ann Lee","x-m365-session-id":"19:a b@thread.v2","x-m365-request-id":"R/1","x-m365-app-class":"IPM.SkypeTeams.Message.Copilot.Teams","x-m365-conversation-type":"appchat","x-m365-locale":"en-us"}"#
        );
        assert_eq!(
            teams.record.response_headers,
            r#"{"content-type":"application/json","x-m365-body-content-type":"html"}"#
        );
        assert_eq!(teams.time, 1_735_725_600);
        assert_eq!(
            teams.parts,
            vec![
                InteractionVersion {
                    id: "p1".into(),
                    etag: Some("e1".into())
                },
                InteractionVersion {
                    id: "a1".into(),
                    etag: Some("e2".into())
                },
            ]
        );
        let tag: serde_json::Value = serde_json::from_str(&teams.record.tag).unwrap();
        assert_eq!(tag["source"], "M365_COPILOT");
        assert_eq!(tag["bot-name"], "m365-copilot-teams");

        let chat = &records[1];
        assert_eq!(chat.app, "BizChat");
        assert_eq!(chat.record.response_payload, "{}");
        assert_eq!(chat.parts.len(), 1);
        assert!(chat.parts[0].etag.is_none());

        let orphan = &records[2];
        assert_eq!(orphan.app, "Unknown");
        assert_eq!(orphan.key, "z9");
        assert_eq!(orphan.record.request_payload, "{}");
        assert_eq!(orphan.record.response_payload, r#"{"message":"<orphan>"}"#);
        assert_eq!(
            orphan.record.path,
            "/copilot/m365/unknown/conversation/-/request/z9"
        );
        assert_eq!(orphan.time, 0);

        // Deterministic, and with the host replaced.
        assert_eq!(config.records(&user, &items), records);
        let other = config
            .clone()
            .with_host("copilot.contoso.com")
            .records(&user, &items);
        assert!(
            other[0]
                .record
                .request_headers
                .contains("\"host\":\"copilot.contoso.com\"")
        );
        // Every record is a valid Akto record: every field a string, the headers JSON.
        for r in &records {
            let v = serde_json::to_value(&r.record).unwrap();
            assert!(
                v.as_object()
                    .unwrap()
                    .values()
                    .all(serde_json::Value::is_string)
            );
            for f in [
                "requestHeaders",
                "responseHeaders",
                "requestPayload",
                "responsePayload",
                "tag",
            ] {
                serde_json::from_str::<serde_json::Value>(v[f].as_str().unwrap()).unwrap();
            }
        }
    }
}
