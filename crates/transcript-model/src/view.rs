//! A borrowed, allocation-light reading of a transcript's activities: only what pairing and
//! the facts need, pointing into the decoded `content` text. Used by the page -> records fast
//! path, which never materialises owned [`crate::Activity`] values.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::activity::{Key, Lenient, Role, lenient_role_of, lenient_timestamp_of, raw_str};
use crate::warning::RowWarning;

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
    pub(crate) timestamp_unreadable: bool,
    pub(crate) role: Option<Role>,
    pub(crate) odd_role: Option<String>,
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

/// What `from` says.
type From<'a> = (Option<(Role, Option<String>)>, Option<Cow<'a, str>>);

/// `from.role` (with its odd spelling) and `from.aadObjectId`, read as
/// [`crate::ChannelAccount`] reads them (a later valid value of a repeated key wins); `None`
/// when `from` is not an object.
///
/// The raw text is read as `activity::raw_fields_of` reads it (so a `from` it
/// refuses is refused here too), without collecting the fields: this runs once per activity.
fn from_fields(raw: &RawValue) -> Option<From<'_>> {
    struct Fields<'a>(From<'a>);
    impl<'de> Deserialize<'de> for Fields<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Fields<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object (a channel account)")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut role = None;
                    let mut aad = None;
                    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                        let value: &'de RawValue = map.next_value()?;
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
                    Ok(Fields((role, aad)))
                }
            }
            deserializer.deserialize_map(V)
        }
    }
    if !raw.get().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Fields<'_>>(raw.get())
        .ok()
        .map(|f| f.0)
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
                        "timestamp" => match lenient_timestamp_of(map.next_value()?) {
                            Ok(Some(t)) => {
                                a.timestamp = Some(t);
                                a.timestamp_unreadable = false;
                            }
                            Ok(None) => {}
                            Err(()) => a.timestamp_unreadable = a.timestamp.is_none(),
                        },
                        "attachments" => a.attachments = Some(map.next_value()?),
                        "channelData" => a.channel_data = Some(map.next_value()?),
                        "value" => a.value = Some(map.next_value()?),
                        "from" => {
                            let raw: &'de RawValue = map.next_value()?;
                            // Like the model: a `from` that is not an object leaves
                            // the previous one in place.
                            if let Some((role, aad)) = from_fields(raw) {
                                (a.role, a.odd_role) = match role {
                                    Some((r, odd)) => (Some(r), odd),
                                    None => (None, None),
                                };
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

/// The activities of a `content` document, validated like [`crate::Content::parse`], with
/// the warnings for elements that are not objects (skipped).
pub(crate) struct ContentView<'a>(pub(crate) Vec<ActivityView<'a>>, pub(crate) Vec<RowWarning>);

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
                        activities = Some(map.next_value::<Views<'de>>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                activities
                    .map(|v| ContentView(v.0, v.1))
                    .ok_or_else(|| de::Error::missing_field("activities"))
            }
        }
        deserializer.deserialize_map(V)
    }
}

struct Views<'a>(Vec<ActivityView<'a>>, Vec<RowWarning>);

/// An element of `activities`: a view of an object, or the JSON type of anything else.
// Lives briefly on the stack per element; boxing would cost an allocation per activity.
#[allow(clippy::large_enum_variant)]
enum ViewElement<'a> {
    Object(ActivityView<'a>),
    Other(&'static str),
}

impl<'de> Deserialize<'de> for ViewElement<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ViewElement<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an activity")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                ActivityView::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ViewElement::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(ViewElement::Other("an array"))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("a boolean"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("a number"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("a number"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("a number"))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("a string"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(ViewElement::Other("null"))
            }
        }
        deserializer.deserialize_any(V)
    }
}

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
                let mut warnings = Vec::new();
                let mut position = 0;
                while let Some(element) = seq.next_element::<ViewElement<'de>>()? {
                    match element {
                        ViewElement::Object(a) => out.push(a),
                        ViewElement::Other(found) => {
                            warnings.push(RowWarning::ActivityNotObject { position, found });
                        }
                    }
                    position += 1;
                }
                Ok(Views(out, warnings))
            }
        }
        deserializer.deserialize_seq(V)
    }
}
