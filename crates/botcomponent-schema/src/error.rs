//! Errors. Only input that cannot be read as a document at all is an error;
//! anything readable but unexpected is reported as [`crate::Unrecognized`].

/// A component's `data` could not be read as a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is not valid YAML.
    #[error("invalid YAML at line {line}, column {column}: {message}")]
    Yaml {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The scanner's description.
        message: String,
    },
    /// Nesting deeper than the limit (real components nest well below it).
    #[error(
        "YAML nested deeper than {limit} levels at line {line}; real components nest far less, so the text is refused"
    )]
    TooDeep {
        /// 1-based line where the limit was crossed.
        line: usize,
        /// The nesting limit.
        limit: usize,
    },
    /// Anchors and alias expansion would grow the document far beyond its text size.
    #[error("YAML anchors or aliases at line {line} expand beyond the size limit (an alias bomb?)")]
    TooLarge {
        /// 1-based line of the anchor or alias that crossed the limit.
        line: usize,
    },
}

impl ParseError {
    /// The 1-based line the error refers to.
    pub fn line(&self) -> usize {
        match self {
            ParseError::Yaml { line, .. }
            | ParseError::TooDeep { line, .. }
            | ParseError::TooLarge { line } => *line,
        }
    }
}

/// `bot.configuration` is not valid JSON.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigurationError {
    /// The text is not JSON.
    #[error("bot.configuration is not valid JSON (line {line}, column {column}): {source}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
}

impl ConfigurationError {
    pub(crate) fn from_json(source: serde_json::Error) -> Self {
        ConfigurationError::Json {
            line: source.line(),
            column: source.column(),
            source,
        }
    }
}

/// A `GlobalOptionSetDefinitions(Name='botcomponent_componenttype')` response could
/// not be used to refresh the registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The body is not JSON.
    #[error("option set response is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The body has no `Options` array: it is not an option set definition.
    #[error(
        "option set response has no `Options` array; request GlobalOptionSetDefinitions(Name='botcomponent_componenttype')"
    )]
    MissingOptions,
}
