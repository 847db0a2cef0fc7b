//! Bot Framework activities as Copilot Studio writes them into a transcript's `content`.
//!
//! Parsing is tolerant by design: Copilot Studio adds activity types, fields and trace kinds
//! without notice, so anything this crate does not model is kept verbatim (as raw JSON text)
//! instead of being rejected or dropped.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::warning::RowWarning;

/// Fields of a JSON object this crate does not model, kept in input order as raw JSON text.
pub type UnknownFields = Vec<(String, Box<RawValue>)>;

/// The `type` of an activity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActivityType {
    /// `message`: something a user or the agent said (text, attachments or both).
    Message,
    /// `event`: a named signal such as `startConversation` or a plan step.
    Event,
    /// `trace`: diagnostic data, classified by `valueType`.
    Trace,
    /// `invoke`.
    Invoke,
    /// `invokeResponse`.
    InvokeResponse,
    /// `endOfConversation`.
    EndOfConversation,
    /// `conversationUpdate`.
    ConversationUpdate,
    /// `installationUpdate`.
    InstallationUpdate,
    /// `handoff`.
    Handoff,
    /// `typing`.
    Typing,
    /// Any other type, spelled as on the wire.
    Other(String),
}

impl ActivityType {
    /// Interprets a wire `type` value. Known types match case-insensitively; anything else is
    /// kept as [`ActivityType::Other`].
    pub fn from_wire(s: &str) -> Self {
        const KNOWN: [(&str, ActivityType); 10] = [
            ("message", ActivityType::Message),
            ("event", ActivityType::Event),
            ("trace", ActivityType::Trace),
            ("invoke", ActivityType::Invoke),
            ("invokeResponse", ActivityType::InvokeResponse),
            ("endOfConversation", ActivityType::EndOfConversation),
            ("conversationUpdate", ActivityType::ConversationUpdate),
            ("installationUpdate", ActivityType::InstallationUpdate),
            ("handoff", ActivityType::Handoff),
            ("typing", ActivityType::Typing),
        ];
        for (name, kind) in KNOWN {
            if s.eq_ignore_ascii_case(name) {
                return kind;
            }
        }
        ActivityType::Other(s.to_owned())
    }

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ActivityType::Message => "message",
            ActivityType::Event => "event",
            ActivityType::Trace => "trace",
            ActivityType::Invoke => "invoke",
            ActivityType::InvokeResponse => "invokeResponse",
            ActivityType::EndOfConversation => "endOfConversation",
            ActivityType::ConversationUpdate => "conversationUpdate",
            ActivityType::InstallationUpdate => "installationUpdate",
            ActivityType::Handoff => "handoff",
            ActivityType::Typing => "typing",
            ActivityType::Other(s) => s,
        }
    }
}

impl fmt::Display for ActivityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sent an activity (`from.role`).
///
/// Dataverse stores the role as an integer (0 bot, 1 user); Bot Framework clients write the
/// strings `"bot"` / `"user"`. Both are accepted. The role, not `from.id`, tells user and agent
/// apart: in test-pane transcripts both share one id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The agent (`0` or `"bot"`).
    Bot,
    /// The person talking to the agent (`1` or `"user"`).
    User,
    /// Any other role (for example `"skill"` or an unknown number), as written on the wire.
    Other(String),
}

impl Role {
    /// Interprets a string role: `"user"`/`"1"` and `"bot"`/`"0"` (case-insensitive).
    pub fn from_wire_str(s: &str) -> Self {
        if s.eq_ignore_ascii_case("user") || s == "1" {
            Role::User
        } else if s.eq_ignore_ascii_case("bot") || s == "0" {
            Role::Bot
        } else {
            Role::Other(s.to_owned())
        }
    }

    /// Interprets an integer role: 0 bot, 1 user.
    pub fn from_wire_int(n: i64) -> Self {
        match n {
            0 => Role::Bot,
            1 => Role::User,
            n => Role::Other(n.to_string()),
        }
    }

    /// Whether this is the user side of the conversation.
    pub fn is_user(&self) -> bool {
        matches!(self, Role::User)
    }
}

/// The `from` (or `recipient`) of an activity.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ChannelAccount {
    /// `id`.
    pub id: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `role`, integer or string on the wire.
    pub role: Option<Role>,
    /// `aadObjectId`: the Entra object id of an authenticated user.
    pub aad_object_id: Option<String>,
    /// Anything else, verbatim.
    pub unknown_fields: UnknownFields,
    /// The role as written when it is an unusual spelling of the user or the agent (`1.0`,
    /// `"1"`, `"User"`), for the warning.
    pub(crate) odd_role: Option<String>,
}

/// One activity of a transcript.
///
/// Fields the crate models are typed; large or free-form parts (`attachments`, `channelData`,
/// `value`) are kept as raw JSON text so that nothing is lost and nothing is parsed that nobody
/// asks for. A known field whose value has an unexpected JSON type (say, a numeric `id`) is not
/// an error: it is left `None` and its value is kept in [`Activity::unknown_fields`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Activity {
    /// `id`.
    pub id: Option<String>,
    /// `type`; `None` when absent.
    pub activity_type: Option<ActivityType>,
    /// `timestamp` in unix seconds. Seconds or milliseconds since the epoch (integers,
    /// fractional numbers, numeric strings; values of 10^11 and more are milliseconds) and ISO
    /// 8601 / RFC 3339 text are accepted; anything else is kept in `unknown_fields`.
    pub timestamp: Option<i64>,
    /// `from`.
    pub from: Option<ChannelAccount>,
    /// `text`; `None` when absent (card-only or redacted messages).
    pub text: Option<String>,
    /// `textFormat` (`plain`, `markdown`, `xml`).
    pub text_format: Option<String>,
    /// `attachments`, verbatim (often `[]`).
    pub attachments: Option<Box<RawValue>>,
    /// `replyToId`.
    pub reply_to_id: Option<String>,
    /// `channelId` (`pva-studio`, `msteams`, `webchat`, ...).
    pub channel_id: Option<String>,
    /// `channelData`, verbatim.
    pub channel_data: Option<Box<RawValue>>,
    /// `name` (event name).
    pub name: Option<String>,
    /// `value`, verbatim.
    pub value: Option<Box<RawValue>>,
    /// `valueType` (trace kind).
    pub value_type: Option<String>,
    /// Every other field (`speak`, `recipient`, `locale`, ...), verbatim and in input order.
    pub unknown_fields: UnknownFields,
    /// A `timestamp` was present but could not be read as a time.
    pub(crate) timestamp_unreadable: bool,
}

impl Activity {
    /// Whether this activity is a `message`.
    pub fn is_message(&self) -> bool {
        matches!(self.activity_type, Some(ActivityType::Message))
    }

    /// The sender's role, if any.
    pub fn role(&self) -> Option<&Role> {
        self.from.as_ref().and_then(|f| f.role.as_ref())
    }

    /// Whether the sender is the user.
    pub fn is_from_user(&self) -> bool {
        self.role().is_some_and(Role::is_user)
    }

    /// The attachments, unless absent, `null` or an empty array.
    pub fn non_empty_attachments(&self) -> Option<&RawValue> {
        self.attachments
            .as_deref()
            .filter(|raw| !is_empty_json(raw))
    }

    /// Decodes `value` into `T` on demand (for example a trace's payload).
    ///
    /// Returns `None` when there is no `value`, and the decoding error when it does not fit `T`.
    pub fn value_as<'a, T: Deserialize<'a>>(&'a self) -> Option<Result<T, serde_json::Error>> {
        self.value
            .as_deref()
            .map(|raw| serde_json::from_str(raw.get()))
    }

    /// The unknown field `key`, if present.
    pub fn unknown_field(&self, key: &str) -> Option<&RawValue> {
        self.unknown_fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| &**v)
    }
}

/// Whether raw JSON is `null`, `[]` or `{}` (whitespace tolerated).
pub(crate) fn is_empty_json(raw: &RawValue) -> bool {
    let s = raw.get().trim();
    if s == "null" {
        return true;
    }
    let bytes = s.as_bytes();
    if bytes.len() >= 2 {
        let (first, last) = (bytes[0], bytes[bytes.len() - 1]);
        if (first == b'[' && last == b']') || (first == b'{' && last == b'}') {
            return s[1..s.len() - 1].trim().is_empty();
        }
    }
    false
}

/// The decoded `content` column: the ordered activities plus any other top-level fields.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Content {
    /// Activities in their original order. Many share one timestamp: order is the array order.
    pub activities: Vec<Activity>,
    /// Top-level fields other than `activities`, verbatim.
    pub unknown_fields: UnknownFields,
    /// Elements of `activities` that are not objects (`null`, numbers, ...): skipped, each
    /// reported here as a [`RowWarning::ActivityNotObject`].
    pub warnings: Vec<RowWarning>,
}

impl Content {
    /// Parses a `content` document (`{"activities":[...]}`).
    ///
    /// An element of `activities` that is not an object is skipped and reported in
    /// [`Content::warnings`]; it does not fail the document.
    ///
    /// # Errors
    /// When the text is not JSON, is not an object or lacks an `activities` array.
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        let wire: ContentWire<'_> = serde_json::from_str(json)?;
        let mut warnings = Vec::new();
        let activities = wire
            .activities
            .into_iter()
            .enumerate()
            .filter_map(|(position, element)| match element {
                Element::Object(fields) => Some(build_activity(fields)),
                Element::Other(found) => {
                    warnings.push(RowWarning::ActivityNotObject { position, found });
                    None
                }
            })
            .collect();
        let unknown_fields = wire
            .unknown
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.to_owned()))
            .collect();
        Ok(Content {
            activities,
            unknown_fields,
            warnings,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Wire decoding. Everything is decoded from borrowed text so that opaque parts are located once
// (as `&RawValue`) and copied once, never re-parsed into a DOM.

/// An object key, borrowed when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON object as its (key, raw value) pairs, in order.
pub(crate) struct RawFields<'de>(pub(crate) Vec<(Key<'de>, &'de RawValue)>);

impl<'de> Deserialize<'de> for RawFields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = RawFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (an activity)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(14));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key, value));
                }
                Ok(RawFields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct ContentWire<'de> {
    activities: Vec<Element<'de>>,
    unknown: Vec<(Cow<'de, str>, &'de RawValue)>,
}

impl<'de> Deserialize<'de> for ContentWire<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;
        impl<'de> Visitor<'de> for ContentVisitor {
            type Value = ContentWire<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transcript content object {\"activities\": [...]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut activities = None;
                let mut unknown = Vec::new();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "activities" {
                        activities = Some(map.next_value::<ActivityList<'de>>()?.0);
                    } else {
                        unknown.push((key, map.next_value::<&'de RawValue>()?));
                    }
                }
                let activities =
                    activities.ok_or_else(|| de::Error::missing_field("activities"))?;
                Ok(ContentWire {
                    activities,
                    unknown,
                })
            }
        }
        deserializer.deserialize_map(ContentVisitor)
    }
}

/// An element of `activities`: an object, or the JSON type of anything else.
pub(crate) enum Element<'de> {
    Object(RawFields<'de>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Element<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an activity")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(14));
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            fields.push((key, value));
        }
        Ok(Element::Object(RawFields(fields)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Element::Other("an array"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Element::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Element::Other("a number"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Element::Other("a string"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Element::Other("null"))
    }
}

struct ActivityList<'de>(Vec<Element<'de>>);

impl<'de> Deserialize<'de> for ActivityList<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ActivityList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of activities")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(32));
                while let Some(element) = seq.next_element::<Element<'de>>()? {
                    out.push(element);
                }
                Ok(ActivityList(out))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// The outcome of reading a known field leniently.
pub(crate) enum Lenient<T> {
    /// `null`.
    Absent,
    /// A value of the expected shape.
    Value(T),
    /// Some other JSON type: the caller keeps the raw value in `unknown_fields`.
    Unexpected,
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b'n')
}

/// A JSON string's contents; a string without escapes is copied without a parse.
fn raw_to_string(raw: &RawValue) -> Lenient<String> {
    match raw_str(raw) {
        Lenient::Value(s) => Lenient::Value(s.into_owned()),
        Lenient::Absent => Lenient::Absent,
        Lenient::Unexpected => Lenient::Unexpected,
    }
}

/// A JSON string's contents, borrowed when it has no escapes.
///
/// An escape that cannot be a Rust string (a lone UTF-16 surrogate such as `\ud83d`, left
/// behind when a writer cuts a surrogate pair in half) becomes U+FFFD instead of costing the
/// whole text: a prompt must never vanish from the analysis because one character is broken.
pub(crate) fn raw_str(raw: &RawValue) -> Lenient<Cow<'_, str>> {
    match first_byte(raw) {
        b'"' => {
            let s = raw.get();
            if let Some(inner) = s.get(1..s.len().saturating_sub(1))
                && !inner.contains('\\')
            {
                Lenient::Value(Cow::Borrowed(inner))
            } else {
                match serde_json::from_str::<String>(s) {
                    Ok(v) => Lenient::Value(Cow::Owned(v)),
                    Err(_) => unescape_lossy(s)
                        .map_or(Lenient::Unexpected, |v| Lenient::Value(Cow::Owned(v))),
                }
            }
        }
        b'n' => Lenient::Absent,
        _ => Lenient::Unexpected,
    }
}

/// Decodes a JSON string literal whose escapes include lone surrogates, each becoming U+FFFD.
fn unescape_lossy(literal: &str) -> Option<String> {
    struct Bytes;
    impl Visitor<'_> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON string")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            Ok(v.to_vec())
        }
    }
    // serde_json hands out a string's bytes with lone surrogates encoded as WTF-8
    // (`ED A0..BF xx`); those three bytes become one U+FFFD.
    let mut de = serde_json::Deserializer::from_str(literal);
    let bytes = de.deserialize_bytes(Bytes).ok()?;
    Some(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = Vec::with_capacity(bytes.len());
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == 0xED && i + 2 < bytes.len() && (0xA0..=0xBF).contains(&bytes[i + 1])
                {
                    out.extend_from_slice("\u{FFFD}".as_bytes());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
    })
}

fn lenient_timestamp(raw: &RawValue) -> Lenient<i64> {
    let text = raw.get();
    match first_byte(raw) {
        b'n' => Lenient::Absent,
        b'-' | b'0'..=b'9' => epoch_number(text).map_or(Lenient::Unexpected, Lenient::Value),
        b'"' => match raw_str(raw) {
            Lenient::Value(s) => epoch_number(&s)
                .or_else(|| parse_time_text(&s).map(OffsetDateTime::unix_timestamp))
                .map_or(Lenient::Unexpected, Lenient::Value),
            _ => Lenient::Unexpected,
        },
        _ => Lenient::Unexpected,
    }
}

/// Magnitudes from here on are milliseconds: 10^11 seconds is the year 5138.
const MILLIS_FROM: u64 = 100_000_000_000;

/// Unix seconds from a number of seconds or milliseconds since the epoch (integer or
/// fractional; fractions of a second are truncated).
pub(crate) fn epoch_number(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse::<i64>() {
        return Some(if n.unsigned_abs() >= MILLIS_FROM {
            n / 1000
        } else {
            n
        });
    }
    let f = text.trim().parse::<f64>().ok().filter(|f| f.is_finite())?;
    let secs = if f.abs() >= MILLIS_FROM as f64 {
        f / 1000.0
    } else {
        f
    };
    // Saturating float-to-int conversion.
    Some(secs.trunc() as i64)
}

/// A date-time in ISO 8601 text: RFC 3339, or without an offset (then UTC), with `T` or a
/// space between date and time, with or without fractional seconds.
pub(crate) fn parse_time_text(s: &str) -> Option<OffsetDateTime> {
    const LOCAL: &[time::format_description::BorrowedFormatItem<'_>] = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][t][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    let s = s.trim();
    OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        PrimitiveDateTime::parse(s, LOCAL)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })
}

/// A role and, when it is an unusual spelling of the user or the agent, that spelling.
type RoleRead = (Role, Option<String>);

fn lenient_role(raw: &RawValue) -> Lenient<RoleRead> {
    let text = raw.get();
    match first_byte(raw) {
        b'n' => Lenient::Absent,
        b'-' | b'0'..=b'9' => match text.parse::<i64>() {
            Ok(n) => Lenient::Value((Role::from_wire_int(n), None)),
            Err(_) => match text.parse::<f64>() {
                Ok(0.0) => Lenient::Value((Role::Bot, Some(text.to_owned()))),
                Ok(1.0) => Lenient::Value((Role::User, Some(text.to_owned()))),
                _ => Lenient::Value((Role::Other(text.to_owned()), None)),
            },
        },
        b'"' => match raw_str(raw) {
            Lenient::Value(s) => {
                let role = Role::from_wire_str(&s);
                let odd = matches!(role, Role::User | Role::Bot) && s != "user" && s != "bot";
                Lenient::Value((role, odd.then(|| text.to_owned())))
            }
            _ => Lenient::Unexpected,
        },
        _ => Lenient::Unexpected,
    }
}

/// A role (with its odd spelling), when the raw value is a number or a string.
pub(crate) fn lenient_role_of(raw: &RawValue) -> Option<RoleRead> {
    match lenient_role(raw) {
        Lenient::Value(r) => Some(r),
        _ => None,
    }
}

/// Unix seconds, when the raw value can be read as a time; `Err(())` when it is present but
/// unreadable.
pub(crate) fn lenient_timestamp_of(raw: &RawValue) -> Result<Option<i64>, ()> {
    match lenient_timestamp(raw) {
        Lenient::Value(t) => Ok(Some(t)),
        Lenient::Absent => Ok(None),
        Lenient::Unexpected => Err(()),
    }
}

pub(crate) fn raw_fields_of(raw: &RawValue) -> Option<RawFields<'_>> {
    if first_byte(raw) != b'{' {
        return None;
    }
    serde_json::from_str::<RawFields<'_>>(raw.get()).ok()
}

fn build_channel_account(raw: &RawValue) -> Lenient<ChannelAccount> {
    match first_byte(raw) {
        b'n' => return Lenient::Absent,
        b'{' => {}
        _ => return Lenient::Unexpected,
    }
    let Some(RawFields(fields)) = raw_fields_of(raw) else {
        return Lenient::Unexpected;
    };
    let mut account = ChannelAccount::default();
    for (Key(key), value) in fields {
        let slot = match &*key {
            "id" => &mut account.id,
            "name" => &mut account.name,
            "aadObjectId" => &mut account.aad_object_id,
            "role" => {
                match lenient_role(value) {
                    Lenient::Value((r, odd)) => {
                        account.role = Some(r);
                        account.odd_role = odd;
                    }
                    Lenient::Absent => {}
                    Lenient::Unexpected => account
                        .unknown_fields
                        .push((key.into_owned(), value.to_owned())),
                }
                continue;
            }
            _ => {
                account
                    .unknown_fields
                    .push((key.into_owned(), value.to_owned()));
                continue;
            }
        };
        match raw_to_string(value) {
            Lenient::Value(s) => *slot = Some(s),
            Lenient::Absent => {}
            Lenient::Unexpected => account
                .unknown_fields
                .push((key.into_owned(), value.to_owned())),
        }
    }
    Lenient::Value(account)
}

fn build_activity(RawFields(fields): RawFields<'_>) -> Activity {
    let mut a = Activity::default();
    for (Key(key), value) in fields {
        let string_slot = match &*key {
            "id" => &mut a.id,
            "text" => &mut a.text,
            "textFormat" => &mut a.text_format,
            "replyToId" => &mut a.reply_to_id,
            "channelId" => &mut a.channel_id,
            "name" => &mut a.name,
            "valueType" => &mut a.value_type,
            "type" => {
                match raw_to_string(value) {
                    Lenient::Value(s) => a.activity_type = Some(ActivityType::from_wire(&s)),
                    Lenient::Absent => {}
                    Lenient::Unexpected => {
                        a.unknown_fields.push((key.into_owned(), value.to_owned()))
                    }
                }
                continue;
            }
            "timestamp" => {
                match lenient_timestamp(value) {
                    Lenient::Value(t) => {
                        a.timestamp = Some(t);
                        a.timestamp_unreadable = false;
                    }
                    Lenient::Absent => {}
                    Lenient::Unexpected => {
                        a.timestamp_unreadable = a.timestamp.is_none();
                        a.unknown_fields.push((key.into_owned(), value.to_owned()))
                    }
                }
                continue;
            }
            "from" => {
                match build_channel_account(value) {
                    Lenient::Value(f) => a.from = Some(f),
                    Lenient::Absent => {}
                    Lenient::Unexpected => {
                        a.unknown_fields.push((key.into_owned(), value.to_owned()))
                    }
                }
                continue;
            }
            "attachments" => {
                a.attachments = Some(value.to_owned());
                continue;
            }
            "channelData" => {
                a.channel_data = Some(value.to_owned());
                continue;
            }
            "value" => {
                a.value = Some(value.to_owned());
                continue;
            }
            _ => {
                a.unknown_fields.push((key.into_owned(), value.to_owned()));
                continue;
            }
        };
        match raw_to_string(value) {
            Lenient::Value(s) => *string_slot = Some(s),
            Lenient::Absent => {}
            Lenient::Unexpected => a.unknown_fields.push((key.into_owned(), value.to_owned())),
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_from_ints_and_strings() {
        let c = Content::parse(
            r#"{"activities":[
            {"type":"message","from":{"role":1}},
            {"type":"message","from":{"role":"bot"}},
            {"type":"message","from":{"role":"User"}},
            {"type":"message","from":{"role":"skill"}},
            {"type":"message","from":{"role":7}},
            {"type":"message","from":{"role":true}}]}"#,
        )
        .unwrap();
        let roles: Vec<_> = c.activities.iter().map(|a| a.role().cloned()).collect();
        assert_eq!(
            roles,
            vec![
                Some(Role::User),
                Some(Role::Bot),
                Some(Role::User),
                Some(Role::Other("skill".into())),
                Some(Role::Other("7".into())),
                None
            ]
        );
        // The unexpected boolean role is kept, not dropped.
        let from = c.activities[5].from.as_ref().unwrap();
        assert_eq!(from.unknown_fields[0].0, "role");
        assert_eq!(from.unknown_fields[0].1.get(), "true");
    }

    #[test]
    fn unknown_types_fields_and_odd_values_are_kept() {
        let c = Content::parse(
            r#"{"schema":"x","activities":[
            {"type":"hologram","id":42,"speak":"<speak/>","timestamp":"2024-09-09T18:04:50Z",
             "text":"caf\u00e9 \"q\"","value":{"a":[1,2]}}]}"#,
        )
        .unwrap();
        let a = &c.activities[0];
        assert_eq!(
            a.activity_type,
            Some(ActivityType::Other("hologram".into()))
        );
        assert_eq!(a.id, None);
        assert_eq!(a.unknown_field("id").map(RawValue::get), Some("42"));
        assert_eq!(
            a.unknown_field("speak").map(RawValue::get),
            Some("\"<speak/>\"")
        );
        assert_eq!(a.timestamp, Some(1_725_905_090));
        assert_eq!(a.text.as_deref(), Some("café \"q\""));
        assert_eq!(
            a.value.as_deref().map(RawValue::get),
            Some(r#"{"a":[1,2]}"#)
        );
        assert_eq!(c.unknown_fields[0].0, "schema");
    }

    #[test]
    fn timestamps_in_seconds_milliseconds_and_iso_text() {
        let c = Content::parse(
            r#"{"activities":[{"timestamp":1725905090123},{"timestamp":"1725905090123"},
            {"timestamp":1725905090.5},{"timestamp":"2024-09-09T18:04:50.123Z"},
            {"timestamp":"2024-09-09T18:04:50"},{"timestamp":"2024-09-09 18:04:50.5"},
            {"timestamp":"2024-09-09T20:04:50+02:00"},{"timestamp":-5},{"timestamp":1e300}]}"#,
        )
        .unwrap();
        let ts: Vec<_> = c.activities.iter().map(|a| a.timestamp).collect();
        let t = Some(1_725_905_090);
        assert_eq!(
            ts,
            vec![t, t, t, t, t, t, t, Some(-5), Some(i64::MAX)],
            "milliseconds are divided, ISO text without an offset is UTC"
        );
    }

    #[test]
    fn odd_role_spellings_are_read_and_flagged() {
        let c = Content::parse(
            r#"{"activities":[{"from":{"role":1.0}},{"from":{"role":"1"}},{"from":{"role":"User"}},
            {"from":{"role":0.0}},{"from":{"role":"BOT"}},{"from":{"role":1}},{"from":{"role":"user"}},
            {"from":{"role":2.5}}]}"#,
        )
        .unwrap();
        let read: Vec<_> = c
            .activities
            .iter()
            .map(|a| {
                let f = a.from.as_ref().unwrap();
                (f.role.clone().unwrap(), f.odd_role.clone())
            })
            .collect();
        let odd = |s: &str| Some(s.to_owned());
        assert_eq!(
            read,
            vec![
                (Role::User, odd("1.0")),
                (Role::User, odd("\"1\"")),
                (Role::User, odd("\"User\"")),
                (Role::Bot, odd("0.0")),
                (Role::Bot, odd("\"BOT\"")),
                (Role::User, None),
                (Role::User, None),
                (Role::Other("2.5".into()), None),
            ]
        );
    }

    #[test]
    fn timestamps_in_several_shapes() {
        let c = Content::parse(
            r#"{"activities":[{"timestamp":17},{"timestamp":17.9},{"timestamp":"18"},
            {"timestamp":"soon"},{"timestamp":null},{"timestamp":[1]}]}"#,
        )
        .unwrap();
        let ts: Vec<_> = c.activities.iter().map(|a| a.timestamp).collect();
        assert_eq!(ts, vec![Some(17), Some(17), Some(18), None, None, None]);
        assert_eq!(
            c.activities[3]
                .unknown_field("timestamp")
                .map(RawValue::get),
            Some("\"soon\"")
        );
        assert_eq!(
            c.activities[5]
                .unknown_field("timestamp")
                .map(RawValue::get),
            Some("[1]")
        );
    }

    #[test]
    fn malformed_content_is_an_error() {
        assert!(Content::parse("not json").is_err());
        assert!(Content::parse("[]").is_err());
        assert!(Content::parse(r#"{"other":1}"#).is_err());
        assert!(Content::parse(r#"{"activities":null}"#).is_err());
        // An element that is not an activity is skipped and reported, not a failure.
        let c = Content::parse(r#"{"activities":[1,null,{"type":"message"},"x",[2]]}"#).unwrap();
        assert_eq!(c.activities.len(), 1);
        let found: Vec<_> = c
            .warnings
            .iter()
            .map(|w| match w {
                RowWarning::ActivityNotObject { position, found } => (*position, *found),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (0, "a number"),
                (1, "null"),
                (3, "a string"),
                (4, "an array")
            ]
        );
        assert!(
            Content::parse(r#"{"activities":[]}"#)
                .unwrap()
                .activities
                .is_empty()
        );
    }

    #[test]
    fn empty_json_detection() {
        for (s, empty) in [
            ("[]", true),
            ("[ ]", true),
            ("{}", true),
            ("null", true),
            ("[1]", false),
        ] {
            let raw = RawValue::from_string(s.to_owned()).unwrap();
            assert_eq!(is_empty_json(&raw), empty, "{s}");
        }
    }
}
