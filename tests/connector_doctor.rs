//! End-to-end: `doctor` against emulated tenants with the setup mistakes people make.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use connector::config::Needs;
use connector::doctor::{self, Report, Status};
use serde_json::Value;
use support::*;
use tenant_emulator::entra::DataverseAccess;
use tenant_emulator::{Emulator, EmulatorBuilder, RunningEmulator};

fn builder(clock: &SharedManualClock) -> EmulatorBuilder {
    Emulator::builder()
        .seed(5)
        .agents(3)
        .transcripts(20)
        .clock(std::sync::Arc::new(clock.clone()))
}

async fn doctor(
    emu: &RunningEmulator,
    clock: &SharedManualClock,
    extra: &[(&str, &str)],
) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(emu, &dir.path().join("s.db"), extra);
    let (c, credential) = connector(config(&env, Needs::Dataverse), clock);
    let report = doctor::run(&c, &credential).await;
    // Every check is reported, in order, whatever failed.
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "config",
            "token",
            "whoami",
            "read-bots",
            "read-transcripts",
            "transcripts-exist",
            "roles",
            "ingestion"
        ]
    );
    report
}

fn status(r: &Report, id: &str) -> Status {
    r.get(id).unwrap().status
}

fn fix(r: &Report, id: &str) -> String {
    r.get(id).unwrap().fix.clone().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_setup_passes_every_check() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let r = doctor(&emu, &clock, &[]).await;
    assert!(r.ok(), "{r:#?}");
    assert!(r.checks.iter().all(|c| c.status == Status::Pass), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_explained() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let r = doctor(
        &emu,
        &clock,
        &[("DATAVERSE_CLIENT_SECRET", "not-the-secret")],
    )
    .await;
    assert!(!r.ok());
    assert_eq!(status(&r, "token"), Status::Fail);
    let detail = &r.get("token").unwrap().detail;
    assert!(detail.contains("7000215"), "{detail}");
    // The fix says what people get wrong: the secret's ID pasted instead of its value.
    let f = fix(&r, "token").to_lowercase();
    assert!(f.contains("value"), "{f}");
    assert_eq!(status(&r, "whoami"), Status::Skip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_application_user_is_explained() {
    let clock = clock();
    let emu = builder(&clock)
        .connector_access(DataverseAccess::None)
        .start()
        .await
        .unwrap();
    let r = doctor(&emu, &clock, &[]).await;
    assert!(!r.ok());
    assert_eq!(status(&r, "token"), Status::Pass);
    let failed = r.checks.iter().find(|c| c.status == Status::Fail).unwrap();
    assert!(failed.detail.contains("403"), "{failed:?}");
    let f = failed.fix.clone().unwrap();
    assert!(
        f.contains("Application users") && f.contains("Organization"),
        "{f}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readable_agents_without_transcript_access_are_explained() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    // Swap the application user's role for one that reads agents only.
    let app = emu.entra().app(emu.credentials().client_id).unwrap();
    let security = emu.tenant().security_rows(&[app]);
    let maker = security
        .roles
        .iter()
        .find(|r| r["name"] == "Environment Maker")
        .unwrap()["roleid"]
        .clone();
    let links: Vec<_> = security
        .user_roles
        .into_iter()
        .map(|mut l| {
            l.insert("roleid".into(), maker.clone());
            l
        })
        .collect();
    emu.dataverse()
        .insert_rows("systemuserroles_association", links)
        .unwrap();

    let r = doctor(&emu, &clock, &[]).await;
    assert_eq!(status(&r, "read-bots"), Status::Pass, "{r:#?}");
    assert_eq!(status(&r, "read-transcripts"), Status::Fail, "{r:#?}");
    let f = fix(&r, "read-transcripts");
    assert!(
        f.contains("conversationtranscript") && f.contains("Organization"),
        "{f}"
    );
    assert_eq!(status(&r, "transcripts-exist"), Status::Skip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_transcripts_is_a_warning_with_the_reasons() {
    let clock = clock();
    let emu = builder(&clock).transcripts(0).start().await.unwrap();
    let r = doctor(&emu, &clock, &[]).await;
    assert!(r.ok(), "a warning is not a failure: {r:#?}");
    assert_eq!(status(&r, "transcripts-exist"), Status::Warn);
    let f = fix(&r, "transcripts-exist");
    for reason in ["developer", "transcripts", "30 minutes", "licence"] {
        assert!(f.contains(reason), "missing `{reason}` in {f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_privileged_role_is_a_warning() {
    let clock = clock();
    let emu = builder(&clock)
        .connector_access(DataverseAccess::OverPrivileged)
        .start()
        .await
        .unwrap();
    let r = doctor(&emu, &clock, &[]).await;
    assert!(r.ok(), "{r:#?}");
    assert_eq!(status(&r, "roles"), Status::Warn, "{r:#?}");
    let c = r.get("roles").unwrap();
    assert!(c.detail.contains("System Administrator"), "{c:?}");
    assert!(
        fix(&r, "roles").contains("remove System Administrator"),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ingestion_endpoint_is_explained() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let r = doctor(&emu, &clock, &[("DATA_INGESTION_SERVICE_URL", &url)]).await;
    assert!(!r.ok());
    assert_eq!(status(&r, "ingestion"), Status::Fail);
    assert!(
        fix(&r, "ingestion").contains("DATA_INGESTION_SERVICE_URL"),
        "{r:#?}"
    );
    assert_eq!(status(&r, "read-transcripts"), Status::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_ingestion_token_is_explained() {
    let clock = clock();
    let emu = builder(&clock)
        .ingestion_token("right-token")
        .start()
        .await
        .unwrap();
    let r = doctor(&emu, &clock, &[("AKTO_JWT_TOKEN", "wrong-token")]).await;
    assert_eq!(status(&r, "ingestion"), Status::Fail);
    assert!(fix(&r, "ingestion").contains("AKTO_JWT_TOKEN"), "{r:#?}");
    let ok = doctor(&emu, &clock, &[("AKTO_JWT_TOKEN", "right-token")]).await;
    assert_eq!(status(&ok, "ingestion"), Status::Pass, "{ok:#?}");
    // The JSON form carries the same checklist.
    let json: Value = serde_json::to_value(&ok).unwrap();
    assert_eq!(json["checks"][7]["status"], "pass");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_bot_id_is_a_failure_naming_it() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let stray = "0b0b0b0b-0000-4000-8000-000000000001";
    let r = doctor(&emu, &clock, &[("COPILOT_BOT_ID", stray)]).await;
    assert_eq!(status(&r, "read-bots"), Status::Fail, "{r:#?}");
    assert!(r.get("read-bots").unwrap().detail.contains(stray));
    assert!(fix(&r, "read-bots").contains("copilot-connector agents"));
    // And no transcript exists for it.
    assert_eq!(status(&r, "transcripts-exist"), Status::Warn);
    assert!(
        r.get("transcripts-exist")
            .unwrap()
            .detail
            .contains("COPILOT_BOT_ID")
    );
}
