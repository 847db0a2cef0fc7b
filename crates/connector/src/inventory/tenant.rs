//! Layer 1: the tenant-wide sources, through `arg-client`: the admin environment list and
//! the tenant inventory of agents (the Power Platform resource query or Azure Resource Graph).

use arg_client::{ArgClient, Environment, GraphQuery, ResourceQuery, SortOrder};
use futures::TryStreamExt;
use inventory_model::{EnvironmentInfo, InventorySource, TenantAgent};
use serde_json::Value;

/// Which tenant inventory the scan reads (`--inventory-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InventorySourceChoice {
    /// The Power Platform API's resource query (the admin center's inventory).
    #[default]
    PowerPlatform,
    /// Azure Resource Graph (`PowerPlatformResources`).
    ResourceGraph,
    /// Do not read a tenant inventory (Dataverse only; reported as a coverage gap).
    None,
}

impl InventorySourceChoice {
    /// Reads `powerplatform`, `arg` or `none`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "powerplatform" | "power-platform" | "pp" => Ok(Self::PowerPlatform),
            "arg" | "resourcegraph" | "resource-graph" => Ok(Self::ResourceGraph),
            "none" => Ok(Self::None),
            _ => Err("use powerplatform (the default), arg or none".to_owned()),
        }
    }

    /// The name used on the command line and in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PowerPlatform => "powerplatform",
            Self::ResourceGraph => "arg",
            Self::None => "none",
        }
    }
}

/// An environment the scan will read, from the admin list or the command line.
#[derive(Debug, Clone)]
pub struct EnvironmentTarget {
    /// The environment id (the admin list's `name`; for a URL given without the list, the
    /// URL's host).
    pub id: String,
    /// Its Dataverse URL, or `None` without Dataverse.
    pub url: Option<url::Url>,
    /// What the admin list says about it.
    pub info: Option<EnvironmentInfo>,
    /// Why it is not to be read although it is listed (disabled, being deleted): reported
    /// as not read, with this reason, rather than tried and failed.
    pub unavailable: Option<String>,
}

/// The model's [`EnvironmentInfo`] of an admin list entry.
pub fn environment_info(env: &Environment) -> EnvironmentInfo {
    let mut info = EnvironmentInfo::new(env.name.clone());
    info.display_name = env.properties.display_name.clone();
    info.location = env.location.clone();
    info.sku = env.sku().map(|s| s.as_str().to_owned());
    info.is_default = env.is_default();
    info.instance_api_url = env.dataverse_url().ok().flatten().map(|u| u.to_string());
    info
}

/// Reads the admin environment list: the targets and the model's environment list.
pub async fn list_environments(
    client: &ArgClient,
) -> Result<Vec<(EnvironmentTarget, Result<(), String>)>, arg_client::Error> {
    let envs: Vec<Environment> = client.environments().try_collect().await?;
    Ok(envs
        .into_iter()
        .map(|env| {
            let info = environment_info(&env);
            let (url, problem) = match env.dataverse_url() {
                Ok(u) => (u, Ok(())),
                Err(e) => (None, Err(e.to_string())),
            };
            (
                EnvironmentTarget {
                    id: env.name.clone(),
                    url,
                    info: Some(info),
                    unavailable: env.unavailable_reason(),
                },
                problem,
            )
        })
        .collect())
}

/// Every row of a paged inventory query. A page the service cut short with no skip token to
/// go on from (`resultTruncated` true: a string in Resource Graph, a number in the resource
/// query), or fewer rows than `totalRecords` said, is noted: the agents after it were not
/// read, and saying so beats a silently short inventory.
async fn collect_rows(
    mut pages: arg_client::PageStream<Value>,
    what: &str,
    problems: &mut Vec<String>,
) -> Result<Vec<Value>, arg_client::Error> {
    let mut rows = Vec::new();
    let mut total = None;
    while let Some(page) = pages.try_next().await? {
        total = page.total_records.or(total);
        let cut = page.result_truncated && page.continuation().is_none();
        rows.extend(page.rows);
        if cut {
            problems.push(format!(
                "{what} cut its answer short after {} row(s) (resultTruncated, no skip token): the agents after them were not read",
                rows.len()
            ));
        }
    }
    if let Some(total) = total.filter(|t| *t > rows.len() as u64) {
        problems.push(format!(
            "{what} counted {total} agent(s) (totalRecords) but returned {}",
            rows.len()
        ));
    }
    Ok(rows)
}

/// What the tenant inventory layer read: its agents, where they came from, and what could
/// not be read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TenantInventory {
    /// The agents read.
    pub agents: Vec<TenantAgent>,
    /// Rows or pages that could not be read, and why (each a note for the summary).
    pub problems: Vec<String>,
    /// The source the agents were read from: the one asked for, or Resource Graph when the
    /// resource query refused the scan's token.
    pub source: InventorySourceChoice,
    /// Why the source differs from the one asked for, with the fix, if it does.
    pub fallback: Option<String>,
}

/// The tenant inventory's agents, with the rows that could not be read and why.
pub async fn tenant_agents(
    client: &ArgClient,
    choice: InventorySourceChoice,
) -> Result<(Vec<TenantAgent>, Vec<String>), arg_client::Error> {
    let read = tenant_inventory(client, choice).await?;
    Ok((read.agents, read.problems))
}

/// Reads the tenant inventory from `choice`. The resource query takes signed-in users'
/// tokens only and answers an application with 403; Resource Graph serves the same table to
/// applications, so on that 403 the same query goes to Resource Graph, and
/// [`TenantInventory::fallback`] says so (it is also one of the problems, so a summary that
/// lists notes shows it). Should Resource Graph refuse as well, its error is returned: it names
/// the role the app lacks there, which is the one fix that helps.
pub async fn tenant_inventory(
    client: &ArgClient,
    choice: InventorySourceChoice,
) -> Result<TenantInventory, arg_client::Error> {
    let query = ResourceQuery::agents().order_by("name", SortOrder::Asc);
    let mut problems = Vec::new();
    let mut fallback = None;
    let (rows, source, used): (Vec<Value>, InventorySource, InventorySourceChoice) = match choice {
        InventorySourceChoice::PowerPlatform => {
            let pages = client.resource_query_pages::<Value>(&query);
            match collect_rows(pages, "the Power Platform resource query", &mut problems).await {
                Ok(rows) => (
                    rows,
                    InventorySource::PowerPlatformAdmin,
                    InventorySourceChoice::PowerPlatform,
                ),
                Err(e) if e.status() == Some(403) => {
                    let q = GraphQuery::from_resource_query(&query)?;
                    let pages = client.graph_pages::<Value>(&q);
                    let rows = collect_rows(pages, "Azure Resource Graph", &mut problems).await?;
                    let why = format!(
                        "the Power Platform resource query refused the scan's token ({e}); it accepts signed-in users only, so the inventory was read through Azure Resource Graph (to skip the refused request: --inventory-source arg)"
                    );
                    problems.push(why.clone());
                    fallback = Some(why);
                    (
                        rows,
                        InventorySource::ResourceGraph,
                        InventorySourceChoice::ResourceGraph,
                    )
                }
                Err(e) => return Err(e),
            }
        }
        InventorySourceChoice::ResourceGraph => {
            let q = GraphQuery::from_resource_query(&query)?;
            let pages = client.graph_pages::<Value>(&q);
            (
                collect_rows(pages, "Azure Resource Graph", &mut problems).await?,
                InventorySource::ResourceGraph,
                InventorySourceChoice::ResourceGraph,
            )
        }
        InventorySourceChoice::None => {
            return Ok(TenantInventory {
                agents: Vec::new(),
                problems: Vec::new(),
                source: InventorySourceChoice::None,
                fallback: None,
            });
        }
    };
    let mut agents = Vec::with_capacity(rows.len());
    for row in &rows {
        match TenantAgent::from_inventory_json(row, source) {
            Ok(a) => agents.push(a),
            Err(e) => problems.push(format!(
                "an inventory row{} could not be read: {e}",
                row.get("name")
                    .and_then(Value::as_str)
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            )),
        }
    }
    Ok(TenantInventory {
        agents,
        problems,
        source: used,
        fallback,
    })
}
