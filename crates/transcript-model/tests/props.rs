//! Property tests of the pairing invariants, through the real decoding path.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use proptest::prelude::*;
use serde_json::{Value, json};
use transcript_model::{AktoConfig, Content, Transcript, parse_page};

#[derive(Debug, Clone)]
enum Kind {
    User,
    Bot,
    Event,
    Trace,
}

#[derive(Debug, Clone)]
struct Act {
    kind: Kind,
    /// Role as an integer or a string on the wire.
    string_role: bool,
    /// Whether the message has text at all.
    has_text: bool,
    text: String,
}

fn act() -> impl Strategy<Value = Act> {
    (
        prop_oneof![
            Just(Kind::User),
            Just(Kind::Bot),
            Just(Kind::Event),
            Just(Kind::Trace)
        ],
        any::<bool>(),
        prop::bool::weighted(0.85),
        "\\PC{0,12}",
    )
        .prop_map(|(kind, string_role, has_text, text)| Act {
            kind,
            string_role,
            has_text,
            text,
        })
}

fn to_json(i: usize, a: &Act) -> Value {
    let role = |user: bool| match (user, a.string_role) {
        (true, false) => json!(1),
        (false, false) => json!(0),
        (true, true) => json!("user"),
        (false, true) => json!("bot"),
    };
    // Unique text per activity so occurrences can be counted by text.
    let text = format!("#{i} {}", a.text);
    match a.kind {
        Kind::User | Kind::Bot => {
            let mut v = json!({"type": "message", "id": format!("a{i}"), "timestamp": 1000 + i,
                               "from": {"id": "same", "role": role(matches!(a.kind, Kind::User))}});
            if a.has_text {
                v["text"] = json!(text);
            }
            v
        }
        Kind::Event => json!({"type": "event", "name": "DialogTracing", "id": format!("a{i}"),
                              "from": {"role": role(i.is_multiple_of(2))}, "text": text}),
        Kind::Trace => {
            json!({"type": "trace", "valueType": "VariableAssignment", "from": {"role": role(false)},
                              "value": {"newValue": text}})
        }
    }
}

fn row_text(acts: &[Act]) -> String {
    let activities: Vec<Value> = acts
        .iter()
        .enumerate()
        .map(|(i, a)| to_json(i, a))
        .collect();
    json!({
        "conversationtranscriptid": "prop",
        "content": json!({"activities": activities}).to_string(),
    })
    .to_string()
}

/// The fast page -> records path must agree byte for byte with decode -> pair -> records.
fn assert_paths_agree(row: &str) -> Result<(), TestCaseError> {
    let config = AktoConfig::new("1", "2", "e");
    let page = format!("[{row}]");
    let mut fast = Vec::new();
    config
        .for_each_row_output(page.as_bytes(), |r| fast.push(r))
        .unwrap();
    let slow = Transcript::from_json_slice(row.as_bytes()).map(|t| {
        let paired = t.pair();
        (config.records(&paired), paired.warnings)
    });
    match (&fast[0], &slow) {
        (Ok(a), Ok((records, warnings))) => {
            prop_assert_eq!(
                serde_json::to_string(&a.records).unwrap(),
                serde_json::to_string(records).unwrap()
            );
            prop_assert_eq!(&a.warnings, warnings);
        }
        (Err(a), Err(b)) => prop_assert_eq!(a.row_id(), b.row_id()),
        (a, b) => prop_assert!(false, "paths disagree: {:?} vs {:?}", a.is_ok(), b.is_ok()),
    }
    Ok(())
}

fn build(acts: &[Act]) -> Transcript {
    Transcript::from_json_slice(row_text(acts).as_bytes()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn pairing_invariants(acts in prop::collection::vec(act(), 0..40)) {
        let t = build(&acts);
        let paired = t.pair();
        let pairs = &paired.pairs;

        // Every pair has a side; indices count from 0.
        for (n, p) in pairs.iter().enumerate() {
            prop_assert!(p.request.is_some() || p.response.is_some());
            prop_assert_eq!(p.index, n);
        }

        // Every message appears in at least one pair; nothing else does.
        let messages: Vec<usize> = acts.iter().enumerate()
            .filter(|(_, a)| matches!(a.kind, Kind::User | Kind::Bot)).map(|(i, _)| i).collect();
        for &m in &messages {
            let seen = pairs.iter().any(|p| {
                p.request.and_then(|r| r.activity_index) == Some(m)
                    || p.response.and_then(|r| r.activity_index) == Some(m)
            });
            prop_assert!(seen, "message {} missing", m);
        }
        for p in pairs {
            for side in [p.request, p.response].into_iter().flatten() {
                prop_assert!(messages.contains(&side.activity_index.unwrap()));
            }
        }

        // A user message is a request once per reply that follows it (before the next user
        // message), once when none does; its text is carried unchanged each time.
        for (i, a) in acts.iter().enumerate() {
            if !matches!(a.kind, Kind::User) { continue; }
            let replies = acts[i + 1..].iter()
                .take_while(|b| !matches!(b.kind, Kind::User))
                .filter(|b| matches!(b.kind, Kind::Bot)).count();
            let expected_text = a.has_text.then(|| format!("#{i} {}", a.text));
            let as_request: Vec<_> = pairs.iter().filter_map(|p| p.request)
                .filter(|r| r.activity_index == Some(i)).collect();
            prop_assert_eq!(as_request.len(), replies.max(1));
            for r in as_request {
                prop_assert_eq!(r.text.map(str::to_owned), expected_text.clone());
            }
        }
        // Each bot message is a response exactly once.
        for (i, a) in acts.iter().enumerate() {
            if !matches!(a.kind, Kind::Bot) { continue; }
            let n = pairs.iter().filter(|p| p.response.and_then(|r| r.activity_index) == Some(i)).count();
            prop_assert_eq!(n, 1);
        }

        // Pair order follows activity order: the activity that completes each pair (its
        // response, else its request) strictly increases, and so do requests and responses.
        let anchors: Vec<usize> = pairs.iter()
            .map(|p| p.response.or(p.request).and_then(|m| m.activity_index).unwrap()).collect();
        prop_assert!(anchors.windows(2).all(|w| w[0] < w[1]), "{:?}", anchors);
        let requests: Vec<usize> = pairs.iter().filter_map(|p| p.request.and_then(|m| m.activity_index)).collect();
        prop_assert!(requests.windows(2).all(|w| w[0] <= w[1]));
        let responses: Vec<usize> = pairs.iter().filter_map(|p| p.response.and_then(|m| m.activity_index)).collect();
        prop_assert!(responses.windows(2).all(|w| w[0] < w[1]));

        assert_paths_agree(&row_text(&acts))?;

        // One record per pair, deterministic.
        let config = AktoConfig::new("1", "2", "e");
        let a = config.records(&paired);
        let b = config.records(&t.pair());
        prop_assert_eq!(a.len(), pairs.len());
        prop_assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        for (n, r) in a.iter().enumerate() {
            prop_assert_eq!(&r.path, &format!("/copilot/conversation/prop/message/{n}"));
        }
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        let _ = Content::parse(&s);
        let _ = parse_page(s.as_bytes());
        let _ = Transcript::from_json_slice(s.as_bytes());
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_json(v in arb_json()) {
        // As content, as an activity, as a row and as a page.
        let text = v.to_string();
        let row = json!({"conversationtranscriptid": "x", "content": json!({"activities": [v.clone()]}).to_string()});
        assert_paths_agree(&row.to_string())?;
        let row = json!({"conversationtranscriptid": "y", "content": json!({"activities": [v.clone(), v.clone()]}).to_string(), "metadata": v.to_string()});
        assert_paths_agree(&row.to_string())?;
        if let Ok(c) = Content::parse(&json!({"activities": [v.clone()]}).to_string()) {
            let row = json!({"conversationtranscriptid": "x", "content": json!({"activities": [v.clone()]}).to_string()});
            let t = Transcript::from_json_slice(row.to_string().as_bytes()).unwrap();
            let _ = AktoConfig::new("1", "2", "e").records(&t.pair());
            prop_assert_eq!(c.activities.len(), usize::from(v.is_object()));
            prop_assert_eq!(c.warnings.len(), usize::from(!v.is_object()));
        }
        let _ = Content::parse(&text);
        let _ = parse_page(text.as_bytes());
        let _ = Transcript::from_value(&v);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,10}".prop_map(Value::String),
        prop_oneof![
            Just("message"),
            Just("event"),
            Just("trace"),
            Just("user"),
            Just("bot")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("type".to_owned()),
                    Just("from".to_owned()),
                    Just("role".to_owned()),
                    Just("text".to_owned()),
                    Just("timestamp".to_owned()),
                    Just("attachments".to_owned()),
                    Just("channelData".to_owned()),
                    Just("value".to_owned()),
                    Just("name".to_owned()),
                    Just("id".to_owned()),
                    Just("replyToId".to_owned()),
                    Just("postBack".to_owned()),
                    Just("activities".to_owned()),
                    Just("content".to_owned()),
                    Just("conversationtranscriptid".to_owned()),
                    Just("aadObjectId".to_owned()),
                    Just("channelId".to_owned()),
                    Just("valueType".to_owned()),
                    Just("triggerTest".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
