//! The synthetic tenant over plain HTTP: deterministic from the seed, shaped like the real rows,
//! fixture loading, and transcripts added at run time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};
use tenant_emulator::clock::ManualClock;
use tenant_emulator::{Emulator, RunningEmulator};

async fn all(emu: &RunningEmulator, token: &str, path: &str) -> Vec<Value> {
    let response = dv_get(emu, token, path).await;
    assert_eq!(response.status(), 200, "{path}");
    let body: Value = response.json().await.unwrap();
    body["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn same_seed_same_tenant_over_http() {
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let clock = clock();
        let emu = builder(&clock).start().await.unwrap();
        let token = dataverse_token(&emu).await;
        let bots = all(
            &emu,
            &token,
            "bots?$select=botid,name,schemaname,configuration,publishedon",
        )
        .await;
        let components = all(
            &emu,
            &token,
            "botcomponents?$select=botcomponentid,schemaname,componenttype,data,_parentbotid_value",
        )
        .await;
        let transcripts = all(&emu, &token, "conversationtranscripts?$select=conversationtranscriptid,name,content,metadata,createdon").await;
        snapshots.push((emu.credentials().client_id, bots, components, transcripts));
    }
    assert_eq!(snapshots[0], snapshots[1]);
    let (_, bots, components, transcripts) = &snapshots[0];
    assert_eq!(bots.len(), 6);
    assert_eq!(transcripts.len(), 40);
    assert!(components.len() > 6 * 8);

    let clock = clock();
    let other = Emulator::builder()
        .seed(12)
        .agents(6)
        .transcripts(40)
        .anchor(ANCHOR)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&other).await;
    let bots_other = all(
        &other,
        &token,
        "bots?$select=botid,name,schemaname,configuration,publishedon",
    )
    .await;
    assert_ne!(bots, &bots_other);
}

#[tokio::test]
async fn rows_are_shaped_like_the_real_ones() {
    let clock = clock();
    let emu = builder(&clock)
        .agents(20)
        .transcripts(300)
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    // Configurations come in several shapes (none, an older one without AI settings, today's).
    for bot in all(&emu, &token, "bots").await {
        let Some(text) = bot["configuration"].as_str() else {
            continue;
        };
        let config: Value = serde_json::from_str(text).unwrap();
        assert_eq!(config["$kind"], "BotConfiguration");
        if let Some(gpt) = config.get("gPTSettings") {
            assert!(
                gpt["defaultSchemaName"]
                    .as_str()
                    .unwrap()
                    .ends_with(".gpt.default")
            );
        }
    }
    let components = all(
        &emu,
        &token,
        "botcomponents?$select=componenttype,data,schemaname",
    )
    .await;
    let kinds: Vec<&str> = components
        .iter()
        .filter_map(|c| c["data"].as_str())
        .filter_map(|d| d.lines().find_map(|l| l.strip_prefix("kind: ")))
        .collect();
    for expected in [
        "GptComponentMetadata",
        "AdaptiveDialog",
        "TaskDialog",
        "KnowledgeSourceConfiguration",
    ] {
        assert!(
            kinds.contains(&expected),
            "no {expected} component in {kinds:?}"
        );
    }
    assert!(
        components
            .iter()
            .any(|c| c["data"].as_str().unwrap().contains("triggerQueries:"))
    );

    let mut seen_types = std::collections::BTreeSet::new();
    let mut channels = std::collections::BTreeSet::new();
    for row in all(&emu, &token, "conversationtranscripts").await {
        let metadata: Value = serde_json::from_str(row["metadata"].as_str().unwrap()).unwrap();
        assert!(metadata["BotId"].is_string() && metadata["AADTenantId"].is_string());
        assert_eq!(row["schematype"], "powervirtualagents");
        let content: Value = serde_json::from_str(row["content"].as_str().unwrap()).unwrap();
        for a in content["activities"].as_array().unwrap() {
            let role = a["from"]["role"].as_i64().unwrap();
            assert!(role == 0 || role == 1);
            if let Some(c) = a["channelId"].as_str() {
                channels.insert(c.to_owned());
            }
            let kind = match (
                a["type"].as_str().unwrap(),
                a["name"].as_str(),
                a["valueType"].as_str(),
            ) {
                ("event", Some(name), _) => name.to_owned(),
                ("trace", _, Some(vt)) => vt.to_owned(),
                ("message", _, _) if a["channelData"]["postBack"] == json!(true) => {
                    "postBack".to_owned()
                }
                ("message", _, _) if a["text"] == "" => "card-only".to_owned(),
                (t, _, _) => t.to_owned(),
            };
            seen_types.insert(kind);
        }
    }
    for expected in [
        "ConversationInfo",
        "SessionInfo",
        "startConversation",
        "DynamicPlanStepTriggered",
        "DynamicPlanStepFinished",
        "postBack",
        "card-only",
        "GPTAnswer",
        "UnknownIntent",
        "message",
        "HandOff",
        "endOfConversation",
    ] {
        assert!(
            seen_types.contains(expected),
            "no {expected} in {seen_types:?}"
        );
    }
    for expected in ["msteams", "pva-studio", "webchat"] {
        assert!(
            channels.contains(expected),
            "no {expected} channel in {channels:?}"
        );
    }
}

#[tokio::test]
async fn fixture_rows_are_served_as_they_are() {
    let clock = clock();
    let emu = builder(&clock)
        .transcripts(0)
        .transcript_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/slg-conversationtranscripts.json"
        ))
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    let raw: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/slg-conversationtranscripts.json")).unwrap();
    let id = raw[3]["conversationtranscriptid"].as_str().unwrap();
    let response = dv_get(
        &emu,
        &token,
        &format!(
            "conversationtranscripts({id})?$select=content,metadata,conversationstarttime,createdon"
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
    let row: Value = response.json().await.unwrap();
    assert_eq!(row["content"], raw[3]["content"]);
    assert_eq!(row["metadata"], raw[3]["metadata"]);
    assert_eq!(
        all(&emu, &token, "conversationtranscripts?$select=name")
            .await
            .len(),
        11
    );
}

#[tokio::test]
async fn transcripts_added_at_run_time_show_up() {
    let clock = ManualClock::new(time::macros::datetime!(2026-03-01 09:00 UTC));
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    let ids = emu.add_transcripts(3).unwrap();
    assert_eq!(ids.len(), 3);
    let response = http()
        .post(format!("{}/_emulator/transcripts", emu.base_url()))
        .json(&json!({"count": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let added: Value = response.json().await.unwrap();
    assert_eq!(added["ids"].as_array().unwrap().len(), 2);
    let recent = all(
        &emu,
        &token,
        "conversationtranscripts?$select=content,createdon&$filter=createdon ge 2026-03-01T08:59:00Z",
    )
    .await;
    assert_eq!(recent.len(), 5);
    for row in recent {
        assert!(
            row["content"]
                .as_str()
                .unwrap()
                .starts_with("{\"activities\"")
        );
    }
    let bad = http()
        .post(format!("{}/_emulator/transcripts", emu.base_url()))
        .json(&json!({"rows": [{"name": "no id"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn info_describes_the_emulator() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let info: Value = http()
        .get(format!("{}/_emulator/info", emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["environment_url"], emu.environment_url());
    assert_eq!(info["client_id"], emu.credentials().client_id.to_string());
    assert_eq!(info["token_url"], emu.token_url());
    assert_eq!(info["transcripts"], 40);
    assert!(!format!("{:?}", emu.credentials()).contains(&emu.credentials().client_secret));
    emu.shutdown().await;
}

#[tokio::test]
async fn start_errors_say_what_to_fix() {
    let clock = clock();
    let err = builder(&clock)
        .agents(0)
        .transcripts(5)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, tenant_emulator::EmulatorError::InvalidSpec(_)),
        "{err}"
    );
    assert!(err.to_string().contains("agent"));

    let emu = builder(&clock).start().await.unwrap();
    let port: u16 = emu.base_url().rsplit(':').next().unwrap().parse().unwrap();
    let err = builder(&clock).port(port).start().await.unwrap_err();
    assert!(
        matches!(err, tenant_emulator::EmulatorError::Bind { .. }),
        "{err}"
    );

    let err = builder(&clock)
        .transcript_file("/nonexistent/transcripts.json")
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, tenant_emulator::EmulatorError::FixtureRead { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn fixture_files_in_web_api_shape_with_a_bom_load_and_bad_ones_are_refused() {
    let raw: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/slg-conversationtranscripts.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("page.json");
    // As saved from a Web API response on Windows: {"value":[...]} with a UTF-8 BOM.
    let text = format!(
        "\u{feff}{}",
        json!({"@odata.context": "x", "value": [raw[0]]})
    );
    std::fs::write(&good, text).unwrap();
    let clock = clock();
    let emu = builder(&clock)
        .transcripts(0)
        .transcript_file(&good)
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    assert_eq!(
        all(&emu, &token, "conversationtranscripts?$select=name")
            .await
            .len(),
        1
    );
    // The fixture's bot is not one of the generated agents: a stub bots row makes it resolvable.
    let bot = raw[0]["_bot_conversationtranscriptid_value"]
        .as_str()
        .unwrap();
    let response = dv_get(&emu, &token, &format!("bots({bot})?$select=schemaname")).await;
    assert_eq!(response.status(), 200);
    let row: Value = response.json().await.unwrap();
    assert_eq!(row["schemaname"], "cr3e5_testCopilot");

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"rows": []}"#).unwrap();
    let err = builder(&clock)
        .transcript_file(&bad)
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(err, tenant_emulator::EmulatorError::FixtureFormat { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("value"), "{err}");
}
