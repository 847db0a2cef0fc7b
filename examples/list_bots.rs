//! Lists the Copilot Studio agents (`bots`) of a Dataverse environment with their component
//! counts, broken down by component type (labels read from the environment's metadata).
//!
//! ```text
//! cargo run -p dataverse-client --example list_bots -- https://org.crm.dynamics.com
//! ```
//!
//! Sign-in, first match wins:
//! - `DATAVERSE_TOKEN`: a bearer token obtained elsewhere (e.g.
//!   `az account get-access-token --resource https://org.crm.dynamics.com`); the tenant
//!   emulator checks tokens like Dataverse does, so use one from its token endpoint;
//! - the `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` (or
//!   `AZURE_CLIENT_CERTIFICATE_PATH`) variables of an application user of the environment
//!   (`entra_auth::EnvironmentCredential`);
//! - the Azure CLI's signed-in account (`az login`).
//!
//! The environment URL may also come from `DATAVERSE_ENVIRONMENT_URL`.
//!
//! Against the local tenant emulator, with the values it prints at start:
//!
//! ```text
//! cargo run --release -p tenant-emulator -- serve --port 8400 &
//! export AZURE_AUTHORITY_HOST=http://127.0.0.1:8400 AZURE_TENANT_ID=<tenant id> \
//!     AZURE_CLIENT_ID=<client id> AZURE_CLIENT_SECRET=<client secret>
//! cargo run -p dataverse-client --example list_bots -- http://127.0.0.1:8400
//! ```
#![allow(clippy::print_stderr)]

use client_core::{AccessToken, SharedCredential, StaticTokenCredential};
use dataverse_client::{DataverseClient, Filter};
use entra_auth::{
    AzureCliCredential, ChainedTokenCredential, CredentialOptions, EnvironmentCredential,
};
use futures::TryStreamExt;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Deserialize)]
struct Bot {
    botid: Uuid,
    name: Option<String>,
    schemaname: Option<String>,
    statecode: Option<i32>,
}

#[derive(Deserialize)]
struct Component {
    #[serde(rename = "_parentbotid_value")]
    parent: Option<Uuid>,
    componenttype: Option<i32>,
}

fn credential() -> SharedCredential {
    if let Ok(token) = std::env::var("DATAVERSE_TOKEN") {
        // The real expiry is unknown here; a failed call reports the 401.
        let expires = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
        return Arc::new(StaticTokenCredential::new(AccessToken::new(token, expires)));
    }
    Arc::new(
        ChainedTokenCredential::new()
            .with(EnvironmentCredential::new(CredentialOptions::default()))
            .with(AzureCliCredential::new(CredentialOptions::default())),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DATAVERSE_ENVIRONMENT_URL").ok())
    else {
        eprintln!("usage: list_bots <environment URL, e.g. https://org.crm.dynamics.com>");
        std::process::exit(2);
    };
    let client = DataverseClient::builder(&url, credential())?.build()?;

    let bots: Vec<Bot> = client
        .rows(
            &client
                .query("bots")
                .select(["botid", "name", "schemaname", "statecode"])
                .order_by("name", dataverse_client::Order::Asc),
        )
        .try_collect()
        .await?;

    // One pass over the components (only two columns) instead of one query per agent.
    let mut counts: HashMap<Uuid, BTreeMap<i32, u64>> = HashMap::new();
    let components = client
        .query("botcomponents")
        .select(["_parentbotid_value", "componenttype"])
        .filter(Filter::ne(
            "_parentbotid_value",
            dataverse_client::FilterValue::Null,
        ))
        .page_size(5000);
    let mut rows = client.rows::<Component>(&components);
    while let Some(c) = rows.try_next().await? {
        if let Some(parent) = c.parent {
            *counts
                .entry(parent)
                .or_default()
                .entry(c.componenttype.unwrap_or(-1))
                .or_default() += 1;
        }
    }

    // Labels change over time and new types appear: read them, and keep unknown numbers.
    let labels = match client.global_option_set("botcomponent_componenttype").await {
        Ok(set) => set,
        Err(e) => {
            eprintln!("(component type labels unavailable: {e})");
            dataverse_client::OptionSet::default()
        }
    };

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match write_listing(&mut out, &bots, &counts, &labels, client.environment_url())
        .and_then(|()| out.flush())
    {
        // The reader went away (`| head`): nothing is wrong with the listing.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => result.map_err(Into::into),
    }
}

/// Writes the listing; the error of a failed write (a closed pipe, a full disk) stops it.
fn write_listing(
    out: &mut impl Write,
    bots: &[Bot],
    counts: &HashMap<Uuid, BTreeMap<i32, u64>>,
    labels: &dataverse_client::OptionSet,
    environment_url: impl std::fmt::Display,
) -> std::io::Result<()> {
    writeln!(out, "{} agents in {environment_url}", bots.len())?;
    for bot in bots {
        let by_type = counts.get(&bot.botid);
        let total: u64 = by_type.map(|m| m.values().sum()).unwrap_or(0);
        let state = match bot.statecode {
            Some(0) => "active",
            Some(1) => "inactive",
            _ => "?",
        };
        writeln!(
            out,
            "{}  {}  ({}, {state})  {total} components",
            bot.botid,
            bot.name.as_deref().unwrap_or("(no name)"),
            bot.schemaname.as_deref().unwrap_or("?"),
        )?;
        for (kind, n) in by_type.into_iter().flatten() {
            let label = labels
                .label(*kind)
                .map_or_else(|| format!("type {kind}"), str::to_owned);
            writeln!(out, "    {n:>5}  {label}")?;
        }
    }
    Ok(())
}
