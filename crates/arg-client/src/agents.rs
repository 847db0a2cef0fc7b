//! One call for the tenant's Copilot agents, through either inventory API.

use crate::client::ArgClient;
use crate::paging::{GraphQuery, RowStream};
use crate::resource_query::{ResourceQuery, SortOrder};
use crate::rows::Agent;

/// Which API to read the inventory through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InventorySource {
    /// Azure Resource Graph (KQL over `PowerPlatformResources`). Works with application
    /// tokens; the caller needs the Power Platform administrator role.
    ResourceGraph,
    /// The Power Platform API's resource query. Answers delegated (signed-in admin) tokens
    /// only.
    ResourceQuery,
}

impl ArgClient {
    /// Every Copilot agent in the tenant (Copilot Studio and Agent Builder), ordered by id so
    /// paging is stable, as typed [`Agent`] rows.
    pub fn agents(&self, source: InventorySource) -> RowStream<Agent> {
        self.agents_matching(source, ResourceQuery::agents())
    }

    /// The agents of one environment.
    pub fn agents_in(&self, source: InventorySource, environment_id: &str) -> RowStream<Agent> {
        self.agents_matching(
            source,
            ResourceQuery::agents().where_eq("properties.environmentId", environment_id),
        )
    }

    /// The agents matching `query` (built on [`ResourceQuery::agents`]), read through `source`.
    pub fn agents_matching(
        &self,
        source: InventorySource,
        query: ResourceQuery,
    ) -> RowStream<Agent> {
        let query = query.order_by("name", SortOrder::Asc);
        match source {
            InventorySource::ResourceQuery => self.resource_query(&query),
            InventorySource::ResourceGraph => match GraphQuery::from_resource_query(&query) {
                Ok(q) => self.graph_rows(&q),
                Err(e) => RowStream::from_boxed(Box::pin(futures::stream::once(async { Err(e) }))),
            },
        }
    }
}
