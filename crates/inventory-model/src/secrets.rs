//! Secret-looking strings in component YAML, instructions and configuration JSON.
//!
//! The patterns are deliberately specific (a key name with a long value, a known
//! token prefix, a private-key block) so that ordinary prose and Power Fx do not
//! match. The matched value is never reported, only where it is.

/// What kind of secret a match looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKind {
    PrivateKey,
    BearerToken,
    BasicCredentials,
    ConnectionString,
    ApiKey,
    Jwt,
    KnownTokenPrefix,
    Password,
}

impl SecretKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "private key block",
            SecretKind::BearerToken => "bearer token",
            SecretKind::BasicCredentials => "basic credentials",
            SecretKind::ConnectionString => "connection string with a key",
            SecretKind::ApiKey => "API key or client secret",
            SecretKind::Jwt => "JSON Web Token",
            SecretKind::KnownTokenPrefix => "token with a known prefix",
            SecretKind::Password => "password",
        }
    }
}

fn token_len(s: &str) -> usize {
    s.chars()
        .take_while(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '/' | '=' | '~')
        })
        .count()
}

/// Byte offsets, in order, at which `needle` (lower-case ASCII) starts in `line`, ASCII case
/// ignored: the offsets a search of the lowercased line would give (lowercasing ASCII keeps
/// offsets), without lowercasing a copy of every line or building a substring searcher per
/// needle, which was most of `scan_line`'s time on real topics. No needle matched this way
/// overlaps itself, so these are also the non-overlapping matches `match_indices` gives.
fn find_all<'a>(line: &'a str, needle: &'static str) -> impl Iterator<Item = usize> + 'a {
    find_bytes(line.as_bytes(), needle.as_bytes(), true)
}

/// Byte offsets, in order, at which `needle` starts in `hay` (ASCII case ignored when
/// `fold`). Overlapping matches are all returned.
fn find_bytes<'a>(
    hay: &'a [u8],
    needle: &'static [u8],
    fold: bool,
) -> impl Iterator<Item = usize> + 'a {
    let first = needle.first().copied().unwrap_or(0);
    let last_start = (hay.len() + 1).saturating_sub(needle.len());
    (0..last_start).filter(move |&at| {
        let b = hay[at];
        let window = &hay[at..at + needle.len()];
        if fold {
            b.to_ascii_lowercase() == first && window.eq_ignore_ascii_case(needle)
        } else {
            b == first && window == needle
        }
    })
}

/// Whether `hay` contains `needle` (exact bytes).
fn contains(hay: &str, needle: &'static str) -> bool {
    find_bytes(hay.as_bytes(), needle.as_bytes(), false)
        .next()
        .is_some()
}

/// The value after `key` and an `=` or `:` (with optional quotes and spaces).
fn value_after(text: &str, at: usize, key_len: usize) -> Option<&str> {
    let rest = text.get(at + key_len..)?;
    let rest = rest.trim_start_matches(['"', '\'', ' ']);
    let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':'))?;
    Some(rest.trim_start_matches([' ', '"', '\'']))
}

/// Finds secret-looking strings in one line of text.
pub(crate) fn scan_line(line: &str) -> Option<SecretKind> {
    // The shortest match is a key, a separator and eight characters.
    if line.len() < 12 {
        return None;
    }
    let lower_find = |needle: &'static str| find_all(line, needle);
    if contains(line, "-----BEGIN") && contains(line, "PRIVATE KEY") {
        return Some(SecretKind::PrivateKey);
    }
    for at in lower_find("bearer ") {
        if token_len(&line[at + 7..]) >= 20 {
            return Some(SecretKind::BearerToken);
        }
    }
    for at in lower_find("basic ") {
        let token = &line[at + 6..];
        let n = token_len(token);
        if n >= 16
            && token[..n]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        {
            return Some(SecretKind::BasicCredentials);
        }
    }
    for key in [
        "accountkey",
        "sharedaccesskey",
        "sharedaccesssignature",
        "sig",
    ] {
        for at in lower_find(key) {
            let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
            if before_ok && value_after(line, at, key.len()).is_some_and(|v| token_len(v) >= 16) {
                return Some(SecretKind::ConnectionString);
            }
        }
    }
    for key in [
        "client_secret",
        "clientsecret",
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "subscription-key",
        "access_token",
    ] {
        for at in lower_find(key) {
            if value_after(line, at, key.len())
                .is_some_and(|v| token_len(v) >= 16 && !v.starts_with('='))
            {
                return Some(SecretKind::ApiKey);
            }
        }
    }
    for key in ["password", "pwd"] {
        for at in lower_find(key) {
            let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphabetic();
            if before_ok
                && value_after(line, at, key.len()).is_some_and(|v| {
                    let n = token_len(v);
                    // A Power Fx reference (`=Topic.Password`) or a placeholder is not a secret.
                    n >= 8 && !v.starts_with('=') && !v.starts_with('{') && !v.starts_with('<')
                })
            {
                return Some(SecretKind::Password);
            }
        }
    }
    if let Some(at) = find_bytes(line.as_bytes(), b"eyJ", false).next() {
        let token = &line[at..];
        let n = token_len(token);
        if n >= 40 && token[..n].matches('.').count() >= 2 {
            return Some(SecretKind::Jwt);
        }
    }
    for prefix in [
        "AKIA",
        "ghp_",
        "gho_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "sk-",
        "AIza",
    ] {
        // `AKIA` is the one prefix that can overlap itself; an overlapping match has an
        // alphanumeric byte before it, so it is rejected below as `match_indices` skips it.
        for at in find_bytes(line.as_bytes(), prefix.as_bytes(), false) {
            let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
            if before_ok && token_len(&line[at..]) >= prefix.len() + 16 {
                return Some(SecretKind::KnownTokenPrefix);
            }
        }
    }
    None
}

/// At most this many secrets are located per document (each is walked back to its
/// path); the rest are counted, so a hostile document cannot make the scan quadratic.
pub(crate) const MAX_LOCATED: usize = 20;

/// Every pattern [`scan_line`] starts from, lowercased: a line holding none of them
/// cannot match, so a document is searched once per pattern instead of line by line.
const TRIGGERS: [&str; 24] = [
    "-----begin",
    "bearer ",
    "basic ",
    "accountkey",
    "sharedaccess",
    "sig",
    "client_secret",
    "clientsecret",
    "api_key",
    "apikey",
    "api-key",
    "subscription-key",
    "access_token",
    "password",
    "pwd",
    "eyj",
    "akia",
    "ghp_",
    "gho_",
    "github_pat_",
    "xoxb-",
    "xoxp-",
    "sk-",
    "aiza",
];

/// For each byte (in any ASCII case) and each of the first three positions, the set of
/// triggers (bit `i` for `TRIGGERS[i]`) that have that byte there. A text position can start
/// only the triggers in the intersection of its three bytes' sets, which is empty for almost
/// every position; the few candidates left are compared whole. (A 65,536-bit pair set let
/// through every common pair such as `pa`, `ba`, `ac` or `si`, each then compared with all
/// 24 triggers.)
const TRIGGER_SETS: [[u32; 256]; 3] = {
    assert!(TRIGGERS.len() <= 32, "one bit per trigger in a u32");
    let mut table = [[0u32; 256]; 3];
    let mut i = 0;
    while i < TRIGGERS.len() {
        let t = TRIGGERS[i].as_bytes();
        let mut position = 0;
        while position < 3 {
            let byte = t[position];
            table[position][byte as usize] |= 1 << i;
            table[position][byte.to_ascii_uppercase() as usize] |= 1 << i;
            position += 1;
        }
        i += 1;
    }
    table
};

/// The byte offsets, in order, at which some trigger starts (ASCII case ignored).
fn trigger_offsets(text: &str) -> TriggerOffsets<'_> {
    TriggerOffsets {
        bytes: text.as_bytes(),
        at: 0,
    }
}

/// [`trigger_offsets`]' iterator. A loop of its own rather than a `filter` closure: the
/// closure was called (not inlined) once per byte of every component, the largest single
/// item of the mapping's profile.
struct TriggerOffsets<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Iterator for TriggerOffsets<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let bytes = self.bytes;
        let [first, second, third] = &TRIGGER_SETS;
        // Every trigger has at least three bytes.
        while self.at + 2 < bytes.len() {
            let at = self.at;
            self.at += 1;
            let mut candidates = first[usize::from(bytes[at])];
            if candidates == 0 {
                continue;
            }
            candidates &= second[usize::from(bytes[at + 1])] & third[usize::from(bytes[at + 2])];
            while candidates != 0 {
                let t = TRIGGERS[candidates.trailing_zeros() as usize].as_bytes();
                candidates &= candidates - 1;
                if bytes.len() - at >= t.len() && bytes[at..at + t.len()].eq_ignore_ascii_case(t) {
                    return Some(at);
                }
            }
        }
        None
    }
}

/// Secrets found in a YAML text: the located ones (1-based line, the path of the
/// key on that line from indentation, list items as `-`, and what it looks like)
/// and how many more were found without being located.
pub(crate) fn scan_yaml(text: &str) -> (Vec<(usize, String, SecretKind)>, usize) {
    let offsets: Vec<usize> = trigger_offsets(text).collect();
    if offsets.is_empty() {
        return (Vec::new(), 0);
    }
    // Line starts, to find the line of an occurrence by binary search (a long line
    // with many occurrences must not be walked back once per occurrence).
    let breaks: Vec<usize> = text.match_indices('\n').map(|(at, _)| at).collect();
    let line_start = |at: usize| match breaks.partition_point(|&b| b < at) {
        0 => 0,
        i => breaks[i - 1] + 1,
    };
    let mut starts: Vec<usize> = offsets.into_iter().map(line_start).collect();
    // Offsets come in order, so equal line starts are adjacent.
    starts.dedup();
    let mut out = Vec::new();
    let mut more = 0;
    let mut lines: Option<Vec<&str>> = None;
    for start in starts {
        let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
        let Some(kind) = scan_line(&text[start..end]) else {
            continue;
        };
        if out.len() >= MAX_LOCATED {
            more += 1;
            continue;
        }
        let index = breaks.partition_point(|&b| b < start);
        let lines = lines.get_or_insert_with(|| text.lines().collect());
        out.push((index + 1, yaml_path(lines, index), kind));
    }
    (out, more)
}

/// The key of a `key: value` or `- key: value` line: (indent of the key, whether
/// the line starts a list item, the key).
fn key_of(line: &str) -> Option<(usize, bool, String)> {
    let mut indent = line.len() - line.trim_start().len();
    let mut body = line.trim_start();
    let mut item = false;
    if let Some(rest) = body.strip_prefix("- ") {
        item = true;
        indent += 2 + (rest.len() - rest.trim_start().len());
        body = rest.trim_start();
    }
    let colon = body
        .find(": ")
        .or_else(|| body.strip_suffix(':').map(str::len))?;
    let key = body[..colon].trim().trim_matches(['"', '\'']);
    if key.is_empty() || key.starts_with('=') {
        return None;
    }
    Some((indent, item, key.to_owned()))
}

fn raw_indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The path of the value on `lines[index]`, from indentation (block YAML only;
/// flow mappings and multi-line scalars give the path of their key).
fn yaml_path(lines: &[&str], index: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let line = lines[index];
    if let Some((_, item, key)) = key_of(line) {
        parts.push(key);
        if item {
            parts.push("-".to_owned());
        }
    }
    let mut limit = raw_indent(line);
    // The key column of the line's own mapping: a `- key:` line above at this
    // column is a sibling in the same list item, so the ancestor is the item.
    let mut key_column = key_of(line).map(|(k, _, _)| k).unwrap_or(limit);
    for previous in lines[..index].iter().rev() {
        let trimmed = previous.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let raw = raw_indent(previous);
        if raw >= limit {
            continue;
        }
        match key_of(previous) {
            Some((k, true, _)) if k == key_column => parts.push("-".to_owned()),
            Some((_, item, key)) => {
                parts.push(key);
                if item {
                    parts.push("-".to_owned());
                }
            }
            None if trimmed.starts_with('-') => parts.push("-".to_owned()),
            None => {}
        }
        limit = raw;
        key_column = raw;
        if limit == 0 {
            break;
        }
    }
    parts.reverse();
    let mut path = String::new();
    for p in parts {
        path.push('/');
        path.push_str(&p.replace('~', "~0").replace('/', "~1"));
    }
    path
}

/// Secrets in the string values of a JSON document, with their JSON Pointers.
pub(crate) fn scan_json(
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<(String, SecretKind)>,
) {
    match value {
        serde_json::Value::String(s) => {
            if let Some(kind) = s.lines().find_map(scan_line) {
                out.push((path.to_owned(), kind));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                scan_json(v, &format!("{path}/{i}"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = k.replace('~', "~0").replace('/', "~1");
                // A key that names a secret with a long string value is one too.
                if let serde_json::Value::String(s) = v
                    && scan_line(&format!("{k}: {s}")).is_some()
                    && scan_line(s).is_none()
                {
                    if let Some(kind) = scan_line(&format!("{k}: {s}")) {
                        out.push((format!("{path}/{key}"), kind));
                    }
                    continue;
                }
                scan_json(v, &format!("{path}/{key}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What `trigger_offsets` must find: every start of every trigger, searched one by one.
    fn offsets_one_trigger_at_a_time(text: &str) -> Vec<usize> {
        let lower = text.to_ascii_lowercase().into_bytes();
        let mut at: Vec<usize> = Vec::new();
        for t in TRIGGERS {
            at.extend((0..lower.len()).filter(|&i| lower[i..].starts_with(t.as_bytes())));
        }
        at.sort_unstable();
        at.dedup();
        at
    }

    /// `scan_line` as it was before it searched without a lowercased copy and substring
    /// searchers (session 5, `1357bfd`): the reference the fast one must agree with.
    fn scan_line_reference(line: &str) -> Option<SecretKind> {
        // The shortest match is a key, a separator and eight characters.
        if line.len() < 12 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        let lower_find = |needle: &'static str| lower.match_indices(needle).map(|(i, _)| i);
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") {
            return Some(SecretKind::PrivateKey);
        }
        for at in lower_find("bearer ") {
            if token_len(&line[at + 7..]) >= 20 {
                return Some(SecretKind::BearerToken);
            }
        }
        for at in lower_find("basic ") {
            let token = &line[at + 6..];
            let n = token_len(token);
            if n >= 16
                && token[..n]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            {
                return Some(SecretKind::BasicCredentials);
            }
        }
        for key in [
            "accountkey",
            "sharedaccesskey",
            "sharedaccesssignature",
            "sig",
        ] {
            for at in lower_find(key) {
                let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
                if before_ok && value_after(line, at, key.len()).is_some_and(|v| token_len(v) >= 16)
                {
                    return Some(SecretKind::ConnectionString);
                }
            }
        }
        for key in [
            "client_secret",
            "clientsecret",
            "api_key",
            "apikey",
            "api-key",
            "x-api-key",
            "subscription-key",
            "access_token",
        ] {
            for at in lower_find(key) {
                if value_after(line, at, key.len())
                    .is_some_and(|v| token_len(v) >= 16 && !v.starts_with('='))
                {
                    return Some(SecretKind::ApiKey);
                }
            }
        }
        for key in ["password", "pwd"] {
            for at in lower_find(key) {
                let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphabetic();
                if before_ok
                    && value_after(line, at, key.len()).is_some_and(|v| {
                        let n = token_len(v);
                        // A Power Fx reference (`=Topic.Password`) or a placeholder is not a secret.
                        n >= 8 && !v.starts_with('=') && !v.starts_with('{') && !v.starts_with('<')
                    })
                {
                    return Some(SecretKind::Password);
                }
            }
        }
        if let Some(at) = line.find("eyJ") {
            let token = &line[at..];
            let n = token_len(token);
            if n >= 40 && token[..n].matches('.').count() >= 2 {
                return Some(SecretKind::Jwt);
            }
        }
        for prefix in [
            "AKIA",
            "ghp_",
            "gho_",
            "github_pat_",
            "xoxb-",
            "xoxp-",
            "sk-",
            "AIza",
        ] {
            for (at, _) in line.match_indices(prefix) {
                let before_ok = at == 0 || !line.as_bytes()[at - 1].is_ascii_alphanumeric();
                if before_ok && token_len(&line[at..]) >= prefix.len() + 16 {
                    return Some(SecretKind::KnownTokenPrefix);
                }
            }
        }
        None
    }

    /// Pieces lines are built from: every needle `scan_line` looks for, in both cases, with
    /// the separators, quotes, prefixes and token characters its rules look at.
    fn line_parts() -> impl Strategy<Value = String> {
        let needles: Vec<&'static str> = vec![
            "-----BEGIN",
            "PRIVATE KEY",
            "bearer ",
            "basic ",
            "accountkey",
            "sharedaccesskey",
            "sharedaccesssignature",
            "sig",
            "client_secret",
            "clientsecret",
            "api_key",
            "apikey",
            "api-key",
            "x-api-key",
            "subscription-key",
            "access_token",
            "password",
            "pwd",
            "eyJ",
            "AKIA",
            "AKIAKIA",
            "ghp_",
            "gho_",
            "github_pat_",
            "xoxb-",
            "xoxp-",
            "sk-",
            "AIza",
        ];
        prop_oneof![
            proptest::sample::select(needles.clone()).prop_map(str::to_owned),
            proptest::sample::select(needles).prop_map(|t| t.to_ascii_uppercase()),
            proptest::sample::select(vec!["=", ":", " ", "\"", "'", "=", ".", "{", "<", ";"])
                .prop_map(str::to_owned),
            "[a-zA-Z0-9+/=_.~-]{0,24}",
            "[a-z éü日]{0,6}",
        ]
    }

    proptest! {
        #[test]
        fn scan_line_agrees_with_the_reference(
            parts in proptest::collection::vec(line_parts(), 0..10)
        ) {
            let line: String = parts.concat();
            prop_assert_eq!(scan_line(&line), scan_line_reference(&line), "{:?}", line);
        }
    }

    /// Every line of the real component, configuration and settings samples (and each
    /// line with a secret-looking tail appended) gets the same answer as from the reference.
    #[test]
    fn scan_line_agrees_with_the_reference_on_real_samples() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/botcomponents");
        let mut lines = 0;
        let mut secrets = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                for variant in [
                    line.to_owned(),
                    format!("{line} password: Hunter2Hunter2"),
                    format!("{line}AKIAABCDEFGHIJKLMNOP sk-abcdefghijklmnopqrstu"),
                ] {
                    let got = scan_line(&variant);
                    assert_eq!(got, scan_line_reference(&variant), "{variant}");
                    lines += 1;
                    secrets += usize::from(got.is_some());
                }
            }
        }
        assert!(lines > 1_000, "{lines} lines");
        assert!(secrets > lines / 3, "{secrets} of {lines}");
    }

    proptest! {
        #[test]
        fn one_pass_finds_what_a_search_per_trigger_finds(
            parts in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(TRIGGERS.to_vec()).prop_map(str::to_owned),
                    proptest::sample::select(TRIGGERS.to_vec()).prop_map(|t| t.to_ascii_uppercase()),
                    "[a-zA-Z0-9 :\\n\\-_éü日]{0,12}",
                ],
                0..12,
            )
        ) {
            let text: String = parts.concat();
            prop_assert_eq!(trigger_offsets(&text).collect::<Vec<_>>(), offsets_one_trigger_at_a_time(&text));
        }
    }

    #[test]
    fn triggers_are_found_in_any_case_and_next_to_each_other() {
        let text = "x: PASSWORD=sk-1\npwdPwD\n日本 Bearer ";
        assert_eq!(
            trigger_offsets(text).collect::<Vec<_>>(),
            offsets_one_trigger_at_a_time(text)
        );
        assert_eq!(trigger_offsets(text).count(), 5);
    }

    #[test]
    fn secret_shapes_are_found_and_prose_is_not() {
        let found = [
            ("-----BEGIN RSA PRIVATE KEY-----", SecretKind::PrivateKey),
            (
                "Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345",
                SecretKind::BearerToken,
            ),
            (
                "header: Basic dXNlcjpwYXNzd29yZDEyMzQ1",
                SecretKind::BasicCredentials,
            ),
            (
                "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abcdefghijklmnop1234==",
                SecretKind::ConnectionString,
            ),
            (
                "client_secret: 8Q~abcdefghijklmnopqrstu",
                SecretKind::ApiKey,
            ),
            (
                "value: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                SecretKind::KnownTokenPrefix,
            ),
            ("password: Hunter2Hunter2", SecretKind::Password),
            (
                "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop",
                SecretKind::Jwt,
            ),
        ];
        for (line, kind) in found {
            assert_eq!(scan_line(line), Some(kind), "{line}");
        }
        for line in [
            "Please enter your password to continue.",
            "password: =Topic.UserPassword",
            "kind: SendActivity",
            "activity: Basic info about the account",
            "the bearer of bad news",
            "url: https://contoso.com/api?sig=",
        ] {
            assert_eq!(scan_line(line), None, "{line}");
        }
    }

    #[test]
    fn yaml_paths_follow_indentation() {
        let text = "kind: TaskDialog\naction:\n  kind: HttpRequestAction\n  headers:\n    Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345\n";
        let (found, more) = scan_yaml(text);
        assert_eq!((found.len(), more), (1, 0));
        assert_eq!(found[0].0, 5);
        assert_eq!(found[0].1, "/action/headers/Authorization");
        let list = "inputs:\n  - kind: ManualTaskInput\n    value: password=SuperSecret123\n";
        let (found, _) = scan_yaml(list);
        assert_eq!(found[0].1, "/inputs/-/value");
        let many = "a: Bearer abcdefghijklmnopqrstuvwxyz0123456789\n".repeat(50);
        let (found, more) = scan_yaml(&many);
        assert_eq!((found.len(), more), (MAX_LOCATED, 50 - MAX_LOCATED));
        assert_eq!(found[3].0, 4);
        // One long line with a trigger many times over is one line to check.
        let long = format!("x: {}\nz: 1\n", "sig ".repeat(200_000));
        let (found, more) = scan_yaml(&long);
        assert_eq!((found.len(), more), (0, 0));
        let crlf = "a: 1\r\nb:\r\n  password: Hunter2Hunter2\r\n";
        let (found, _) = scan_yaml(crlf);
        assert_eq!((found[0].0, found[0].1.as_str()), (3, "/b/password"));
    }

    #[test]
    fn json_pointers_name_the_value() {
        let v: serde_json::Value = serde_json::json!({"settings": {"apiKey": "abcdefghijklmnopqrstuvwx"}, "list": ["Bearer abcdefghijklmnopqrstuvwxyz"]});
        let mut out = Vec::new();
        scan_json(&v, "", &mut out);
        let paths: Vec<&str> = out.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["/list/0", "/settings/apiKey"]);
    }
}
