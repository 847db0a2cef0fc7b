//! A fast loader for the block-style YAML subset that Copilot Studio writes.
//!
//! Copilot Studio's `data` column is block YAML: block mappings and sequences, one-line
//! plain, single- and double-quoted scalars, `|`/`>` block scalars, comments and empty
//! `[]`/`{}`. Loading it through `yaml-rust2`'s scanner costs several `String`s per token;
//! this loader reads the same subset line by line and builds exactly the [`Node`] tree the
//! event path builds, with one allocation per scalar.
//!
//! It is deliberately partial: it gives up ([`load`] returns `None`) on anything outside
//! the subset or anything that could be read two ways — flow collections with content,
//! anchors, aliases, tags, directives, document markers, complex or quoted keys, tabs,
//! multi-line plain or quoted scalars, unusual block-scalar indentation, control
//! characters — and the caller then runs the full parser, which also produces the typed
//! error for invalid input. The differential tests in `tree.rs` check that whatever this
//! loader accepts, it loads exactly as the event path does.

use std::borrow::Cow;

use crate::tree::{MAX_DEPTH, Node};

/// The fast path gave up; the full parser decides.
struct Bail;

type Step<T> = Result<T, Bail>;

/// Loads `text` (BOM already stripped) if it is within the subset; `None` means "use the
/// full parser". A `Some` is a document with a mapping or sequence root and nothing else.
pub(crate) fn load(text: &str) -> Option<Node<'_>> {
    let mut loader = Loader::new(text).ok()?;
    loader.document().ok()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Only spaces (or nothing).
    Blank,
    /// Spaces, then `#`.
    Comment,
    Content,
}

#[derive(Clone, Copy)]
struct Line {
    /// Byte offset of the line's first byte.
    start: usize,
    /// Byte offset just past the line's last byte, line break (`\n` or `\r\n`) excluded.
    end: usize,
    /// Leading spaces.
    indent: usize,
    kind: Kind,
}

struct Loader<'a> {
    text: &'a str,
    lines: Vec<Line>,
    /// The next line not yet consumed.
    next: usize,
    /// Collections open, the root included (the event path's stack depth).
    depth: usize,
}

/// The line `start..end` (line break excluded), or a bail on a document marker or
/// directive, and on a last line of spaces without a line break (block scalars treat that
/// one specially).
fn line(bytes: &[u8], start: usize, end: usize, terminated: bool) -> Step<Line> {
    let line = &bytes[start..end];
    let indent = line.iter().take_while(|&&b| b == b' ').count();
    let kind = match line.get(indent) {
        None if !terminated && end > start => return Err(Bail),
        None => Kind::Blank,
        Some(b'#') => Kind::Comment,
        Some(_) => Kind::Content,
    };
    if indent == 0
        && kind == Kind::Content
        && (line.starts_with(b"---") || line.starts_with(b"...") || line[0] == b'%')
    {
        return Err(Bail);
    }
    Ok(Line {
        start,
        end,
        indent,
        kind,
    })
}

impl<'a> Loader<'a> {
    /// Splits `text` into lines, in the same pass refusing bytes the subset never holds:
    /// tabs, control characters, a `\r` not ending a line, and characters some YAML
    /// readers take as line breaks or byte-order marks (U+0080..U+009F, U+2028, U+2029,
    /// U+FEFF, U+FFFE, U+FFFF).
    fn new(text: &'a str) -> Step<Self> {
        let bytes = text.as_bytes();
        let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            // Printable ASCII, nearly every byte: one comparison.
            if b.wrapping_sub(0x20) < 0x5f {
                i += 1;
                continue;
            }
            let next = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
            match b {
                b'\n' => {
                    let end = if i > start && bytes[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    lines.push(line(bytes, start, end, true)?);
                    start = i + 1;
                }
                b'\r' if next(1) == b'\n' => {}
                0..=0x7f => return Err(Bail),
                0xc2 if (0x80..=0x9f).contains(&next(1)) => return Err(Bail),
                0xe2 if next(1) == 0x80 && matches!(next(2), 0xa8 | 0xa9) => return Err(Bail),
                0xef if (next(1) == 0xbb && next(2) == 0xbf)
                    || (next(1) == 0xbf && matches!(next(2), 0xbe | 0xbf)) =>
                {
                    return Err(Bail);
                }
                _ => {}
            }
            i += 1;
        }
        if start < bytes.len() {
            lines.push(line(bytes, start, bytes.len(), false)?);
        }
        Ok(Loader {
            text,
            lines,
            next: 0,
            depth: 0,
        })
    }

    fn bytes(&self, line: usize) -> &'a [u8] {
        let l = self.lines[line];
        &self.text.as_bytes()[l.start..l.end]
    }

    fn str(&self, line: usize, from: usize, to: usize) -> &'a str {
        let start = self.lines[line].start;
        &self.text[start + from..start + to]
    }

    /// Skips blank and comment lines; the index of the next content line.
    fn peek(&mut self) -> Option<usize> {
        while let Some(line) = self.lines.get(self.next) {
            if line.kind == Kind::Content {
                return Some(self.next);
            }
            self.next += 1;
        }
        None
    }

    fn document(&mut self) -> Step<Node<'a>> {
        // An empty text has no root; the full parser handles that cheaply.
        let line = self.peek().ok_or(Bail)?;
        let col = self.lines[line].indent;
        let bytes = self.bytes(line);
        let root = if is_dash(&bytes[col..]) || key_end(bytes, col).is_some() {
            self.collection(line, col)?
        } else {
            return Err(Bail);
        };
        if self.peek().is_some() {
            return Err(Bail);
        }
        Ok(root)
    }

    /// Opens a collection, keeping the event path's depth bound: past it the full parser
    /// reports [`crate::error::ParseError::TooDeep`].
    fn enter(&mut self) -> Step<()> {
        if self.depth + 1 >= MAX_DEPTH {
            return Err(Bail);
        }
        self.depth += 1;
        Ok(())
    }

    /// The block sequence or mapping whose first entry starts at `line`, column `col`.
    fn collection(&mut self, line: usize, col: usize) -> Step<Node<'a>> {
        self.enter()?;
        let node = if is_dash(&self.bytes(line)[col..]) {
            self.sequence(line, col)?
        } else {
            self.mapping(line, col)?
        };
        self.depth -= 1;
        Ok(node)
    }

    fn sequence(&mut self, first: usize, col: usize) -> Step<Node<'a>> {
        let mut items = Vec::new();
        let mut line = first;
        loop {
            let bytes = self.bytes(line);
            let mut at = col + 1;
            while bytes.get(at) == Some(&b' ') {
                at += 1;
            }
            let item = if at == bytes.len() || bytes[at] == b'#' {
                self.next = line + 1;
                self.block_value(col, false)?
            } else if is_dash(&bytes[at..]) {
                // `- - x`: a compact nested sequence.
                return Err(Bail);
            } else if key_end(bytes, at).is_some() {
                // `- key: value`: a mapping whose keys are at column `at`.
                self.collection(line, at)?
            } else {
                self.scalar(line, at, col)?
            };
            items.push(item);
            let Some(next) = self.peek() else { break };
            let indent = self.lines[next].indent;
            if indent > col {
                return Err(Bail);
            }
            if indent < col || !is_dash(&self.bytes(next)[col..]) {
                break;
            }
            line = next;
        }
        Ok(Node::Seq(items))
    }

    fn mapping(&mut self, first: usize, col: usize) -> Step<Node<'a>> {
        let mut entries = Vec::new();
        let mut line = first;
        loop {
            let bytes = self.bytes(line);
            let colon = key_end(bytes, col).ok_or(Bail)?;
            let key = Cow::Borrowed(self.str(line, col, colon));
            let mut at = colon + 1;
            while bytes.get(at) == Some(&b' ') {
                at += 1;
            }
            let value = if at == bytes.len() || bytes[at] == b'#' {
                self.next = line + 1;
                self.block_value(col, true)?
            } else if is_dash(&bytes[at..]) {
                return Err(Bail);
            } else {
                self.scalar(line, at, col)?
            };
            entries.push((key, value));
            let Some(next) = self.peek() else { break };
            let indent = self.lines[next].indent;
            if indent > col {
                return Err(Bail);
            }
            if indent < col {
                break;
            }
            line = next;
        }
        Ok(Node::Map(entries))
    }

    /// A value that starts on the lines after its key or dash: a nested collection, a
    /// sequence at the key's own column (`sequence_at_owner`), or null.
    fn block_value(&mut self, owner: usize, sequence_at_owner: bool) -> Step<Node<'a>> {
        let Some(line) = self.peek() else {
            return Ok(null());
        };
        let indent = self.lines[line].indent;
        let bytes = self.bytes(line);
        if indent > owner {
            if is_dash(&bytes[indent..]) || key_end(bytes, indent).is_some() {
                return self.collection(line, indent);
            }
            // A scalar on its own line(s).
            return Err(Bail);
        }
        if indent == owner && sequence_at_owner && is_dash(&bytes[indent..]) {
            return self.collection(line, indent);
        }
        Ok(null())
    }

    /// A scalar (or `[]`/`{}`) starting at byte `at` of `line`, inside a collection whose
    /// entries are at column `owner`. Consumes the line (and a block scalar's lines).
    fn scalar(&mut self, line: usize, at: usize, owner: usize) -> Step<Node<'a>> {
        let bytes = self.bytes(line);
        let node = match bytes[at] {
            b'"' => {
                let (text, after) = double_quoted(self.str(line, 0, bytes.len()), at)?;
                line_ends(bytes, after)?;
                Node::Scalar { text, plain: false }
            }
            b'\'' => {
                let (text, after) = single_quoted(self.str(line, 0, bytes.len()), at)?;
                line_ends(bytes, after)?;
                Node::Scalar { text, plain: false }
            }
            b'|' | b'>' => return self.block_scalar(line, at, owner),
            b'[' | b'{' => {
                let close = if bytes[at] == b'[' { b']' } else { b'}' };
                if bytes.get(at + 1) != Some(&close) {
                    return Err(Bail);
                }
                line_ends(bytes, at + 2)?;
                // Empty collections count towards the depth bound like any other.
                self.enter()?;
                self.depth -= 1;
                if close == b']' {
                    Node::Seq(Vec::new())
                } else {
                    Node::Map(Vec::new())
                }
            }
            b'-' if bytes.get(at + 1).is_some_and(|&b| b != b' ') => self.plain(line, at)?,
            b'-' | b'?' | b':' | b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'%' | b'@'
            | b'`' => return Err(Bail),
            _ => self.plain(line, at)?,
        };
        self.next = line + 1;
        Ok(node)
    }

    /// A plain scalar on one line: up to a ` #` comment, trailing spaces trimmed.
    fn plain(&self, line: usize, at: usize) -> Step<Node<'a>> {
        let bytes = self.bytes(line);
        let mut end = bytes.len();
        let mut i = at;
        while i < bytes.len() {
            match bytes[i] {
                b'#' if bytes[i - 1] == b' ' => {
                    end = i;
                    break;
                }
                // `: ` or a final `:` would make a mapping here.
                b':' if bytes.get(i + 1).is_none_or(|&b| b == b' ') => return Err(Bail),
                _ => {}
            }
            i += 1;
        }
        while end > at && bytes[end - 1] == b' ' {
            end -= 1;
        }
        Ok(Node::Scalar {
            text: Cow::Borrowed(self.str(line, at, end)),
            plain: true,
        })
    }

    /// A `|` or `>` block scalar whose header is at byte `at` of `line`.
    fn block_scalar(&mut self, line: usize, at: usize, owner: usize) -> Step<Node<'a>> {
        let bytes = self.bytes(line);
        let literal = bytes[at] == b'|';
        let mut i = at + 1;
        let mut chomp = b' ';
        let mut increment = 0usize;
        let digit = |b: Option<&u8>| match b {
            Some(&d @ b'1'..=b'9') => Some(usize::from(d - b'0')),
            _ => None,
        };
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            chomp = bytes[i];
            i += 1;
            if let Some(d) = digit(bytes.get(i)) {
                increment = d;
                i += 1;
            }
        } else if let Some(d) = digit(bytes.get(i)) {
            increment = d;
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                chomp = bytes[i];
                i += 1;
            }
        }
        line_ends(bytes, i)?;

        let indent = if increment > 0 {
            owner + increment
        } else {
            // The first non-blank line sets the indentation; blank lines before it must not
            // be longer (the event path would take the longest).
            let mut first = line + 1;
            let mut longest_blank = 0;
            loop {
                let l = self.lines.get(first).ok_or(Bail)?;
                if l.kind != Kind::Blank {
                    break;
                }
                longest_blank = longest_blank.max(l.end - l.start);
                first += 1;
            }
            let indent = self.lines[first].indent;
            if longest_blank > indent {
                return Err(Bail);
            }
            indent
        };
        if indent <= owner {
            // An empty block scalar (or a badly indented one): where the document ends
            // matters to the event path; not worth mirroring.
            return Err(Bail);
        }
        let mut text = String::new();
        let mut blanks = 0usize;
        let mut lines = 0usize;
        let mut k = line + 1;
        while let Some(l) = self.lines.get(k) {
            if l.kind == Kind::Blank {
                if l.end - l.start > indent {
                    return Err(Bail);
                }
                blanks += 1;
                k += 1;
                continue;
            }
            if l.indent < indent {
                break;
            }
            if !literal && l.indent > indent {
                return Err(Bail);
            }
            if lines > 0 && (literal || blanks == 0) {
                text.push(if literal { '\n' } else { ' ' });
            }
            for _ in 0..blanks {
                text.push('\n');
            }
            text.push_str(self.str(k, indent, l.end - l.start));
            blanks = 0;
            lines += 1;
            k += 1;
        }
        if lines == 0 {
            return Err(Bail);
        }
        match chomp {
            b'-' => {}
            b'+' => {
                text.push('\n');
                for _ in 0..blanks {
                    text.push('\n');
                }
            }
            _ => text.push('\n'),
        }
        self.next = k;
        Ok(Node::Scalar {
            text: Cow::Owned(text),
            plain: false,
        })
    }
}

fn null() -> Node<'static> {
    Node::Scalar {
        text: Cow::Borrowed(""),
        plain: true,
    }
}

/// A block sequence entry indicator: `-` followed by a space or the end of the line.
fn is_dash(rest: &[u8]) -> bool {
    rest.first() == Some(&b'-') && rest.get(1).is_none_or(|&b| b == b' ')
}

/// Where the implicit key starting at `col` ends (the `:` followed by a space or the end
/// of the line), if the line starts with a plain key of the conservative kind: ASCII
/// letters, digits and `_ . $ / -`, inner spaces, at most 1,000 bytes.
fn key_end(bytes: &[u8], col: usize) -> Option<usize> {
    let first = *bytes.get(col)?;
    if !(first.is_ascii_alphanumeric() || first == b'_' || first == b'$') {
        return None;
    }
    let mut i = col + 1;
    while i < bytes.len() && i - col < 1000 {
        match bytes[i] {
            b':' => {
                return (bytes.get(i + 1).is_none_or(|&b| b == b' ') && bytes[i - 1] != b' ')
                    .then_some(i);
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'$' | b'/' | b'-') => {}
            b' ' if bytes.get(i + 1) != Some(&b'#') => {}
            _ => return None,
        }
        i += 1;
    }
    None
}

/// After a scalar ending at `at`: only spaces, then the end of the line or a comment.
fn line_ends(bytes: &[u8], at: usize) -> Step<()> {
    let mut i = at;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    match bytes.get(i) {
        None => Ok(()),
        Some(b'#') if i > at => Ok(()),
        Some(_) => Err(Bail),
    }
}

/// A double-quoted scalar closed on the same line; the text (borrowed when it has no
/// escapes) and the byte after the quote.
fn double_quoted(line: &str, at: usize) -> Step<(Cow<'_, str>, usize)> {
    let bytes = line.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut i = at + 1;
    loop {
        let run = bytes[i.min(bytes.len())..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')
            .ok_or(Bail)?;
        if out.is_empty() && i == at + 1 && bytes[i + run] == b'"' {
            return Ok((Cow::Borrowed(&line[i..i + run]), i + run + 1));
        }
        out.extend_from_slice(&bytes[i..i + run]);
        i += run;
        if bytes[i] == b'"' {
            break;
        }
        let escape = *bytes.get(i + 1).ok_or(Bail)?;
        i += 2;
        let c = match escape {
            b'0' => '\0',
            b'a' => '\x07',
            b'b' => '\x08',
            b't' => '\t',
            b'n' => '\n',
            b'v' => '\x0b',
            b'f' => '\x0c',
            b'r' => '\r',
            b'e' => '\x1b',
            b' ' => ' ',
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'N' => '\u{85}',
            b'_' => '\u{a0}',
            b'L' => '\u{2028}',
            b'P' => '\u{2029}',
            b'x' | b'u' | b'U' => {
                let len = match escape {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let hex = bytes.get(i..i + len).ok_or(Bail)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Bail);
                }
                i += len;
                let hex = std::str::from_utf8(hex).map_err(|_| Bail)?;
                let code = u32::from_str_radix(hex, 16).map_err(|_| Bail)?;
                char::from_u32(code).ok_or(Bail)?
            }
            _ => return Err(Bail),
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    // Only whole UTF-8 sequences and ASCII were copied.
    let text = String::from_utf8(out).map_err(|_| Bail)?;
    Ok((Cow::Owned(text), i + 1))
}

/// A single-quoted scalar closed on the same line (`''` is a quote); borrowed when it
/// holds no quote.
fn single_quoted(line: &str, at: usize) -> Step<(Cow<'_, str>, usize)> {
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = at + 1;
    loop {
        let run = bytes[i..].iter().position(|&b| b == b'\'').ok_or(Bail)?;
        if i == at + 1 && bytes.get(i + run + 1) != Some(&b'\'') {
            return Ok((Cow::Borrowed(&line[i..i + run]), i + run + 1));
        }
        out.push_str(&line[i..i + run]);
        i += run;
        if bytes.get(i + 1) == Some(&b'\'') {
            out.push('\'');
            i += 2;
        } else {
            return Ok((Cow::Owned(out), i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: whatever the fast loader accepts, it loads exactly as the
    //! `yaml-rust2` event path does. Inputs: every YAML fixture, the emulator's generated
    //! components, hand-picked edge cases, generated block documents and mutated fixtures.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::tree::load_yaml_events;
    use proptest::prelude::*;

    /// `Some(true)` when the fast loader accepted `text` and agrees with the event path,
    /// `None` when it declined; panics (with both results) when it disagrees.
    fn check(text: &str) -> Option<()> {
        let fast = load(text)?;
        match load_yaml_events(text) {
            Ok(loaded) if loaded.extra_documents == 0 && loaded.root.as_ref() == Some(&fast) => {
                Some(())
            }
            other => panic!("fast loader disagrees on {text:?}:\nfast  {fast:?}\nevents {other:?}"),
        }
    }

    fn fixtures() -> Vec<(String, String)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((name, text));
            }
        }
        assert!(out.len() >= 19, "fixtures missing: {}", out.len());
        out
    }

    #[test]
    fn every_yaml_fixture_takes_the_fast_path_and_loads_the_same() {
        for (name, text) in fixtures() {
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            assert!(check(text).is_some(), "{name} fell back to the event path");
            // The same text with LF line breaks and with a final line break added or removed.
            let lf = text.replace("\r\n", "\n");
            assert!(check(&lf).is_some(), "{name} (LF) fell back");
            let toggled = match lf.strip_suffix('\n') {
                Some(t) => t.to_owned(),
                None => format!("{lf}\n"),
            };
            assert!(check(&toggled).is_some(), "{name} (final break) fell back");
        }
    }

    #[test]
    fn every_emulator_component_takes_the_fast_path_and_loads_the_same() {
        use tenant_emulator::generate::{SyntheticTenant, TenantSpec};
        let spec = TenantSpec::new(7, time::macros::datetime!(2026-03-01 12:00 UTC))
            .with_agents(60)
            .with_transcripts(0);
        let tenant = SyntheticTenant::generate(&spec);
        let mut seen = 0;
        for row in tenant.component_rows() {
            let Some(data) = row.get("data").and_then(|d| d.as_str()) else {
                continue;
            };
            assert!(
                check(data).is_some(),
                "emulator component fell back: {data}"
            );
            seen += 1;
        }
        assert!(seen > 500, "only {seen} components");
    }

    #[test]
    fn hand_picked_edge_cases_agree_or_fall_back() {
        let cases = [
            "a: 1\n",
            "a:\n",
            "a:\nb: 2",
            "a: ~\nb: null\nc: ''\nd: \"\"\n",
            "a: b: c\n",
            "a: b:\n",
            "a: b:c\n",
            "a: http://x/y?z=1#frag\n",
            "a: x #comment\nb: y# not comment\n",
            "a: 'it''s'\nb: \"q\\\"\\\\\\n\\t\\u00e9\\x41\\U0001F600\"\n",
            "a: \"bad \\q escape\"\n",
            "a: \"unterminated\n",
            "a: 'multi\n  line'\n",
            "a: plain\n  continued\n",
            "a: plain\n\n  continued\n",
            "a: x\n # c\n  y\n",
            "a:\n- x\n- y\nb: 1\n",
            "a:\n  - x\n  -\n  - - z\n",
            "- a: 1\n  b:\n  - x\n  c: |\n    lit\n- b\n",
            "-\n  a: 1\n- []\n- {}\n- [ ]\n- [a]\n",
            "a: |\n  one\n  two\n\nb: 1\n",
            "a: |-\n  one\n\n  two\n\n\nb: 1\n",
            "a: |+\n  one\n\n\nb: 1\n",
            "a: |+\n  one\n\n",
            "a: |\n  one",
            "a: >\n  one\n  two\n\n  three\n\n",
            "a: >-\n  one\n    more\n  two\n",
            "a: |2\n    x\n  y\n",
            "a: |1-\n  x\n",
            "a: |0\n  x\n",
            "a: |\n    x\n  y\n",
            "a: |\n\n    x\n",
            "a: |\n      \n    x\n",
            "a: |\n  x\n     \n  y\n",
            "a: |\n  # not a comment\n# a comment\nb: 2\n",
            "a: |\nb: 1\n",
            "a: |\n",
            "- |\n x\n- >+\n y\n\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "? a\n: b\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a: 1\n...\n",
            "%YAML 1.2\n---\na: 1\n",
            "a:\tb\n",
            "a: b\r\nc: d\r\n",
            "a: b\rc: d\n",
            "a: b\n  ",
            "  a: 1\n  b: 2\n",
            "  a: 1\nb: 2\n",
            "a: 1\n b: 2\n",
            "a: 1\na: 2\n",
            "a : 1\n",
            "a b: 1\n",
            "a #b: 1\n",
            "\"a\": 1\n",
            "'a': 1\n",
            "a.b/c-d$e_f: 1\n",
            "1: 2\ntrue: 3\n",
            "a: -1\nb: -x\nc: - x\nd: ?x\ne: :x\n",
            "a: é日🙂\nb: \u{a0}x\n",
            "a: \u{85}x\n",
            "a: [1, 2]\nb: {c: d}\n",
            "a: x\n- y\n",
            "- x\na: y\n",
            "plain scalar\n",
            "# only\n",
            "",
            "a: 1 # c\n# c\n  # c\nb:   2   \n",
            "a:\n  # c\n  b: 1\n",
            "a:    \n  b: 1\n",
            "a: \"x\" # c\nb: 'y'  #c\nc: \"x\"#c\n",
            "a: \"x\" y\n",
            "- a: 1\n  - b\n",
            "- - a\n",
            "a:\n  -\n    b: 1\n",
            "a: |\n  x\n b: 1\n",
        ];
        let mut accepted = 0;
        for case in cases {
            accepted += usize::from(check(case).is_some());
        }
        assert!(accepted >= 30, "only {accepted} cases took the fast path");
    }

    #[test]
    fn quoted_scalars_with_and_without_escapes_take_the_fast_path() {
        for case in [
            "a: 'plain'\n",
            "a: 'it''s'\n",
            "a: ''''\n",
            "a: \"plain\"\n",
            "a: \"q\\\"\\\\\\n\\t\\u00e9\"\n",
            "- 'x''y' # c\n- \"\\x41\"\n",
        ] {
            assert!(check(case).is_some(), "{case:?} fell back");
        }
    }

    #[test]
    fn depth_bound_falls_back_to_the_typed_error() {
        let mut text = String::new();
        for depth in 0..MAX_DEPTH + 5 {
            text.push_str(&" ".repeat(depth));
            text.push_str("a:\n");
        }
        assert!(load(&text).is_none());
        assert!(matches!(
            crate::tree::load_yaml(&text),
            Err(crate::error::ParseError::TooDeep { .. })
        ));
        let shallow: String = (0..20).map(|d| format!("{}a:\n", " ".repeat(d))).collect();
        assert!(check(&shallow).is_some());
    }

    // ---- generated block documents ----

    #[derive(Debug, Clone)]
    enum Style {
        Plain,
        Single,
        Double,
        /// `|` or `>`, a chomping indicator, an explicit indentation indicator.
        Block(bool, Option<char>, Option<u8>),
    }

    #[derive(Debug, Clone)]
    enum Value {
        Scalar(Style, String),
        Seq(Vec<Value>),
        Map(Vec<(String, Value)>),
    }

    #[derive(Debug, Clone)]
    struct Options {
        crlf: bool,
        final_break: bool,
        comments: Vec<u8>,
        sequences_at_key_column: bool,
    }

    fn clean_text() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9 .,/()é日🙂=<>+-]{0,12}[a-zA-Z0-9.)]"
    }

    fn tricky_text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[ a-zA-Z0-9:#'\"\\\\.,é日🙂!&*?|>{}\\[\\]%@`~-]{0,14}",
            1 => "[a-z ]{0,6}\n[a-z \n]{0,10}",
            1 => prop::sample::select(vec![
                "", "~", "null", "True", "0x1F", "012", ".inf", " lead", "trail ", "a: b",
                "a #b", "a#b", "- x", "-x", "'q'", "\"q\"", "x\n", "\n\nx\n\n", "  in\nout",
                "a:", ":", "#", "[]", "{}", "[a]", "*x", "&x", "!t", "? k", "%", "@", "`",
                "\\", "\"", "'", "é", "\u{a0}",
            ])
            .prop_map(str::to_owned),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a-zA-Z_$][a-zA-Z0-9_.$/-]{0,10}",
            1 => "[a-zA-Z][a-z ]{0,5}[a-z]",
            1 => "[ a-zA-Z0-9:#'\"@&*!?-]{0,6}",
        ]
    }

    fn style() -> impl Strategy<Value = Style> {
        prop_oneof![
            4 => Just(Style::Plain),
            2 => Just(Style::Single),
            2 => Just(Style::Double),
            3 => (
                any::<bool>(),
                prop::option::of(prop::sample::select(vec!['-', '+'])),
                prop::option::weighted(0.2, 1u8..4),
            )
                .prop_map(|(l, c, i)| Style::Block(l, c, i)),
        ]
    }

    fn value(
        text: BoxedStrategy<String>,
        keys: BoxedStrategy<String>,
    ) -> impl Strategy<Value = Value> {
        let leaf = (style(), text).prop_map(|(s, t)| Value::Scalar(s, t));
        leaf.prop_recursive(5, 40, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Seq),
                prop::collection::vec((keys.clone(), inner), 0..5).prop_map(Value::Map),
            ]
        })
    }

    fn options() -> impl Strategy<Value = Options> {
        (
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(crlf, final_break, comments, same)| Options {
                crlf,
                final_break,
                comments,
                sequences_at_key_column: same,
            })
    }

    struct Writer<'o> {
        out: String,
        options: &'o Options,
        lines: usize,
    }

    impl Writer<'_> {
        fn line(&mut self, text: &str) {
            self.out.push_str(text);
            self.out.push('\n');
            self.lines += 1;
            // Now and then a comment or blank line between entries.
            if let Some(&c) = self.options.comments.get(self.lines % 16) {
                match c % 8 {
                    0 => self.out.push('\n'),
                    1 => self
                        .out
                        .push_str(&format!("{}# note: x\n", " ".repeat(usize::from(c % 5)))),
                    _ => {}
                }
            }
        }

        /// A scalar after `prefix` (`key:` or `-`), in a collection at column `owner`.
        fn scalar(&mut self, prefix: &str, style: &Style, text: &str, owner: usize) {
            match style {
                Style::Plain => self.line(&format!("{prefix} {text}")),
                Style::Single => self.line(&format!("{prefix} '{}'", text.replace('\'', "''"))),
                Style::Double => {
                    let mut q = String::new();
                    for c in text.chars() {
                        match c {
                            '"' => q.push_str("\\\""),
                            '\\' => q.push_str("\\\\"),
                            '\n' => q.push_str("\\n"),
                            'é' => q.push_str("\\u00e9"),
                            c => q.push(c),
                        }
                    }
                    self.line(&format!("{prefix} \"{q}\""));
                }
                Style::Block(literal, chomp, explicit) => {
                    let mut header = format!("{prefix} {}", if *literal { '|' } else { '>' });
                    if let Some(n) = explicit {
                        header.push(char::from(b'0' + n));
                    }
                    if let Some(c) = chomp {
                        header.push(*c);
                    }
                    // No comments inside block scalars: they would be content.
                    self.out.push_str(&header);
                    self.out.push('\n');
                    let indent = owner + usize::from(explicit.unwrap_or(2));
                    for part in text.split('\n') {
                        if part.is_empty() {
                            self.out.push('\n');
                        } else {
                            self.out.push_str(&" ".repeat(indent));
                            self.out.push_str(part);
                            self.out.push('\n');
                        }
                    }
                }
            }
        }

        fn map(
            &mut self,
            entries: &[(String, Value)],
            col: usize,
            mut first_prefix: Option<String>,
        ) {
            for (k, v) in entries {
                let lead = first_prefix.take().unwrap_or_else(|| " ".repeat(col));
                let prefix = format!("{lead}{k}:");
                self.entry(&prefix, v, col, true);
            }
        }

        fn seq(&mut self, items: &[Value], col: usize) {
            for item in items {
                let prefix = format!("{}-", " ".repeat(col));
                self.entry(&prefix, item, col, false);
            }
        }

        /// The value after `prefix`; `col` is the column of the collection holding it.
        fn entry(&mut self, prefix: &str, v: &Value, col: usize, after_key: bool) {
            match v {
                Value::Scalar(style, text) => self.scalar(prefix, style, text, col),
                Value::Seq(items) if items.is_empty() => self.line(&format!("{prefix} []")),
                Value::Map(entries) if entries.is_empty() => self.line(&format!("{prefix} {{}}")),
                Value::Seq(items) => {
                    self.line(prefix);
                    let same = after_key && self.options.sequences_at_key_column;
                    self.seq(items, if same { col } else { col + 2 });
                }
                Value::Map(entries) if !after_key => {
                    // `- key: value`, the mapping's keys at col + 2.
                    self.map(entries, col + 2, Some(format!("{prefix} ")));
                }
                Value::Map(entries) => {
                    self.line(prefix);
                    self.map(entries, col + 2, None);
                }
            }
        }
    }

    fn render(root: &Value, options: &Options) -> String {
        let mut w = Writer {
            out: String::new(),
            options,
            lines: 0,
        };
        match root {
            Value::Map(entries) => w.map(entries, 0, None),
            Value::Seq(items) => w.seq(items, 0),
            Value::Scalar(style, text) => w.scalar("k:", style, text, 0),
        }
        let mut out = w.out;
        if !options.final_break {
            while out.ends_with('\n') {
                out.pop();
            }
        }
        if options.crlf {
            out = out.replace('\n', "\r\n");
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Documents of every scalar style with tricky text: the fast loader either
        /// declines or loads exactly what the event path loads.
        #[test]
        fn generated_documents_agree_or_fall_back(
            root in value(tricky_text().boxed(), key().boxed()),
            options in options(),
        ) {
            let text = render(&root, &options);
            check(&text);
        }

        /// Documents inside the subset (clean text, plain keys): the fast loader must take
        /// them, and load them exactly as the event path does.
        #[test]
        fn generated_block_documents_take_the_fast_path(
            root in value(clean_text().boxed(), "[a-zA-Z_$][a-zA-Z0-9_.$/-]{0,10}".boxed()),
            options in options(),
        ) {
            // The root is a non-empty collection (a lone scalar or `{}` is left to the
            // event path).
            let root = match root {
                Value::Seq(ref items) if !items.is_empty() => root,
                Value::Map(ref entries) if !entries.is_empty() => root,
                other => Value::Map(vec![("k".to_owned(), other)]),
            };
            let text = render(&root, &options);
            prop_assert!(check(&text).is_some(), "fell back on {:?}", text);
        }

        /// Real components, slightly damaged: agree or fall back.
        #[test]
        fn mutated_fixtures_agree_or_fall_back(
            pick in any::<prop::sample::Index>(),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), 0u8..4, prop::sample::select(vec![
                    " ", "  ", "-", "- ", ":", ": ", "#", " #", "'", "\"", "|", ">", "|-", ">+",
                    "\n", "\n  ", "[", "{}", "&a ", "*a", "!", "?", "\\", "é", "\t", "\r",
                ])),
                1..4,
            ),
        ) {
            let fixtures = fixtures();
            let (_, text) = &fixtures[pick.index(fixtures.len())];
            let mut text = text.replace("\r\n", "\n");
            for (at, op, piece) in edits {
                let mut i = at.index(text.len() + 1);
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                match op {
                    0 => text.insert_str(i, piece),
                    1 => {
                        let end = (i + piece.len()).min(text.len());
                        let mut end = end;
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(i..end, piece);
                    }
                    2 => {
                        let mut end = (i + 1).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(i..end, "");
                    }
                    _ => {
                        // Duplicate the line around `i`.
                        let start = text[..i].rfind('\n').map_or(0, |p| p + 1);
                        let end = text[i..].find('\n').map_or(text.len(), |p| i + p);
                        let line = format!("{}\n", &text[start..end]);
                        text.insert_str(start, &line);
                    }
                }
            }
            check(&text);
        }
    }
}
