//! The eight tables' rows and their Dataverse JSON bodies.
//!
//! Every row type serialises to the JSON body of a Dataverse row: logical names as
//! keys, choices as integers, date-times as ISO 8601 in UTC, memo JSON columns as
//! strings. A written row carries *every* column of its table, `null` where the scan
//! has no value, so that an upsert clears a value that is no longer true instead of
//! leaving the old one in place. Reading accepts rows as Dataverse returns them:
//! missing columns are `None`, and keys that are not columns (the primary key,
//! `@odata.*` annotations, system columns such as `_ownerid_value` or `statecode`)
//! are ignored.

use botcomponent_schema::{FeatureType, SchemaGeneration};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{RowError, ValidationError};
use crate::options::{
    AgentType, CreatedIn, DetectionConfidence, DetectionSource, DiscoverySource, OptionSetValue,
    PolicyType, RiskLevel, ScanCompleteness, SpendScope, WorkIqObserved, WorkIqTier, Zone,
};
use crate::schema::{self, ColumnType, TableDef};

/// How choice columns are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// The Dataverse Web API body: choices as their integer values.
    Dataverse,
    /// The published sample record: choices as their labels.
    Labels,
}

/// A column value's conversion to and from JSON.
pub trait ColumnValue: Sized {
    /// The JSON for this value.
    fn encode(&self, encoding: Encoding) -> Value;
    /// The value from the JSON of a row (`None` when the key is absent).
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        encoding: Encoding,
    ) -> Result<Self, RowError>;
    /// The length in characters of a text value, for validation.
    fn text_len(&self) -> Option<usize> {
        None
    }
    /// Whether the value is present (not `None`).
    fn is_present(&self) -> bool {
        true
    }
    /// A choice value's option set and integer, for validation.
    fn choice(&self) -> Option<(&'static str, i32)> {
        None
    }
    /// Serialises the value as [`encode`](Self::encode) makes it, without building the
    /// JSON value first (a text is not copied).
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        encoding: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.encode(encoding), serializer)
    }
}

/// A column value serialised as [`ColumnValue::encode`] makes it.
struct Encoded<'a, T>(&'a T, Encoding);

impl<T: ColumnValue> serde::Serialize for Encoded<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_encoded(self.1, serializer)
    }
}

/// The indices of `columns` in the order a JSON object map writes its keys (by name; of
/// two equal names, the later one, as the later insert wins).
fn key_order(columns: &[&str]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..columns.len()).collect();
    order.sort_by_key(|&i| (columns[i], std::cmp::Reverse(i)));
    order.dedup_by_key(|i| columns[*i]);
    order
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn present<'a>(
    value: Option<&'a Value>,
    table: &'static str,
    column: &'static str,
) -> Result<&'a Value, RowError> {
    match value {
        None | Some(Value::Null) => Err(RowError::Missing { table, column }),
        Some(v) => Ok(v),
    }
}

fn wrong(
    table: &'static str,
    column: &'static str,
    expected: &'static str,
    found: &Value,
) -> RowError {
    RowError::WrongType {
        table,
        column,
        expected,
        found: kind_of(found),
    }
}

impl ColumnValue for String {
    fn encode(&self, _: Encoding) -> Value {
        Value::String(self.clone())
    }
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        _: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        _: Encoding,
    ) -> Result<Self, RowError> {
        match present(value, table, column)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(wrong(table, column, "a string", other)),
        }
    }
    fn text_len(&self) -> Option<usize> {
        Some(self.chars().count())
    }
}

impl ColumnValue for i32 {
    fn encode(&self, _: Encoding) -> Value {
        Value::from(*self)
    }
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        _: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(i64::from(*self))
    }
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        _: Encoding,
    ) -> Result<Self, RowError> {
        let v = present(value, table, column)?;
        v.as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| wrong(table, column, "a 32-bit whole number", v))
    }
}

impl ColumnValue for bool {
    fn encode(&self, _: Encoding) -> Value {
        Value::Bool(*self)
    }
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        _: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(*self)
    }
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        _: Encoding,
    ) -> Result<Self, RowError> {
        let v = present(value, table, column)?;
        v.as_bool()
            .ok_or_else(|| wrong(table, column, "a boolean", v))
    }
}

/// Formats a date-time as Dataverse writes it: UTC, whole seconds, `Z`.
pub fn format_datetime(value: OffsetDateTime) -> String {
    DateTimeText::new().format(value).to_owned()
}

/// The text of one date-time column, formatted on the stack: every row carries several
/// date-times (most of them the run's own time), and `format!` with padding per column was
/// a visible part of writing 50,000 rows.
struct DateTimeText {
    bytes: [u8; 20],
    /// Years outside 0..=9999 (never seen in Dataverse) take the general path.
    wide: Option<String>,
}

impl DateTimeText {
    fn new() -> DateTimeText {
        DateTimeText {
            bytes: *b"0000-00-00T00:00:00Z",
            wide: None,
        }
    }

    fn format(&mut self, value: OffsetDateTime) -> &str {
        let utc = value.to_offset(time::UtcOffset::UTC);
        let Ok(year) = u16::try_from(utc.year()) else {
            return self.format_wide(utc);
        };
        if year > 9999 {
            return self.format_wide(utc);
        }
        let b = &mut self.bytes;
        let two = |b: &mut [u8; 20], at: usize, n: u8| {
            b[at] = b'0' + n / 10;
            b[at + 1] = b'0' + n % 10;
        };
        two(b, 0, (year / 100) as u8);
        two(b, 2, (year % 100) as u8);
        two(b, 5, u8::from(utc.month()));
        two(b, 8, utc.day());
        two(b, 11, utc.hour());
        two(b, 14, utc.minute());
        two(b, 17, utc.second());
        // Only ASCII digits were written over an ASCII template.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }

    fn format_wide(&mut self, utc: OffsetDateTime) -> &str {
        self.wide.insert(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        ))
    }
}

/// The date-time truncated to whole seconds (Dataverse keeps no more).
pub fn whole_seconds(value: OffsetDateTime) -> OffsetDateTime {
    value.replace_nanosecond(0).unwrap_or(value)
}

impl ColumnValue for OffsetDateTime {
    fn encode(&self, _: Encoding) -> Value {
        Value::String(format_datetime(*self))
    }
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        _: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(DateTimeText::new().format(*self))
    }
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        _: Encoding,
    ) -> Result<Self, RowError> {
        match present(value, table, column)? {
            Value::String(s) => {
                OffsetDateTime::parse(s, &Rfc3339).map_err(|_| RowError::BadDateTime {
                    table,
                    column,
                    value: s.chars().take(64).collect(),
                })
            }
            other => Err(wrong(table, column, "an ISO 8601 date-time string", other)),
        }
    }
}

fn encode_choice<T: OptionSetValue>(value: T, encoding: Encoding) -> Value {
    match encoding {
        Encoding::Dataverse => Value::from(value.option_value()),
        Encoding::Labels => Value::String(value.label().to_owned()),
    }
}

fn decode_choice<T: OptionSetValue>(
    value: Option<&Value>,
    table: &'static str,
    column: &'static str,
    encoding: Encoding,
) -> Result<T, RowError> {
    let v = present(value, table, column)?;
    let unknown = |value: String| RowError::UnknownOption {
        table,
        column,
        option_set: T::OPTION_SET,
        value,
    };
    match (v, encoding) {
        (Value::Number(n), _) => {
            let n = n
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| unknown(n.to_string()))?;
            T::from_option_value(n).ok_or_else(|| unknown(n.to_string()))
        }
        (Value::String(label), Encoding::Labels) => {
            T::from_label(label).ok_or_else(|| unknown(label.chars().take(100).collect()))
        }
        (other, Encoding::Dataverse) => {
            Err(wrong(table, column, "an option value (integer)", other))
        }
        (other, Encoding::Labels) => Err(wrong(table, column, "an option label or value", other)),
    }
}

macro_rules! choice_column {
    ($($t:ty),* $(,)?) => {$(
        impl ColumnValue for $t {
            fn encode(&self, encoding: Encoding) -> Value {
                encode_choice(*self, encoding)
            }
            fn serialize_encoded<S: serde::Serializer>(
                &self,
                encoding: Encoding,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match encoding {
                    Encoding::Dataverse => {
                        serializer.serialize_i64(i64::from(OptionSetValue::option_value(*self)))
                    }
                    Encoding::Labels => serializer.serialize_str(OptionSetValue::label(*self)),
                }
            }
            fn decode(
                value: Option<&Value>,
                table: &'static str,
                column: &'static str,
                encoding: Encoding,
            ) -> Result<Self, RowError> {
                decode_choice(value, table, column, encoding)
            }
            fn choice(&self) -> Option<(&'static str, i32)> {
                Some((<$t as OptionSetValue>::OPTION_SET, OptionSetValue::option_value(*self)))
            }
        }
    )*};
}

choice_column!(
    Zone,
    CreatedIn,
    AgentType,
    DiscoverySource,
    FeatureType,
    SchemaGeneration,
    PolicyType,
    SpendScope,
    WorkIqTier,
    WorkIqObserved,
    RiskLevel,
    ScanCompleteness,
    DetectionSource,
    DetectionConfidence,
);

impl<T: ColumnValue> ColumnValue for Option<T> {
    fn encode(&self, encoding: Encoding) -> Value {
        match self {
            Some(v) => v.encode(encoding),
            None => Value::Null,
        }
    }
    fn serialize_encoded<S: serde::Serializer>(
        &self,
        encoding: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => v.serialize_encoded(encoding, serializer),
            None => serializer.serialize_unit(),
        }
    }
    fn decode(
        value: Option<&Value>,
        table: &'static str,
        column: &'static str,
        encoding: Encoding,
    ) -> Result<Self, RowError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            some => T::decode(some, table, column, encoding).map(Some),
        }
    }
    fn text_len(&self) -> Option<usize> {
        self.as_ref().and_then(ColumnValue::text_len)
    }
    fn is_present(&self) -> bool {
        self.is_some()
    }
    fn choice(&self) -> Option<(&'static str, i32)> {
        self.as_ref().and_then(ColumnValue::choice)
    }
}

/// What every inventory row can do.
pub trait InventoryRow: Sized + Clone + PartialEq + std::fmt::Debug {
    /// The table the row belongs to.
    const TABLE: &'static TableDef;

    /// The row as a JSON object with every column of the table, in column order.
    fn to_json(&self, encoding: Encoding) -> Map<String, Value>;

    /// The row from a JSON object (keys that are not columns are ignored).
    fn from_json(object: &Map<String, Value>, encoding: Encoding) -> Result<Self, RowError>;

    /// Serialises the row as [`to_json`](Self::to_json) makes it (the same keys, in the
    /// order a JSON object writes them, with the same values) without building the object:
    /// a scan's document holds tens of thousands of rows.
    fn serialize_row<S: serde::Serializer>(
        &self,
        encoding: Encoding,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.to_json(encoding), serializer)
    }

    /// Checks the row against its table: required columns present, text within its
    /// maximum length. Every problem is reported, not just the first.
    fn validate(&self) -> Result<(), Vec<ValidationError>>;

    /// Whether the two rows hold the same values in every column but the `ignored` ones
    /// (logical names), compared as typed values (no JSON is made).
    fn same_except(&self, other: &Self, ignored: &[&str]) -> bool {
        let (mut a, mut b) = (
            self.to_json(Encoding::Dataverse),
            other.to_json(Encoding::Dataverse),
        );
        for c in ignored {
            a.remove(*c);
            b.remove(*c);
        }
        a == b
    }

    /// The values of the upsert key's columns, in key order, if the table has a key.
    fn key_values(&self) -> Option<Vec<(&'static str, String)>> {
        let key = Self::TABLE.upsert_key()?;
        let json = self.to_json(Encoding::Dataverse);
        key.columns
            .iter()
            .map(|c| Some((*c, json.get(*c)?.as_str()?.to_owned())))
            .collect()
    }

    /// The Web API path that upserts this row by its alternate key, e.g.
    /// `fsi_copilotagents(fsi_agentid='a',fsi_environmentid='e')` (single quotes in
    /// values doubled). `None` when the table has no key or a key column is empty.
    fn upsert_path(&self) -> Option<String> {
        let values = self.key_values()?;
        let parts: Vec<String> = values
            .iter()
            .map(|(c, v)| format!("{c}='{}'", v.replace('\'', "''")))
            .collect();
        Some(format!(
            "{}({})",
            Self::TABLE.entity_set_name,
            parts.join(",")
        ))
    }
}

fn check_column<V: ColumnValue>(
    table: &'static TableDef,
    column: &'static str,
    value: &V,
    problems: &mut Vec<ValidationError>,
) {
    let Some(def) = table.column(column) else {
        problems.push(ValidationError::NotAColumn {
            table: table.logical_name,
            column,
        });
        return;
    };
    if def.required && !value.is_present() {
        problems.push(ValidationError::MissingRequired {
            table: table.logical_name,
            column,
        });
    }
    if let (Some(max), Some(len)) = (def.column_type.max_length(), value.text_len())
        && len > max as usize
    {
        problems.push(ValidationError::TooLong {
            table: table.logical_name,
            column,
            max_length: max,
            length: len,
        });
    }
    if let ColumnType::Choice { option_set } = def.column_type
        && let Some((set, _)) = value.choice()
        && set != option_set
    {
        problems.push(ValidationError::WrongOptionSet {
            table: table.logical_name,
            column,
            expected: option_set,
            found: set,
        });
    }
}

macro_rules! inventory_row {
    (
        $(#[$meta:meta])*
        pub struct $name:ident: $table:path {
            $( $(#[$fmeta:meta])* $field:ident: $ty:ty => $column:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* #[doc = concat!("\n\nColumn `", $column, "`.")] pub $field: $ty, )*
        }

        impl InventoryRow for $name {
            const TABLE: &'static TableDef = &$table;

            fn to_json(&self, encoding: Encoding) -> Map<String, Value> {
                let mut map = Map::new();
                $( map.insert($column.to_owned(), ColumnValue::encode(&self.$field, encoding)); )*
                map
            }

            fn from_json(object: &Map<String, Value>, encoding: Encoding) -> Result<Self, RowError> {
                Ok($name {
                    $( $field: ColumnValue::decode(
                        object.get($column),
                        $table.logical_name,
                        $column,
                        encoding,
                    )?, )*
                })
            }

            fn serialize_row<S: serde::Serializer>(
                &self,
                encoding: Encoding,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                const COLUMNS: &[&str] = &[$($column),*];
                static ORDER: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
                let order = ORDER.get_or_init(|| key_order(COLUMNS));
                let mut map = serializer.serialize_map(Some(order.len()))?;
                for &wanted in order {
                    let mut at = 0usize;
                    $(
                        if at == wanted {
                            map.serialize_entry($column, &Encoded(&self.$field, encoding))?;
                        }
                        at += 1;
                    )*
                    debug_assert_eq!(at, COLUMNS.len());
                }
                map.end()
            }

            fn validate(&self) -> Result<(), Vec<ValidationError>> {
                let mut problems = Vec::new();
                $( check_column(&$table, $column, &self.$field, &mut problems); )*
                if problems.is_empty() { Ok(()) } else { Err(problems) }
            }

            fn same_except(&self, other: &Self, ignored: &[&str]) -> bool {
                true $( && (ignored.contains(&$column) || self.$field == other.$field) )*
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.serialize_row(Encoding::Dataverse, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let object = Map::<String, Value>::deserialize(deserializer)?;
                Self::from_json(&object, Encoding::Dataverse).map_err(serde::de::Error::custom)
            }
        }
    };
}

inventory_row! {
    /// A `fsi_copilotagent` row: one agent in one environment.
    pub struct AgentRow: schema::AGENT {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// The bot id (tenant inventory `name`, Dataverse `botid`). Key part.
        agent_id: String => "fsi_agentid",
        /// Display name.
        agent_name: Option<String> => "fsi_agentname",
        /// Environment id. Key part.
        environment_id: String => "fsi_environmentid",
        /// The bot's schema name.
        schema_name: Option<String> => "fsi_schemaname",
        /// Owner's UPN.
        owner_upn: Option<String> => "fsi_ownerupn",
        /// Owner's Entra object id.
        owner_id: Option<String> => "fsi_ownerid",
        /// Authoring surface.
        created_in: Option<CreatedIn> => "fsi_createdin",
        /// Kind of agent.
        agent_type: Option<AgentType> => "fsi_agenttype",
        /// `Published`, `Draft`, `Inactive` ...
        published_state: Option<String> => "fsi_publishedstate",
        /// Authentication mode text.
        auth_mode: Option<String> => "fsi_authmode",
        /// Identity bot id from the tenant inventory.
        bot_id: Option<String> => "fsi_botid",
        /// Entra application id.
        entra_app_id: Option<String> => "fsi_entraappid",
        /// Entra agent identity id.
        entra_agent_id: Option<String> => "fsi_entraagentid",
        /// Managed solution flag.
        is_managed: Option<bool> => "fsi_ismanaged",
        /// Region.
        region: Option<String> => "fsi_region",
        /// Discovery source.
        discovery_source: Option<DiscoverySource> => "fsi_discoverysource",
        /// Created.
        created_on: Option<OffsetDateTime> => "fsi_createdon",
        /// Modified.
        modified_on: Option<OffsetDateTime> => "fsi_modifiedon",
        /// Last published.
        last_published_at: Option<OffsetDateTime> => "fsi_lastpublishedat",
        /// Last refreshed by a scan.
        last_scanned_at: Option<OffsetDateTime> => "fsi_lastscannedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
        /// The source record as JSON text.
        raw_json: Option<String> => "fsi_rawjson",
    }
}

inventory_row! {
    /// A `fsi_caienvironment` row.
    pub struct EnvironmentRow: schema::ENVIRONMENT {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Environment id. Key.
        environment_id: String => "fsi_environmentid",
        /// Display name.
        environment_name: Option<String> => "fsi_environmentname",
        /// Dataverse Web API base URL.
        environment_url: Option<String> => "fsi_environmenturl",
        /// Region.
        region: Option<String> => "fsi_region",
        /// Production, Sandbox, Trial, Default, Developer, Teams.
        environment_type: Option<String> => "fsi_environmenttype",
        /// Managed Environment.
        is_managed: Option<bool> => "fsi_ismanaged",
        /// Governance zone.
        zone: Option<Zone> => "fsi_zone",
        /// Agents found.
        agent_count: Option<i32> => "fsi_agentcount",
        /// Delta link for the next incremental scan.
        delta_link: Option<String> => "fsi_deltalink",
        /// Last scanned.
        last_scanned_at: Option<OffsetDateTime> => "fsi_lastscannedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caiagentfeature` row.
    pub struct AgentFeatureRow: schema::AGENT_FEATURE {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Parent agent's bot id. Key part.
        agent_id: String => "fsi_agentid",
        /// Environment id.
        environment_id: Option<String> => "fsi_environmentid",
        /// Feature class.
        feature_type: Option<FeatureType> => "fsi_featuretype",
        /// Raw component type.
        component_type: Option<i32> => "fsi_componenttype",
        /// V1/V2 generation.
        component_version: Option<SchemaGeneration> => "fsi_componentversion",
        /// Source record id. Key part.
        source_object_id: String => "fsi_sourceobjectid",
        /// Source record name.
        source_object_name: Option<String> => "fsi_sourceobjectname",
        /// Active.
        is_enabled: Option<bool> => "fsi_isenabled",
        /// Relationship it was found through.
        relationship_name: Option<String> => "fsi_relationshipname",
        /// What produced the row (0.2.0).
        detection_source: Option<DetectionSource> => "fsi_detectionsource",
        /// How sure the row is (0.2.0).
        detection_confidence: Option<DetectionConfidence> => "fsi_detectionconfidence",
        /// What was read, bounded JSON (0.2.0).
        detection_detail: Option<String> => "fsi_detectiondetail",
        /// Agent id not yet bound to a bot (0.2.0).
        agent_ref_provisional: Option<bool> => "fsi_agentrefprovisional",
        /// Last refreshed.
        last_scanned_at: Option<OffsetDateTime> => "fsi_lastscannedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caiauthshare` row.
    pub struct AuthShareRow: schema::AUTH_SHARE {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Bot id. Key part.
        agent_id: String => "fsi_agentid",
        /// Environment id. Key part.
        environment_id: String => "fsi_environmentid",
        /// Authentication mode text.
        auth_mode: Option<String> => "fsi_authmode",
        /// Identity provider.
        auth_provider: Option<String> => "fsi_authprovider",
        /// Users must sign in.
        require_sign_in: Option<bool> => "fsi_requiresignin",
        /// Entra authentication with sign-in required.
        entra_auth_asserted: Option<bool> => "fsi_entraauthasserted",
        /// Viewer security groups, JSON array text.
        viewer_groups: Option<String> => "fsi_viewergroups",
        /// Editor principals, JSON array text.
        editor_principals: Option<String> => "fsi_editorprincipals",
        /// Viewer count.
        shared_with_viewer_count: Option<i32> => "fsi_sharedwithviewercount",
        /// Editor count.
        shared_with_editor_count: Option<i32> => "fsi_sharedwitheditorcount",
        /// Managed Environment sharing limit.
        limit_sharing_mode: Option<String> => "fsi_limitsharingmode",
        /// Shared with everyone (0.2.0).
        shared_with_everyone: Option<bool> => "fsi_sharedwitheveryone",
        /// Whole-tenant audience (0.2.0).
        audience_whole_tenant: Option<bool> => "fsi_audiencewholetenant",
        /// Resolved audience size (0.2.0).
        audience_upn_count: Option<i32> => "fsi_audienceupncount",
        /// Resolved audience is partial (0.2.0).
        audience_truncated: Option<bool> => "fsi_audiencetruncated",
        /// Resolution status text (0.2.0): `Complete`, `Partial`, `WholeTenantNotEnumerated`, `Failed` or `NotResolved`.
        audience_resolution_status: Option<String> => "fsi_audienceresolutionstatus",
        /// When the audience was resolved (0.2.0).
        audience_resolved_at: Option<OffsetDateTime> => "fsi_audienceresolvedat",
        /// Last scanned.
        last_scanned_at: Option<OffsetDateTime> => "fsi_lastscannedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caibillingentitlement` row (downstream shell; no alternate key).
    pub struct BillingEntitlementRow: schema::BILLING_ENTITLEMENT {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Bot id, empty for tenant-level policies.
        agent_id: Option<String> => "fsi_agentid",
        /// Policy id.
        policy_id: Option<String> => "fsi_policyid",
        /// Policy kind.
        policy_type: Option<PolicyType> => "fsi_policytype",
        /// Scoping group.
        user_scope_group_id: Option<String> => "fsi_userscopegroupid",
        /// Surface.
        spend_scope: Option<SpendScope> => "fsi_spendscope",
        /// Budget state.
        budget_state: Option<String> => "fsi_budgetstate",
        /// Zero-rated.
        zero_rating_eligible: Option<bool> => "fsi_zeroratingeligible",
        /// Basis of the decision.
        entitlement_basis: Option<String> => "fsi_entitlementbasis",
        /// Evaluated.
        last_evaluated_at: Option<OffsetDateTime> => "fsi_lastevaluatedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caiusagesignal` row.
    pub struct UsageSignalRow: schema::USAGE_SIGNAL {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Bot id. Key part.
        agent_id: String => "fsi_agentid",
        /// Environment id. Key part.
        environment_id: String => "fsi_environmentid",
        /// Latest interaction.
        last_interaction_utc: Option<OffsetDateTime> => "fsi_lastinteractionutc",
        /// Interactions in the window.
        interactions_30d: Option<i32> => "fsi_interactions30d",
        /// Distinct users in the window.
        unique_users_30d: Option<i32> => "fsi_uniqueusers30d",
        /// Sessions in the window.
        sessions_30d: Option<i32> => "fsi_sessions30d",
        /// Window length in days.
        aggregation_window_days: Option<i32> => "fsi_aggregationwindowdays",
        /// Source of the counts.
        signal_source: Option<String> => "fsi_signalsource",
        /// When computed.
        last_aggregated_at: Option<OffsetDateTime> => "fsi_lastaggregatedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caiworkiqstate` row (downstream shell).
    pub struct WorkIqStateRow: schema::WORK_IQ_STATE {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Bot id. Key part.
        agent_id: String => "fsi_agentid",
        /// Environment id. Key part.
        environment_id: String => "fsi_environmentid",
        /// Configured.
        configured: Option<bool> => "fsi_configured",
        /// Tier.
        configured_tier: Option<WorkIqTier> => "fsi_configuredtier",
        /// Observed status.
        observed_status: Option<WorkIqObserved> => "fsi_observedstatus",
        /// Per-user licence needed.
        per_user_license_required: Option<bool> => "fsi_peruserlicenserequired",
        /// Component type the configuration was found in.
        config_source_component_type: Option<i32> => "fsi_configsourcecomponenttype",
        /// Latest invocation.
        last_observed_utc: Option<OffsetDateTime> => "fsi_lastobservedutc",
        /// Last scanned.
        last_scanned_at: Option<OffsetDateTime> => "fsi_lastscannedat",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

inventory_row! {
    /// A `fsi_caicompliancestate` row.
    pub struct ComplianceStateRow: schema::COMPLIANCE_STATE {
        /// Primary name.
        name: Option<String> => "fsi_name",
        /// Bot id. Key part.
        agent_id: String => "fsi_agentid",
        /// Environment id. Key part.
        environment_id: String => "fsi_environmentid",
        /// Risk level.
        risk_level: Option<RiskLevel> => "fsi_risklevel",
        /// Completeness.
        scan_completeness: Option<ScanCompleteness> => "fsi_scancompleteness",
        /// Why not complete.
        scan_completeness_reason: Option<String> => "fsi_scancompletenessreason",
        /// Open violations.
        violation_count: Option<i32> => "fsi_violationcount",
        /// Violations, JSON array text.
        violations_json: Option<String> => "fsi_violationsjson",
        /// When evaluated.
        last_checked_utc: Option<OffsetDateTime> => "fsi_lastcheckedutc",
        /// Scan run id.
        run_id: Option<String> => "fsi_runid",
    }
}

macro_rules! empty_row {
    ($name:ident { $($key:ident),* }) => {
        impl $name {
            /// A row with its key columns set and every other column empty.
            pub fn new($($key: impl Into<String>),*) -> Self {
                let mut row = Self::blank();
                $( row.$key = $key.into(); )*
                row
            }
        }
    };
}

impl AgentRow {
    fn blank() -> Self {
        AgentRow {
            name: None,
            agent_id: String::new(),
            agent_name: None,
            environment_id: String::new(),
            schema_name: None,
            owner_upn: None,
            owner_id: None,
            created_in: None,
            agent_type: None,
            published_state: None,
            auth_mode: None,
            bot_id: None,
            entra_app_id: None,
            entra_agent_id: None,
            is_managed: None,
            region: None,
            discovery_source: None,
            created_on: None,
            modified_on: None,
            last_published_at: None,
            last_scanned_at: None,
            run_id: None,
            raw_json: None,
        }
    }
}
empty_row!(AgentRow {
    agent_id,
    environment_id
});

impl EnvironmentRow {
    fn blank() -> Self {
        EnvironmentRow {
            name: None,
            environment_id: String::new(),
            environment_name: None,
            environment_url: None,
            region: None,
            environment_type: None,
            is_managed: None,
            zone: None,
            agent_count: None,
            delta_link: None,
            last_scanned_at: None,
            run_id: None,
        }
    }
}
empty_row!(EnvironmentRow { environment_id });

impl AgentFeatureRow {
    fn blank() -> Self {
        AgentFeatureRow {
            name: None,
            agent_id: String::new(),
            environment_id: None,
            feature_type: None,
            component_type: None,
            component_version: None,
            source_object_id: String::new(),
            source_object_name: None,
            is_enabled: None,
            relationship_name: None,
            detection_source: None,
            detection_confidence: None,
            detection_detail: None,
            agent_ref_provisional: None,
            last_scanned_at: None,
            run_id: None,
        }
    }
}
empty_row!(AgentFeatureRow {
    agent_id,
    source_object_id
});

impl AuthShareRow {
    fn blank() -> Self {
        AuthShareRow {
            name: None,
            agent_id: String::new(),
            environment_id: String::new(),
            auth_mode: None,
            auth_provider: None,
            require_sign_in: None,
            entra_auth_asserted: None,
            viewer_groups: None,
            editor_principals: None,
            shared_with_viewer_count: None,
            shared_with_editor_count: None,
            limit_sharing_mode: None,
            shared_with_everyone: None,
            audience_whole_tenant: None,
            audience_upn_count: None,
            audience_truncated: None,
            audience_resolution_status: None,
            audience_resolved_at: None,
            last_scanned_at: None,
            run_id: None,
        }
    }
}
empty_row!(AuthShareRow {
    agent_id,
    environment_id
});

impl BillingEntitlementRow {
    /// A row with every column empty.
    pub fn new() -> Self {
        BillingEntitlementRow {
            name: None,
            agent_id: None,
            policy_id: None,
            policy_type: None,
            user_scope_group_id: None,
            spend_scope: None,
            budget_state: None,
            zero_rating_eligible: None,
            entitlement_basis: None,
            last_evaluated_at: None,
            run_id: None,
        }
    }
}

impl Default for BillingEntitlementRow {
    fn default() -> Self {
        Self::new()
    }
}

impl UsageSignalRow {
    fn blank() -> Self {
        UsageSignalRow {
            name: None,
            agent_id: String::new(),
            environment_id: String::new(),
            last_interaction_utc: None,
            interactions_30d: None,
            unique_users_30d: None,
            sessions_30d: None,
            aggregation_window_days: None,
            signal_source: None,
            last_aggregated_at: None,
            run_id: None,
        }
    }
}
empty_row!(UsageSignalRow {
    agent_id,
    environment_id
});

impl WorkIqStateRow {
    fn blank() -> Self {
        WorkIqStateRow {
            name: None,
            agent_id: String::new(),
            environment_id: String::new(),
            configured: None,
            configured_tier: None,
            observed_status: None,
            per_user_license_required: None,
            config_source_component_type: None,
            last_observed_utc: None,
            last_scanned_at: None,
            run_id: None,
        }
    }
}
empty_row!(WorkIqStateRow {
    agent_id,
    environment_id
});

impl ComplianceStateRow {
    fn blank() -> Self {
        ComplianceStateRow {
            name: None,
            agent_id: String::new(),
            environment_id: String::new(),
            risk_level: None,
            scan_completeness: None,
            scan_completeness_reason: None,
            violation_count: None,
            violations_json: None,
            last_checked_utc: None,
            run_id: None,
        }
    }
}
empty_row!(ComplianceStateRow {
    agent_id,
    environment_id
});

fn json_column<T: serde::de::DeserializeOwned + Default>(
    table: &'static TableDef,
    column: &'static str,
    text: Option<&str>,
) -> Result<T, RowError> {
    match text.map(str::trim) {
        None | Some("") => Ok(T::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| RowError::BadJson {
            table: table.logical_name,
            column,
            detail: e.to_string(),
        }),
    }
}

impl AuthShareRow {
    /// `fsi_viewergroups` decoded: the viewer group (or principal) ids; empty when
    /// the column is empty.
    pub fn viewer_group_ids(&self) -> Result<Vec<String>, RowError> {
        json_column(
            Self::TABLE,
            "fsi_viewergroups",
            self.viewer_groups.as_deref(),
        )
    }

    /// `fsi_editorprincipals` decoded: the editor principal ids; empty when the
    /// column is empty.
    pub fn editor_principal_ids(&self) -> Result<Vec<String>, RowError> {
        json_column(
            Self::TABLE,
            "fsi_editorprincipals",
            self.editor_principals.as_deref(),
        )
    }
}

impl ComplianceStateRow {
    /// `fsi_violationsjson` decoded; empty when the column is empty.
    pub fn violations(&self) -> Result<Vec<crate::posture::Violation>, RowError> {
        json_column(
            Self::TABLE,
            "fsi_violationsjson",
            self.violations_json.as_deref(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `format_datetime` before it wrote into a stack buffer: the reference.
    fn format_datetime_reference(value: OffsetDateTime) -> String {
        let utc = value.to_offset(time::UtcOffset::UTC);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            utc.year(),
            u8::from(utc.month()),
            utc.day(),
            utc.hour(),
            utc.minute(),
            utc.second()
        )
    }

    proptest! {
        #[test]
        fn formatted_date_times_agree_with_the_reference(
            seconds in -62_167_219_200i64..253_402_300_800,
            nanos in 0u32..1_000_000_000,
            offset in -86_399i32..86_399,
        ) {
            let utc = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                .replace_nanosecond(nanos).unwrap();
            let value = utc.to_offset(time::UtcOffset::from_whole_seconds(offset).unwrap());
            prop_assert_eq!(format_datetime(value), format_datetime_reference(value));
        }
    }

    #[test]
    fn edge_dates_and_the_serialised_text() {
        use time::macros::datetime;
        for value in [
            datetime!(2026-12-02 14:05:09.999 UTC),
            datetime!(0000-01-01 00:00 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
            datetime!(2026-01-01 00:30 +01:00),
        ] {
            assert_eq!(format_datetime(value), format_datetime_reference(value));
        }
        assert_eq!(
            format_datetime(datetime!(2026-01-01 00:30 +01:00)),
            "2025-12-31T23:30:00Z"
        );
        let mut json = Vec::new();
        let mut serializer = serde_json::Serializer::new(&mut json);
        datetime!(2026-06-09 14:00:05 UTC)
            .serialize_encoded(Encoding::Dataverse, &mut serializer)
            .unwrap();
        assert_eq!(json, b"\"2026-06-09T14:00:05Z\"");
    }
}
