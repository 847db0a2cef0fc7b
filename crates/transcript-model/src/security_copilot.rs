//! Security Copilot exchanges (a prompt and one evaluation of it), as Akto records.
//!
//! A Security Copilot session holds prompts; each run of a prompt is an evaluation whose
//! result is the answer, or the service's reason for not answering. One exchange is one
//! prompt with one finished evaluation, and becomes one record: the prompt is the request,
//! the result the response. The input is plain data ([`Exchange`]) so this crate needs no
//! HTTP client; the connector fills it from Graph.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::akto::{AktoRecord, RecordParts, encode_segment, json_object, to_json};

/// The `tag.source` of Security Copilot records.
pub const SECURITY_COPILOT_TAG_SOURCE: &str = "SECURITY_COPILOT";

/// The host Security Copilot records report unless configured otherwise.
pub const SECURITY_COPILOT_DEFAULT_HOST: &str = "securitycopilot.microsoft.com";

/// One prompt and one evaluation of it, as read from Graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Exchange {
    /// The workspace id (`default` unless the tenant uses another).
    pub workspace: String,
    /// The session id.
    pub session_id: String,
    /// The session's `displayName`.
    pub session_name: Option<String>,
    /// The prompt id.
    pub prompt_id: String,
    /// The prompt's `type` (`prompt`, `skill`, `context`).
    pub prompt_type: Option<String>,
    /// The prompt's text (`content`).
    pub content: Option<String>,
    /// `skillName`, for a skill prompt.
    pub skill_name: Option<String>,
    /// The skill's inputs, as sent (a JSON object).
    pub inputs: Option<Map<String, Value>>,
    /// The prompt's `createdDateTime`.
    pub prompt_created: Option<OffsetDateTime>,
    /// The evaluation id.
    pub evaluation_id: String,
    /// The evaluation's `state` (`completed`, `cancelled`, `waitingForInput`, ...).
    pub state: String,
    /// `result.type` (`success`, `error`, `rejected`, ...), when there is a result.
    pub result_type: Option<String>,
    /// `result.content`: the answer, or why there is none.
    pub result_content: Option<String>,
    /// `completedDateTime`.
    pub completed: Option<OffsetDateTime>,
}

impl Exchange {
    /// The exchange's version: it changes when the evaluation's outcome changes, so a
    /// connector delivers the exchange again then.
    pub fn version(&self) -> String {
        format!(
            "{}|{}|{}",
            self.state,
            self.result_type.as_deref().unwrap_or("-"),
            self.completed.map_or(0, OffsetDateTime::unix_timestamp)
        )
    }
}

/// The HTTP status an outcome is reported with, so Akto can tell answers from refusals:
/// `success` 200, `needAdditionalClaims` 401, `rejected` 403, `capacityExceeded` 429,
/// `error` 500, `timedOut` 504, a cancelled evaluation 499, one waiting for input 202, any
/// other 200.
pub fn status_of(state: &str, result_type: Option<&str>) -> (u16, &'static str) {
    match (state, result_type) {
        (_, Some("success")) => (200, "OK"),
        (_, Some("needAdditionalClaims")) => (401, "Unauthorized"),
        (_, Some("rejected")) => (403, "Forbidden"),
        (_, Some("capacityExceeded")) => (429, "Too Many Requests"),
        (_, Some("error")) => (500, "Internal Server Error"),
        (_, Some("timedOut")) => (504, "Gateway Timeout"),
        ("cancelled", _) => (499, "Client Closed Request"),
        ("waitingForInput", _) => (202, "Accepted"),
        _ => (200, "OK"),
    }
}

/// Settings for Security Copilot records: Akto ids and host.
#[derive(Debug, Clone)]
pub struct SecurityCopilotConfig {
    host: String,
    account_id: String,
    vxlan_id: String,
}

impl SecurityCopilotConfig {
    /// A configuration with host [`SECURITY_COPILOT_DEFAULT_HOST`].
    pub fn new(account_id: impl Into<String>, vxlan_id: impl Into<String>) -> Self {
        Self {
            host: SECURITY_COPILOT_DEFAULT_HOST.to_owned(),
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

    /// The record of one exchange.
    ///
    /// - `path`: `/security-copilot/{workspace}/sessions/{sessionId}/prompts/{promptId}/evaluations/{evaluationId}`
    ///   (segments percent-encoded).
    /// - `requestPayload`: `{"message": content}`, with `skill` and `inputs` for a skill prompt.
    /// - `responsePayload`: `{"message": result content, "resultType": ..., "state": ...}`.
    /// - `statusCode` / `status`: from the outcome ([`status_of`]).
    /// - `requestHeaders`: `host`, `content-type`, `x-security-copilot-workspace`,
    ///   `-session-id`, `-session-name`, `-prompt-id`, `-prompt-type`, `-skill-name` (when known).
    /// - `responseHeaders`: `content-type`, `x-security-copilot-evaluation-id`, `-state`,
    ///   `-result-type`.
    /// - `time`: the prompt's `createdDateTime` (the evaluation's completion without it).
    /// - `tag`: `{"source":"SECURITY_COPILOT","workspace":...,"bot-name":"security-copilot"}`.
    ///
    /// ```
    /// use transcript_model::security_copilot::{Exchange, SecurityCopilotConfig};
    /// let mut e = Exchange::default();
    /// e.workspace = "default".into();
    /// e.session_id = "s1".into();
    /// e.prompt_id = "p1".into();
    /// e.evaluation_id = "e1".into();
    /// e.content = Some("Summarize incident 42".into());
    /// e.state = "completed".into();
    /// e.result_type = Some("rejected".into());
    /// e.result_content = Some("Blocked by policy.".into());
    /// let r = SecurityCopilotConfig::new("1000000", "0").record(&e);
    /// assert_eq!(r.path, "/security-copilot/default/sessions/s1/prompts/p1/evaluations/e1");
    /// assert_eq!(r.request_payload, r#"{"message":"Summarize incident 42"}"#);
    /// assert_eq!(r.response_payload, r#"{"message":"Blocked by policy.","resultType":"rejected","state":"completed"}"#);
    /// assert_eq!((r.status_code.as_str(), r.status.as_str()), ("403", "Forbidden"));
    /// ```
    pub fn record(&self, e: &Exchange) -> AktoRecord {
        #[derive(Serialize)]
        struct Request<'a> {
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            skill: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            inputs: Option<&'a Map<String, Value>>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Response<'a> {
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            result_type: Option<&'a str>,
            state: &'a str,
        }
        let (code, status) = status_of(&e.state, e.result_type.as_deref());
        let request_headers = json_object(&[
            ("host", Some(self.host.as_str())),
            ("content-type", Some("application/json")),
            ("x-security-copilot-workspace", Some(e.workspace.as_str())),
            ("x-security-copilot-session-id", Some(e.session_id.as_str())),
            ("x-security-copilot-session-name", e.session_name.as_deref()),
            ("x-security-copilot-prompt-id", Some(e.prompt_id.as_str())),
            ("x-security-copilot-prompt-type", e.prompt_type.as_deref()),
            ("x-security-copilot-skill-name", e.skill_name.as_deref()),
        ]);
        let response_headers = json_object(&[
            ("content-type", Some("application/json")),
            (
                "x-security-copilot-evaluation-id",
                Some(e.evaluation_id.as_str()),
            ),
            ("x-security-copilot-state", Some(e.state.as_str())),
            ("x-security-copilot-result-type", e.result_type.as_deref()),
        ]);
        let tag = json_object(&[
            ("source", Some(SECURITY_COPILOT_TAG_SOURCE)),
            ("workspace", Some(e.workspace.as_str())),
            ("bot-name", Some("security-copilot")),
        ]);
        let skill = e.skill_name.as_deref().filter(|s| !s.is_empty());
        let time = e
            .prompt_created
            .or(e.completed)
            .map_or(0, OffsetDateTime::unix_timestamp);
        let parts = RecordParts {
            path: format!(
                "/security-copilot/{}/sessions/{}/prompts/{}/evaluations/{}",
                encode_segment(&e.workspace, b""),
                encode_segment(&e.session_id, b""),
                encode_segment(&e.prompt_id, b""),
                encode_segment(&e.evaluation_id, b"")
            ),
            request_headers,
            response_headers,
            request_payload: to_json(&Request {
                message: e.content.as_deref().unwrap_or_default(),
                skill,
                inputs: e.inputs.as_ref().filter(|_| skill.is_some()),
            }),
            response_payload: to_json(&Response {
                message: e.result_content.as_deref().unwrap_or_default(),
                result_type: e.result_type.as_deref(),
                state: &e.state,
            }),
            time,
            status_code: code,
            status,
            tag,
        };
        AktoRecord::mirrored(parts, &self.account_id, &self.vxlan_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skill_prompts_carry_skill_and_inputs_and_ids_are_encoded() {
        let mut inputs = Map::new();
        inputs.insert("incidentId".into(), "42".into());
        let e = Exchange {
            workspace: "default".into(),
            session_id: "a/b".into(),
            prompt_id: "p 1".into(),
            evaluation_id: "e".into(),
            prompt_type: Some("skill".into()),
            skill_name: Some("GetIncident".into()),
            inputs: Some(inputs),
            state: "completed".into(),
            result_type: Some("success".into()),
            result_content: Some("Incident 42: \"phish\"".into()),
            prompt_created: Some(time::macros::datetime!(2026-03-01 10:00 UTC)),
            ..Exchange::default()
        };
        let r = SecurityCopilotConfig::new("1", "0")
            .with_host("h")
            .record(&e);
        assert_eq!(
            r.path,
            "/security-copilot/default/sessions/a%2Fb/prompts/p%201/evaluations/e"
        );
        assert_eq!(
            r.request_payload,
            r#"{"message":"","skill":"GetIncident","inputs":{"incidentId":"42"}}"#
        );
        assert_eq!(r.status_code, "200");
        assert_eq!(r.time, "1772359200");
        assert!(r.tag.contains("\"source\":\"SECURITY_COPILOT\""));
        assert!(
            r.request_headers
                .contains("\"x-security-copilot-skill-name\":\"GetIncident\"")
        );
        let v: Value = serde_json::from_str(&r.response_payload).unwrap_or_default();
        assert_eq!(v["message"], "Incident 42: \"phish\"");
    }

    #[test]
    fn every_outcome_has_a_status_and_versions_change_with_outcome() {
        for (t, code) in [
            ("success", 200),
            ("needAdditionalClaims", 401),
            ("rejected", 403),
            ("capacityExceeded", 429),
            ("error", 500),
            ("timedOut", 504),
        ] {
            assert_eq!(status_of("completed", Some(t)).0, code);
        }
        assert_eq!(status_of("cancelled", None).0, 499);
        assert_eq!(status_of("waitingForInput", None).0, 202);
        let mut e = Exchange {
            state: "waitingForInput".into(),
            ..Exchange::default()
        };
        let v1 = e.version();
        e.state = "completed".into();
        e.result_type = Some("success".into());
        assert_ne!(v1, e.version());
    }
}
