//! Licences and users: which users hold a Microsoft 365 Copilot licence.

use crate::client::encode_segment;
use crate::paging::CollectionRequest;
use crate::{BatchRequest, Error, GraphClient, ItemStream};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;

/// The `skuPartNumber`s treated as a Microsoft 365 Copilot licence unless configured
/// otherwise. Tenants on other offers (education, government bundles) name theirs in
/// [`GraphClient::copilot_users`].
pub const DEFAULT_COPILOT_SKU_PART_NUMBERS: &[&str] = &["Microsoft_365_Copilot"];

/// The properties read for each user.
const USER_SELECT: &str = "id,displayName,userPrincipalName,mail,accountEnabled,assignedLicenses";

/// A licence the tenant has bought (`subscribedSku`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SubscribedSku {
    /// `skuId` (a GUID).
    pub sku_id: String,
    /// `skuPartNumber`, e.g. `Microsoft_365_Copilot`.
    #[serde(default)]
    pub sku_part_number: String,
    /// `consumedUnits`: licences assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_units: Option<i64>,
    /// `capabilityStatus`: `Enabled`, `Warning`, `Suspended`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_status: Option<String>,
    /// `appliesTo`: `User` or `Company`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<String>,
    /// Other fields (`prepaidUnits`, `servicePlans`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A licence assigned to a user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AssignedLicense {
    /// `skuId`.
    #[serde(default)]
    pub sku_id: String,
    /// `disabledPlans`.
    #[serde(default)]
    pub disabled_plans: Vec<String>,
}

/// A user (the properties this crate selects; others are kept in `extra`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The Entra object id.
    pub id: String,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `userPrincipalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// `mail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<String>,
    /// `accountEnabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// `assignedLicenses`.
    #[serde(default)]
    pub assigned_licenses: Vec<AssignedLicense>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Whether `s` is a GUID (so it can go into a filter unquoted).
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl GraphClient {
    /// The licences the tenant has bought (`GET /subscribedSkus`); needs a permission that
    /// reads the organisation, such as `Organization.Read.All` or `Directory.Read.All`.
    pub async fn subscribed_skus(&self) -> Result<Vec<SubscribedSku>, Error> {
        let url = self.url("subscribedSkus")?;
        self.pages::<SubscribedSku>(CollectionRequest::new(url))
            .items()
            .try_collect()
            .await
    }

    /// The subscribed SKUs whose `skuPartNumber` is one of `part_numbers` (case-insensitive).
    pub async fn skus_by_part_number(
        &self,
        part_numbers: &[impl AsRef<str>],
    ) -> Result<Vec<SubscribedSku>, Error> {
        let skus = self.subscribed_skus().await?;
        Ok(skus
            .into_iter()
            .filter(|s| {
                part_numbers
                    .iter()
                    .any(|p| p.as_ref().eq_ignore_ascii_case(&s.sku_part_number))
            })
            .collect())
    }

    /// A lazy stream of the users holding the licence `sku_id`
    /// (`$filter=assignedLicenses/any(x:x/skuId eq {id})`, an advanced query: sent with
    /// `$count=true` and `ConsistencyLevel: eventual`); needs `User.Read.All`.
    pub fn users_with_license(&self, sku_id: &str) -> ItemStream<User> {
        let request = (|| {
            if !is_guid(sku_id) {
                return Err(Error::invalid(format!(
                    "SKU id `{sku_id}` is not a GUID: take skuId from subscribedSkus"
                )));
            }
            let url = self.url(&format!(
                "users?$filter=assignedLicenses/any(x:x/skuId%20eq%20{sku_id})&$count=true&$select={USER_SELECT}&$top=999"
            ))?;
            Ok(CollectionRequest::new(url).eventual_consistency())
        })();
        match request {
            Ok(r) => self.pages(r).items(),
            Err(e) => crate::paging::failed(e).items(),
        }
    }

    /// Every user holding a Microsoft 365 Copilot licence: the subscribed SKUs whose part
    /// number is in `part_numbers` ([`DEFAULT_COPILOT_SKU_PART_NUMBERS`] if empty), then the
    /// users assigned any of them, each user once, in the order first seen.
    pub async fn copilot_users(&self, part_numbers: &[String]) -> Result<Vec<User>, Error> {
        let defaults: Vec<String> = DEFAULT_COPILOT_SKU_PART_NUMBERS
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let wanted = if part_numbers.is_empty() {
            &defaults
        } else {
            part_numbers
        };
        let skus = self.skus_by_part_number(wanted).await?;
        let mut seen = HashSet::new();
        let mut users = Vec::new();
        for sku in skus {
            let mut stream = self.users_with_license(&sku.sku_id);
            while let Some(u) = stream.try_next().await? {
                if seen.insert(u.id.clone()) {
                    users.push(u);
                }
            }
        }
        Ok(users)
    }

    /// One user by object id or UPN.
    pub async fn user(&self, id: &str) -> Result<User, Error> {
        if id.trim().is_empty() {
            return Err(Error::invalid("the user id is empty"));
        }
        let url = self.url(&format!(
            "users/{}?$select={USER_SELECT}",
            encode_segment(id)
        ))?;
        self.get_json(url).await
    }

    /// Several users by object id or UPN, read with JSON batches of 20. A user that does not
    /// exist (404) is `None`; other failures fail the call.
    pub async fn users_by_id(&self, ids: &[String]) -> Result<Vec<Option<User>>, Error> {
        let requests = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                BatchRequest::get(
                    i.to_string(),
                    format!("/users/{}?$select={USER_SELECT}", encode_segment(id)),
                )
            })
            .collect();
        self.batch(requests)
            .await?
            .into_iter()
            .map(|r| match r.status {
                404 => Ok(None),
                _ => r.json::<User>().map(Some),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("639dec6b-bb19-468b-871c-c5c441c4b0cb"));
        assert!(!is_guid("639dec6b-bb19-468b-871c-c5c441c4b0c"));
        assert!(!is_guid("639dec6b-bb19-468b-871c-c5c441c4b0cb) or true"));
        assert!(!is_guid(""));
    }
}
