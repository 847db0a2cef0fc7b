//! The admin list of environments (`scopes/admin/environments`), typed, with each
//! environment's Dataverse URL.

use crate::client::ArgClient;
use crate::error::{Api, Error};
use crate::paging::{RowStream, decode_rows};
use crate::rows::{EnvironmentSku, null_default, opt_bool, opt_datetime};
use client_core::Request;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use time::OffsetDateTime;
use url::Url;

/// An environment as the admin list describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct Environment {
    /// The environment id (`Default-<tenant id>` for the default environment, else a GUID).
    pub name: String,
    /// The full resource id.
    #[serde(default)]
    pub id: Option<String>,
    /// The region (`unitedstates`, `europe`, ...).
    #[serde(default)]
    pub location: Option<String>,
    /// The environment's properties.
    #[serde(default, deserialize_with = "null_default")]
    pub properties: EnvironmentProperties,
    /// Top-level fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `properties` of an [`Environment`].
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnvironmentProperties {
    /// The display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Production, Sandbox, Developer, Trial, Default or Teams.
    #[serde(default)]
    pub environment_sku: Option<EnvironmentSku>,
    /// Whether this is the tenant's default environment.
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_default: Option<bool>,
    /// The Azure region.
    #[serde(default)]
    pub azure_region: Option<String>,
    /// When it was created.
    #[serde(default, deserialize_with = "opt_datetime")]
    pub created_time: Option<OffsetDateTime>,
    /// Its lifecycle states.
    #[serde(default)]
    pub states: Option<EnvironmentStates>,
    /// Its Dataverse instance, when it has one.
    #[serde(default)]
    pub linked_environment_metadata: Option<LinkedEnvironmentMetadata>,
    /// Properties this version does not know (and those asked for with `$expand`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `states` of an environment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[non_exhaustive]
pub struct EnvironmentStates {
    /// The management state (`Ready`, `NotSpecified`, ...).
    #[serde(default)]
    pub management: Option<State>,
    /// The runtime state (`Enabled`, `Disabled`, ...).
    #[serde(default)]
    pub runtime: Option<State>,
    /// Other states.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One state: `{"id": "Enabled", ...}`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[non_exhaustive]
pub struct State {
    /// The state's id.
    #[serde(default)]
    pub id: Option<String>,
    /// Anything else (reasons, requested by ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The Dataverse instance linked to an environment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LinkedEnvironmentMetadata {
    /// The instance URL, `https://org.crm.dynamics.com/`.
    #[serde(default)]
    pub instance_url: Option<String>,
    /// The Web API URL, `https://org.api.crm.dynamics.com`.
    #[serde(default)]
    pub instance_api_url: Option<String>,
    /// The organisation's unique name.
    #[serde(default)]
    pub unique_name: Option<String>,
    /// The domain name (`org`).
    #[serde(default)]
    pub domain_name: Option<String>,
    /// The Dataverse version.
    #[serde(default)]
    pub version: Option<String>,
    /// The organisation id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// The friendly name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// The instance state (`Ready`, ...).
    #[serde(default)]
    pub instance_state: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Environment {
    /// The environment's Dataverse URL (`instanceUrl`, normalised to `https://org.crm.dynamics.com/`),
    /// or `None` for an environment without Dataverse. An instance URL that is not a valid
    /// https (or loopback) URL is an error, so it is never silently skipped.
    ///
    /// `instanceUrl` is the URL Dataverse's own documents use; when the list gives only
    /// `instanceApiUrl` (`https://org.api.crm.dynamics.com`), that one is used, as the Web API
    /// answers on both hosts.
    pub fn dataverse_url(&self) -> Result<Option<Url>, Error> {
        fn present(u: Option<&String>) -> Option<&str> {
            u.map(String::as_str).filter(|u| !u.trim().is_empty())
        }
        let meta = self.properties.linked_environment_metadata.as_ref();
        let Some(raw) = present(meta.and_then(|m| m.instance_url.as_ref()))
            .or_else(|| present(meta.and_then(|m| m.instance_api_url.as_ref())))
        else {
            return Ok(None);
        };
        let mut url = Url::parse(raw.trim()).map_err(|e| {
            Error::decode(
                format!("the instance URL of environment {}", self.name),
                format!("`{raw}` is not a URL: {e}"),
            )
        })?;
        client_core::check_url(&url).map_err(|e| {
            Error::decode(format!("the instance URL of environment {}", self.name), e)
        })?;
        url.set_path("/");
        url.set_query(None);
        url.set_fragment(None);
        Ok(Some(url))
    }

    /// Why the environment cannot be read now although it is listed, if so: its runtime
    /// state is not enabled (`states.runtime.id` `Disabled`, e.g. an expired trial or an
    /// admin's doing) or it is being deleted (`states.management.id` `Deleting`, `Deleted`,
    /// `SoftDeleted`). A scan reports such an environment as not read, not as failed.
    ///
    /// ```
    /// let env: arg_client::Environment = serde_json::from_value(serde_json::json!({
    ///     "name": "e1",
    ///     "properties": {"states": {"management": {"id": "Ready"}, "runtime": {"id": "Disabled"}}}
    /// })).unwrap();
    /// assert!(env.unavailable_reason().unwrap().contains("Disabled"));
    /// ```
    pub fn unavailable_reason(&self) -> Option<String> {
        let states = self.properties.states.as_ref()?;
        let id = |s: &Option<State>| s.as_ref().and_then(|s| s.id.clone());
        if let Some(runtime) = id(&states.runtime)
            && runtime.eq_ignore_ascii_case("disabled")
        {
            return Some(format!(
                "the environment is disabled (states.runtime.id {runtime}); enable it in the admin center to scan it"
            ));
        }
        if let Some(management) = id(&states.management)
            && management.to_ascii_lowercase().contains("delet")
        {
            return Some(format!(
                "the environment is being deleted or was deleted (states.management.id {management})"
            ));
        }
        None
    }

    /// The display name, else the id.
    pub fn display_name(&self) -> &str {
        self.properties
            .display_name
            .as_deref()
            .unwrap_or(&self.name)
    }

    /// Whether this is the tenant's default environment.
    pub fn is_default(&self) -> bool {
        self.properties.is_default == Some(true)
            || self.properties.environment_sku == Some(EnvironmentSku::Default)
    }

    /// The SKU.
    pub fn sku(&self) -> Option<&EnvironmentSku> {
        self.properties.environment_sku.as_ref()
    }
}

/// Options of the admin environment list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentListOptions {
    expand: Vec<String>,
}

impl EnvironmentListOptions {
    /// Asks the service to include more properties (`$expand`), e.g.
    /// `properties.capacity`, `properties.addons`; they land in
    /// [`EnvironmentProperties::extra`].
    pub fn expand(mut self, property: &str) -> Self {
        self.expand.push(property.to_owned());
        self
    }
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "nextLink", alias = "@odata.nextLink", default)]
    next_link: Option<String>,
}

impl ArgClient {
    /// Every environment of the tenant from the admin list, following `nextLink`. Works in
    /// every cloud (the admin list exists where the inventory does not).
    pub fn environments(&self) -> RowStream<Environment> {
        self.environments_with(&EnvironmentListOptions::default())
    }

    /// [`environments`](Self::environments) with options (`$expand`).
    pub fn environments_with(&self, options: &EnvironmentListOptions) -> RowStream<Environment> {
        let mut first = self.inner.environments_url.clone();
        let bad = options.expand.iter().find(|e| {
            e.is_empty()
                || !e
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        });
        let first = match bad {
            Some(e) => Err(Error::invalid(format!(
                "`{}` cannot be expanded: give a property path such as properties.capacity",
                e.escape_debug()
            ))),
            None => {
                if !options.expand.is_empty() {
                    first
                        .query_pairs_mut()
                        .append_pair("$expand", &options.expand.join(","));
                }
                Ok(first)
            }
        };
        struct State {
            client: ArgClient,
            next: Option<Result<Url, Error>>,
            seen: HashSet<String>,
        }
        let state = State {
            client: self.clone(),
            next: Some(first),
            seen: HashSet::new(),
        };
        let pages = stream::try_unfold(state, |mut st| async move {
            let Some(next) = st.next.take() else {
                return Ok(None);
            };
            let url = next?;
            if !st.seen.insert(url.as_str().to_owned()) {
                return Err(Error::paging_loop(Api::AdminEnvironments));
            }
            let resp = st
                .client
                .send(Api::AdminEnvironments, Request::get(url))
                .await?;
            let body: ListBody = resp.json_as(&Api::AdminEnvironments)?;
            let rows: Vec<Environment> = decode_rows(Api::AdminEnvironments, body.value)?;
            st.next = match body.next_link.filter(|l| !l.is_empty()) {
                Some(link) => Some(Ok(st.client.resolve_admin_link(&link)?)),
                None => None,
            };
            Ok(Some((rows, st)))
        });
        RowStream::from_boxed(
            pages
                .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
                .try_flatten()
                .boxed(),
        )
    }

    /// Resolves a `nextLink`, refusing one that leaves the admin API's host (the token would
    /// go with it).
    fn resolve_admin_link(&self, link: &str) -> Result<Url, Error> {
        let base = &self.inner.environments_url;
        let url = base
            .join(link)
            .map_err(|e| Error::decode("nextLink", format!("`{link}` is not a URL: {e}")))?;
        if url.scheme() != base.scheme()
            || url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
        {
            return Err(Error::decode(
                "nextLink",
                format!(
                    "it points to {}, outside {}; not followed so the token is not sent there",
                    url.origin().ascii_serialization(),
                    base.origin().ascii_serialization()
                ),
            ));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_properties_read_as_empty_not_as_an_error() {
        // Some services send `"properties": null` (an environment being provisioned, a row
        // with nothing to say): it is an environment without a Dataverse URL, not a bad page.
        let e: Environment =
            serde_json::from_value(json!({"name": "e6", "properties": null})).unwrap();
        assert_eq!(e.properties, EnvironmentProperties::default());
        assert_eq!(e.dataverse_url().unwrap(), None);
        assert_eq!(e.display_name(), "e6");
        // A wrong type is still an error, not silently empty.
        assert!(
            serde_json::from_value::<Environment>(json!({"name": "e7", "properties": 3})).is_err()
        );
    }

    #[test]
    fn environments_are_typed_with_their_dataverse_url() {
        let e: Environment = serde_json::from_value(json!({
            "id": "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/e1",
            "name": "e1", "location": "europe", "type": "Microsoft.BusinessAppPlatform/scopes/environments",
            "properties": {
                "displayName": "Contoso (default)", "environmentSku": "Default", "isDefault": true,
                "azureRegion": "westeurope", "createdTime": "2024-05-01T10:00:00.123Z",
                "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
                "linkedEnvironmentMetadata": {"instanceUrl": "https://contoso.crm4.dynamics.com/",
                    "instanceApiUrl": "https://contoso.api.crm4.dynamics.com", "uniqueName": "unq1",
                    "domainName": "contoso", "version": "9.2.25", "resourceId": "org-1"},
                "capacity": [{"capacityType": "Database"}]
            }
        }))
        .unwrap();
        assert!(e.is_default());
        assert_eq!(e.sku(), Some(&EnvironmentSku::Default));
        assert_eq!(
            e.dataverse_url().unwrap().unwrap().as_str(),
            "https://contoso.crm4.dynamics.com/"
        );
        assert_eq!(
            e.properties
                .states
                .as_ref()
                .unwrap()
                .runtime
                .as_ref()
                .unwrap()
                .id
                .as_deref(),
            Some("Enabled")
        );
        assert!(e.properties.extra.contains_key("capacity"));
        assert_eq!(
            e.extra["type"],
            "Microsoft.BusinessAppPlatform/scopes/environments"
        );

        let none: Environment = serde_json::from_value(
            json!({"name": "e2", "properties": {"environmentSku": "Teams"}}),
        )
        .unwrap();
        assert_eq!(none.dataverse_url().unwrap(), None);
        let bad: Environment = serde_json::from_value(json!({"name": "e3",
            "properties": {"linkedEnvironmentMetadata": {"instanceUrl": "http://evil.example.com"}}}))
        .unwrap();
        assert!(bad.dataverse_url().is_err());
        assert_eq!(e.unavailable_reason(), None);

        // Only the Web API URL: it is the Dataverse URL. Disabled or deleted: unavailable.
        let api_only: Environment = serde_json::from_value(json!({"name": "e4",
            "properties": {"states": {"management": {"id": "NotSpecified"}, "runtime": {"id": "Disabled", "runtimeReasonCode": "AdminDisabled"}},
                "linkedEnvironmentMetadata": {"instanceApiUrl": "https://org4.api.crm.dynamics.com"}}}))
        .unwrap();
        assert_eq!(
            api_only.dataverse_url().unwrap().unwrap().as_str(),
            "https://org4.api.crm.dynamics.com/"
        );
        assert!(api_only.unavailable_reason().unwrap().contains("disabled"));
        let deleting: Environment = serde_json::from_value(
            json!({"name": "e5", "properties": {"states": {"management": {"id": "SoftDeleted"}}}}),
        )
        .unwrap();
        assert!(
            deleting
                .unavailable_reason()
                .unwrap()
                .contains("SoftDeleted")
        );
    }
}
