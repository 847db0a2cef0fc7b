//! Akto's multi-environment contract: the record host shape, the user map Akto passes in
//! (`COPILOT_STUDIO_USER_MAP_FILE`), the user-agent map the connector writes back
//! (`COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE`), and one agent inventory record per agent
//! (`/copilot/bot/{agentId}`).
//!
//! Akto files each record under its `host`. Older Akto deployments used one host,
//! `copilot.microsoft.com` ([`HostShape::RecordHost`], the default). Newer ones give every
//! person's conversations with an agent their own collection, `{userId}.ai-agent.{botName}`
//! ([`HostShape::AiAgent`]): `userId` is the value the user map gives for the message's
//! `from.aadObjectId` (Akto builds it as the sanitised UPN local part, `-`, and the first 8
//! characters of the object id), `botName` the sanitised agent name of the record's tag.
//! A person the map does not know is `user-{first 8 characters of the object id}`; a
//! conversation without an authenticated user is [`ANONYMOUS_USER`].

use crate::connector::Agent;
use crate::sink::RecordJson;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::OffsetDateTime;
use transcript_model::{AktoRecord, BotIdentity, sanitize_bot_name};

/// The user part of the host when a conversation has no authenticated user.
pub const ANONYMOUS_USER: &str = "anonymous";

/// The middle of the newer host shape, `{userId}.ai-agent.{botName}`.
pub const AI_AGENT_HOST_INFIX: &str = ".ai-agent.";

/// Which host records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HostShape {
    /// The configured record host (default `copilot.microsoft.com`), as today.
    #[default]
    RecordHost,
    /// `{userId}.ai-agent.{botName}`, as newer Akto code expects.
    AiAgent,
}

/// A user map or output file that cannot be used; the text names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AktoFileError {
    /// The user map cannot be read or is not `{aadObjectId: userId}`.
    #[error(
        "COPILOT_STUDIO_USER_MAP_FILE {path} cannot be used: {problem}. Fix: give a JSON object mapping each Entra object id to its user id, e.g. {{\"0f3c...\": \"jdoe-0f3c1a2b\"}}"
    )]
    UserMap {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The user-agent map could not be written.
    #[error(
        "cannot write COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE {path}: {source}. Fix: point it at a writable directory"
    )]
    Output {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Reads Akto's user map: a JSON object `{aadObjectId: userId}`. Object ids are matched
/// case-insensitively.
pub fn read_user_map(path: &Path) -> Result<HashMap<String, String>, AktoFileError> {
    let bad = |problem: String| AktoFileError::UserMap {
        path: path.to_owned(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a JSON object ({e})")))?;
    let mut out = HashMap::with_capacity(map.len());
    for (id, user) in map {
        match user {
            serde_json::Value::String(u) if !u.trim().is_empty() => {
                out.insert(id.trim().to_ascii_lowercase(), u.trim().to_owned());
            }
            other => {
                return Err(bad(format!(
                    "the value for `{id}` is {other}, not a user id (a non-empty string)"
                )));
            }
        }
    }
    Ok(out)
}

/// Names the host of each record and remembers which users talked to which agent in a pass.
#[derive(Debug, Default)]
pub struct RecordHosts {
    shape: HostShape,
    users: HashMap<String, String>,
    seen: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl RecordHosts {
    /// Hosts of `shape`, naming users through `users` (`{aadObjectId: userId}`, from
    /// [`read_user_map`]; empty without a map).
    pub fn new(shape: HostShape, users: HashMap<String, String>) -> Self {
        Self {
            shape,
            users,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// The shape.
    pub fn shape(&self) -> HostShape {
        self.shape
    }

    /// The user part for a conversation with `aad_object_id`.
    pub fn user_part(&self, aad_object_id: Option<&str>) -> String {
        match aad_object_id.map(str::trim).filter(|s| !s.is_empty()) {
            None => ANONYMOUS_USER.to_owned(),
            Some(id) => match self.users.get(&id.to_ascii_lowercase()) {
                Some(user) => user.clone(),
                None => {
                    let prefix: String = id
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric())
                        .take(8)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    format!("user-{prefix}")
                }
            },
        }
    }

    /// The sanitised name Akto files an agent under (the tag's `bot-name`), never empty.
    pub fn bot_name(bot: &BotIdentity) -> String {
        let name = sanitize_bot_name(&bot.display_name);
        if !name.is_empty() {
            return name;
        }
        let schema = sanitize_bot_name(&bot.schema_name);
        if schema.is_empty() {
            "agent".to_owned()
        } else {
            schema
        }
    }

    /// Sets the host of one transcript's `records` (the user `aad_object_id` talking to `bot`)
    /// and notes the user against the agent.
    pub fn apply(
        &self,
        bot: &BotIdentity,
        aad_object_id: Option<&str>,
        records: &mut [AktoRecord],
    ) {
        if records.is_empty() {
            return;
        }
        let bot_name = Self::bot_name(bot);
        let user = self.user_part(aad_object_id);
        if self.shape == HostShape::AiAgent {
            let host = format!("{user}{AI_AGENT_HOST_INFIX}{bot_name}");
            for r in records.iter_mut() {
                r.request_headers = with_host(&r.request_headers, &host);
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.entry(bot_name).or_default().insert(user);
    }

    /// `{botName: [userId, ...]}` of the records built so far, sorted.
    pub fn user_agent_map(&self) -> BTreeMap<String, Vec<String>> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.iter()
            .map(|(bot, users)| (bot.clone(), users.iter().cloned().collect()))
            .collect()
    }

    /// Writes [`RecordHosts::user_agent_map`] to `path` atomically: a temporary file in the
    /// same directory, synced, then renamed over `path`, so a reader never sees half a file.
    pub fn write_user_agent_map(&self, path: &Path) -> Result<(), AktoFileError> {
        let err = |source| AktoFileError::Output {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec(&self.user_agent_map())
            .map_err(|e| err(std::io::Error::other(e)))?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| {
            err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path names no file",
            ))
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let written = (|| {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
    }
}

/// `headers` (a JSON object's text) with its `host` set to `host`.
fn with_host(headers: &str, host: &str) -> String {
    let host_json = serde_json::Value::String(host.to_owned()).to_string();
    // Records are built with `host` first: replace its value in place, keeping the order.
    const PREFIX: &str = "{\"host\":";
    if let Some(rest) = headers.strip_prefix(PREFIX) {
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        if let Some(Ok(_)) = values.next() {
            let end = values.byte_offset();
            return format!("{PREFIX}{host_json}{}", &rest[end..]);
        }
    }
    let mut map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(headers).unwrap_or_default();
    map.insert("host".into(), serde_json::Value::String(host.to_owned()));
    serde_json::Value::Object(map).to_string()
}

/// An agent inventory record, as Akto's inventory publisher shapes them.
#[derive(Debug, Serialize)]
struct InventoryRecord<'a> {
    path: String,
    #[serde(rename = "requestHeaders")]
    request_headers: String,
    #[serde(rename = "responseHeaders")]
    response_headers: &'a str,
    method: &'a str,
    #[serde(rename = "requestPayload")]
    request_payload: &'a str,
    #[serde(rename = "responsePayload")]
    response_payload: String,
    ip: &'a str,
    time: String,
    #[serde(rename = "statusCode")]
    status_code: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    status: &'a str,
    akto_account_id: &'a str,
    akto_vxlan_id: &'a str,
    is_pending: &'a str,
    source: &'a str,
    tag: String,
}

#[derive(Debug, Serialize)]
struct InventoryTag<'a> {
    source: &'a str,
    #[serde(rename = "gen-ai")]
    gen_ai: &'a str,
    #[serde(rename = "ai-agent")]
    ai_agent: &'a str,
    #[serde(rename = "bot-id")]
    bot_id: String,
    #[serde(rename = "bot-environment-id")]
    bot_environment_id: &'a str,
    #[serde(rename = "copilot-inventory")]
    copilot_inventory: &'a str,
    #[serde(rename = "saas-agent")]
    saas_agent: &'a str,
}

/// What an agent's inventory record says: a change to any of it sends the record again.
pub fn agent_fingerprint(agent: &Agent) -> String {
    serde_json::to_string(agent).unwrap_or_default()
}

/// The inventory record of `agent`: `GET /copilot/bot/{agentId}` answered with the agent
/// (id, name, schema name, published date, state and status), tagged so Akto lists it as a
/// Copilot Studio agent. In the `{userId}.ai-agent.{botName}` shape the user part is
/// [`ANONYMOUS_USER`]: the record is about the agent, not a conversation.
pub fn inventory_record(
    agent: &Agent,
    host_shape: HostShape,
    record_host: &str,
    account_id: &str,
    environment_id: &str,
    now: OffsetDateTime,
) -> Result<RecordJson, serde_json::Error> {
    let bot = BotIdentity::new(agent.name.clone(), agent.schema_name.clone());
    let bot_name = RecordHosts::bot_name(&bot);
    let host = match host_shape {
        HostShape::RecordHost => record_host.to_owned(),
        HostShape::AiAgent => format!("{ANONYMOUS_USER}{AI_AGENT_HOST_INFIX}{bot_name}"),
    };
    let request_headers = serde_json::to_string(&serde_json::json!({
        "host": host,
        "content-type": "application/json",
    }))?;
    let tag = serde_json::to_string(&InventoryTag {
        source: "ENDPOINT",
        gen_ai: "Gen AI",
        ai_agent: &bot_name,
        bot_id: agent.id.to_string(),
        bot_environment_id: environment_id,
        copilot_inventory: "true",
        saas_agent: "copilot-studio",
    })?;
    let record = InventoryRecord {
        path: format!("/copilot/bot/{}", agent.id),
        request_headers,
        response_headers: "{}",
        method: "GET",
        // Akto keeps this at "{}": a longer request payload makes it record an agent query.
        request_payload: "{}",
        response_payload: serde_json::to_string(agent)?,
        ip: "",
        time: now.unix_timestamp().to_string(),
        status_code: "200",
        kind: "HTTP/1.1",
        status: "OK",
        akto_account_id: account_id,
        akto_vxlan_id: "0",
        is_pending: "false",
        source: "MIRRORING",
        tag,
    };
    serde_json::value::RawValue::from_string(serde_json::to_string(&record)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn agent(name: &str) -> Agent {
        Agent::from_row(&serde_json::json!({
            "botid": "4b57a07a-0000-0000-0000-000000000001",
            "name": name,
            "schemaname": "cr3e5_zahlungen",
            "publishedon": "2026-01-01T00:00:00Z",
            "statecode": 0,
            "statuscode": 1
        }))
        .unwrap()
    }

    #[test]
    fn the_inventory_record_has_akto_s_shape() {
        let now = time::macros::datetime!(2026-03-01 12:00 UTC);
        let r = inventory_record(
            &agent("Zahlungs-Überblick"),
            HostShape::RecordHost,
            "copilot.microsoft.com",
            "1000000",
            "env-1",
            now,
        )
        .unwrap();
        let v: Value = serde_json::from_str(r.get()).unwrap();
        // Every value is a string.
        assert!(v.as_object().unwrap().values().all(Value::is_string), "{v}");
        assert_eq!(
            v["path"],
            "/copilot/bot/4b57a07a-0000-0000-0000-000000000001"
        );
        assert_eq!(v["method"], "GET");
        assert_eq!(v["requestPayload"], "{}");
        assert_eq!(v["responseHeaders"], "{}");
        assert_eq!(v["statusCode"], "200");
        assert_eq!(v["status"], "OK");
        assert_eq!(v["type"], "HTTP/1.1");
        assert_eq!(v["source"], "MIRRORING");
        assert_eq!(v["time"], now.unix_timestamp().to_string());
        let headers: Value = serde_json::from_str(v["requestHeaders"].as_str().unwrap()).unwrap();
        assert_eq!(
            headers,
            serde_json::json!({"host": "copilot.microsoft.com", "content-type": "application/json"})
        );
        let tag: Value = serde_json::from_str(v["tag"].as_str().unwrap()).unwrap();
        assert_eq!(tag["source"], "ENDPOINT");
        assert_eq!(tag["gen-ai"], "Gen AI");
        assert_eq!(tag["ai-agent"], sanitize_bot_name("Zahlungs-Überblick"));
        assert_eq!(tag["bot-id"], "4b57a07a-0000-0000-0000-000000000001");
        assert_eq!(tag["bot-environment-id"], "env-1");
        assert_eq!(tag["copilot-inventory"], "true");
        assert_eq!(tag["saas-agent"], "copilot-studio");
        let body: Value = serde_json::from_str(v["responsePayload"].as_str().unwrap()).unwrap();
        assert_eq!(body["name"], "Zahlungs-Überblick");
        assert_eq!(body["schema_name"], "cr3e5_zahlungen");
        assert_eq!(body["published_on"], "2026-01-01T00:00:00Z");
        assert_eq!(body["status"], "Provisioned");

        let ai = inventory_record(
            &agent("HR helper"),
            HostShape::AiAgent,
            "copilot.microsoft.com",
            "1",
            "e",
            now,
        )
        .unwrap();
        let v: Value = serde_json::from_str(ai.get()).unwrap();
        let headers: Value = serde_json::from_str(v["requestHeaders"].as_str().unwrap()).unwrap();
        assert_eq!(headers["host"], "anonymous.ai-agent.hr-helper");
    }

    #[test]
    fn a_changed_agent_has_another_fingerprint() {
        assert_eq!(
            agent_fingerprint(&agent("A")),
            agent_fingerprint(&agent("A"))
        );
        assert_ne!(
            agent_fingerprint(&agent("A")),
            agent_fingerprint(&agent("B"))
        );
    }

    #[test]
    fn user_parts_come_from_the_map_else_the_object_id() {
        let users: HashMap<String, String> = [(
            "0f3c1a2b-1111-2222-3333-444455556666".to_owned(),
            "jdoe-0f3c1a2b".to_owned(),
        )]
        .into();
        let hosts = RecordHosts::new(HostShape::AiAgent, users);
        assert_eq!(
            hosts.user_part(Some("0F3C1A2B-1111-2222-3333-444455556666")),
            "jdoe-0f3c1a2b"
        );
        assert_eq!(
            hosts.user_part(Some("9a8b7c6d-0000-0000-0000-000000000000")),
            "user-9a8b7c6d"
        );
        assert_eq!(hosts.user_part(None), ANONYMOUS_USER);
        assert_eq!(hosts.user_part(Some(" ")), ANONYMOUS_USER);
    }

    #[test]
    fn the_user_map_is_read_and_bad_ones_are_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("users.json");
        std::fs::write(
            &good,
            r#"{"0F3C1A2B-0000-0000-0000-000000000001": "jdoe-0f3c1a2b"}"#,
        )
        .unwrap();
        let map = read_user_map(&good).unwrap();
        assert_eq!(
            map.get("0f3c1a2b-0000-0000-0000-000000000001")
                .map(String::as_str),
            Some("jdoe-0f3c1a2b")
        );
        for (text, needle) in [
            ("[1,2]", "not a JSON object"),
            ("{not json", "not a JSON object"),
            (r#"{"a": 3}"#, "not a user id"),
            (r#"{"a": ""}"#, "not a user id"),
        ] {
            std::fs::write(&good, text).unwrap();
            let e = read_user_map(&good).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
            assert!(e.starts_with("COPILOT_STUDIO_USER_MAP_FILE"), "{e}");
        }
        let e = read_user_map(&dir.path().join("missing.json")).unwrap_err();
        assert!(e.to_string().contains("missing.json"), "{e}");
    }

    #[test]
    fn the_user_agent_map_is_written_whole_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        std::fs::write(&out, "old").unwrap();
        let hosts = RecordHosts::new(HostShape::AiAgent, HashMap::new());
        let bot = BotIdentity::new("Überweisung Bot", "cr_x");
        let mut records = Vec::new();
        hosts.apply(&bot, Some("9a8b7c6d-0000"), &mut records);
        // No records, nothing noted.
        assert!(hosts.user_agent_map().is_empty());
        hosts.write_user_agent_map(&out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left");
        let e = hosts
            .write_user_agent_map(&dir.path().join("no-such-dir").join("out.json"))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot write COPILOT_STUDIO_USER_AGENT_MAP_OUTPUT_FILE")
        );
    }

    #[test]
    fn the_host_is_replaced_and_kept_first() {
        let h = with_host(
            r#"{"host":"copilot.microsoft.com","content-type":"application/json","x-copilot-transcript-id":"t"}"#,
            "jdoe.ai-agent.bot",
        );
        assert!(h.starts_with(r#"{"host":"jdoe.ai-agent.bot","#), "{h}");
        let v: Value = serde_json::from_str(&h).unwrap();
        assert_eq!(v["x-copilot-transcript-id"], "t");
        assert_eq!(v.as_object().unwrap().len(), 3);
        // A host with characters JSON escapes, and headers built another way.
        let odd = with_host(r#"{"host":"a\"b","x":"1"}"#, "jdoe.ai-agent.bot");
        assert_eq!(odd, r#"{"host":"jdoe.ai-agent.bot","x":"1"}"#);
        let other = with_host(r#"{"x":"1"}"#, "h");
        let v: Value = serde_json::from_str(&other).unwrap();
        assert_eq!(v["host"], "h");
    }
}
