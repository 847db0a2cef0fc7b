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
            "ingestion",
            "state"
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
    assert_eq!(failed.id, "whoami", "{r:#?}");
    assert!(failed.detail.contains("403"), "{failed:?}");
    assert_whoami_forbidden_fix(&fix(&r, "whoami"));
    assert_eq!(status(&r, "read-bots"), Status::Skip, "{r:#?}");
}

/// WhoAmI's own fix: about the application user, not a role's rights on a table.
fn assert_whoami_forbidden_fix(f: &str) {
    assert!(
        f.contains("Application users")
            && f.contains("New app user")
            && f.contains("disabled")
            && f.contains("activate")
            && f.contains("security role"),
        "{f}"
    );
    assert!(!f.contains("lacks read"), "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_application_user_is_explained() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let app = emu.entra().app(emu.credentials().client_id).unwrap();
    let disabled: Vec<_> = emu
        .tenant()
        .security_rows(&[app])
        .application_users
        .into_iter()
        .map(|mut u| {
            u.insert("isdisabled".into(), Value::Bool(true));
            u
        })
        .collect();
    assert!(!disabled.is_empty());
    emu.dataverse()
        .insert_rows("systemusers", disabled)
        .unwrap();

    let r = doctor(&emu, &clock, &[]).await;
    assert_eq!(status(&r, "token"), Status::Pass, "{r:#?}");
    assert_eq!(status(&r, "whoami"), Status::Fail, "{r:#?}");
    assert_whoami_forbidden_fix(&fix(&r, "whoami"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_user_without_a_role_refused_on_whoami_is_explained() {
    // The emulator answers WhoAmI for a user without roles, as it needs no table privilege;
    // this 403 is the answer Dataverse gives a principal with no role (roleCount=0).
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let dataverse = httpmock::MockServer::start_async().await;
    let whoami = dataverse
        .mock_async(|when, then| {
            when.method("GET").path("/api/data/v9.2/WhoAmI");
            then.status(403)
                .header("content-type", "application/json; odata.metadata=minimal")
                .body(
                    r#"{"error":{"code":"0x80040220","message":"Principal user (Id=6f1c2a0e-0000-4000-8000-000000000001, type=8, roleCount=0, privilegeCount=0, accessMode=4), is missing prvReadSystemUser privilege"}}"#,
                );
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(
        &emu,
        &dir.path().join("s.db"),
        &[("DATAVERSE_ENVIRONMENT_URL", &dataverse.base_url())],
    );
    let credential: client_core::SharedCredential =
        std::sync::Arc::new(client_core::StaticTokenCredential::new(
            client_core::AccessToken::new("opaque-token".to_owned(), T0 + time::Duration::hours(1)),
        ));
    let c = connector::Connector::builder(config(&env, Needs::Dataverse), credential.clone())
        .clock(std::sync::Arc::new(clock.0.clone()))
        .build()
        .unwrap();
    let r = doctor::run(&c, &credential).await;
    whoami.assert_async().await;
    assert_eq!(status(&r, "token"), Status::Pass, "{r:#?}");
    assert_eq!(status(&r, "whoami"), Status::Fail, "{r:#?}");
    let f = fix(&r, "whoami");
    assert!(f.contains("no security role"), "{f}");
    assert_whoami_forbidden_fix(&f);
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
