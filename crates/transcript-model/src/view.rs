//! A borrowed, allocation-light reading of a transcript's activities: only what pairing and
//! the facts need, pointing into the decoded `content` text. Used by the page -> records fast
//! path, which never materialises owned [`crate::Activity`] values.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::activity::{Key, Role, lenient_role_of, lenient_timestamp_of};
use crate::transcript::Column;

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

fn string(c: Column<'_>) -> Option<Cow<'_, str>> {
    match c {
        Column::Str(s) => Some(s),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FromView<'a> {
    #[serde(default, borrow)]
    role: Option<&'a RawValue>,
    #[serde(default, borrow)]
    aad_object_id: Option<&'a RawValue>,
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
                        "type" => {
                            if let Column::Str(t) = map.next_value::<Column<'de>>()? {
                                a.kind = Kind::of(&t);
                            }
                        }
                        "id" => a.id = string(map.next_value()?),
                        "text" => a.text = string(map.next_value()?),
                        "replyToId" => a.reply_to_id = string(map.next_value()?),
                        "channelId" => a.channel_id = string(map.next_value()?),
                        "name" => a.name = string(map.next_value()?),
                        "valueType" => a.value_type = string(map.next_value()?),
                        "timestamp" => a.timestamp = lenient_timestamp_of(map.next_value()?),
                        "attachments" => a.attachments = Some(map.next_value()?),
                        "channelData" => a.channel_data = Some(map.next_value()?),
                        "value" => a.value = Some(map.next_value()?),
                        "from" => {
                            let raw: &'de RawValue = map.next_value()?;
                            if let Ok(from) = serde_json::from_str::<FromView<'de>>(raw.get()) {
                                a.from_user = from
                                    .role
                                    .and_then(lenient_role_of)
                                    .is_some_and(|r| r == Role::User);
                                a.aad_object_id = from
                                    .aad_object_id
                                    .and_then(|r| serde_json::from_str::<Column<'de>>(r.get()).ok())
                                    .and_then(string);
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
