//! Agents planted to trip each posture check a governance scan runs, so a scan of any generated
//! tenant has something to find, deterministically.
//!
//! | plant | agent | what is planted | checks it trips |
//! |---|---|---|---|
//! | [`Plant::OpenWithoutAuth`] | index 0 | `accesscontrolpolicy` 0 (any user), `authenticationmode` 1 (none) | `shared-with-everyone`, `no-end-user-auth` |
//! | [`Plant::MakerCredentials`] | index 1 | a connector tool whose connection runs in `Maker` mode | `maker-credentials` |
//! | [`Plant::PlainHttp`] | index 2 | a topic with an `HttpRequestAction` to an `http://` URL on port 8080 | `http-request`, `insecure-endpoint` |
//! | [`Plant::McpServer`] | index 3 | an MCP server tool (`InvokeExternalAgentTaskAction`, `ModelContextProtocolMetadata`) | `external-tools` |
//! | [`Plant::PublicKnowledge`] | index 4 | a `PublicSiteSearchSource` knowledge source | `public-knowledge` |
//! | [`Plant::SecretInTopic`] | index 5 | a topic whose message holds a client secret | `hard-coded-credentials` |
//! | [`Plant::OrchestrationWithoutInstructions`] | index 6 | generative orchestration on, and no instructions in the agent's GPT component | `orchestration-without-instructions` |
//!
//! Plant `k` goes to the agent with index `k % agents`, so a tenant with fewer than seven
//! agents carries several plants on one agent. Randomly generated agents may trip the same
//! checks too; the plants are the ones a test can rely on.

use uuid::Uuid;

use super::BotProfile;

/// One planted posture problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Plant {
    /// Shared with everyone and no end-user authentication.
    OpenWithoutAuth,
    /// A tool acting with the maker's connection.
    MakerCredentials,
    /// An HTTP request to a plain `http://` endpoint on a non-443 port.
    PlainHttp,
    /// An MCP server tool.
    McpServer,
    /// Public-site knowledge.
    PublicKnowledge,
    /// A secret written into a topic.
    SecretInTopic,
    /// Generative orchestration on, no instructions.
    OrchestrationWithoutInstructions,
}

impl Plant {
    /// Every plant, in the order they are assigned to agents.
    pub const ALL: [Plant; 7] = [
        Plant::OpenWithoutAuth,
        Plant::MakerCredentials,
        Plant::PlainHttp,
        Plant::McpServer,
        Plant::PublicKnowledge,
        Plant::SecretInTopic,
        Plant::OrchestrationWithoutInstructions,
    ];

    /// The ids of the posture checks this plant trips (as `inventory-model` names them).
    pub fn checks(self) -> &'static [&'static str] {
        match self {
            Plant::OpenWithoutAuth => &["shared-with-everyone", "no-end-user-auth"],
            Plant::MakerCredentials => &["maker-credentials"],
            Plant::PlainHttp => &["http-request", "insecure-endpoint"],
            Plant::McpServer => &["external-tools"],
            Plant::PublicKnowledge => &["public-knowledge"],
            Plant::SecretInTopic => &["hard-coded-credentials"],
            Plant::OrchestrationWithoutInstructions => &["orchestration-without-instructions"],
        }
    }

    /// The planted component's schema-name suffix (after the agent's schema name), if the
    /// plant is a component.
    fn component_suffix(self) -> Option<&'static str> {
        match self {
            Plant::OpenWithoutAuth | Plant::OrchestrationWithoutInstructions => None,
            Plant::MakerCredentials => Some("action.PlantedCustomerLookup"),
            Plant::PlainHttp => Some("topic.PlantedLegacyOrderStatus"),
            Plant::McpServer => Some("topic.plantedinventorymcp"),
            Plant::PublicKnowledge => Some("topic.PlantedPublicDocs"),
            Plant::SecretInTopic => Some("topic.PlantedPartnerApi"),
        }
    }
}

/// A plant as it landed in a tenant: which agent, and which component (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlantedFinding {
    /// What was planted.
    pub plant: Plant,
    /// The posture check ids it trips.
    pub checks: &'static [&'static str],
    /// The agent's `botid`.
    pub bot_id: Uuid,
    /// The agent's name.
    pub bot_name: String,
    /// The planted component's schema name, for plants that are components.
    pub component_schema: Option<String>,
}

/// The plants of the agent with index `index` in a tenant of `agents` agents.
pub(crate) fn plants_of(index: usize, agents: usize) -> Vec<Plant> {
    if agents == 0 {
        return Vec::new();
    }
    Plant::ALL
        .iter()
        .enumerate()
        .filter(|(k, _)| k % agents == index)
        .map(|(_, p)| *p)
        .collect()
}

/// Every plant of a tenant.
pub(crate) fn planted(bots: &[BotProfile]) -> Vec<PlantedFinding> {
    let mut out = Vec::new();
    for bot in bots {
        for plant in plants_of(bot.index, bots.len()) {
            out.push(PlantedFinding {
                plant,
                checks: plant.checks(),
                bot_id: bot.id,
                bot_name: bot.name.clone(),
                component_schema: plant
                    .component_suffix()
                    .map(|s| format!("{}.{s}", bot.schema)),
            });
        }
    }
    out
}

/// A planted component: schema name, component type, name, description, YAML data.
pub(crate) struct PlantedComponent {
    pub(crate) schema: String,
    pub(crate) componenttype: i64,
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) data: String,
}

/// The planted components of one agent.
pub(crate) fn components(bot: &BotProfile, agents: usize, domain: &str) -> Vec<PlantedComponent> {
    let mut out = Vec::new();
    for plant in plants_of(bot.index, agents) {
        let Some(suffix) = plant.component_suffix() else {
            continue;
        };
        let schema = format!("{}.{suffix}", bot.schema);
        let (componenttype, name, description, data) = match plant {
            Plant::MakerCredentials => (
                9,
                "Look up customer",
                "Finds a customer record in the CRM.",
                format!(
                    "kind: TaskDialog\ninputs:\n  - kind: AutomaticTaskInput\n    propertyName: customer\n\nmodelDisplayName: \"Look up customer\"\nmodelDescription: \"Finds a customer record in the CRM.\"\naction:\n  kind: InvokeConnectorTaskAction\n  connectionReference: {}.shared_commondataserviceforapps.planted-maker\n  connectionProperties:\n    mode: Maker\n\n  operationId: ListRecords\n\noutputMode: All\n",
                    bot.schema
                ),
            ),
            Plant::PlainHttp => (
                9,
                "Legacy order status",
                "Checks an order in the legacy order system.",
                format!(
                    "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: \"Legacy order status\"\n    triggerQueries:\n      - \"where is my old order\"\n\n  actions:\n    - kind: HttpRequestAction\n      id: httpRequest_planted\n      method: Get\n      url: http://orders-legacy.{domain}:8080/api/status\n      response: Topic.Status\n\n    - kind: SendActivity\n      id: sendMessage_planted\n      activity: \"{{Topic.Status}}\"\n"
                ),
            ),
            Plant::McpServer => (
                9,
                "Inventory MCP",
                "Reads stock levels from the inventory MCP server.",
                format!(
                    "kind: TaskDialog\nmodelDisplayName: \"Inventory MCP\"\nmodelDescription: \"Reads stock levels from the inventory MCP server.\"\naction:\n  kind: InvokeExternalAgentTaskAction\n  connectionReference: {}.shared_inventory-5fmcp-5fplanted.mcp\n  connectionProperties:\n    mode: Invoker\n\n  operationDetails:\n    kind: ModelContextProtocolMetadata\n    operationId: InvokeServer\n",
                    bot.schema
                ),
            ),
            Plant::PublicKnowledge => (
                16,
                "Public product docs",
                "The vendor's public documentation site.",
                format!(
                    "kind: KnowledgeSourceConfiguration\nsource:\n  kind: PublicSiteSearchSource\n  site: https://docs.{domain}/\n"
                ),
            ),
            Plant::SecretInTopic => (
                9,
                "Partner API",
                "Calls the partner API.",
                "kind: AdaptiveDialog\nbeginDialog:\n  kind: OnRecognizedIntent\n  id: main\n  intent:\n    displayName: \"Partner API\"\n    triggerQueries:\n      - \"partner status\"\n\n  actions:\n    - kind: SetVariable\n      id: setVariable_planted\n      variable: Topic.Credential\n      value: \"client_secret: 8Q~PlantedSecretValue0123456789abcd\"\n\n    - kind: SendActivity\n      id: sendMessage_planted\n      activity: \"Checking the partner system.\"\n"
                    .to_owned(),
            ),
            Plant::OpenWithoutAuth | Plant::OrchestrationWithoutInstructions => continue,
        };
        out.push(PlantedComponent {
            schema,
            componenttype,
            name,
            description,
            data,
        });
    }
    out
}

/// Whether the agent has the orchestration-without-instructions plant.
pub(crate) fn without_instructions(index: usize, agents: usize) -> bool {
    plants_of(index, agents).contains(&Plant::OrchestrationWithoutInstructions)
}

/// Whether the agent has the open-without-auth plant.
pub(crate) fn open_without_auth(index: usize, agents: usize) -> bool {
    plants_of(index, agents).contains(&Plant::OpenWithoutAuth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plant_lands_once_whatever_the_tenant_size() {
        for agents in 1..10 {
            let all: Vec<Plant> = (0..agents).flat_map(|i| plants_of(i, agents)).collect();
            assert_eq!(all.len(), Plant::ALL.len(), "{agents} agents");
            for p in Plant::ALL {
                assert!(all.contains(&p));
            }
        }
        assert!(plants_of(0, 0).is_empty());
        assert_eq!(
            plants_of(0, 3),
            [
                Plant::OpenWithoutAuth,
                Plant::McpServer,
                Plant::OrchestrationWithoutInstructions
            ]
        );
    }
}
