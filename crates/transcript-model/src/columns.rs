//! The Dataverse columns a [`Transcript`] is read from, so a client can select exactly them and
//! report a missing one by name (a missing bot lookup would otherwise file every pair under an
//! unknown agent).

use crate::Transcript;

impl Transcript {
    /// The entity set transcripts come from.
    pub const ENTITY_SET: &'static str = "conversationtranscripts";
    /// Every column a transcript row is read from.
    pub const COLUMNS: &'static [&'static str] = &[
        "conversationtranscriptid",
        "name",
        "content",
        "metadata",
        "conversationstarttime",
        "createdon",
        "modifiedon",
        "schematype",
        "schemaversion",
        "_bot_conversationtranscriptid_value",
    ];
}
