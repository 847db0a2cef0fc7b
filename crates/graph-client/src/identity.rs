//! Identity posture: what an app or agent identity may do in the tenant, read from Graph.
//!
//! For one app id: its service principal, the application permissions it holds (app role
//! assignments, resolved to permission names through the resource's `appRoles`), the
//! delegated permissions consented for it (admin consent for everyone, or per user), its
//! app registration's credentials and owners, and a classification of each permission
//! against a table of high-privilege permissions. Reading all of it needs
//! `Application.Read.All` (and `Directory.Read.All` for owners that are users).

use crate::client::{encode_query_value, encode_segment, odata_string};
use crate::paging::CollectionRequest;
use crate::{Error, GraphClient, ItemStream};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// A credential that ends within this long is reported as expiring soon.
pub const EXPIRING_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);

/// A client secret valid for longer than this is reported as long-lived.
pub const LONG_LIVED_SECRET: Duration = Duration::from_secs(365 * 24 * 3600);

/// The app role id Graph uses for "default access" (an assignment without a specific role).
pub const DEFAULT_ACCESS_ROLE_ID: &str = "00000000-0000-0000-0000-000000000000";

/// A role an application exposes (`appRole`); its `value` is the permission name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppRole {
    /// The role id, referenced by `appRoleAssignment.appRoleId`.
    pub id: String,
    /// `value`: the permission name, e.g. `Mail.Send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `allowedMemberTypes`: `Application` for application permissions, `User` for roles.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    /// `isEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
}

/// A service principal (the fields read here; the rest kept in `extra`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServicePrincipal {
    /// The object id.
    pub id: String,
    /// `appId`: the application (client) id.
    #[serde(default)]
    pub app_id: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `accountEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// `servicePrincipalType`: `Application`, `ManagedIdentity`, `Legacy`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_type: Option<String>,
    /// `appOwnerOrganizationId`: the tenant that registered the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_owner_organization_id: Option<String>,
    /// `appRoles`: the application permissions this resource exposes.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An application permission granted to a service principal (`appRoleAssignment`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppRoleAssignment {
    /// The assignment id.
    #[serde(default)]
    pub id: String,
    /// `principalId`: who holds it.
    #[serde(default)]
    pub principal_id: String,
    /// `resourceId`: the resource service principal (e.g. Microsoft Graph's).
    #[serde(default)]
    pub resource_id: String,
    /// `resourceDisplayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_display_name: Option<String>,
    /// `appRoleId`: an id in the resource's `appRoles`.
    #[serde(default)]
    pub app_role_id: String,
    /// `createdDateTime`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
}

/// Who a delegated grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum ConsentType {
    /// `AllPrincipals`: an administrator consented for every user.
    AllPrincipals,
    /// `Principal`: one user consented for themself.
    Principal,
    /// Another value, kept as sent.
    Other(String),
}

impl From<String> for ConsentType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "AllPrincipals" => ConsentType::AllPrincipals,
            "Principal" => ConsentType::Principal,
            _ => ConsentType::Other(s),
        }
    }
}

impl From<ConsentType> for String {
    fn from(c: ConsentType) -> String {
        match c {
            ConsentType::AllPrincipals => "AllPrincipals".into(),
            ConsentType::Principal => "Principal".into(),
            ConsentType::Other(s) => s,
        }
    }
}

/// Delegated permissions consented for a client (`oAuth2PermissionGrant`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OAuth2PermissionGrant {
    /// The grant id.
    #[serde(default)]
    pub id: String,
    /// `clientId`: the client service principal's object id.
    #[serde(default)]
    pub client_id: String,
    /// `consentType`.
    pub consent_type: ConsentType,
    /// `principalId`: the user, for `Principal` consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// `resourceId`: the resource service principal.
    #[serde(default)]
    pub resource_id: String,
    /// `scope`: space-separated scope names.
    #[serde(default)]
    pub scope: String,
}

impl OAuth2PermissionGrant {
    /// The scope names (`scope` split on whitespace; empty entries dropped).
    pub fn scopes(&self) -> Vec<&str> {
        self.scope.split_whitespace().collect()
    }
}

/// A password or certificate credential of an app registration (never the secret itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppCredential {
    /// `keyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `startDateTime`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date_time: Option<OffsetDateTime>,
    /// `endDateTime`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date_time: Option<OffsetDateTime>,
}

/// An app registration (`application`), with its credentials.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Application {
    /// The object id.
    pub id: String,
    /// `appId`.
    #[serde(default)]
    pub app_id: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `passwordCredentials`: client secrets.
    #[serde(default)]
    pub password_credentials: Vec<AppCredential>,
    /// `keyCredentials`: certificates.
    #[serde(default)]
    pub key_credentials: Vec<AppCredential>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An owner of an app registration (a user or a service principal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Owner {
    /// The object id.
    #[serde(default)]
    pub id: String,
    /// `@odata.type`, e.g. `#microsoft.graph.user`.
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `userPrincipalName`, for a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
}

/// Why a permission is high-privilege, or `None` when it is not in the table.
///
/// The table covers permissions that let an identity take over the directory or read or
/// change everyone's data: directory and role management, app role assignment and
/// delegated grants (which let it grant itself anything), application and service
/// principal writes, user, group and authentication-method writes, policy writes, mail
/// send and write, and write or full control of files and sites. Names compare
/// case-insensitively.
///
/// ```
/// use graph_client::classify_permission;
/// assert!(classify_permission("RoleManagement.ReadWrite.Directory").is_some());
/// assert!(classify_permission("mail.send").is_some());
/// assert!(classify_permission("User.Read").is_none());
/// ```
pub fn classify_permission(name: &str) -> Option<&'static str> {
    const TABLE: &[(&str, &str)] = &[
        ("Directory.ReadWrite.All", "writes the whole directory"),
        (
            "Directory.AccessAsUser.All",
            "acts as the user on the whole directory",
        ),
        (
            "RoleManagement.ReadWrite.Directory",
            "assigns directory roles, including Global Administrator",
        ),
        (
            "RoleManagement.ReadWrite.All",
            "assigns roles across role providers",
        ),
        (
            "AppRoleAssignment.ReadWrite.All",
            "grants any application permission, to itself too",
        ),
        (
            "DelegatedPermissionGrant.ReadWrite.All",
            "grants any delegated permission, to itself too",
        ),
        (
            "Application.ReadWrite.All",
            "adds credentials to any application",
        ),
        (
            "Application.ReadWrite.OwnedBy",
            "changes the applications it owns",
        ),
        (
            "ServicePrincipalEndpoint.ReadWrite.All",
            "redirects service endpoints",
        ),
        ("User.ReadWrite.All", "changes every user"),
        (
            "User.ManageIdentities.All",
            "changes users' sign-in identities",
        ),
        (
            "UserAuthenticationMethod.ReadWrite.All",
            "changes users' authentication methods",
        ),
        (
            "Group.ReadWrite.All",
            "changes every group and its membership",
        ),
        ("GroupMember.ReadWrite.All", "changes group membership"),
        (
            "Policy.ReadWrite.ConditionalAccess",
            "changes Conditional Access",
        ),
        (
            "Policy.ReadWrite.AuthenticationMethod",
            "changes authentication method policy",
        ),
        (
            "Policy.ReadWrite.PermissionGrant",
            "changes who may consent to what",
        ),
        (
            "PrivilegedAccess.ReadWrite.AzureAD",
            "manages privileged access",
        ),
        (
            "PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup",
            "activates privileged group assignments",
        ),
        (
            "Domain.ReadWrite.All",
            "changes the tenant's domains and federation",
        ),
        ("Organization.ReadWrite.All", "changes the organisation"),
        ("Mail.Send", "sends mail as any user"),
        ("Mail.ReadWrite", "reads and changes every mailbox"),
        (
            "MailboxSettings.ReadWrite",
            "changes mailbox rules and forwarding",
        ),
        ("full_access_as_app", "full access to every mailbox (EWS)"),
        ("Exchange.ManageAsApp", "administers Exchange"),
        ("Files.ReadWrite.All", "writes every file"),
        ("Sites.ReadWrite.All", "writes every site"),
        ("Sites.Manage.All", "manages every site"),
        ("Sites.FullControl.All", "full control of every site"),
        ("Chat.ReadWrite.All", "reads and writes every chat"),
        (
            "DeviceManagementConfiguration.ReadWrite.All",
            "changes device configuration",
        ),
        (
            "DeviceManagementRBAC.ReadWrite.All",
            "changes Intune role assignments",
        ),
    ];
    let name = name.trim();
    if let Some((_, why)) = TABLE.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Some(why);
    }
    // Any other workload's full-control permission is as broad as the ones listed.
    if name.to_ascii_lowercase().ends_with(".fullcontrol.all") {
        return Some("full control of a whole workload");
    }
    None
}

/// An application permission held, resolved to its name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ApplicationPermission {
    /// The resource's display name (e.g. `Microsoft Graph`).
    pub resource: String,
    /// The resource service principal's object id.
    pub resource_id: String,
    /// The app role id.
    pub app_role_id: String,
    /// The permission name (`appRole.value`); `None` when the resource exposes no role with
    /// that id (removed, or the resource could not be read).
    pub name: Option<String>,
    /// Why it is high-privilege ([`classify_permission`]), if it is.
    pub high_privilege: Option<&'static str>,
}

/// Delegated permissions consented for the identity on one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DelegatedPermissions {
    /// The resource's display name, when it could be read.
    pub resource: Option<String>,
    /// The resource service principal's object id.
    pub resource_id: String,
    /// Admin consent for everyone, or one user's consent.
    pub consent_type: ConsentType,
    /// The consenting user, for `Principal` consent.
    pub principal_id: Option<String>,
    /// Each scope with why it is high-privilege, if it is.
    pub scopes: Vec<(String, Option<&'static str>)>,
}

/// Whether a credential needs attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum CredentialIssue {
    /// `endDateTime` has passed.
    Expired,
    /// It ends within [`EXPIRING_WITHIN`].
    ExpiringSoon,
    /// A client secret valid for more than [`LONG_LIVED_SECRET`].
    LongLivedSecret,
    /// No `endDateTime`: it never expires, or the service did not say.
    NoExpiry,
}

/// The kind of credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum CredentialKind {
    /// A client secret (`passwordCredentials`).
    Secret,
    /// A certificate (`keyCredentials`).
    Certificate,
}

/// One credential and what needs attention about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CredentialReport {
    /// Secret or certificate.
    pub kind: CredentialKind,
    /// The credential as read (dates and names only).
    pub credential: AppCredential,
    /// What needs attention; empty when nothing does.
    pub issues: Vec<CredentialIssue>,
}

/// What needs attention about one credential at `now`.
///
/// ```
/// use graph_client::{AppCredential, CredentialIssue, CredentialKind, credential_issues};
/// use time::macros::datetime;
/// let mut c = AppCredential::default();
/// c.start_date_time = Some(datetime!(2025-01-01 00:00 UTC));
/// c.end_date_time = Some(datetime!(2027-01-01 00:00 UTC));
/// assert_eq!(
///     credential_issues(CredentialKind::Secret, &c, datetime!(2026-12-15 00:00 UTC)),
///     vec![CredentialIssue::ExpiringSoon, CredentialIssue::LongLivedSecret]
/// );
/// ```
pub fn credential_issues(
    kind: CredentialKind,
    credential: &AppCredential,
    now: OffsetDateTime,
) -> Vec<CredentialIssue> {
    let mut issues = Vec::new();
    match credential.end_date_time {
        None => issues.push(CredentialIssue::NoExpiry),
        Some(end) if end <= now => issues.push(CredentialIssue::Expired),
        Some(end) if end - now <= EXPIRING_WITHIN => issues.push(CredentialIssue::ExpiringSoon),
        Some(_) => {}
    }
    if kind == CredentialKind::Secret {
        let long = match (credential.start_date_time, credential.end_date_time) {
            (Some(start), Some(end)) => end - start > LONG_LIVED_SECRET,
            // A secret with no end never expires: the longest-lived of all.
            (_, None) => true,
            (None, Some(end)) => end - now > LONG_LIVED_SECRET,
        };
        if long {
            issues.push(CredentialIssue::LongLivedSecret);
        }
    }
    issues
}

/// Everything read about one app or agent identity.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct IdentityPosture {
    /// The app id asked about.
    pub app_id: String,
    /// Its service principal in this tenant.
    pub service_principal: ServicePrincipal,
    /// Application permissions, resolved to names.
    pub application_permissions: Vec<ApplicationPermission>,
    /// Delegated grants.
    pub delegated_permissions: Vec<DelegatedPermissions>,
    /// Whether the app registration is in this tenant. When it is not (an app registered
    /// in another tenant), credentials and owners are not visible here.
    pub application_found: bool,
    /// The app registration's credentials with their issues.
    pub credentials: Vec<CredentialReport>,
    /// The app registration's owners.
    pub owners: Vec<Owner>,
}

impl IdentityPosture {
    /// The app registration is in this tenant and has no owner: nobody answers for it.
    pub fn is_orphaned(&self) -> bool {
        self.application_found && self.owners.is_empty()
    }

    /// Every high-privilege permission, application and delegated, as
    /// `(permission name, why)`.
    pub fn high_privilege(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = self
            .application_permissions
            .iter()
            .filter_map(|p| Some((p.name.clone()?, p.high_privilege?)))
            .collect();
        for d in &self.delegated_permissions {
            for (s, why) in &d.scopes {
                if let Some(why) = why {
                    out.push((s.clone(), *why));
                }
            }
        }
        out
    }

    /// Whether any credential has the issue.
    pub fn has_credential_issue(&self, issue: CredentialIssue) -> bool {
        self.credentials.iter().any(|c| c.issues.contains(&issue))
    }
}

fn key(app_id: &str) -> Result<String, Error> {
    let t = app_id.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::invalid(format!(
            "`{t}` is not an app id: give the application (client) id, a GUID"
        )));
    }
    Ok(format!("'{t}'"))
}

fn not_found_is_none<T>(r: Result<T, Error>) -> Result<Option<T>, Error> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Puts what was read about one identity together: names the application permissions from
/// the resources' `appRoles`, classifies every permission and judges the credentials at `now`.
/// `resources` holds the resource service principals by object id (`None`: not readable).
#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    app_id: &str,
    sp: ServicePrincipal,
    assignments: Vec<AppRoleAssignment>,
    grants: Vec<OAuth2PermissionGrant>,
    application: Option<Application>,
    owners: Vec<Owner>,
    resources: &HashMap<String, Option<ServicePrincipal>>,
    now: OffsetDateTime,
) -> IdentityPosture {
    let resource = |id: &str| resources.get(id).and_then(Option::as_ref);
    let application_permissions = assignments
        .into_iter()
        .map(|a| {
            let r = resource(&a.resource_id);
            let name = if a.app_role_id == DEFAULT_ACCESS_ROLE_ID {
                None
            } else {
                r.and_then(|r| {
                    r.app_roles
                        .iter()
                        .find(|role| role.id.eq_ignore_ascii_case(&a.app_role_id))
                        .and_then(|role| role.value.clone())
                })
            };
            ApplicationPermission {
                resource: a
                    .resource_display_name
                    .clone()
                    .or_else(|| r.and_then(|r| r.display_name.clone()))
                    .unwrap_or_else(|| a.resource_id.clone()),
                high_privilege: name.as_deref().and_then(classify_permission),
                resource_id: a.resource_id,
                app_role_id: a.app_role_id,
                name,
            }
        })
        .collect();
    let delegated_permissions = grants
        .into_iter()
        .map(|g| DelegatedPermissions {
            resource: resource(&g.resource_id).and_then(|r| r.display_name.clone()),
            scopes: g
                .scopes()
                .into_iter()
                .map(|s| (s.to_owned(), classify_permission(s)))
                .collect(),
            resource_id: g.resource_id,
            consent_type: g.consent_type,
            principal_id: g.principal_id,
        })
        .collect();
    let mut credentials = Vec::new();
    if let Some(app) = &application {
        for (kind, list) in [
            (CredentialKind::Secret, &app.password_credentials),
            (CredentialKind::Certificate, &app.key_credentials),
        ] {
            for c in list {
                credentials.push(CredentialReport {
                    kind,
                    issues: credential_issues(kind, c, now),
                    credential: c.clone(),
                });
            }
        }
    }
    IdentityPosture {
        app_id: app_id.trim().to_owned(),
        service_principal: sp,
        application_permissions,
        delegated_permissions,
        application_found: application.is_some(),
        credentials,
        owners,
    }
}

/// The quoted key of an app id in `servicePrincipals(appId=...)`, checked.
pub(crate) fn app_id_key(app_id: &str) -> Result<String, Error> {
    key(app_id)
}

impl GraphClient {
    /// The service principal of an app in this tenant
    /// (`GET /servicePrincipals(appId='{appId}')`); `None` when there is none.
    pub async fn service_principal_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<ServicePrincipal>, Error> {
        let url = self.url(&format!("servicePrincipals(appId={})", key(app_id)?))?;
        not_found_is_none(self.get_json(url).await)
    }

    /// A service principal by object id; `None` when there is none.
    pub async fn service_principal(&self, id: &str) -> Result<Option<ServicePrincipal>, Error> {
        if id.trim().is_empty() {
            return Err(Error::invalid("the service principal id is empty"));
        }
        let url = self.url(&format!("servicePrincipals/{}", encode_segment(id)))?;
        not_found_is_none(self.get_json(url).await)
    }

    /// The application permissions a service principal holds
    /// (`GET /servicePrincipals/{id}/appRoleAssignments`), lazily paged.
    pub fn app_role_assignments(
        &self,
        service_principal_id: &str,
    ) -> ItemStream<AppRoleAssignment> {
        match self.url(&format!(
            "servicePrincipals/{}/appRoleAssignments",
            encode_segment(service_principal_id)
        )) {
            Ok(u) => self.pages(CollectionRequest::new(u)).items(),
            Err(e) => crate::paging::failed(e).items(),
        }
    }

    /// The delegated grants of a client service principal
    /// (`GET /oauth2PermissionGrants?$filter=clientId eq '{id}'`), lazily paged.
    pub fn oauth2_permission_grants(
        &self,
        client_service_principal_id: &str,
    ) -> ItemStream<OAuth2PermissionGrant> {
        let filter = format!("clientId eq {}", odata_string(client_service_principal_id));
        match self.url(&format!(
            "oauth2PermissionGrants?$filter={}",
            encode_query_value(&filter)
        )) {
            Ok(u) => self.pages(CollectionRequest::new(u)).items(),
            Err(e) => crate::paging::failed(e).items(),
        }
    }

    /// The app registration of an app id (`GET /applications(appId='{appId}')`); `None`
    /// when it is not registered in this tenant.
    pub async fn application_by_app_id(&self, app_id: &str) -> Result<Option<Application>, Error> {
        let url = self.url(&format!("applications(appId={})", key(app_id)?))?;
        not_found_is_none(self.get_json(url).await)
    }

    /// The owners of an app registration, by its object id
    /// (`GET /applications/{id}/owners`), lazily paged.
    pub fn application_owners(&self, application_id: &str) -> ItemStream<Owner> {
        match self.url(&format!(
            "applications/{}/owners",
            encode_segment(application_id)
        )) {
            Ok(u) => self.pages(CollectionRequest::new(u)).items(),
            Err(e) => crate::paging::failed(e).items(),
        }
    }

    /// Reads everything about one app or agent identity and classifies it at `now`.
    /// `None` when the app has no service principal in this tenant.
    ///
    /// Resource service principals are read once each. An app role the resource does not
    /// expose is kept with no name rather than dropped.
    pub async fn identity_posture(
        &self,
        app_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<IdentityPosture>, Error> {
        let Some(sp) = self.service_principal_by_app_id(app_id).await? else {
            return Ok(None);
        };
        let mut resources: HashMap<String, Option<ServicePrincipal>> = HashMap::new();
        let assignments: Vec<AppRoleAssignment> =
            self.app_role_assignments(&sp.id).try_collect().await?;
        let grants: Vec<OAuth2PermissionGrant> =
            self.oauth2_permission_grants(&sp.id).try_collect().await?;
        for id in assignments
            .iter()
            .map(|a| &a.resource_id)
            .chain(grants.iter().map(|g| &g.resource_id))
        {
            self.resource(&mut resources, id).await?;
        }
        let application = self.application_by_app_id(app_id).await?;
        let owners = match &application {
            Some(app) => self.application_owners(&app.id).try_collect().await?,
            None => Vec::new(),
        };
        Ok(Some(assemble(
            app_id,
            sp,
            assignments,
            grants,
            application,
            owners,
            &resources,
            now,
        )))
    }

    async fn resource<'a>(
        &self,
        cache: &'a mut HashMap<String, Option<ServicePrincipal>>,
        id: &str,
    ) -> Result<Option<&'a ServicePrincipal>, Error> {
        if !cache.contains_key(id) {
            let sp = if id.trim().is_empty() {
                None
            } else {
                self.service_principal(id).await?
            };
            cache.insert(id.to_owned(), sp);
        }
        Ok(cache.get(id).and_then(Option::as_ref))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_table_flags_broad_permissions_only() {
        for high in [
            "Directory.ReadWrite.All",
            "RoleManagement.ReadWrite.Directory",
            "AppRoleAssignment.ReadWrite.All",
            "Application.ReadWrite.All",
            "Mail.Send",
            "Files.ReadWrite.All",
            "Sites.FullControl.All",
            "User.ReadWrite.All",
            " user.readwrite.all ",
            "Tasks.FullControl.All",
        ] {
            assert!(classify_permission(high).is_some(), "{high}");
        }
        for low in [
            "User.Read",
            "User.Read.All",
            "Application.Read.All",
            "Sites.Read.All",
            "Files.Read",
            "openid",
            "offline_access",
            "",
        ] {
            assert!(classify_permission(low).is_none(), "{low}");
        }
    }

    #[test]
    fn credential_issues_at_the_boundaries() {
        let now = datetime!(2026-03-01 00:00 UTC);
        let cred = |start: Option<OffsetDateTime>, end: Option<OffsetDateTime>| AppCredential {
            start_date_time: start,
            end_date_time: end,
            ..AppCredential::default()
        };
        let c = cred(Some(datetime!(2025-06-01 00:00 UTC)), Some(now));
        assert_eq!(
            credential_issues(CredentialKind::Certificate, &c, now),
            vec![CredentialIssue::Expired]
        );
        let c = cred(
            Some(datetime!(2026-01-01 00:00 UTC)),
            Some(now + time::Duration::days(30)),
        );
        assert_eq!(
            credential_issues(CredentialKind::Secret, &c, now),
            vec![CredentialIssue::ExpiringSoon]
        );
        let c = cred(
            Some(datetime!(2026-01-01 00:00 UTC)),
            Some(now + time::Duration::days(31)),
        );
        assert!(credential_issues(CredentialKind::Secret, &c, now).is_empty());
        // Exactly one year is not "more than a year".
        let c = cred(
            Some(datetime!(2026-01-01 00:00 UTC)),
            Some(datetime!(2026-01-01 00:00 UTC) + time::Duration::days(365)),
        );
        assert!(credential_issues(CredentialKind::Secret, &c, now).is_empty());
        let c = cred(
            Some(datetime!(2026-01-01 00:00 UTC)),
            Some(datetime!(2028-01-01 00:00 UTC)),
        );
        assert_eq!(
            credential_issues(CredentialKind::Secret, &c, now),
            vec![CredentialIssue::LongLivedSecret]
        );
        assert!(credential_issues(CredentialKind::Certificate, &c, now).is_empty());
        let c = cred(None, None);
        assert_eq!(
            credential_issues(CredentialKind::Secret, &c, now),
            vec![CredentialIssue::NoExpiry, CredentialIssue::LongLivedSecret]
        );
    }

    #[test]
    fn grants_split_scopes_and_keep_unknown_consent_types() {
        let g: OAuth2PermissionGrant = serde_json::from_value(serde_json::json!({
            "id": "g", "clientId": "c", "consentType": "Principal", "principalId": "u",
            "resourceId": "r", "scope": " User.Read  Mail.Send "}))
        .unwrap();
        assert_eq!(g.scopes(), ["User.Read", "Mail.Send"]);
        assert_eq!(g.consent_type, ConsentType::Principal);
        assert_eq!(
            ConsentType::from("Tenant".to_owned()),
            ConsentType::Other("Tenant".into())
        );
    }
}
