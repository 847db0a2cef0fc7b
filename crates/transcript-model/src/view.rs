//! A borrowed, allocation-light reading of a transcript's activities: only what pairing and
//! the facts need, pointing into the decoded `content` text. Used by the page -> records fast
//! path, which never materialises owned [`crate::Activity`] values.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::activity::{
    Key, Lenient, RawFields, Role, lenient_role_of, lenient_timestamp_of, raw_fields_of, raw_str,
};

/// The activity types pairing distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Kind {
    Message,
    Event,
    Trace,
    #[default]
    Other,
}

impl Kind {
    pub(crate) fn of(type_name: &str) -> Self {
        if type_name.eq_ignore_ascii_case("message") {
            Kind::Message
        } else if type_name.eq_ignore_ascii_case("event") {
            Kind::Event
        } else if type_name.eq_ignore_ascii_case("trace") {
            Kind::Trace
        } else {
            Kind::Other
        }
    }
}

#[derive(Default)]
pub(crate) struct ActivityView<'a> {
    pub(crate) kind: Kind,
    pub(crate) id: Option<Cow<'a, str>>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) from_user: bool,
    pub(crate) aad_object_id: Option<Cow<'a, str>>,
    pub(crate) text: Option<Cow<'a, str>>,
    pub(crate) attachments: Option<&'a RawValue>,
    pub(crate) reply_to_id: Option<Cow<'a, str>>,
    pub(crate) channel_id: Option<Cow<'a, str>>,
    pub(crate) channel_data: Option<&'a RawValue>,
    pub(crate) name: Option<Cow<'a, str>>,
    pub(crate) value: Option<&'a RawValue>,
    pub(crate) value_type: Option<Cow<'a, str>>,
}

/// A string field, read as [`crate::Activity`] reads it: other JSON types are no string, and
/// a broken escape does not cost the text.
fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    match raw_str(raw) {
        Lenient::Value(s) => Some(s),
        _ => None,
    }
}

fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// `from.role` is the user's and `from.aadObjectId`, read as [`crate::ChannelAccount`] reads
/// them (a later valid value of a repeated key wins); `None` when `from` is not an object.
fn from_fields(raw: &RawValue) -> Option<(bool, Option<Cow<'_, str>>)> {
    let RawFields(fields) = raw_fields_of(raw)?;
    let mut role = None;
    let mut aad = None;
    for (Key(key), value) in fields {
        match &*key {
            "role" => {
                if let Some(r) = lenient_role_of(value) {
                    role = Some(r);
                }
            }
            "aadObjectId" => {
                if let Some(s) = string(value) {
                    aad = Some(s);
                }
            }
            _ => {}
        }
    }
    Some((role == Some(Role::User), aad))
}

impl<'de> Deserialize<'de> for ActivityView<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ActivityView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object (an activity)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut a = ActivityView::default();
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    match &*key {
                        // A repeated key overwrites only with a usable value, as in the model.
                        "type" => {
                            if let Some(t) = string(map.next_value()?) {
                                a.kind = Kind::of(&t);
                            }
                        }
                        "id" => set(&mut a.id, string(map.next_value()?)),
                        "text" => set(&mut a.text, string(map.next_value()?)),
                        "replyToId" => set(&mut a.reply_to_id, string(map.next_value()?)),
                        "channelId" => set(&mut a.channel_id, string(map.next_value()?)),
                        "name" => set(&mut a.name, string(map.next_value()?)),
                        "valueType" => set(&mut a.value_type, string(map.next_value()?)),
                        "timestamp" => {
                            set(&mut a.timestamp, lenient_timestamp_of(map.next_value()?));
                        }
                        "attachments" => a.attachments = Some(map.next_value()?),
                        "channelData" => a.channel_data = Some(map.next_value()?),
                        "value" => a.value = Some(map.next_value()?),
                        "from" => {
                            let raw: &'de RawValue = map.next_value()?;
                            // Like the model: a `from` that is not an object leaves
                            // the previous one in place.
                            if let Some((from_user, aad)) = from_fields(raw) {
                                a.from_user = from_user;
                                a.aad_object_id = aad;
                            }
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(a)
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The activities of a `content` document, validated like [`crate::Content::parse`].
pub(crate) struct ContentView<'a>(pub(crate) Vec<ActivityView<'a>>);

impl<'de> Deserialize<'de> for ContentView<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ContentView<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a transcript content object {\"activities\": [...]}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut activities = None;
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    if key == "activities" {
                        activities = Some(map.next_value::<Views<'de>>()?.0);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                activities
                    .map(ContentView)
                    .ok_or_else(|| de::Error::missing_field("activities"))
            }
        }
        deserializer.deserialize_map(V)
    }
}

struct Views<'a>(Vec<ActivityView<'a>>);

impl<'de> Deserialize<'de> for Views<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Views<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of activities")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(32));
                while let Some(a) = seq.next_element::<ActivityView<'de>>()? {
                    out.push(a);
                }
                Ok(Views(out))
            }
        }
        deserializer.deserialize_seq(V)
    }
}
