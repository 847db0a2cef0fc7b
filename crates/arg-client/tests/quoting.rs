//! Property: no string value changes a query's structure, in the clause builder's JSON or in
//! the KQL text. Checked with an independent KQL tokenizer (written from the KQL string
//! literal rules): the tokens outside literals are the same whatever the value, and each
//! literal decodes back to the value.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use arg_client::kql::{Expr, FieldPath, Function, Operator, string_literal};
use arg_client::{GraphQuery, ResourceQuery, SortOrder};
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Other(String),
}

/// Tokenizes KQL text; `Err` for an unterminated literal or a raw line break inside one.
fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' {
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let quote = c;
            let mut value = String::new();
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(format!("unterminated literal in {s:?}"));
                };
                i += 1;
                match d {
                    d if d == quote => break,
                    '\n' | '\r' => return Err(format!("raw line break in a literal in {s:?}")),
                    '\\' => {
                        let Some(&e) = chars.get(i) else {
                            return Err("dangling escape".into());
                        };
                        i += 1;
                        match e {
                            '\\' => value.push('\\'),
                            '\'' => value.push('\''),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let hex: String =
                                    chars.get(i..i + 4).ok_or("short \\u")?.iter().collect();
                                i += 4;
                                let n = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                                value.push(char::from_u32(n).ok_or("bad \\u")?);
                            }
                            other => return Err(format!("unknown escape \\{other}")),
                        }
                    }
                    d => value.push(d),
                }
            }
            out.push(Tok::Str(value));
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Other(chars[start..i].iter().collect()));
            continue;
        }
        out.push(Tok::Other(c.to_string()));
        i += 1;
    }
    Ok(out)
}

/// The tokens with every literal replaced by a marker, and the literals.
fn split(tokens: Vec<Tok>) -> (Vec<String>, Vec<String>) {
    let mut shape = Vec::new();
    let mut literals = Vec::new();
    for t in tokens {
        match t {
            Tok::Str(s) => {
                shape.push("<literal>".to_owned());
                literals.push(s);
            }
            Tok::Other(o) => shape.push(o),
        }
    }
    (shape, literals)
}

fn query_with(v: &str) -> ResourceQuery {
    ResourceQuery::agents()
        .where_eq("properties.displayName", v)
        .where_in("name", Operator::InIgnoreCase, [v, "fixed"])
        .where_op("properties.schemaName", Operator::StartsWith, v)
        .extend(
            "k",
            Expr::call(
                Function::Strcat,
                [Expr::field("name").unwrap(), Expr::literal(v)],
            ),
        )
        .project_as([(
            "n",
            Expr::Field(FieldPath::parse("properties").unwrap().key(v)),
        )])
        .order_by("n", SortOrder::Desc)
        .take(5)
}

fn values() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\\\'\"|;/\\n\\r\\t\\x00-\\x1f\\x7f a-zé🙂\u{2028}\u{85}-]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_literal_is_one_token_that_decodes_to_the_value(v in values()) {
        let text = string_literal(&v);
        let tokens = tokenize(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(tokens, vec![Tok::Str(v)]);
    }

    #[test]
    fn kql_text_keeps_its_structure(v in values()) {
        let reference = split(tokenize(&query_with("placeholder").to_kql().unwrap()).unwrap());
        let kql = query_with(&v).to_kql().unwrap();
        let (shape, literals) = split(tokenize(&kql).map_err(TestCaseError::fail)?);
        prop_assert_eq!(&shape, &reference.0);
        // Literal order: type, displayName, the two in~ values, schemaName, strcat arg, key.
        prop_assert_eq!(literals.len(), 7);
        for i in [1, 2, 4, 5, 6] {
            prop_assert_eq!(&literals[i], &v);
        }
        prop_assert_eq!(&literals[3], "fixed");
        // And Resource Graph gets exactly that text.
        let graph = GraphQuery::from_resource_query(&query_with(&v)).unwrap();
        prop_assert_eq!(graph.query(), kql.as_str());
    }

    #[test]
    fn clause_json_keeps_its_structure(v in values()) {
        let reference = query_with("placeholder").clauses_json().unwrap();
        let json = query_with(&v).clauses_json().unwrap();
        // Same clauses, same keys: only the literal texts differ.
        prop_assert_eq!(json.as_array().unwrap().len(), reference.as_array().unwrap().len());
        for (a, b) in json.as_array().unwrap().iter().zip(reference.as_array().unwrap()) {
            prop_assert_eq!(&a["$type"], &b["$type"]);
            let mut ka: Vec<_> = a.as_object().unwrap().keys().collect();
            let mut kb: Vec<_> = b.as_object().unwrap().keys().collect();
            ka.sort();
            kb.sort();
            prop_assert_eq!(ka, kb);
        }
        let clauses = json.as_array().unwrap();
        // Each where value is one literal decoding to the value; field names are untouched.
        for (i, field) in [(1, "properties.displayName"), (2, "name"), (3, "properties.schemaName")] {
            prop_assert_eq!(clauses[i]["FieldName"].as_str().unwrap(), field);
            for value in clauses[i]["Values"].as_array().unwrap() {
                let toks = tokenize(value.as_str().unwrap()).map_err(TestCaseError::fail)?;
                prop_assert_eq!(toks.len(), 1);
                prop_assert!(matches!(&toks[0], Tok::Str(_)));
            }
        }
        prop_assert_eq!(
            tokenize(clauses[1]["Values"][0].as_str().unwrap()).unwrap(),
            vec![Tok::Str(v.clone())]
        );
        // Expressions and projections keep their shape too.
        let shape = |s: &str| split(tokenize(s).unwrap()).0;
        let ref_clauses = reference.as_array().unwrap();
        prop_assert_eq!(
            shape(clauses[4]["Expression"].as_str().unwrap()),
            shape(ref_clauses[4]["Expression"].as_str().unwrap())
        );
        prop_assert_eq!(
            shape(clauses[5]["FieldList"][0].as_str().unwrap()),
            shape(ref_clauses[5]["FieldList"][0].as_str().unwrap())
        );
    }

    #[test]
    fn names_that_are_not_identifiers_are_refused(v in values()) {
        let valid = arg_client::kql::is_identifier(&v);
        let q = ResourceQuery::inventory().summarize_count(&v, ["type"]);
        prop_assert_eq!(q.to_kql().is_ok(), valid);
        let dotted_ok = !v.is_empty() && v.split('.').all(arg_client::kql::is_identifier);
        let q = ResourceQuery::inventory().project([v.as_str()]);
        prop_assert_eq!(q.to_kql().is_ok(), dotted_ok);
    }
}

#[test]
fn the_tokenizer_can_fail() {
    // The property above would be vacuous if the tokenizer accepted broken text.
    assert!(tokenize("'abc").is_err());
    assert!(tokenize("'a\nb'").is_err());
    assert_eq!(
        split(tokenize("T | where a == 'x\\' | take 1 //'").unwrap()).1,
        ["x' | take 1 //"]
    );
    // A naive quoting (no escaping) would change the structure.
    let naive = format!(
        "T | where a == '{}'",
        "x' or 1 == 1 | take 9 | where b == '"
    );
    assert_ne!(
        split(tokenize(&naive).unwrap()).0,
        split(tokenize("T | where a == 'p'").unwrap()).0
    );
}
