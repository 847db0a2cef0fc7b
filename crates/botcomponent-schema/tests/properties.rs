//! Property tests: arbitrary YAML mappings never make the parsers panic or fail,
//! and every key they do not understand is reported.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use botcomponent_schema::{
    BotConfiguration, ComponentTypeRegistry, McsSettingsFile, UnrecognizedReason, parse_component,
};
use proptest::prelude::*;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

const SCALARS: &[&str] = &[
    "",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "False",
    "~",
    "null",
    "0x1F",
    "1.5",
    "-3",
    "=Text(Now())",
    "a: b",
    "- item",
    "#not a comment",
    "multi\nline\n",
    "  padded  ",
    "ünïcødé ✓",
    "{x}",
    "[1, 2]",
    "kind",
    "&anchor",
    "*alias",
    "'quoted'",
    "\"dq\"",
    "\t",
    "\r\n",
    "---",
    "...",
];

const KEYS: &[&str] = &[
    "kind",
    "$kind",
    "id",
    "actions",
    "elseActions",
    "conditions",
    "beginDialog",
    "intent",
    "triggerQueries",
    "action",
    "inputs",
    "outputs",
    "source",
    "site",
    "instructions",
    "aISettings",
    "model",
    "gptCapabilities",
    "connectionProperties",
    "mode",
    "operationDetails",
    "settings",
    "channels",
    "agentSettings",
    "segments",
    "value",
    "mcs.metadata",
    "content",
    "x/y",
    "a~b",
    "",
];

const KINDS: &[&str] = &[
    "AdaptiveDialog",
    "TaskDialog",
    "AgentDialog",
    "McpTool",
    "ConnectedAgentTool",
    "InlineAgentSkill",
    "KnowledgeSourceConfiguration",
    "GptComponentMetadata",
    "ExternalTriggerConfiguration",
    "ContentModerationSettings",
    "DefaultFeedbackCollection",
    "SkillDefinition",
    "SendActivity",
    "ConditionGroup",
    "InvokeFlowAction",
    "SearchAndSummarizeContent",
    "OnRecognizedIntent",
    "InvokeConnectorTaskAction",
    "InvokeExternalAgentTaskAction",
    "SharePointSearchSource",
    "WorkflowExternalTrigger",
    "ModelContextProtocolMetadata",
    "NotARealKind",
];

/// Turns random bytes into documents, recording where it planted unknown keys.
struct Gen<'a> {
    bytes: std::slice::Iter<'a, u8>,
    markers: Vec<String>,
    counter: usize,
}

impl Gen<'_> {
    fn pick(&mut self, n: usize) -> usize {
        self.bytes.next().map_or(0, |b| usize::from(*b) % n)
    }

    fn scalar(&mut self) -> Yaml {
        match self.pick(5) {
            0 => Yaml::Integer(self.pick(1000) as i64 - 500),
            1 => Yaml::Boolean(self.pick(2) == 0),
            2 => Yaml::Null,
            _ => Yaml::String(SCALARS[self.pick(SCALARS.len())].to_owned()),
        }
    }

    /// An arbitrary tree whose keys are mostly names the parsers know.
    fn value(&mut self, depth: usize) -> Yaml {
        if depth == 0 {
            return self.scalar();
        }
        match self.pick(4) {
            0 => {
                let n = self.pick(4);
                Yaml::Array((0..n).map(|_| self.value(depth - 1)).collect())
            }
            1 => {
                let mut h = Hash::new();
                for _ in 0..self.pick(5) {
                    let key = match self.pick(3) {
                        0 => Yaml::Integer(self.pick(10) as i64),
                        _ => Yaml::String(KEYS[self.pick(KEYS.len())].to_owned()),
                    };
                    let value = if self.pick(3) == 0 {
                        Yaml::String(KINDS[self.pick(KINDS.len())].to_owned())
                    } else {
                        self.value(depth - 1)
                    };
                    h.insert(key, value);
                }
                Yaml::Hash(h)
            }
            _ => self.scalar(),
        }
    }

    fn known(&mut self) -> Yaml {
        if self.pick(4) == 0 {
            self.value(2)
        } else {
            Yaml::String(SCALARS[self.pick(SCALARS.len())].to_owned())
        }
    }

    fn markers(&mut self, h: &mut Hash, path: &str) {
        for _ in 0..self.pick(3) {
            let key = format!("zzMarker{}", self.counter);
            self.counter += 1;
            let value = self.value(1);
            h.insert(Yaml::String(key.clone()), value);
            self.markers.push(format!("{path}/{key}"));
        }
    }

    fn map(&mut self, path: &str, kind: Option<&str>, known: &[&str]) -> Hash {
        let mut h = Hash::new();
        if let Some(kind) = kind {
            h.insert(Yaml::String("kind".into()), Yaml::String(kind.into()));
        }
        for key in known {
            if self.pick(2) == 0 {
                let value = self.known();
                h.insert(Yaml::String((*key).into()), value);
            }
        }
        self.markers(&mut h, path);
        h
    }

    fn action(&mut self, path: &str, depth: usize) -> Yaml {
        const ACTIONS: &[&str] = &[
            "SendActivity",
            "SetVariable",
            "InvokeFlowAction",
            "SearchAndSummarizeContent",
            "ConditionGroup",
            "FutureAction",
        ];
        let kind = ACTIONS[self.pick(ACTIONS.len())];
        let mut h = self.map(
            path,
            Some(kind),
            &["id", "displayName", "flowId", "activity", "userInput"],
        );
        if depth > 0 {
            if kind == "ConditionGroup" {
                let items = (0..self.pick(3))
                    .map(|i| {
                        let item_path = format!("{path}/conditions/{i}");
                        let mut item = self.map(&item_path, None, &["id", "condition"]);
                        let actions = self.actions(&format!("{item_path}/actions"), depth - 1);
                        item.insert(Yaml::String("actions".into()), actions);
                        Yaml::Hash(item)
                    })
                    .collect();
                h.insert(Yaml::String("conditions".into()), Yaml::Array(items));
                let else_actions = self.actions(&format!("{path}/elseActions"), depth - 1);
                h.insert(Yaml::String("elseActions".into()), else_actions);
            } else if kind == "FutureAction" {
                let nested = self.actions(&format!("{path}/actions"), depth - 1);
                h.insert(Yaml::String("actions".into()), nested);
            }
        }
        Yaml::Hash(h)
    }

    fn actions(&mut self, path: &str, depth: usize) -> Yaml {
        Yaml::Array(
            (0..self.pick(3))
                .map(|i| self.action(&format!("{path}/{i}"), depth))
                .collect(),
        )
    }

    /// A component of a random kind with unknown keys planted where the parsers check keys.
    fn component(&mut self) -> Yaml {
        const TOP: &[&str] = &[
            "AdaptiveDialog",
            "TaskDialog",
            "AgentDialog",
            "GptComponentMetadata",
            "KnowledgeSourceConfiguration",
            "ExternalTriggerConfiguration",
            "McpTool",
            "ConnectedAgentTool",
            "SkillDefinition",
            "ContentModerationSettings",
            "DefaultFeedbackCollection",
            "InlineAgentSkill",
            "BrandNewKind",
        ];
        let kind = TOP[self.pick(TOP.len())];
        let mut root = self.map(
            "",
            Some(kind),
            &[
                "modelDisplayName",
                "modelDescription",
                "connectorId",
                "operationId",
            ],
        );
        let put = |root: &mut Hash, key: &str, value: Hash| {
            root.insert(Yaml::String(key.into()), Yaml::Hash(value));
        };
        match kind {
            "AdaptiveDialog" | "AgentDialog" => {
                const TRIGGERS: &[&str] = &[
                    "OnRecognizedIntent",
                    "OnToolSelected",
                    "OnError",
                    "OnSomethingNew",
                ];
                let trigger_kind = TRIGGERS[self.pick(TRIGGERS.len())];
                let mut trigger = self.map(
                    "/beginDialog",
                    Some(trigger_kind),
                    &["id", "description", "condition"],
                );
                let mut intent = self.map("/beginDialog/intent", None, &["displayName"]);
                let phrases = Yaml::Array((0..self.pick(4)).map(|_| self.scalar()).collect());
                intent.insert(Yaml::String("triggerQueries".into()), phrases);
                trigger.insert(Yaml::String("intent".into()), Yaml::Hash(intent));
                let actions = self.actions("/beginDialog/actions", 2);
                trigger.insert(Yaml::String("actions".into()), actions);
                put(&mut root, "beginDialog", trigger);
            }
            "TaskDialog" => {
                const TASKS: &[&str] = &[
                    "InvokeConnectorTaskAction",
                    "InvokeExternalAgentTaskAction",
                    "InvokeFlowTaskAction",
                    "InvokeNewThing",
                ];
                let task_kind = TASKS[self.pick(TASKS.len())];
                let mut action = self.map(
                    "/action",
                    Some(task_kind),
                    &["connectionReference", "operationId", "flowId"],
                );
                let details = self.map(
                    "/action/operationDetails",
                    Some("ModelContextProtocolMetadata"),
                    &["operationId"],
                );
                action.insert(Yaml::String("operationDetails".into()), Yaml::Hash(details));
                put(&mut root, "action", action);
                let inputs = (0..self.pick(3))
                    .map(|i| {
                        Yaml::Hash(self.map(
                            &format!("/inputs/{i}"),
                            Some("ManualTaskInput"),
                            &["propertyName", "value"],
                        ))
                    })
                    .collect();
                root.insert(Yaml::String("inputs".into()), Yaml::Array(inputs));
            }
            "GptComponentMetadata" => {
                let mut ai = self.map("/aISettings", None, &["useModelKnowledge"]);
                let model = self.map("/aISettings/model", None, &["modelNameHint"]);
                ai.insert(Yaml::String("model".into()), Yaml::Hash(model));
                put(&mut root, "aISettings", ai);
            }
            "KnowledgeSourceConfiguration" => {
                const SOURCES: &[&str] = &[
                    "SharePointSearchSource",
                    "PublicSiteSearchSource",
                    "FutureSource",
                ];
                let source_kind = SOURCES[self.pick(SOURCES.len())];
                let source = self.map(
                    "/source",
                    Some(source_kind),
                    &["site", "skillConfiguration"],
                );
                put(&mut root, "source", source);
            }
            "ExternalTriggerConfiguration" => {
                let source = self.map(
                    "/externalTriggerSource",
                    Some("WorkflowExternalTrigger"),
                    &["flowId"],
                );
                put(&mut root, "externalTriggerSource", source);
                let extension = self.map("/extensionData", None, &["flowName", "flowUrl"]);
                put(&mut root, "extensionData", extension);
            }
            _ => {}
        }
        Yaml::Hash(root)
    }
}

fn emit(doc: &Yaml) -> Option<String> {
    let mut text = String::new();
    YamlEmitter::new(&mut text).dump(doc).ok()?;
    // Only documents yaml-rust2 can read back are "YAML mappings" for these properties.
    YamlLoader::load_from_str(&text).ok()?;
    Some(text)
}

/// A planted key is covered when it, or a node enclosing it, is reported (an unknown
/// or missing `kind` reports its whole mapping; a wrong shape reports its whole value).
fn covered(marker: &str, reported: &[(String, UnrecognizedReason)]) -> bool {
    reported.iter().any(|(path, reason)| {
        let scope = match reason {
            UnrecognizedReason::UnknownKind { .. } | UnrecognizedReason::MissingKind => {
                path.strip_suffix("/kind").unwrap_or(path)
            }
            _ => path.as_str(),
        };
        marker == path || marker.starts_with(&format!("{scope}/"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_mappings_never_fail(bytes in proptest::collection::vec(any::<u8>(), 0..200), component_type in -3i32..30) {
        let mut generator = Gen { bytes: bytes.iter(), markers: Vec::new(), counter: 0 };
        let mut root = Hash::new();
        for _ in 0..generator.pick(8) + 1 {
            let key = Yaml::String(KEYS[generator.pick(KEYS.len())].to_owned());
            let value = generator.value(4);
            root.insert(key, value);
        }
        if generator.pick(2) == 0 {
            root.insert(Yaml::String("kind".into()), Yaml::String(KINDS[generator.pick(KINDS.len())].to_owned()));
        }
        let doc = Yaml::Hash(root);
        let Some(text) = emit(&doc) else { return Err(TestCaseError::reject("not re-readable")) };
        let registry = ComponentTypeRegistry::builtin();
        let parsed = parse_component(&registry, component_type, &text);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed.err(), text);
        let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        prop_assert!(parse_component(&registry, component_type, &crlf).is_ok());
        prop_assert!(McsSettingsFile::parse(&text).is_ok());
        // The same tree as JSON, through the configuration parser.
        let mut json_text = String::new();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&yaml_to_json(&doc)) {
            json_text = value.to_string();
        }
        prop_assert!(BotConfiguration::parse(&json_text).is_ok());
    }

    #[test]
    fn every_planted_unknown_key_is_reported(bytes in proptest::collection::vec(any::<u8>(), 0..300), component_type in 0i32..25) {
        let mut generator = Gen { bytes: bytes.iter(), markers: Vec::new(), counter: 0 };
        let doc = generator.component();
        let Some(text) = emit(&doc) else { return Err(TestCaseError::reject("not re-readable")) };
        let parsed = parse_component(&ComponentTypeRegistry::builtin(), component_type, &text);
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
        let parsed = parsed.unwrap();
        let reported: Vec<_> = parsed.unrecognized.iter().map(|u| (u.path.clone(), u.reason.clone())).collect();
        for marker in &generator.markers {
            prop_assert!(covered(marker, &reported), "{marker} not reported in {reported:?}\n{text}");
        }
        // Nothing reported that does not exist: every path resolves in the document.
        let json: serde_json::Value = serde_json::from_str(&yaml_to_json(&doc)).unwrap();
        for (path, _) in &reported {
            prop_assert!(json.pointer(path).is_some(), "{path} not in document");
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}", component_type in any::<i32>()) {
        let _ = parse_component(&ComponentTypeRegistry::builtin(), component_type, &text);
        let _ = BotConfiguration::parse(&text);
        let _ = McsSettingsFile::parse(&text);
    }
}

/// Renders a YAML tree as JSON (keys as strings) for pointer checks.
fn yaml_to_json(doc: &Yaml) -> String {
    fn convert(y: &Yaml) -> serde_json::Value {
        match y {
            Yaml::Hash(h) => serde_json::Value::Object(
                h.iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Yaml::String(s) => s.clone(),
                            Yaml::Integer(i) => i.to_string(),
                            other => format!("{other:?}"),
                        };
                        (key, convert(v))
                    })
                    .collect(),
            ),
            Yaml::Array(items) => serde_json::Value::Array(items.iter().map(convert).collect()),
            Yaml::String(s) => serde_json::Value::String(s.clone()),
            Yaml::Integer(i) => serde_json::Value::from(*i),
            Yaml::Boolean(b) => serde_json::Value::Bool(*b),
            _ => serde_json::Value::Null,
        }
    }
    convert(doc).to_string()
}
