//! A whole tenant: several environments, each with its own Dataverse at its own URL, the admin
//! environment list, and the Power Platform inventory built from the environments' `bots`, with
//! realistic, seeded discrepancies between the sources.
//!
//! Environment 0 is the emulator's primary Dataverse (at the base URL) and the tenant's default
//! environment; it is never changed, so single-environment use stays as it was. With
//! `.environments(n)` for n >= 2, environment 1 is a developer environment, 2 has no Dataverse,
//! 3 has a Dataverse that answers 403 to the connector app (no application user), and the rest
//! are production and sandbox environments; with n >= 4 the admin list also names one more,
//! disabled environment (a trial whose `states.runtime.id` is `Disabled`, as the admin API
//! shows one an administrator or an expired trial switched off), which a scan must skip with
//! its reason rather than read: its Dataverse URL answers every request with 503. Each
//! Dataverse environment listens on its own
//! loopback port and has its own generated agents, components and transcripts (the builder's
//! `agents` and `transcripts` apply to each). The planted [`Discrepancy`]s are listed by
//! [`RunningEmulator::discrepancies`](crate::RunningEmulator::discrepancies).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::dataverse::{Dataverse, DataverseConfig};
use crate::entra::{AppRegistration, Entra};
use crate::faults::{Faults, Service};
use crate::generate::{Row, SyntheticTenant, TenantSpec};
use crate::inventory::{Inventory, InventoryConfig};
use crate::throttle::{ServiceProtection, ServiceProtectionLimits};
use crate::{EmulatorError, rng};

/// An environment of the emulated tenant.
#[derive(Clone)]
#[non_exhaustive]
pub struct EnvironmentInfo {
    /// Position (0 is the default environment at the emulator's base URL).
    pub index: usize,
    /// The environment id (`Default-<tenant id>` for the default environment, else a GUID).
    pub id: String,
    /// The display name.
    pub display_name: String,
    /// `Default`, `Developer`, `Production`, `Sandbox`.
    pub sku: &'static str,
    /// The Dataverse URL (`http://127.0.0.1:PORT`), or `None` without Dataverse.
    pub url: Option<String>,
    /// Its Dataverse, if it has one.
    pub dataverse: Option<Dataverse>,
    /// Whether its Dataverse answers 403 to the connector app (no application user).
    pub forbidden: bool,
    /// Whether the admin list shows it disabled (`states.runtime.id` `Disabled`); its URL
    /// answers every request with 503.
    pub disabled: bool,
    /// The `botid`s its Dataverse holds.
    pub bot_ids: Vec<Uuid>,
}

impl std::fmt::Debug for EnvironmentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvironmentInfo")
            .field("index", &self.index)
            .field("id", &self.id)
            .field("sku", &self.sku)
            .field("url", &self.url)
            .field("forbidden", &self.forbidden)
            .field("disabled", &self.disabled)
            .field("bots", &self.bot_ids.len())
            .finish()
    }
}

/// A planted difference between the inventory and the environments' Dataverse.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discrepancy {
    /// A Copilot Studio agent the inventory lists but the environment's `bots` does not hold
    /// (deleted since the inventory's last refresh).
    AgentOnlyInInventory {
        /// The environment.
        environment_id: String,
        /// The agent's id.
        bot_id: Uuid,
    },
    /// A Microsoft 365 Copilot Agent Builder agent: in the inventory only.
    AgentBuilderOnlyInInventory {
        /// The environment.
        environment_id: String,
        /// The agent's id.
        bot_id: Uuid,
    },
    /// A classic bot in Dataverse that the inventory does not list.
    ClassicBotOnlyInDataverse {
        /// The environment.
        environment_id: String,
        /// The bot's id.
        bot_id: Uuid,
    },
    /// An environment without a Dataverse database.
    EnvironmentWithoutDataverse {
        /// The environment.
        environment_id: String,
    },
    /// A developer environment.
    DeveloperEnvironment {
        /// The environment.
        environment_id: String,
    },
    /// An environment whose Dataverse answers 403 to the connector app.
    DataverseForbidden {
        /// The environment.
        environment_id: String,
    },
    /// An environment the admin list shows disabled (`states.runtime.id` `Disabled`), with
    /// its Dataverse metadata still there.
    DisabledEnvironment {
        /// The environment.
        environment_id: String,
    },
}

/// The extra environments' servers, stopped with the emulator.
pub(crate) struct Servers(Vec<(oneshot::Sender<()>, JoinHandle<()>)>);

impl Servers {
    pub(crate) async fn shutdown(self) {
        for (stop, task) in self.0 {
            let _ = stop.send(());
            let _ = task.await;
        }
    }

    pub(crate) fn stop_now(&mut self) {
        for (stop, _) in self.0.drain(..) {
            let _ = stop.send(());
        }
    }
}

/// Everything the tenant layout produced.
pub(crate) struct Tenancy {
    pub(crate) environments: Vec<EnvironmentInfo>,
    pub(crate) discrepancies: Vec<Discrepancy>,
    pub(crate) inventory: Inventory,
    pub(crate) servers: Servers,
}

/// What [`build`] needs from the emulator being started.
pub(crate) struct Context<'a> {
    pub(crate) count: usize,
    pub(crate) spec: TenantSpec,
    pub(crate) host: IpAddr,
    pub(crate) base_url: &'a str,
    pub(crate) primary: &'a Dataverse,
    pub(crate) tenant: &'a Arc<SyntheticTenant>,
    pub(crate) apps: &'a [AppRegistration],
    pub(crate) entra: &'a Entra,
    pub(crate) faults: &'a Faults,
    pub(crate) limits: ServiceProtectionLimits,
    pub(crate) clock: &'a SharedClock,
    pub(crate) inventory: InventoryConfig,
}

const SKUS: [&str; 2] = ["Production", "Sandbox"];

/// Builds the environments after the primary one, their servers, and the inventory.
pub(crate) async fn build(cx: Context<'_>) -> Result<Tenancy, EmulatorError> {
    let identity = cx.tenant.identity();
    let company = identity
        .domain
        .split('.')
        .next()
        .unwrap_or("contoso")
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .to_owned();
    let company = capitalise(&company);
    let default_id = format!("Default-{}", identity.tenant_id);
    let primary_bots = cx.tenant.bot_rows();
    let mut environments = vec![EnvironmentInfo {
        index: 0,
        id: default_id.clone(),
        display_name: format!("{company} (default)"),
        sku: "Default",
        url: Some(cx.base_url.to_owned()),
        dataverse: Some(cx.primary.clone()),
        forbidden: false,
        disabled: false,
        bot_ids: ids(&primary_bots),
    }];
    let mut agent_rows: Vec<Value> = primary_bots
        .iter()
        .filter_map(|b| agent_row(b, &default_id, identity.tenant_id))
        .collect();
    let mut discrepancies = Vec::new();
    let mut servers = Vec::new();
    let mut org_ids = vec![identity.organization_id];
    for index in 1..cx.count {
        let sku = match index {
            1 => "Developer",
            2 => "Production",
            3 => "Sandbox",
            i => SKUS[i % 2],
        };
        let mut r = rng::Rng::new(cx.spec.seed, &[0xE417_0000, index as u64]);
        let id = r.uuid().to_string();
        let display_name = match index {
            1 => format!("{company} Dev ({})", "maker"),
            2 => format!("{company} Teams apps (no Dataverse)"),
            3 => format!("{company} Finance sandbox"),
            i => format!(
                "{company} {} {i}",
                if i % 2 == 0 { "Production" } else { "Sandbox" }
            ),
        };
        match index {
            1 => discrepancies.push(Discrepancy::DeveloperEnvironment {
                environment_id: id.clone(),
            }),
            2 => discrepancies.push(Discrepancy::EnvironmentWithoutDataverse {
                environment_id: id.clone(),
            }),
            3 => discrepancies.push(Discrepancy::DataverseForbidden {
                environment_id: id.clone(),
            }),
            _ => {}
        }
        if index == 2 {
            environments.push(EnvironmentInfo {
                index,
                id,
                display_name,
                sku,
                url: None,
                dataverse: None,
                forbidden: false,
                disabled: false,
                bot_ids: Vec::new(),
            });
            org_ids.push(Uuid::nil());
            continue;
        }
        let forbidden = index == 3;
        let spec = TenantSpec {
            seed: cx
                .spec
                .seed
                .wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ..cx.spec.clone()
        };
        let tenant = Arc::new(SyntheticTenant::generate(&spec));
        let env_identity = tenant.identity().clone();
        org_ids.push(env_identity.organization_id);
        let dataverse = Dataverse::new(DataverseConfig {
            organization_id: env_identity.organization_id,
            business_unit_id: env_identity.business_unit_id,
            clock: Arc::clone(cx.clock),
            ..DataverseConfig::default()
        });
        // The forbidden environment has no application user for the connector app (the
        // first app); other registered apps keep theirs.
        let apps: Vec<AppRegistration> = if forbidden {
            cx.apps.iter().skip(1).cloned().collect()
        } else {
            cx.apps.to_vec()
        };
        let security = tenant.security_rows(&apps);
        let mut bots = tenant.bot_rows();
        dataverse.insert_rows("systemusers", tenant.maker_rows())?;
        dataverse.insert_rows("systemusers", security.application_users)?;
        dataverse.insert_rows("roles", security.roles)?;
        dataverse.insert_rows("systemuserroles_association", security.user_roles)?;
        agent_rows.extend(
            bots.iter()
                .filter_map(|b| agent_row(b, &id, identity.tenant_id)),
        );
        if index == 1 {
            // A classic bot only Dataverse knows (the inventory does not list it).
            let classic = classic_bot(&mut r, &env_identity.business_unit_id, cx.spec.anchor);
            if let Some(bot_id) = classic
                .get("botid")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok())
            {
                discrepancies.push(Discrepancy::ClassicBotOnlyInDataverse {
                    environment_id: id.clone(),
                    bot_id,
                });
            }
            bots.push(classic);
        }
        let bot_ids = ids(&bots);
        dataverse.insert_rows("bots", bots)?;
        dataverse.insert_rows("botcomponents", tenant.component_rows())?;
        for (set, rows) in tenant.related_rows() {
            dataverse.insert_rows(set, rows)?;
        }
        dataverse.insert_rows(
            "conversationtranscripts",
            tenant.transcript_rows(0..cx.spec.transcripts),
        )?;
        dataverse.set_materializer("conversationtranscripts", tenant.materializer());

        let listener = tokio::net::TcpListener::bind(SocketAddr::new(cx.host, 0))
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: SocketAddr::new(cx.host, 0),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: SocketAddr::new(cx.host, 0),
                source,
            })?;
        let url = format!("http://{local}");
        cx.entra.add_resource(&url);
        let gate = crate::auth::Gate {
            entra: cx.entra.clone(),
            dataverse: dataverse.clone(),
            protection: ServiceProtection::new(cx.limits, Arc::clone(cx.clock)),
            environment_url: Arc::from(url.as_str()),
            authorization_uri: Arc::from(format!("{}/{}", cx.base_url, identity.tenant_id)),
        };
        let app = dataverse
            .router()
            .layer(from_fn_with_state(gate, crate::auth::gate))
            .layer(from_fn_with_state(
                (cx.faults.clone(), Service::Dataverse),
                crate::faults::fault_layer,
            ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        servers.push((stop, task));
        environments.push(EnvironmentInfo {
            index,
            id,
            display_name,
            sku,
            url: Some(url),
            dataverse: Some(dataverse),
            forbidden,
            disabled: false,
            bot_ids,
        });
    }
    if cx.count >= 4 {
        let mut r = rng::Rng::new(cx.spec.seed, &[0xE417_0002]);
        let id = r.uuid().to_string();
        let (url, server) = serve_disabled(cx.host).await?;
        servers.push(server);
        // Its organisation still exists: Entra issues tokens for it.
        cx.entra.add_resource(&url);
        discrepancies.push(Discrepancy::DisabledEnvironment {
            environment_id: id.clone(),
        });
        org_ids.push(r.uuid());
        environments.push(EnvironmentInfo {
            index: environments.len(),
            id,
            display_name: format!("{company} Trial (disabled)"),
            sku: "Trial",
            url: Some(url),
            dataverse: None,
            forbidden: false,
            disabled: true,
            bot_ids: Vec::new(),
        });
    }
    if cx.count >= 2 {
        // Two agents only the inventory knows, in the default environment.
        let mut r = rng::Rng::new(cx.spec.seed, &[0xE417_0001]);
        for builder in [false, true] {
            let bot_id = r.uuid();
            let mut row = Row::new();
            row.insert("botid".into(), json!(bot_id));
            row.insert(
                "name".into(),
                json!(if builder {
                    "Expense helper (Agent Builder)"
                } else {
                    "Retired FAQ agent"
                }),
            );
            row.insert(
                "schemaname".into(),
                json!(if builder {
                    Value::Null
                } else {
                    json!("cr1a2_retiredfaq")
                }),
            );
            row.insert(
                "createdon".into(),
                json!(crate::generate::iso(
                    cx.spec.anchor - time::Duration::days(40)
                )),
            );
            row.insert(
                "publishedon".into(),
                json!(crate::generate::iso(
                    cx.spec.anchor - time::Duration::days(39)
                )),
            );
            row.insert("_ownerid_value".into(), json!(r.uuid()));
            row.insert("ismanaged".into(), json!(false));
            if let Some(mut agent) = agent_row(&row, &default_id, identity.tenant_id) {
                if builder {
                    agent["properties"]["createdIn"] = json!("Microsoft 365 Copilot Agent Builder");
                    discrepancies.push(Discrepancy::AgentBuilderOnlyInInventory {
                        environment_id: default_id.clone(),
                        bot_id,
                    });
                } else {
                    discrepancies.push(Discrepancy::AgentOnlyInInventory {
                        environment_id: default_id.clone(),
                        bot_id,
                    });
                }
                agent_rows.push(agent);
            }
        }
    }
    let admin: Vec<Value> = environments
        .iter()
        .zip(&org_ids)
        .map(|(e, org)| admin_entry(e, *org, cx.spec.anchor))
        .collect();
    let mut rows: Vec<Value> = environments
        .iter()
        .map(|e| {
            json!({
                "id": format!("/providers/Microsoft.PowerPlatform/environments/{}", e.id),
                "name": e.id,
                "type": "microsoft.powerplatform/environments",
                "location": "unitedstates",
                "tenantId": identity.tenant_id,
                "properties": {"displayName": e.display_name, "environmentType": e.sku,
                    "isManaged": false, "createdAt": crate::generate::iso(cx.spec.anchor - time::Duration::days(400)),
                    "lastModifiedAt": crate::generate::iso(cx.spec.anchor - time::Duration::days(3))}
            })
        })
        .collect();
    rows.extend(agent_rows);
    let inventory = Inventory::new(
        cx.entra.clone(),
        Arc::clone(cx.clock),
        cx.base_url,
        cx.inventory,
        admin,
        rows,
    );
    Ok(Tenancy {
        environments,
        discrepancies,
        inventory,
        servers: Servers(servers),
    })
}

/// The Dataverse URL of the disabled environment: every request gets 503 (what the real
/// service answers there is not documented; a scan must not ask, so any answer that fails
/// loudly will do).
async fn serve_disabled(
    host: IpAddr,
) -> Result<(String, (oneshot::Sender<()>, JoinHandle<()>)), EmulatorError> {
    let bind = SocketAddr::new(host, 0);
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
    let app = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": {"code": "", "message": "The environment is disabled."}})),
        )
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((format!("http://{local}"), (stop, task)))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn ids(bots: &[Row]) -> Vec<Uuid> {
    bots.iter()
        .filter_map(|b| b.get("botid").and_then(Value::as_str))
        .filter_map(|s| Uuid::parse_str(s).ok())
        .collect()
}

/// A bot made before generative agents: no configuration, an old template.
fn classic_bot(r: &mut rng::Rng, bu: &Uuid, anchor: time::OffsetDateTime) -> Row {
    let created = anchor - time::Duration::days(700);
    let mut row = Row::new();
    let owner = r.uuid();
    for (k, v) in [
        ("botid", json!(r.uuid())),
        ("name", json!("Legacy HR Virtual Agent")),
        ("schemaname", json!("new_legacyHrVirtualAgent")),
        (
            "publishedon",
            json!(crate::generate::iso(created + time::Duration::days(2))),
        ),
        ("statecode", json!(0)),
        ("statuscode", json!(1)),
        ("configuration", Value::Null),
        ("template", json!("default-1.0.0")),
        ("language", json!(1033)),
        ("authenticationmode", json!(1)),
        ("_ownerid_value", json!(owner)),
        ("_owninguser_value", json!(owner)),
        ("_createdby_value", json!(owner)),
        ("_modifiedby_value", json!(owner)),
        ("_owningbusinessunit_value", json!(bu)),
        ("ismanaged", json!(false)),
        ("componentstate", json!(0)),
        ("createdon", json!(crate::generate::iso(created))),
        (
            "modifiedon",
            json!(crate::generate::iso(created + time::Duration::days(2))),
        ),
    ] {
        row.insert(k.into(), v);
    }
    row
}

/// The inventory row of a `bots` row, as Resource Graph shows agents.
fn agent_row(bot: &Row, environment_id: &str, tenant_id: Uuid) -> Option<Value> {
    let id = bot.get("botid")?.as_str()?;
    let text = |k: &str| bot.get(k).cloned().unwrap_or(Value::Null);
    let config: Option<Value> = bot
        .get("configuration")
        .and_then(Value::as_str)
        .and_then(|c| serde_json::from_str(c).ok());
    let generative = config
        .as_ref()
        .and_then(|c| c.pointer("/settings/GenerativeActionsEnabled"))
        .and_then(Value::as_bool);
    let channels: Vec<&str> = config
        .as_ref()
        .and_then(|c| c.get("channels"))
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("channelId").and_then(Value::as_str))
                .filter_map(|c| match c {
                    "msteams" => Some("Teams"),
                    "directline" => Some("Direct Line"),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut properties = json!({
        "displayName": text("name"),
        "createdAt": text("createdon"),
        "createdBy": text("_createdby_value"),
        "ownerId": text("_ownerid_value"),
        "environmentId": environment_id,
        // Empty while the agent is a draft, as the inventory shows it.
        "lastPublishedAt": bot.get("publishedon").and_then(Value::as_str).unwrap_or(""),
        "createdIn": "Copilot Studio",
        "schemaName": text("schemaname"),
        "botId": id,
        "entraAppId": crate::identity::agent_app_id(id),
        "isManaged": text("ismanaged"),
        "isQuarantined": false,
        "channels": channels,
    });
    if let Some(agent) = crate::identity::agent_identity_id(id) {
        properties["entraAgentId"] = json!(agent);
    }
    if let Some(g) = generative {
        properties["orchestration"] = json!(if g { "Generative" } else { "Classic" });
    }
    Some(json!({
        "id": format!("/providers/Microsoft.PowerPlatform/environments/{environment_id}/providers/microsoft.copilotstudio/agents/{id}"),
        "name": id,
        "type": "microsoft.copilotstudio/agents",
        "location": "unitedstates",
        "tenantId": tenant_id,
        "properties": properties,
    }))
}

/// The admin list entry of an environment.
fn admin_entry(e: &EnvironmentInfo, org: Uuid, anchor: time::OffsetDateTime) -> Value {
    let mut properties = json!({
        "displayName": e.display_name,
        "environmentSku": e.sku,
        "isDefault": e.index == 0,
        "azureRegion": "westus",
        "createdTime": crate::generate::iso(anchor - time::Duration::days(400)),
        "states": {"management": {"id": "Ready"}, "runtime": {
            "runtimeReasonCode": "NotSpecified",
            "requestedBy": {"displayName": "SYSTEM", "type": "NotSpecified"},
            "id": if e.disabled { "Disabled" } else { "Enabled" },
        }},
    });
    if let Some(url) = &e.url {
        let unique = format!("unq{}", org.simple());
        properties["linkedEnvironmentMetadata"] = json!({
            "resourceId": org,
            "friendlyName": e.display_name,
            "uniqueName": unique,
            "domainName": format!("org{}", &org.simple().to_string()[..8]),
            "version": "9.2.25123.00000",
            "instanceUrl": format!("{url}/"),
            "instanceApiUrl": url,
            "instanceState": "Ready",
        });
    }
    json!({
        "id": format!("/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{}", e.id),
        "type": "Microsoft.BusinessAppPlatform/scopes/environments",
        "location": "unitedstates",
        "name": e.id,
        "properties": properties,
    })
}
