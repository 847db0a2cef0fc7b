#![doc = include_str!("../README.md")]

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
