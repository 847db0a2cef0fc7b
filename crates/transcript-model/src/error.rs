//! Error types.

use std::fmt;

/// Why one transcript row could not be decoded. The other rows of its page are unaffected.
#[derive(Debug)]
pub struct RowError {
    index: Option<usize>,
    row_id: Option<String>,
    kind: RowErrorKind,
}

impl RowError {
    pub(crate) fn new(index: Option<usize>, row_id: Option<String>, kind: RowErrorKind) -> Self {
        Self {
            index,
            row_id,
            kind,
        }
    }

    /// The row's position in its page (0-based), when it came from a page.
    pub fn row_index(&self) -> Option<usize> {
        self.index
    }

    /// The row's `conversationtranscriptid`, when it could be read.
    pub fn row_id(&self) -> Option<&str> {
        self.row_id.as_deref()
    }

    /// What is wrong with the row.
    pub fn kind(&self) -> &RowErrorKind {
        &self.kind
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("conversationtranscript row")?;
        if let Some(i) = self.index {
            write!(f, " #{i}")?;
        }
        if let Some(id) = &self.row_id {
            write!(f, " {id}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl std::error::Error for RowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// The specific problem with a row.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowErrorKind {
    /// The row text is not JSON at all.
    #[error("not valid JSON: {source}")]
    InvalidJson {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The row is not a JSON object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// The JSON type found.
        found: &'static str,
    },
    /// `conversationtranscriptid` or `content` is absent or null (include it in `$select`).
    #[error("column `{column}` is missing or null; include it in the query's $select")]
    MissingColumn {
        /// The column name.
        column: &'static str,
    },
    /// `conversationtranscriptid` or `content` has the wrong JSON type (other columns of the
    /// wrong type are warnings, see [`crate::RowWarning`]).
    #[error("column `{column}` should be a string, found {found}")]
    WrongColumnType {
        /// The column name.
        column: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// `content` is not a transcript document (`{"activities":[...]}` encoded as a string).
    #[error("column `content` is not a valid transcript document: {source}")]
    InvalidContent {
        /// The parser's error; its line and column point into the decoded `content` text.
        source: serde_json::Error,
    },
}

/// Why a whole page could not be read (as opposed to one of its rows).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PageError {
    /// The input is not JSON (or is truncated).
    #[error("the page is not valid JSON: {source}")]
    NotJson {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The input is JSON but neither an array of rows nor an object with a `value` array.
    #[error("expected a JSON array of rows or an OData object with a `value` array: {source}")]
    UnexpectedShape {
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The input is a JSON object without a `value` member.
    #[error("the JSON object has no `value` array; expected an OData collection response")]
    NoValueArray,
}

impl PageError {
    pub(crate) fn from_json(source: serde_json::Error) -> Self {
        match source.classify() {
            serde_json::error::Category::Data => PageError::UnexpectedShape { source },
            _ => PageError::NotJson { source },
        }
    }
}
