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

/// The `skuId` of the `Microsoft_365_Copilot` licence (the same in every tenant). Used when
/// `subscribedSkus` cannot be read: its least privileged application permission is
/// `LicenseAssignment.Read.All`, which `User.Read.All` does not include.
pub const MICROSOFT_365_COPILOT_SKU_ID: &str = "639dec6b-bb19-468b-871c-c5c441c4b0cb";

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

/// How [`GraphClient::copilot_users_with_source`] found the licences' `skuId`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkuSource {
    /// Every licence was given as a `skuId`: `subscribedSkus` was not read.
    Given,
    /// Part numbers were looked up in `subscribedSkus`.
    SubscribedSkus,
    /// `subscribedSkus` was refused (403), so only the well-known
    /// [`MICROSOFT_365_COPILOT_SKU_ID`] was used: other Copilot offers are not found.
    WellKnown,
}

impl GraphClient {
    /// The licences the tenant has bought (`GET /subscribedSkus`); needs
    /// `LicenseAssignment.Read.All` (least privileged) or a broader permission that reads the
    /// organisation (`Organization.Read.All`, `Directory.Read.All`); `User.Read.All` is not
    /// enough.
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

    /// Every user holding a Microsoft 365 Copilot licence, each user once, in the order first
    /// seen. `skus` names the licences: an entry that is a GUID is a `skuId` and is used as it
    /// is; any other entry is a `skuPartNumber`, looked up in [`subscribed_skus`](Self::subscribed_skus).
    /// With `skus` empty the default part numbers ([`DEFAULT_COPILOT_SKU_PART_NUMBERS`]) are
    /// looked up; if the app may not read `subscribedSkus` (403) the well-known
    /// [`MICROSOFT_365_COPILOT_SKU_ID`] is used instead, so `User.Read.All` alone suffices for
    /// the standard licence. Part numbers the caller named are never guessed: a 403 then fails.
    pub async fn copilot_users(&self, skus: &[String]) -> Result<Vec<User>, Error> {
        Ok(self.copilot_users_with_source(skus).await?.0)
    }

    /// [`copilot_users`](Self::copilot_users), and how the licences were found.
    pub async fn copilot_users_with_source(
        &self,
        skus: &[String],
    ) -> Result<(Vec<User>, SkuSource), Error> {
        let (mut ids, parts): (Vec<String>, Vec<String>) = skus
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .partition(|s| is_guid(s));
        let source = if parts.is_empty() && !ids.is_empty() {
            SkuSource::Given
        } else {
            let defaulted = parts.is_empty();
            let wanted: Vec<String> = if defaulted {
                DEFAULT_COPILOT_SKU_PART_NUMBERS
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            } else {
                parts
            };
            match self.skus_by_part_number(&wanted).await {
                Ok(found) => {
                    ids.extend(found.into_iter().map(|s| s.sku_id));
                    SkuSource::SubscribedSkus
                }
                Err(e) if defaulted && e.is_forbidden() => {
                    tracing::warn!(
                        "subscribedSkus is not readable (grant LicenseAssignment.Read.All to look up every Copilot licence by part number); using the Microsoft_365_Copilot skuId"
                    );
                    ids.push(MICROSOFT_365_COPILOT_SKU_ID.to_owned());
                    SkuSource::WellKnown
                }
                Err(e) => return Err(e),
            }
        };
        let mut seen_skus = HashSet::new();
        let mut seen = HashSet::new();
        let mut users = Vec::new();
        for sku_id in ids {
            if !seen_skus.insert(sku_id.to_ascii_lowercase()) {
                continue;
            }
            let mut stream = self.users_with_license(&sku_id);
            while let Some(u) = stream.try_next().await? {
                if seen.insert(u.id.clone()) {
                    users.push(u);
                }
            }
        }
        Ok((users, source))
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
