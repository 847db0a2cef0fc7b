//! Per-table mapping cases: agents, environments, auth and sharing, usage, the
//! downstream shells, and the diff between scans.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::*;
use inventory_model::{
    AudienceObservation, BillingPolicy, CreatedIn, DiffScope, DiscoverySource, IdentityObservation,
    InventoryRow, InventorySettings, PolicyType, SessionObservation, Shares, SpendScope,
    TenantAgent, UsageInput, WorkIqObservation, WorkIqObserved, WorkIqTier, Zone, build_inventory,
    diff,
};
use serde_json::json;

#[test]
fn agent_rows_take_identity_from_the_inventory_and_state_from_dataverse() {
    let mut b = bot("b1", "Bot name");
    b.is_managed = Some(true);
    let mut input = one_environment(vec![scanned_bot(b, vec![])]);
    let agent = &mut input.tenant_agents.as_mut().unwrap()[0];
    agent.display_name = Some("Wealth Advisory Assistant".into());
    agent.bot_id = Some("identity-bot".into());
    agent.entra_agent_id = Some("agent-identity".into());
    agent.raw = Some(json!({"name": "b1", "type": "microsoft.copilotstudio/agents"}));
    let mut settings = InventorySettings::default();
    settings.zones.insert("env-1".into(), Zone::Zone2);
    let inv = build_inventory(&input, &settings);
    let a = &inv.rows.agents[0];
    a.validate().unwrap();
    assert_eq!(a.name.as_deref(), Some("Wealth Advisory Assistant (Z2)"));
    assert_eq!(a.agent_name.as_deref(), Some("Wealth Advisory Assistant"));
    assert_eq!(a.created_in, Some(CreatedIn::CopilotStudio));
    assert_eq!(a.discovery_source, Some(DiscoverySource::Reconciled));
    assert_eq!(a.bot_id.as_deref(), Some("identity-bot"));
    assert_eq!(
        a.entra_app_id.as_deref(),
        Some("11111111-2222-3333-4444-555555555555")
    );
    assert_eq!(a.entra_agent_id.as_deref(), Some("agent-identity"));
    assert_eq!(
        a.owner_id.as_deref(),
        Some("9b8a7c6d-5e4f-4a3b-8c2d-1f0e9d8c7b6a")
    );
    assert_eq!(a.published_state.as_deref(), Some("Published"));
    assert_eq!(a.auth_mode.as_deref(), Some("Authenticate with Microsoft"));
    assert_eq!(a.is_managed, Some(true));
    assert_eq!(a.region.as_deref(), Some("unitedstates"));
    assert_eq!(a.schema_name.as_deref(), Some("cr_b1"));
    let raw: serde_json::Value = serde_json::from_str(a.raw_json.as_deref().unwrap()).unwrap();
    assert_eq!(raw["inventory"]["type"], "microsoft.copilotstudio/agents");
    assert_eq!(raw["bot"]["accesscontrolpolicy"], 1);
    assert_eq!(raw["bot"]["authenticationmode"], 2);
}

#[test]
fn published_state_follows_state_and_status() {
    let cases = [
        (Some(1), Some(1), true, "Inactive"),
        (Some(0), Some(2), true, "Deprovisioned"),
        (Some(0), Some(1), true, "Published"),
        (Some(0), Some(1), false, "Draft"),
    ];
    for (state, status, published, expected) in cases {
        let mut b = bot("b1", "One");
        b.state_code = state;
        b.status_code = status;
        if !published {
            b.published_on = None;
        }
        let inv = build_inventory(
            &one_environment(vec![scanned_bot(b, vec![])]),
            &InventorySettings::default(),
        );
        assert_eq!(
            inv.rows.agents[0].published_state.as_deref(),
            Some(expected)
        );
    }
}

#[test]
fn tenant_inventory_rows_are_read_from_either_api_shape() {
    let arg = json!({
        "name": "f3a8c1d2", "type": "microsoft.copilotstudio/agents", "location": "unitedstates",
        "properties": {"displayName": "Helper", "environmentId": "Default-1", "createdIn": "Microsoft 365 Copilot Agent Builder",
                       "createdAt": "2026-03-12T09:14:00Z", "lastPublishedAt": "", "botId": "x", "ownerId": "o"}
    });
    let a = TenantAgent::from_inventory_json(&arg, inventory_model::InventorySource::ResourceGraph)
        .unwrap();
    assert_eq!(a.environment_id, "Default-1");
    assert_eq!(a.display_name.as_deref(), Some("Helper"));
    assert_eq!(a.last_published_at, None);
    assert_eq!(a.created_at, Some(t("2026-03-12T09:14:00Z")));
    let flat = json!({"name": "b", "environmentId": "e", "createdAt": "yesterday"});
    let err =
        TenantAgent::from_inventory_json(&flat, inventory_model::InventorySource::ResourceGraph)
            .unwrap_err();
    assert!(err.to_string().contains("createdAt"), "{err}");
    let missing = json!({"name": "b"});
    assert!(
        TenantAgent::from_inventory_json(&missing, inventory_model::InventorySource::ResourceGraph)
            .unwrap_err()
            .to_string()
            .contains("environmentId")
    );
    let env = json!({"name": "Default-1", "location": "europe", "properties": {"displayName": "Default", "environmentSku": "Default", "isDefault": true,
        "linkedEnvironmentMetadata": {"instanceApiUrl": "https://org.api.crm4.dynamics.com"}}});
    let e = inventory_model::EnvironmentInfo::from_admin_json(&env).unwrap();
    assert_eq!(
        e.instance_api_url.as_deref(),
        Some("https://org.api.crm4.dynamics.com")
    );
    assert!(e.is_default);
    let bot = json!({"botid": "b1", "accesscontrolpolicy": 2, "authorizedsecuritygroupids": "g2, g1;g2", "publishedon": "2026-01-01T00:00:00Z", "@odata.etag": "W/\"1\""});
    let b = inventory_model::BotRecord::from_dataverse_json(&bot).unwrap();
    assert_eq!(b.security_groups(), ["g1", "g2"]);
    assert_eq!(b.access_control_policy, Some(2));
}

#[test]
fn environment_rows_count_agents_and_carry_zone_type_and_url() {
    let mut input = one_environment(vec![
        scanned_bot(bot("b1", "One"), vec![]),
        scanned_bot(bot("b2", "Two"), vec![]),
    ]);
    let mut settings = InventorySettings::default();
    settings
        .zones
        .insert("ENV-1".to_ascii_lowercase(), Zone::Zone3);
    input.environments.as_mut().unwrap()[0].is_managed = Some(true);
    let inv = build_inventory(&input, &settings);
    let e = &inv.rows.environments[0];
    e.validate().unwrap();
    assert_eq!(e.agent_count, Some(2));
    assert_eq!(e.zone, Some(Zone::Zone3));
    assert_eq!(e.environment_type.as_deref(), Some("Production"));
    assert_eq!(
        e.environment_url.as_deref(),
        Some("https://env-1.crm.dynamics.com")
    );
    assert_eq!(e.environment_name.as_deref(), Some("Contoso Production"));
    assert_eq!(e.is_managed, Some(true));
}

#[test]
fn auth_share_rows_follow_mode_trigger_policy_and_groups() {
    let auth = |mode: i32, trigger: i32, policy: i32, groups: Option<&str>| {
        let mut b = bot("b1", "One");
        b.authentication_mode = Some(mode);
        b.authentication_trigger = Some(trigger);
        b.access_control_policy = Some(policy);
        b.authorized_security_group_ids = groups.map(str::to_owned);
        let inv = build_inventory(
            &one_environment(vec![scanned_bot(b, vec![])]),
            &InventorySettings::default(),
        );
        inv.rows.auth_shares[0].clone()
    };
    let none = auth(1, 0, 0, None);
    none.validate().unwrap();
    assert_eq!(none.auth_mode.as_deref(), Some("No authentication"));
    assert_eq!(none.require_sign_in, Some(false));
    assert_eq!(none.entra_auth_asserted, Some(false));
    assert_eq!(none.shared_with_everyone, Some(true));
    assert_eq!(none.audience_whole_tenant, Some(true));
    assert_eq!(none.audience_upn_count, Some(0));
    assert_eq!(
        none.audience_resolution_status.as_deref(),
        Some("WholeTenantNotEnumerated")
    );

    let manual = auth(3, 0, 2, Some("g1,g2"));
    assert_eq!(manual.auth_provider.as_deref(), Some("Microsoft Entra ID"));
    assert_eq!(manual.require_sign_in, Some(false));
    assert_eq!(manual.entra_auth_asserted, Some(false));
    assert_eq!(manual.viewer_groups.as_deref(), Some(r#"["g1","g2"]"#));
    assert_eq!(manual.shared_with_viewer_count, Some(2));
    assert_eq!(manual.shared_with_everyone, Some(false));
    assert_eq!(
        manual.audience_resolution_status.as_deref(),
        Some("NotResolved")
    );

    let signed_in = auth(3, 1, 1, None);
    assert_eq!(signed_in.require_sign_in, Some(true));
    assert_eq!(signed_in.entra_auth_asserted, Some(true));

    let oauth = auth(4, 1, 1, None);
    assert_eq!(oauth.auth_provider.as_deref(), Some("Generic OAuth2"));
    assert_eq!(oauth.entra_auth_asserted, Some(false));
}

#[test]
fn auth_share_audience_and_editors_when_resolved() {
    let mut b = bot("b1", "One");
    b.access_control_policy = Some(2);
    b.authorized_security_group_ids = Some("g1".into());
    let mut scan = scanned_bot(b, vec![]);
    scan.shares = Some(Shares::new(
        vec![],
        vec!["u2".into(), "u1".into(), "u1".into()],
    ));
    let mut input = one_environment(vec![scan]);
    let mut id = IdentityObservation::new("b1", "env-1");
    id.audience = Some(AudienceObservation::new(
        120,
        true,
        false,
        t("2026-06-09T13:00:00Z"),
    ));
    input.identities = vec![id];
    let inv = build_inventory(&input, &InventorySettings::default());
    let row = &inv.rows.auth_shares[0];
    assert_eq!(row.editor_principals.as_deref(), Some(r#"["u1","u2"]"#));
    assert_eq!(row.shared_with_editor_count, Some(2));
    assert_eq!(row.audience_upn_count, Some(120));
    assert_eq!(row.audience_truncated, Some(true));
    assert_eq!(row.audience_resolution_status.as_deref(), Some("Partial"));
}

#[test]
fn usage_rows_count_the_window_and_unique_users_by_object_id() {
    let mut input = one_environment(vec![
        scanned_bot(bot("b1", "One"), vec![]),
        scanned_bot(bot("b2", "Two"), vec![]),
    ]);
    let mut usage = UsageInput::new("b1", "env-1", "conversationtranscript", 30);
    let session = |id: &str, at: &str, n: u32, users: &[&str]| {
        let mut s = SessionObservation::new(id, t(at), n);
        s.user_object_ids = users.iter().map(|u| (*u).to_owned()).collect();
        s
    };
    usage.sessions = vec![
        session("s1", "2026-06-01T10:00:00Z", 3, &["AAA", "bbb"]),
        session("s2", "2026-06-08T10:00:00Z", 2, &["aaa"]),
        session("s2", "2026-06-08T10:00:00Z", 2, &["aaa"]), // the same session twice
        session("s-old", "2026-04-01T10:00:00Z", 9, &["ccc"]), // outside the 30-day window
    ];
    input.usage = vec![usage];
    let inv = build_inventory(&input, &InventorySettings::default());
    // Only b1 has usage input: no row is invented for b2.
    assert_eq!(inv.rows.usage.len(), 1);
    let u = &inv.rows.usage[0];
    u.validate().unwrap();
    assert_eq!(u.sessions_30d, Some(2));
    assert_eq!(u.interactions_30d, Some(5));
    assert_eq!(u.unique_users_30d, Some(2));
    assert_eq!(u.aggregation_window_days, Some(30));
    assert_eq!(u.signal_source.as_deref(), Some("conversationtranscript"));
    assert_eq!(u.last_interaction_utc, Some(t("2026-06-08T10:00:00Z")));
}

#[test]
fn downstream_shells_get_rows_only_where_there_is_data() {
    let mut input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    let inv = build_inventory(&input, &InventorySettings::default());
    assert!(inv.rows.work_iq.is_empty());
    assert!(inv.rows.billing.is_empty());
    input.work_iq = vec![WorkIqObservation::new(
        "b1",
        "env-1",
        true,
        WorkIqTier::McpInCopilotStudio,
        WorkIqObserved::ConfiguredNotInvoked,
    )];
    input.billing = vec![BillingPolicy::new(
        None,
        "policy-1",
        PolicyType::PrepaidCredit,
        SpendScope::Chat,
    )];
    let inv = build_inventory(&input, &InventorySettings::default());
    assert_eq!(inv.rows.work_iq.len(), 1);
    assert_eq!(inv.rows.work_iq[0].per_user_license_required, Some(true));
    inv.rows.work_iq[0].validate().unwrap();
    assert_eq!(inv.rows.billing.len(), 1);
    let b = &inv.rows.billing[0];
    b.validate().unwrap();
    assert_eq!(b.zero_rating_eligible, Some(false));
    assert_eq!(b.agent_id, None);
}

#[test]
fn unknown_component_types_become_other_never_dropped() {
    let input = one_environment(vec![scanned_bot(
        bot("b1", "One"),
        vec![
            component("c1", 42, "Future", Some("kind: SomethingNew\n".into())),
            component("c2", 9, "No kind", Some("foo: 1\n".into())),
        ],
    )]);
    let inv = build_inventory(&input, &InventorySettings::default());
    let kinds: Vec<_> = inv
        .rows
        .features
        .iter()
        .map(|f| {
            (
                f.source_object_id.as_str(),
                f.feature_type.unwrap(),
                f.component_type,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("b1", inventory_model::FeatureType::CopilotSettings, None),
            ("c1", inventory_model::FeatureType::Other, Some(42)),
            ("c2", inventory_model::FeatureType::Other, Some(9)),
        ]
    );
}

#[test]
fn a_scan_diffed_against_itself_upserts_nothing_and_a_later_scan_only_changes() {
    let input = one_environment(vec![
        scanned_bot(bot("b1", "One"), vec![component("c1", 9, "T", None)]),
        scanned_bot(bot("b2", "Two"), vec![]),
    ]);
    let first = build_inventory(&input, &InventorySettings::default());
    let d = first.diff_against(&first.rows);
    assert!(d.is_empty(), "{d:?}");

    // The next run, an hour later: same tenant, new run id and time: still nothing.
    let mut later = input.clone();
    later.run_id = "22222222-2222-2222-2222-222222222222".into();
    later.scanned_at = t("2026-06-09T15:00:00Z");
    let second = build_inventory(&later, &InventorySettings::default());
    assert!(second.diff_against(&first.rows).is_empty());

    // b2 renamed and b1 gone from a scanned environment.
    let mut changed = later.clone();
    if let inventory_model::ScanOutcome::Scanned(s) = &mut changed.environment_scans[0].outcome {
        s.bots.remove(0);
        s.bots[0].bot.name = Some("Two renamed".into());
    }
    changed.tenant_agents.as_mut().unwrap().remove(0);
    changed.tenant_agents.as_mut().unwrap()[0].display_name = Some("Two renamed".into());
    let third = build_inventory(&changed, &InventorySettings::default());
    let d = third.diff_against(&first.rows);
    assert_eq!(d.gone_agents.len(), 1);
    assert_eq!(d.gone_agents[0].agent_id, "b1");
    let upserted: Vec<(&str, Option<&str>)> = d
        .upserts
        .agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.published_state.as_deref()))
        .collect();
    assert_eq!(
        upserted,
        [
            ("b2", Some("Published")),
            ("b1", Some(inventory_model::diff::GONE_STATE))
        ]
    );
    // The gone agent keeps its last scan time as "last seen".
    assert_eq!(
        d.upserts.agents[1].last_scanned_at,
        first.rows.agents[0].last_scanned_at
    );
    // Its features are not "stale": they follow the agent.
    assert!(d.stale_rows.is_empty(), "{:?}", d.stale_rows);
    // Marking is done once: diffing against the marked rows does not mark again.
    let mut marked = first.rows.clone();
    marked.agents[0] = d.upserts.agents[1].clone();
    let again = third.diff_against(&marked);
    assert!(again.upserts.agents.iter().all(|a| a.agent_id != "b1"));
    assert_eq!(again.gone_agents.len(), 1);
}

#[test]
fn agents_of_unobserved_environments_are_left_alone() {
    let input = one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]);
    let first = build_inventory(&input, &InventorySettings::default());
    let mut current = first.rows.clone();
    current.agents.clear();
    let d = diff(
        &first.rows,
        &current,
        &DiffScope::new(Vec::<String>::new(), false),
    );
    assert!(d.gone_agents.is_empty());
    assert_eq!(d.unobserved_agents.len(), 1);
    assert!(d.upserts.agents.is_empty());
}

#[test]
fn a_removed_component_is_a_stale_row() {
    let input = one_environment(vec![scanned_bot(
        bot("b1", "One"),
        vec![component("c1", 9, "T", None), component("c2", 9, "U", None)],
    )]);
    let first = build_inventory(&input, &InventorySettings::default());
    let mut later = input.clone();
    if let inventory_model::ScanOutcome::Scanned(s) = &mut later.environment_scans[0].outcome {
        s.bots[0].components.pop();
    }
    let second = build_inventory(&later, &InventorySettings::default());
    let d = second.diff_against(&first.rows);
    assert_eq!(d.stale_rows.len(), 1);
    assert_eq!(d.stale_rows[0].table, "fsi_caiagentfeature");
    assert_eq!(
        d.stale_rows[0].key,
        [
            ("fsi_agentid", "b1".to_owned()),
            ("fsi_sourceobjectid", "c2".to_owned())
        ]
    );
}

#[test]
fn the_rows_serialise_as_one_list_per_table() {
    let inv = build_inventory(
        &one_environment(vec![scanned_bot(bot("b1", "One"), vec![])]),
        &InventorySettings::default(),
    );
    let json = serde_json::to_value(&inv.rows).unwrap();
    let tables: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected: Vec<&str> = inventory_model::schema::TABLES
        .iter()
        .map(|t| t.logical_name)
        .collect();
    expected.sort_unstable();
    assert_eq!(tables, expected);
    assert_eq!(json["fsi_copilotagent"][0]["fsi_agentid"], "b1");
    assert_eq!(json["fsi_copilotagent"][0]["fsi_createdin"], 100_000_000);
    // Coverage and postures serialise too, for reports.
    let posture = serde_json::to_value(&inv.postures[0]).unwrap();
    assert_eq!(posture["results"][0]["check"], "shared-with-everyone");
    assert_eq!(posture["risk"], "Unknown");
}

#[test]
fn rows_read_back_from_dataverse_compare_equal_to_what_was_written() {
    let input = one_environment(vec![scanned_bot(
        bot("b1", "One"),
        vec![component("c1", 9, "T", None)],
    )]);
    let inv = build_inventory(&input, &InventorySettings::default());
    // Dataverse gives defaults for yes/no columns written as null, drops empty
    // texts, and adds its own columns and annotations.
    let mut previous = inv.rows.clone();
    for f in &mut previous.features {
        let mut json = f.to_json(inventory_model::Encoding::Dataverse);
        json.insert(
            "fsi_caiagentfeatureid".into(),
            json!("00000000-0000-0000-0000-000000000001"),
        );
        json.insert("@odata.etag".into(), json!("W/\"123\""));
        json.insert(
            "fsi_featuretype@OData.Community.Display.V1.FormattedValue".into(),
            json!("Topic"),
        );
        *f = inventory_model::AgentFeatureRow::from_json(
            &json,
            inventory_model::Encoding::Dataverse,
        )
        .unwrap();
    }
    for c in &mut previous.compliance {
        if c.scan_completeness_reason.as_deref() == Some("") {
            c.scan_completeness_reason = None;
        }
    }
    for a in &mut previous.auth_shares {
        a.audience_truncated = a.audience_truncated.or(Some(false));
        a.require_sign_in = a.require_sign_in.or(Some(false));
    }
    assert!(inv.diff_against(&previous).is_empty());
}
