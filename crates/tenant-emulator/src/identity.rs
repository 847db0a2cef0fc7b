//! Who may do what: service principals, application permissions (app role assignments),
//! delegated grants (`oauth2PermissionGrants`), app registrations with their credentials, and
//! their owners, for every agent's Entra app and for the connector's own app (Graph v1.0 and
//! beta).
//!
//! Routes (reads need `Application.Read.All`, `Application.ReadWrite.All`,
//! `Directory.Read.All` or `Directory.ReadWrite.All`):
//! - `GET servicePrincipals(appId='{appId}')`, `GET servicePrincipals/{id}`;
//! - `GET servicePrincipals/{id}/appRoleAssignments`;
//! - `GET oauth2PermissionGrants` with `$filter=clientId eq '{id}'` (or none);
//! - `GET applications(appId='{appId}')`, `GET applications/{id}`;
//! - `GET applications/{id}/owners`.
//!
//! Microsoft Graph's own service principal exposes `appRoles`, so permission names resolve
//! from assignments. Every agent in the inventory has an `entraAppId` ([`agent_app_id`]);
//! every third one also an `entraAgentId` ([`agent_identity_id`]), which here is the object id
//! of the agent app's service principal. Identities are planted in the inventory's agent
//! order: the first agent is over-privileged ([`IdentityProfile::OverPrivileged`]), the
//! second has an expired secret, the third's app has no owner, the fourth has a secret
//! expiring within 30 days and one valid for two years; the rest, and the connector's app
//! (holding only its Graph permissions), are least-privilege. Dates are relative to the
//! clock when the emulator starts.

use std::sync::{Arc, RwLock};

use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SharedClock;
use crate::graph::{Answer, GRAPH_RESOURCE, Query, decode, error_answer};
use crate::rng::{Rng, label};

/// Permissions that allow the reads.
pub const READ_ROLES: [&str; 4] = [
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Microsoft Graph's application id.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The application permissions Microsoft Graph's service principal exposes here.
const GRAPH_ROLES: [&str; 22] = [
    "AiEnterpriseInteraction.Read.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "RoleManagement.ReadWrite.Directory",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Mail.Read",
    "Mail.Send",
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
    "SecurityCopilotWorkspaces.Read.All",
    "SecurityCopilotWorkspaces.ReadWrite.All",
    "Organization.Read.All",
    "Chat.Read.All",
];

/// What was planted for an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentityProfile {
    /// Only what it needs: a delegated `User.Read` for signed-in users, a valid certificate,
    /// an owner.
    LeastPrivilege,
    /// Graph application permissions `Mail.Send`, `Directory.ReadWrite.All`,
    /// `Sites.ReadWrite.All` and a role the resource no longer exposes, plus admin-consented
    /// delegated `Files.ReadWrite.All`.
    OverPrivileged,
    /// A client secret that ended 10 days ago.
    ExpiredSecret,
    /// An app registration without owners.
    Orphaned,
    /// A secret ending in 12 days and a secret valid for two years.
    ExpiringSecret,
    /// The connector's own app: its Graph application permissions only, a one-year secret.
    Connector,
}

/// One planted identity.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PlantedIdentity {
    /// The application (client) id.
    pub app_id: Uuid,
    /// The service principal's object id.
    pub service_principal_id: Uuid,
    /// The app registration's object id.
    pub application_id: Uuid,
    /// The display name.
    pub display_name: String,
    /// The agent (bot id) it belongs to, `None` for the connector's app.
    pub agent: Option<String>,
    /// What was planted.
    pub profile: IdentityProfile,
    assignments: Vec<(String, String)>,
    grants: Vec<Value>,
    application: Value,
    owners: Vec<Value>,
}

#[derive(Default)]
struct DirectoryData {
    graph_sp: Option<Value>,
    graph_sp_id: Uuid,
    identities: Vec<PlantedIdentity>,
}

/// The directory stand-in. Cheap to clone; empty until the emulator plants it.
#[derive(Clone, Default)]
pub struct Directory {
    data: Arc<RwLock<DirectoryData>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("identities", &self.identities().len())
            .finish()
    }
}

/// The `entraAppId` the inventory shows for an agent (derived from its bot id).
pub fn agent_app_id(bot_id: &str) -> Uuid {
    Rng::new(label(bot_id), &[0x6170_7069]).uuid()
}

/// The `entraAgentId` of an agent, for every third one (by its bot id).
pub fn agent_identity_id(bot_id: &str) -> Option<Uuid> {
    label(bot_id)
        .is_multiple_of(3)
        .then(|| Rng::new(label(bot_id), &[0x7370_6964]).uuid())
}

fn role_id(name: &str) -> String {
    Rng::new(label(name), &[0x726f_6c65]).uuid().to_string()
}

fn iso(t: OffsetDateTime) -> String {
    crate::generate::iso(t)
}

/// An agent to plant an identity for.
#[derive(Debug, Clone)]
pub(crate) struct AgentApp {
    pub(crate) bot_id: String,
    pub(crate) display_name: String,
}

/// The connector's app, as registered.
pub(crate) struct ConnectorApp<'a> {
    pub(crate) client_id: Uuid,
    pub(crate) object_id: Uuid,
    pub(crate) graph_roles: &'a [String],
}

fn credential(name: &str, start: OffsetDateTime, end: OffsetDateTime, key: u64) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": name,
        "endDateTime": iso(end),
        "hint": "Abc",
        "keyId": Rng::new(key, &[0x006b_6579]).uuid(),
        "secretText": null,
        "startDateTime": iso(start),
    })
}

fn certificate(name: &str, start: OffsetDateTime, end: OffsetDateTime, key: u64) -> Value {
    json!({
        "customKeyIdentifier": "5A6C0F2B8E1D4C3B",
        "displayName": name,
        "endDateTime": iso(end),
        "key": null,
        "keyId": Rng::new(key, &[0x6365_7274]).uuid(),
        "startDateTime": iso(start),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

impl Directory {
    /// Plants the identities (replacing any) at `now`; owners are picked from `users`
    /// (`(id, displayName, userPrincipalName)`).
    pub(crate) fn plant(
        &self,
        seed: u64,
        now: OffsetDateTime,
        agents: &[AgentApp],
        connector: &ConnectorApp<'_>,
        users: &[(String, String, String)],
    ) {
        let days = time::Duration::days;
        let graph_sp_id = Rng::new(seed, &[0x6773_7069]).uuid();
        let app_roles: Vec<Value> = GRAPH_ROLES
            .iter()
            .map(|r| {
                json!({"allowedMemberTypes": ["Application"], "description": format!("Allows the app to use {r}."),
                       "displayName": r, "id": role_id(r), "isEnabled": true, "origin": "Application", "value": r})
            })
            .collect();
        let graph_sp = json!({
            "id": graph_sp_id, "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
            "accountEnabled": true, "servicePrincipalType": "Application",
            "appOwnerOrganizationId": "f8cdef31-a31e-4b4a-93e4-5f571e91255a",
            "appRoles": app_roles,
        });
        let owner = |i: usize| -> Vec<Value> {
            if users.is_empty() {
                let id = Rng::new(seed, &[0x6f77_6e72, i as u64]).uuid();
                return vec![json!({"@odata.type": "#microsoft.graph.user", "id": id,
                    "displayName": "Megan Bowen", "userPrincipalName": "meganb@contoso.example"})];
            }
            let (id, name, upn) = &users[i % users.len()];
            vec![json!({"@odata.type": "#microsoft.graph.user", "id": id,
                "displayName": name, "userPrincipalName": upn})]
        };
        let grant = |client: Uuid, consent: &str, principal: Option<&str>, scope: &str, k: u64| {
            json!({
                "id": URL_SAFE.encode_id(client, k),
                "clientId": client, "consentType": consent, "principalId": principal,
                "resourceId": graph_sp_id, "scope": scope,
            })
        };
        let mut identities = Vec::with_capacity(agents.len() + 1);
        for (i, agent) in agents.iter().enumerate() {
            let app_id = agent_app_id(&agent.bot_id);
            let sp_id = agent_identity_id(&agent.bot_id)
                .unwrap_or_else(|| Rng::new(label(&agent.bot_id), &[0x7370]).uuid());
            let object_id = Rng::new(label(&agent.bot_id), &[0x006f_626a]).uuid();
            let key = label(&agent.bot_id);
            let profile = match i {
                0 => IdentityProfile::OverPrivileged,
                1 => IdentityProfile::ExpiredSecret,
                2 => IdentityProfile::Orphaned,
                3 => IdentityProfile::ExpiringSecret,
                _ => IdentityProfile::LeastPrivilege,
            };
            let user = users.get(i % users.len().max(1)).map(|u| u.0.clone());
            let user_grant = grant(
                sp_id,
                "Principal",
                Some(
                    user.as_deref()
                        .unwrap_or("00000000-0000-0000-0000-000000000001"),
                ),
                "openid profile User.Read",
                0,
            );
            let cert = certificate("agent-cert", now - days(100), now + days(265), key);
            let (assignments, grants, passwords, keys, owners) = match profile {
                IdentityProfile::OverPrivileged => (
                    vec![
                        "Mail.Send".to_owned(),
                        "Directory.ReadWrite.All".to_owned(),
                        "Sites.ReadWrite.All".to_owned(),
                        // A role Graph no longer exposes: kept, without a name.
                        Rng::new(key, &[0x676f_6e65]).uuid().to_string(),
                    ],
                    vec![grant(
                        sp_id,
                        "AllPrincipals",
                        None,
                        "User.Read Files.ReadWrite.All",
                        1,
                    )],
                    vec![],
                    vec![cert],
                    owner(i),
                ),
                IdentityProfile::ExpiredSecret => (
                    vec![],
                    vec![user_grant],
                    vec![credential(
                        "old secret",
                        now - days(375),
                        now - days(10),
                        key,
                    )],
                    vec![],
                    owner(i),
                ),
                IdentityProfile::Orphaned => {
                    (vec![], vec![user_grant], vec![], vec![cert], Vec::new())
                }
                IdentityProfile::ExpiringSecret => (
                    vec![],
                    vec![user_grant],
                    vec![
                        credential("rotating", now - days(170), now + days(12), key),
                        credential("two-year", now - days(5), now + days(725), key + 1),
                    ],
                    vec![],
                    owner(i),
                ),
                _ => (vec![], vec![user_grant], vec![], vec![cert], owner(i)),
            };
            identities.push(PlantedIdentity {
                app_id,
                service_principal_id: sp_id,
                application_id: object_id,
                display_name: agent.display_name.clone(),
                agent: Some(agent.bot_id.clone()),
                profile,
                assignments: assignments
                    .into_iter()
                    .map(|r| {
                        let id = if Uuid::parse_str(&r).is_ok() {
                            r
                        } else {
                            role_id(&r)
                        };
                        (id, GRAPH_APP_ID.to_owned())
                    })
                    .collect(),
                grants,
                application: json!({
                    "id": object_id, "appId": app_id, "displayName": agent.display_name,
                    "signInAudience": "AzureADMyOrg",
                    "createdDateTime": iso(now - days(400)),
                    "passwordCredentials": passwords, "keyCredentials": keys,
                }),
                owners,
            });
        }
        let key = label(&connector.client_id.to_string());
        identities.push(PlantedIdentity {
            app_id: connector.client_id,
            service_principal_id: connector.object_id,
            application_id: Rng::new(key, &[0x006f_626a]).uuid(),
            display_name: "copilot-connector".to_owned(),
            agent: None,
            profile: IdentityProfile::Connector,
            assignments: connector
                .graph_roles
                .iter()
                .map(|r| (role_id(r), GRAPH_APP_ID.to_owned()))
                .collect(),
            grants: Vec::new(),
            application: json!({
                "id": Rng::new(key, &[0x006f_626a]).uuid(), "appId": connector.client_id,
                "displayName": "copilot-connector", "signInAudience": "AzureADMyOrg",
                "createdDateTime": iso(now - days(30)),
                "passwordCredentials": [credential("connector secret", now - days(30), now + days(335), key)],
                "keyCredentials": [],
            }),
            owners: owner(0),
        });
        *self.data.write().unwrap_or_else(|e| e.into_inner()) = DirectoryData {
            graph_sp: Some(graph_sp),
            graph_sp_id,
            identities,
        };
    }

    /// The planted identities (agents' first, the connector's last).
    pub fn identities(&self) -> Vec<PlantedIdentity> {
        self.data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .identities
            .clone()
    }

    fn sp_json(&self, data: &DirectoryData, p: &PlantedIdentity) -> Value {
        let _ = data;
        json!({
            "id": p.service_principal_id, "appId": p.app_id, "displayName": p.display_name,
            "accountEnabled": true, "servicePrincipalType": "Application",
            "appOwnerOrganizationId": Value::Null, "appRoles": [],
            "servicePrincipalNames": [p.app_id],
        })
    }

    /// Serves a read; `segments` are the path after the version, as sent.
    pub(crate) fn get(
        &self,
        clock: &SharedClock,
        base_url: &str,
        version: &str,
        segments: &[&str],
        q: &Query,
    ) -> Result<Answer, Answer> {
        let data = self.data.read().unwrap_or_else(|e| e.into_inner());
        let not_found = |what: &str| {
            error_answer(
                clock,
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                &format!(
                    "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
                ),
            )
        };
        let bad = |m: &str| error_answer(clock, StatusCode::BAD_REQUEST, "BadRequest", m);
        let first = decode(segments[0]);
        let lower = first.to_ascii_lowercase();
        let ctx = |what: &str| format!("{GRAPH_RESOURCE}/{version}/$metadata#{what}");
        let find_sp = |key: &str| -> Option<Value> {
            if let Some(app) = alternate_key(&first, "serviceprincipals") {
                if app.eq_ignore_ascii_case(GRAPH_APP_ID) {
                    return data.graph_sp.clone();
                }
                return data
                    .identities
                    .iter()
                    .find(|p| p.app_id.to_string().eq_ignore_ascii_case(&app))
                    .map(|p| self.sp_json(&data, p));
            }
            if key.eq_ignore_ascii_case(&data.graph_sp_id.to_string()) {
                return data.graph_sp.clone();
            }
            data.identities
                .iter()
                .find(|p| p.service_principal_id.to_string().eq_ignore_ascii_case(key))
                .map(|p| self.sp_json(&data, p))
        };
        let collection = |items: Vec<Value>, what: &str| {
            let top = match q.top.as_deref() {
                None => 100,
                Some(t) => t.trim().parse::<usize>().ok().filter(|n| (1..=999).contains(n)).ok_or_else(|| {
                    bad(&format!("Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."))
                })?,
            };
            let offset = match &q.skiptoken {
                None => 0,
                Some(t) => t
                    .parse::<usize>()
                    .map_err(|_| bad("The $skiptoken is invalid."))?,
            };
            let total = items.len();
            let mut body = json!({"@odata.context": ctx(what),
                "value": items.into_iter().skip(offset).take(top).collect::<Vec<_>>()});
            if offset + top < total {
                body["@odata.nextLink"] = json!(format!(
                    "{}?{}{}$skiptoken={}",
                    q_link(base_url, version, segments),
                    q.carried,
                    if q.carried.is_empty() { "" } else { "&" },
                    offset + top
                ));
            }
            Ok::<Answer, Answer>(Answer::ok(body.to_string()))
        };
        if lower.starts_with("serviceprincipals") {
            let key = if lower == "serviceprincipals" {
                match segments.get(1) {
                    Some(k) => decode(k),
                    None => {
                        return Err(bad(
                            "Listing every service principal is not supported here: read one by id or appId.",
                        ));
                    }
                }
            } else {
                String::new()
            };
            let rest_at = if lower == "serviceprincipals" { 2 } else { 1 };
            let sp = find_sp(&key).ok_or_else(|| not_found(&first))?;
            return match segments.get(rest_at).map(|s| s.to_ascii_lowercase()) {
                None => {
                    let mut sp = sp;
                    sp["@odata.context"] = json!(ctx("servicePrincipals/$entity"));
                    Ok(Answer::ok(sp.to_string()))
                }
                Some(s) if s == "approleassignments" && segments.len() == rest_at + 1 => {
                    let sp_id = sp["id"].as_str().unwrap_or_default().to_owned();
                    let items = data
                        .identities
                        .iter()
                        .find(|p| p.service_principal_id.to_string().eq_ignore_ascii_case(&sp_id))
                        .map(|p| {
                            p.assignments
                                .iter()
                                .enumerate()
                                .map(|(k, (role, _))| {
                                    json!({
                                        "id": URL_SAFE.encode_id(p.service_principal_id, 100 + k as u64),
                                        "appRoleId": role,
                                        "createdDateTime": "2025-06-01T09:30:00Z",
                                        "deletedDateTime": null,
                                        "principalDisplayName": p.display_name,
                                        "principalId": p.service_principal_id,
                                        "principalType": "ServicePrincipal",
                                        "resourceDisplayName": "Microsoft Graph",
                                        "resourceId": data.graph_sp_id,
                                    })
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    collection(
                        items,
                        &format!("servicePrincipals('{sp_id}')/appRoleAssignments"),
                    )
                }
                Some(s) => Err(bad(&format!("Resource not found for the segment '{s}'."))),
            };
        }
        if lower == "oauth2permissiongrants" {
            if segments.len() > 1 {
                return Err(bad("Reading one grant by id is not supported here."));
            }
            let client = match &q.filter {
                None => None,
                Some(f) => Some(client_filter(f).ok_or_else(|| {
                    bad("Invalid filter clause: only clientId eq 'id' is supported.")
                })?),
            };
            let items: Vec<Value> = data
                .identities
                .iter()
                .flat_map(|p| p.grants.iter())
                .filter(|g| {
                    client.as_ref().is_none_or(|c| {
                        g["clientId"]
                            .as_str()
                            .is_some_and(|id| id.eq_ignore_ascii_case(c))
                    })
                })
                .cloned()
                .collect();
            return collection(items, "oauth2PermissionGrants");
        }
        if lower.starts_with("applications") {
            let (app, rest_at) = match alternate_key(&first, "applications") {
                Some(app_id) => (
                    data.identities
                        .iter()
                        .find(|p| p.app_id.to_string().eq_ignore_ascii_case(&app_id)),
                    1,
                ),
                None if lower == "applications" => {
                    let Some(k) = segments.get(1).map(|k| decode(k)) else {
                        return Err(bad(
                            "Listing every application is not supported here: read one by id or appId.",
                        ));
                    };
                    (
                        data.identities
                            .iter()
                            .find(|p| p.application_id.to_string().eq_ignore_ascii_case(&k)),
                        2,
                    )
                }
                None => {
                    return Err(bad(&format!(
                        "Resource not found for the segment '{first}'."
                    )));
                }
            };
            let app = app.ok_or_else(|| not_found(&first))?;
            return match segments.get(rest_at).map(|s| s.to_ascii_lowercase()) {
                None => {
                    let mut v = app.application.clone();
                    v["@odata.context"] = json!(ctx("applications/$entity"));
                    Ok(Answer::ok(v.to_string()))
                }
                Some(s) if s == "owners" && segments.len() == rest_at + 1 => {
                    collection(app.owners.clone(), "directoryObjects")
                }
                Some(s) => Err(bad(&format!("Resource not found for the segment '{s}'."))),
            };
        }
        Err(bad(&format!(
            "Resource not found for the segment '{first}'."
        )))
    }
}

/// Whether the first path segment is one of this module's.
pub(crate) fn serves(first: &str) -> bool {
    let l = first.to_ascii_lowercase();
    l.starts_with("serviceprincipals")
        || l.starts_with("applications")
        || l == "oauth2permissiongrants"
}

/// `{entity}(appId='X')` -> `X`.
fn alternate_key(segment: &str, entity: &str) -> Option<String> {
    let lower = segment.to_ascii_lowercase();
    let rest = lower.strip_prefix(entity)?.strip_prefix("(appid=")?;
    let start = segment.len() - rest.len();
    let inner = segment[start..].strip_suffix(')')?;
    let inner = inner.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// `clientId eq 'X'` -> `X`.
fn client_filter(f: &str) -> Option<String> {
    let words: Vec<&str> = f.split_whitespace().collect();
    match words.as_slice() {
        [p, op, v] if p.eq_ignore_ascii_case("clientId") && op.eq_ignore_ascii_case("eq") => v
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .map(str::to_owned),
        _ => None,
    }
}

fn q_link(base_url: &str, version: &str, segments: &[&str]) -> String {
    format!("{base_url}/{version}/{}", segments.join("/"))
}

/// Grant and assignment ids look like Graph's: base64url of the client id and a counter.
struct UrlSafe;
const URL_SAFE: UrlSafe = UrlSafe;

impl UrlSafe {
    fn encode_id(&self, id: Uuid, k: u64) -> String {
        use base64::Engine;
        let mut bytes = id.as_bytes().to_vec();
        bytes.extend_from_slice(&k.to_le_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_filters_parse() {
        assert_eq!(
            alternate_key("servicePrincipals(appId='AbC-1')", "serviceprincipals").as_deref(),
            Some("AbC-1")
        );
        assert_eq!(
            alternate_key("servicePrincipals", "serviceprincipals"),
            None
        );
        assert_eq!(alternate_key("applications(appId=x)", "applications"), None);
        assert_eq!(client_filter("clientId eq 'abc'").as_deref(), Some("abc"));
        assert_eq!(client_filter("resourceId eq 'abc'"), None);
        assert!(serves("servicePrincipals(appId='x')"));
        assert!(serves("oauth2PermissionGrants"));
        assert!(!serves("users"));
    }

    #[test]
    fn agent_ids_are_stable_and_some_agents_have_an_agent_identity() {
        assert_eq!(agent_app_id("b1"), agent_app_id("b1"));
        assert_ne!(agent_app_id("b1"), agent_app_id("b2"));
        let with: usize = (0..300)
            .filter(|i| agent_identity_id(&format!("bot-{i}")).is_some())
            .count();
        assert!((60..140).contains(&with), "{with}");
    }
}
