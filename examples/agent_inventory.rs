//! Every agent in a tenant, what it can reach, and what people say to it: starts a local tenant
//! emulator, signs in, lists the agents, reads and parses their components into features, and
//! pairs their transcripts into request/response pairs per agent.
//!
//! Run it with `cargo run -p connector --example agent_inventory`. Against a real environment,
//! build the client from its URL and an `entra_auth` credential instead of the emulator's.

// Printing is what this example is for.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;

use botcomponent_schema::{BotRow, ComponentRow, ComponentTypeRegistry, agent_features};
use dataverse_client::{DataverseClient, Filter, Query, TryStreamExt};
use transcript_model::Transcript;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    // 1. A tenant: three agents and their conversations, on 127.0.0.1.
    let emulator = tenant_emulator::Emulator::builder()
        .agents(3)
        .transcripts(60)
        .start()
        .await?;

    // 2. Sign in as the registered application and open its Dataverse environment.
    let client =
        DataverseClient::builder(emulator.urls().environment.as_str(), emulator.credential()?)?
            .build()?;
    let me = client.who_am_i().await?;
    println!(
        "signed in as {} in organisation {}",
        me.user_id, me.organization_id
    );

    // 3. The component type labels of this environment.
    let mut registry = ComponentTypeRegistry::builtin();
    let types = client
        .global_option_set("botcomponent_componenttype")
        .await?;
    registry.refresh_from_labels(types.options.iter().map(|o| (o.value, o.label.as_deref())));

    // 4. The agents, each with its components parsed into features.
    let bots: Vec<BotRow> = client.rows_of(&Query::of::<BotRow>()).try_collect().await?;
    let mut names = BTreeMap::new();
    for bot in &bots {
        let name = bot.name.clone().unwrap_or_else(|| bot.bot_id.clone());
        let components: Vec<ComponentRow> = client
            .rows_of(
                &Query::of::<ComponentRow>()
                    .filter(Filter::lookup("_parentbotid_value", &bot.bot_id)),
            )
            .try_collect()
            .await?;
        let agent = agent_features(&registry, bot, &components);
        println!("\nagent {name}: {} components", components.len());
        for k in agent.knowledge_sources() {
            let kind = k.source_kind.as_deref().unwrap_or("unknown");
            println!("  knowledge  {kind} {}", k.site.as_deref().unwrap_or(""));
        }
        for tool in agent.tools() {
            let shown = tool.display_name.as_deref().unwrap_or("(unnamed)");
            println!("  tool       {:?} {shown}", tool.tool_kind);
        }
        for connector in agent.connectors() {
            println!("  connector  {connector}");
        }
        for server in agent.mcp_servers() {
            println!("  mcp server {server}");
        }
        for call in agent.http_calls() {
            let method = call.method.unwrap_or("GET");
            println!("  http       {method} {}", call.url.unwrap_or("?"));
        }
        for child in agent.child_agents() {
            println!(
                "  agent      {:?} {}",
                child.tool_type,
                child.name.unwrap_or("?")
            );
        }
        names.insert(bot.bot_id.to_ascii_lowercase(), name);
    }

    // 5. Transcripts, page by page as the service sent them, paired per agent.
    let mut pairs: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let query = Query::of::<Transcript>().page_size(25);
    let mut pages = client.raw_pages_of::<Transcript>(&query);
    while let Some(page) = pages.try_next().await? {
        for row in transcript_model::parse_page(&page.body)? {
            let transcript = row?;
            let bot = transcript
                .bot_id
                .as_deref()
                .unwrap_or("")
                .to_ascii_lowercase();
            let name = names
                .get(&bot)
                .cloned()
                .unwrap_or_else(|| format!("unknown agent {bot}"));
            let entry = pairs.entry(name).or_default();
            entry.0 += 1;
            entry.1 += transcript.pair().pairs.len();
        }
    }
    println!();
    for (agent, (transcripts, count)) in &pairs {
        println!("{agent}: {transcripts} transcripts, {count} request/response pairs");
    }
    emulator.shutdown().await;
    Ok(())
}
