//! Summary views of an agent's features: what it knows, what it can call and where it sends
//! data, without matching the component enums level by level.

use crate::features::{AgentFeatures, Feature, FeatureDetail};
use crate::model::{ActionDetail, ComponentContent, KnowledgeSource, Tool, ToolType};
use std::collections::BTreeSet;

/// A topic's outbound HTTP call (`HttpRequestAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpCall<'a> {
    /// The component (topic) that makes the call.
    pub source_id: &'a str,
    /// `method`, if given.
    pub method: Option<&'a str>,
    /// `url` as written (may be Power Fx).
    pub url: Option<&'a str>,
}

/// An agent this agent can hand work to: a child agent, a connected Copilot Studio agent or
/// an external agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentLink<'a> {
    /// The component that declares it.
    pub source_id: &'a str,
    /// Child, connected or external.
    pub tool_type: ToolType,
    /// Its display name, if any.
    pub name: Option<&'a str>,
}

impl AgentFeatures {
    /// The parsed content of every component feature (the configuration is skipped).
    fn contents(&self) -> impl Iterator<Item = (&Feature, &ComponentContent)> {
        self.features.iter().filter_map(|f| match &f.detail {
            FeatureDetail::Component(c) => Some((f, &c.content)),
            _ => None,
        })
    }

    /// Every topic action with its component's feature.
    fn topic_actions(&self) -> impl Iterator<Item = (&Feature, &ActionDetail)> {
        self.contents().flat_map(|(f, c)| {
            let actions = match c {
                ComponentContent::Topic(t) => t.actions.as_slice(),
                _ => &[],
            };
            actions
                .iter()
                .filter_map(move |a| a.detail.as_ref().map(|d| (f, d)))
        })
    }

    /// The agent's knowledge sources (SharePoint, public sites, Dataverse tables, search
    /// indexes ...).
    ///
    /// ```
    /// use botcomponent_schema::{agent_features, BotRow, ComponentRow, ComponentTypeRegistry};
    /// let source = "kind: KnowledgeSourceConfiguration\nsource:\n  kind: PublicSiteSearchSource\n  site: https://contoso.com\n";
    /// let rows = [ComponentRow::new("k1", 16, Some(source.to_owned()))];
    /// let agent = agent_features(&ComponentTypeRegistry::builtin(), &BotRow::new("b1"), &rows);
    /// let sites: Vec<_> = agent.knowledge_sources().filter_map(|k| k.site.as_deref()).collect();
    /// assert_eq!(sites, ["https://contoso.com"]);
    /// ```
    pub fn knowledge_sources(&self) -> impl Iterator<Item = &KnowledgeSource> {
        self.contents().filter_map(|(_, c)| match c {
            ComponentContent::KnowledgeSource(k) => Some(k),
            _ => None,
        })
    }

    /// Every tool component (connectors, flows, MCP servers, agents, skills ...).
    pub fn tools(&self) -> impl Iterator<Item = &Tool> {
        self.contents().filter_map(|(_, c)| match c {
            ComponentContent::Tool(t) => Some(&**t),
            _ => None,
        })
    }

    /// The connectors the agent uses, by connector API name (`shared_office365`) where known,
    /// else by connection reference: from connector tools and from topics' connector actions.
    /// Sorted, each once.
    pub fn connectors(&self) -> BTreeSet<&str> {
        let from_tools = self
            .tools()
            .filter(|t| t.tool_type_is(ToolType::Connector))
            .filter_map(|t| t.connector.as_deref().or(t.connection_reference.as_deref()));
        let from_topics = self.topic_actions().filter_map(|(_, d)| match d {
            ActionDetail::InvokeConnector {
                connection_reference,
                ..
            } => connection_reference.as_deref(),
            _ => None,
        });
        from_tools.chain(from_topics).collect()
    }

    /// The MCP servers the agent calls, by display name or server schema name: from MCP
    /// tools and from topics' MCP tool actions. Sorted, each once.
    pub fn mcp_servers(&self) -> BTreeSet<&str> {
        let from_tools = self
            .tools()
            .filter(|t| t.tool_type_is(ToolType::McpServer))
            .filter_map(|t| t.display_name.as_deref().or(t.connector.as_deref()));
        let from_topics = self.topic_actions().filter_map(|(_, d)| match d {
            ActionDetail::InvokeMcpTool {
                server_schema_name, ..
            } => server_schema_name.as_deref(),
            _ => None,
        });
        from_tools.chain(from_topics).collect()
    }

    /// Every outbound HTTP call in the agent's topics.
    pub fn http_calls(&self) -> Vec<HttpCall<'_>> {
        self.topic_actions()
            .filter_map(|(f, d)| match d {
                ActionDetail::HttpRequest { method, url } => Some(HttpCall {
                    source_id: &f.source_id,
                    method: method.as_deref(),
                    url: url.as_deref(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The agents this agent can hand work to (child, connected and external agents).
    pub fn child_agents(&self) -> Vec<AgentLink<'_>> {
        self.contents()
            .filter_map(|(f, c)| match c {
                ComponentContent::Tool(t)
                    if matches!(
                        t.tool_kind,
                        ToolType::ChildAgent | ToolType::ConnectedAgent | ToolType::ExternalAgent
                    ) =>
                {
                    Some(AgentLink {
                        source_id: &f.source_id,
                        tool_type: t.tool_kind,
                        name: t.display_name.as_deref().or(f.source_name.as_deref()),
                    })
                }
                _ => None,
            })
            .collect()
    }
}

impl Tool {
    fn tool_type_is(&self, t: ToolType) -> bool {
        self.tool_kind == t
    }
}
