//! Real rows bend: each oddity below is tolerated, its pairs are kept and the oddity is
//! reported as a warning; only a `content` that cannot be read fails its row. Every case is
//! run through both the model path and the page path, which must agree.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use time::macros::datetime;
use transcript_model::{
    AktoConfig, PairOptions, RowErrorKind, RowRecords, RowWarning, Transcript, sanitize_bot_name,
};

const START: &str = "2026-03-01T10:00:00Z";
const START_UNIX: i64 = 1_772_359_200;

fn good_activities() -> Value {
    json!([
        {"type": "message", "id": "g", "timestamp": START_UNIX + 1, "from": {"role": 0}, "text": "Hello"},
        {"type": "message", "id": "q", "timestamp": START_UNIX + 2, "from": {"role": 1}, "text": "Where is my payslip?"},
        {"type": "message", "id": "a", "timestamp": START_UNIX + 3, "from": {"role": 0}, "text": "In the HR portal."}
    ])
}

fn base_row(activities: &Value) -> Value {
    json!({
        "conversationtranscriptid": "r-1",
        "name": "conv-1_bot-1",
        "metadata": r#"{"BotId":"bot-1","BotName":"cr_hr","BatchId":1}"#,
        "conversationstarttime": START,
        "createdon": "2026-03-01T10:40:00Z",
        "modifiedon": "2026-03-01T10:40:00Z",
        "content": json!({"activities": activities}).to_string(),
    })
}

/// Records and warnings of one row by both paths (asserting they agree), with `now`.
type Shape = Vec<(String, String, String)>;

fn run(row: &Value) -> Result<(Shape, Vec<RowWarning>), String> {
    let options = PairOptions::new().now(datetime!(2026-03-02 00:00 UTC));
    let config = AktoConfig::new("1", "0", "env").with_pair_options(options);
    let text = row.to_string();
    let mut fast: Vec<Result<RowRecords, _>> = Vec::new();
    config
        .for_each_row_output(format!("[{text}]").as_bytes(), |r| fast.push(r))
        .unwrap();
    let fast = fast.remove(0);
    let slow = Transcript::from_json_slice(text.as_bytes());
    let (records, warnings) = match (fast, slow) {
        (Ok(f), Ok(t)) => {
            let paired = t.pair_with(&options);
            assert_eq!(f.records, config.records(&paired), "paths disagree");
            assert_eq!(f.warnings, paired.warnings, "paths warn differently");
            (f.records, f.warnings)
        }
        (Err(f), Err(s)) => {
            assert_eq!(f.kind().to_string(), s.kind().to_string());
            assert!(
                matches!(
                    s.kind(),
                    RowErrorKind::InvalidContent { .. }
                        | RowErrorKind::WrongColumnType {
                            column: "content",
                            ..
                        }
                        | RowErrorKind::MissingColumn { column: "content" }
                ),
                "{s}"
            );
            return Err(s.to_string());
        }
        (f, s) => panic!("paths disagree: {f:?} / {s:?}"),
    };
    let shape = records
        .iter()
        .map(|r| {
            let text = |p: &str| {
                serde_json::from_str::<Value>(p).unwrap()["message"]
                    .as_str()
                    .unwrap_or("-")
                    .to_owned()
            };
            (
                text(&r.request_payload),
                text(&r.response_payload),
                r.time.clone(),
            )
        })
        .collect();
    Ok((shape, warnings))
}

fn good_shape() -> Shape {
    let t = |d: i64| (START_UNIX + d).to_string();
    vec![
        ("-".into(), "Hello".into(), t(1)),
        (
            "Where is my payslip?".into(),
            "In the HR portal.".into(),
            t(2),
        ),
    ]
}

fn codes(w: &[RowWarning]) -> Vec<&'static str> {
    w.iter().map(RowWarning::code).collect()
}

#[test]
fn a_clean_row_has_no_warning() {
    let (shape, warnings) = run(&base_row(&good_activities())).unwrap();
    assert_eq!(shape, good_shape());
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn metadata_missing_malformed_or_typed_differently_is_a_warning_not_a_lost_row() {
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (Value::Null, vec!["metadata_unreadable"]),
        (json!("{not json"), vec!["metadata_unreadable"]),
        (json!("[1,2]"), vec!["metadata_unreadable"]),
        (json!(""), vec!["metadata_unreadable"]),
        (json!({"BotId": "b"}), vec!["column_type"]),
        (
            json!(r#"{"BotId":5,"BotName":["x"],"BatchId":true}"#),
            vec!["metadata_field"; 3],
        ),
        // A numeric BatchId is what Dataverse writes: no warning at all.
        (json!(r#"{"BotId":"b","BatchId":3}"#), vec![]),
        (json!(r#"{"BotId":"b","Unknown":{"x":1}}"#), vec![]),
    ];
    for (metadata, expected) in cases {
        let mut row = base_row(&good_activities());
        row["metadata"] = metadata.clone();
        let (shape, warnings) = run(&row).unwrap();
        assert_eq!(shape, good_shape(), "{metadata}");
        assert_eq!(codes(&warnings), expected, "{metadata}: {warnings:?}");
    }
    let mut row = base_row(&good_activities());
    row.as_object_mut().unwrap().remove("metadata");
    let (shape, warnings) = run(&row).unwrap();
    assert_eq!(shape, good_shape());
    assert_eq!(codes(&warnings), ["metadata_unreadable"]);
}

#[test]
fn other_columns_of_the_wrong_type_and_unknown_keys_are_tolerated() {
    let mut row = base_row(&good_activities());
    row["name"] = json!(42);
    row["schemaversion"] = json!(["0.2.2"]);
    row["createdon"] = json!("yesterday");
    row["modifiedon"] = json!(true);
    row["somethingnew"] = json!({"a": [1, 2]});
    let (shape, warnings) = run(&row).unwrap();
    assert_eq!(shape, good_shape());
    assert_eq!(
        codes(&warnings),
        [
            "column_type",
            "column_datetime",
            "column_type",
            "column_type"
        ],
        "{warnings:?}"
    );
}

#[test]
fn null_and_non_object_activities_are_skipped_and_counted() {
    let mut acts = good_activities().as_array().unwrap().clone();
    acts.insert(0, Value::Null);
    acts.insert(2, json!(7));
    acts.push(json!("trailing text"));
    let (shape, warnings) = run(&base_row(&Value::Array(acts))).unwrap();
    assert_eq!(shape, good_shape());
    assert_eq!(
        warnings,
        vec![
            RowWarning::ActivityNotObject {
                position: 0,
                found: "null"
            },
            RowWarning::ActivityNotObject {
                position: 2,
                found: "a number"
            },
            RowWarning::ActivityNotObject {
                position: 5,
                found: "a string"
            },
        ]
    );
}

#[test]
fn odd_roles_are_read_by_meaning_and_unknown_roles_are_not_the_agent() {
    for (user_role, bot_role) in [
        (json!(1.0), json!(0.0)),
        (json!("1"), json!("0")),
        (json!("User"), json!("Bot")),
    ] {
        let acts = json!([
            {"type": "message", "id": "g", "timestamp": START_UNIX + 1, "from": {"role": 0}, "text": "Hello"},
            {"type": "message", "id": "q", "timestamp": START_UNIX + 2, "from": {"role": user_role}, "text": "Where is my payslip?"},
            {"type": "message", "id": "a", "timestamp": START_UNIX + 3, "from": {"role": bot_role}, "text": "In the HR portal."}
        ]);
        let (shape, warnings) = run(&base_row(&acts)).unwrap();
        assert_eq!(shape, good_shape(), "{user_role}");
        assert_eq!(codes(&warnings), ["odd_role", "odd_role"], "{user_role}");
    }
    // `null` or an unknown role: the prompt is never sent as the agent's reply.
    for odd in [Value::Null, json!("skill"), json!(2), json!(true)] {
        let acts = json!([
            {"type": "message", "id": "q", "timestamp": START_UNIX + 2, "from": {"role": 1}, "text": "Where is my payslip?"},
            {"type": "message", "id": "x", "timestamp": START_UNIX + 3, "from": {"role": odd}, "text": "my password is hunter2"},
            {"type": "message", "id": "a", "timestamp": START_UNIX + 4, "from": {"role": 0}, "text": "In the HR portal."}
        ]);
        let (shape, warnings) = run(&base_row(&acts)).unwrap();
        assert_eq!(
            shape,
            vec![(
                "Where is my payslip?".to_owned(),
                "In the HR portal.".to_owned(),
                (START_UNIX + 2).to_string()
            )],
            "{odd}"
        );
        assert_eq!(codes(&warnings), ["unknown_role"], "{odd}");
    }
}

#[test]
fn timestamps_are_normalised_and_unbelievable_ones_take_the_conversation_start() {
    let ms = (START_UNIX + 2) * 1000;
    let cases: Vec<(Value, &str, Vec<&str>)> = vec![
        (json!(START_UNIX + 2), "+2", vec![]),
        (json!(ms), "+2", vec![]),
        (json!(ms.to_string()), "+2", vec![]),
        (json!("2026-03-01T10:00:02Z"), "+2", vec![]),
        (json!("2026-03-01T10:00:02.250Z"), "+2", vec![]),
        (json!("2026-03-01T10:00:02"), "+2", vec![]),
        (json!(-5), "start", vec!["timestamp_out_of_range"]),
        (json!(0), "start", vec!["timestamp_out_of_range"]),
        (json!(915_148_800), "start", vec!["timestamp_out_of_range"]), // 1999
        (json!(1e300), "start", vec!["timestamp_out_of_range"]),
        // "now" is 2026-03-02 00:00: a week later is in the future.
        (
            json!(START_UNIX + 7 * 86_400),
            "start",
            vec!["timestamp_out_of_range"],
        ),
        (json!("next tuesday"), "start", vec!["timestamp_unreadable"]),
        (json!({"t": 1}), "start", vec!["timestamp_unreadable"]),
    ];
    for (ts, expected_time, expected_warnings) in cases {
        let acts = json!([
            {"type": "message", "id": "q", "timestamp": ts, "from": {"role": 1}, "text": "Where is my payslip?"},
            {"type": "message", "id": "a", "timestamp": START_UNIX + 3, "from": {"role": 0}, "text": "In the HR portal."}
        ]);
        let (shape, warnings) = run(&base_row(&acts)).unwrap();
        let time = match expected_time {
            "start" => START_UNIX.to_string(),
            _ => (START_UNIX + 2).to_string(),
        };
        assert_eq!(shape.len(), 1, "{ts}");
        assert_eq!(shape[0].2, time, "{ts}");
        assert_eq!(codes(&warnings), expected_warnings, "{ts}");
    }
}

#[test]
fn only_unreadable_content_fails_a_row() {
    for content in [
        json!("{not json"),
        json!("[]"),
        json!(r#"{"other":1}"#),
        json!(r#"{"activities":null}"#),
        json!({"activities": []}),
        json!(7),
        Value::Null,
    ] {
        let mut row = base_row(&good_activities());
        row["content"] = content.clone();
        assert!(run(&row).is_err(), "{content}");
    }
}

#[test]
fn bot_names_are_sanitised_with_unicode_letters_and_numbers() {
    for (name, expected) in [
        ("Zahlungs-Überblick", "zahlungs-überblick"),
        ("Überweisung Bot", "überweisung-bot"),
        ("Straße & Maße", "straße-maße"),
        ("経費精算ボット", "経費精算ボット"),
        ("社内ヘルプデスク（テスト）", "社内ヘルプデスク-テスト"),
        ("Помощник ЗАКУПОК", "помощник-закупок"),
        ("Бот №1", "бот-1"),
        ("*** HR // Bot (v2.0) ***", "hr-bot-v2-0"),
        ("🤖 Robo 🤖 Helper 🚀", "robo-helper"),
        ("--a--b--", "a--b"),
        ("Ⅻ Legion ٣", "ⅻ-legion-٣"),
        ("", ""),
        ("!!!", ""),
    ] {
        assert_eq!(sanitize_bot_name(name), expected, "{name}");
    }
    // Names that differ only in non-Latin letters no longer collide.
    assert_ne!(
        sanitize_bot_name("Помощник закупок"),
        sanitize_bot_name("Помощник продаж")
    );
    assert_ne!(
        sanitize_bot_name("経費ボット"),
        sanitize_bot_name("旅費ボット")
    );
    // Combining marks are not letters (as `\p{L}` in Akto's expression): a decomposed "é"
    // loses its accent mark, and a Devanagari vowel sign is a separator.
    assert_eq!(sanitize_bot_name("Cafe\u{301} Bot"), "cafe-bot");
    assert_eq!(sanitize_bot_name("हिन्दी"), "ह-न-द");
}
