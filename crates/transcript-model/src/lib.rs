//! Copilot Studio conversation transcripts as user-prompt / agent-response pairs.
//!
//! A Dataverse `conversationtranscript` row stores the conversation as a JSON *string*
//! (`content`, `{"activities":[...]}`). This crate decodes rows ([`Transcript`]), pairs their
//! messages ([`pair_transcript`], rules in [`pairing`]), collects the facts a security analyst
//! needs beside them ([`TranscriptFacts`], [`ToolInvocation`]) and turns the pairs into Akto
//! ingestion records ([`AktoRecord`]). Microsoft 365 Copilot interactions pair into the same
//! [`Pair`] type ([`m365`]).
//!
//! It is a model crate: no I/O, no HTTP, no clock (pass "now" in [`PairOptions`]). Decoding is
//! tolerant (unknown activity types, fields and trace kinds are kept verbatim; odd columns,
//! metadata, roles and timestamps are read by their meaning and reported as [`RowWarning`]s)
//! and strict only where it must be: a row whose `content` is not a transcript document (or
//! that has no id) is a [`RowError`] for that row alone.
//!
//! # Entry points
//!
//! | You have | Call | You get |
//! |---|---|---|
//! | a page's bytes (`{"value":[...]}` or `[...]`), want records | [`AktoConfig::page_to_records`] or, streaming, [`AktoConfig::for_each_row_records`] | per row: its records, or a [`RowError`] |
//! | a page's bytes, want the model | [`parse_page`] or, streaming, [`for_each_row`] | per row: a [`Transcript`], or a [`RowError`] |
//! | a page's bytes, want to read on one thread and decode on another | [`for_each_page_row`], then [`AktoConfig::page_row_records`] or [`Transcript::from_page_row`] | per row: the same results as above |
//! | one row as bytes or as a `serde_json::Value` | [`Transcript::from_json_slice`], [`Transcript::from_value`] | a [`Transcript`] |
//! | a [`Transcript`] | [`Transcript::pair`] ([`pair_transcript`]) | a [`PairedTranscript`]: pairs and [`TranscriptFacts`] |
//! | a [`PairedTranscript`] | [`AktoConfig::records`] | one [`AktoRecord`] per pair |
//! | Graph `aiInteraction` pages | [`parse_interactions`], then [`pair_interactions`] | [`Pair`]s |
//! | a user's `aiInteraction`s | [`M365Config::records`] | one [`M365Record`] (an [`AktoRecord`] tagged `M365_COPILOT`) per pair |
//!
//! The page functions are the fast path: one pass over the page, each row's `content` decoded
//! once into borrowed views, no owned activities built; they give exactly the records the
//! model path gives. Records are deterministic (same input, byte-identical JSON).
//!
//! # From a page of rows to Akto records
//!
//! ```
//! use transcript_model::{AktoConfig, parse_page};
//!
//! // A row as the Dataverse Web API returns it: `content` and `metadata` are JSON strings.
//! let content = serde_json::json!({"activities": [
//!     {"type": "message", "timestamp": 1725905090, "from": {"role": 0}, "text": "Hello!"},
//!     {"type": "message", "timestamp": 1725905106, "from": {"role": 1}, "text": "Hi"},
//!     {"type": "message", "timestamp": 1725905107, "from": {"role": 0}, "text": "How can I help?"}
//! ]});
//! let page = serde_json::json!({"value": [{
//!     "conversationtranscriptid": "1a046a59-71bc-46d2-9838-5215f25f787d",
//!     "metadata": r#"{"BotId":"4b57a07a","BotName":"cr3e5_testCopilot"}"#,
//!     "content": content.to_string(),
//! }]})
//! .to_string();
//! let page = page.as_bytes();
//!
//! // Per row: decode, pair, look at the pairs.
//! for row in parse_page(page)? {
//!     let transcript = row?;
//!     let paired = transcript.pair();
//!     assert_eq!(paired.pairs.len(), 2);
//!     assert!(paired.pairs[0].request.is_none()); // the greeting
//!     assert_eq!(paired.pairs[1].request.and_then(|m| m.text), Some("Hi"));
//! }
//!
//! // Or the whole way in one pass, one result per row.
//! let config = AktoConfig::new("1000000", "0", "Default-426a6ef4");
//! let rows = config.page_to_records(page)?;
//! let records = rows[0].as_ref().map_err(|e| e.to_string())?;
//! assert_eq!(records[1].path, "/copilot/conversation/1a046a59-71bc-46d2-9838-5215f25f787d/message/1");
//! assert_eq!(records[1].request_payload, r#"{"message":"Hi"}"#);
//! assert_eq!(records[1].time, "1725905106");
//! assert_eq!(records[0].request_payload, "{}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod activity;
pub mod akto;
mod columns;
mod error;
mod html;
pub mod m365;
pub mod pairing;
pub mod security_copilot;
mod session;
mod transcript;
mod unicode;
mod view;
mod warning;

pub use activity::{Activity, ActivityType, ChannelAccount, Content, Role, UnknownFields};
pub use akto::{
    AktoConfig, AktoRecord, BotIdentity, DEFAULT_HOST, RowRecords, SessionRecord, sanitize_bot_name,
};
pub use error::{PageError, RowError, RowErrorKind};
pub use html::html_to_text;
pub use m365::{
    AiInteraction, M365Config, M365Record, M365User, pair_interactions, parse_interactions,
};
pub use pairing::{
    ConversationKind, Message, Pair, PairOptions, PairedTranscript, SessionInfo, ToolInvocation,
    ToolKind, TranscriptFacts, pair_transcript, pair_transcript_with,
};
pub use session::{PairedSession, SPLIT_HINT_BYTES, Session, SessionKey, SessionPair, sessions};
pub use transcript::{
    PageRow, Transcript, TranscriptMetadata, for_each_page_row, for_each_row, parse_page,
};
pub use warning::RowWarning;
