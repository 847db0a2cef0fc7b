//! Security Copilot on Graph beta: `/beta/security/securityCopilot/workspaces/default/sessions`,
//! their prompts and the prompts' evaluations (create, get, list), behind the Graph token
//! check, the `SecurityCopilotWorkspaces.Read.All` / `.ReadWrite.All` permissions and the
//! connector's limit of 600 calls per 60 seconds per caller (answered `429` with
//! `Retry-After`).
//!
//! An evaluation moves through states on the emulator's clock: `created` for its first
//! second, `running` until its run time has passed (default 4 s), then its outcome:
//! `completed` with a result of type `success`, `error`, `needAdditionalClaims`, `rejected`,
//! `timedOut` or `capacityExceeded`, or `cancelled`, or `waitingForInput`; or it runs for
//! ever (to exercise client deadlines). The outcome is chosen, first match wins, by:
//! - a marker in the prompt's content or skill name, `[emulator:OUTCOME]` (e.g.
//!   `[emulator:rejected]`, `[emulator:cancelled]`, `[emulator:never]`);
//! - the outcome set with [`SecurityCopilot::set_settings`] (or `POST
//!   /_emulator/security-copilot`);
//! - `success`.
//!
//! The workspace starts with generated history ([`SecurityCopilotSpec`]): sessions of
//! prompts, each with one finished evaluation (mostly answered, some rejected or failed).
//!
//! Where the public reference is silent the emulator picks: lists are ordered by
//! `createdDateTime` and paged by `$top` (default 50, at most 100) with an offset
//! `$skiptoken`; only the `default` workspace exists (others answer 404); every session is
//! visible to every caller.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::entra::AccessTokenClaims;
use crate::graph::{Answer, GRAPH_RESOURCE, decode, error_answer, parse_query};
use crate::rng::Rng;

/// Lower-cased path prefix (after `/beta/`) of the Security Copilot resources.
pub(crate) const PATH_PREFIX: &str = "security/securitycopilot/";

/// The permission that allows reads.
pub const READ_ROLE: &str = "SecurityCopilotWorkspaces.Read.All";

/// The permission that allows reads and writes.
pub const READ_WRITE_ROLE: &str = "SecurityCopilotWorkspaces.ReadWrite.All";

/// How an evaluation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Outcome {
    /// `completed`, result `success`: the answer.
    Success,
    /// `completed`, result `error`.
    Error,
    /// `completed`, result `needAdditionalClaims`.
    NeedAdditionalClaims,
    /// `completed`, result `rejected`.
    Rejected,
    /// `completed`, result `timedOut`.
    TimedOut,
    /// `completed`, result `capacityExceeded`.
    CapacityExceeded,
    /// `cancelled` (`isCancelled: true`), no result.
    Cancelled,
    /// `waitingForInput`, no result.
    WaitingForInput,
    /// Stays `running` for ever.
    Never,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 9] = [
        Outcome::Success,
        Outcome::Error,
        Outcome::NeedAdditionalClaims,
        Outcome::Rejected,
        Outcome::TimedOut,
        Outcome::CapacityExceeded,
        Outcome::Cancelled,
        Outcome::WaitingForInput,
        Outcome::Never,
    ];

    /// The marker word (`[emulator:WORD]`) and admin spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::NeedAdditionalClaims => "needAdditionalClaims",
            Outcome::Rejected => "rejected",
            Outcome::TimedOut => "timedOut",
            Outcome::CapacityExceeded => "capacityExceeded",
            Outcome::Cancelled => "cancelled",
            Outcome::WaitingForInput => "waitingForInput",
            Outcome::Never => "never",
        }
    }

    fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The outcome a `[emulator:WORD]` marker in `text` asks for.
    pub fn from_marker(text: &str) -> Option<Outcome> {
        let lower = text.to_ascii_lowercase();
        let start = lower.find("[emulator:")? + "[emulator:".len();
        let end = lower[start..].find(']')? + start;
        Outcome::parse(&text[start..end])
    }

    /// The result `type` of a completed evaluation, `None` for the others.
    fn result_type(self) -> Option<&'static str> {
        match self {
            Outcome::Cancelled | Outcome::WaitingForInput | Outcome::Never => None,
            o => Some(o.as_str()),
        }
    }

    fn failure_text(self) -> &'static str {
        match self {
            Outcome::Error => "An error occurred while evaluating the prompt. Try again later.",
            Outcome::NeedAdditionalClaims => {
                "Additional claims are required: sign in again to satisfy the conditional access policy."
            }
            Outcome::Rejected => {
                "This prompt was blocked by Security Copilot's responsible AI checks."
            }
            Outcome::TimedOut => "The evaluation did not finish within the allowed time.",
            Outcome::CapacityExceeded => {
                "The workspace has used all of its provisioned Security Compute Units."
            }
            _ => "",
        }
    }
}

/// Run-time settings (`GET`/`POST /_emulator/security-copilot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SecurityCopilotSettings {
    /// The outcome of new evaluations whose prompt carries no marker (default success).
    pub outcome: Option<Outcome>,
    /// How long a new evaluation runs, in milliseconds (default 4000; at most one day).
    pub run_ms: u64,
    /// Calls allowed per caller in every window (default 600).
    pub calls: usize,
    /// The window, in seconds (default 60).
    pub window_secs: u64,
    /// Whether adding a prompt or an evaluation moves the session's `lastModifiedDateTime`
    /// (default true). False acts as a service that does not: a reader relying on that
    /// time alone misses prompts added to old sessions.
    pub bump_session_modified: bool,
}

impl Default for SecurityCopilotSettings {
    fn default() -> Self {
        Self {
            outcome: None,
            run_ms: 4000,
            calls: 600,
            window_secs: 60,
            bump_session_modified: true,
        }
    }
}

impl SecurityCopilotSettings {
    /// Sets the outcome of unmarked prompts.
    #[must_use]
    pub fn with_outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Sets how long new evaluations run.
    #[must_use]
    pub fn with_run_time(mut self, run: Duration) -> Self {
        self.run_ms = u64::try_from(run.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Sets whether adding a prompt or an evaluation moves the session's
    /// `lastModifiedDateTime`.
    #[must_use]
    pub fn with_bump_session_modified(mut self, bump: bool) -> Self {
        self.bump_session_modified = bump;
        self
    }

    /// Sets the rate limit: `calls` per `window_secs` per caller.
    #[must_use]
    pub fn with_rate_limit(mut self, calls: usize, window_secs: u64) -> Self {
        self.calls = calls;
        self.window_secs = window_secs;
        self
    }

    /// Checks the bounds; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.run_ms > 86_400_000 {
            return Err("run_ms must be at most 86400000 (one day)".into());
        }
        if self.calls == 0 || self.calls > 1_000_000 {
            return Err("calls must be from 1 to 1000000".into());
        }
        if self.window_secs == 0 || self.window_secs > 86_400 {
            return Err("window_secs must be from 1 to 86400".into());
        }
        Ok(())
    }
}

/// The generated history of the `default` workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SecurityCopilotSpec {
    /// Sessions.
    pub sessions: usize,
    /// Prompts per session, each with one finished evaluation.
    pub prompts_per_session: usize,
    /// Days before the anchor the history spreads over.
    pub history_days: u32,
}

impl Default for SecurityCopilotSpec {
    fn default() -> Self {
        Self {
            sessions: 4,
            prompts_per_session: 3,
            history_days: 14,
        }
    }
}

impl SecurityCopilotSpec {
    /// `sessions` sessions of `prompts` prompts each.
    pub fn new(sessions: usize, prompts: usize) -> Self {
        Self {
            sessions,
            prompts_per_session: prompts,
            history_days: 14,
        }
    }
}

#[derive(Debug, Clone)]
struct EvaluationRec {
    id: String,
    created: OffsetDateTime,
    run: Duration,
    outcome: Outcome,
    answer: String,
}

#[derive(Debug, Clone)]
struct PromptRec {
    id: String,
    body: Map<String, Value>,
    created: OffsetDateTime,
    evaluations: Vec<EvaluationRec>,
}

#[derive(Debug, Clone)]
struct SessionRec {
    id: String,
    display_name: String,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    prompts: Vec<PromptRec>,
}

struct Inner {
    seed: u64,
    clock: SharedClock,
    base_url: String,
    sessions: RwLock<Vec<SessionRec>>,
    settings: RwLock<SecurityCopilotSettings>,
    calls: Mutex<HashMap<Uuid, VecDeque<OffsetDateTime>>>,
    next_id: AtomicU64,
    throttled: AtomicU64,
}

/// The Security Copilot stand-in. Cheap to clone.
#[derive(Clone)]
pub struct SecurityCopilot {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SecurityCopilot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityCopilot").finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn iso(t: OffsetDateTime) -> String {
    crate::generate::iso(t)
}

const QUESTIONS: [&str; 6] = [
    "Summarize incident 4213 and its impacted devices",
    "Which users signed in from unfamiliar locations in the last 24 hours?",
    "Explain this PowerShell command: Get-MpComputerStatus | Select AMServiceEnabled",
    "What is CVE-2024-3400 and are any of our firewalls exposed?",
    "List the high severity alerts from Defender for Endpoint today",
    "Draft an executive summary of the phishing campaign targeting finance",
];

fn answer_for(content: &str) -> String {
    let topic: String = content.chars().take(80).collect();
    format!(
        "Here is what I found about \"{topic}\": 3 related alerts, 2 impacted devices and 1 user at risk. Recommended next step: isolate the devices and reset the user's credentials."
    )
}

impl SecurityCopilot {
    pub(crate) fn new(seed: u64, clock: SharedClock, base_url: String) -> Self {
        SecurityCopilot {
            inner: Arc::new(Inner {
                seed,
                clock,
                base_url,
                sessions: RwLock::new(Vec::new()),
                settings: RwLock::new(SecurityCopilotSettings::default()),
                calls: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
            }),
        }
    }

    fn new_id(&self) -> String {
        let n = self.inner.next_id.fetch_add(1, Ordering::SeqCst);
        Rng::new(self.inner.seed, &[0x7365_6363, n])
            .uuid()
            .to_string()
    }

    /// Replaces the history with `spec`'s, ending at `anchor`.
    pub(crate) fn generate(&self, spec: SecurityCopilotSpec, anchor: OffsetDateTime) {
        let mut sessions = Vec::with_capacity(spec.sessions);
        let span = i64::from(spec.history_days.max(1)) * 86_400;
        let mut k = 0usize;
        for s in 0..spec.sessions {
            let mut rng = Rng::new(self.inner.seed, &[0x7363_7365, s as u64]);
            let start = anchor - time::Duration::seconds(span)
                + time::Duration::seconds(rng.range(0, span as u64 - 3600) as i64);
            let mut session = SessionRec {
                id: self.new_id(),
                display_name: format!("Investigation {}", s + 1),
                created: start,
                modified: start,
                prompts: Vec::new(),
            };
            for p in 0..spec.prompts_per_session {
                let at = start + time::Duration::seconds(60 * p as i64 + 5);
                let content = (*rng.pick(&QUESTIONS)).to_owned();
                // Mostly answered; some refused or failed, as real history has.
                let outcome = match k % 9 {
                    4 => Outcome::Rejected,
                    7 => Outcome::Error,
                    _ => Outcome::Success,
                };
                k += 1;
                let mut body = Map::new();
                body.insert("type".into(), "prompt".into());
                body.insert("content".into(), content.clone().into());
                let run = Duration::from_millis(rng.range(2000, 30_000));
                session.prompts.push(PromptRec {
                    id: self.new_id(),
                    body,
                    created: at,
                    evaluations: vec![EvaluationRec {
                        id: self.new_id(),
                        created: at,
                        run,
                        outcome,
                        answer: answer_for(&content),
                    }],
                });
                session.modified = at + time::Duration::try_from(run).unwrap_or_default();
            }
            sessions.push(session);
        }
        sessions.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        *write(&self.inner.sessions) = sessions;
    }

    /// The run-time settings.
    pub fn settings(&self) -> SecurityCopilotSettings {
        read(&self.inner.settings).clone()
    }

    /// Replaces the run-time settings.
    pub fn set_settings(&self, settings: SecurityCopilotSettings) -> Result<(), String> {
        settings.validate()?;
        *write(&self.inner.settings) = settings;
        Ok(())
    }

    /// Requests answered `429` by the rate limit so far.
    pub fn throttled(&self) -> u64 {
        self.inner.throttled.load(Ordering::SeqCst)
    }

    /// Adds a session with `prompts` answered prompts, created `age` ago (its evaluations
    /// finished by now); returns the session id. For tests of incremental reads.
    pub fn add_session(&self, display_name: &str, prompts: &[&str], age: Duration) -> String {
        let now = self.inner.clock.now();
        let start = now - time::Duration::try_from(age).unwrap_or_default();
        let mut session = SessionRec {
            id: self.new_id(),
            display_name: display_name.to_owned(),
            created: start,
            modified: start,
            prompts: Vec::new(),
        };
        for (i, content) in prompts.iter().enumerate() {
            let at = start + time::Duration::milliseconds(i as i64);
            let mut body = Map::new();
            body.insert("type".into(), "prompt".into());
            body.insert("content".into(), (*content).into());
            session.prompts.push(PromptRec {
                id: self.new_id(),
                body,
                created: at,
                evaluations: vec![EvaluationRec {
                    id: self.new_id(),
                    created: at,
                    run: Duration::ZERO,
                    outcome: Outcome::from_marker(content).unwrap_or(Outcome::Success),
                    answer: answer_for(content),
                }],
            });
            session.modified = at;
        }
        let id = session.id.clone();
        write(&self.inner.sessions).push(session);
        id
    }

    /// Adds an answered prompt (its evaluation finished now) to an existing session, moving
    /// the session's `lastModifiedDateTime` only when the settings say so; returns the prompt
    /// id, or `None` when there is no such session. For tests of incremental reads.
    pub fn add_prompt(&self, session_id: &str, content: &str) -> Option<String> {
        let now = self.inner.clock.now();
        let bump = self.settings().bump_session_modified;
        let mut body = Map::new();
        body.insert("type".into(), "prompt".into());
        body.insert("content".into(), content.into());
        let prompt = PromptRec {
            id: self.new_id(),
            body,
            created: now,
            evaluations: vec![EvaluationRec {
                id: self.new_id(),
                created: now,
                run: Duration::ZERO,
                outcome: Outcome::from_marker(content).unwrap_or(Outcome::Success),
                answer: answer_for(content),
            }],
        };
        let id = prompt.id.clone();
        let mut sessions = write(&self.inner.sessions);
        let s = sessions
            .iter_mut()
            .find(|s| s.id.eq_ignore_ascii_case(session_id))?;
        s.prompts.push(prompt);
        if bump {
            s.modified = now;
        }
        Some(id)
    }

    /// Every session as served now (with `prompts`, each with its `evaluations`), in order.
    pub fn snapshot(&self) -> Vec<Value> {
        let now = self.inner.clock.now();
        read(&self.inner.sessions)
            .iter()
            .map(|s| {
                let mut v = session_json(s);
                v["prompts"] = Value::Array(
                    s.prompts
                        .iter()
                        .map(|p| {
                            let mut pv = prompt_json(p);
                            pv["evaluations"] = Value::Array(
                                p.evaluations
                                    .iter()
                                    .map(|e| evaluation_json(e, now))
                                    .collect(),
                            );
                            pv
                        })
                        .collect(),
                );
                v
            })
            .collect()
    }

    fn error(&self, status: StatusCode, code: &str, message: &str) -> Answer {
        error_answer(&self.inner.clock, status, code, message)
    }

    /// Counts a call of `caller`; `Err` with a 429 when over the limit.
    fn admit(&self, caller: Uuid) -> Result<(), Answer> {
        let settings = self.settings();
        let window = time::Duration::seconds(settings.window_secs as i64);
        let now = self.inner.clock.now();
        let mut calls = self.inner.calls.lock().unwrap_or_else(|e| e.into_inner());
        let q = calls.entry(caller).or_default();
        while q.front().is_some_and(|t| *t + window <= now) {
            q.pop_front();
        }
        if q.len() >= settings.calls {
            let free_at = q.front().map_or(now, |t| *t + window);
            let wait = (free_at - now).whole_milliseconds().max(0) as u64;
            let secs = wait.div_ceil(1000).max(1);
            self.inner.throttled.fetch_add(1, Ordering::SeqCst);
            let mut a = self.error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                &format!(
                    "Rate limit is exceeded: {} calls per {} seconds. Try again in {secs} seconds.",
                    settings.calls, settings.window_secs
                ),
            );
            a.retry_after = Some(secs);
            return Err(a);
        }
        q.push_back(now);
        Ok(())
    }

    /// Serves one request under `/beta/security/securityCopilot/`.
    pub(crate) fn serve(
        &self,
        method: &Method,
        rest: &str,
        query: &str,
        claims: &AccessTokenClaims,
        body: &[u8],
    ) -> Answer {
        match self.serve_inner(method, rest, query, claims, body) {
            Ok(a) | Err(a) => a,
        }
    }

    fn serve_inner(
        &self,
        method: &Method,
        rest: &str,
        query: &str,
        claims: &AccessTokenClaims,
        body: &[u8],
    ) -> Result<Answer, Answer> {
        // Application permissions (`roles`) or, for a signed-in user, delegated ones (`scp`).
        let has = |r: &str| {
            claims
                .roles
                .iter()
                .chain(claims.scopes.iter())
                .any(|x| x.eq_ignore_ascii_case(r))
        };
        let write_op = *method == Method::POST;
        let allowed = if write_op {
            has(READ_WRITE_ROLE)
        } else {
            has(READ_ROLE) || has(READ_WRITE_ROLE)
        };
        if !allowed {
            let need = if write_op {
                READ_WRITE_ROLE.to_owned()
            } else {
                format!("{READ_ROLE} or {READ_WRITE_ROLE}")
            };
            return Err(self.error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "Insufficient privileges to complete the operation. The caller needs {need}."
                ),
            ));
        }
        self.admit(claims.object_id)?;
        let segments: Vec<String> = rest.trim_end_matches('/').split('/').map(decode).collect();
        // security / securityCopilot / workspaces / {ws} / sessions / ...
        let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
        if lower.len() == 5
            && lower[2] == "workspaces"
            && lower[3] == "default"
            && lower[4] == "plugins"
            && *method == Method::GET
        {
            let base = format!("{}/beta/{}", self.inner.base_url, segments.join("/"));
            return self.page(plugins(), &parse_query(query), &base, "plugins");
        }
        if lower.len() < 5 || lower[2] != "workspaces" || lower[4] != "sessions" {
            return Err(self.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    segments.last().map_or("", String::as_str)
                ),
            ));
        }
        if lower[3] != "default" {
            return Err(self.error(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                &format!("Workspace '{}' was not found.", segments[3]),
            ));
        }
        let tail: Vec<&str> = segments[5..].iter().map(String::as_str).collect();
        let tail_lower: Vec<&str> = lower[5..].iter().map(String::as_str).collect();
        let q = parse_query(query);
        let base = format!("{}/beta/{}", self.inner.base_url, segments[..5].join("/"));
        let now = self.inner.clock.now();
        match (method.clone(), tail_lower.as_slice()) {
            (Method::GET, []) => {
                let sessions = read(&self.inner.sessions);
                let items: Vec<Value> = sessions.iter().map(session_json).collect();
                self.page(items, &q, &base, "sessions")
            }
            (Method::POST, []) => {
                let b = self.json_body(body)?;
                let name = b
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let s = SessionRec {
                    id: self.new_id(),
                    display_name: name,
                    created: now,
                    modified: now,
                    prompts: Vec::new(),
                };
                let v = session_json(&s);
                write(&self.inner.sessions).push(s);
                Ok(Answer::with_status(StatusCode::CREATED, v.to_string()))
            }
            (Method::GET, [_]) => {
                let sessions = read(&self.inner.sessions);
                let s = self.find_session(&sessions, tail[0])?;
                Ok(Answer::ok(session_json(s).to_string()))
            }
            (Method::GET, [_, "prompts"]) => {
                let sessions = read(&self.inner.sessions);
                let s = self.find_session(&sessions, tail[0])?;
                let items = s.prompts.iter().map(prompt_json).collect();
                self.page(items, &q, &format!("{base}/{}/prompts", s.id), "prompts")
            }
            (Method::POST, [_, "prompts"]) => {
                let b = self.json_body(body)?;
                let prompt = self.validate_prompt(b)?;
                let mut sessions = write(&self.inner.sessions);
                let s = self.find_session_mut(&mut sessions, tail[0])?;
                let p = PromptRec {
                    id: self.new_id(),
                    body: prompt,
                    created: now,
                    evaluations: Vec::new(),
                };
                let v = prompt_json(&p);
                s.prompts.push(p);
                if self.settings().bump_session_modified {
                    s.modified = now;
                }
                Ok(Answer::with_status(StatusCode::CREATED, v.to_string()))
            }
            (Method::GET, [_, "prompts", _]) => {
                let sessions = read(&self.inner.sessions);
                let s = self.find_session(&sessions, tail[0])?;
                let p = self.find_prompt(s, tail[2])?;
                Ok(Answer::ok(prompt_json(p).to_string()))
            }
            (Method::GET, [_, "prompts", _, "evaluations"]) => {
                let sessions = read(&self.inner.sessions);
                let s = self.find_session(&sessions, tail[0])?;
                let p = self.find_prompt(s, tail[2])?;
                let items = p
                    .evaluations
                    .iter()
                    .map(|e| evaluation_json(e, now))
                    .collect();
                self.page(
                    items,
                    &q,
                    &format!("{base}/{}/prompts/{}/evaluations", s.id, p.id),
                    "evaluations",
                )
            }
            (Method::POST, [_, "prompts", _, "evaluations"]) => {
                // The body is `{}`; anything else that is not JSON is refused.
                if !body.is_empty() {
                    self.json_body(body)?;
                }
                let settings = self.settings();
                let mut sessions = write(&self.inner.sessions);
                let s = self.find_session_mut(&mut sessions, tail[0])?;
                if settings.bump_session_modified {
                    s.modified = now;
                }
                let pos = s
                    .prompts
                    .iter()
                    .position(|p| p.id.eq_ignore_ascii_case(tail[2]))
                    .ok_or_else(|| self.not_found("prompt", tail[2]))?;
                let p = &mut s.prompts[pos];
                let text = [
                    p.body.get("content").and_then(Value::as_str),
                    p.body.get("skillName").and_then(Value::as_str),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
                let outcome = Outcome::from_marker(&text)
                    .or(settings.outcome)
                    .unwrap_or(Outcome::Success);
                let e = EvaluationRec {
                    id: self.new_id(),
                    created: now,
                    run: Duration::from_millis(settings.run_ms),
                    outcome,
                    answer: answer_for(&text),
                };
                let v = evaluation_json(&e, now);
                p.evaluations.push(e);
                Ok(Answer::with_status(StatusCode::CREATED, v.to_string()))
            }
            (Method::GET, [_, "prompts", _, "evaluations", _]) => {
                let sessions = read(&self.inner.sessions);
                let s = self.find_session(&sessions, tail[0])?;
                let p = self.find_prompt(s, tail[2])?;
                let e = p
                    .evaluations
                    .iter()
                    .find(|e| e.id.eq_ignore_ascii_case(tail[4]))
                    .ok_or_else(|| self.not_found("evaluation", tail[4]))?;
                Ok(Answer::ok(evaluation_json(e, now).to_string()))
            }
            (m, _) if m != Method::GET && m != Method::POST => Err(self.error(
                StatusCode::METHOD_NOT_ALLOWED,
                "BadRequest",
                &format!("The method {m} is not supported on this resource."),
            )),
            _ => Err(self.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "Resource not found for the segment '{}'.",
                    tail.last().copied().unwrap_or("sessions")
                ),
            )),
        }
    }

    fn json_body(&self, body: &[u8]) -> Result<Map<String, Value>, Answer> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(self.error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The request body must be a JSON object.",
            )),
        }
    }

    fn validate_prompt(&self, b: Map<String, Value>) -> Result<Map<String, Value>, Answer> {
        let bad = |m: &str| self.error(StatusCode::BAD_REQUEST, "BadRequest", m);
        let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
        let text = |k: &str| {
            b.get(k)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
        };
        match kind {
            "prompt" | "context" if !text("content") => {
                Err(bad("A prompt of type 'prompt' needs non-empty 'content'."))
            }
            "skill" if !text("skillName") => {
                Err(bad("A prompt of type 'skill' needs 'skillName'."))
            }
            "skill" if b.get("inputs").is_some_and(|i| !i.is_object()) => {
                Err(bad("'inputs' must be an object of input names to values."))
            }
            "prompt" | "context" | "skill" => Ok(b),
            other => Err(bad(&format!(
                "The prompt type '{other}' is not valid: use prompt, skill or context."
            ))),
        }
    }

    fn not_found(&self, what: &str, id: &str) -> Answer {
        self.error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The {what} '{id}' was not found."),
        )
    }

    fn find_session<'a>(
        &self,
        sessions: &'a [SessionRec],
        id: &str,
    ) -> Result<&'a SessionRec, Answer> {
        sessions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| self.not_found("session", id))
    }

    fn find_session_mut<'a>(
        &self,
        sessions: &'a mut [SessionRec],
        id: &str,
    ) -> Result<&'a mut SessionRec, Answer> {
        sessions
            .iter_mut()
            .find(|s| s.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| self.not_found("session", id))
    }

    fn find_prompt<'a>(&self, s: &'a SessionRec, id: &str) -> Result<&'a PromptRec, Answer> {
        s.prompts
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
            .ok_or_else(|| self.not_found("prompt", id))
    }

    fn page(
        &self,
        items: Vec<Value>,
        q: &crate::graph::Query,
        link_base: &str,
        what: &str,
    ) -> Result<Answer, Answer> {
        let top = match q.top.as_deref() {
            None => 50,
            Some(t) => match t.trim().parse::<usize>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Err(self.error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("Invalid page size specified: '{t}'. Must be between 1 and 100 inclusive."),
                    ));
                }
            },
        };
        let offset = match &q.skiptoken {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                self.error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The $skiptoken is invalid.",
                )
            })?,
        };
        let total = items.len();
        let page: Vec<Value> = items.into_iter().skip(offset).take(top).collect();
        let mut body = json!({
            "@odata.context": format!("{GRAPH_RESOURCE}/beta/$metadata#security/securityCopilot/workspaces('default')/{what}"),
            "value": page,
        });
        if offset + top < total {
            body["@odata.nextLink"] = json!(format!(
                "{link_base}?{}{}$skiptoken={}",
                q.carried,
                if q.carried.is_empty() { "" } else { "&" },
                offset + top
            ));
        }
        Ok(Answer::ok(body.to_string()))
    }
}

/// The workspace's plugins: three enabled Microsoft plugins, two disabled.
fn plugins() -> Vec<Value> {
    [
        ("DefenderXDR", "Microsoft Defender XDR", true, "microsoft"),
        ("EntraID", "Microsoft Entra", true, "microsoft"),
        ("Sentinel", "Microsoft Sentinel", true, "microsoft"),
        ("Purview", "Microsoft Purview", false, "microsoft"),
        ("WebSearch", "Web search", false, "web"),
    ]
    .into_iter()
    .map(|(name, display, enabled, category)| {
        json!({"name": name, "displayName": display, "description": format!("Skills from {display}."),
               "isEnabled": enabled, "category": category, "catalogScope": "workspace",
               "previewState": "ga", "supportedAuthTypes": [], "settings": []})
    })
    .collect()
}

/// The names of the plugins the workspace has enabled.
pub fn enabled_plugins() -> Vec<String> {
    plugins()
        .into_iter()
        .filter(|p| p["isEnabled"] == true)
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

fn session_json(s: &SessionRec) -> Value {
    json!({
        "id": s.id,
        "displayName": s.display_name,
        "createdDateTime": iso(s.created),
        "lastModifiedDateTime": iso(s.modified),
    })
}

fn prompt_json(p: &PromptRec) -> Value {
    let mut v = Value::Object(p.body.clone());
    v["id"] = json!(p.id);
    v["createdDateTime"] = json!(iso(p.created));
    v["lastModifiedDateTime"] = json!(iso(p.created));
    if v.get("content").is_none() {
        v["content"] = json!("");
    }
    if v.get("skillInputDescriptors").is_none() {
        v["skillInputDescriptors"] = json!([]);
    }
    v
}

fn evaluation_json(e: &EvaluationRec, now: OffsetDateTime) -> Value {
    let run = time::Duration::try_from(e.run).unwrap_or_default();
    let ends = e.created + run;
    let (state, done) = if e.outcome == Outcome::Never {
        if now < e.created + time::Duration::seconds(1) {
            ("created", false)
        } else {
            ("running", false)
        }
    } else if now >= ends {
        let state = match e.outcome {
            Outcome::Cancelled => "cancelled",
            Outcome::WaitingForInput => "waitingForInput",
            _ => "completed",
        };
        (state, true)
    } else if now < e.created + time::Duration::seconds(1) {
        ("created", false)
    } else {
        ("running", false)
    };
    let result = match (done, e.outcome.result_type()) {
        (true, Some(t)) => json!({
            "type": t,
            "content": if e.outcome == Outcome::Success { e.answer.as_str() } else { e.outcome.failure_text() },
            "previewState": "ga",
        }),
        _ => Value::Null,
    };
    json!({
        "id": e.id,
        "state": state,
        "executionCount": 1,
        "isCancelled": done && e.outcome == Outcome::Cancelled,
        "createdDateTime": iso(e.created),
        "lastModifiedDateTime": iso(if done { ends } else { now.min(ends).max(e.created) }),
        "completedDateTime": if done { json!(iso(ends)) } else { Value::Null },
        "result": result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn markers_pick_outcomes() {
        assert_eq!(
            Outcome::from_marker("hello [emulator:Rejected] there"),
            Some(Outcome::Rejected)
        );
        assert_eq!(
            Outcome::from_marker("[emulator:capacityExceeded]"),
            Some(Outcome::CapacityExceeded)
        );
        assert_eq!(Outcome::from_marker("[emulator:nonsense]"), None);
        assert_eq!(Outcome::from_marker("no marker"), None);
        assert_eq!(Outcome::from_marker("[emulator:never"), None);
    }

    #[test]
    fn evaluations_move_through_states_over_time() {
        let t0 = datetime!(2026-03-01 12:00 UTC);
        let e = |outcome| EvaluationRec {
            id: "e".into(),
            created: t0,
            run: Duration::from_secs(4),
            outcome,
            answer: "the answer".into(),
        };
        let at = |secs: i64| t0 + time::Duration::seconds(secs);
        let s = evaluation_json(&e(Outcome::Success), at(0));
        assert_eq!(s["state"], "created");
        assert!(s["result"].is_null());
        assert_eq!(
            evaluation_json(&e(Outcome::Success), at(2))["state"],
            "running"
        );
        let done = evaluation_json(&e(Outcome::Success), at(4));
        assert_eq!(done["state"], "completed");
        assert_eq!(done["result"]["type"], "success");
        assert_eq!(done["result"]["content"], "the answer");
        for o in [
            Outcome::Error,
            Outcome::NeedAdditionalClaims,
            Outcome::Rejected,
            Outcome::TimedOut,
            Outcome::CapacityExceeded,
        ] {
            let v = evaluation_json(&e(o), at(5));
            assert_eq!(v["state"], "completed");
            assert_eq!(v["result"]["type"], o.as_str());
            assert_ne!(v["result"]["content"], "the answer");
        }
        let c = evaluation_json(&e(Outcome::Cancelled), at(5));
        assert_eq!(
            (c["state"].as_str(), c["isCancelled"].as_bool()),
            (Some("cancelled"), Some(true))
        );
        assert_eq!(
            evaluation_json(&e(Outcome::WaitingForInput), at(5))["state"],
            "waitingForInput"
        );
        assert_eq!(
            evaluation_json(&e(Outcome::Never), at(100_000))["state"],
            "running"
        );
    }

    #[test]
    fn settings_are_bounded() {
        assert!(SecurityCopilotSettings::default().validate().is_ok());
        let s = SecurityCopilotSettings {
            calls: 0,
            ..SecurityCopilotSettings::default()
        };
        assert!(s.validate().unwrap_err().contains("calls"));
        let s = SecurityCopilotSettings {
            window_secs: 0,
            ..SecurityCopilotSettings::default()
        };
        assert!(s.validate().unwrap_err().contains("window_secs"));
    }
}
