//! The inventory's choice columns (Dataverse option sets), with their exact values.

use botcomponent_schema::{FeatureType, SchemaGeneration};

use crate::schema::Release;

/// A value of one of the inventory's option sets.
///
/// Rows carry these typed; on the wire (the Dataverse JSON body of a row) they are
/// the integer [`option_value`](OptionSetValue::option_value); the published sample
/// record writes the [`label`](OptionSetValue::label) instead.
pub trait OptionSetValue: Copy + Eq + std::fmt::Debug + Sized + 'static {
    /// The option set's logical name, e.g. `fsi_cai_createdin`.
    const OPTION_SET: &'static str;
    /// Every value, in option-value order.
    fn all() -> &'static [Self];
    /// The integer stored in Dataverse.
    fn option_value(self) -> i32;
    /// The published label.
    fn label(self) -> &'static str;
    /// The value for an integer, if it is one of this set's.
    fn from_option_value(value: i32) -> Option<Self> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.option_value() == value)
    }
    /// The value for a published label (exact match), if it is one.
    fn from_label(label: &str) -> Option<Self> {
        Self::all().iter().copied().find(|v| v.label() == label)
    }
}

macro_rules! option_set {
    (
        $(#[$meta:meta])*
        $name:ident = $set:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, $label:literal; )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $label, "` (", stringify!($value), ").")] $variant, )*
        }

        impl OptionSetValue for $name {
            const OPTION_SET: &'static str = $set;
            fn all() -> &'static [Self] {
                &[$($name::$variant),*]
            }
            fn option_value(self) -> i32 {
                match self { $($name::$variant => $value,)* }
            }
            fn label(self) -> &'static str {
                match self { $($name::$variant => $label,)* }
            }
        }

        /// Serialises as the published label (reports); rows use [`OptionSetValue`].
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.label())
            }
        }
    };
}

option_set! {
    /// `fsi_acv_zone`: the governance zone (shared with the other agent-governance solutions).
    Zone = "fsi_acv_zone" {
        Unclassified = 0, "Unclassified";
        Zone1 = 1, "Zone 1";
        Zone2 = 2, "Zone 2";
        Zone3 = 3, "Zone 3";
    }
}

option_set! {
    /// `fsi_cai_createdin`: the authoring surface of an agent.
    CreatedIn = "fsi_cai_createdin" {
        CopilotStudio = 100_000_000, "Copilot Studio";
        AgentBuilder = 100_000_001, "Microsoft 365 Copilot Agent Builder";
        Unknown = 100_000_002, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_agenttype`: what kind of agent it is; drives scan completeness.
    AgentType = "fsi_cai_agenttype" {
        Standard = 100_000_000, "Standard";
        Lite = 100_000_001, "Lite / Agent Builder";
        Declarative = 100_000_002, "Declarative Agent";
        ClassicV1 = 100_000_003, "Classic V1 (excluded)";
        Unknown = 100_000_004, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_discoverysource`: which discovery layer saw the agent.
    DiscoverySource = "fsi_cai_discoverysource" {
        ResourceGraph = 100_000_000, "Azure Resource Graph";
        DataverseScan = 100_000_001, "Per-Environment Dataverse Scan";
        AdminCenter = 100_000_002, "PPAC Reconciliation";
        Reconciled = 100_000_003, "Reconciled (multi-source)";
    }
}

option_set! {
    /// `fsi_cai_policytype`: the billing policy kind.
    PolicyType = "fsi_cai_policytype" {
        PayAsYouGo = 100_000_000, "PAYG Billing Policy";
        PrepaidCredit = 100_000_001, "Prepaid Credit Policy";
        None = 100_000_002, "None";
        Unknown = 100_000_003, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_spendscope`: the surface a billing allocation applies to.
    SpendScope = "fsi_cai_spendscope" {
        Chat = 100_000_000, "Chat";
        SharePoint = 100_000_001, "SharePoint";
        AllSurfaces = 100_000_002, "All Surfaces";
        Unknown = 100_000_003, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_workiqtier`: the Work IQ entitlement path.
    WorkIqTier = "fsi_cai_workiqtier" {
        None = 100_000_000, "None";
        McpInCopilotStudio = 100_000_001, "MCP in Copilot Studio (per-user license)";
        DirectApi = 100_000_002, "Direct Work IQ API (consumption)";
        Unknown = 100_000_003, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_workiqobserved`: Work IQ configured versus invoked.
    WorkIqObserved = "fsi_cai_workiqobserved" {
        NotObserved = 100_000_000, "Not Observed";
        Invoked = 100_000_001, "Invoked";
        ConfiguredNotInvoked = 100_000_002, "Configured, Not Invoked";
        Unknown = 100_000_003, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_risklevel`: the aggregated risk of an agent.
    RiskLevel = "fsi_cai_risklevel" {
        Low = 100_000_000, "Low";
        Medium = 100_000_001, "Medium";
        High = 100_000_002, "High";
        Critical = 100_000_003, "Critical";
        Unknown = 100_000_004, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_scancompleteness`: whether everything about an agent could be read.
    ScanCompleteness = "fsi_cai_scancompleteness" {
        Complete = 100_000_000, "Complete";
        Incomplete = 100_000_001, "Incomplete Scan";
        Failed = 100_000_002, "Failed";
    }
}

option_set! {
    /// `fsi_cai_detectionsource` (release 0.2.0): what produced a feature row.
    DetectionSource = "fsi_cai_detectionsource" {
        DataverseBotcomponentScan = 100_000_000, "Dataverse Botcomponent Scan";
        DeclarativeManifest = 100_000_001, "Declarative Manifest";
        Unknown = 100_000_099, "Unknown";
    }
}

option_set! {
    /// `fsi_cai_detectionconfidence` (release 0.2.0): how sure a feature row is.
    DetectionConfidence = "fsi_cai_detectionconfidence" {
        Declared = 100_000_000, "Declared (Manifest)";
        Configured = 100_000_001, "Configured (Dataverse)";
        Inferred = 100_000_002, "Inferred";
        Unknown = 100_000_099, "Unknown";
    }
}

/// `fsi_cai_featuretype` is [`FeatureType`], shared with `botcomponent-schema` so
/// that a feature read there is a feature row here without a second enum.
impl OptionSetValue for FeatureType {
    const OPTION_SET: &'static str = "fsi_cai_featuretype";
    fn all() -> &'static [Self] {
        &FeatureType::ALL
    }
    fn option_value(self) -> i32 {
        FeatureType::option_value(self)
    }
    fn label(self) -> &'static str {
        FeatureType::label(self)
    }
}

const GENERATIONS: [SchemaGeneration; 3] = [
    SchemaGeneration::V1,
    SchemaGeneration::V2,
    SchemaGeneration::NotApplicable,
];

/// `fsi_cai_componentversion` is [`SchemaGeneration`] from `botcomponent-schema`.
impl OptionSetValue for SchemaGeneration {
    const OPTION_SET: &'static str = "fsi_cai_componentversion";
    fn all() -> &'static [Self] {
        &GENERATIONS
    }
    fn option_value(self) -> i32 {
        SchemaGeneration::option_value(self)
    }
    fn label(self) -> &'static str {
        match self {
            SchemaGeneration::V1 => "V1",
            SchemaGeneration::V2 => "V2",
            _ => "Not Applicable",
        }
    }
}

/// One option of an option set, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptionDef {
    /// The integer value.
    pub value: i32,
    /// The published label.
    pub label: &'static str,
    /// The release that added it.
    pub since: Release,
}

/// An option set (global choice), as data: what a client needs to create it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptionSetDef {
    /// The logical name (also its `Name` in `GlobalOptionSetDefinitions`).
    pub name: &'static str,
    /// The display name.
    pub display_name: &'static str,
    /// Shared with other solutions (`fsi_acv_*`): create it only when it is missing.
    pub shared: bool,
    /// The release that added it.
    pub since: Release,
    /// The options, in value order.
    pub options: Vec<OptionDef>,
}

impl OptionSetDef {
    /// The option with this value, if any.
    pub fn option(&self, value: i32) -> Option<&OptionDef> {
        self.options.iter().find(|o| o.value == value)
    }
}

fn def_of<T: OptionSetValue>(
    display_name: &'static str,
    shared: bool,
    since: Release,
) -> OptionSetDef {
    OptionSetDef {
        name: T::OPTION_SET,
        display_name,
        shared,
        since,
        options: T::all()
            .iter()
            .map(|v| OptionDef {
                value: v.option_value(),
                label: v.label(),
                // The one option added to an existing set in 0.2.0.
                since: if T::OPTION_SET == FeatureType::OPTION_SET
                    && v.option_value() == FeatureType::People.option_value()
                {
                    Release::V0_2_0
                } else {
                    since
                },
            })
            .collect(),
    }
}

/// Every option set of the inventory, shared set first, in the published order.
pub fn option_sets() -> Vec<OptionSetDef> {
    vec![
        def_of::<Zone>("Zone", true, Release::V0_1_0),
        def_of::<CreatedIn>("Created In", false, Release::V0_1_0),
        def_of::<AgentType>("Agent Type", false, Release::V0_1_0),
        def_of::<DiscoverySource>("Discovery Source", false, Release::V0_1_0),
        def_of::<FeatureType>("Feature Type", false, Release::V0_1_0),
        def_of::<SchemaGeneration>("Component Version", false, Release::V0_1_0),
        def_of::<PolicyType>("Policy Type", false, Release::V0_1_0),
        def_of::<SpendScope>("Spend Scope", false, Release::V0_1_0),
        def_of::<WorkIqTier>("Work IQ Tier", false, Release::V0_1_0),
        def_of::<WorkIqObserved>("Work IQ Observed", false, Release::V0_1_0),
        def_of::<RiskLevel>("Risk Level", false, Release::V0_1_0),
        def_of::<ScanCompleteness>("Scan Completeness", false, Release::V0_1_0),
        def_of::<DetectionSource>("Detection Source", false, Release::V0_2_0),
        def_of::<DetectionConfidence>("Detection Confidence", false, Release::V0_2_0),
    ]
}

/// The option set with this logical name, if it is one of the inventory's.
pub fn option_set(name: &str) -> Option<OptionSetDef> {
    option_sets().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn values_and_labels_round_trip_in_every_set() {
        fn check<T: OptionSetValue>() {
            for v in T::all() {
                assert_eq!(T::from_option_value(v.option_value()), Some(*v));
                assert_eq!(T::from_label(v.label()), Some(*v));
            }
            assert_eq!(T::from_option_value(-1), None);
            assert_eq!(T::from_label("no such label"), None);
        }
        check::<Zone>();
        check::<CreatedIn>();
        check::<AgentType>();
        check::<DiscoverySource>();
        check::<FeatureType>();
        check::<SchemaGeneration>();
        check::<PolicyType>();
        check::<SpendScope>();
        check::<WorkIqTier>();
        check::<WorkIqObserved>();
        check::<RiskLevel>();
        check::<ScanCompleteness>();
        check::<DetectionSource>();
        check::<DetectionConfidence>();
    }

    #[test]
    fn the_0_2_0_values_are_exact() {
        assert_eq!(DetectionSource::Unknown.option_value(), 100_000_099);
        assert_eq!(DetectionConfidence::Unknown.option_value(), 100_000_099);
        assert_eq!(FeatureType::People.option_value(), 100_000_022);
        let features = option_set("fsi_cai_featuretype").unwrap();
        let people = features.option(100_000_022).map(|o| o.since);
        assert_eq!(people, Some(Release::V0_2_0));
        assert_eq!(
            features.option(100_000_000).map(|o| o.since),
            Some(Release::V0_1_0)
        );
    }
}
