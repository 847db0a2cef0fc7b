//! The synthetic tenant: deterministic from a seed (and an anchor time), shaped like the real
//! Copilot Studio rows in the shared fixtures.
//!
//! Agents (`bots`), their components (`botcomponents`, with YAML `data` like real solution
//! exports), the application user and its roles, and transcripts. Transcript `content` is not
//! stored: [`SyntheticTenant::transcript_content`] regenerates it from the stored row, so
//! 100,000 transcripts cost only their small columns in memory.

mod catalog;
mod components;
mod posture;
mod related;
mod transcript;

pub use posture::{Plant, PlantedFinding};

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::entra::{AppRegistration, DataverseAccess};
use crate::rng::{Rng, label};

use catalog::{COMPANIES, DOMAINS, PUBLISHER_PREFIXES};

/// A Dataverse row: column name to JSON value.
pub type Row = Map<String, Value>;

/// A materializer: computes columns of a stored row on demand.
pub type Materializer = Arc<dyn Fn(&Row) -> Row + Send + Sync>;

// Stream labels, so each kind of entity draws from its own reproducible stream.
const S_IDENTITY: u64 = 1;
const S_BOT: u64 = 2;
const S_TRANSCRIPT: u64 = 3;
const S_CONTENT: u64 = 4;
const S_MAKER: u64 = 5;
const S_ROLE: u64 = 6;
const S_SPLIT: u64 = 7;
const S_ROW_ID: u64 = 8;

/// Generated transcript rows come in blocks of this many indices; each block holds one
/// session split across 2-3 consecutive rows and one resumed session (a second session of
/// an earlier conversation).
const BLOCK: u64 = 40;

/// Agent names in other scripts, as makers name agents in their own language.
const NON_LATIN_NAMES: &[&str] = &[
    "Zahlungs-Überblick",
    "Überweisung Bot",
    "経費精算ボット",
    "社内ヘルプデスク",
    "Помощник закупок",
    "Справочная служба",
    "Ελεγκτής Τιμολογίων",
    "مساعد الموارد البشرية",
];

/// What a transcript index generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A session in one row.
    Single,
    /// Part `part` (1-based) of `parts` of the session generated at index `first`.
    Part { first: u64, part: u64, parts: u64 },
    /// A second session (resumed later) of the conversation generated at index `of`.
    Resumed { of: u64 },
}

/// What to generate.
///
/// Start from [`TenantSpec::new`] and change what you need with the `with_*` methods (or by
/// assigning a field): the struct is `#[non_exhaustive]`, so a knob added later (as
/// `min_components_per_agent` was) is not a breaking change for callers.
///
/// ```
/// use tenant_emulator::generate::{SyntheticTenant, TenantSpec};
///
/// let spec = TenantSpec::new(7, time::macros::datetime!(2026-03-01 12:00 UTC))
///     .with_agents(3)
///     .with_transcripts(10);
/// assert_eq!(SyntheticTenant::generate(&spec).bot_rows().len(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TenantSpec {
    /// The seed every value derives from.
    pub seed: u64,
    /// Number of agents (`bots` rows).
    pub agents: usize,
    /// Number of transcripts.
    pub transcripts: usize,
    /// Transcripts start within `history_days` before `anchor`.
    pub anchor: OffsetDateTime,
    /// How many days of history the transcripts span.
    pub history_days: u32,
    /// Agents with fewer components get numbered copies of their topics up to this many
    /// (0, the default, adds none): for scans at a realistic component count.
    pub min_components_per_agent: usize,
}

impl TenantSpec {
    /// A spec with this seed, 20 agents, 500 transcripts over 30 days before `anchor`.
    pub fn new(seed: u64, anchor: OffsetDateTime) -> Self {
        Self {
            seed,
            agents: 20,
            transcripts: 500,
            anchor,
            history_days: 30,
            min_components_per_agent: 0,
        }
    }

    /// The same spec with `seed`.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same spec with `agents` agents (`bots` rows).
    #[must_use]
    pub fn with_agents(mut self, agents: usize) -> Self {
        self.agents = agents;
        self
    }

    /// The same spec with `transcripts` transcripts.
    #[must_use]
    pub fn with_transcripts(mut self, transcripts: usize) -> Self {
        self.transcripts = transcripts;
        self
    }

    /// The same spec with transcripts spread over `days` days before the anchor.
    #[must_use]
    pub fn with_history_days(mut self, days: u32) -> Self {
        self.history_days = days;
        self
    }

    /// The same spec with every agent padded to at least `n` components (numbered copies of
    /// its topics), for scans at a realistic component count.
    #[must_use]
    pub fn with_min_components_per_agent(mut self, n: usize) -> Self {
        self.min_components_per_agent = n;
        self
    }
}

/// The tenant's fixed identifiers.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantIdentity {
    /// Entra tenant ID.
    pub tenant_id: Uuid,
    /// Verified domain, `{name}.onmicrosoft.com`.
    pub domain: String,
    /// Dataverse organization ID (`WhoAmI`).
    pub organization_id: Uuid,
    /// Root business unit ID.
    pub business_unit_id: Uuid,
    /// Power Platform environment ID.
    pub environment_id: Uuid,
    /// The connector app's client ID.
    pub client_id: Uuid,
    /// The connector app's service principal object ID.
    pub client_object_id: Uuid,
    /// The connector app's secret value.
    pub client_secret: String,
    /// The connector app's secret ID (what people paste by mistake).
    pub client_secret_id: Uuid,
}

impl std::fmt::Debug for TenantIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantIdentity")
            .field("tenant_id", &self.tenant_id)
            .field("domain", &self.domain)
            .field("organization_id", &self.organization_id)
            .field("environment_id", &self.environment_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl TenantIdentity {
    /// The identity derived from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = Rng::new(seed, &[S_IDENTITY]);
        let company = r
            .pick(COMPANIES)
            .to_ascii_lowercase()
            .replace([' ', '\''], "");
        let domain = format!("{company}{}.onmicrosoft.com", r.range(1, 999));
        let tenant_id = r.uuid();
        let organization_id = r.uuid();
        let business_unit_id = r.uuid();
        let environment_id = r.uuid();
        let client_id = r.uuid();
        let client_object_id = r.uuid();
        const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-~";
        let client_secret = format!(
            "{}{}Q~{}",
            r.string(SECRET, 3),
            r.range(1, 9),
            r.string(SECRET, 34)
        );
        let client_secret_id = r.uuid();
        Self {
            tenant_id,
            domain,
            organization_id,
            business_unit_id,
            environment_id,
            client_id,
            client_object_id,
            client_secret,
            client_secret_id,
        }
    }
}

/// A human maker (owner of agents).
#[derive(Debug, Clone)]
pub(crate) struct Maker {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) upn: String,
    pub(crate) aad_object_id: Uuid,
}

/// Everything the generator decided about one agent.
#[derive(Debug, Clone)]
pub(crate) struct BotProfile {
    pub(crate) index: usize,
    pub(crate) id: Uuid,
    /// `metadata.BotId` in transcripts (the runtime ID, not the Dataverse row ID).
    pub(crate) runtime_id: Uuid,
    pub(crate) name: String,
    pub(crate) schema: String,
    pub(crate) domain: usize,
    pub(crate) topics: Vec<usize>,
    pub(crate) tools: Vec<usize>,
    pub(crate) knowledge: Vec<usize>,
    pub(crate) orchestration: bool,
    pub(crate) published: bool,
    pub(crate) owner: usize,
    pub(crate) created: OffsetDateTime,
    pub(crate) channels: Vec<&'static str>,
    pub(crate) language: u32,
    pub(crate) locale: &'static str,
}

/// The generated tenant.
#[derive(Debug, Clone)]
pub struct SyntheticTenant {
    spec: TenantSpec,
    identity: TenantIdentity,
    makers: Vec<Maker>,
    bots: Vec<BotProfile>,
    by_id: HashMap<Uuid, usize>,
    /// Cumulative transcript weights over published bots.
    weights: Vec<(f64, usize)>,
}

pub(crate) fn iso(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

pub(crate) fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn camel(name: &str) -> String {
    let mut out = String::new();
    for (i, word) in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .enumerate()
    {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                out.push(first.to_ascii_lowercase());
            } else {
                out.push(first.to_ascii_uppercase());
            }
            out.extend(chars);
        }
    }
    out
}

/// Letters and digits only (`Requestsoftware` style, as schema names are built).
pub(crate) fn compact(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

const FIRST: &[&str] = &[
    "Alex", "Maria", "Wei", "Priya", "Jonas", "Fatima", "Diego", "Aiko", "Sam", "Olga",
];
const LAST: &[&str] = &[
    "Campbell", "Nguyen", "Schmidt", "Okafor", "Rossi", "Tanaka", "Silva", "Patel", "Berg",
    "Kowalski",
];

fn subset(r: &mut Rng, len: usize, min: usize, max: usize) -> Vec<usize> {
    let max = max.min(len);
    let n = usize::try_from(r.range(min as u64, max as u64))
        .unwrap_or(min)
        .min(len);
    let mut all: Vec<usize> = (0..len).collect();
    // Partial Fisher-Yates.
    for i in 0..n {
        let j = i + r.index(len - i);
        all.swap(i, j);
    }
    all.truncate(n);
    all.sort_unstable();
    all
}

impl SyntheticTenant {
    /// Generates the tenant described by `spec`. Cost is linear in `spec.agents`; transcripts
    /// are produced lazily by [`SyntheticTenant::transcript_rows`].
    pub fn generate(spec: &TenantSpec) -> Self {
        let identity = TenantIdentity::from_seed(spec.seed);
        let mut mr = Rng::new(spec.seed, &[S_MAKER]);
        let company = identity
            .domain
            .split('.')
            .next()
            .unwrap_or("contoso")
            .to_owned();
        let makers: Vec<Maker> = (0..8)
            .map(|_| {
                let first = *mr.pick(FIRST);
                let last = *mr.pick(LAST);
                Maker {
                    id: mr.uuid(),
                    name: format!("{first} {last}"),
                    upn: format!(
                        "{}.{}@{}",
                        first.to_ascii_lowercase(),
                        last.to_ascii_lowercase(),
                        identity.domain
                    ),
                    aad_object_id: mr.uuid(),
                }
            })
            .collect();
        let _ = company;
        let mut used_names: HashMap<String, usize> = HashMap::new();
        let mut used_schemas: HashMap<String, usize> = HashMap::new();
        let bots: Vec<BotProfile> = (0..spec.agents)
            .map(|index| {
                let mut r = Rng::new(spec.seed, &[S_BOT, index as u64]);
                let domain = r.index(DOMAINS.len());
                let d = &DOMAINS[domain];
                let base = if r.chance(0.12) {
                    (*r.pick(NON_LATIN_NAMES)).to_owned()
                } else {
                    format!("{} {}", r.pick(COMPANIES), r.pick(d.agent_names))
                };
                let n = used_names.entry(base.clone()).or_insert(0);
                *n += 1;
                let name = if *n == 1 { base } else { format!("{base} {n}") };
                let prefix = *r.pick(PUBLISHER_PREFIXES);
                let camel_name = camel(&name);
                // A name without Latin letters gives no schema part: number it instead.
                let camel_name = if camel_name.bytes().any(|b| b.is_ascii_alphabetic()) {
                    camel_name
                } else {
                    format!("agent{index}")
                };
                let mut schema = format!("{prefix}_{camel_name}");
                let s = used_schemas.entry(schema.clone()).or_insert(0);
                *s += 1;
                if *s > 1 {
                    schema = format!("{schema}{s}");
                }
                let id = r.uuid();
                let runtime_id = r.uuid();
                let topics = subset(&mut r, d.topics.len(), 1, 3);
                let tools = subset(&mut r, d.tools.len(), 0, 2);
                let knowledge = subset(&mut r, d.knowledge.len(), 0, 2);
                // The orchestration-without-instructions plant needs orchestration on.
                let orchestration =
                    r.chance(0.6) || posture::without_instructions(index, spec.agents);
                let published = r.chance(0.85);
                let owner = r.index(makers.len());
                let created = spec.anchor
                    - time::Duration::days(i64::from(spec.history_days))
                    - time::Duration::minutes(
                        i64::try_from(r.range(60, 60 * 24 * 120)).unwrap_or(60),
                    );
                let mut channels = vec!["msteams"];
                if r.chance(0.5) {
                    channels.push("webchat");
                }
                if r.chance(0.2) {
                    channels.push("directline");
                }
                let (language, locale) = *r.pick(&[
                    (1033, "en-US"),
                    (1033, "en-US"),
                    (1033, "en-US"),
                    (2057, "en-GB"),
                    (1036, "fr-FR"),
                ]);
                BotProfile {
                    index,
                    id,
                    runtime_id,
                    name,
                    schema,
                    domain,
                    topics,
                    tools,
                    knowledge,
                    orchestration,
                    published,
                    owner,
                    created,
                    channels,
                    language,
                    locale,
                }
            })
            .collect();
        let by_id = bots.iter().map(|b| (b.id, b.index)).collect();
        // Zipf-like traffic: a few agents get most conversations. Only published agents talk,
        // unless none is published (tiny tenants), so transcripts are never silently dropped.
        let any_published = bots.iter().any(|b| b.published);
        let mut acc = 0.0;
        let weights = bots
            .iter()
            .filter(|b| b.published || !any_published)
            .enumerate()
            .map(|(rank, b)| {
                acc += 1.0 / ((rank + 1) as f64).powf(0.8);
                (acc, b.index)
            })
            .collect();
        Self {
            spec: spec.clone(),
            identity,
            makers,
            bots,
            by_id,
            weights,
        }
    }

    /// The spec this tenant was generated from.
    pub fn spec(&self) -> &TenantSpec {
        &self.spec
    }

    /// The tenant's identifiers and the connector app's credentials.
    pub fn identity(&self) -> &TenantIdentity {
        &self.identity
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.bots.len()
    }

    /// The `bots` rows.
    pub fn bot_rows(&self) -> Vec<Row> {
        self.bots.iter().map(|b| self.bot_row(b)).collect()
    }

    fn bot_row(&self, b: &BotProfile) -> Row {
        let owner = &self.makers[b.owner];
        let mut r = Rng::new(self.spec.seed, &[S_BOT, b.index as u64, 1]);
        let modified =
            b.created + time::Duration::hours(i64::try_from(r.range(1, 24 * 30)).unwrap_or(1));
        let published_on = b.published.then(|| modified + time::Duration::minutes(5));
        let statuscode = if b.published || r.chance(0.8) {
            1
        } else {
            *r.pick(&[3, 4, 5])
        };
        let configuration = components::bot_configuration(b, &mut r);
        let mut row = Row::new();
        let mut put = |k: &str, v: Value| {
            row.insert(k.to_owned(), v);
        };
        put("botid", json!(b.id));
        put("name", json!(b.name));
        put("schemaname", json!(b.schema));
        put(
            "publishedon",
            published_on.map(iso).map_or(Value::Null, Value::String),
        );
        put("statecode", json!(0));
        put("statuscode", json!(statuscode));
        put("accesscontrolpolicy", json!(*r.pick(&[0, 0, 0, 1, 2])));
        put("authenticationmode", json!(*r.pick(&[2, 2, 2, 1, 3])));
        put("authenticationtrigger", json!(*r.pick(&[0, 1])));
        put("authorizedsecuritygroupids", Value::Null);
        put("configuration", json!(configuration));
        if posture::open_without_auth(b.index, self.bots.len()) {
            put("accesscontrolpolicy", json!(0));
            put("authenticationmode", json!(1));
        }
        put("language", json!(b.language));
        put("runtimeprovider", json!(0));
        put(
            "template",
            json!(*r.pick(&[
                "default-2.1.0",
                "default-2.1.0",
                "default-2.0.0",
                "cliagent-1.0.0"
            ])),
        );
        put("origin", Value::Null);
        put("iconbase64", Value::Null);
        put(
            "_publishedby_value",
            if b.published {
                json!(owner.id)
            } else {
                Value::Null
            },
        );
        put("_ownerid_value", json!(owner.id));
        put("_owninguser_value", json!(owner.id));
        put("_createdby_value", json!(owner.id));
        put("_modifiedby_value", json!(owner.id));
        put(
            "_owningbusinessunit_value",
            json!(self.identity.business_unit_id),
        );
        put("componentstate", json!(0));
        put("ismanaged", json!(false));
        put("createdon", json!(iso(b.created)));
        put("modifiedon", json!(iso(modified)));
        row
    }

    /// The posture problems planted in this tenant (see the table in `generate/posture.rs`):
    /// each with the agent and component it landed on and the posture checks it trips.
    pub fn planted_findings(&self) -> Vec<PlantedFinding> {
        posture::planted(&self.bots)
    }

    /// The many-to-many targets of the components, by intersect entity set
    /// (`botcomponent_workflowset`, ...): rows holding the intersect's own id, `botcomponentid`
    /// and the target's id. Every one of the six relationships has at least one target.
    pub fn related_rows(&self) -> Vec<(&'static str, Vec<Row>)> {
        related::rows(self.spec.seed, &self.component_rows())
    }

    /// The `botcomponents` rows of every agent.
    pub fn component_rows(&self) -> Vec<Row> {
        self.bots
            .iter()
            .flat_map(|b| {
                components::component_rows(
                    self.spec.seed,
                    b,
                    &self.identity,
                    &self.makers[b.owner],
                    &self.bots,
                    self.spec.min_components_per_agent,
                )
            })
            .collect()
    }

    /// The `systemusers` rows of the makers (humans who own agents).
    pub fn maker_rows(&self) -> Vec<Row> {
        self.makers
            .iter()
            .map(|m| {
                let mut row = Row::new();
                let (first, last) = m.name.split_once(' ').unwrap_or((&m.name, ""));
                row.insert("systemuserid".into(), json!(m.id));
                row.insert("fullname".into(), json!(m.name));
                row.insert("firstname".into(), json!(first));
                row.insert("lastname".into(), json!(last));
                row.insert("domainname".into(), json!(m.upn));
                row.insert("internalemailaddress".into(), json!(m.upn));
                row.insert(
                    "azureactivedirectoryobjectid".into(),
                    json!(m.aad_object_id),
                );
                row.insert("isdisabled".into(), json!(false));
                row.insert("accessmode".into(), json!(0));
                row.insert(
                    "_businessunitid_value".into(),
                    json!(self.identity.business_unit_id),
                );
                row
            })
            .collect()
    }

    /// The security rows for these apps: their application users (`systemusers` with
    /// `applicationid`), the `roles`, and the `systemuserroles_association` rows. Apps with
    /// [`DataverseAccess::None`] get no application user.
    pub fn security_rows(&self, apps: &[AppRegistration]) -> SecurityRows {
        let bu = self.identity.business_unit_id;
        let mut r = Rng::new(self.spec.seed, &[S_ROLE]);
        let role_defs: [(&str, Option<&str>, bool); 6] = [
            ("Basic User", None, true),
            (
                "System Administrator",
                Some("627090ff-40a3-4053-8790-584edc5be201"),
                true,
            ),
            (
                "System Customizer",
                Some("119f245c-3cc8-4b62-b31c-d1a046ced15d"),
                true,
            ),
            ("Environment Maker", None, true),
            ("Bot Transcript Viewer", None, true),
            (LEAST_PRIVILEGE_ROLE, None, false),
        ];
        let mut role_ids = HashMap::new();
        let roles: Vec<Row> = role_defs
            .iter()
            .map(|(name, template, managed)| {
                let id = r.uuid();
                role_ids.insert(*name, id);
                let mut row = Row::new();
                row.insert("roleid".into(), json!(id));
                row.insert("name".into(), json!(name));
                row.insert("_businessunitid_value".into(), json!(bu));
                row.insert(
                    "roletemplateid".into(),
                    template.map_or(Value::Null, |t| json!(t)),
                );
                row.insert("ismanaged".into(), json!(managed));
                row.insert("componentstate".into(), json!(0));
                row
            })
            .collect();
        let mut users = Vec::new();
        let mut links = Vec::new();
        for app in apps {
            let granted: &[&str] = match app.dataverse_access() {
                DataverseAccess::None => continue,
                DataverseAccess::LeastPrivilege => &[LEAST_PRIVILEGE_ROLE],
                DataverseAccess::OverPrivileged => &[
                    LEAST_PRIVILEGE_ROLE,
                    "System Administrator",
                    "System Customizer",
                ],
            };
            let mut ur = Rng::new(
                self.spec.seed,
                &[S_ROLE, label(&app.client_id().to_string())],
            );
            let user_id = ur.uuid();
            let mut row = Row::new();
            row.insert("systemuserid".into(), json!(user_id));
            row.insert(
                "fullname".into(),
                json!(format!("# {}", app.display_name())),
            );
            row.insert("firstname".into(), json!("#"));
            row.insert("lastname".into(), json!(app.display_name()));
            row.insert(
                "domainname".into(),
                json!(format!("{}@{}", app.client_id(), self.identity.domain)),
            );
            row.insert("applicationid".into(), json!(app.client_id()));
            row.insert(
                "azureactivedirectoryobjectid".into(),
                json!(app.object_id()),
            );
            row.insert("isdisabled".into(), json!(false));
            // 4 = Non-interactive (application users).
            row.insert("accessmode".into(), json!(4));
            row.insert("_businessunitid_value".into(), json!(bu));
            users.push(row);
            for role in granted {
                let mut link = Row::new();
                link.insert("systemuserroleid".into(), json!(ur.uuid()));
                link.insert("systemuserid".into(), json!(user_id));
                link.insert(
                    "roleid".into(),
                    json!(role_ids.get(role).copied().unwrap_or_default()),
                );
                links.push(link);
            }
        }
        SecurityRows {
            application_users: users,
            roles,
            user_roles: links,
        }
    }

    /// `conversationtranscripts` rows for these indices, without `content` (see
    /// [`SyntheticTenant::transcript_content`]).
    ///
    /// One row per index. As in a real environment, some sessions span several rows: in every
    /// block of 40 indices, one session is split into 2-3 consecutive rows (same `name` and
    /// `conversationstarttime`, numeric `BatchId` 1, 2, 3, a prompt and its reply on each
    /// cut), and one row is a resumed session (same `name` as another row, another start).
    pub fn transcript_rows(
        &self,
        indices: std::ops::Range<usize>,
    ) -> impl Iterator<Item = Row> + '_ {
        indices.filter_map(move |i| self.slot_row(i as u64))
    }

    /// What index `i` generates (see [`SyntheticTenant::transcript_rows`]).
    fn slot(&self, i: u64) -> Slot {
        let block = i / BLOCK;
        let offset = i % BLOCK;
        let mut r = Rng::new(self.spec.seed, &[S_SPLIT, block]);
        // `range` is inclusive.
        let parts = r.range(2, 3);
        let split_at = r.range(0, BLOCK - parts);
        let resumed_at = r.range(1, BLOCK - 1);
        if (split_at..split_at + parts).contains(&offset) {
            let first = block * BLOCK + split_at;
            return Slot::Part {
                first,
                part: offset - split_at + 1,
                parts,
            };
        }
        let of = block * BLOCK + resumed_at - 1;
        if offset == resumed_at && !(split_at..split_at + parts).contains(&(resumed_at - 1)) {
            return Slot::Resumed { of };
        }
        Slot::Single
    }

    fn slot_row(&self, i: u64) -> Option<Row> {
        match self.slot(i) {
            Slot::Single => self.transcript_row(i, None),
            Slot::Part { first, part, parts } => {
                let mut row = self.session_row(first, None)?;
                let created = row
                    .get("createdon")
                    .and_then(Value::as_str)
                    .and_then(parse_iso)?
                    + time::Duration::seconds(i64::try_from(part).unwrap_or(0));
                let name = row.get("name")?.as_str()?.to_owned();
                let start = row
                    .get("conversationstarttime")
                    .and_then(Value::as_str)
                    .and_then(parse_iso)?;
                let id = self.row_id(&name, start, part, parts);
                row.insert("conversationtranscriptid".into(), json!(id));
                row.insert("schemaversion".into(), json!("0.2.2"));
                set_batch(&mut row, part);
                row.insert("createdon".into(), json!(iso(created)));
                row.insert("modifiedon".into(), json!(iso(created)));
                Some(row)
            }
            Slot::Resumed { of } => {
                let other = self.session_row(of, None)?;
                let start = other
                    .get("conversationstarttime")
                    .and_then(Value::as_str)
                    .and_then(parse_iso)?;
                // Another session of the same conversation (same `name`), three hours
                // before the other one: the user had talked to the agent earlier that day.
                let earlier = start - time::Duration::hours(3);
                let mut row = self.session_row(i, Some(earlier))?;
                let name = other.get("name")?.clone();
                row.insert("name".into(), name.clone());
                for column in ["_bot_conversationtranscriptid_value", "metadata"] {
                    row.insert(column.into(), other.get(column)?.clone());
                }
                let id = self.row_id(name.as_str()?, earlier, 1, 1);
                row.insert("conversationtranscriptid".into(), json!(id));
                Some(row)
            }
        }
    }

    /// The id of a generated row: derived from its session and part, so that
    /// [`SyntheticTenant::transcript_content`] recognises the tenant's own rows and never
    /// invents content for a row injected without it.
    fn row_id(&self, name: &str, start: OffsetDateTime, part: u64, parts: u64) -> Uuid {
        Rng::new(
            self.spec.seed,
            &[
                S_ROW_ID,
                label(name),
                start.unix_timestamp().cast_unsigned(),
                part,
                parts,
            ],
        )
        .uuid()
    }

    /// One transcript row for index `i` (indices past the spec's count are valid too: used to
    /// add transcripts at run time), a session of its own. With `start`, the conversation
    /// starts then instead of at a generated time. `None` only when the tenant has no agent.
    pub fn transcript_row(&self, i: u64, start: Option<OffsetDateTime>) -> Option<Row> {
        self.session_row(i, start)
    }

    fn session_row(&self, i: u64, start: Option<OffsetDateTime>) -> Option<Row> {
        let total = self.weights.last()?.0;
        let mut r = Rng::new(self.spec.seed, &[S_TRANSCRIPT, i]);
        let pick = r.unit() * total;
        let slot = self
            .weights
            .partition_point(|(w, _)| *w <= pick)
            .min(self.weights.len() - 1);
        let bot = &self.bots[self.weights[slot].1];
        // Drawn (and unused) so every later draw keeps the value it had when row ids were random.
        let _ = r.uuid();
        let conversation_id = r.uuid();
        let history = i64::from(self.spec.history_days.max(1)) * 86_400;
        // Conversations end early enough that their rows (written 30-45 min later) exist by
        // the anchor: with the default anchor (today 00:00) nothing is created in the future.
        let offset = i64::try_from(r.range(45 * 60, u64::try_from(history).unwrap_or(86_400)))
            .unwrap_or(45 * 60);
        let start = start.unwrap_or_else(|| self.spec.anchor - time::Duration::seconds(offset));
        let start = start.replace_nanosecond(0).unwrap_or(start);
        // Rows are written ~30 minutes after the conversation (session timeout + batching).
        let created = start
            + time::Duration::seconds(i64::try_from(r.range(30 * 60, 45 * 60)).unwrap_or(1800));
        let schema_version = if r.chance(0.7) { "0.2.2" } else { "0.2.1" };
        let name = format!("{conversation_id}_{}", bot.runtime_id);
        let id = self.row_id(&name, start, 1, 1);
        let mut metadata = json!({
            "BotId": bot.runtime_id,
            "AADTenantId": self.identity.tenant_id,
            "BotName": bot.schema,
        });
        if schema_version == "0.2.2" {
            // Dataverse writes the batch number as a JSON number.
            metadata["BatchId"] = json!(1);
        }
        let owner = self.makers[bot.owner].id;
        let mut row = Row::new();
        row.insert("conversationtranscriptid".into(), json!(id));
        row.insert("name".into(), json!(name));
        row.insert("metadata".into(), json!(metadata.to_string()));
        row.insert("conversationstarttime".into(), json!(iso(start)));
        row.insert("schematype".into(), json!("powervirtualagents"));
        row.insert("schemaversion".into(), json!(schema_version));
        row.insert("_bot_conversationtranscriptid_value".into(), json!(bot.id));
        row.insert("statecode".into(), json!(0));
        row.insert("statuscode".into(), json!(1));
        row.insert("timezoneruleversionnumber".into(), json!(4));
        row.insert("_ownerid_value".into(), json!(owner));
        row.insert("_owninguser_value".into(), json!(owner));
        row.insert("_createdby_value".into(), json!(owner));
        row.insert("_modifiedby_value".into(), json!(owner));
        row.insert(
            "_owningbusinessunit_value".into(),
            json!(self.identity.business_unit_id),
        );
        row.insert("createdon".into(), json!(iso(created)));
        row.insert("modifiedon".into(), json!(iso(created)));
        Some(row)
    }

    /// The transcript `content` (a JSON string) for a stored transcript row of this tenant;
    /// `None` when the row already has content, or is not a row this tenant generated (a row
    /// injected without content stays without: nothing is invented for it).
    pub fn transcript_content(&self, row: &Row) -> Option<String> {
        if row.get("content").is_some_and(|c| !c.is_null()) {
            return None;
        }
        let bot_id = row
            .get("_bot_conversationtranscriptid_value")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())?;
        let bot = &self.bots[*self.by_id.get(&bot_id)?];
        let id = row
            .get("conversationtranscriptid")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())?;
        let name = row.get("name").and_then(Value::as_str)?;
        let conversation_id = name.split('_').next().unwrap_or(name);
        let start = row
            .get("conversationstarttime")
            .and_then(Value::as_str)
            .and_then(parse_iso)?;
        let batch = row
            .get("metadata")
            .and_then(Value::as_str)
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .and_then(|m| m.get("BatchId").and_then(Value::as_u64))
            .unwrap_or(1);
        let parts = (1..=3).find(|&parts| self.row_id(name, start, batch, parts) == id)?;
        let mut r = Rng::new(
            self.spec.seed,
            &[
                S_CONTENT,
                label(name),
                start.unix_timestamp().cast_unsigned(),
            ],
        );
        let whole = transcript::content(&mut r, self, bot, conversation_id, start);
        if parts == 1 {
            return Some(whole);
        }
        transcript::part_of(&whole, batch, parts)
    }

    /// A materializer producing `content` for generated transcript rows.
    pub fn materializer(self: &Arc<Self>) -> Materializer {
        let tenant = Arc::clone(self);
        Arc::new(move |row: &Row| {
            let mut extra = Row::new();
            if let Some(content) = tenant.transcript_content(row) {
                extra.insert("content".into(), Value::String(content));
            }
            extra
        })
    }
}

/// Sets `BatchId` (a JSON number, as Dataverse writes it) in a row's metadata text.
fn set_batch(row: &mut Row, batch: u64) {
    let mut metadata = row
        .get("metadata")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str::<Value>(m).ok())
        .unwrap_or_else(|| json!({}));
    metadata["BatchId"] = json!(batch);
    row.insert("metadata".into(), json!(metadata.to_string()));
}

/// The name of the least-privilege role given to the connector's application user.
pub const LEAST_PRIVILEGE_ROLE: &str = "Copilot Studio Connector Reader";

/// Security rows produced by [`SyntheticTenant::security_rows`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SecurityRows {
    /// `systemusers` rows with `applicationid`.
    pub application_users: Vec<Row>,
    /// `roles` rows.
    pub roles: Vec<Row>,
    /// `systemuserroles_association` rows.
    pub user_roles: Vec<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn spec() -> TenantSpec {
        TenantSpec {
            agents: 30,
            transcripts: 200,
            ..TenantSpec::new(42, datetime!(2026-03-01 00:00 UTC))
        }
    }

    #[test]
    fn same_seed_same_rows() {
        let a = Arc::new(SyntheticTenant::generate(&spec()));
        let b = Arc::new(SyntheticTenant::generate(&spec()));
        assert_eq!(a.bot_rows(), b.bot_rows());
        assert_eq!(a.component_rows(), b.component_rows());
        let ta: Vec<Row> = a.transcript_rows(0..200).collect();
        let tb: Vec<Row> = b.transcript_rows(0..200).collect();
        assert_eq!(ta, tb);
        let (ma, mb) = (a.materializer(), b.materializer());
        for (x, y) in ta.iter().zip(&tb).take(50) {
            assert_eq!(ma(x), mb(y));
        }
        let other = SyntheticTenant::generate(&TenantSpec { seed: 43, ..spec() });
        assert_ne!(a.bot_rows(), other.bot_rows());
    }

    #[test]
    fn rare_shapes_occur() {
        let t = Arc::new(SyntheticTenant::generate(&spec()));
        let m = t.materializer();
        let mut seen = std::collections::BTreeSet::new();
        for row in t.transcript_rows(0..2000) {
            let content = m(&row)["content"].as_str().unwrap().to_owned();
            for marker in [
                "\"pva-autonomous\"",
                "\"ErrorTraceData\"",
                "\"HandOff\"",
                "\"directline\"",
                "\"triggerTest\"",
            ] {
                if content.contains(marker) {
                    seen.insert(marker);
                }
            }
        }
        assert_eq!(seen.len(), 5, "{seen:?}");
    }

    #[test]
    fn every_index_yields_a_transcript_even_in_tiny_tenants() {
        for seed in 0..50 {
            let t = SyntheticTenant::generate(&TenantSpec {
                seed,
                agents: 1,
                ..spec()
            });
            assert_eq!(t.transcript_rows(0..5).count(), 5);
        }
        let empty = SyntheticTenant::generate(&TenantSpec {
            agents: 0,
            ..spec()
        });
        assert_eq!(empty.transcript_rows(0..5).count(), 0);
    }

    #[test]
    fn debug_output_has_no_secret() {
        let t = SyntheticTenant::generate(&spec());
        let secret = t.identity().client_secret.clone();
        assert!(!format!("{t:?}").contains(&secret));
    }

    #[test]
    fn names_and_schemas_are_unique() {
        let t = SyntheticTenant::generate(&TenantSpec {
            agents: 2000,
            ..spec()
        });
        let rows = t.bot_rows();
        let mut schemas: Vec<&str> = rows
            .iter()
            .filter_map(|r| r["schemaname"].as_str())
            .collect();
        schemas.sort_unstable();
        schemas.dedup();
        assert_eq!(schemas.len(), 2000);
    }

    #[test]
    fn transcripts_look_like_the_real_rows() {
        let t = Arc::new(SyntheticTenant::generate(&spec()));
        let m = t.materializer();
        let all: Vec<Row> = t.transcript_rows(0..200).collect();
        for row in all.clone() {
            let start = parse_iso(row["conversationstarttime"].as_str().unwrap()).unwrap();
            let created = parse_iso(row["createdon"].as_str().unwrap()).unwrap();
            let lag = created - start;
            assert!(created <= spec().anchor, "{created} is after the anchor");
            assert!(lag >= time::Duration::minutes(30) && lag <= time::Duration::minutes(45));
            let metadata: Value = serde_json::from_str(row["metadata"].as_str().unwrap()).unwrap();
            assert!(metadata["BotName"].is_string());
            let name = row["name"].as_str().unwrap();
            assert!(name.ends_with(metadata["BotId"].as_str().unwrap()));
            let extra = m(&row);
            let content: Value = serde_json::from_str(extra["content"].as_str().unwrap()).unwrap();
            let acts = content["activities"].as_array().unwrap();
            let split = metadata["BatchId"].as_u64().is_some_and(|b| b > 1)
                || all.iter().any(|o| {
                    o["name"] == row["name"]
                        && o["conversationstarttime"] == row["conversationstarttime"]
                        && o["conversationtranscriptid"] != row["conversationtranscriptid"]
                });
            assert!(acts.len() >= if split { 1 } else { 3 });
            // Dataverse writes the batch number as a JSON number.
            assert!(metadata["BatchId"].is_null() || metadata["BatchId"].is_u64());
            for a in acts {
                assert!(a["timestamp"].is_i64());
                assert!(a["from"]["role"].is_i64());
            }
        }
    }

    #[test]
    fn split_sessions_cut_between_a_prompt_and_its_reply() {
        let t = Arc::new(SyntheticTenant::generate(&spec()));
        let rows: Vec<Row> = t.transcript_rows(0..400).collect();
        assert_eq!(rows.len(), 400);
        let mut groups: std::collections::BTreeMap<(String, String), Vec<&Row>> =
            std::collections::BTreeMap::new();
        for row in &rows {
            let key = (
                row["name"].as_str().unwrap().to_owned(),
                row["conversationstarttime"].as_str().unwrap().to_owned(),
            );
            groups.entry(key).or_default().push(row);
        }
        let split: Vec<_> = groups.values().filter(|g| g.len() > 1).collect();
        assert_eq!(split.len(), 10, "one split session per 40 rows");
        let mut cut_after_prompt = 0;
        for parts in split {
            let batches: Vec<u64> = parts
                .iter()
                .map(|r| {
                    let m: Value = serde_json::from_str(r["metadata"].as_str().unwrap()).unwrap();
                    m["BatchId"].as_u64().unwrap()
                })
                .collect();
            assert_eq!(batches, (1..=parts.len() as u64).collect::<Vec<_>>());
            // The parts put together are the whole session, in order.
            let acts: Vec<Vec<Value>> = parts
                .iter()
                .map(|r| {
                    let c: Value = serde_json::from_str(&t.transcript_content(r).unwrap()).unwrap();
                    c["activities"].as_array().unwrap().clone()
                })
                .collect();
            let first = parts[0];
            let mut r = Rng::new(
                42,
                &[
                    S_CONTENT,
                    label(first["name"].as_str().unwrap()),
                    parse_iso(first["conversationstarttime"].as_str().unwrap())
                        .unwrap()
                        .unix_timestamp()
                        .cast_unsigned(),
                ],
            );
            let bot = &t.bots[t.by_id[&Uuid::parse_str(
                first["_bot_conversationtranscriptid_value"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap()]];
            let conversation = first["name"].as_str().unwrap().split('_').next().unwrap();
            let start = parse_iso(first["conversationstarttime"].as_str().unwrap()).unwrap();
            let whole: Value =
                serde_json::from_str(&transcript::content(&mut r, &t, bot, conversation, start))
                    .unwrap();
            assert_eq!(&acts.concat(), whole["activities"].as_array().unwrap());
            for pair in acts.windows(2) {
                let last = pair[0].last().unwrap();
                if last["type"] == "message" && last["from"]["role"] == 1 {
                    cut_after_prompt += 1;
                }
            }
        }
        assert!(cut_after_prompt >= 5, "{cut_after_prompt}");
        // Resumed sessions: the same conversation in two sessions.
        let resumed = rows
            .iter()
            .filter(|r| {
                rows.iter().any(|o| {
                    o["name"] == r["name"]
                        && o["conversationstarttime"] != r["conversationstarttime"]
                })
            })
            .count();
        assert!(resumed >= 16, "{resumed}");
    }

    #[test]
    fn content_is_never_invented_for_an_injected_row() {
        let t = Arc::new(SyntheticTenant::generate(&spec()));
        let generated = t.transcript_row(7, None).unwrap();
        assert!(t.transcript_content(&generated).is_some());
        // Same bot, same columns, but not a row this tenant generated.
        let mut injected = generated.clone();
        injected.insert(
            "conversationtranscriptid".into(),
            json!("0b1c2d3e-0000-4000-8000-000000000001"),
        );
        assert!(t.transcript_content(&injected).is_none());
        let mut renamed = generated;
        renamed.insert("name".into(), json!("other-conversation_bot"));
        assert!(t.transcript_content(&renamed).is_none());
    }

    #[test]
    fn some_agents_have_non_latin_names() {
        let t = SyntheticTenant::generate(&TenantSpec {
            agents: 200,
            ..spec()
        });
        let names: Vec<String> = t
            .bot_rows()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect();
        let non_latin = names
            .iter()
            .filter(|n| n.chars().any(|c| c.is_alphabetic() && !c.is_ascii()))
            .count();
        assert!(non_latin >= 10, "{non_latin}");
        assert!(names.iter().any(|n| n.contains('ü') || n.contains('Ü')));
        assert!(
            names
                .iter()
                .any(|n| n.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)))
        );
        assert!(
            names
                .iter()
                .any(|n| n.chars().any(|c| ('\u{0400}'..='\u{04ff}').contains(&c)))
        );
    }
}
