//! Errors of reading and checking rows.

/// A row's JSON could not be read as a row of its table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The row is not a JSON object.
    #[error("{table}: a row must be a JSON object")]
    NotAnObject {
        /// The table.
        table: &'static str,
    },
    /// A key column (or, in a document, a required part) is absent or null.
    #[error("{table}: column `{column}` is missing or null; it is part of the row's key")]
    Missing {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
    },
    /// A column holds JSON of the wrong type.
    #[error("{table}: column `{column}` must be {expected}, found {found}")]
    WrongType {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// What the column holds.
        expected: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A choice column holds a value that is not an option of its option set.
    #[error("{table}: column `{column}` holds `{value}`, which is not an option of `{option_set}`")]
    UnknownOption {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// The option set's logical name.
        option_set: &'static str,
        /// The value or label found (at most 100 characters).
        value: String,
    },
    /// A memo column that holds JSON does not hold the JSON expected.
    #[error("{table}: column `{column}` does not hold the expected JSON: {detail}")]
    BadJson {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// What is wrong, with its position.
        detail: String,
    },
    /// A date-time column is not ISO 8601 (RFC 3339).
    #[error(
        "{table}: column `{column}` holds `{value}`, which is not an ISO 8601 date-time such as 2026-06-09T14:00:00Z"
    )]
    BadDateTime {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// The text found (at most 64 characters).
        value: String,
    },
}

impl RowError {
    /// The table's logical name.
    pub fn table(&self) -> &'static str {
        match self {
            RowError::NotAnObject { table }
            | RowError::Missing { table, .. }
            | RowError::WrongType { table, .. }
            | RowError::UnknownOption { table, .. }
            | RowError::BadJson { table, .. }
            | RowError::BadDateTime { table, .. } => table,
        }
    }

    /// The column's logical name, when the error is about one column.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            RowError::NotAnObject { .. } => None,
            RowError::Missing { column, .. }
            | RowError::WrongType { column, .. }
            | RowError::UnknownOption { column, .. }
            | RowError::BadJson { column, .. }
            | RowError::BadDateTime { column, .. } => Some(column),
        }
    }
}

/// A row does not satisfy its table's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A required column has no value.
    #[error("{table}: required column `{column}` has no value")]
    MissingRequired {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
    },
    /// A text value is longer than its column allows.
    #[error(
        "{table}: column `{column}` holds {length} characters, more than its maximum of {max_length}"
    )]
    TooLong {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// The column's maximum length.
        max_length: u32,
        /// The value's length in characters.
        length: usize,
    },
    /// A row type names a column its table does not have (a defect in this crate).
    #[error("{table}: `{column}` is not a column of the table")]
    NotAColumn {
        /// The table.
        table: &'static str,
        /// The name.
        column: &'static str,
    },
    /// A choice value belongs to another option set than its column's (a defect in this crate).
    #[error("{table}: column `{column}` is bound to `{expected}`, not `{found}`")]
    WrongOptionSet {
        /// The table.
        table: &'static str,
        /// The column's logical name.
        column: &'static str,
        /// The column's option set.
        expected: &'static str,
        /// The value's option set.
        found: &'static str,
    },
}

impl ValidationError {
    /// The column's logical name.
    pub fn column(&self) -> &'static str {
        match self {
            ValidationError::MissingRequired { column, .. }
            | ValidationError::TooLong { column, .. }
            | ValidationError::NotAColumn { column, .. }
            | ValidationError::WrongOptionSet { column, .. } => column,
        }
    }
}
