//! Row addresses (primary id or alternate key) and `@odata.bind` helpers.

use crate::Error;
use crate::filter::FilterValue;
use crate::query::{check_name, encode_path};
use uuid::Uuid;

/// How a row is addressed: by its primary id or by an alternate key.
///
/// ```
/// use dataverse_client::Key;
/// let k = Key::alternate([("name", "O'Brien".into()), ("number", 2.into())]);
/// assert_eq!(k.to_segment().unwrap(), "(name='O''Brien',number=2)");
/// let id = uuid::Uuid::nil();
/// assert_eq!(Key::id(id).to_segment().unwrap(), "(00000000-0000-0000-0000-000000000000)");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Key {
    /// The primary id.
    Id(Uuid),
    /// An alternate key: one or more `(column, value)` pairs.
    Alternate(Vec<(String, FilterValue)>),
}

impl Key {
    /// The row with primary id `id`.
    pub fn id(id: Uuid) -> Self {
        Key::Id(id)
    }

    /// The row with alternate key `parts` (column names and typed values).
    pub fn alternate<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = (S, FilterValue)>,
        S: Into<String>,
    {
        Key::Alternate(parts.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The key columns of an alternate key (none for a primary id).
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        let cols: &[(String, FilterValue)] = match self {
            Key::Id(_) => &[],
            Key::Alternate(parts) => parts,
        };
        cols.iter().map(|(k, _)| k.as_str())
    }

    /// The key as an OData path segment, `(id)` or `(k1='v',k2=2)`, before URL encoding.
    pub fn to_segment(&self) -> Result<String, Error> {
        match self {
            Key::Id(id) => Ok(format!("({})", id.hyphenated())),
            Key::Alternate(parts) => {
                if parts.is_empty() {
                    return Err(Error::invalid("an alternate key needs at least one column"));
                }
                let mut out = String::from("(");
                for (i, (col, value)) in parts.iter().enumerate() {
                    check_name("key column", col)?;
                    if matches!(value, FilterValue::Null) {
                        return Err(Error::invalid(format!(
                            "key column `{col}` is null: alternate key values must be set"
                        )));
                    }
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(col);
                    out.push('=');
                    out.push_str(&value.to_literal()?);
                }
                out.push(')');
                Ok(out)
            }
        }
    }

    /// `entity_set(key)`, URL-encoded, relative to the API root.
    pub(crate) fn path(&self, entity_set: &str) -> Result<String, Error> {
        check_name("entity set", entity_set)?;
        Ok(format!("{entity_set}{}", encode_path(&self.to_segment()?)))
    }
}

impl From<Uuid> for Key {
    fn from(id: Uuid) -> Self {
        Key::Id(id)
    }
}

/// The `@odata.bind` pair that sets lookup `navigation_property` to the row `key` of
/// `entity_set`: `("nav@odata.bind", "/set(key)")`, ready to insert into a request body.
///
/// ```
/// use dataverse_client::{Key, odata_bind};
/// let (field, value) = odata_bind("parentbotid", "bots", &Key::id(uuid::Uuid::nil())).unwrap();
/// assert_eq!(field, "parentbotid@odata.bind");
/// assert_eq!(value, "/bots(00000000-0000-0000-0000-000000000000)");
/// ```
pub fn odata_bind(
    navigation_property: &str,
    entity_set: &str,
    key: &Key,
) -> Result<(String, serde_json::Value), Error> {
    check_name("navigation property", navigation_property)?;
    Ok((
        format!("{navigation_property}@odata.bind"),
        serde_json::Value::String(format!("/{}", key.path(entity_set)?)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_are_quoted_and_encoded() {
        let k = Key::alternate([("a", "x/y?z 'q'".into()), ("b", 2.into())]);
        assert_eq!(k.to_segment().unwrap(), "(a='x/y?z ''q''',b=2)");
        assert_eq!(
            k.path("accounts").unwrap(),
            "accounts(a='x%2Fy%3Fz%20''q''',b=2)"
        );
        assert!(Key::alternate::<_, String>([]).to_segment().is_err());
        assert!(
            Key::alternate([("a", FilterValue::Null)])
                .to_segment()
                .is_err()
        );
        assert!(Key::alternate([("a b", 1.into())]).to_segment().is_err());
        assert_eq!(k.columns().collect::<Vec<_>>(), ["a", "b"]);
    }
}
