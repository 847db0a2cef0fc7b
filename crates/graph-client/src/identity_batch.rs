//! Identity posture of many identities at once, through JSON batches.
//!
//! [`GraphClient::identity_posture`] reads one identity with five or more requests in a row.
//! For a tenant's agents that is thousands of requests, so [`GraphClient::identity_postures`]
//! sends the same reads as `$batch` requests of up to 20, in three rounds (the service
//! principals; their assignments, grants and app registrations; the owners and the resources
//! not seen yet), several batches at once. Each resource service principal (Microsoft Graph's,
//! with its `appRoles`) is read once per call, not once per identity. A collection longer
//! than one page is followed with ordinary paged reads.

use crate::batch::{BatchRequest, BatchResponse, MAX_BATCH_REQUESTS};
use crate::client::{encode_query_value, encode_segment, odata_string};
use crate::identity::{app_id_key, assemble};
use crate::paging::CollectionRequest;
use crate::{
    AppRoleAssignment, Application, Error, GraphClient, IdentityPosture, OAuth2PermissionGrant,
    Owner, ServicePrincipal,
};
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use time::OffsetDateTime;

/// How an identity is named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdentityKey {
    /// The application (client) id.
    AppId(String),
    /// The service principal's object id (e.g. an agent identity id).
    ServicePrincipal(String),
}

impl IdentityKey {
    fn path(&self) -> Result<String, Error> {
        match self {
            IdentityKey::AppId(a) => Ok(format!("/servicePrincipals(appId={})", app_id_key(a)?)),
            IdentityKey::ServicePrincipal(id) if id.trim().is_empty() => {
                Err(Error::invalid("the service principal id is empty"))
            }
            IdentityKey::ServicePrincipal(id) => {
                Ok(format!("/servicePrincipals/{}", encode_segment(id.trim())))
            }
        }
    }
}

/// One read of the rounds: a batch request id and its path.
type Read = (String, String);

impl GraphClient {
    /// [`identity_posture`](Self::identity_posture) for each of `keys`, through JSON batches,
    /// with at most `concurrency` batches in flight. One result per key, in order: `Ok(None)`
    /// when the identity has no service principal in this tenant, `Err` when one of its reads
    /// failed (others are not affected).
    ///
    /// # Errors
    /// The outer error is a `$batch` request that failed as a whole (sign-in, network, or a
    /// refusal of the batch itself): nothing could be read.
    pub async fn identity_postures(
        &self,
        keys: &[IdentityKey],
        now: OffsetDateTime,
        concurrency: usize,
    ) -> Result<Vec<Result<Option<IdentityPosture>, Error>>, Error> {
        let n = keys.len();
        let mut out: Vec<Option<Result<Option<IdentityPosture>, Error>>> =
            (0..n).map(|_| None).collect();

        // Round 1: the service principals.
        let mut reads = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            match k.path() {
                Ok(p) => reads.push((format!("sp{i}"), p)),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        let mut answers = self.batched(reads, concurrency).await?;
        let mut sps: Vec<Option<ServicePrincipal>> = (0..n).map(|_| None).collect();
        for i in 0..n {
            let Some(a) = answers.remove(&format!("sp{i}")) else {
                continue;
            };
            match a.error("reading a service principal") {
                Some(e) if e.is_not_found() => out[i] = Some(Ok(None)),
                Some(e) => out[i] = Some(Err(e)),
                None => match a.json::<ServicePrincipal>() {
                    Ok(sp) => sps[i] = Some(sp),
                    Err(e) => out[i] = Some(Err(e)),
                },
            }
        }

        // Round 2: assignments, delegated grants and the app registration of each.
        let mut reads = Vec::new();
        for (i, sp) in sps.iter().enumerate() {
            let Some(sp) = sp else { continue };
            let id = encode_segment(&sp.id);
            reads.push((
                format!("ra{i}"),
                format!("/servicePrincipals/{id}/appRoleAssignments"),
            ));
            let filter = format!("clientId eq {}", odata_string(&sp.id));
            reads.push((
                format!("gr{i}"),
                format!(
                    "/oauth2PermissionGrants?$filter={}",
                    encode_query_value(&filter)
                ),
            ));
            // A service principal without a usable app id has no app registration here.
            if let Ok(k) = app_id_key(&sp.app_id) {
                reads.push((format!("ap{i}"), format!("/applications(appId={k})")));
            }
        }
        let mut answers = self.batched(reads, concurrency).await?;
        let mut parts: HashMap<usize, (Vec<AppRoleAssignment>, Vec<OAuth2PermissionGrant>)> =
            HashMap::new();
        let mut apps: HashMap<usize, Application> = HashMap::new();
        for (i, sp) in sps.iter().enumerate() {
            if sp.is_none() {
                continue;
            }
            let read = async {
                let ra = self
                    .collection::<AppRoleAssignment>(answers.remove(&format!("ra{i}")))
                    .await?;
                let gr = self
                    .collection::<OAuth2PermissionGrant>(answers.remove(&format!("gr{i}")))
                    .await?;
                let app = match answers.remove(&format!("ap{i}")) {
                    None => None,
                    Some(a) => match a.error("reading an application") {
                        Some(e) if e.is_not_found() => None,
                        Some(e) => return Err(e),
                        None => Some(a.json::<Application>()?),
                    },
                };
                Ok::<_, Error>((ra, gr, app))
            };
            match read.await {
                Ok((ra, gr, app)) => {
                    parts.insert(i, (ra, gr));
                    if let Some(app) = app {
                        apps.insert(i, app);
                    }
                }
                Err(e) => out[i] = Some(Err(e)),
            }
        }

        // Round 3: owners, and each resource service principal once.
        let mut reads: Vec<Read> = Vec::new();
        for (i, app) in &apps {
            reads.push((
                format!("ow{i}"),
                format!("/applications/{}/owners", encode_segment(&app.id)),
            ));
        }
        let mut resource_ids: Vec<String> = parts
            .values()
            .flat_map(|(ra, gr)| {
                ra.iter()
                    .map(|a| a.resource_id.clone())
                    .chain(gr.iter().map(|g| g.resource_id.clone()))
            })
            .filter(|id| !id.trim().is_empty())
            .collect();
        resource_ids.sort();
        resource_ids.dedup();
        for (r, id) in resource_ids.iter().enumerate() {
            reads.push((
                format!("rs{r}"),
                format!("/servicePrincipals/{}", encode_segment(id)),
            ));
        }
        let mut answers = self.batched(reads, concurrency).await?;
        let mut resources: HashMap<String, Option<ServicePrincipal>> = HashMap::new();
        // Failed answers are kept, so that each identity using the resource gets its error.
        let mut resource_errors: HashMap<String, BatchResponse> = HashMap::new();
        for (r, id) in resource_ids.iter().enumerate() {
            let Some(a) = answers.remove(&format!("rs{r}")) else {
                continue;
            };
            match a.error("reading a resource service principal") {
                Some(e) if e.is_not_found() => {
                    resources.insert(id.clone(), None);
                }
                Some(_) => {
                    resource_errors.insert(id.clone(), a);
                }
                None => match a.json::<ServicePrincipal>() {
                    Ok(sp) => {
                        resources.insert(id.clone(), Some(sp));
                    }
                    Err(_) => {
                        resource_errors.insert(id.clone(), a);
                    }
                },
            }
        }
        for i in 0..n {
            if out[i].is_some() {
                continue;
            }
            let (Some(sp), Some((ra, gr))) = (sps[i].take(), parts.remove(&i)) else {
                continue;
            };
            // A resource that could not be read fails the identities that use it, as the
            // one-by-one read does.
            if let Some(e) = ra
                .iter()
                .map(|a| &a.resource_id)
                .chain(gr.iter().map(|g| &g.resource_id))
                .find_map(|id| resource_errors.get(id))
            {
                let e = e
                    .error("reading a resource service principal")
                    .or_else(|| e.json::<ServicePrincipal>().err())
                    .unwrap_or_else(|| Error::decode("a $batch response", "unreadable resource"));
                out[i] = Some(Err(e));
                continue;
            }
            let app = apps.remove(&i);
            let owners = match &app {
                Some(_) => match self
                    .collection::<Owner>(answers.remove(&format!("ow{i}")))
                    .await
                {
                    Ok(o) => o,
                    Err(e) => {
                        out[i] = Some(Err(e));
                        continue;
                    }
                },
                None => Vec::new(),
            };
            let app_id = match &keys[i] {
                IdentityKey::AppId(a) => a.clone(),
                IdentityKey::ServicePrincipal(_) => sp.app_id.clone(),
            };
            out[i] = Some(Ok(Some(assemble(
                &app_id, sp, ra, gr, app, owners, &resources, now,
            ))));
        }
        Ok(out
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::decode(
                        "a $batch response",
                        "an identity was left without an answer",
                    ))
                })
            })
            .collect())
    }

    /// Sends `reads` as batches of [`MAX_BATCH_REQUESTS`], `concurrency` at once; answers by id.
    async fn batched(
        &self,
        reads: Vec<Read>,
        concurrency: usize,
    ) -> Result<HashMap<String, BatchResponse>, Error> {
        let chunks: Vec<Vec<BatchRequest>> = reads
            .chunks(MAX_BATCH_REQUESTS)
            .map(|c| {
                c.iter()
                    .map(|(id, path)| BatchRequest::get(id.clone(), path.clone()))
                    .collect()
            })
            .collect();
        let answered: Vec<Vec<BatchResponse>> = futures::stream::iter(chunks)
            .map(|c| self.batch(c))
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(answered
            .into_iter()
            .flatten()
            .map(|a| (a.id.clone(), a))
            .collect())
    }

    /// The items of a collection answered in a batch, following `@odata.nextLink` with
    /// ordinary paged reads; an error answer is returned as the error.
    async fn collection<T: DeserializeOwned + Send + 'static>(
        &self,
        answer: Option<BatchResponse>,
    ) -> Result<Vec<T>, Error> {
        let Some(a) = answer else {
            return Err(Error::decode(
                "a $batch response",
                "a read was not answered",
            ));
        };
        if let Some(e) = a.error("reading a collection") {
            return Err(e);
        }
        #[derive(serde::Deserialize)]
        struct Collection<T> {
            #[serde(default = "Vec::new")]
            value: Vec<T>,
            #[serde(rename = "@odata.nextLink", default)]
            next: Option<String>,
        }
        let page: Collection<T> = a.json()?;
        let mut items = page.value;
        if let Some(next) = page.next {
            let url = self.resolve_link(&next)?;
            let rest: Vec<T> = self
                .pages(CollectionRequest::new(url))
                .items()
                .try_collect()
                .await?;
            items.extend(rest);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_paths_and_bad_ones_are_refused() {
        assert_eq!(
            IdentityKey::AppId("a-1".into()).path().unwrap_or_default(),
            "/servicePrincipals(appId='a-1')"
        );
        assert_eq!(
            IdentityKey::ServicePrincipal("s 1".into())
                .path()
                .unwrap_or_default(),
            "/servicePrincipals/s%201"
        );
        assert!(IdentityKey::AppId("x'; drop".into()).path().is_err());
        assert!(IdentityKey::ServicePrincipal(" ".into()).path().is_err());
    }
}
