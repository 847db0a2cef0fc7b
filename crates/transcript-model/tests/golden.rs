//! Golden tests over the 11 real rows in `fixtures/slg-conversationtranscripts.json`.
//!
//! `fixtures/slg-expected-pairs.json` was written from a reading of each transcript: which
//! message activities pair with which, the greetings (two duplicated ones), the prompts left
//! without a reply (with the planner step that served them) and the session facts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use transcript_model::{AktoConfig, BotIdentity, Message, PairedTranscript, parse_page};

const ROWS: &[u8] = include_bytes!("fixtures/slg-conversationtranscripts.json");
const EXPECTED: &str = include_str!("fixtures/slg-expected-pairs.json");

fn message_json(m: Option<Message<'_>>) -> Value {
    m.map_or(Value::Null, |m| {
        json!({
            "activity_index": m.activity_index,
            "id": m.id,
            "timestamp": m.timestamp,
            "text": m.text,
        })
    })
}

fn actual_json(p: &PairedTranscript<'_>) -> Value {
    let t = p.transcript;
    let pairs: Vec<Value> = p
        .pairs
        .iter()
        .map(|pair| {
            // Attachments and values are empty throughout these rows; say so explicitly.
            for m in [pair.request, pair.response].into_iter().flatten() {
                assert!(m.attachments.is_none() && m.value.is_none());
                assert!(!m.is_post_back && !m.is_autonomous_trigger);
            }
            let tools: Vec<Value> = pair
                .tools
                .iter()
                .map(|tool| {
                    json!({
                        "activity_index": tool.activity_index,
                        "kind": tool.kind.as_str(),
                        "id": tool.id,
                        "plan_id": tool.plan_id,
                        "state": tool.state,
                        "arguments": tool.arguments.as_ref().map(|a| serde_json::from_str::<Value>(a.get()).unwrap()),
                        "thought": tool.thought,
                    })
                })
                .collect();
            json!({
                "index": pair.index,
                "request": message_json(pair.request),
                "response": message_json(pair.response),
                "tools": tools,
            })
        })
        .collect();
    json!({
        "id": t.id,
        "conversation_id": t.conversation_id(),
        "bot_schema_name": t.metadata.as_ref().and_then(|m| m.bot_name.clone()),
        "channel": p.facts.channel,
        "kind": p.facts.kind.as_str(),
        "locale": p.facts.locale,
        "user_aad_object_id": p.facts.user_aad_object_id,
        "session_outcome": p.facts.session.as_ref().and_then(|s| s.outcome.clone()),
        "pairs": pairs,
    })
}

#[test]
fn all_real_rows_pair_as_reviewed() {
    let expected: Vec<Value> = serde_json::from_str(EXPECTED).unwrap();
    let rows = parse_page(ROWS).unwrap();
    assert_eq!(rows.len(), 11);
    assert_eq!(expected.len(), 11);
    for (row, want) in rows.into_iter().zip(&expected) {
        let transcript = row.unwrap();
        let paired = transcript.pair();
        let got = actual_json(&paired);
        assert_eq!(&got, want, "transcript {}", transcript.id);
        assert!(paired.unattached_tools.is_empty());
        // Real rows are what "normal" means: nothing about them is odd.
        assert!(paired.warnings.is_empty(), "{:?}", paired.warnings);
    }
}

#[test]
fn row_columns_decode() {
    let rows = parse_page(ROWS).unwrap();
    let t = rows[0].as_ref().unwrap();
    assert_eq!(t.id, "1a046a59-71bc-46d2-9838-5215f25f787d");
    assert_eq!(
        t.bot_id.as_deref(),
        Some("4d4799b8-d46e-ef11-a670-001dd804edd8")
    );
    let meta = t.metadata.as_ref().unwrap();
    assert_eq!(
        meta.bot_id.as_deref(),
        Some("4b57a07a-d1cf-06b6-3ebc-97dababcdbf0")
    );
    assert_eq!(
        meta.aad_tenant_id.as_deref(),
        Some("426a6ef4-2476-4eab-ae1c-1c9dc2bfca80")
    );
    assert_eq!(meta.bot_name.as_deref(), Some("cr3e5_testCopilot"));
    assert_eq!(meta.batch_id, None);
    assert_eq!(
        t.conversation_start_time.unwrap().unix_timestamp(),
        1_725_905_090
    );
    assert_eq!(t.created_on.unwrap().unix_timestamp(), 1_725_907_273);
    assert_eq!(t.modified_on, t.created_on);
    assert_eq!(t.schema_type.as_deref(), Some("powervirtualagents"));
    assert_eq!(t.schema_version.as_deref(), Some("0.2.1"));
    assert_eq!(t.content.activities.len(), 20);
    // `speak` is not modelled and is kept verbatim (Dataverse writes `<` as `\u003C`).
    let speak = t.content.activities[2]
        .unknown_field("speak")
        .unwrap()
        .get();
    assert!(speak.starts_with(r#""\u003Cspeak"#), "{speak}");
    assert!(
        serde_json::from_str::<String>(speak)
            .unwrap()
            .starts_with("<speak version=\"1.0\"")
    );
    let s = rows[0].as_ref().unwrap().pair().facts.session.unwrap();
    assert_eq!(
        (s.engagement.as_deref(), s.turn_count, s.implied_success),
        (Some("Engaged"), Some(4), Some(false))
    );
}

/// The records of the transcript whose prompt went to a tool and got no text reply, written out
/// in full.
#[test]
fn akto_records_for_a_real_row() {
    let config = AktoConfig::new(
        "1000000",
        "0",
        "Default-426a6ef4-2476-4eab-ae1c-1c9dc2bfca80",
    )
    .with_bot(
        "4D4799B8-D46E-EF11-A670-001DD804EDD8",
        BotIdentity::new("Test Copilot", "cr3e5_testCopilot"),
    );
    let rows = config.page_to_records(ROWS).unwrap();
    let records = rows[8].as_ref().unwrap();
    assert_eq!(records.len(), 3);
    let request_headers = r#"{"host":"copilot.microsoft.com","content-type":"application/json","x-copilot-transcript-id":"997543fa-8417-492a-9ddb-aacd7ad74b28","x-copilot-conversation-id":"ba2e7050-1f14-453a-9b6a-0df1116543eb","x-copilot-channel":"pva-studio","x-copilot-conversation-kind":"design"}"#;
    let tag = r#"{"source":"COPILOT_STUDIO","bot-name":"test-copilot","bot-schemaname":"cr3e5_testCopilot","bot-environment-id":"Default-426a6ef4-2476-4eab-ae1c-1c9dc2bfca80"}"#;
    let greeting = "Hello, I'm Test Copilot, a virtual assistant. Just so you are aware, I sometimes use AI to answer your questions. If you provided a website during creation, try asking me about it! Next try giving me some more knowledge by setting up generative AI.";
    let expected = json!([
        {
            "path": "/copilot/conversation/997543fa-8417-492a-9ddb-aacd7ad74b28/message/0",
            "requestHeaders": request_headers,
            "responseHeaders": r#"{"content-type":"application/json","x-copilot-session-outcome":"None"}"#,
            "method": "POST",
            "requestPayload": "{}",
            "responsePayload": json!({"message": greeting}).to_string(),
            "ip": "",
            "time": "1725905280",
            "statusCode": "200",
            "type": "HTTP/1.1",
            "status": "OK",
            "akto_account_id": "1000000",
            "akto_vxlan_id": "0",
            "is_pending": "false",
            "source": "MIRRORING",
            "tag": tag,
        },
        {
            "path": "/copilot/conversation/997543fa-8417-492a-9ddb-aacd7ad74b28/message/1",
            "requestHeaders": request_headers,
            "responseHeaders": r#"{"content-type":"application/json","x-copilot-session-outcome":"None"}"#,
            "method": "POST",
            "requestPayload": "{}",
            "responsePayload": json!({"message": greeting}).to_string(),
            "ip": "",
            "time": "1725905280",
            "statusCode": "200",
            "type": "HTTP/1.1",
            "status": "OK",
            "akto_account_id": "1000000",
            "akto_vxlan_id": "0",
            "is_pending": "false",
            "source": "MIRRORING",
            "tag": tag,
        },
        {
            "path": "/copilot/conversation/997543fa-8417-492a-9ddb-aacd7ad74b28/message/2",
            "requestHeaders": request_headers,
            "responseHeaders": r#"{"content-type":"application/json","x-copilot-session-outcome":"None","x-copilot-tools":"tool:cr3e5_testCopilot.component.AddAccountRowfromCS"}"#,
            "method": "POST",
            "requestPayload": r#"{"message":"Add a new account with name \"Cron Studios\""}"#,
            "responsePayload": "{}",
            "ip": "",
            "time": "1725905287",
            "statusCode": "200",
            "type": "HTTP/1.1",
            "status": "OK",
            "akto_account_id": "1000000",
            "akto_vxlan_id": "0",
            "is_pending": "false",
            "source": "MIRRORING",
            "tag": tag,
        }
    ]);
    assert_eq!(serde_json::to_value(records).unwrap(), expected);
    // Field order is Akto's.
    let text = serde_json::to_string(&records[2]).unwrap();
    let order = [
        "path",
        "requestHeaders",
        "responseHeaders",
        "method",
        "requestPayload",
        "responsePayload",
        "ip",
        "time",
        "statusCode",
        "type",
        "status",
        "akto_account_id",
        "akto_vxlan_id",
        "is_pending",
        "source",
        "tag",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|k| text.find(&format!("\"{k}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.starts_with(r#"{"path":"/copilot/conversation/997543fa"#));
}

#[test]
fn records_are_byte_identical_across_runs() {
    let config = AktoConfig::new("1000000", "0", "env");
    let a = serde_json::to_string(
        &config
            .page_to_records(ROWS)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let b = serde_json::to_string(
        &config
            .page_to_records(ROWS)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(a, b);
    // The OData envelope gives the same records as the bare array.
    let odata = format!(
        r#"{{"@odata.context":"ctx","value":{}}}"#,
        std::str::from_utf8(ROWS).unwrap()
    );
    let c = serde_json::to_string(
        &config
            .page_to_records(odata.as_bytes())
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert_eq!(a, c);
    // And so does the Value path a connector may take.
    let values: Vec<Value> = serde_json::from_slice(ROWS).unwrap();
    let d: Vec<_> = values
        .iter()
        .map(|v| config.records(&transcript_model::Transcript::from_value(v).unwrap().pair()))
        .collect();
    assert_eq!(a, serde_json::to_string(&d).unwrap());
}
