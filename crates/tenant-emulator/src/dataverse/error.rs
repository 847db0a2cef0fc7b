//! Errors: the public error of the Rust API, and the wire error body of the Web API.

use axum::http::StatusCode;

/// An error from the Rust API of [`Dataverse`](super::Dataverse) (seeding rows, declaring sets).
///
/// Errors of the HTTP API are not this type: they are answered on the wire with Dataverse's own
/// body, `{"error":{"code":"0x...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataverseError {
    /// No entity set of that name is declared.
    #[error("unknown entity set '{0}': declare it with Dataverse::declare_entity_set first")]
    UnknownEntitySet(String),
    /// An entity set (or its logical name) is declared twice.
    #[error("entity set '{0}' is already declared")]
    EntitySetExists(String),
    /// A row names a column that the entity set does not have.
    #[error("entity set '{set}' has no column '{column}'; add it to the EntitySetDef")]
    UnknownColumn {
        /// The entity set.
        set: String,
        /// The unknown column.
        column: String,
    },
    /// A row has no primary key, or one that is not a GUID.
    #[error("a row of entity set '{set}' needs its primary key '{column}' as a GUID string")]
    MissingPrimaryKey {
        /// The entity set.
        set: String,
        /// The primary key column.
        column: String,
    },
    /// Two rows share the values of an alternate key.
    #[error("entity set '{set}': another row already has the alternate key values {values}")]
    DuplicateAlternateKey {
        /// The entity set.
        set: String,
        /// The conflicting key values.
        values: String,
    },
    /// An entity set definition is inconsistent.
    #[error("invalid definition of entity set '{set}': {reason}")]
    InvalidDefinition {
        /// The entity set.
        set: String,
        /// What is wrong.
        reason: String,
    },
}

impl DataverseError {
    /// The entity set the error is about.
    pub fn entity_set(&self) -> &str {
        match self {
            Self::UnknownEntitySet(set) | Self::EntitySetExists(set) => set,
            Self::UnknownColumn { set, .. }
            | Self::MissingPrimaryKey { set, .. }
            | Self::DuplicateAlternateKey { set, .. }
            | Self::InvalidDefinition { set, .. } => set,
        }
    }
}

/// An error answered on the wire: status plus Dataverse's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

/// The code ODataException errors carry (unknown properties, syntax errors).
pub(crate) const ODATA_CODE: &str = "0x0";
/// ObjectDoesNotExist.
pub(crate) const NOT_EXIST_CODE: &str = "0x80040217";
/// InvalidArgument.
pub(crate) const INVALID_ARGUMENT_CODE: &str = "0x80040203";
/// ExpiredVersionStamp (change tracking token expired).
pub(crate) const EXPIRED_VERSION_STAMP_CODE: &str = "0x80044352";

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A 400 raised by the OData layer (query syntax, unknown properties).
    pub(crate) fn odata(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ODATA_CODE, message)
    }

    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn unknown_property(logical: &str, property: &str) -> Self {
        Self::odata(format!(
            "Could not find a property named '{property}' on type 'Microsoft.Dynamics.CRM.{logical}'."
        ))
    }

    pub(crate) fn segment_not_found(segment: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "0x80060888",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "0x80060888",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    pub(crate) fn row_not_found(logical: &str, id: &uuid::Uuid) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NOT_EXIST_CODE,
            format!("{logical} With Id = {id} Does Not Exist"),
        )
    }

    pub(crate) fn alt_key_not_found(logical: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            NOT_EXIST_CODE,
            format!("A record with the specified key values does not exist in {logical} entity"),
        )
    }

    pub(crate) fn json_body(&self) -> Vec<u8> {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let err = ApiError::unknown_property("bot", "description");
        let body: serde_json::Value = serde_json::from_slice(&err.json_body()).unwrap();
        assert_eq!(body["error"]["code"], "0x0");
        assert_eq!(
            body["error"]["message"],
            "Could not find a property named 'description' on type 'Microsoft.Dynamics.CRM.bot'."
        );
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn public_error_names_its_set() {
        let err = DataverseError::UnknownColumn {
            set: "bots".into(),
            column: "x".into(),
        };
        assert_eq!(err.entity_set(), "bots");
        assert!(err.to_string().contains("'x'"));
    }
}
