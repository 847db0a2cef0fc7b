//! Lists the tenant's Copilot agents per environment: the admin environment list (with each
//! environment's Dataverse URL) joined with the Power Platform inventory's agents.
//!
//! ```text
//! cargo run -p arg-client --example list_agents -- [--json] [--source graph|query]
//! ```
//!
//! Signs in with `entra_auth::EnvironmentCredential` (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
//! `AZURE_CLIENT_SECRET` or `AZURE_CLIENT_CERTIFICATE_PATH`, optional `AZURE_AUTHORITY_HOST`).
//! The app needs the Power Platform administrator role and, for the environment list, to be
//! registered as a Power Platform management application. `--source query` reads the inventory
//! through the Power Platform API's resource query, which answers signed-in users only; the
//! default reads it through Azure Resource Graph.
//!
//! Other variables: `AZURE_CLOUD` (`public`, `usgov`, `usgovhigh`, `usdod`, `china`), and
//! `ARG_RESOURCE_GRAPH_URL`, `POWER_PLATFORM_API_URL`, `POWER_PLATFORM_ADMIN_URL` to send the
//! three APIs elsewhere (a private cloud, the tenant emulator).
//!
//! Against the local tenant emulator, which serves all three APIs on its own port:
//!
//! ```text
//! cargo run --release -p tenant-emulator -- serve --port 8400 --environments 3 &
//! export AZURE_AUTHORITY_HOST=http://127.0.0.1:8400 AZURE_TENANT_ID=<tenant id> \
//!     AZURE_CLIENT_ID=<client id> AZURE_CLIENT_SECRET=<client secret> \
//!     ARG_RESOURCE_GRAPH_URL=http://127.0.0.1:8400 POWER_PLATFORM_API_URL=http://127.0.0.1:8400 \
//!     POWER_PLATFORM_ADMIN_URL=http://127.0.0.1:8400
//! cargo run -p arg-client --example list_agents
//! ```
//!
//! Output: one line per agent (`ENVIRONMENT`, `SKU`, `DATAVERSE`, `AGENT`, `BOT ID`,
//! `CREATED IN`, `PUBLISHED`); environments without agents get one line with `-`; agents whose
//! environment the admin list does not know are listed under `(not in the admin list)`. With
//! `--json`, one JSON document: `{"environments": [{..., "agents": [...]}], "unlisted": [...]}`.
//! Exit status 0, 1 when a call fails (the error and its hint on stderr), 2 for bad arguments.
#![allow(clippy::print_stderr)]

use arg_client::{Agent, ArgClient, Cloud, Environment, InventorySource};
use entra_auth::{CredentialOptions, Env, EnvironmentCredential};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

const USAGE: &str = "usage: list_agents [--json] [--source graph|query]";

/// What the program was asked to do.
struct Args {
    json: bool,
    source: InventorySource,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut out = Args {
        json: false,
        source: InventorySource::ResourceGraph,
    };
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => out.json = true,
            "--source" => {
                out.source = match args.next().as_deref() {
                    Some("graph") => InventorySource::ResourceGraph,
                    Some("query") => InventorySource::ResourceQuery,
                    other => {
                        return Err(format!("--source takes `graph` or `query`, not {other:?}"));
                    }
                }
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(out))
}

/// Builds the client from the variables in `env`.
fn client(env: &Env) -> Result<ArgClient, String> {
    let credential = Arc::new(EnvironmentCredential::from_env(
        env,
        CredentialOptions::default(),
    ));
    let mut b = ArgClient::builder(credential);
    if let Some(c) = env.get("AZURE_CLOUD") {
        b = b.cloud(
            c.parse::<Cloud>()
                .map_err(|e| format!("AZURE_CLOUD: {e}"))?,
        );
    }
    if let Some(u) = env.get("ARG_RESOURCE_GRAPH_URL") {
        b = b.resource_graph_endpoint(u);
    }
    if let Some(u) = env.get("POWER_PLATFORM_API_URL") {
        b = b.power_platform_endpoint(u);
    }
    if let Some(u) = env.get("POWER_PLATFORM_ADMIN_URL") {
        b = b.admin_endpoint(u);
    }
    b.build().map_err(|e| e.to_string())
}

fn failure(e: &arg_client::Error) -> String {
    match e.hint() {
        // The hint is already in the text; say it again on its own line for operators.
        Some(h) => format!("{e}\nhint: {h}"),
        None => e.to_string(),
    }
}

fn agent_json(a: &Agent) -> Value {
    let p = &a.properties;
    json!({
        "botId": a.bot_id(),
        "name": p.display_name,
        "createdIn": p.created_in.as_ref().map(|c| c.as_str().to_owned()),
        "published": a.is_published(),
        "schemaName": p.schema_name,
        "ownerId": p.owner_id,
    })
}

/// The program: lists and prints; returns the exit status.
pub(crate) async fn run(
    args: impl IntoIterator<Item = String>,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let args = match parse_args(args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            let _ = writeln!(err, "{e}\n{USAGE}");
            return 2;
        }
    };
    let client = match client(env) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 2;
        }
    };
    let environments: Vec<Environment> = match client.environments().try_collect().await {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(err, "listing environments failed: {}", failure(&e));
            return 1;
        }
    };
    let agents: Vec<Agent> = match client.agents(args.source).try_collect().await {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "listing agents failed: {}", failure(&e));
            return 1;
        }
    };
    // Environment ids are GUIDs (or Default-<tenant>): compare them case-insensitively.
    let mut by_env: BTreeMap<String, Vec<&Agent>> = BTreeMap::new();
    for a in &agents {
        let key = a.environment_id().unwrap_or_default().to_ascii_lowercase();
        by_env.entry(key).or_default().push(a);
    }
    let mut rows: Vec<(Value, Vec<&Agent>)> = Vec::new();
    for e in &environments {
        let url = match e.dataverse_url() {
            Ok(u) => u.map(|u| u.to_string()),
            Err(x) => {
                let _ = writeln!(err, "environment {}: {x}", e.name);
                None
            }
        };
        let listed = by_env
            .remove(&e.name.to_ascii_lowercase())
            .unwrap_or_default();
        rows.push((
            json!({
                "id": e.name,
                "name": e.display_name(),
                "sku": e.sku().map(|s| s.as_str().to_owned()),
                "dataverseUrl": url,
            }),
            listed,
        ));
    }
    let unlisted: Vec<&Agent> = by_env.into_values().flatten().collect();
    let written = if args.json {
        let doc = json!({
            "environments": rows.iter().map(|(e, a)| {
                let mut e = e.clone();
                e["agents"] = a.iter().map(|x| agent_json(x)).collect();
                e
            }).collect::<Vec<_>>(),
            "unlisted": unlisted.iter().map(|a| {
                let mut j = agent_json(a);
                j["environmentId"] = json!(a.environment_id());
                j
            }).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &doc)
            .map_err(std::io::Error::other)
            .and_then(|()| writeln!(out))
    } else {
        write_table(out, &rows, &unlisted)
    };
    match written {
        Ok(()) => 0,
        // A closed pipe (`| head`) ends the listing quietly.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            let _ = writeln!(err, "writing failed: {e}");
            1
        }
    }
}

fn write_table(
    out: &mut dyn Write,
    rows: &[(Value, Vec<&Agent>)],
    unlisted: &[&Agent],
) -> std::io::Result<()> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut lines: Vec<[String; 7]> = vec![[
        "ENVIRONMENT".into(),
        "SKU".into(),
        "DATAVERSE".into(),
        "AGENT".into(),
        "BOT ID".into(),
        "CREATED IN".into(),
        "PUBLISHED".into(),
    ]];
    let agent_cells = |a: &Agent| {
        [
            a.properties
                .display_name
                .clone()
                .unwrap_or_else(|| "-".into()),
            a.bot_id().to_owned(),
            a.properties
                .created_in
                .as_ref()
                .map_or("-".into(), |c| c.as_str().to_owned()),
            if a.is_published() { "yes" } else { "no" }.to_owned(),
        ]
    };
    for (e, agents) in rows {
        let env = [text(&e["name"]), text(&e["sku"]), text(&e["dataverseUrl"])];
        if agents.is_empty() {
            lines.push([
                env[0].clone(),
                env[1].clone(),
                env[2].clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for a in agents {
            let [n, id, c, p] = agent_cells(a);
            lines.push([env[0].clone(), env[1].clone(), env[2].clone(), n, id, c, p]);
        }
    }
    for a in unlisted {
        let [n, id, c, p] = agent_cells(a);
        lines.push([
            "(not in the admin list)".into(),
            "-".into(),
            a.environment_id().unwrap_or("-").to_owned(),
            n,
            id,
            c,
            p,
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    for l in &lines {
        let mut s = String::new();
        for (i, (c, w)) in l.iter().zip(widths).enumerate() {
            if i + 1 == l.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
        }
        writeln!(out, "{}", s.trim_end())?;
    }
    out.flush()
}

#[tokio::main]
async fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let status = run(
        std::env::args().skip(1),
        &Env::process(),
        &mut out,
        &mut stderr.lock(),
    )
    .await;
    let _ = out.flush();
    ExitCode::from(status)
}
