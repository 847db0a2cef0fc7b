//! Security Copilot (Graph beta): sessions, prompts, evaluations, polling an evaluation to
//! a terminal state, and a client-side rate limit.
//!
//! The resources live under `/beta/security/securityCopilot/workspaces/{workspace}`
//! (`default` unless told otherwise): a session holds prompts, a prompt is run by creating
//! an evaluation, and the evaluation is read again until its `state` is terminal. Reads need
//! `SecurityCopilotWorkspaces.Read.All`, writes `SecurityCopilotWorkspaces.ReadWrite.All`
//! (delegated calls also need the user to hold a Security Copilot role). Public cloud only.

use crate::client::encode_segment;
use crate::paging::CollectionRequest;
use crate::{ApiVersion, Error, GraphClient, ItemStream};
use client_core::{Request, SharedClock};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use time::serde::rfc3339;

/// The workspace used when none is named.
pub const DEFAULT_WORKSPACE: &str = "default";

/// Calls per window allowed by default: Microsoft's Security Copilot connector allows a
/// connection 600 calls every 60 seconds, so a client that stays under it is never cut off.
pub const DEFAULT_RATE_LIMIT_CALLS: usize = 600;

/// The window of the default rate limit.
pub const DEFAULT_RATE_LIMIT_WINDOW: Duration = Duration::from_secs(60);

macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $var,)+
            /// A value this version does not know, kept as sent.
            Other(String),
        }

        impl $name {
            /// The value as Graph spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$var => $wire,)+
                    $name::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$var,)+
                    _ => $name::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// Where an evaluation is in its run (`evaluationState`).
    EvaluationState {
        /// `unknown`.
        Unknown = "unknown",
        /// `created`: accepted, not started.
        Created = "created",
        /// `running`.
        Running = "running",
        /// `completed`: `result` holds the outcome (which may still be a failure).
        Completed = "completed",
        /// `cancelled`.
        Cancelled = "cancelled",
        /// `pending`.
        Pending = "pending",
        /// `deferred`.
        Deferred = "deferred",
        /// `waitingForInput`: the run needs input this API cannot give.
        WaitingForInput = "waitingForInput",
    }
);

impl EvaluationState {
    /// Whether the evaluation will not change any more: `completed`, `cancelled`, or
    /// `waitingForInput` (nothing in this API can supply the input, so waiting is futile).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            EvaluationState::Completed
                | EvaluationState::Cancelled
                | EvaluationState::WaitingForInput
        )
    }
}

open_enum!(
    /// The kind of outcome of a completed evaluation (`evaluationResultType`).
    EvaluationResultType {
        /// `unknown`.
        Unknown = "unknown",
        /// `success`: `content` is the answer.
        Success = "success",
        /// `error`: the run failed; `content` explains.
        Error = "error",
        /// `needAdditionalClaims`: the caller must sign in again with more claims
        /// (conditional access, MFA).
        NeedAdditionalClaims = "needAdditionalClaims",
        /// `rejected`: the prompt was refused (responsible-AI or policy filters).
        Rejected = "rejected",
        /// `timedOut`: the run took too long on the service side.
        TimedOut = "timedOut",
        /// `capacityExceeded`: the workspace's provisioned capacity is used up.
        CapacityExceeded = "capacityExceeded",
    }
);

impl EvaluationResultType {
    /// A sentence saying what the result means and what to do, for people reading a report.
    pub fn explanation(&self) -> &'static str {
        match self {
            EvaluationResultType::Success => "the prompt was answered",
            EvaluationResultType::Error => {
                "Security Copilot failed to evaluate the prompt; its content says why"
            }
            EvaluationResultType::NeedAdditionalClaims => {
                "the sign-in lacks claims a policy requires (e.g. MFA): sign in again interactively"
            }
            EvaluationResultType::Rejected => {
                "Security Copilot refused the prompt (policy or safety filters): rephrase it"
            }
            EvaluationResultType::TimedOut => {
                "the evaluation ran out of time on the service: retry or simplify the prompt"
            }
            EvaluationResultType::CapacityExceeded => {
                "the workspace's Security Compute Units are used up: wait or add capacity"
            }
            EvaluationResultType::Unknown | EvaluationResultType::Other(_) => {
                "Security Copilot gave a result type this client does not know"
            }
        }
    }
}

open_enum!(
    /// The kind of a prompt (`promptType`).
    PromptType {
        /// `unknown`.
        Unknown = "unknown",
        /// `context`.
        Context = "context",
        /// `prompt`: natural language, the orchestrator picks skills.
        Prompt = "prompt",
        /// `skill`: a named skill run directly with its inputs.
        Skill = "skill",
    }
);

/// A Security Copilot session (`session`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Session {
    /// The session id.
    pub id: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `createdDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// `lastModifiedDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A prompt in a session (`prompt`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Prompt {
    /// The prompt id.
    pub id: String,
    /// `type`.
    #[serde(rename = "type", default = "unknown_prompt_type")]
    pub prompt_type: PromptType,
    /// `content`: the text asked (empty for a skill prompt without text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `skillName`, for a skill prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill_name: Option<String>,
    /// `inputs`: the skill's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Map<String, Value>>,
    /// `createdDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// `lastModifiedDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// Other fields (`skillInputDescriptors`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unknown_prompt_type() -> PromptType {
    PromptType::Unknown
}

/// The outcome of a completed evaluation (`evaluationResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EvaluationResult {
    /// `type`.
    #[serde(rename = "type", default = "unknown_result_type")]
    pub result_type: EvaluationResultType,
    /// `content`: the answer, or the service's explanation of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `previewState` of the skill that answered (`ga`, `public`, `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_state: Option<String>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unknown_result_type() -> EvaluationResultType {
    EvaluationResultType::Unknown
}

/// One run of a prompt (`evaluation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Evaluation {
    /// The evaluation id.
    pub id: String,
    /// `state`.
    #[serde(default = "unknown_state")]
    pub state: EvaluationState,
    /// `result`, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<EvaluationResult>,
    /// `isCancelled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_cancelled: Option<bool>,
    /// `executionCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_count: Option<i64>,
    /// `createdDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// `completedDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_date_time: Option<OffsetDateTime>,
    /// `lastModifiedDateTime`.
    #[serde(
        default,
        with = "rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_date_time: Option<OffsetDateTime>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn unknown_state() -> EvaluationState {
    EvaluationState::Unknown
}

impl Evaluation {
    /// Whether polling can stop: a terminal [`state`](EvaluationState::is_terminal) or
    /// `isCancelled`.
    pub fn is_terminal(&self) -> bool {
        self.state.is_terminal() || self.is_cancelled == Some(true)
    }

    /// The answer, when the evaluation completed with a `success` result.
    pub fn answer(&self) -> Option<&str> {
        match &self.result {
            Some(r) if r.result_type == EvaluationResultType::Success => r.content.as_deref(),
            _ => None,
        }
    }
}

/// A plugin of the workspace (`plugin`): the skills Security Copilot may use. The prompt API
/// has no field for choosing plugins; the orchestrator uses the workspace's enabled ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Plugin {
    /// `name`: the plugin's key.
    #[serde(default)]
    pub name: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `isEnabled`: whether it may be used within its catalog scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// `category` (`microsoft`, `microsoftConnectors`, `web`, `plugin`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `catalogScope` (`user`, `workspace`, `tenant`, `global`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_scope: Option<String>,
    /// `previewState` (`ga`, `public`, `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_state: Option<String>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Plugin {
    /// Whether `name` names this plugin (its `name` or `displayName`, case-insensitively).
    pub fn is_named(&self, name: &str) -> bool {
        let n = name.trim();
        self.name.eq_ignore_ascii_case(n)
            || self
                .display_name
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(n))
    }
}

/// What to ask: natural-language text, or a named skill run directly with its inputs.
///
/// ```
/// use graph_client::PromptInput;
/// let p = PromptInput::skill("GetIncidentSummary").input("incidentId", "42");
/// assert_eq!(
///     serde_json::to_value(p.body()).unwrap(),
///     serde_json::json!({"type": "skill", "skillName": "GetIncidentSummary", "inputs": {"incidentId": "42"}})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptInput {
    /// `{"type":"prompt","content":...}`: the orchestrator chooses the skills.
    Text(String),
    /// `{"type":"skill","skillName":...,"inputs":{...}}`: one skill, run directly.
    Skill {
        /// The skill's name.
        name: String,
        /// Its inputs by name.
        inputs: BTreeMap<String, String>,
        /// Optional text sent along as `content`.
        content: Option<String>,
    },
}

impl PromptInput {
    /// A natural-language prompt.
    pub fn text(content: impl Into<String>) -> Self {
        PromptInput::Text(content.into())
    }

    /// A direct skill invocation, without inputs yet.
    pub fn skill(name: impl Into<String>) -> Self {
        PromptInput::Skill {
            name: name.into(),
            inputs: BTreeMap::new(),
            content: None,
        }
    }

    /// Adds a skill input (ignored for a text prompt, which takes none).
    pub fn input(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let PromptInput::Skill { inputs, .. } = &mut self {
            inputs.insert(key.into(), value.into());
        }
        self
    }

    /// Parses a `key=value` skill input, as typed on a command line.
    pub fn parse_input(pair: &str) -> Result<(String, String), Error> {
        match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Error::invalid(format!(
                "skill input `{pair}` is not key=value: write e.g. incidentId=42"
            ))),
        }
    }

    /// The JSON body of `POST .../prompts`.
    pub fn body(&self) -> Value {
        match self {
            PromptInput::Text(c) => serde_json::json!({"type": "prompt", "content": c}),
            PromptInput::Skill {
                name,
                inputs,
                content,
            } => {
                let mut m = Map::new();
                m.insert("type".into(), "skill".into());
                m.insert("skillName".into(), name.clone().into());
                if let Some(c) = content {
                    m.insert("content".into(), c.clone().into());
                }
                m.insert(
                    "inputs".into(),
                    Value::Object(
                        inputs
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect(),
                    ),
                );
                Value::Object(m)
            }
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match self {
            PromptInput::Text(c) if c.trim().is_empty() => Err(Error::invalid(
                "the prompt is empty: give the question to ask",
            )),
            PromptInput::Skill { name, .. } if name.trim().is_empty() => Err(Error::invalid(
                "the skill name is empty: give the name of the skill to run",
            )),
            _ => Ok(()),
        }
    }
}

/// How to poll an evaluation: exponential backoff from `initial` to `max`, stopping at
/// `deadline` (measured on the client's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollOptions {
    /// The first wait between reads (default 1 s).
    pub initial: Duration,
    /// The longest wait between reads (default 10 s).
    pub max: Duration,
    /// How long to poll before giving up with [`Error::Deadline`] (default 5 min).
    pub deadline: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
            deadline: Duration::from_secs(300),
        }
    }
}

impl PollOptions {
    /// Sets the first wait.
    pub fn initial(mut self, d: Duration) -> Self {
        self.initial = d;
        self
    }

    /// Sets the longest wait.
    pub fn max(mut self, d: Duration) -> Self {
        self.max = d;
        self
    }

    /// Sets the deadline.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
}

/// A sliding-window rate limiter on an injectable clock: at most `calls` acquisitions in any
/// `window`. A caller over the limit waits (on the clock) for its reserved slot; slots are
/// handed out in call order, so concurrent callers are served fairly.
pub struct RateLimiter {
    calls: usize,
    window: Duration,
    clock: SharedClock,
    slots: Mutex<VecDeque<OffsetDateTime>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("calls", &self.calls)
            .field("window", &self.window)
            .finish()
    }
}

impl RateLimiter {
    /// At most `calls` (at least 1) in every `window`, timed by `clock`.
    pub fn new(calls: usize, window: Duration, clock: SharedClock) -> Self {
        Self {
            calls: calls.max(1),
            window,
            clock,
            slots: Mutex::new(VecDeque::new()),
        }
    }

    /// Reserves the next slot and returns how long to wait for it (zero when under the limit).
    fn reserve(&self) -> Duration {
        let now = self.clock.now();
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        while slots.front().is_some_and(|t| *t + self.window <= now) {
            slots.pop_front();
        }
        let mut at = now;
        if slots.len() >= self.calls {
            // The slot `calls` places back must leave the window first.
            if let Some(t) = slots.get(slots.len() - self.calls) {
                at = at.max(*t + self.window);
            }
        }
        if let Some(last) = slots.back() {
            at = at.max(*last);
        }
        slots.push_back(at);
        let wait = at - now;
        Duration::try_from(wait).unwrap_or_default()
    }

    /// Waits until a call is allowed and counts it.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tracing::debug!(wait_ms = wait.as_millis() as u64, "rate limit: waiting");
            self.clock.sleep(wait).await;
        }
    }
}

/// Security Copilot in one workspace, with its own client-side rate limit. Cheap to clone;
/// clones share the limit, so keep one per connection.
#[derive(Clone, Debug)]
pub struct SecurityCopilot {
    client: GraphClient,
    workspace: String,
    limiter: Arc<RateLimiter>,
}

impl GraphClient {
    /// Security Copilot in the `default` workspace, limited to
    /// [`DEFAULT_RATE_LIMIT_CALLS`] calls per [`DEFAULT_RATE_LIMIT_WINDOW`].
    pub fn security_copilot(&self) -> SecurityCopilot {
        SecurityCopilot {
            client: self.clone(),
            workspace: DEFAULT_WORKSPACE.to_owned(),
            limiter: Arc::new(RateLimiter::new(
                DEFAULT_RATE_LIMIT_CALLS,
                DEFAULT_RATE_LIMIT_WINDOW,
                self.pipeline().clock().clone(),
            )),
        }
    }
}

impl SecurityCopilot {
    /// Uses another workspace.
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = workspace.into();
        self
    }

    /// Replaces the rate limit: at most `calls` every `window`.
    pub fn rate_limit(mut self, calls: usize, window: Duration) -> Self {
        self.limiter = Arc::new(RateLimiter::new(
            calls,
            window,
            self.client.pipeline().clock().clone(),
        ));
        self
    }

    /// The workspace id.
    pub fn workspace_id(&self) -> &str {
        &self.workspace
    }

    fn url(&self, tail: &str) -> Result<url::Url, Error> {
        self.workspace_url(&format!("sessions{tail}"))
    }

    fn workspace_url(&self, tail: &str) -> Result<url::Url, Error> {
        self.client.require_public_cloud("Security Copilot")?;
        if self.workspace.trim().is_empty() {
            return Err(Error::invalid(
                "the Security Copilot workspace id is empty: use `default`",
            ));
        }
        self.client.url_in(
            ApiVersion::Beta,
            &format!(
                "security/securityCopilot/workspaces/{}/{tail}",
                encode_segment(&self.workspace)
            ),
        )
    }

    /// `sessions/{session}[/prompts/{prompt}[/evaluations/{evaluation}]]{tail}`, from the
    /// ids given (session first), each checked and encoded.
    fn item_url(&self, ids: &[&str], tail: &str) -> Result<url::Url, Error> {
        const LEVELS: [(&str, &str); 3] = [
            ("session", ""),
            ("prompt", "/prompts"),
            ("evaluation", "/evaluations"),
        ];
        let mut path = String::new();
        for ((what, collection), id) in LEVELS.iter().zip(ids) {
            path.push_str(collection);
            path.push('/');
            path.push_str(&Self::id_segment(what, id)?);
        }
        path.push_str(tail);
        self.url(&path)
    }

    fn id_segment(what: &str, id: &str) -> Result<String, Error> {
        if id.trim().is_empty() {
            return Err(Error::invalid(format!("the {what} id is empty")));
        }
        Ok(encode_segment(id))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: url::Url) -> Result<T, Error> {
        self.limiter.acquire().await;
        self.client.get_json(url).await
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        url: url::Url,
        body: &Value,
    ) -> Result<T, Error> {
        self.limiter.acquire().await;
        let req = Request::post(url)
            .header("accept", "application/json")
            .json(body);
        let resp = self.client.send(req).await?;
        resp.json_as(&crate::error::Mapper)
    }

    /// Creates a session (`POST .../sessions`).
    pub async fn create_session(&self, display_name: &str) -> Result<Session, Error> {
        let url = self.url("")?;
        self.post(url, &serde_json::json!({"displayName": display_name}))
            .await
    }

    /// Reads a session.
    pub async fn session(&self, session_id: &str) -> Result<Session, Error> {
        self.get(self.item_url(&[session_id], "")?).await
    }

    /// The workspace's sessions, lazily paged. Each page counts against the rate limit.
    pub fn sessions(&self) -> ItemStream<Session> {
        self.list(self.url(""))
    }

    /// The workspace's plugins (`GET .../workspaces/{id}/plugins`), lazily paged.
    pub fn plugins(&self) -> ItemStream<Plugin> {
        self.list(self.workspace_url("plugins"))
    }

    /// Adds a prompt to a session (`POST .../sessions/{id}/prompts`).
    pub async fn create_prompt(
        &self,
        session_id: &str,
        input: &PromptInput,
    ) -> Result<Prompt, Error> {
        input.validate()?;
        let url = self.item_url(&[session_id], "/prompts")?;
        self.post(url, &input.body()).await
    }

    /// Reads a prompt.
    pub async fn prompt(&self, session_id: &str, prompt_id: &str) -> Result<Prompt, Error> {
        self.get(self.item_url(&[session_id, prompt_id], "")?).await
    }

    /// A session's prompts, lazily paged.
    pub fn prompts(&self, session_id: &str) -> ItemStream<Prompt> {
        self.list(self.item_url(&[session_id], "/prompts"))
    }

    /// Starts an evaluation of a prompt (`POST .../prompts/{id}/evaluations` with `{}`).
    pub async fn create_evaluation(
        &self,
        session_id: &str,
        prompt_id: &str,
    ) -> Result<Evaluation, Error> {
        let url = self.item_url(&[session_id, prompt_id], "/evaluations")?;
        self.post(url, &Value::Object(Map::new())).await
    }

    /// Reads an evaluation.
    pub async fn evaluation(
        &self,
        session_id: &str,
        prompt_id: &str,
        evaluation_id: &str,
    ) -> Result<Evaluation, Error> {
        let url = self.item_url(&[session_id, prompt_id, evaluation_id], "")?;
        self.get(url).await
    }

    /// A prompt's evaluations, lazily paged.
    pub fn evaluations(&self, session_id: &str, prompt_id: &str) -> ItemStream<Evaluation> {
        self.list(self.item_url(&[session_id, prompt_id], "/evaluations"))
    }

    fn list<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        url: Result<url::Url, Error>,
    ) -> ItemStream<T> {
        let url = match url {
            Ok(u) => u,
            Err(e) => return crate::paging::failed(e).items(),
        };
        let limiter = self.limiter.clone();
        self.client
            .pages_limited::<T>(CollectionRequest::new(url), limiter)
            .items()
    }

    /// Reads an evaluation until it is terminal ([`Evaluation::is_terminal`]), waiting
    /// `options.initial`, then twice as long each time up to `options.max`, on the client's
    /// clock. Fails with [`Error::Deadline`] once `options.deadline` has passed.
    pub async fn wait_for_evaluation(
        &self,
        session_id: &str,
        prompt_id: &str,
        evaluation_id: &str,
        options: &PollOptions,
    ) -> Result<Evaluation, Error> {
        self.wait_for_evaluation_with(session_id, prompt_id, evaluation_id, options, |_| {})
            .await
    }

    /// Like [`wait_for_evaluation`](Self::wait_for_evaluation), calling `progress` with every
    /// evaluation read (to show its state meanwhile).
    pub async fn wait_for_evaluation_with(
        &self,
        session_id: &str,
        prompt_id: &str,
        evaluation_id: &str,
        options: &PollOptions,
        mut progress: impl FnMut(&Evaluation),
    ) -> Result<Evaluation, Error> {
        let clock = self.client.pipeline().clock().clone();
        let start = clock.now();
        let mut delay = options.initial.max(Duration::from_millis(1));
        // Time waited is the larger of the clock's reading and the sleeps asked for, so the
        // deadline holds even where the wall clock does not move (tokio's paused time).
        let mut slept = Duration::ZERO;
        loop {
            let eval = self
                .evaluation(session_id, prompt_id, evaluation_id)
                .await?;
            progress(&eval);
            if eval.is_terminal() {
                return Ok(eval);
            }
            let waited = Duration::try_from(clock.now() - start)
                .unwrap_or_default()
                .max(slept);
            if waited >= options.deadline {
                return Err(Error::deadline(
                    format!("Security Copilot evaluation {evaluation_id}"),
                    waited,
                    eval.state.to_string(),
                ));
            }
            let sleep = delay.min(options.deadline - waited);
            tracing::debug!(state = %eval.state, wait_ms = sleep.as_millis() as u64, "evaluation not finished");
            clock.sleep(sleep).await;
            slept += sleep;
            delay = (delay * 2).min(options.max.max(options.initial));
        }
    }

    /// Asks in an existing session: creates the prompt, starts its evaluation and waits for
    /// the outcome. The returned evaluation's `result` says whether it was answered
    /// ([`Evaluation::answer`]) or why not ([`EvaluationResultType::explanation`]).
    pub async fn run_prompt(
        &self,
        session_id: &str,
        input: &PromptInput,
        options: &PollOptions,
        progress: impl FnMut(&Evaluation),
    ) -> Result<(Prompt, Evaluation), Error> {
        let prompt = self.create_prompt(session_id, input).await?;
        let started = self.create_evaluation(session_id, &prompt.id).await?;
        let eval = if started.is_terminal() {
            started
        } else {
            self.wait_for_evaluation_with(session_id, &prompt.id, &started.id, options, progress)
                .await?
        };
        Ok((prompt, eval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::ManualClock;
    use time::macros::datetime;

    #[test]
    fn states_and_result_types_round_trip_and_keep_unknown_values() {
        for s in [
            "unknown",
            "created",
            "running",
            "completed",
            "cancelled",
            "pending",
            "deferred",
            "waitingForInput",
            "paused",
        ] {
            let v: EvaluationState = serde_json::from_value(Value::String(s.into())).unwrap();
            assert_eq!(serde_json::to_value(&v).unwrap(), Value::String(s.into()));
        }
        assert_eq!(
            EvaluationState::from("paused".to_owned()),
            EvaluationState::Other("paused".into())
        );
        assert!(!EvaluationState::Other("paused".into()).is_terminal());
        assert!(EvaluationState::Completed.is_terminal());
        assert!(!EvaluationState::Running.is_terminal());
        for t in [
            "success",
            "error",
            "needAdditionalClaims",
            "rejected",
            "timedOut",
            "capacityExceeded",
            "unknownFutureValue",
        ] {
            let v = EvaluationResultType::from(t.to_owned());
            assert_eq!(v.as_str(), t);
            assert!(!v.explanation().is_empty());
        }
        assert_eq!(
            EvaluationResultType::from("capacityExceeded".to_owned()),
            EvaluationResultType::CapacityExceeded
        );
    }

    #[test]
    fn item_urls_check_and_encode_each_id() {
        let token = client_core::AccessToken::new("t", datetime!(2030-01-01 0:00 UTC));
        let client = GraphClient::builder(Arc::new(client_core::StaticTokenCredential::new(token)))
            .build()
            .unwrap_or_else(|_| unreachable!());
        let sc = client.security_copilot();
        let url = |ids: &[&str], tail: &str| {
            sc.item_url(ids, tail)
                .map(|u| u.path().to_owned())
                .map_err(|e| e.to_string())
        };
        let root = "/beta/security/securityCopilot/workspaces/default/sessions";
        assert_eq!(url(&["s1"], ""), Ok(format!("{root}/s1")));
        assert_eq!(url(&["s1"], "/prompts"), Ok(format!("{root}/s1/prompts")));
        assert_eq!(
            url(&["s1", "p/2"], "/evaluations"),
            Ok(format!("{root}/s1/prompts/p%2F2/evaluations"))
        );
        assert_eq!(
            url(&["s1", "p1", "e 3"], ""),
            Ok(format!("{root}/s1/prompts/p1/evaluations/e%203"))
        );
        for (ids, what) in [
            (&["", "p"][..], "session"),
            (&["s", " "][..], "prompt"),
            (&["s", "p", ""][..], "evaluation"),
        ] {
            let e = url(ids, "").expect_err("an empty id");
            assert!(
                e.to_string().contains(&format!("the {what} id is empty")),
                "{e}"
            );
        }
    }

    #[test]
    fn prompt_bodies() {
        assert_eq!(
            PromptInput::text("hi").body(),
            serde_json::json!({"type": "prompt", "content": "hi"})
        );
        assert!(PromptInput::text(" ").validate().is_err());
        assert!(PromptInput::skill("").validate().is_err());
        assert_eq!(
            PromptInput::parse_input("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert!(PromptInput::parse_input("novalue").is_err());
        assert!(PromptInput::parse_input("=x").is_err());
    }

    #[tokio::test]
    async fn the_601st_call_inside_60_seconds_waits_for_the_first_to_leave_the_window() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let limiter = RateLimiter::new(600, Duration::from_secs(60), Arc::new(clock.clone()));
        for i in 0..600 {
            limiter.acquire().await;
            if i % 100 == 99 && i < 599 {
                // 100 calls at each of 12:00:00, :10, :20, :30, :40, :50.
                clock.advance(Duration::from_secs(10));
            }
        }
        assert!(clock.sleeps().is_empty(), "600 calls never wait");
        // Now 12:00:50; the first call left at 12:00:00, so the 601st waits 10 s.
        limiter.acquire().await;
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(10)]);
        // At 12:01:00 all 100 calls of 12:00:00 have left: 99 more fit without waiting.
        for _ in 0..99 {
            limiter.acquire().await;
        }
        assert_eq!(clock.sleeps().len(), 1);
        // The next needs the calls of 12:00:10 to leave: 10 s more.
        limiter.acquire().await;
        assert_eq!(clock.sleeps()[1], Duration::from_secs(10));
    }

    #[tokio::test]
    async fn concurrent_reservations_are_spread_not_bunched() {
        let clock = ManualClock::new(datetime!(2026-03-01 12:00 UTC));
        let limiter = RateLimiter::new(2, Duration::from_secs(60), Arc::new(clock.clone()));
        // Reserve without sleeping, as concurrent callers would.
        let waits: Vec<Duration> = (0..5).map(|_| limiter.reserve()).collect();
        assert_eq!(waits, [0, 0, 60, 60, 120].map(Duration::from_secs).to_vec());
    }
}
