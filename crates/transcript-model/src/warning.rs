//! Oddities of a row that did not stop it from being paired.
//!
//! Real rows bend in many small ways: `metadata` missing or not JSON, `BatchId` a number where
//! a string was expected, a `null` among the activities, a role written `1.0` or `"User"`, a
//! timestamp in milliseconds or in 1970. None of these is a reason to lose a prompt, so each is
//! tolerated and reported as a [`RowWarning`]; only a `content` that cannot be read at all fails
//! its row (a [`crate::RowError`]).

use std::fmt;

/// One oddity found in a row. [`RowWarning::code`] gives a stable label to count them by.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowWarning {
    /// `metadata` is not a JSON object encoded as a string; it was ignored.
    MetadataUnreadable {
        /// What was found instead.
        found: String,
    },
    /// A `metadata` field has an unexpected JSON type; that field was ignored.
    MetadataField {
        /// The field (`BotId`, `BotName`, `BatchId`, ...).
        field: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A column other than `content` has an unexpected JSON type; it was ignored.
    ColumnType {
        /// The column.
        column: &'static str,
        /// The JSON type found.
        found: &'static str,
    },
    /// A date-time column could not be read as a time; it was ignored.
    ColumnDateTime {
        /// The column.
        column: &'static str,
        /// The text found.
        value: String,
    },
    /// An element of `activities` is not an object (`null`, a number, ...); it was skipped.
    ActivityNotObject {
        /// Its position in the `activities` array.
        position: usize,
        /// The JSON type found.
        found: &'static str,
    },
    /// A message's `from.role` is spelled unusually (`1.0`, `"1"`, `"User"`) and was read as
    /// the user (or the agent).
    OddRole {
        /// The activity's index.
        activity: usize,
        /// The role as written.
        role: String,
    },
    /// A message's sender role is missing or unknown: it is neither the user's nor the
    /// agent's, so it takes part in no pair.
    UnknownRole {
        /// The activity's index.
        activity: usize,
        /// The role as written, when there is one.
        role: Option<String>,
    },
    /// A message's timestamp cannot be read as a time; the pair takes the row's
    /// `conversationstarttime` instead.
    TimestampUnreadable {
        /// The activity's index.
        activity: usize,
    },
    /// A message's timestamp is before 2000 or more than a day after now; the pair takes the
    /// row's `conversationstarttime` instead.
    TimestampOutOfRange {
        /// The activity's index.
        activity: usize,
        /// The timestamp, in unix seconds (milliseconds already converted).
        seconds: i64,
    },
}

impl RowWarning {
    /// The activity index a message warning names.
    pub(crate) fn activity(&self) -> Option<usize> {
        match self {
            RowWarning::OddRole { activity, .. }
            | RowWarning::UnknownRole { activity, .. }
            | RowWarning::TimestampUnreadable { activity }
            | RowWarning::TimestampOutOfRange { activity, .. } => Some(*activity),
            _ => None,
        }
    }

    /// The same warning naming activity `index` instead.
    pub(crate) fn with_activity(&self, index: usize) -> Self {
        let mut w = self.clone();
        match &mut w {
            RowWarning::OddRole { activity, .. }
            | RowWarning::UnknownRole { activity, .. }
            | RowWarning::TimestampUnreadable { activity }
            | RowWarning::TimestampOutOfRange { activity, .. } => *activity = index,
            _ => {}
        }
        w
    }

    /// A stable, lower-case label for the kind of warning (`metadata_unreadable`,
    /// `metadata_field`, `column_type`, `column_datetime`, `activity_not_object`, `odd_role`,
    /// `unknown_role`, `timestamp_unreadable`, `timestamp_out_of_range`).
    pub fn code(&self) -> &'static str {
        match self {
            RowWarning::MetadataUnreadable { .. } => "metadata_unreadable",
            RowWarning::MetadataField { .. } => "metadata_field",
            RowWarning::ColumnType { .. } => "column_type",
            RowWarning::ColumnDateTime { .. } => "column_datetime",
            RowWarning::ActivityNotObject { .. } => "activity_not_object",
            RowWarning::OddRole { .. } => "odd_role",
            RowWarning::UnknownRole { .. } => "unknown_role",
            RowWarning::TimestampUnreadable { .. } => "timestamp_unreadable",
            RowWarning::TimestampOutOfRange { .. } => "timestamp_out_of_range",
        }
    }
}

impl fmt::Display for RowWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowWarning::MetadataUnreadable { found } => {
                write!(
                    f,
                    "column `metadata` is not a JSON object ({found}); ignored"
                )
            }
            RowWarning::MetadataField { field, found } => {
                write!(f, "metadata field `{field}` is {found}; ignored")
            }
            RowWarning::ColumnType { column, found } => {
                write!(f, "column `{column}` is {found}, not a string; ignored")
            }
            RowWarning::ColumnDateTime { column, value } => {
                write!(
                    f,
                    "column `{column}` is not a date-time: {value:?}; ignored"
                )
            }
            RowWarning::ActivityNotObject { position, found } => {
                write!(
                    f,
                    "activities[{position}] is {found}, not an object; skipped"
                )
            }
            RowWarning::OddRole { activity, role } => {
                write!(f, "activity {activity}: role {role} read by its meaning")
            }
            RowWarning::UnknownRole { activity, role } => match role {
                Some(r) => write!(f, "activity {activity}: unknown role {r}; not paired"),
                None => write!(f, "activity {activity}: message without a role; not paired"),
            },
            RowWarning::TimestampUnreadable { activity } => write!(
                f,
                "activity {activity}: unreadable timestamp; the conversation start is used"
            ),
            RowWarning::TimestampOutOfRange { activity, seconds } => write!(
                f,
                "activity {activity}: timestamp {seconds} is before 2000 or in the future; the conversation start is used"
            ),
        }
    }
}
