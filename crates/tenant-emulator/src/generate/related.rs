//! The six many-to-many relationships of `botcomponent`, with targets derived from what the
//! components use, as the solution layer records them:
//!
//! | relationship (intersect set) | target | from |
//! |---|---|---|
//! | `botcomponent_connectionreference` (`...set`, `connectionreferenceid`) | connection reference | each `connectionReference:` of a tool |
//! | `botcomponent_aipluginoperation` (`aipluginoperationid`) | plugin operation | each MCP or connector tool's operation |
//! | `botcomponent_workflow` (`workflowid`) | Power Automate flow | each `flowId:` (flow tools, external triggers) |
//! | `botcomponent_dvtablesearch` (`dvtablesearchid`) | Dataverse table search | each Dataverse knowledge source |
//! | `botcomponent_environmentvariabledefinition` (`environmentvariabledefinitionid`) | environment variable | the GPT component of every third agent |
//! | `botcomponent_msdyn_aimodel` (`msdyn_aimodelid`) | AI Builder model | the GPT component of every fourth agent |
//!
//! Target ids derive from the seed and what is referenced, so two components using the same
//! connection reference share one target. A relationship nothing uses in a small tenant gets
//! one target on the first component, so every relationship always has at least one.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::Row;
use crate::rng::{Rng, label};

const S_RELATED: u64 = 12;

use crate::dataverse::COMPONENT_RELATIONSHIPS as RELATIONSHIPS;

fn derived(seed: u64, kind: usize, what: &str) -> Uuid {
    Rng::new(seed, &[S_RELATED, kind as u64, label(what)]).uuid()
}

/// The value after `key:` on a line, if the line is that key.
fn value_of<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let rest = line.trim_start().strip_prefix(key)?.strip_prefix(':')?;
    Some(rest.trim().trim_matches('"')).filter(|v| !v.is_empty())
}

/// The targets of one component: (relationship index, target id).
fn targets_of(seed: u64, component: &Row) -> Vec<(usize, Uuid)> {
    let data = component.get("data").and_then(Value::as_str).unwrap_or("");
    let schema = component
        .get("schemaname")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut out = Vec::new();
    let mut operation_of = None;
    for line in data.lines() {
        if let Some(reference) = value_of(line, "connectionReference") {
            out.push((1, derived(seed, 1, reference)));
            operation_of = Some(reference.to_owned());
        }
        if let Some(op) = value_of(line, "operationId")
            && let Some(reference) = &operation_of
        {
            out.push((0, derived(seed, 0, &format!("{reference}/{op}"))));
        }
        if let Some(flow) = value_of(line, "flowId")
            && let Ok(id) = Uuid::parse_str(flow)
        {
            out.push((2, id));
        }
        if line.trim() == "kind: DataverseStructuredSearchSource" {
            out.push((4, derived(seed, 4, schema)));
        }
    }
    out
}

/// The intersect rows of every relationship for `components` (rows of `botcomponents`).
pub(crate) fn rows(seed: u64, components: &[Row]) -> Vec<(&'static str, Vec<Row>)> {
    let mut links: Vec<Vec<(Uuid, Uuid)>> = vec![Vec::new(); RELATIONSHIPS.len()];
    // The GPT components, by agent, in agent order (for the every-nth-agent targets).
    let mut gpts: BTreeMap<String, Uuid> = BTreeMap::new();
    let mut first = None;
    for c in components {
        let Some(id) = c
            .get("botcomponentid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
        else {
            continue;
        };
        first.get_or_insert(id);
        for (rel, target) in targets_of(seed, c) {
            links[rel].push((id, target));
        }
        if c.get("componenttype").and_then(Value::as_i64) == Some(15)
            && let Some(parent) = c.get("_parentbotid_value").and_then(Value::as_str)
        {
            gpts.entry(parent.to_owned()).or_insert(id);
        }
    }
    // Agents in generation order are not needed: any stable order of agents works.
    for (n, (bot, gpt)) in gpts.iter().enumerate() {
        if n % 3 == 0 {
            links[3].push((*gpt, derived(seed, 3, &format!("{bot}/settings"))));
        }
        if n % 4 == 1 {
            links[5].push((*gpt, derived(seed, 5, &format!("{bot}/model"))));
        }
    }
    if let Some(first) = first {
        for (rel, l) in links.iter_mut().enumerate() {
            if l.is_empty() {
                l.push((first, derived(seed, rel, "planted")));
            }
        }
    }
    RELATIONSHIPS
        .iter()
        .zip(links)
        .map(|((set, pk, target_col), mut l)| {
            l.sort();
            l.dedup();
            let rows = l
                .into_iter()
                .map(|(component, target)| {
                    let mut row = Row::new();
                    row.insert(
                        (*pk).to_owned(),
                        json!(derived(seed, 100, &format!("{set}/{component}/{target}"))),
                    );
                    row.insert("botcomponentid".to_owned(), json!(component));
                    row.insert((*target_col).to_owned(), json!(target));
                    row
                })
                .collect();
            (*set, rows)
        })
        .collect()
}
