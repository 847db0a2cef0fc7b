//! Shared builders for the mapping, reconciliation and posture tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs
)]

use botcomponent_schema::ComponentRow;
use inventory_model::{
    BotRecord, BotScan, DataverseSnapshot, EnvironmentInfo, EnvironmentScan, ReadStatus, ScanInput,
    ScanOutcome, TenantAgent,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const RUN: &str = "11111111-2222-3333-4444-555555555555";

pub fn t(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

pub fn now() -> OffsetDateTime {
    t("2026-06-09T14:00:00Z")
}

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/botcomponents/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    String::from_utf8(std::fs::read(&path).unwrap()).unwrap()
}

pub fn component(id: &str, component_type: i32, name: &str, data: Option<String>) -> ComponentRow {
    let mut row = ComponentRow::new(id, component_type, data);
    row.name = Some(name.to_owned());
    row.state_code = Some(0);
    row
}

pub fn bot(id: &str, name: &str) -> BotRecord {
    let mut b = BotRecord::new(id);
    b.name = Some(name.to_owned());
    b.schema_name = Some(format!("cr_{id}"));
    b.state_code = Some(0);
    b.status_code = Some(1);
    b.access_control_policy = Some(1);
    b.authentication_mode = Some(2);
    b.authentication_trigger = Some(1);
    b.created_on = Some(t("2026-01-01T00:00:00Z"));
    b.modified_on = Some(t("2026-06-01T00:00:00Z"));
    b.published_on = Some(t("2026-06-01T00:00:00Z"));
    b
}

pub fn scanned_bot(bot: BotRecord, components: Vec<ComponentRow>) -> BotScan {
    let mut scan = BotScan::new(bot);
    scan.components = components;
    scan.components_read = ReadStatus::Complete;
    scan.related_read = ReadStatus::Complete;
    scan
}

pub fn snapshot(bots: Vec<BotScan>) -> DataverseSnapshot {
    let mut s = DataverseSnapshot::new(t("2026-06-09T13:50:00Z"));
    s.bots = bots;
    s.delta_link = Some("https://org.crm.dynamics.com/api/data/v9.2/bots?$deltatoken=1".to_owned());
    s
}

pub fn environment(id: &str, name: &str) -> EnvironmentInfo {
    let mut e = EnvironmentInfo::new(id);
    e.display_name = Some(name.to_owned());
    e.location = Some("unitedstates".to_owned());
    e.sku = Some("Production".to_owned());
    e.instance_api_url = Some(format!("https://{id}.crm.dynamics.com"));
    e
}

pub fn inventory_agent(name: &str, env: &str, display: &str) -> TenantAgent {
    let mut a = TenantAgent::new(name, env);
    a.display_name = Some(display.to_owned());
    a.created_in = Some("Copilot Studio".to_owned());
    a.created_at = Some(t("2026-01-01T00:00:00Z"));
    a.owner_id = Some("9b8a7c6d-5e4f-4a3b-8c2d-1f0e9d8c7b6a".to_owned());
    a.bot_id = Some(name.to_owned());
    a.entra_app_id = Some("11111111-2222-3333-4444-555555555555".to_owned());
    a.location = Some("unitedstates".to_owned());
    a.last_published_at = Some(t("2026-06-01T00:00:00Z"));
    a
}

/// One environment `env-1`, listed and scanned with these bots, every bot also in
/// the tenant inventory.
pub fn one_environment(bots: Vec<BotScan>) -> ScanInput {
    let mut input = ScanInput::new(RUN, now());
    input.environments = Some(vec![environment("env-1", "Contoso Production")]);
    input.tenant_agents = Some(
        bots.iter()
            .map(|b| inventory_agent(&b.bot.bot_id, "env-1", b.bot.name.as_deref().unwrap_or("")))
            .collect(),
    );
    input.environment_scans = vec![EnvironmentScan::new(
        "env-1",
        ScanOutcome::Scanned(snapshot(bots)),
    )];
    input
}
