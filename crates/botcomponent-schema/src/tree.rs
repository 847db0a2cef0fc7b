//! A small document tree shared by the YAML and JSON inputs, and a walker that
//! records every key nobody asked for.
//!
//! YAML is loaded from `yaml-rust2` parser events (not its `YamlLoader`) so that
//! nesting depth and alias expansion are bounded: a 1 MB `data` column must not be
//! able to exhaust the stack or memory.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::error::ParseError;
use crate::model::{Unrecognized, UnrecognizedReason};

/// Deepest nesting accepted; real components stay below 30.
pub(crate) const MAX_DEPTH: usize = 200;

/// One node of a loaded document. Scalars keep their text as written, so that a
/// trigger phrase `0x1F` or `True` is reported exactly; their type is resolved on
/// demand by the YAML 1.2 core schema. Text and keys borrow from the input where it
/// holds them as they are (the fast loader's keys and most of its scalars).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'a> {
    Scalar {
        text: Cow<'a, str>,
        /// A plain (unquoted, non-block) scalar, whose text may resolve to null, bool or number.
        plain: bool,
    },
    Seq(Vec<Node<'a>>),
    /// Keys in document order; scalar keys as written, complex keys as a placeholder.
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// The null node.
pub(crate) static NULL: Node<'static> = Node::Scalar {
    text: Cow::Borrowed(""),
    plain: true,
};

impl<'a> Node<'a> {
    /// A string scalar.
    pub(crate) fn string(text: impl Into<Cow<'a, str>>) -> Node<'a> {
        Node::Scalar {
            text: text.into(),
            plain: false,
        }
    }

    /// A plain scalar.
    pub(crate) fn plain(text: impl Into<Cow<'a, str>>) -> Node<'a> {
        Node::Scalar {
            text: text.into(),
            plain: true,
        }
    }

    /// Whether this is null (an empty value, `~` or `null` in any core-schema spelling).
    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, plain: true } if matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The boolean value of a plain `true`/`false` (core schema spellings).
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Scalar { text, plain: true } => match text.as_ref() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The integer value of a plain core-schema integer (decimal, `0o`, `0x`).
    pub(crate) fn as_i64(&self) -> Option<i64> {
        let Node::Scalar { text, plain: true } = self else {
            return None;
        };
        if let Some(hex) = text.strip_prefix("0x") {
            i64::from_str_radix(hex, 16).ok()
        } else if let Some(oct) = text.strip_prefix("0o") {
            i64::from_str_radix(oct, 8).ok()
        } else {
            text.parse::<i64>().ok()
        }
    }

    fn is_number(&self) -> bool {
        let Node::Scalar { text, plain: true } = self else {
            return false;
        };
        if self.as_i64().is_some() {
            return true;
        }
        let body = text.trim_start_matches(['-', '+']);
        matches!(body, ".inf" | ".Inf" | ".INF")
            || matches!(text.as_ref(), ".nan" | ".NaN" | ".NAN")
            || (body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
                && body.parse::<f64>().is_ok())
    }

    /// The shape name used in [`UnrecognizedReason::UnexpectedShape`].
    pub(crate) fn shape(&self) -> &'static str {
        match self {
            Node::Seq(_) => "sequence",
            Node::Map(_) => "mapping",
            n if n.is_null() => "null",
            n if n.as_bool().is_some() => "boolean",
            n if n.is_number() => "number",
            Node::Scalar { .. } => "string",
        }
    }

    /// The text of a non-null scalar, as written.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, .. } if !self.is_null() => Some(text.as_ref()),
            _ => None,
        }
    }

    /// [`Node::as_str`], owned.
    pub(crate) fn scalar_text(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }

    /// The value of `key` when this node is a mapping (first occurrence).
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The `kind` (YAML) or `$kind` (JSON) discriminator of a mapping, if it is a string.
    pub(crate) fn kind(&self) -> Option<&str> {
        self.get("kind")
            .or_else(|| self.get("$kind"))
            .and_then(Node::as_str)
    }

    /// Converts a JSON value, borrowing its strings and keys.
    pub(crate) fn from_json(value: &'a serde_json::Value) -> Node<'a> {
        match value {
            serde_json::Value::Null => Node::plain("null"),
            serde_json::Value::Bool(b) => Node::plain(if *b { "true" } else { "false" }),
            serde_json::Value::Number(n) => Node::plain(n.to_string()),
            serde_json::Value::String(s) => Node::string(s.as_str()),
            serde_json::Value::Array(items) => {
                Node::Seq(items.iter().map(Node::from_json).collect())
            }
            serde_json::Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Node::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// The result of loading a YAML text.
#[derive(Debug)]
pub(crate) struct Loaded<'a> {
    /// The first document; `None` when the text holds no document at all.
    pub(crate) root: Option<Node<'a>>,
    /// How many further documents followed the first (they are not read).
    pub(crate) extra_documents: usize,
}

/// Loads YAML text: strips a UTF-8 BOM, accepts CRLF, resolves plain scalars by the
/// YAML 1.2 core schema (`yes`, `no`, `on`, `off` stay strings).
pub(crate) fn load_yaml(text: &str) -> Result<Loaded<'_>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Nearly every component is in the block subset the fast loader reads; anything else
    // (and every error) goes through the event parser below.
    if let Some(root) = crate::fast_yaml::load(text) {
        return Ok(Loaded {
            root: Some(root),
            extra_documents: 0,
        });
    }
    load_yaml_events(text)
}

/// [`load_yaml`] through `yaml-rust2`'s events only: the reference the fast loader is
/// tested against, and the path for everything outside its subset.
pub(crate) fn load_yaml_events(text: &str) -> Result<Loaded<'static>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Aliases are expanded by copying; this budget keeps a "billion laughs" input
    // from turning a 1 MB text into gigabytes of nodes.
    let mut budget = text.len().saturating_mul(2).saturating_add(10_000);
    let mut parser = Parser::new_from_str(text);
    // Anchor id -> a copy of its node. Copies are charged to the budget like alias
    // expansions: nested anchors would otherwise copy a large subtree once per level.
    let mut anchors: HashMap<usize, Node<'static>> = HashMap::new();
    // Open collections: the node under construction, its anchor, and a pending key.
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node<'static>> = None;
    let mut documents = 0usize;

    loop {
        let (event, mark) = parser.next_token().map_err(|e| ParseError::Yaml {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let line = mark.line();
        let (node, anchor) = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                anchors.clear();
                continue;
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => continue,
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooDeep {
                        line,
                        limit: MAX_DEPTH,
                    });
                }
                let is_map = matches!(event, Event::MappingStart(..));
                stack.push(Frame {
                    node: if is_map {
                        Node::Map(Vec::new())
                    } else {
                        Node::Seq(Vec::new())
                    },
                    anchor,
                    key: None,
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(frame) => (frame.node, frame.anchor),
                None => continue,
            },
            Event::Scalar(value, style, anchor, tag) => {
                // `!!str` forces a string; other tags are not interpreted.
                let plain = style == TScalarStyle::Plain
                    && !tag
                        .as_ref()
                        .is_some_and(|t| t.suffix == "str" || t.suffix.ends_with(":str"));
                (
                    Node::Scalar {
                        text: Cow::Owned(value),
                        plain,
                    },
                    anchor,
                )
            }
            Event::Alias(id) => {
                let found = anchors.get(&id);
                match found {
                    Some(node) => {
                        let cost = count_nodes(node);
                        if cost > budget {
                            return Err(ParseError::TooLarge { line });
                        }
                        budget -= cost;
                        (node.clone(), 0)
                    }
                    // An alias to an anchor of an unfinished node (a cycle) or an unknown one.
                    None => {
                        return Err(ParseError::Yaml {
                            line,
                            column: mark.col() + 1,
                            message: "alias refers to an unknown or enclosing anchor".to_owned(),
                        });
                    }
                }
            }
        };
        if budget == 0 {
            return Err(ParseError::TooLarge { line });
        }
        budget -= 1;
        if anchor != 0 {
            let cost = count_nodes(&node);
            if cost > budget {
                return Err(ParseError::TooLarge { line });
            }
            budget -= cost;
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            Some(frame) => frame.push(node),
            None => {
                if documents <= 1 {
                    root = Some(node);
                }
            }
        }
    }
    Ok(Loaded {
        root,
        extra_documents: documents.saturating_sub(1),
    })
}

struct Frame {
    node: Node<'static>,
    anchor: usize,
    key: Option<Cow<'static, str>>,
}

impl Frame {
    fn push(&mut self, child: Node<'static>) {
        match &mut self.node {
            Node::Seq(items) => items.push(child),
            Node::Map(entries) => match self.key.take() {
                None => self.key = Some(key_text(child)),
                Some(key) => entries.push((key, child)),
            },
            _ => {}
        }
    }
}

/// Renders a mapping key; non-scalar keys cannot be names the schema uses. A scalar key's
/// text is moved, not copied: one allocation less for every key of every component.
fn key_text(node: Node<'_>) -> Cow<'_, str> {
    match node {
        Node::Scalar { text, .. } => text,
        Node::Seq(_) => Cow::Borrowed("<sequence key>"),
        Node::Map(_) => Cow::Borrowed("<mapping key>"),
    }
}

fn count_nodes(node: &Node<'_>) -> usize {
    match node {
        Node::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Node::Map(entries) => {
            1 + entries
                .iter()
                .map(|(_, v)| 1 + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Appends a JSON Pointer (RFC 6901) reference token to `path`.
pub(crate) fn child_path(path: &str, token: &str) -> String {
    let mut out = String::with_capacity(path.len() + token.len() + 1);
    out.push_str(path);
    out.push('/');
    // Keys almost never hold `~` or `/`: copy them whole rather than char by char.
    if !token.contains(['~', '/']) {
        out.push_str(token);
        return out;
    }
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Appends a sequence index to `path` (no escaping needed, no text of the index made first).
pub(crate) fn index_path(path: &str, index: usize) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(path.len() + 4);
    out.push_str(path);
    // Writing to a String cannot fail.
    let _ = write!(out, "/{index}");
    out
}

/// Collects what the parsers could not interpret.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) items: Vec<Unrecognized>,
}

impl Report {
    pub(crate) fn push(&mut self, path: String, reason: UnrecognizedReason) {
        self.items.push(Unrecognized { path, reason });
    }

    pub(crate) fn unknown_kind(&mut self, path: String, kind: &str) {
        self.push(
            path,
            UnrecognizedReason::UnknownKind {
                kind: kind.to_owned(),
            },
        );
    }

    pub(crate) fn shape(&mut self, path: String, expected: &str, found: &Node<'_>) {
        self.push(
            path,
            UnrecognizedReason::UnexpectedShape {
                expected: expected.to_owned(),
                found: found.shape().to_owned(),
            },
        );
    }
}

/// A view of one mapping that tracks which keys were read; [`MapView::finish`]
/// reports the rest.
pub(crate) struct MapView<'a> {
    entries: &'a [(Cow<'a, str>, Node<'a>)],
    used: Vec<bool>,
    pub(crate) path: String,
}

impl<'a> MapView<'a> {
    /// A view of `node` if it is a mapping; otherwise records the shape and returns `None`.
    pub(crate) fn of(node: &'a Node<'a>, path: String, report: &mut Report) -> Option<Self> {
        match node {
            Node::Map(entries) => Some(MapView {
                entries,
                used: vec![false; entries.len()],
                path,
            }),
            n if n.is_null() => None,
            other => {
                report.shape(path, "mapping", other);
                None
            }
        }
    }

    /// The value of `key` (first occurrence), marking it read.
    pub(crate) fn take(&mut self, key: &str) -> Option<&'a Node<'a>> {
        let entries = self.entries;
        let index = entries.iter().position(|(k, _)| k == key)?;
        self.used[index] = true;
        Some(&entries[index].1)
    }

    /// Marks keys as understood without reading them (known but opaque values).
    pub(crate) fn allow(&mut self, keys: &[&str]) {
        for (index, (k, _)) in self.entries.iter().enumerate() {
            if keys.contains(&k.as_ref()) {
                self.used[index] = true;
            }
        }
    }

    /// Marks every key as understood (for nodes reported as a whole).
    pub(crate) fn allow_all(&mut self) {
        self.used.iter_mut().for_each(|u| *u = true);
    }

    /// The entries of the mapping.
    pub(crate) fn entries(&self) -> &'a [(Cow<'a, str>, Node<'a>)] {
        self.entries
    }

    /// Marks keys listed in a sorted schema table as understood.
    pub(crate) fn allow_sorted(&mut self, keys: &[&str]) {
        for (index, (k, _)) in self.entries.iter().enumerate() {
            if keys.binary_search(&k.as_ref()).is_ok() {
                self.used[index] = true;
            }
        }
    }

    /// The path of a child key.
    pub(crate) fn path_of(&self, key: &str) -> String {
        child_path(&self.path, key)
    }

    /// A string value: strings as-is, other scalars rendered, null as `None`.
    pub(crate) fn string(&mut self, key: &str, report: &mut Report) -> Option<String> {
        let node = self.take(key)?;
        match node {
            Node::Seq(_) | Node::Map(_) => {
                report.shape(self.path_of(key), "string", node);
                None
            }
            scalar => scalar.scalar_text(),
        }
    }

    /// A boolean value; anything else is reported.
    pub(crate) fn boolean(&mut self, key: &str, report: &mut Report) -> Option<bool> {
        let node = self.take(key)?;
        if node.is_null() {
            return None;
        }
        let value = node.as_bool();
        if value.is_none() {
            report.shape(self.path_of(key), "boolean", node);
        }
        value
    }

    /// An integer value; anything else is reported.
    pub(crate) fn integer(&mut self, key: &str, report: &mut Report) -> Option<i64> {
        let node = self.take(key)?;
        if node.is_null() {
            return None;
        }
        let value = node.as_i64();
        if value.is_none() {
            report.shape(self.path_of(key), "integer", node);
        }
        value
    }

    /// A child mapping view.
    pub(crate) fn map(&mut self, key: &str, report: &mut Report) -> Option<MapView<'a>> {
        let node = self.take(key)?;
        MapView::of(node, self.path_of(key), report)
    }

    /// A sequence's items with their paths; a lone non-null value is reported.
    pub(crate) fn seq(&mut self, key: &str, report: &mut Report) -> Vec<(String, &'a Node<'a>)> {
        let Some(node) = self.take(key) else {
            return Vec::new();
        };
        let path = self.path_of(key);
        match node {
            Node::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (index_path(&path, i), item))
                .collect(),
            n if n.is_null() => Vec::new(),
            other => {
                report.shape(path, "sequence", other);
                Vec::new()
            }
        }
    }

    /// A list of strings (a lone string counts as a list of one).
    pub(crate) fn strings(&mut self, key: &str, report: &mut Report) -> Vec<String> {
        let Some(node) = self.take(key) else {
            return Vec::new();
        };
        let path = self.path_of(key);
        strings_of(node, &path, report)
    }

    /// The `kind` discriminator (`kind` or `$kind`).
    pub(crate) fn kind(&mut self, report: &mut Report) -> Option<String> {
        let key = if self.entries.iter().any(|(k, _)| k == "kind") {
            "kind"
        } else {
            "$kind"
        };
        self.string(key, report)
    }

    /// Marks the entry at `index` (of [`MapView::entries`]) as understood.
    pub(crate) fn allow_index(&mut self, index: usize) {
        if let Some(used) = self.used.get_mut(index) {
            *used = true;
        }
    }

    /// Reports every key not read or allowed.
    pub(crate) fn finish(self, report: &mut Report) {
        if self.used.iter().all(|u| *u) {
            return;
        }
        // Telling a repeated key from an unknown one must stay linear: a 1 MB mapping
        // can hold 100,000 keys.
        let mut seen: HashSet<&str> = HashSet::with_capacity(self.entries.len());
        for (index, (key, _)) in self.entries.iter().enumerate() {
            let duplicate = !seen.insert(key.as_ref());
            if self.used[index] {
                continue;
            }
            let reason = if duplicate {
                UnrecognizedReason::DuplicateKey
            } else {
                UnrecognizedReason::UnknownKey
            };
            report.push(child_path(&self.path, key), reason);
        }
    }
}

/// Reads a string or a list of strings (non-string items are reported).
pub(crate) fn strings_of(node: &Node<'_>, path: &str, report: &mut Report) -> Vec<String> {
    match node {
        n if n.is_null() => Vec::new(),
        Node::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let text = item.scalar_text();
                if text.is_none() {
                    report.shape(index_path(path, i), "string", item);
                }
                text
            })
            .collect(),
        Node::Map(_) => {
            report.shape(path.to_owned(), "string or sequence", node);
            Vec::new()
        }
        scalar => scalar.scalar_text().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node<'_> {
        load_yaml(text).unwrap().root.unwrap()
    }

    #[test]
    fn core_schema_keeps_yes_no_on_off_as_strings() {
        let node =
            root("a: yes\nb: no\nc: on\nd: off\ne: y\nf: True\ng: ~\nh: 0x1F\ni: 1.5\nj: 012\n");
        for key in ["a", "b", "c", "d", "e"] {
            let value = node.get(key).unwrap();
            assert_eq!(value.shape(), "string", "{key}");
            assert_eq!(value.as_bool(), None, "{key}");
        }
        assert_eq!(node.get("a").unwrap().as_str(), Some("yes"));
        assert_eq!(node.get("f").unwrap().as_bool(), Some(true));
        assert_eq!(
            node.get("f").unwrap().as_str(),
            Some("True"),
            "text kept as written"
        );
        assert!(node.get("g").unwrap().is_null());
        assert_eq!(node.get("h").unwrap().as_i64(), Some(31));
        assert_eq!(node.get("h").unwrap().as_str(), Some("0x1F"));
        assert_eq!(node.get("i").unwrap().shape(), "number");
        assert_eq!(node.get("j").unwrap().as_i64(), Some(12));
    }

    #[test]
    fn quoted_and_tagged_scalars_stay_strings() {
        let node = root("a: \"true\"\nb: '12'\nc: !!str 12\nd: ''\n");
        for key in ["a", "b", "c"] {
            assert_eq!(node.get(key).unwrap().shape(), "string", "{key}");
        }
        assert!(!node.get("d").unwrap().is_null());
        assert_eq!(node.get("d").unwrap().as_str(), Some(""));
    }

    #[test]
    fn bom_and_crlf_block_scalars() {
        let node =
            root("\u{feff}a: |\r\n  one\r\n  two\r\nb: |-\r\n  x\r\n\r\nc: |+\r\n  k\r\n\r\n");
        assert_eq!(node.get("a"), Some(&Node::string("one\ntwo\n")));
        assert_eq!(node.get("b"), Some(&Node::string("x")));
        assert_eq!(node.get("c"), Some(&Node::string("k\n\n")));
    }

    #[test]
    fn empty_value_is_null_and_empty_text_has_no_root() {
        assert!(root("a:\nb: 1").get("a").unwrap().is_null());
        assert!(load_yaml("").unwrap().root.is_none());
        assert!(load_yaml("# only a comment\n").unwrap().root.is_none());
    }

    #[test]
    fn aliases_expand_within_budget_and_bombs_fail() {
        let node = root("a: &x [1, 2]\nb: *x\n");
        assert_eq!(node.get("b"), node.get("a"));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(matches!(load_yaml(&bomb), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = "[".repeat(10_000);
        assert!(matches!(
            load_yaml(&text),
            Err(ParseError::TooDeep { .. }) | Err(ParseError::Yaml { .. })
        ));
        let deep = format!(
            "{}1{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(load_yaml(&deep), Err(ParseError::TooDeep { .. })));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        match load_yaml("a: [1, 2\nb: 3\n") {
            Err(ParseError::Yaml { line, .. }) => assert!(line >= 1),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn extra_documents_are_counted() {
        let loaded = load_yaml("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(loaded.extra_documents, 1);
        assert_eq!(loaded.root.unwrap().get("a").unwrap().as_i64(), Some(1));
    }

    #[test]
    fn json_pointer_escaping() {
        assert_eq!(child_path("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(child_path("", "mcs.metadata"), "/mcs.metadata");
        assert_eq!(child_path("/a", "日~"), "/a/日~0");
        assert_eq!(child_path("/a", "x/y"), "/a/x~1y");
        assert_eq!(child_path("/a", "plain"), "/a/plain");
        assert_eq!(index_path("/a/b~1c", 0), "/a/b~1c/0");
        assert_eq!(index_path("", 1234), "/1234");
    }

    #[test]
    fn duplicate_and_unknown_keys_are_reported() {
        let node = root("a: 1\na: 2\nb: 3\n");
        let mut report = Report::default();
        let mut view = MapView::of(&node, String::new(), &mut report).unwrap();
        assert_eq!(view.integer("a", &mut report), Some(1));
        view.finish(&mut report);
        let got: Vec<_> = report
            .items
            .iter()
            .map(|u| (u.path.as_str(), u.reason.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a", UnrecognizedReason::DuplicateKey),
                ("/b", UnrecognizedReason::UnknownKey)
            ]
        );
    }
}
