//! Entity set definitions: the built-in Copilot Studio tables and runtime-declared ones.

use std::collections::HashMap;

use super::error::DataverseError;

/// The type of a column, as Dataverse's `AttributeType` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnKind {
    /// Single line of text (`Edm.String`).
    String,
    /// Multiple lines of text (`Edm.String`, up to 1 MB).
    Memo,
    /// Whole number (`Edm.Int32`).
    Integer,
    /// Big integer (`Edm.Int64`), e.g. `versionnumber`.
    BigInt,
    /// Decimal number (`Edm.Decimal`).
    Decimal,
    /// Floating point number (`Edm.Double`).
    Double,
    /// Yes/no (`Edm.Boolean`).
    Boolean,
    /// Date and time (`Edm.DateTimeOffset`), written `2024-09-09T18:41:13Z`.
    DateTime,
    /// A GUID that is not a lookup (`Edm.Guid`).
    Uniqueidentifier,
    /// Choice (`Edm.Int32`).
    Picklist,
    /// Status (`statecode`, `Edm.Int32`).
    State,
    /// Status reason (`statuscode`, `Edm.Int32`).
    Status,
    /// Lookup to another entity set, read as `_{name}_value` (`Edm.Guid`). The column name must
    /// be `_{nav}_value`; `{nav}` is the single-valued navigation property (for
    /// `nav@odata.bind` and `$expand`), and `relationship` is the collection-valued navigation
    /// property on the target set.
    Lookup {
        /// The entity set the lookup points to.
        target_set: String,
        /// The 1:N relationship's schema name (the collection on the target set).
        relationship: String,
    },
}

impl ColumnKind {
    /// The EDM type name used in OData error messages.
    pub(crate) fn edm(&self) -> &'static str {
        match self {
            Self::String | Self::Memo => "Edm.String",
            Self::Integer | Self::Picklist | Self::State | Self::Status => "Edm.Int32",
            Self::BigInt => "Edm.Int64",
            Self::Decimal => "Edm.Decimal",
            Self::Double => "Edm.Double",
            Self::Boolean => "Edm.Boolean",
            Self::DateTime => "Edm.DateTimeOffset",
            Self::Uniqueidentifier | Self::Lookup { .. } => "Edm.Guid",
        }
    }

    /// `AttributeType` in `EntityDefinitions(...)/Attributes`.
    pub(crate) fn attribute_type(&self) -> &'static str {
        match self {
            Self::String => "String",
            Self::Memo => "Memo",
            Self::Integer => "Integer",
            Self::BigInt => "BigInt",
            Self::Decimal => "Decimal",
            Self::Double => "Double",
            Self::Boolean => "Boolean",
            Self::DateTime => "DateTime",
            Self::Uniqueidentifier => "Uniqueidentifier",
            Self::Picklist => "Picklist",
            Self::State => "State",
            Self::Status => "Status",
            Self::Lookup { .. } => "Lookup",
        }
    }

    /// The `@odata.type` of the attribute metadata.
    pub(crate) fn metadata_type(&self) -> &'static str {
        match self {
            Self::String => "#Microsoft.Dynamics.CRM.StringAttributeMetadata",
            Self::Memo => "#Microsoft.Dynamics.CRM.MemoAttributeMetadata",
            Self::Integer => "#Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            Self::BigInt => "#Microsoft.Dynamics.CRM.BigIntAttributeMetadata",
            Self::Decimal => "#Microsoft.Dynamics.CRM.DecimalAttributeMetadata",
            Self::Double => "#Microsoft.Dynamics.CRM.DoubleAttributeMetadata",
            Self::Boolean => "#Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            Self::DateTime => "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
            Self::Uniqueidentifier => "#Microsoft.Dynamics.CRM.UniqueIdentifierAttributeMetadata",
            Self::Picklist => "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            Self::State => "#Microsoft.Dynamics.CRM.StateAttributeMetadata",
            Self::Status => "#Microsoft.Dynamics.CRM.StatusAttributeMetadata",
            Self::Lookup { .. } => "#Microsoft.Dynamics.CRM.LookupAttributeMetadata",
        }
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Self::String | Self::Memo)
    }

    pub(crate) fn is_guid(&self) -> bool {
        matches!(self, Self::Uniqueidentifier | Self::Lookup { .. })
    }
}

/// One column of an entity set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    name: String,
    kind: ColumnKind,
    option_set: Option<String>,
    schema_name: Option<String>,
    max_length: Option<u32>,
}

impl ColumnDef {
    /// A column named `name` (the logical name, lower case) of type `kind`.
    pub fn new(name: impl Into<String>, kind: ColumnKind) -> Self {
        Self {
            name: name.into(),
            kind,
            option_set: None,
            schema_name: None,
            max_length: None,
        }
    }

    /// A lookup column `_{nav}_value` to `target_set`, whose 1:N relationship is `relationship`.
    pub fn lookup(nav: &str, target_set: &str, relationship: &str) -> Self {
        Self::new(
            format!("_{nav}_value"),
            ColumnKind::Lookup {
                target_set: target_set.to_owned(),
                relationship: relationship.to_owned(),
            },
        )
    }

    /// Ties a choice column to a global option set (for formatted values).
    #[must_use]
    pub fn with_option_set(mut self, option_set: impl Into<String>) -> Self {
        self.option_set = Some(option_set.into());
        self
    }

    /// Sets the schema name (`fsi_AgentId`) metadata reports; the logical name otherwise.
    #[must_use]
    pub fn with_schema_name(mut self, schema_name: impl Into<String>) -> Self {
        self.schema_name = Some(schema_name.into());
        self
    }

    /// Limits a text column to `max_length` characters: longer values are refused on writes,
    /// as Dataverse refuses them.
    #[must_use]
    pub fn with_max_length(mut self, max_length: u32) -> Self {
        self.max_length = Some(max_length);
        self
    }

    /// The schema name metadata reports (the logical name unless one was set).
    pub fn schema_name(&self) -> &str {
        self.schema_name.as_deref().unwrap_or(&self.name)
    }

    /// The maximum length of a text column, if limited.
    pub fn max_length(&self) -> Option<u32> {
        self.max_length
    }

    /// The column's logical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's type.
    pub fn kind(&self) -> &ColumnKind {
        &self.kind
    }

    /// The global option set of a choice column, if any.
    pub fn option_set(&self) -> Option<&str> {
        self.option_set.as_deref()
    }

    /// For a lookup `_{nav}_value`, the navigation property name `{nav}`.
    pub(crate) fn nav_name(&self) -> Option<&str> {
        match self.kind {
            ColumnKind::Lookup { .. } => self.name.strip_prefix('_')?.strip_suffix("_value"),
            _ => None,
        }
    }
}

/// The definition of an entity set: its names, primary key, columns, alternate keys and whether
/// change tracking is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySetDef {
    set_name: String,
    logical_name: String,
    schema_name: Option<String>,
    primary_key: String,
    primary_name: Option<String>,
    columns: Vec<ColumnDef>,
    alternate_keys: Vec<Vec<String>>,
    change_tracking: bool,
}

impl EntitySetDef {
    /// A set `set_name` (e.g. `bots`) of table `logical_name` (e.g. `bot`) whose primary key
    /// column is `primary_key` (a GUID, added as a column automatically). Change tracking is on.
    pub fn new(
        set_name: impl Into<String>,
        logical_name: impl Into<String>,
        primary_key: impl Into<String>,
    ) -> Self {
        let primary_key = primary_key.into();
        Self {
            set_name: set_name.into(),
            logical_name: logical_name.into(),
            schema_name: None,
            columns: vec![ColumnDef::new(
                primary_key.clone(),
                ColumnKind::Uniqueidentifier,
            )],
            primary_key,
            primary_name: None,
            alternate_keys: Vec::new(),
            change_tracking: true,
        }
    }

    /// Adds a column.
    #[must_use]
    pub fn column(mut self, column: ColumnDef) -> Self {
        self.columns.push(column);
        self
    }

    /// Adds columns.
    #[must_use]
    pub fn columns(mut self, columns: impl IntoIterator<Item = ColumnDef>) -> Self {
        self.columns.extend(columns);
        self
    }

    /// Adds the system columns every user- or organization-owned table has: `createdon`,
    /// `modifiedon`, `versionnumber`, `statecode`, `statuscode`, the created/modified-by and owner
    /// lookups, and so on. `createdon`, `modifiedon`, `versionnumber` and the "by" lookups are
    /// maintained on writes.
    #[must_use]
    pub fn with_system_columns(self) -> Self {
        let logical = self.logical_name.clone();
        self.columns(system_columns(&logical))
    }

    /// Adds the system columns of an organization-owned table: like
    /// [`with_system_columns`](Self::with_system_columns), but owned by the organization
    /// (`_organizationid_value`) instead of a user or team.
    #[must_use]
    pub fn with_organization_system_columns(self) -> Self {
        let logical = self.logical_name.clone();
        self.columns(organization_system_columns(&logical))
    }

    /// Sets the schema name (`fsi_CopilotAgent`) metadata reports; the logical name otherwise.
    #[must_use]
    pub fn schema_name(mut self, schema_name: impl Into<String>) -> Self {
        self.schema_name = Some(schema_name.into());
        self
    }

    /// The schema name metadata reports.
    pub fn schema_name_or_logical(&self) -> &str {
        self.schema_name.as_deref().unwrap_or(&self.logical_name)
    }

    /// Names the primary name column (`PrimaryNameAttribute` in metadata).
    #[must_use]
    pub fn primary_name(mut self, column: impl Into<String>) -> Self {
        self.primary_name = Some(column.into());
        self
    }

    /// Declares an alternate key made of `columns` (usable as `set(k1='v',k2=2)`).
    #[must_use]
    pub fn alternate_key<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.alternate_keys
            .push(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Turns change tracking on or off (`ChangeTrackingEnabled`).
    #[must_use]
    pub fn change_tracking(mut self, enabled: bool) -> Self {
        self.change_tracking = enabled;
        self
    }

    /// The entity set name (`bots`).
    pub fn set_name(&self) -> &str {
        &self.set_name
    }

    /// The logical name (`bot`).
    pub fn logical_name(&self) -> &str {
        &self.logical_name
    }

    /// The primary key column.
    pub fn primary_key(&self) -> &str {
        &self.primary_key
    }

    /// The columns, primary key first.
    pub fn columns_iter(&self) -> impl Iterator<Item = &ColumnDef> {
        self.columns.iter()
    }

    /// The alternate keys.
    pub fn alternate_keys(&self) -> &[Vec<String>] {
        &self.alternate_keys
    }

    /// Whether change tracking is enabled.
    pub fn change_tracking_enabled(&self) -> bool {
        self.change_tracking
    }

    /// The primary name column, if declared.
    pub fn primary_name_column(&self) -> Option<&str> {
        self.primary_name.as_deref()
    }
}

/// A validated entity set definition with its column index.
#[derive(Debug)]
pub(crate) struct SetSchema {
    pub(crate) def: EntitySetDef,
    index: HashMap<String, usize>,
    navs: HashMap<String, usize>,
    pub(crate) pk: usize,
    /// Alternate keys as column indexes.
    pub(crate) alt_keys: Vec<Vec<usize>>,
}

impl SetSchema {
    pub(crate) fn build(def: EntitySetDef) -> Result<Self, DataverseError> {
        let invalid = |reason: String| DataverseError::InvalidDefinition {
            set: def.set_name.clone(),
            reason,
        };
        if def.set_name.is_empty() || def.logical_name.is_empty() {
            return Err(invalid(
                "set name and logical name must not be empty".into(),
            ));
        }
        let mut index = HashMap::new();
        let mut navs = HashMap::new();
        for (i, column) in def.columns.iter().enumerate() {
            if index.insert(column.name.clone(), i).is_some() {
                return Err(invalid(format!(
                    "column '{}' is declared twice",
                    column.name
                )));
            }
            if let ColumnKind::Lookup { .. } = column.kind {
                let Some(nav) = column.nav_name() else {
                    return Err(invalid(format!(
                        "lookup column '{}' must be named _{{nav}}_value",
                        column.name
                    )));
                };
                navs.insert(nav.to_owned(), i);
            }
        }
        let pk = *index
            .get(&def.primary_key)
            .ok_or_else(|| invalid("the primary key column is missing".into()))?;
        if def.columns[pk].kind != ColumnKind::Uniqueidentifier {
            return Err(invalid("the primary key must be a Uniqueidentifier".into()));
        }
        let mut alt_keys = Vec::new();
        for key in &def.alternate_keys {
            if key.is_empty() {
                return Err(invalid("an alternate key needs at least one column".into()));
            }
            let mut cols = Vec::new();
            for name in key {
                let i = *index.get(name).ok_or_else(|| {
                    invalid(format!("alternate key column '{name}' is not a column"))
                })?;
                cols.push(i);
            }
            alt_keys.push(cols);
        }
        Ok(Self {
            def,
            index,
            navs,
            pk,
            alt_keys,
        })
    }

    pub(crate) fn set(&self) -> &str {
        &self.def.set_name
    }

    pub(crate) fn logical(&self) -> &str {
        &self.def.logical_name
    }

    pub(crate) fn columns(&self) -> &[ColumnDef] {
        &self.def.columns
    }

    pub(crate) fn col(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub(crate) fn column(&self, i: usize) -> &ColumnDef {
        &self.def.columns[i]
    }

    /// A column index, or the documented 400 for an unknown property.
    pub(crate) fn col_or_err(&self, name: &str) -> Result<usize, super::error::ApiError> {
        self.col(name)
            .ok_or_else(|| super::error::ApiError::unknown_property(self.logical(), name))
    }

    /// The lookup column behind a single-valued navigation property.
    pub(crate) fn nav_col(&self, nav: &str) -> Option<usize> {
        self.navs.get(nav).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.def.columns.len()
    }
}

/// A many-to-many relationship kept in an intersect entity set.
#[derive(Debug, Clone)]
pub(crate) struct ManyToMany {
    pub(crate) name: String,
    pub(crate) intersect_set: String,
    pub(crate) a_set: String,
    pub(crate) a_col: String,
    pub(crate) b_set: String,
    pub(crate) b_col: String,
}

fn col(name: &str, kind: ColumnKind) -> ColumnDef {
    ColumnDef::new(name, kind)
}

/// The system columns of a user-owned table (as the real transcript rows show them).
fn system_columns(logical: &str) -> Vec<ColumnDef> {
    use ColumnKind as K;
    vec![
        col("createdon", K::DateTime),
        col("modifiedon", K::DateTime),
        col("overriddencreatedon", K::DateTime),
        col("versionnumber", K::BigInt),
        col("statecode", K::State),
        col("statuscode", K::Status),
        col("importsequencenumber", K::Integer),
        col("timezoneruleversionnumber", K::Integer),
        col("utcconversiontimezonecode", K::Integer),
        ColumnDef::lookup(
            "createdby",
            "systemusers",
            &format!("lk_{logical}_createdby"),
        ),
        ColumnDef::lookup(
            "modifiedby",
            "systemusers",
            &format!("lk_{logical}_modifiedby"),
        ),
        ColumnDef::lookup(
            "createdonbehalfby",
            "systemusers",
            &format!("lk_{logical}_createdonbehalfby"),
        ),
        ColumnDef::lookup(
            "modifiedonbehalfby",
            "systemusers",
            &format!("lk_{logical}_modifiedonbehalfby"),
        ),
        ColumnDef::lookup("ownerid", "systemusers", &format!("owner_{logical}")),
        ColumnDef::lookup("owninguser", "systemusers", &format!("user_{logical}")),
        col("_owningbusinessunit_value", K::Uniqueidentifier),
        col("_owningteam_value", K::Uniqueidentifier),
    ]
}

/// The system columns of an organization-owned table: the user-owned ones without the owner,
/// owning user, team and business unit, plus the owning organization.
fn organization_system_columns(logical: &str) -> Vec<ColumnDef> {
    let owner_only = [
        "_ownerid_value",
        "_owninguser_value",
        "_owningbusinessunit_value",
        "_owningteam_value",
    ];
    let mut cols: Vec<ColumnDef> = system_columns(logical)
        .into_iter()
        .filter(|c| !owner_only.contains(&c.name()))
        .collect();
    cols.push(col("_organizationid_value", ColumnKind::Uniqueidentifier));
    cols
}

/// Columns of solution-aware tables (bot, botcomponent).
fn solution_columns() -> Vec<ColumnDef> {
    use ColumnKind as K;
    vec![
        col("componentstate", K::Picklist),
        col("ismanaged", K::Boolean),
        col("overwritetime", K::DateTime),
        col("solutionid", K::Uniqueidentifier),
        col("componentidunique", K::Uniqueidentifier),
        col("iscustomizable", K::Boolean),
    ]
}

/// The built-in entity sets.
pub(crate) fn builtin_sets() -> Vec<EntitySetDef> {
    use ColumnKind as K;
    let bots = EntitySetDef::new("bots", "bot", "botid")
        .primary_name("name")
        .columns([
            col("name", K::String),
            col("schemaname", K::String),
            col("publishedon", K::DateTime),
            col("accesscontrolpolicy", K::Picklist),
            col("authenticationmode", K::Picklist),
            col("authenticationtrigger", K::Picklist),
            col("authorizedsecuritygroupids", K::String),
            col("configuration", K::Memo),
            col("language", K::Picklist),
            col("runtimeprovider", K::Picklist),
            col("template", K::String),
            col("origin", K::String),
            col("iconbase64", K::Memo),
            col("applicationmanifestinformation", K::Memo),
            col("synchronizationstatus", K::Memo),
            ColumnDef::lookup("publishedby", "systemusers", "lk_bot_publishedby"),
        ])
        .with_system_columns()
        .columns(solution_columns());
    let botcomponents = EntitySetDef::new("botcomponents", "botcomponent", "botcomponentid")
        .primary_name("name")
        .columns([
            col("name", K::String),
            col("schemaname", K::String),
            col("componenttype", K::Picklist).with_option_set("botcomponent_componenttype"),
            col("data", K::Memo),
            col("content", K::Memo),
            col("description", K::Memo),
            col("category", K::String),
            col("language", K::Picklist),
            col("reusepolicy", K::Picklist),
            col("helplink", K::String),
            ColumnDef::lookup("parentbotid", "bots", "botcomponent_parent_bot"),
            ColumnDef::lookup(
                "parentbotcomponentid",
                "botcomponents",
                "botcomponent_parent_botcomponent",
            ),
        ])
        .with_system_columns()
        .columns(solution_columns());
    let transcripts = EntitySetDef::new(
        "conversationtranscripts",
        "conversationtranscript",
        "conversationtranscriptid",
    )
    .primary_name("name")
    .columns([
        col("name", K::String),
        col("content", K::Memo),
        col("metadata", K::Memo),
        col("conversationstarttime", K::DateTime),
        col("schematype", K::String),
        col("schemaversion", K::String),
        ColumnDef::lookup(
            "bot_conversationtranscriptid",
            "bots",
            "bot_conversationtranscript",
        ),
    ])
    .with_system_columns();
    let systemusers = EntitySetDef::new("systemusers", "systemuser", "systemuserid")
        .primary_name("fullname")
        .columns([
            col("fullname", K::String),
            col("firstname", K::String),
            col("lastname", K::String),
            col("domainname", K::String),
            col("internalemailaddress", K::String),
            col("applicationid", K::Uniqueidentifier),
            col("azureactivedirectoryobjectid", K::Uniqueidentifier),
            col("isdisabled", K::Boolean),
            col("accessmode", K::Picklist),
            col("_businessunitid_value", K::Uniqueidentifier),
            col("createdon", K::DateTime),
            col("modifiedon", K::DateTime),
            col("versionnumber", K::BigInt),
        ]);
    let roles = EntitySetDef::new("roles", "role", "roleid")
        .primary_name("name")
        .columns([
            col("name", K::String),
            col("_businessunitid_value", K::Uniqueidentifier),
            col("roletemplateid", K::Uniqueidentifier),
            col("ismanaged", K::Boolean),
            col("componentstate", K::Picklist),
            col("createdon", K::DateTime),
            col("modifiedon", K::DateTime),
            col("versionnumber", K::BigInt),
        ]);
    let user_roles = EntitySetDef::new(
        "systemuserroles_association",
        "systemuserroles",
        "systemuserroleid",
    )
    .columns([
        col("systemuserid", K::Uniqueidentifier),
        col("roleid", K::Uniqueidentifier),
        col("versionnumber", K::BigInt),
    ])
    .change_tracking(false);
    let bot_components = EntitySetDef::new(
        "bot_botcomponentset",
        "bot_botcomponent",
        "bot_botcomponentid",
    )
    .columns([
        col("botid", K::Uniqueidentifier),
        col("botcomponentid", K::Uniqueidentifier),
        col("versionnumber", K::BigInt),
    ])
    .change_tracking(false);
    let mut sets = vec![
        bots,
        botcomponents,
        transcripts,
        systemusers,
        roles,
        user_roles,
        bot_components,
    ];
    sets.extend(component_intersects());
    sets
}

/// The six many-to-many relationships of `botcomponent` (to plugin operations, connection
/// references, flows, environment variables, Dataverse table searches and AI Builder models):
/// (intersect entity set, its primary key, the target id column).
pub(crate) const COMPONENT_RELATIONSHIPS: [(&str, &str, &str); 6] = [
    (
        "botcomponent_aipluginoperationset",
        "botcomponent_aipluginoperationid",
        "aipluginoperationid",
    ),
    (
        "botcomponent_connectionreferenceset",
        "botcomponent_connectionreferenceid",
        "connectionreferenceid",
    ),
    (
        "botcomponent_workflowset",
        "botcomponent_workflowid",
        "workflowid",
    ),
    (
        "botcomponent_environmentvariabledefinitionset",
        "botcomponent_environmentvariabledefinitionid",
        "environmentvariabledefinitionid",
    ),
    (
        "botcomponent_dvtablesearchset",
        "botcomponent_dvtablesearchid",
        "dvtablesearchid",
    ),
    (
        "botcomponent_msdyn_aimodelset",
        "botcomponent_msdyn_aimodelid",
        "msdyn_aimodelid",
    ),
];

/// The intersect entity sets of [`COMPONENT_RELATIONSHIPS`] (not change-tracked, as
/// intersect tables are not).
fn component_intersects() -> Vec<EntitySetDef> {
    use ColumnKind as K;
    COMPONENT_RELATIONSHIPS
        .iter()
        .map(|(set, pk, target)| {
            let logical = set.trim_end_matches("set");
            EntitySetDef::new(*set, logical, *pk)
                .columns([
                    col("botcomponentid", K::Uniqueidentifier),
                    col(target, K::Uniqueidentifier),
                    col("versionnumber", K::BigInt),
                ])
                .change_tracking(false)
        })
        .collect()
}

/// Whether `set` is one of the built-in (system) entity sets.
pub(crate) fn is_builtin(set: &str) -> bool {
    matches!(
        set,
        "bots"
            | "botcomponents"
            | "conversationtranscripts"
            | "systemusers"
            | "roles"
            | "systemuserroles_association"
            | "bot_botcomponentset"
    ) || COMPONENT_RELATIONSHIPS.iter().any(|(s, _, _)| *s == set)
}

/// The built-in N:N relationships.
pub(crate) fn builtin_many_to_many() -> Vec<ManyToMany> {
    vec![
        ManyToMany {
            name: "bot_botcomponent".into(),
            intersect_set: "bot_botcomponentset".into(),
            a_set: "bots".into(),
            a_col: "botid".into(),
            b_set: "botcomponents".into(),
            b_col: "botcomponentid".into(),
        },
        ManyToMany {
            name: "systemuserroles_association".into(),
            intersect_set: "systemuserroles_association".into(),
            a_set: "systemusers".into(),
            a_col: "systemuserid".into(),
            b_set: "roles".into(),
            b_col: "roleid".into(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_validate() {
        for def in builtin_sets() {
            assert!(is_builtin(def.set_name()));
            let schema = SetSchema::build(def).unwrap();
            assert_eq!(schema.pk, 0);
        }
    }

    #[test]
    fn transcript_columns_cover_the_real_rows() {
        let def = builtin_sets()
            .into_iter()
            .find(|d| d.set_name() == "conversationtranscripts")
            .unwrap();
        let schema = SetSchema::build(def).unwrap();
        let raw = include_str!("../../tests/fixtures/dataverse/conversationtranscripts.json");
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(raw).unwrap();
        for row in rows {
            for key in row.keys().filter(|k| !k.starts_with('@')) {
                assert!(schema.col(key).is_some(), "missing column {key}");
            }
        }
    }

    #[test]
    fn lookup_nav_names() {
        let c = ColumnDef::lookup("parentbotid", "bots", "botcomponent_parent_bot");
        assert_eq!(c.name(), "_parentbotid_value");
        assert_eq!(c.nav_name(), Some("parentbotid"));
    }

    #[test]
    fn bad_definitions_are_refused() {
        let dup =
            EntitySetDef::new("xs", "x", "xid").column(ColumnDef::new("xid", ColumnKind::String));
        assert!(SetSchema::build(dup).is_err());
        let bad_key = EntitySetDef::new("xs", "x", "xid").alternate_key(["nope"]);
        assert!(SetSchema::build(bad_key).is_err());
    }
}
