//! Value parsers shared by the settings: URLs, GUIDs, durations, counts, booleans, paths.
//!
//! None of them quotes the value it refuses: a secret pasted into the wrong variable must not
//! reach a log. They describe it by its length instead.

use super::{ConfigError, Key, Origin, describe};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;
use uuid::Uuid;

pub(super) fn invalid(
    origin: &Origin,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        origin: origin.clone(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

pub(super) fn missing(key: Key, fix: impl Into<String>) -> ConfigError {
    ConfigError::Missing {
        setting: describe(&key),
        fix: fix.into(),
    }
}

/// How a refused value is described: its length, never its text.
pub(super) fn shape(value: &str) -> String {
    format!(
        "the value ({} characters, not shown in case it is a secret)",
        value.chars().count()
    )
}

/// An http(s) URL: https, or plain http to a loopback host only; no credentials, query or
/// fragment.
pub(super) fn service_url(value: &str, origin: &Origin, example: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| {
        invalid(
            origin,
            format!("{} is not a URL ({e})", shape(value)),
            format!("give an absolute URL such as {example}"),
        )
    })?;
    // The one URL rule every client applies (client-core): https, or plain http to loopback.
    if client_core::check_url(&url).is_err() && url.host_str().is_some_and(|h| !h.is_empty()) {
        return Err(if url.scheme() == "http" {
            invalid(
                origin,
                "plain http to a host other than localhost would send credentials unencrypted",
                format!("use https (e.g. {example}); plain http is only allowed to localhost"),
            )
        } else {
            invalid(
                origin,
                "the URL's scheme is neither https nor http",
                format!("use an https URL such as {example}"),
            )
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(
            origin,
            "the URL has no host",
            format!("give a URL such as {example}"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            origin,
            "the URL contains credentials",
            "remove the user name and password from the URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            origin,
            "the URL has a query or fragment",
            format!("give only the scheme and host, e.g. {example}"),
        ));
    }
    Ok(url)
}

/// A [`service_url`] that must be a root (no path): an environment or an authority host.
pub(super) fn root_url(
    value: &str,
    origin: &Origin,
    example: &str,
    hint: &str,
) -> Result<Url, ConfigError> {
    let url = service_url(value, origin, example)?;
    if url.path() != "/" && !url.path().is_empty() {
        return Err(invalid(
            origin,
            format!(
                "the URL has a path ({} characters after the host)",
                url.path().chars().count()
            ),
            format!("give only the scheme and host, e.g. {example}{hint}"),
        ));
    }
    Ok(url)
}

/// Parses a duration such as `30m`, `5m`, `90s`, `2h`, `7d` or a number of seconds. The error
/// does not quote the text; a duration too large to represent is an error, not a wrap-around.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err("not a duration (use e.g. 90s, 5m, 2h, 7d)".into());
    }
    let n: u64 = num
        .parse()
        .map_err(|_| "the number is too large for a duration".to_owned())?;
    let unit_secs: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("unknown unit (use s, m, h or d, e.g. 90s, 5m, 2h, 7d)".into()),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| "the number is too large for a duration".to_owned())
}

/// `d` written with the largest unit that divides it: `7d`, `30m`, `90s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// A duration within `range`, e.g. an overlap of at most 7 days.
pub(super) fn bounded_duration(
    value: &str,
    origin: &Origin,
    range: RangeInclusive<Duration>,
    example: &str,
) -> Result<Duration, ConfigError> {
    let limits = format!(
        "use a duration from {} to {}, such as {example}",
        format_duration(*range.start()),
        format_duration(*range.end())
    );
    let d = parse_duration(value).map_err(|e| invalid(origin, e, limits.clone()))?;
    if !range.contains(&d) {
        return Err(invalid(
            origin,
            format!("{} is out of range", format_duration(d)),
            limits,
        ));
    }
    Ok(d)
}

/// A whole number within `range`.
pub(super) fn count(
    value: &str,
    origin: &Origin,
    what: &str,
    range: RangeInclusive<u64>,
    fix_note: &str,
) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        Ok(_) => Err(invalid(
            origin,
            format!("the {what} is out of range"),
            format!(
                "use a number from {} to {}{fix_note}",
                range.start(),
                range.end()
            ),
        )),
        Err(_) => Err(invalid(
            origin,
            format!("{} is not a {what}", shape(value)),
            format!(
                "use a number from {} to {}{fix_note}",
                range.start(),
                range.end()
            ),
        )),
    }
}

pub(super) fn guid(value: &str, origin: &Origin, what: &str) -> Result<Uuid, ConfigError> {
    Uuid::parse_str(value.trim()).map_err(|_| {
        invalid(
            origin,
            format!("{} is not a GUID", shape(value)),
            format!(
                "copy the {what} from the Azure portal (a GUID like 00000000-0000-0000-0000-000000000000)"
            ),
        )
    })
}

pub(super) fn boolean(value: &str, origin: &Origin) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            origin,
            format!("{} is not a boolean", shape(value)),
            "use true or false",
        )),
    }
}

/// A file path; an empty one is refused (it would silently mean "no file" to SQLite or "the
/// working directory" to the file system).
pub(super) fn path(value: &str, origin: &Origin, what: &str) -> Result<PathBuf, ConfigError> {
    if value.trim().is_empty() {
        return Err(invalid(
            origin,
            "the path is empty",
            format!("give the {what}'s path, or leave the setting out for the default"),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(
            origin,
            "the path contains a NUL character",
            format!("give the {what}'s path"),
        ));
    }
    Ok(PathBuf::from(value))
}

/// A short printable token (an id written into records): ASCII letters, digits and `-_.`.
pub(super) fn token(
    value: &str,
    origin: &Origin,
    what: &str,
    max_len: usize,
    extra: &[char],
) -> Result<String, ConfigError> {
    let v = value.trim();
    let ok = !v.is_empty()
        && v.len() <= max_len
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(&c));
    if ok {
        Ok(v.to_owned())
    } else {
        Err(invalid(
            origin,
            format!("{} is not a valid {what}", shape(value)),
            format!("use at most {max_len} ASCII letters, digits, `-`, `_` or `.` for the {what}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_overflow_is_an_error() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("999999999999999999d").is_err());
        let e = parse_duration("12x").unwrap_err();
        assert!(!e.contains("12x"), "{e}");
    }

    #[test]
    fn durations_format_with_the_largest_unit() {
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
