//! `inventory doctor`: whether the app may do what `inventory scan` (and, with an inventory
//! environment, `--inventory-url` and `inventory schema apply`) needs, each failure with its fix.
//!
//! | id | what | needed for |
//! |---|---|---|
//! | `inventory-api` | the admin environment list and the Power Platform resource query | layer 1 and the environment list |
//! | `resource-graph` | an Azure Resource Graph query over `PowerPlatformResources` | layer 1 with `--inventory-source arg` |
//! | `read-components` | `bot`, `botcomponent` and the component relationships, per environment | layer 2 |
//! | `inventory-schema` | the eight tables and their active keys in the inventory environment | `--inventory-url` |
//! | `inventory-write` | the application user's roles there (schema and write rights) | `schema apply`, `--inventory-url` |
//!
//! Every check only reads: nothing is created or written. A source the chosen settings do not
//! use is reported as a warning, not a failure. The main `doctor` runs the same checks
//! ([`append_to`]).

use arg_client::{ArgClient, GraphQuery, ResourceQuery};
use client_core::{SharedClock, SharedCredential};
use dataverse_client::DataverseClient;
use futures::TryStreamExt;
use serde_json::Value;
use url::Url;

use super::scan::Endpoints;
use super::tenant::InventorySourceChoice;
use crate::doctor::{Check, Report, Status};

/// What `inventory doctor` checks.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// The environments to check (`--environment`); the admin list's when empty.
    pub environments: Vec<Url>,
    /// The tenant inventory the scan reads.
    pub inventory_source: InventorySourceChoice,
    /// Service URL overrides.
    pub endpoints: Endpoints,
    /// The inventory environment (`--inventory-url`), when rows are written to Dataverse.
    pub inventory_url: Option<Url>,
}

const T_API: &str = "Tenant inventory and environment list (Power Platform API)";
const T_ARG: &str = "Azure Resource Graph read (PowerPlatformResources)";
const T_COMPONENTS: &str = "Read access to bot and botcomponent in every environment";
const T_SCHEMA: &str = "Inventory tables in the inventory environment";
const T_WRITE: &str = "Schema and write rights in the inventory environment";

/// At most this many environments are named in one check's detail.
const NAMED: usize = 5;

const FIX_ADMIN: &str = "give the app the Power Platform Administrator role in Entra ID, or register it as a Power Platform management application (Power Platform admin center > Settings > Admin > Management applications, or `pac admin application register --application-id <client id>`); role changes can take up to an hour to apply";
const FIX_ARG: &str = "assign the app the Reader role (it carries Microsoft.ResourceGraph/resources/read) at the tenant root management group or on the subscriptions; the app also needs the Power Platform Administrator role to see PowerPlatformResources rows";
/// The Power Platform inventory API answers only delegated (signed-in user) tokens: an
/// application's token gets 403 whatever its roles (Learn, "Power Platform inventory API").
const FIX_RESOURCE_QUERY: &str = "the Power Platform resource query accepts signed-in users' tokens only and refuses an application with 403 whatever its roles: scan with --inventory-source arg (Azure Resource Graph; the scan falls back to it on that 403) or --inventory-source none";
const FIX_DATAVERSE: &str = "in each environment listed, create an application user for the app (Power Platform admin center > the environment > Settings > Users + permissions > Application users) with a role that has organization-level Read on Copilot (bot) and Copilot component (botcomponent) and on the component relationships, such as a copy of 'Bot Transcript Viewer' with those added";
const FIX_SCHEMA: &str = "run `copilot-connector inventory schema apply --inventory-url <url>` (it creates only what is missing and waits for the keys)";
const FIX_WRITE: &str = "give the app's application user in the inventory environment the System Customizer role for `inventory schema apply`, and a role with organization-level Create, Read and Write on the eight fsi_ tables for `--inventory-url`";

fn check(
    id: &'static str,
    title: &'static str,
    status: Status,
    detail: String,
    fix: Option<&str>,
) -> Check {
    Check {
        id,
        title,
        status,
        detail,
        fix: fix.map(str::to_owned),
    }
}

fn arg_client(
    credential: &SharedCredential,
    clock: &SharedClock,
    e: &Endpoints,
) -> Result<ArgClient, String> {
    let mut b = ArgClient::builder(credential.clone()).clock(clock.clone());
    if let Some(u) = &e.power_platform {
        b = b.power_platform_endpoint(u.as_str());
    }
    if let Some(u) = &e.bap {
        b = b.admin_endpoint(u.as_str());
    }
    if let Some(u) = &e.arm {
        b = b.resource_graph_endpoint(u.as_str());
    }
    b.build().map_err(|e| e.to_string())
}

fn dataverse(
    url: &Url,
    credential: &SharedCredential,
    clock: &SharedClock,
) -> Result<DataverseClient, String> {
    DataverseClient::builder(url.as_str(), credential.clone())
        .and_then(|b| b.clock(clock.clone()).build())
        .map_err(|e| e.to_string())
}

/// Whether an error is the caller lacking rights (401/403).
fn denied(status: Option<u16>) -> bool {
    matches!(status, Some(401 | 403))
}

/// Runs the inventory checks.
pub async fn run(
    credential: &SharedCredential,
    clock: &SharedClock,
    options: &DoctorOptions,
) -> Report {
    let mut r = Report::default();
    let arg = arg_client(credential, clock, &options.endpoints);

    // Layer 1: the admin list and the resource query.
    let mut listed: Option<Vec<Url>> = None;
    // The resource query's 403 to the app, when the scan would read it (and so fall back).
    let mut query_refused_app: Option<String> = None;
    match &arg {
        Err(e) => r.checks.push(check(
            "inventory-api",
            T_API,
            Status::Fail,
            e.clone(),
            Some("check POWER_PLATFORM_API_URL, BAP_API_URL and ARM_URL"),
        )),
        Ok(client) => {
            let envs = super::tenant::list_environments(client).await;
            let query = client
                .resource_query::<Value>(&ResourceQuery::agents())
                .try_next()
                .await;
            let needed = options.inventory_source == InventorySourceChoice::PowerPlatform;
            // The resource query refusing an app is what the real service always does: the
            // scan then reads Resource Graph, so that refusal is not a failure here (the
            // Resource Graph check below becomes the one that must pass).
            let query = match query {
                Err(e) if needed && e.status() == Some(403) => {
                    query_refused_app = Some(e.to_string());
                    Ok(None)
                }
                other => other,
            };
            match (envs, query) {
                (Ok(envs), Ok(_)) => {
                    let urls: Vec<Url> = envs
                        .iter()
                        .filter(|(t, _)| t.unavailable.is_none())
                        .filter_map(|(t, _)| t.url.clone())
                        .collect();
                    let (status, detail, fix) = match &query_refused_app {
                        None => (
                            Status::Pass,
                            format!(
                                "{} environment(s) listed, {} with Dataverse; the resource query answers",
                                envs.len(),
                                urls.len()
                            ),
                            None,
                        ),
                        Some(e) => (
                            Status::Warn,
                            format!(
                                "{} environment(s) listed, {} with Dataverse; the resource query refuses the app, as it does every app ({e}): the scan reads the tenant inventory through Resource Graph (checked below)",
                                envs.len(),
                                urls.len()
                            ),
                            Some(FIX_RESOURCE_QUERY),
                        ),
                    };
                    r.checks
                        .push(check("inventory-api", T_API, status, detail, fix));
                    listed = Some(urls);
                }
                (envs, query) => {
                    let mut problems = Vec::new();
                    let mut rights = false;
                    match envs {
                        Ok(envs) => {
                            listed = Some(
                                envs.iter()
                                    .filter(|(t, _)| t.unavailable.is_none())
                                    .filter_map(|(t, _)| t.url.clone())
                                    .collect(),
                            );
                        }
                        Err(e) => {
                            rights |= denied(e.status());
                            problems.push(format!("environment list: {e}"));
                        }
                    }
                    let mut query_denied = false;
                    if let Err(e) = query {
                        query_denied = denied(e.status());
                        problems.push(format!("resource query: {e}"));
                    }
                    // Without the list, the scan needs --environment; without the resource
                    // query, the default inventory source fails.
                    let status = if needed || listed.is_none() && options.environments.is_empty() {
                        Status::Fail
                    } else {
                        Status::Warn
                    };
                    let both;
                    let fix = match (rights, query_denied) {
                        (true, true) => {
                            both = format!("{FIX_ADMIN}; {FIX_RESOURCE_QUERY}");
                            both.as_str()
                        }
                        (true, false) => FIX_ADMIN,
                        (false, true) => FIX_RESOURCE_QUERY,
                        (false, false) => "see the error; rerun with -v for the request log",
                    };
                    r.checks.push(check(
                        "inventory-api",
                        T_API,
                        status,
                        problems.join("; "),
                        Some(fix),
                    ));
                }
            }
        }
    }

    // Layer 1 through Resource Graph.
    if let Ok(client) = &arg {
        // Needed when it is the source, or when the scan falls back to it.
        let needed = options.inventory_source == InventorySourceChoice::ResourceGraph
            || query_refused_app.is_some();
        let result = match GraphQuery::from_resource_query(&ResourceQuery::agents()) {
            Ok(q) => client.graph_rows::<Value>(&q).try_next().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => r.checks.push(check(
                "resource-graph",
                T_ARG,
                Status::Pass,
                "Resource Graph answers queries over PowerPlatformResources".to_owned(),
                None,
            )),
            Err(e) => {
                let fix = if denied(e.status()) {
                    FIX_ARG
                } else {
                    "see the error; rerun with -v for the request log"
                };
                let mut detail = e.to_string();
                if query_refused_app.is_some() {
                    detail.push_str(
                        " (needed: the resource query refuses the app, so the scan reads Resource Graph)",
                    );
                } else if !needed {
                    detail.push_str(" (only needed with --inventory-source arg)");
                }
                r.checks.push(check(
                    "resource-graph",
                    T_ARG,
                    if needed { Status::Fail } else { Status::Warn },
                    detail,
                    Some(fix),
                ));
            }
        }
    } else {
        r.checks.push(check(
            "resource-graph",
            T_ARG,
            Status::Skip,
            "needs the service URLs".to_owned(),
            None,
        ));
    }

    // Layer 2, per environment.
    let targets = if options.environments.is_empty() {
        listed.clone()
    } else {
        Some(options.environments.clone())
    };
    match targets {
        None => r.checks.push(check(
            "read-components",
            T_COMPONENTS,
            Status::Skip,
            "no environment to check: the admin list could not be read and no --environment was given".to_owned(),
            None,
        )),
        Some(urls) if urls.is_empty() => r.checks.push(check(
            "read-components",
            T_COMPONENTS,
            Status::Warn,
            "no environment with Dataverse".to_owned(),
            None,
        )),
        Some(urls) => {
            let mut failed: Vec<String> = Vec::new();
            let mut rights = false;
            for url in &urls {
                if let Err((e, denied_here)) = read_components(url, credential, clock).await {
                    rights |= denied_here;
                    failed.push(format!("{url}: {e}"));
                }
            }
            if failed.is_empty() {
                r.checks.push(check(
                    "read-components",
                    T_COMPONENTS,
                    Status::Pass,
                    format!("bot, botcomponent and the relationships readable in {} environment(s)", urls.len()),
                    None,
                ));
            } else {
                let more = failed.len().saturating_sub(NAMED);
                let mut detail = format!(
                    "{} of {} environment(s) failed: {}",
                    failed.len(),
                    urls.len(),
                    failed[..failed.len().min(NAMED)].join("; ")
                );
                if more > 0 {
                    detail.push_str(&format!("; and {more} more"));
                }
                // Some environments unreadable is a coverage gap for the scan, not a stop.
                let status = if failed.len() == urls.len() {
                    Status::Fail
                } else {
                    Status::Warn
                };
                r.checks.push(check(
                    "read-components",
                    T_COMPONENTS,
                    status,
                    detail,
                    Some(if rights {
                        FIX_DATAVERSE
                    } else {
                        "see the errors; rerun with -v for the request log"
                    }),
                ));
            }
        }
    }

    // The inventory environment, only when rows go to Dataverse.
    match &options.inventory_url {
        None => {
            for (id, title) in [("inventory-schema", T_SCHEMA), ("inventory-write", T_WRITE)] {
                r.checks.push(check(
                    id,
                    title,
                    Status::Skip,
                    "no inventory environment (COPILOT_INVENTORY_URL / --inventory-url) is configured".to_owned(),
                    None,
                ));
            }
        }
        Some(url) => inventory_environment(&mut r, url, credential, clock).await,
    }
    r
}

/// The ids of the inventory checks, in the order [`run`] reports them.
pub const CHECK_IDS: [&str; 5] = [
    "inventory-api",
    "resource-graph",
    "read-components",
    "inventory-schema",
    "inventory-write",
];

/// Whether the inventory is in use: rows go to an inventory environment, or a scan left its
/// state at `state_path`. `doctor` fails on the inventory checks only then.
pub fn in_use(options: &DoctorOptions, state_path: &std::path::Path) -> bool {
    options.inventory_url.is_some() || state_path.exists()
}

/// The inventory checks as the main `doctor` runs them, appended to `r`: the same checks as
/// [`run`] (`inventory doctor`). While the inventory is not in use ([`in_use`]) a failure is
/// reported as a warning, since ingestion works without it. With a local authority host
/// (a stand-in for Entra) and no inventory service URL, nothing is sent to the public
/// services and the checks are skipped.
pub async fn append_to(
    r: &mut Report,
    credential: &SharedCredential,
    clock: &SharedClock,
    authority: &Url,
    options: &DoctorOptions,
    in_use: bool,
) {
    let e = &options.endpoints;
    if client_core::is_loopback(authority)
        && e.power_platform.is_none()
        && e.bap.is_none()
        && options.environments.is_empty()
    {
        for (id, title) in
            CHECK_IDS
                .into_iter()
                .zip([T_API, T_ARG, T_COMPONENTS, T_SCHEMA, T_WRITE])
        {
            r.checks.push(check(
                id,
                title,
                Status::Skip,
                "the authority host is local and POWER_PLATFORM_API_URL / BAP_API_URL are not set: set them (or give --environment) to check what `inventory scan` needs".to_owned(),
                None,
            ));
        }
        return;
    }
    let inventory = run(credential, clock, options).await;
    for mut c in inventory.checks {
        if !in_use && c.status == Status::Fail {
            c.status = Status::Warn;
            c.detail.push_str(
                " (only `inventory scan` needs this; it fails doctor once the inventory is in use: COPILOT_INVENTORY_URL set, or a scan's state present)",
            );
        }
        r.checks.push(c);
    }
}

/// Reads one row of `bots`, `botcomponents` and a relationship: `Err((why, denied))`.
async fn read_components(
    url: &Url,
    credential: &SharedCredential,
    clock: &SharedClock,
) -> Result<(), (String, bool)> {
    let dv = dataverse(url, credential, clock).map_err(|e| (e, false))?;
    for (set, column) in [
        ("bots", "botid"),
        ("botcomponents", "botcomponentid"),
        ("botcomponent_workflowset", "botcomponentid"),
    ] {
        let q = dv.query(set).select([column]).top(1);
        let rows: Result<Vec<Value>, _> = dv.rows::<Value>(&q).try_collect().await;
        match rows {
            Ok(_) => {}
            // A relationship whose solution is not installed has no targets; that is fine.
            Err(e) if set.starts_with("botcomponent_") && e.status() == Some(404) => {}
            Err(e) => return Err((format!("{set}: {e}"), denied(e.status()))),
        }
    }
    Ok(())
}

/// The role names of the signed-in application user in the environment behind `dv`.
async fn role_names(dv: &DataverseClient) -> Result<Vec<String>, dataverse_client::Error> {
    let who = dv.who_am_i().await?;
    let q = dv
        .query("systemuserroles_association")
        .select(["roleid"])
        .filter(dataverse_client::Filter::lookup(
            "systemuserid",
            who.user_id,
        ));
    let links: Vec<Value> = dv.rows::<Value>(&q).try_collect().await?;
    let mut names = Vec::new();
    for link in links {
        let Some(role) = link.get("roleid").and_then(Value::as_str) else {
            continue;
        };
        let q = dv
            .query("roles")
            .select(["name"])
            .filter(dataverse_client::Filter::lookup("roleid", role));
        let roles: Vec<Value> = dv.rows::<Value>(&q).try_collect().await?;
        names.extend(
            roles
                .iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .map(str::to_owned),
        );
    }
    names.sort();
    names.dedup();
    Ok(names)
}

async fn inventory_environment(
    r: &mut Report,
    url: &Url,
    credential: &SharedCredential,
    clock: &SharedClock,
) {
    let dv = match dataverse(url, credential, clock) {
        Ok(dv) => dv,
        Err(e) => {
            r.checks
                .push(check("inventory-schema", T_SCHEMA, Status::Fail, e, None));
            r.checks.push(check(
                "inventory-write",
                T_WRITE,
                Status::Skip,
                "needs a client for the inventory environment".to_owned(),
                None,
            ));
            return;
        }
    };
    // The tables and their keys (what `schema apply` creates), read only.
    let mut missing = Vec::new();
    let mut inactive = Vec::new();
    let mut error = None;
    for table in inventory_model::schema::TABLES {
        let path = format!(
            "EntityDefinitions(LogicalName='{}')/Keys?$select=SchemaName,EntityKeyIndexStatus",
            table.logical_name
        );
        match metadata_get(&dv, &path).await {
            Ok(None) => missing.push(table.logical_name),
            Ok(Some(body)) => {
                for key in table.keys {
                    let status = body
                        .get("value")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find(|k| {
                            k.get("SchemaName")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.eq_ignore_ascii_case(key.schema_name))
                        })
                        .map(|k| super::schema::key_index_status(k.get("EntityKeyIndexStatus")))
                        .unwrap_or("missing");
                    if status != "Active" {
                        inactive.push(format!(
                            "{}.{} ({status})",
                            table.logical_name, key.schema_name
                        ));
                    }
                }
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    match error {
        Some((text, status)) => {
            let fix = if denied(status) {
                FIX_WRITE
            } else {
                "see the error; rerun with -v for the request log"
            };
            r.checks.push(check(
                "inventory-schema",
                T_SCHEMA,
                Status::Fail,
                text,
                Some(fix),
            ));
        }
        None if missing.is_empty() && inactive.is_empty() => r.checks.push(check(
            "inventory-schema",
            T_SCHEMA,
            Status::Pass,
            "the eight tables exist and every alternate key is Active".to_owned(),
            None,
        )),
        None => {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!("missing tables: {}", missing.join(", ")));
            }
            if !inactive.is_empty() {
                parts.push(format!("keys not active: {}", inactive.join(", ")));
            }
            r.checks.push(check(
                "inventory-schema",
                T_SCHEMA,
                Status::Fail,
                parts.join("; "),
                Some(FIX_SCHEMA),
            ));
        }
    }
    // Rights: read from the application user's roles (nothing is written to find out).
    match role_names(&dv).await {
        Ok(names) => {
            let broad = names
                .iter()
                .any(|n| n == "System Administrator" || n == "System Customizer");
            let (status, detail, fix) = if broad {
                (Status::Pass, format!("roles: {}", names.join(", ")), None)
            } else {
                (
                    Status::Warn,
                    format!(
                        "roles: {}; none of them is known to create tables, and write rights on the fsi_ tables cannot be confirmed without writing",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                    Some(FIX_WRITE),
                )
            };
            r.checks
                .push(check("inventory-write", T_WRITE, status, detail, fix));
        }
        Err(e) => {
            let fix = if denied(e.status()) {
                Some(FIX_WRITE)
            } else {
                None
            };
            r.checks.push(check(
                "inventory-write",
                T_WRITE,
                Status::Fail,
                e.to_string(),
                fix,
            ));
        }
    }
}

/// `GET` a metadata path relative to the Web API root; `Ok(None)` on 404; errors as their
/// text and HTTP status.
async fn metadata_get(
    dv: &DataverseClient,
    relative: &str,
) -> Result<Option<Value>, (String, Option<u16>)> {
    let url = dv
        .api_url()
        .join(relative)
        .map_err(|e| (e.to_string(), None))?;
    let req = client_core::Request::new(client_core::http::Method::GET, url)
        .scope(dv.scope())
        .header("Accept", "application/json")
        .header("OData-MaxVersion", "4.0")
        .header("OData-Version", "4.0");
    match dv.pipeline().send(req).await {
        Ok(resp) => resp
            .json::<Value>()
            .map(Some)
            .map_err(|e| (e.to_string(), e.status())),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err((e.to_string(), e.status())),
    }
}
