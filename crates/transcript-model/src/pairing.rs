//! User-prompt / agent-response pairs and the per-transcript facts beside them.
//!
//! # Pairing rules
//!
//! Only activities of type `message` take part; events, traces and every other type are not
//! messages (they feed [`TranscriptFacts`] and [`ToolInvocation`]s instead). Walking the messages
//! in array order:
//!
//! - a message from the user (role `1` / `"user"`) opens a turn;
//! - a message from the agent (role `0` / `"bot"`) pairs with the most recent user message, so
//!   several replies to one prompt give several pairs with the same request;
//! - a message whose role is missing or unknown (`"skill"`, `7`, `null`, no `from`) is
//!   neither: it takes part in no pair and is reported as a [`RowWarning::UnknownRole`].
//!   Unusual spellings of the two roles (`1.0`, `"1"`, `"User"`) are read by their meaning and
//!   reported as [`RowWarning::OddRole`];
//! - an agent message with no user message before it (a greeting) is a pair with no request;
//! - a user message that no agent message follows before the next user message (or the end) is
//!   a pair with no response.
//!
//! So every message of the user or the agent appears in at least one pair, a user message
//! appears once per reply (once when there is none) and pairs come out in activity order. Pairing is positional, as Akto's
//! published rules are; `replyToId` is used only to tell which prompt a planner step served.
//!
//! # Messages without text
//!
//! Nothing a message carries is dropped, whether or not it has text:
//!
//! - **Card-only replies** (no `text`, attachments such as
//!   `application/vnd.microsoft.card.adaptive` or `.oauth`) are agent messages like any other;
//!   their [`Message::attachments`] carry the cards verbatim. [`Message::text`] is `None`.
//! - **postBack clicks** (a user message with `channelData.postBack: true`, typically without
//!   text, the clicked card's data in `value`) are user messages: they open a turn and pair with
//!   the replies that follow. [`Message::is_post_back`] is set and [`Message::value`] carries the
//!   submitted data.
//! - **Autonomous-trigger messages** (a user-role message with `channelData.triggerTest`, or any
//!   user message on channel `pva-autonomous`) are the trigger's payload sent to the agent as
//!   the user: they are requests like typed prompts, flagged by
//!   [`Message::is_autonomous_trigger`], and they classify the conversation as
//!   [`ConversationKind::Autonomous`].
//! - Duplicate greetings (the same text sent twice) are two messages and give two pairs.
//!
//! # Timestamps
//!
//! A message's timestamp may be seconds or milliseconds since the epoch or ISO text (see the
//! `timestamp` field of [`crate::Activity`]). One that cannot be read, is before 2000, or is
//! more than a day after "now" ([`PairOptions::now`]; without it, after the year 9999) is
//! reported as a warning, and the message takes the row's `conversationstarttime` (else
//! `createdon`) instead.

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::activity::{Activity, ActivityType, Role, is_empty_json};
use crate::transcript::Transcript;
use crate::view::{ActivityView, Kind};
use crate::warning::RowWarning;

/// 2000-01-01T00:00:00Z: message timestamps before it are not believed.
pub(crate) const EARLIEST_TIMESTAMP: i64 = 946_684_800;

/// Settings of pairing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PairOptions {
    now: Option<OffsetDateTime>,
}

impl PairOptions {
    /// Defaults: no "now", so only timestamps before 2000 or after the year 9999 are out of
    /// range.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current time (from the caller's clock): message timestamps more than a day after it
    /// are out of range.
    #[must_use]
    pub fn now(mut self, now: OffsetDateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The latest believable timestamp, in unix seconds: a day after now, and never past the
    /// last second of the year 9999 (no date-time library can show a later one).
    fn latest(&self) -> i64 {
        const LAST_OF_9999: i64 = 253_402_300_799;
        self.now
            .map_or(LAST_OF_9999, |n| n.unix_timestamp().saturating_add(86_400))
            .min(LAST_OF_9999)
    }
}

/// What pairing needs to know about the row beyond its activities.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowTimes {
    /// `conversationstarttime` (else `createdon`) in unix seconds: the time of a message whose
    /// own timestamp is unusable.
    pub(crate) start: Option<i64>,
    /// The latest believable timestamp.
    pub(crate) latest: i64,
}

impl RowTimes {
    pub(crate) fn new(
        start: Option<OffsetDateTime>,
        created: Option<OffsetDateTime>,
        options: &PairOptions,
    ) -> Self {
        Self {
            start: start.or(created).map(OffsetDateTime::unix_timestamp),
            latest: options.latest(),
        }
    }
}

/// One side of a pair: a message as the security analysis needs it. Borrowed from its source.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Message<'a> {
    /// The activity's (or interaction's) id.
    pub id: Option<&'a str>,
    /// Unix seconds.
    pub timestamp: Option<i64>,
    /// The text; `None` when the message has none (card-only, postBack, redacted).
    pub text: Option<&'a str>,
    /// Attachments, verbatim, when present and non-empty.
    pub attachments: Option<&'a RawValue>,
    /// The activity's `value` (for example a postBack's submitted card data), when present and
    /// non-empty.
    pub value: Option<&'a RawValue>,
    /// Position of the activity in the transcript's activity array (transcripts only).
    pub activity_index: Option<usize>,
    /// A user click on a card button (`channelData.postBack: true`).
    pub is_post_back: bool,
    /// An autonomous trigger's payload (`channelData.triggerTest`, or channel `pva-autonomous`).
    pub is_autonomous_trigger: bool,
}

/// A user prompt and the agent response it got. At least one side is present.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Pair<'a> {
    /// Position of the pair within its conversation, from 0.
    pub index: usize,
    /// The user's message; `None` for a greeting or other unprompted agent message.
    pub request: Option<Message<'a>>,
    /// The agent's message; `None` when the prompt got no reply.
    pub response: Option<Message<'a>>,
    /// Tools, knowledge sources and topics the agent's planner invoked for this pair.
    pub tools: Vec<ToolInvocation>,
    /// The conversation (transcripts) or Copilot session (Microsoft 365 Copilot).
    pub session_id: Option<&'a str>,
    /// Microsoft 365 Copilot `requestId` joining prompt and response.
    pub request_id: Option<&'a str>,
    /// Microsoft 365 Copilot `appClass` (the Copilot surface).
    pub app_class: Option<&'a str>,
}

impl Pair<'_> {
    /// The pair's time: the request's timestamp, or the response's when there is no request
    /// (or the request has none).
    pub fn timestamp(&self) -> Option<i64> {
        self.request
            .and_then(|m| m.timestamp)
            .or_else(|| self.response.and_then(|m| m.timestamp))
    }
}

/// What kind of conversation a transcript records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ConversationKind {
    /// A maker testing the agent in Copilot Studio's test pane (`ConversationInfo.isDesignMode`
    /// or channel `pva-studio`).
    Design,
    /// An evaluation run (channel `pva-maker-evaluation`). Evaluation runs on other channels
    /// are indistinguishable from test-pane sessions and classify as [`ConversationKind::Design`].
    Evaluation,
    /// An autonomous run started by a trigger (channel `pva-autonomous`, or a user message with
    /// `channelData.triggerTest`).
    Autonomous,
    /// A conversation with a real user on a published channel.
    #[default]
    Chat,
}

impl ConversationKind {
    /// A stable lower-case label (`design`, `evaluation`, `autonomous`, `chat`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Design => "design",
            ConversationKind::Evaluation => "evaluation",
            ConversationKind::Autonomous => "autonomous",
            ConversationKind::Chat => "chat",
        }
    }
}

/// The `SessionInfo` trace: how the session ended.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SessionInfo {
    /// `outcome`: `Resolved`, `Escalated`, `Abandoned`, `None`, or a newer value, verbatim.
    #[serde(default)]
    pub outcome: Option<String>,
    /// `type`: `Engaged` or `Unengaged`, verbatim.
    #[serde(rename = "type", default)]
    pub engagement: Option<String>,
    /// `turnCount`.
    #[serde(default)]
    pub turn_count: Option<u64>,
    /// `impliedSuccess`.
    #[serde(default)]
    pub implied_success: Option<bool>,
    /// `outcomeReason`, when present.
    #[serde(default)]
    pub outcome_reason: Option<String>,
}

/// Per-transcript facts an analyst needs beside the pairs.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TranscriptFacts {
    /// The channel (`msteams`, `webchat`, `pva-studio`, ...): the first message's `channelId`,
    /// or the first activity's that has one.
    pub channel: Option<String>,
    /// The user's Entra object id (`from.aadObjectId` of the first user activity carrying one).
    pub user_aad_object_id: Option<String>,
    /// Design, evaluation, autonomous or chat.
    pub kind: ConversationKind,
    /// `ConversationInfo.isDesignMode`.
    pub is_design_mode: Option<bool>,
    /// `ConversationInfo.locale`.
    pub locale: Option<String>,
    /// The last `SessionInfo` trace; `None` when there is none or it does not decode (the
    /// trace itself stays in the transcript's activities).
    pub session: Option<SessionInfo>,
}

/// What a planner step invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ToolKind {
    /// A knowledge source search (`*.knowledge.*`, `UniversalSearchTool`, or a step whose
    /// `type` mentions knowledge).
    Knowledge,
    /// A topic (`*.topic.*`).
    Topic,
    /// An action: connector, flow, MCP tool, prompt, connected agent, component.
    Tool,
}

impl ToolKind {
    /// A stable lower-case label.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolKind::Knowledge => "knowledge",
            ToolKind::Topic => "topic",
            ToolKind::Tool => "tool",
        }
    }
}

/// One planner step (`DynamicPlanStepTriggered`, completed by its `BindUpdate` and `Finished`
/// events).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ToolInvocation {
    /// Knowledge, topic or tool.
    pub kind: ToolKind,
    /// `taskDialogId`: the schema name of the tool, topic or knowledge search.
    pub id: String,
    /// The step's `type`, verbatim, when present.
    pub step_type: Option<String>,
    /// The planner's `thought` for the step.
    pub thought: Option<String>,
    /// `planIdentifier`.
    pub plan_id: Option<String>,
    /// `stepId`, when present.
    pub step_id: Option<String>,
    /// The latest `state` seen (`inProgress`, `completed`, `failed`, ...), verbatim.
    pub state: Option<String>,
    /// The latest `arguments` bound to the step, verbatim.
    pub arguments: Option<Box<RawValue>>,
    /// Knowledge sources searched (`UniversalSearchToolTraceData.knowledgeSources`), for
    /// knowledge steps.
    pub knowledge_sources: Vec<String>,
    /// Index of the `DynamicPlanStepTriggered` activity.
    pub activity_index: usize,
}

/// A transcript's pairs and facts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PairedTranscript<'a> {
    /// The transcript the pairs borrow from.
    pub transcript: &'a Transcript,
    /// Channel, user, classification, outcome.
    pub facts: TranscriptFacts,
    /// The pairs, in activity order.
    pub pairs: Vec<Pair<'a>>,
    /// Planner steps that no pair could take (only when the transcript has no messages).
    pub unattached_tools: Vec<ToolInvocation>,
    /// Everything odd about the row: its columns and content ([`Transcript::warnings`],
    /// [`crate::Content::warnings`]) and its messages (roles, timestamps), in that order.
    pub warnings: Vec<RowWarning>,
}

/// Which side of a pair an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Request,
    Response,
}

/// The pairing state machine shared by transcripts and Microsoft 365 Copilot interactions.
pub(crate) fn pair_sequence<T: Copy>(
    items: impl IntoIterator<Item = (Side, T)>,
) -> Vec<(Option<T>, Option<T>)> {
    let mut out = Vec::new();
    // The most recent request and whether anything answered it yet.
    let mut open: Option<(T, bool)> = None;
    for (side, item) in items {
        match side {
            Side::Request => {
                if let Some((previous, false)) = open {
                    out.push((Some(previous), None));
                }
                open = Some((item, false));
            }
            Side::Response => match &mut open {
                Some((request, answered)) => {
                    out.push((Some(*request), Some(item)));
                    *answered = true;
                }
                None => out.push((None, Some(item))),
            },
        }
    }
    if let Some((previous, false)) = open {
        out.push((Some(previous), None));
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConversationInfoWire {
    #[serde(default)]
    is_design_mode: Option<bool>,
    #[serde(default)]
    locale: Option<String>,
}

/// Flags read from a user message's `channelData`.
#[derive(Default, Clone, Copy)]
pub(crate) struct UserFlags {
    post_back: bool,
    trigger: bool,
}

fn user_flags(channel_data: Option<&RawValue>) -> UserFlags {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire<'a> {
        #[serde(default, borrow)]
        post_back: Option<&'a RawValue>,
        #[serde(default, borrow)]
        trigger_test: Option<&'a RawValue>,
    }
    let Some(raw) = channel_data else {
        return UserFlags::default();
    };
    let Ok(w) = serde_json::from_str::<Wire<'_>>(raw.get()) else {
        return UserFlags::default();
    };
    let truthy = |r: Option<&RawValue>| {
        r.is_some_and(|r| {
            let s = r.get();
            s != "false" && s != "null" && s != "\"\"" && s != "0"
        })
    };
    UserFlags {
        post_back: truthy(w.post_back),
        trigger: truthy(w.trigger_test),
    }
}

pub(crate) fn message_of(
    a: &Activity,
    index: usize,
    flags: UserFlags,
    timestamp: Option<i64>,
) -> Message<'_> {
    Message {
        id: a.id.as_deref(),
        timestamp,
        text: a.text.as_deref(),
        attachments: a.non_empty_attachments(),
        value: a.value.as_deref().filter(|v| !is_empty_json(v)),
        activity_index: Some(index),
        is_post_back: flags.post_back,
        is_autonomous_trigger: flags.trigger,
    }
}

fn classify_tool(id: &str, step_type: Option<&str>) -> ToolKind {
    let lower_type = step_type.map(str::to_ascii_lowercase);
    if id.contains(".knowledge.")
        || id.contains("UniversalSearchTool")
        || lower_type
            .as_deref()
            .is_some_and(|t| t.contains("knowledge"))
    {
        ToolKind::Knowledge
    } else if id.contains(".topic.") {
        ToolKind::Topic
    } else {
        ToolKind::Tool
    }
}

fn scalar_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Planner steps in trigger order, with the user message each one served (by `replyToId`, else
/// the most recent user message before it).
struct StepCollector {
    steps: Vec<(ToolInvocation, Option<usize>)>,
}

impl StepCollector {
    fn find(&mut self, v: &serde_json::Value) -> Option<&mut ToolInvocation> {
        let step_id = v.get("stepId").and_then(serde_json::Value::as_str);
        let plan_id = v.get("planIdentifier").and_then(serde_json::Value::as_str);
        let dialog = v.get("taskDialogId").and_then(serde_json::Value::as_str);
        self.steps
            .iter_mut()
            .rev()
            .map(|(s, _)| s)
            .find(|s| match step_id {
                Some(id) => s.step_id.as_deref() == Some(id),
                None => {
                    dialog.is_some_and(|d| s.id == d)
                        && (plan_id.is_none() || s.plan_id.as_deref() == plan_id)
                }
            })
    }

    fn event(&mut self, name: &str, value: Option<&RawValue>, index: usize, served: Option<usize>) {
        let Some(Ok(v)) = value.map(|raw| serde_json::from_str::<serde_json::Value>(raw.get()))
        else {
            return;
        };
        let get = |k: &str| v.get(k).and_then(scalar_string);
        match name {
            "DynamicPlanStepTriggered" => {
                let id = get("taskDialogId").unwrap_or_default();
                let step_type = get("type");
                self.steps.push((
                    ToolInvocation {
                        kind: classify_tool(&id, step_type.as_deref()),
                        id,
                        step_type,
                        thought: get("thought"),
                        plan_id: get("planIdentifier"),
                        step_id: get("stepId"),
                        state: get("state"),
                        arguments: None,
                        knowledge_sources: Vec::new(),
                        activity_index: index,
                    },
                    served,
                ));
            }
            "DynamicPlanStepBindUpdate" => {
                let args = v
                    .get("arguments")
                    .and_then(|a| serde_json::value::to_raw_value(a).ok());
                if let Some(step) = self.find(&v) {
                    step.arguments = args;
                }
            }
            "DynamicPlanStepFinished" => {
                let state = get("state");
                if let Some(step) = self.find(&v)
                    && state.is_some()
                {
                    step.state = state;
                }
            }
            "UniversalSearchToolTraceData" => {
                let tool = get("toolId");
                let sources: Vec<String> = v
                    .get("knowledgeSources")
                    .and_then(serde_json::Value::as_array)
                    .map(|a| a.iter().filter_map(scalar_string).collect())
                    .unwrap_or_default();
                if let Some((step, _)) = self.steps.iter_mut().rev().find(|(s, _)| {
                    s.kind == ToolKind::Knowledge && tool.as_deref().is_none_or(|t| t == s.id)
                }) {
                    step.knowledge_sources.extend(sources);
                }
            }
            _ => {}
        }
    }
}

/// What pairing needs to read from an activity; implemented by the owned [`Activity`] and by
/// the borrowed view of the page -> records fast path, so both share one implementation.
pub(crate) trait ActivityFields {
    fn kind(&self) -> Kind;
    fn role(&self) -> Option<&Role>;
    fn odd_role(&self) -> Option<&str>;
    fn timestamp(&self) -> Option<i64>;
    fn timestamp_unreadable(&self) -> bool;
    fn aad_object_id(&self) -> Option<&str>;
    fn channel_id(&self) -> Option<&str>;
    fn id(&self) -> Option<&str>;
    fn name(&self) -> Option<&str>;
    fn value_type(&self) -> Option<&str>;
    fn reply_to_id(&self) -> Option<&str>;
    fn value(&self) -> Option<&RawValue>;
    fn channel_data(&self) -> Option<&RawValue>;
}

impl<T: ActivityFields + ?Sized> ActivityFields for &T {
    fn kind(&self) -> Kind {
        (**self).kind()
    }
    fn role(&self) -> Option<&Role> {
        (**self).role()
    }
    fn odd_role(&self) -> Option<&str> {
        (**self).odd_role()
    }
    fn timestamp(&self) -> Option<i64> {
        (**self).timestamp()
    }
    fn timestamp_unreadable(&self) -> bool {
        (**self).timestamp_unreadable()
    }
    fn aad_object_id(&self) -> Option<&str> {
        (**self).aad_object_id()
    }
    fn channel_id(&self) -> Option<&str> {
        (**self).channel_id()
    }
    fn id(&self) -> Option<&str> {
        (**self).id()
    }
    fn name(&self) -> Option<&str> {
        (**self).name()
    }
    fn value_type(&self) -> Option<&str> {
        (**self).value_type()
    }
    fn reply_to_id(&self) -> Option<&str> {
        (**self).reply_to_id()
    }
    fn value(&self) -> Option<&RawValue> {
        (**self).value()
    }
    fn channel_data(&self) -> Option<&RawValue> {
        (**self).channel_data()
    }
}

impl ActivityFields for Activity {
    fn kind(&self) -> Kind {
        match &self.activity_type {
            Some(ActivityType::Message) => Kind::Message,
            Some(ActivityType::Event) => Kind::Event,
            Some(ActivityType::Trace) => Kind::Trace,
            _ => Kind::Other,
        }
    }
    fn role(&self) -> Option<&Role> {
        Activity::role(self)
    }
    fn odd_role(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.odd_role.as_deref())
    }
    fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }
    fn timestamp_unreadable(&self) -> bool {
        self.timestamp_unreadable
    }
    fn aad_object_id(&self) -> Option<&str> {
        self.from.as_ref().and_then(|f| f.aad_object_id.as_deref())
    }
    fn channel_id(&self) -> Option<&str> {
        self.channel_id.as_deref()
    }
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn value_type(&self) -> Option<&str> {
        self.value_type.as_deref()
    }
    fn reply_to_id(&self) -> Option<&str> {
        self.reply_to_id.as_deref()
    }
    fn value(&self) -> Option<&RawValue> {
        self.value.as_deref()
    }
    fn channel_data(&self) -> Option<&RawValue> {
        self.channel_data.as_deref()
    }
}

impl ActivityFields for ActivityView<'_> {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn role(&self) -> Option<&Role> {
        self.role.as_ref()
    }
    fn odd_role(&self) -> Option<&str> {
        self.odd_role.as_deref()
    }
    fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }
    fn timestamp_unreadable(&self) -> bool {
        self.timestamp_unreadable
    }
    fn aad_object_id(&self) -> Option<&str> {
        self.aad_object_id.as_deref()
    }
    fn channel_id(&self) -> Option<&str> {
        self.channel_id.as_deref()
    }
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn value_type(&self) -> Option<&str> {
        self.value_type.as_deref()
    }
    fn reply_to_id(&self) -> Option<&str> {
        self.reply_to_id.as_deref()
    }
    fn value(&self) -> Option<&RawValue> {
        self.value
    }
    fn channel_data(&self) -> Option<&RawValue> {
        self.channel_data
    }
}

/// The message of the borrowed view, as [`message_of`] builds it from an [`Activity`].
pub(crate) fn message_of_view<'a>(
    a: &'a ActivityView<'_>,
    index: usize,
    flags: UserFlags,
    timestamp: Option<i64>,
) -> Message<'a> {
    Message {
        id: a.id.as_deref(),
        timestamp,
        text: a.text.as_deref(),
        attachments: a.attachments.filter(|v| !is_empty_json(v)),
        value: a.value.filter(|v| !is_empty_json(v)),
        activity_index: Some(index),
        is_post_back: flags.post_back,
        is_autonomous_trigger: flags.trigger,
    }
}

fn decode<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

/// Pairing and facts, as activity indices, before messages are built.
pub(crate) struct Analysis {
    pub(crate) facts: TranscriptFacts,
    /// (request, response) activity indices.
    pub(crate) pairs: Vec<(Option<usize>, Option<usize>)>,
    /// Flags of user messages, by activity index.
    flags: Vec<(usize, UserFlags)>,
    /// Planner steps per pair.
    pub(crate) tools: Vec<Vec<ToolInvocation>>,
    pub(crate) unattached_tools: Vec<ToolInvocation>,
    /// Warnings about the messages, in activity order.
    pub(crate) warnings: Vec<RowWarning>,
    /// Messages whose own timestamp is unusable (sorted activity indices).
    bad_times: Vec<usize>,
    /// Their replacement.
    fallback_time: Option<i64>,
}

impl Analysis {
    pub(crate) fn flags(&self, index: usize) -> UserFlags {
        flags_at(&self.flags, index)
    }

    /// The timestamp a message at `index` carries into its pair.
    pub(crate) fn timestamp(&self, index: usize, own: Option<i64>) -> Option<i64> {
        if self.bad_times.binary_search(&index).is_ok() {
            self.fallback_time
        } else {
            own
        }
    }
}

/// The flags of the user message at activity `index` (`flags` is sorted by index).
fn flags_at(flags: &[(usize, UserFlags)], index: usize) -> UserFlags {
    flags
        .binary_search_by_key(&index, |(i, _)| *i)
        .map_or_else(|_| UserFlags::default(), |p| flags[p].1)
}

/// Pairs messages and gathers facts over any activity representation.
pub(crate) fn analyze<A: ActivityFields>(activities: &[A], times: RowTimes) -> Analysis {
    let mut warnings = Vec::new();
    let mut bad_times = Vec::new();
    let mut facts = TranscriptFacts::default();
    let mut sequence = Vec::new();
    let mut flags = Vec::new();
    let mut user_ids: Vec<(&str, usize)> = Vec::new();
    let mut last_user: Option<usize> = None;
    let mut first_channel: Option<&str> = None;
    let mut message_channel: Option<&str> = None;
    let mut any_trigger = false;
    let mut steps = StepCollector { steps: Vec::new() };

    for (index, a) in activities.iter().enumerate() {
        if first_channel.is_none() {
            first_channel = a.channel_id();
        }
        let role = a.role();
        let from_user = matches!(role, Some(Role::User));
        if from_user
            && facts.user_aad_object_id.is_none()
            && let Some(aad) = a.aad_object_id()
            && !aad.is_empty()
        {
            facts.user_aad_object_id = Some(aad.to_owned());
        }
        match a.kind() {
            Kind::Message => {
                if message_channel.is_none() {
                    message_channel = a.channel_id();
                }
                if !matches!(role, Some(Role::User | Role::Bot)) {
                    warnings.push(RowWarning::UnknownRole {
                        activity: index,
                        role: match role {
                            Some(Role::Other(r)) => Some(r.clone()),
                            _ => None,
                        },
                    });
                    continue;
                }
                if let Some(odd) = a.odd_role() {
                    warnings.push(RowWarning::OddRole {
                        activity: index,
                        role: odd.to_owned(),
                    });
                }
                if a.timestamp_unreadable() {
                    warnings.push(RowWarning::TimestampUnreadable { activity: index });
                    bad_times.push(index);
                } else if let Some(t) = a.timestamp()
                    && (t < EARLIEST_TIMESTAMP || t > times.latest)
                {
                    warnings.push(RowWarning::TimestampOutOfRange {
                        activity: index,
                        seconds: t,
                    });
                    bad_times.push(index);
                }
                if from_user {
                    let mut f = user_flags(a.channel_data());
                    if a.channel_id() == Some("pva-autonomous") {
                        f.trigger = true;
                    }
                    any_trigger |= f.trigger;
                    flags.push((index, f));
                    if let Some(id) = a.id() {
                        user_ids.push((id, index));
                    }
                    last_user = Some(index);
                    sequence.push((Side::Request, index));
                } else {
                    sequence.push((Side::Response, index));
                }
            }
            Kind::Trace => match a.value_type() {
                Some("ConversationInfo") => {
                    if let Some(info) = decode::<ConversationInfoWire>(a.value()) {
                        facts.is_design_mode = info.is_design_mode.or(facts.is_design_mode);
                        facts.locale = info.locale.or(facts.locale.take());
                    }
                }
                Some("SessionInfo") => {
                    if let Some(info) = decode::<SessionInfo>(a.value()) {
                        facts.session = Some(info);
                    }
                }
                _ => {}
            },
            Kind::Event => {
                if let Some(name) = a.name()
                    && (name.starts_with("DynamicPlanStep")
                        || name == "UniversalSearchToolTraceData")
                {
                    let served = a
                        .reply_to_id()
                        .and_then(|r| user_ids.iter().rev().find(|(id, _)| *id == r))
                        .map(|(_, i)| *i)
                        .or(last_user);
                    steps.event(name, a.value(), index, served);
                }
            }
            Kind::Other => {}
        }
    }

    facts.channel = message_channel.or(first_channel).map(str::to_owned);
    let channel = facts.channel.as_deref();
    facts.kind = if channel == Some("pva-autonomous") || any_trigger {
        ConversationKind::Autonomous
    } else if channel == Some("pva-maker-evaluation") {
        ConversationKind::Evaluation
    } else if facts.is_design_mode == Some(true) || channel == Some("pva-studio") {
        ConversationKind::Design
    } else {
        ConversationKind::Chat
    };

    let pairs = pair_sequence(sequence);
    let mut tools: Vec<Vec<ToolInvocation>> = pairs.iter().map(|_| Vec::new()).collect();
    let mut unattached_tools = Vec::new();
    for (step, served) in steps.steps {
        match attach_target(&pairs, served, step.activity_index) {
            Some(p) => tools[p].push(step),
            None => unattached_tools.push(step),
        }
    }
    Analysis {
        facts,
        pairs,
        flags,
        tools,
        unattached_tools,
        warnings,
        bad_times,
        fallback_time: times.start,
    }
}

/// Pairs a transcript's messages and gathers its facts, with default [`PairOptions`]. See the
/// [module docs](self) for the rules.
pub fn pair_transcript(transcript: &Transcript) -> PairedTranscript<'_> {
    pair_transcript_with(transcript, &PairOptions::default())
}

/// Pairs a transcript's messages and gathers its facts. See the [module docs](self) for the
/// rules.
pub fn pair_transcript_with<'a>(
    transcript: &'a Transcript,
    options: &PairOptions,
) -> PairedTranscript<'a> {
    let activities = &transcript.content.activities;
    let times = RowTimes::new(
        transcript.conversation_start_time,
        transcript.created_on,
        options,
    );
    let analysis = analyze(activities, times);
    let session_id = transcript.conversation_id();
    let message = |i: usize| {
        let a = &activities[i];
        message_of(a, i, analysis.flags(i), analysis.timestamp(i, a.timestamp))
    };
    let pairs = analysis
        .pairs
        .iter()
        .zip(analysis.tools.iter())
        .enumerate()
        .map(|(index, ((req, resp), tools))| Pair {
            index,
            request: req.map(message),
            response: resp.map(message),
            tools: tools.clone(),
            session_id,
            request_id: None,
            app_class: None,
        })
        .collect();
    let mut warnings = transcript.warnings.clone();
    warnings.extend(transcript.content.warnings.iter().cloned());
    warnings.extend(analysis.warnings.iter().cloned());
    PairedTranscript {
        transcript,
        facts: analysis.facts,
        pairs,
        unattached_tools: analysis.unattached_tools,
        warnings,
    }
}

/// The pair a planner step served: among the pairs of the turn it belongs to (its user
/// message's pairs, or the unprompted pairs when no user message preceded it), the first whose
/// response comes after the step, else the turn's last pair.
fn attach_target(
    pairs: &[(Option<usize>, Option<usize>)],
    served: Option<usize>,
    step_index: usize,
) -> Option<usize> {
    let mut last = None;
    for (p, (req, resp)) in pairs.iter().enumerate() {
        if *req != served {
            continue;
        }
        if resp.is_some_and(|r| r > step_index) {
            return Some(p);
        }
        last = Some(p);
    }
    last
}

impl Transcript {
    /// Pairs this transcript; shorthand for [`pair_transcript`].
    pub fn pair(&self) -> PairedTranscript<'_> {
        pair_transcript(self)
    }

    /// Pairs this transcript with `options`; shorthand for [`pair_transcript_with`].
    pub fn pair_with(&self, options: &PairOptions) -> PairedTranscript<'_> {
        pair_transcript_with(self, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_machine() {
        use Side::{Request as Q, Response as A};
        type Case = (Vec<(Side, u8)>, Vec<(Option<u8>, Option<u8>)>);
        let cases: Vec<Case> = vec![
            (vec![], vec![]),
            (vec![(A, 0)], vec![(None, Some(0))]),
            (vec![(Q, 0)], vec![(Some(0), None)]),
            (
                vec![(A, 0), (A, 1), (Q, 2), (A, 3), (A, 4)],
                vec![
                    (None, Some(0)),
                    (None, Some(1)),
                    (Some(2), Some(3)),
                    (Some(2), Some(4)),
                ],
            ),
            (
                vec![(Q, 0), (Q, 1), (A, 2), (Q, 3)],
                vec![(Some(0), None), (Some(1), Some(2)), (Some(3), None)],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(pair_sequence(input.clone()), expected, "{input:?}");
        }
    }

    #[test]
    fn attach_prefers_the_reply_after_the_step() {
        let pairs = [
            (None, Some(1)),
            (Some(2), Some(3)),
            (Some(2), Some(6)),
            (Some(7), None),
        ];
        assert_eq!(attach_target(&pairs, Some(2), 4), Some(2));
        assert_eq!(attach_target(&pairs, Some(2), 2), Some(1));
        assert_eq!(attach_target(&pairs, Some(2), 9), Some(2));
        assert_eq!(attach_target(&pairs, Some(7), 8), Some(3));
        assert_eq!(attach_target(&pairs, None, 0), Some(0));
        assert_eq!(attach_target(&[], None, 0), None);
    }

    #[test]
    fn tool_kinds() {
        assert_eq!(
            classify_tool("x.knowledge.UniversalSearchTool", None),
            ToolKind::Knowledge
        );
        assert_eq!(
            classify_tool("P:UniversalSearchTool", None),
            ToolKind::Knowledge
        );
        assert_eq!(
            classify_tool("a.b", Some("KnowledgeSource")),
            ToolKind::Knowledge
        );
        assert_eq!(classify_tool("cr_x.topic.Greeting", None), ToolKind::Topic);
        assert_eq!(classify_tool("MCP:cr_x.topic:list", None), ToolKind::Tool);
        assert_eq!(classify_tool("cr_x.action.Http", None), ToolKind::Tool);
    }
}
