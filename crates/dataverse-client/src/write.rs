//! Single-row operations: get, create, update, upsert, delete, associate, disassociate.

use crate::client::DataverseClient;
use crate::error::Mapper;
use crate::error::{SEGMENT_NOT_FOUND, code_value};
use crate::operation::Operation;
use crate::query::check_name;
use crate::{Error, Key};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// The precondition of an upsert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Condition {
    #[default]
    None,
    CreateOnly,
    UpdateOnly,
    IfMatch(String),
}

/// How [`DataverseClient::upsert`] behaves.
///
/// ```
/// use dataverse_client::UpsertOptions;
/// let create_only = UpsertOptions::new().create_only().return_row();
/// let optimistic = UpsertOptions::new().if_match("W/\"5539180\"");
/// # let _ = (create_only, optimistic);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpsertOptions {
    return_row: bool,
    condition: Condition,
}

impl UpsertOptions {
    /// Create or update, without returning the row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the row as stored (`Prefer: return=representation`); the status then tells
    /// created (201) from updated (200).
    pub fn return_row(mut self) -> Self {
        self.return_row = true;
        self
    }

    /// Only create (`If-None-Match: *`); an existing row fails with 412.
    pub fn create_only(mut self) -> Self {
        self.condition = Condition::CreateOnly;
        self
    }

    /// Only update (`If-Match: *`); a missing row fails with 404.
    pub fn update_only(mut self) -> Self {
        self.condition = Condition::UpdateOnly;
        self
    }

    /// Only update the row if it still has `etag` (`@odata.etag` of a previous read): a row
    /// changed since fails with 412 (optimistic concurrency).
    pub fn if_match(mut self, etag: impl Into<String>) -> Self {
        self.condition = Condition::IfMatch(etag.into());
        self
    }
}

impl UpsertOptions {
    /// Whether sending the upsert twice leaves the same row (plain and update-only upserts);
    /// create-only and ETag upserts would fail the second time.
    pub(crate) fn is_repeatable(&self) -> bool {
        matches!(self.condition, Condition::None | Condition::UpdateOnly)
    }

    /// The request headers these options add.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        match &self.condition {
            Condition::None => {}
            Condition::CreateOnly => h.push(("If-None-Match", "*".to_owned())),
            Condition::UpdateOnly => h.push(("If-Match", "*".to_owned())),
            Condition::IfMatch(etag) => h.push(("If-Match", etag.clone())),
        }
        if self.return_row {
            h.push(("Prefer", "return=representation".to_owned()));
        }
        h
    }
}

/// Whether an upsert created or updated the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertKind {
    /// A new row was created.
    Created,
    /// An existing row was updated.
    Updated,
    /// The service does not say which (a plain upsert without `return_row`: `204` either way).
    CreatedOrUpdated,
}

/// What an upsert did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UpsertOutcome {
    /// Created or updated.
    pub kind: UpsertKind,
    /// The row's primary id, when the service reported it (`OData-EntityId`).
    pub id: Option<Uuid>,
    /// The row as stored, with [`UpsertOptions::return_row`].
    pub row: Option<Value>,
    /// The row's new ETag, when the service sent one.
    pub etag: Option<String>,
}

/// The GUID in an `OData-EntityId` such as `https://org/api/data/v9.2/accounts(guid)`.
pub(crate) fn entity_id(header: &str) -> Option<Uuid> {
    let open = header.rfind('(')?;
    let inner = header[open + 1..].strip_suffix(')')?;
    Uuid::parse_str(inner).ok()
}

impl DataverseClient {
    /// Reads one row by primary id or alternate key, returning only `select` (all columns if
    /// empty). `None` when the row does not exist; an unknown entity set or column is an error.
    ///
    /// ```no_run
    /// use dataverse_client::Key;
    /// # async fn run(client: dataverse_client::DataverseClient, id: uuid::Uuid) -> Result<(), dataverse_client::Error> {
    /// let bot: Option<serde_json::Value> = client.get("bots", &Key::id(id), &["name", "schemaname"]).await?;
    /// match bot {
    ///     Some(b) => println!("{}", b["name"]),
    ///     None => println!("no such agent"),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get<T: DeserializeOwned>(
        &self,
        entity_set: &str,
        key: &Key,
        select: &[&str],
    ) -> Result<Option<T>, Error> {
        let mut req = self.request_for(&Operation::get(entity_set, key, select))?;
        if let Some(prefer) =
            crate::query::prefer_header(false, None, self.inner.annotations.as_deref())?
        {
            req = req.header("prefer", prefer);
        }
        match self.send(req).await {
            Ok(resp) => resp.json_as(&Mapper).map(Some),
            Err(e)
                if e.status() == Some(404)
                    && e.service_code().and_then(code_value) != Some(SEGMENT_NOT_FOUND) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Creates a row and returns its id (from `OData-EntityId`). Lookups are set with
    /// [`odata_bind`](crate::odata_bind) pairs in `body`.
    ///
    /// ```no_run
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let id = client.create("accounts", &serde_json::json!({"name": "Contoso"})).await?;
    /// println!("created {id}");
    /// # Ok(()) }
    /// ```
    pub async fn create(
        &self,
        entity_set: &str,
        body: &(impl Serialize + ?Sized),
    ) -> Result<Uuid, Error> {
        let req = self.request_for(&Operation::create(entity_set, body))?;
        let resp = self.send(req).await?;
        if let Some(id) = resp.header("odata-entityid").and_then(entity_id) {
            return Ok(id);
        }
        Err(Error::decode(
            format!("the answer to creating a row in {entity_set}"),
            "it has no OData-EntityId header with the new row's id",
        ))
    }

    /// Updates an existing row (`PATCH` with `If-Match: *`, so a missing row is a 404 error
    /// instead of a silent create).
    pub async fn update(
        &self,
        entity_set: &str,
        key: &Key,
        body: &(impl Serialize + ?Sized),
    ) -> Result<(), Error> {
        self.send(self.request_for(&Operation::update(entity_set, key, body))?)
            .await?;
        Ok(())
    }

    /// Creates or updates the row at `key` (`PATCH`), as `opts` says: plain upsert,
    /// create-only, update-only or optimistic concurrency with an ETag; optionally returning
    /// the stored row. Key columns must not be repeated in `body`.
    ///
    /// ```no_run
    /// use dataverse_client::{FilterValue, Key, UpsertKind, UpsertOptions};
    /// # async fn run(client: dataverse_client::DataverseClient) -> Result<(), dataverse_client::Error> {
    /// let key = Key::alternate([("name", "O'Brien".into()), ("region", FilterValue::from(2))]);
    /// let out = client
    ///     .upsert("accounts", &key, &serde_json::json!({"telephone1": "555"}), UpsertOptions::new().return_row())
    ///     .await?;
    /// assert!(matches!(out.kind, UpsertKind::Created | UpsertKind::Updated));
    /// # Ok(()) }
    /// ```
    pub async fn upsert(
        &self,
        entity_set: &str,
        key: &Key,
        body: &(impl Serialize + ?Sized),
        opts: UpsertOptions,
    ) -> Result<UpsertOutcome, Error> {
        let req = self.request_for(&Operation::upsert(entity_set, key, body, &opts))?;
        let resp = self.send(req).await?;
        let kind = match (resp.status().as_u16(), &opts.condition) {
            (201, _) | (_, Condition::CreateOnly) => UpsertKind::Created,
            (200, _) | (_, Condition::UpdateOnly | Condition::IfMatch(_)) => UpsertKind::Updated,
            _ => UpsertKind::CreatedOrUpdated,
        };
        let row = if opts.return_row && !resp.body().is_empty() {
            Some(resp.json_as::<Value, _>(&Mapper)?)
        } else {
            None
        };
        let etag = resp.header("etag").map(str::to_owned).or_else(|| {
            row.as_ref()
                .and_then(|r| r["@odata.etag"].as_str())
                .map(str::to_owned)
        });
        Ok(UpsertOutcome {
            kind,
            id: resp.header("odata-entityid").and_then(entity_id),
            row,
            etag,
        })
    }

    /// Deletes a row. A missing row is a 404 error ([`Error::status`]).
    pub async fn delete(&self, entity_set: &str, key: &Key) -> Result<(), Error> {
        self.send(self.request_for(&Operation::delete(entity_set, key))?)
            .await?;
        Ok(())
    }

    /// Links two rows through `navigation_property` (a collection-valued or single-valued
    /// navigation property of `entity_set`): `POST {set}({key})/{nav}/$ref`.
    pub async fn associate(
        &self,
        entity_set: &str,
        key: &Key,
        navigation_property: &str,
        target_set: &str,
        target_key: &Key,
    ) -> Result<(), Error> {
        check_name("navigation property", navigation_property)?;
        let url = self.url(&format!(
            "{}/{navigation_property}/$ref",
            key.path(entity_set)?
        ))?;
        let target = format!("{}{}", self.api_url(), target_key.path(target_set)?);
        let req = self
            .request(Method::POST, url)
            .json(&serde_json::json!({ "@odata.id": target }));
        self.send(req).await?;
        Ok(())
    }

    /// Removes a link: for a collection-valued navigation property pass the related row's id
    /// (`DELETE {set}({key})/{nav}({id})/$ref`); for a single-valued one pass `None`.
    pub async fn disassociate(
        &self,
        entity_set: &str,
        key: &Key,
        navigation_property: &str,
        target_id: Option<Uuid>,
    ) -> Result<(), Error> {
        check_name("navigation property", navigation_property)?;
        let target = target_id.map(|id| format!("({id})")).unwrap_or_default();
        let url = self.url(&format!(
            "{}/{navigation_property}{target}/$ref",
            key.path(entity_set)?
        ))?;
        self.send(self.request(Method::DELETE, url)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids() {
        assert_eq!(
            entity_id(
                "https://o.crm.dynamics.com/api/data/v9.2/accounts(00000000-0000-0000-0000-000000000007)"
            ),
            Some(Uuid::from_u128(7))
        );
        assert_eq!(
            entity_id("https://o/api/data/v9.2/accounts(name='x')"),
            None
        );
        assert_eq!(entity_id("nothing"), None);
    }

    #[test]
    fn bodies_are_checked() {
        let key = Key::alternate([("name", "x".into())]);
        let id = Key::id(Uuid::nil());
        assert!(
            Operation::create("accounts", &serde_json::json!([1]))
                .problem()
                .is_some()
        );
        assert!(
            Operation::update("accounts", &key, &serde_json::json!({"name": "x"}))
                .problem()
                .is_some()
        );
        assert!(
            Operation::update("accounts", &key, &serde_json::json!({"other": 1}))
                .problem()
                .is_none()
        );
        assert!(
            Operation::update("accounts", &id, &"text")
                .problem()
                .is_some()
        );
    }
}
