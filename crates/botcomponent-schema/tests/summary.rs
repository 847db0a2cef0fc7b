//! Summary views over real component samples: knowledge, tools, connectors, MCP servers, HTTP
//! calls and agents, without matching the component enums by hand.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use botcomponent_schema::{
    AgentFeatures, BotRow, ComponentRow, ComponentTypeRegistry, ToolType, agent_features,
};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn agent() -> AgentFeatures {
    let http_topic = "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  \
                      actions:\n    - kind: HttpRequestAction\n      id: h1\n      method: Post\n      \
                      url: https://api.contoso.com/orders\n";
    let rows = [
        ComponentRow::new(
            "sp",
            16,
            Some(fixture("17_ct16_KnowledgeSource_SharePoint.mcs.yml")),
        ),
        ComponentRow::new(
            "dv",
            16,
            Some(fixture("11_ct16_KnowledgeSource_Dataverse.data.yaml")),
        ),
        ComponentRow::new(
            "conn",
            9,
            Some(fixture("06_ct9_TaskDialog_connector.data.yaml")),
        ),
        ComponentRow::new("mcp", 9, Some(fixture("21_ct9_McpTool.data.yaml"))),
        ComponentRow::new(
            "agent",
            9,
            Some(fixture("22_ct9_ConnectedAgentTool.data.yaml")),
        ),
        ComponentRow::new("child", 9, Some(fixture("07_ct9_AgentDialog.data.yaml"))),
        ComponentRow::new("http", 9, Some(http_topic.to_owned())),
        ComponentRow::new("empty", 9, None),
    ];
    agent_features(&ComponentTypeRegistry::builtin(), &BotRow::new("b1"), &rows)
}

#[test]
fn knowledge_sources_are_listed() {
    let a = agent();
    let kinds: Vec<_> = a
        .knowledge_sources()
        .filter_map(|k| k.source_kind.as_deref())
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(kinds.contains(&"SharePointSearchSource"), "{kinds:?}");
    let sites: Vec<_> = a
        .knowledge_sources()
        .filter_map(|k| k.site.as_deref())
        .collect();
    assert_eq!(
        sites,
        ["https://integrationsonline.sharepoint.com/sites/copilot-demo/HRDocuments"]
    );
}

#[test]
fn tools_connectors_mcp_servers_and_agents_are_listed() {
    let a = agent();
    assert_eq!(a.tools().count(), 4);
    assert_eq!(a.connectors().len(), 1, "{:?}", a.connectors());
    assert_eq!(a.mcp_servers().len(), 1, "{:?}", a.mcp_servers());
    let agents = a.child_agents();
    let types: Vec<_> = agents.iter().map(|l| (l.source_id, l.tool_type)).collect();
    assert_eq!(
        types,
        [
            ("agent", ToolType::ConnectedAgent),
            ("child", ToolType::ChildAgent)
        ]
    );
}

#[test]
fn http_calls_are_listed_with_method_and_url() {
    let a = agent();
    let calls = a.http_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].source_id, "http");
    assert_eq!(calls[0].url, Some("https://api.contoso.com/orders"));
    assert!(
        calls[0]
            .method
            .is_some_and(|m| m.eq_ignore_ascii_case("post"))
    );
}
