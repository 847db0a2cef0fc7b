//! Parsing the path after `/api/data/v9.x/` into a [`Target`].

use percent_encoding::percent_decode_str;
use uuid::Uuid;

use crate::dataverse::error::ApiError;
use crate::dataverse::filter::{self, Lit};
use crate::dataverse::query::split_top_level;

use super::*;

fn parse_literal(text: &str) -> Option<Lit> {
    let expr = filter::parse(&format!("x eq {text}")).ok()?;
    match expr {
        filter::Expr::Cmp(_, _, filter::Operand::Lit(lit)) => Some(lit),
        _ => None,
    }
}

fn bad_key(segment: &str) -> ApiError {
    ApiError::odata(format!(
        "Bad Request - Error in query syntax. The key in segment '{segment}' is not valid."
    ))
}

/// Parses `(guid)`, `(pk=guid)` or `(k1='v',k2=2)`.
pub(super) fn parse_key(args: &str, segment: &str) -> Result<Key, ApiError> {
    let args = args.trim();
    if let Ok(id) = Uuid::parse_str(args) {
        return Ok(Key::Id(id));
    }
    let mut pairs = Vec::new();
    for part in split_top_level(args, ',') {
        let (name, value) = part.split_once('=').ok_or_else(|| bad_key(segment))?;
        let lit = parse_literal(value.trim()).ok_or_else(|| bad_key(segment))?;
        pairs.push((name.trim().to_owned(), lit));
    }
    if pairs.is_empty() {
        return Err(bad_key(segment));
    }
    Ok(Key::Alt(pairs))
}

/// Splits `name(args)` into its parts.
pub(super) fn split_segment(segment: &str) -> Result<(&str, Option<&str>), ApiError> {
    match segment.find('(') {
        None => Ok((segment, None)),
        Some(i) if segment.ends_with(')') => {
            Ok((&segment[..i], Some(&segment[i + 1..segment.len() - 1])))
        }
        Some(_) => Err(bad_key(segment)),
    }
}

pub(crate) fn parse_path(raw: &str) -> Result<Target, ApiError> {
    let segments: Vec<String> = raw
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let Some(first) = segments.first() else {
        return Err(ApiError::segment_not_found(""));
    };
    let (name, args) = split_segment(first)?;
    let rest: Vec<String> = segments[1..].to_vec();
    let named_string = |args: Option<&str>, param: &str| -> Result<Option<String>, ApiError> {
        let Some(args) = args else { return Ok(None) };
        match parse_key(args, first)? {
            Key::Alt(pairs) => match pairs.as_slice() {
                [(n, Lit::Str(v))] if n == param => Ok(Some(v.clone())),
                _ => Err(bad_key(first)),
            },
            // Metadata is also addressed by its `MetadataId`.
            Key::Id(id) => Ok(Some(id.to_string())),
        }
    };
    match name {
        "WhoAmI" if rest.is_empty() && matches!(args, None | Some("")) => Ok(Target::WhoAmI),
        "$batch" if rest.is_empty() && args.is_none() => Ok(Target::Batch),
        "GlobalOptionSetDefinitions" if rest.is_empty() => {
            Ok(Target::OptionSet(named_string(args, "Name")?))
        }
        "EntityDefinitions" => Ok(Target::EntityDefs(named_string(args, "LogicalName")?, rest)),
        _ => {
            let key = args.map(|a| parse_key(a, first)).transpose()?;
            Ok(Target::Set {
                set: name.to_owned(),
                key,
                rest,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(parse_path("WhoAmI").unwrap(), Target::WhoAmI);
        assert_eq!(parse_path("WhoAmI()").unwrap(), Target::WhoAmI);
        assert_eq!(parse_path("$batch").unwrap(), Target::Batch);
        assert_eq!(
            parse_path("GlobalOptionSetDefinitions(Name='botcomponent_componenttype')").unwrap(),
            Target::OptionSet(Some("botcomponent_componenttype".into()))
        );
        assert_eq!(
            parse_path("EntityDefinitions(LogicalName='bot')/Attributes").unwrap(),
            Target::EntityDefs(Some("bot".into()), vec!["Attributes".into()])
        );
        let id = Uuid::from_u128(7);
        assert_eq!(
            parse_path(&format!("bots({id})")).unwrap(),
            Target::Set {
                set: "bots".into(),
                key: Some(Key::Id(id)),
                rest: vec![]
            }
        );
        assert_eq!(
            parse_path("things(code='O''Neil%2C%20Ltd',n=2)").unwrap(),
            Target::Set {
                set: "things".into(),
                key: Some(Key::Alt(vec![
                    ("code".into(), Lit::Str("O'Neil, Ltd".into())),
                    ("n".into(), Lit::Int(2)),
                ])),
                rest: vec![]
            }
        );
        assert!(parse_path("bots(nonsense)").is_err());
        assert!(parse_path("bots(").is_err());
    }
}
