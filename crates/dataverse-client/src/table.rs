//! Row types that declare their columns: a query is built from the type, and a column the type
//! reads but a row lacks is an error naming it, never a silent empty value.

use crate::client::DataverseClient;
use crate::paging::{RawPageStream, RowStream};
use crate::{Error, Query, RawPage};
use futures::{StreamExt, TryStreamExt};
use serde::de::{DeserializeOwned, IgnoredAny};
use std::collections::HashMap;

/// A Dataverse table as a row type sees it: the entity set and every column the type reads.
///
/// ```
/// use dataverse_client::{Query, Table};
/// #[derive(serde::Deserialize)]
/// struct Bot { botid: uuid::Uuid, name: Option<String> }
/// impl Table for Bot {
///     const ENTITY_SET: &'static str = "bots";
///     const COLUMNS: &'static [&'static str] = &["botid", "name"];
/// }
/// assert_eq!(Query::of::<Bot>().query_string().unwrap(), "$select=botid,name");
/// ```
pub trait Table {
    /// The entity set (plural) name, e.g. `bots`.
    const ENTITY_SET: &'static str;
    /// Every column the type reads. [`Query::of`] selects exactly these, and
    /// [`DataverseClient::rows_of`] and [`DataverseClient::raw_pages_of`] refuse a row that
    /// lacks one ([`Error::MissingColumn`]).
    const COLUMNS: &'static [&'static str];
}

impl Query {
    /// A query on `T`'s entity set selecting every column `T` declares.
    pub fn of<T: Table>() -> Self {
        Query::new(T::ENTITY_SET).select(T::COLUMNS.iter().copied())
    }
}

/// The first of `T`'s columns missing from a row with these keys.
fn missing<T: Table>(has: impl Fn(&str) -> bool) -> Result<(), Error> {
    match T::COLUMNS.iter().find(|c| !has(c)) {
        Some(column) => Err(Error::missing_column(T::ENTITY_SET, *column)),
        None => Ok(()),
    }
}

/// Checks that every row of a raw page carries every column of `T`.
fn check_page<T: Table>(page: &RawPage) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    struct Keys {
        value: Vec<HashMap<String, IgnoredAny>>,
    }
    let keys: Keys = serde_json::from_slice(&page.body)
        .map_err(|e| Error::decode(format!("a page of {}", T::ENTITY_SET), e))?;
    keys.value
        .iter()
        .try_for_each(|row| missing::<T>(|c| row.contains_key(c)))
}

impl DataverseClient {
    /// The rows of `query` (usually [`Query::of::<T>()`](Query::of), narrowed with filters)
    /// decoded as `T`; a row without one of `T`'s columns fails with
    /// [`Error::MissingColumn`] instead of decoding as empty.
    pub fn rows_of<T: Table + DeserializeOwned + Send + 'static>(
        &self,
        query: &Query,
    ) -> RowStream<T> {
        let rows = self
            .rows::<serde_json::Map<String, serde_json::Value>>(query)
            .and_then(|row| async move {
                missing::<T>(|c| row.contains_key(c))?;
                serde_json::from_value(serde_json::Value::Object(row))
                    .map_err(|e| Error::decode(format!("a row of {}", T::ENTITY_SET), e))
            });
        RowStream::from_stream(rows.boxed())
    }

    /// The pages of `query` as the bytes the service sent ([`raw_pages`](Self::raw_pages)),
    /// each checked to carry every column of `T` in every row.
    pub fn raw_pages_of<T: Table>(&self, query: &Query) -> RawPageStream {
        let pages = self
            .raw_pages(query)
            .and_then(|page| async move { check_page::<T>(&page).map(|()| page) });
        RawPageStream::from_stream(pages.boxed())
    }
}

#[cfg(feature = "copilot")]
impl Table for botcomponent_schema::BotRow {
    const ENTITY_SET: &'static str = botcomponent_schema::BotRow::ENTITY_SET;
    const COLUMNS: &'static [&'static str] = botcomponent_schema::BotRow::COLUMNS;
}

#[cfg(feature = "copilot")]
impl Table for botcomponent_schema::ComponentRow {
    const ENTITY_SET: &'static str = botcomponent_schema::ComponentRow::ENTITY_SET;
    const COLUMNS: &'static [&'static str] = botcomponent_schema::ComponentRow::COLUMNS;
}

#[cfg(feature = "copilot")]
impl Table for transcript_model::Transcript {
    const ENTITY_SET: &'static str = transcript_model::Transcript::ENTITY_SET;
    const COLUMNS: &'static [&'static str] = transcript_model::Transcript::COLUMNS;
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T;
    impl Table for T {
        const ENTITY_SET: &'static str = "things";
        const COLUMNS: &'static [&'static str] = &["a", "data"];
    }

    #[test]
    fn a_missing_column_is_named() {
        let e = missing::<T>(|c| c == "a").unwrap_err();
        assert!(
            matches!(&e, Error::MissingColumn(m) if m.column() == "data"),
            "{e}"
        );
        assert!(e.to_string().contains("$select"), "{e}");
        assert!(missing::<T>(|_| true).is_ok());
    }
}
