//! End-to-end: `permissions` and the doctor's permission statements against the tenant
//! emulator's directory: the planted over-privileged agent identity, the expired and expiring
//! secrets and the ownerless app are flagged, the other agents and the connector's own app
//! are least-privilege; an app given more than its commands need is warned about.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use serde_json::Value;
use std::collections::HashMap;
use support::binary::run_text as run;
use support::env_for;
use tenant_emulator::identity::IdentityProfile;
use tenant_emulator::{Emulator, RunningEmulator};

fn env(emu: &RunningEmulator, dir: &std::path::Path) -> HashMap<String, String> {
    let mut env = env_for(emu, &dir.join("state.db"), &[]);
    env.insert("GRAPH_URL".into(), emu.graph_url().to_owned());
    // All three inventory services: the resource query refuses the app's token (as the real
    // one does), and the fallback to Resource Graph must reach the emulator, not Azure.
    support::with_inventory_services(&mut env, emu);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_flags_the_planted_identities_and_clears_the_rest() {
    let emu = Emulator::builder()
        .agents(6)
        .transcripts(0)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env(&emu, dir.path());
    let (code, out, err) = run(&env, &["--json", "permissions"]).await;
    assert_eq!(code, 4, "something is found: {err}");
    let reports: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    let planted = emu.graph().directory().identities();
    assert_eq!(reports.len(), planted.len(), "{out}");
    let by_app: HashMap<String, &Value> = reports
        .iter()
        .map(|r| (r["app_id"].as_str().unwrap().to_owned(), r))
        .collect();
    for p in &planted {
        let r = by_app[&p.app_id.to_string()];
        let findings: Vec<&str> = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let text = findings.join("; ");
        match p.profile {
            IdentityProfile::OverPrivileged => {
                assert!(text.contains("over-privileged"), "{text}");
                for n in [
                    "Mail.Send",
                    "Directory.ReadWrite.All",
                    "Files.ReadWrite.All",
                ] {
                    assert!(text.contains(n), "{n}: {text}");
                }
            }
            IdentityProfile::ExpiredSecret => {
                assert!(text.contains("1 expired credential"), "{text}")
            }
            IdentityProfile::Orphaned => assert!(text.contains("orphaned"), "{text}"),
            IdentityProfile::ExpiringSecret => {
                assert!(text.contains("expiring within 30 days"), "{text}");
                assert!(text.contains("more than a year"), "{text}");
            }
            IdentityProfile::Connector => {
                assert_eq!(r["subject"]["kind"], "connector");
                assert!(
                    findings.is_empty(),
                    "the connector's app is least-privilege: {text}"
                );
            }
            _ => assert!(findings.is_empty(), "{p:?}: {text}"),
        }
        if p.profile != IdentityProfile::Connector {
            assert_eq!(r["subject"]["agent_id"], p.agent.clone().unwrap().as_str());
        }
    }

    // The table says the same in a line per identity.
    let (code, out, _) = run(&env, &["permissions"]).await;
    assert_eq!(code, 4);
    assert!(
        out.contains("connector (this app)") && out.contains("least-privilege"),
        "{out}"
    );
    assert!(out.contains("orphaned"), "{out}");

    // From a scan document instead of the tenant inventory: only its agents, plus the app.
    let agent = planted
        .iter()
        .find(|p| p.profile == IdentityProfile::OverPrivileged)
        .unwrap();
    let doc = serde_json::json!({"fsi_copilotagent": [{
        "fsi_agentid": agent.agent.clone().unwrap(), "fsi_environmentid": "env",
        "fsi_entraappid": agent.app_id.to_string(), "fsi_agentname": "Doc agent"}]});
    let file = dir.path().join("scan.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let (code, out, err) = run(
        &env,
        &["--json", "permissions", "--input", file.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 4, "{err}");
    let reports: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["subject"]["name"], "Doc agent");
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_states_each_commands_needs_and_warns_when_the_app_holds_more() {
    let emu = Emulator::builder()
        .agents(1)
        .transcripts(2)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env(&emu, dir.path());
    let (code, out, err) = run(&env, &["--json", "doctor"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    let check = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .clone()
    };
    let needs = check("permissions-needed");
    for s in [
        "ingest:",
        "m365: Microsoft Graph AiEnterpriseInteraction.Read.All + User.Read.All",
        "seccopilot: Microsoft Graph SecurityCopilotWorkspaces.ReadWrite.All",
        "inventory:",
        "permissions: Microsoft Graph Application.Read.All",
    ] {
        assert!(
            needs["detail"].as_str().unwrap().contains(s),
            "{s}: {needs}"
        );
    }
    let held = check("permissions-held");
    assert_eq!(held["status"], "pass", "{held}");
    assert!(
        held["detail"].as_str().unwrap().contains("least-privilege"),
        "{held}"
    );

    // An app granted more than its commands need.
    let over = Emulator::builder()
        .agents(1)
        .transcripts(2)
        .graph_roles(
            tenant_emulator::DEFAULT_GRAPH_ROLES
                .iter()
                .copied()
                .chain(["Mail.Send", "Group.Read.All"]),
        )
        .start()
        .await
        .unwrap();
    let env = crate::env(&over, dir.path());
    let (code, out, _) = run(&env, &["--json", "doctor"]).await;
    assert_eq!(code, 0, "a warning does not fail doctor: {out}");
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    let held = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "permissions-held")
        .unwrap()
        .clone();
    assert_eq!(held["status"], "warn", "{held}");
    let detail = held["detail"].as_str().unwrap();
    assert!(
        detail.contains("Mail.Send") && detail.contains("Group.Read.All"),
        "{detail}"
    );
    assert!(detail.contains("over-privileged"), "{detail}");
    let (code, out, _) = run(&env, &["permissions"]).await;
    assert_eq!(code, 4);
    assert!(
        out.contains("holds more than its commands need: Mail.Send, Group.Read.All"),
        "{out}"
    );
}
