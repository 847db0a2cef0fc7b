//! HTML message bodies as plain text, without an HTML parser dependency.
//!
//! Microsoft 365 Copilot answers often arrive as `contentType: html`. Analysis wants the
//! words, not the markup: tags are dropped, block elements and `<br>` become line breaks,
//! list items get a `- ` prefix, `<script>`/`<style>`/comments vanish with their content, the
//! common named entities and every numeric entity are decoded, and runs of blanks collapse.
//! Malformed markup never fails: an unterminated tag or entity is kept as text.

/// Elements whose start or end breaks a line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
];

/// Converts an HTML fragment to plain text: tags dropped, block elements and `<br>` as line
/// breaks, list items prefixed `- `, `<script>`/`<style>`/comments removed with their content,
/// named and numeric entities decoded, blank runs collapsed, lines trimmed. Malformed markup
/// is kept as text, never an error.
///
/// ```
/// use transcript_model::html_to_text;
/// assert_eq!(
///     html_to_text("<p>Hello&nbsp;<b>Ann</b> &amp; co</p><ul><li>one</li><li>two &#x2713;</li></ul>"),
///     "Hello Ann & co\n- one\n- two \u{2713}"
/// );
/// assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
/// ```
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(i) = rest.find(['<', '&']) {
        push_text(&mut out, &rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('&') {
            match decode_entity(rest) {
                Some((c, len)) => {
                    push_char(&mut out, c);
                    rest = &rest[len..];
                }
                None => {
                    push_text(&mut out, "&");
                    rest = &rest[1..];
                }
            }
            continue;
        }
        // A comment: skip to its end (or everything, if unterminated).
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |j| &after[j + 3..]);
            continue;
        }
        let Some((tag, len)) = read_tag(rest) else {
            // Not markup (`a < b`): keep the character.
            push_text(&mut out, "<");
            rest = &rest[1..];
            continue;
        };
        rest = &rest[len..];
        if !tag.closing && (tag.name == "script" || tag.name == "style") {
            let close = format!("</{}", tag.name);
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&close) {
                Some(j) => rest[j..].find('>').map_or("", |k| &rest[j + k + 1..]),
                None => "",
            };
            continue;
        }
        if BLOCKS.contains(&tag.name.as_str()) {
            newline(&mut out);
            if tag.name == "li" && !tag.closing {
                out.push_str("- ");
            }
        } else if matches!(tag.name.as_str(), "td" | "th") && tag.closing {
            push_text(&mut out, " ");
        }
    }
    push_text(&mut out, rest);
    // Trim each line and drop blank lines.
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

struct Tag {
    name: String,
    closing: bool,
}

/// Reads a tag at the start of `s` (which starts with `<`): its lower-cased name, whether it
/// closes, and its length including `>`. Quoted attribute values may hold `>`.
fn read_tag(s: &str) -> Option<(Tag, usize)> {
    let bytes = s.as_bytes();
    let mut i = 1;
    let closing = bytes.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'-') {
        i += 1;
    }
    let starts_like_markup = i > name_start && bytes[name_start].is_ascii_alphabetic();
    let declaration = !closing && matches!(bytes.get(1), Some(b'!' | b'?'));
    if !starts_like_markup && !declaration {
        return None;
    }
    let name = s[name_start..i].to_ascii_lowercase();
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some((Tag { name, closing }, i + 1)),
            None => {}
        }
        i += 1;
    }
    None
}

/// Decodes an entity at the start of `s` (which starts with `&`): the character and the
/// entity's length.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.get(1..)?.find(';')? + 1;
    if end > 12 {
        return None;
    }
    let body = &s[1..end];
    let c = if let Some(num) = body.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(n).unwrap_or('\u{fffd}')
    } else {
        match body {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            "ndash" => '\u{2013}',
            "mdash" => '\u{2014}',
            "hellip" => '\u{2026}',
            "lsquo" => '\u{2018}',
            "rsquo" => '\u{2019}',
            "ldquo" => '\u{201c}',
            "rdquo" => '\u{201d}',
            "bull" => '\u{2022}',
            "copy" => '\u{a9}',
            "reg" => '\u{ae}',
            "trade" => '\u{2122}',
            "euro" => '\u{20ac}',
            _ => return None,
        }
    };
    Some((c, end + 1))
}

/// Appends text, collapsing runs of whitespace (including newlines in the source) to one space.
fn push_text(out: &mut String, text: &str) {
    for c in text.chars() {
        push_char(out, c);
    }
}

fn push_char(out: &mut String, c: char) {
    if c.is_whitespace() && c != '\u{a0}' {
        if !out.is_empty() && !out.ends_with([' ', '\n']) {
            out.push(' ');
        }
    } else if c == '\u{a0}' {
        out.push(' ');
    } else {
        out.push(c);
    }
}

fn newline(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_becomes_text() {
        for (html, text) in [
            ("plain", "plain"),
            ("<p>a</p><p>b</p>", "a\nb"),
            ("line<br/>break<BR>again", "line\nbreak\nagain"),
            (
                "<div class=\"x>y\" data-a='>'>quoted &gt; attrs</div>",
                "quoted > attrs",
            ),
            (
                "<script>alert('<p>')</script>kept<style>p{}</style>",
                "kept",
            ),
            ("a<!-- hidden <p> -->b", "ab"),
            ("<table><tr><td>1</td><td>2</td></tr></table>", "1 2"),
            ("&#65;&#x42;&unknown; &amp", "AB&unknown; &amp"),
            ("   spaced \n\n  out   ", "spaced out"),
            ("unterminated <b class='x", "unterminated <b class='x"),
            ("<!DOCTYPE html><html><body>x</body></html>", "x"),
            (
                "emoji &#128512; and bad &#xD800;",
                "emoji \u{1f600} and bad \u{fffd}",
            ),
            ("1 <2 and 3> 2", "1 <2 and 3> 2"),
            ("", ""),
        ] {
            assert_eq!(html_to_text(html), text, "{html}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_plain_words_survive(s in "\\PC{0,200}", word in "[a-z]{1,12}") {
            let _ = html_to_text(&s);
            let wrapped = format!("<p><b>{word}</b></p>");
            prop_assert_eq!(html_to_text(&wrapped), word);
        }
    }
}
