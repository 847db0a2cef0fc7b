//! `inventory doctor` against the emulator: what the inventory scan needs, each failure with its
//! fix, driven by the emulator's roles and settings (management application registration,
//! app-only refusal, an environment without an application user, the connector's roles).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

#[path = "support/connector_support.rs"]
mod support;

use connector::doctor::{Report, Status};
use connector::inventory::doctor::{DoctorOptions, run};
use serde_json::Value;
use support::*;
use tenant_emulator::inventory::InventoryConfig;
use tenant_emulator::{Emulator, RunningEmulator};

fn options(emu: &RunningEmulator) -> DoctorOptions {
    let base: url::Url = emu.inventory_url().parse().unwrap();
    let mut o = DoctorOptions::default();
    o.endpoints.power_platform = Some(base.clone());
    o.endpoints.bap = Some(base.clone());
    o.endpoints.arm = Some(base);
    o
}

fn status(r: &Report, id: &str) -> Status {
    r.get(id)
        .unwrap_or_else(|| panic!("no {id}: {r:#?}"))
        .status
}

fn fix(r: &Report, id: &str) -> String {
    r.get(id).and_then(|c| c.fix.clone()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_with_one_environment_lacking_an_application_user_warns_with_the_fix() {
    let emu = Emulator::builder()
        .seed(41)
        .agents(3)
        .transcripts(5)
        .environments(5)
        .start()
        .await
        .unwrap();
    let clock = clock();
    let (cred, shared) = sign_in(&emu, &clock);
    let r = run(&cred, &shared, &options(&emu)).await;
    // The resource query refuses the app, as the real one does: a warning with the fix (the
    // scan reads Resource Graph instead), which makes the Resource Graph check the one needed.
    let api = r.get("inventory-api").unwrap();
    assert_eq!(api.status, Status::Warn, "{r:#?}");
    assert!(api.detail.contains("refuses the app"), "{}", api.detail);
    assert!(
        fix(&r, "inventory-api").contains("--inventory-source arg"),
        "{r:#?}"
    );
    assert_eq!(status(&r, "resource-graph"), Status::Pass, "{r:#?}");
    assert!(r.ok(), "{r:#?}");
    // The planted forbidden environment: a coverage gap for the scan, so a warning.
    let c = r.get("read-components").unwrap();
    assert_eq!(c.status, Status::Warn, "{r:#?}");
    assert!(c.detail.contains("1 of "), "{}", c.detail);
    assert!(
        fix(&r, "read-components").contains("application user"),
        "{r:#?}"
    );
    assert_eq!(status(&r, "inventory-schema"), Status::Skip);
    assert_eq!(status(&r, "inventory-write"), Status::Skip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_admin_rights_the_inventory_api_fails_with_the_admin_fix() {
    let mut config = InventoryConfig::default();
    config.management_apps_registered = false;
    config.resource_query_delegated_only = true;
    let emu = Emulator::builder()
        .seed(42)
        .agents(3)
        .transcripts(5)
        .environments(2)
        .inventory(config)
        .start()
        .await
        .unwrap();
    let clock = clock();
    let (cred, shared) = sign_in(&emu, &clock);
    let r = run(&cred, &shared, &options(&emu)).await;
    assert_eq!(status(&r, "inventory-api"), Status::Fail, "{r:#?}");
    assert!(
        fix(&r, "inventory-api").contains("Power Platform Administrator"),
        "{r:#?}"
    );
    assert!(
        fix(&r, "inventory-api").contains("management application"),
        "{r:#?}"
    );
    // Without the list there is nothing to check in layer 2.
    assert_eq!(status(&r, "read-components"), Status::Skip, "{r:#?}");
    assert!(!r.ok());

    // Given the environment, layer 2 is checked; Resource Graph is only a warning source.
    let mut o = options(&emu);
    o.environments = vec![emu.environment_url().parse().unwrap()];
    let r = run(&cred, &shared, &o).await;
    assert_eq!(status(&r, "read-components"), Status::Pass, "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_environment_needs_the_tables_and_write_rights() {
    // Least privilege: no tables, and roles that cannot create them.
    let emu = Emulator::builder()
        .seed(43)
        .agents(2)
        .transcripts(5)
        .start()
        .await
        .unwrap();
    let clock = clock();
    let (cred, shared) = sign_in(&emu, &clock);
    let mut o = DoctorOptions::default();
    o.environments = vec![emu.environment_url().parse().unwrap()];
    o.inventory_url = Some(emu.environment_url().parse().unwrap());
    let r = run(&cred, &shared, &o).await;
    assert_eq!(status(&r, "read-components"), Status::Pass, "{r:#?}");
    let schema = r.get("inventory-schema").unwrap();
    assert_eq!(schema.status, Status::Fail, "{r:#?}");
    assert!(
        schema.detail.contains("fsi_copilotagent"),
        "{}",
        schema.detail
    );
    assert!(fix(&r, "inventory-schema").contains("inventory schema apply"));
    assert_eq!(status(&r, "inventory-write"), Status::Warn, "{r:#?}");
    assert!(fix(&r, "inventory-write").contains("System Customizer"));

    // Over-privileged, after `schema apply`: both pass, through the command line too.
    let emu = with_inventory_tables(
        Emulator::builder().seed(44).agents(2).transcripts(5),
        &clock,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&emu, &dir.path().join("c.db"), &[]);
    let out = binary::run(
        &env,
        [
            "--json",
            "inventory",
            "doctor",
            "--environment",
            emu.environment_url(),
            "--inventory-url",
            emu.environment_url(),
            "--power-platform-api-url",
            emu.inventory_url(),
            "--bap-api-url",
            emu.inventory_url(),
            "--arm-url",
            emu.inventory_url(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    let by_id = |id: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_id("inventory-schema")["status"], "pass", "{report:#}");
    assert_eq!(by_id("inventory-write")["status"], "pass", "{report:#}");
    assert_eq!(by_id("read-components")["status"], "pass", "{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
}

/// `copilot-connector --json doctor` with `env`, run in `dir`: (exit code, the report).
async fn main_doctor(
    env: &std::collections::HashMap<String, String>,
    dir: &std::path::Path,
) -> (i32, Value) {
    let out = binary::command(env, ["--json", "doctor"])
        .current_dir(dir)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn check_of<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {report:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_doctor_runs_the_inventory_checks_and_fails_on_them_once_the_inventory_is_in_use()
{
    let emu = Emulator::builder()
        .seed(45)
        .agents(2)
        .transcripts(5)
        .environments(2)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = env_for(&emu, &dir.path().join("c.db"), &[]);

    // A local authority and no inventory URL: nothing is sent to the public services.
    let (code, report) = main_doctor(&base, dir.path()).await;
    assert_eq!(code, 0, "{report:#}");
    for id in connector::inventory::doctor::CHECK_IDS {
        assert_eq!(check_of(&report, id)["status"], "skip", "{id}: {report:#}");
    }
    // The connector's own checks come first, unchanged.
    assert_eq!(report["checks"][0]["id"], "config");
    assert_eq!(check_of(&report, "read-transcripts")["status"], "pass");

    // With the inventory services named, the same checks as `inventory doctor` run.
    let mut env = base.clone();
    with_inventory_services(&mut env, &emu);
    let (code, report) = main_doctor(&env, dir.path()).await;
    // The resource query refuses apps (as the real one): a warning, not a failure.
    assert_eq!(
        check_of(&report, "inventory-api")["status"],
        "warn",
        "{report:#}"
    );
    assert_eq!(
        check_of(&report, "resource-graph")["status"],
        "pass",
        "{report:#}"
    );
    let c = check_of(&report, "read-components");
    assert!(
        c["detail"].as_str().unwrap().contains("2 environment(s)"),
        "{c:#}"
    );
    assert_eq!(c["status"], "pass", "{report:#}");
    assert_eq!(check_of(&report, "inventory-schema")["status"], "skip");
    assert_eq!(code, 0, "{report:#}");

    // A tenant where the app is not a management application: a warning with the fix while
    // nothing uses the inventory, a failure once a scan's state is there.
    let mut config = InventoryConfig::default();
    config.management_apps_registered = false;
    config.resource_query_delegated_only = true;
    let emu = Emulator::builder()
        .seed(46)
        .agents(2)
        .transcripts(5)
        .inventory(config)
        .start()
        .await
        .unwrap();
    let mut env = env_for(&emu, &dir.path().join("d.db"), &[]);
    with_inventory_services(&mut env, &emu);
    let state = dir.path().join("inventory-state.db");
    env.insert(
        "COPILOT_INVENTORY_STATE".into(),
        state.display().to_string(),
    );
    let (code, report) = main_doctor(&env, dir.path()).await;
    let c = check_of(&report, "inventory-api");
    assert_eq!(c["status"], "warn", "{report:#}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("Power Platform Administrator"),
        "{c:#}"
    );
    assert_eq!(code, 0, "a warning does not fail doctor: {report:#}");
    std::fs::write(&state, b"").unwrap();
    let (code, report) = main_doctor(&env, dir.path()).await;
    let c = check_of(&report, "inventory-api");
    assert_eq!(c["status"], "fail", "{report:#}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("management application"),
        "{c:#}"
    );
    assert_eq!(code, 1, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_graph_refused_fails_with_the_reader_fix_only_when_it_is_the_source() {
    // First a tenant whose resource query serves the app (not the real service's behaviour,
    // opted into so that the default source needs no fallback), then a faithful one.
    let emu = Emulator::builder()
        .seed(47)
        .agents(2)
        .transcripts(5)
        .inventory(InventoryConfig::default().with_resource_query_delegated_only(false))
        .start()
        .await
        .unwrap();
    // Azure Resource Manager refusing Resource Graph, as it does without the Reader role.
    let arm = httpmock::MockServer::start_async().await;
    arm.mock_async(|when, then| {
        when.method("POST")
            .path("/providers/Microsoft.ResourceGraph/resources");
        then.status(403).json_body(serde_json::json!({"error": {
            "code": "AuthorizationFailed",
            "message": "The client does not have authorization to perform action 'Microsoft.ResourceGraph/resources/read'."
        }}));
    })
    .await;
    let clock = clock();
    let (cred, shared) = sign_in(&emu, &clock);
    let mut o = options(&emu);
    o.endpoints.arm = Some(arm.base_url().parse().unwrap());
    o.inventory_source = connector::inventory::tenant::InventorySourceChoice::ResourceGraph;
    let r = run(&cred, &shared, &o).await;
    assert_eq!(status(&r, "resource-graph"), Status::Fail, "{r:#?}");
    assert!(fix(&r, "resource-graph").contains("Reader"), "{r:#?}");
    assert!(!r.ok());
    // The other checks do not depend on it.
    assert_eq!(status(&r, "inventory-api"), Status::Pass, "{r:#?}");

    // With the default source, Resource Graph is not needed: a warning that says so.
    o.inventory_source = connector::inventory::tenant::InventorySourceChoice::PowerPlatform;
    let r = run(&cred, &shared, &o).await;
    let c = r.get("resource-graph").unwrap();
    assert_eq!(c.status, Status::Warn, "{r:#?}");
    assert!(
        c.detail.contains("only needed with --inventory-source arg"),
        "{}",
        c.detail
    );
    assert!(fix(&r, "resource-graph").contains("Reader"), "{r:#?}");
    assert!(r.ok(), "{r:#?}");

    // The faithful resource query refuses the app, so the default source falls back to
    // Resource Graph: refused too, that is a failure with the Reader fix.
    let emu = Emulator::builder()
        .seed(48)
        .agents(2)
        .transcripts(5)
        .start()
        .await
        .unwrap();
    let (cred, shared) = sign_in(&emu, &clock);
    let mut o = options(&emu);
    o.endpoints.arm = Some(arm.base_url().parse().unwrap());
    let r = run(&cred, &shared, &o).await;
    let c = r.get("resource-graph").unwrap();
    assert_eq!(c.status, Status::Fail, "{r:#?}");
    assert!(
        c.detail.contains("the scan reads Resource Graph"),
        "{}",
        c.detail
    );
    assert!(fix(&r, "resource-graph").contains("Reader"), "{r:#?}");
    assert_eq!(status(&r, "inventory-api"), Status::Warn, "{r:#?}");
    assert!(!r.ok());
}
