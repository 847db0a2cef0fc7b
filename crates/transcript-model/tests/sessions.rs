//! Sessions split across rows are paired as one stream; resumed sessions stay apart; pair
//! identities follow what a pair holds.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use serde_json::{Value, json};
use transcript_model::{AktoConfig, PairOptions, Session, Transcript, sessions};

const NAME: &str = "c0nv-1_4b57a07a-d1cf-06b6-3ebc-97dababcdbf0";
const T0: i64 = 1_772_359_200;

/// The whole session: a greeting, then `turns` prompt/reply exchanges (the third prompt gets
/// two replies).
fn session_activities(turns: usize) -> Vec<Value> {
    let mut acts = vec![
        json!({"type": "event", "id": "start", "name": "startConversation", "timestamp": T0, "from": {"role": 1}}),
        json!({"type": "message", "id": "greet", "replyToId": "start", "timestamp": T0, "from": {"role": 0}, "text": "Hello"}),
    ];
    for t in 0..turns {
        let ts = T0 + 10 * t as i64 + 1;
        acts.push(json!({"type": "message", "id": format!("q{t}"), "timestamp": ts, "from": {"role": 1}, "text": format!("question {t}")}));
        acts.push(json!({"type": "message", "id": format!("a{t}"), "replyToId": format!("q{t}"), "timestamp": ts + 1, "from": {"role": 0}, "text": format!("answer {t}")}));
        if t == 2 {
            acts.push(json!({"type": "message", "id": format!("a{t}b"), "replyToId": format!("q{t}"), "timestamp": ts + 2, "from": {"role": 0}, "text": format!("answer {t}, more")}));
        }
    }
    acts
}

fn row(id: &str, batch: Value, start: &str, acts: &[Value]) -> Transcript {
    let metadata = json!({"BotId": "4b57a07a-d1cf-06b6-3ebc-97dababcdbf0", "BotName": "cr_hr", "BatchId": batch});
    Transcript::from_value(&json!({
        "conversationtranscriptid": id,
        "name": NAME,
        "metadata": metadata.to_string(),
        "conversationstarttime": start,
        "createdon": "2026-03-01T10:40:00Z",
        "content": json!({"activities": acts}).to_string(),
    }))
    .unwrap()
}

/// The session split in three rows, cutting between each prompt and its reply.
fn split_rows() -> Vec<Transcript> {
    let acts = session_activities(6);
    // Index of "q1" is 4, its reply "a1" 5; "q4" is 11, "a4" 12.
    assert_eq!(acts[4]["id"], "q1");
    assert_eq!(acts[11]["id"], "q4");
    vec![
        row("row-a", json!(1), "2026-03-01T10:00:00Z", &acts[..5]),
        row("row-b", json!(2), "2026-03-01T10:00:00Z", &acts[5..12]),
        row("row-c", json!("10"), "2026-03-01T10:00:00Z", &acts[12..]),
    ]
}

type Shape = Vec<(String, String)>;

fn shape_of(pairs: impl Iterator<Item = (Option<String>, Option<String>)>) -> Shape {
    pairs
        .map(|(q, a)| (q.unwrap_or("-".into()), a.unwrap_or("-".into())))
        .collect()
}

#[test]
fn a_split_session_pairs_exactly_like_the_unsplit_one_in_any_row_order() {
    let whole = row(
        "whole",
        json!(1),
        "2026-03-01T10:00:00Z",
        &session_activities(6),
    );
    let expected = shape_of(whole.pair().pairs.iter().map(|p| {
        (
            p.request.and_then(|m| m.text).map(str::to_owned),
            p.response.and_then(|m| m.text).map(str::to_owned),
        )
    }));
    assert_eq!(expected.len(), 8, "{expected:?}");

    let rows = split_rows();
    // Pairing the rows one by one makes half-pairs at each cut.
    let naive: usize = rows.iter().map(|r| r.pair().pairs.len()).sum();
    assert_eq!(naive, expected.len() + 2);

    let mut seen_paths = None;
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let input: Vec<&Transcript> = order.iter().map(|&i| &rows[i]).collect();
        let grouped = sessions(input);
        assert_eq!(grouped.len(), 1);
        let ids: Vec<&str> = grouped[0].rows().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["row-a", "row-b", "row-c"], "BatchId 10 sorts after 2");
        let paired = grouped[0].pair(&PairOptions::new());
        let got = shape_of(paired.pairs.iter().map(|p| {
            (
                p.pair.request.and_then(|m| m.text).map(str::to_owned),
                p.pair.response.and_then(|m| m.text).map(str::to_owned),
            )
        }));
        assert_eq!(got, expected, "order {order:?}");
        assert!(paired.pairs.iter().all(|p| !p.open_edge));
        // Keys are unique; paths are the same whatever order the rows came in.
        let mut keys: Vec<&str> = paired.pairs.iter().map(|p| p.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), expected.len());
        let records = AktoConfig::new("1", "0", "env").session_records(&paired);
        let paths: Vec<String> = records.iter().map(|r| r.record.path.clone()).collect();
        let mut unique = paths.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), paths.len(), "{paths:?}");
        match &seen_paths {
            None => seen_paths = Some(paths),
            Some(p) => assert_eq!(p, &paths),
        }
    }
    // The pair cut at the first boundary belongs to the row holding its prompt.
    let paths = seen_paths.unwrap();
    assert_eq!(paths[2], "/copilot/conversation/row-a/message/2");
    assert_eq!(paths[3], "/copilot/conversation/row-b/message/0");
}

#[test]
fn a_session_of_one_row_gives_the_rows_own_records() {
    let t = row(
        "solo",
        json!(1),
        "2026-03-01T10:00:00Z",
        &session_activities(4),
    );
    let config = AktoConfig::new("1", "0", "env");
    let alone = config.records(&t.pair());
    let session = Session::new(vec![&t]).unwrap().pair(&PairOptions::new());
    let as_session: Vec<_> = config
        .session_records(&session)
        .into_iter()
        .map(|r| r.record)
        .collect();
    assert_eq!(alone, as_session);
}

#[test]
fn a_resumed_session_is_a_separate_session() {
    let acts = session_activities(1);
    let first = row("r1", json!(1), "2026-03-01T10:00:00Z", &acts);
    let later = row("r2", json!(1), "2026-03-01T14:00:00Z", &acts);
    let grouped = sessions([&first, &later]);
    assert_eq!(grouped.len(), 2);
    assert_ne!(grouped[0].key(), grouped[1].key());
    let k1 = &grouped[0].pair(&PairOptions::new()).pairs[0].key;
    let k2 = &grouped[1].pair(&PairOptions::new()).pairs[0].key;
    assert_ne!(k1, k2, "the same message ids in two sessions are two pairs");
}

#[test]
fn a_missing_earlier_row_leaves_an_open_edge_not_a_silent_half_pair() {
    let rows = split_rows();
    let paired = sessions([&rows[1], &rows[2]])[0].pair(&PairOptions::new());
    // row-b starts with the reply to "question 1", whose row is not here.
    let first = &paired.pairs[0];
    assert!(first.pair.request.is_none());
    assert!(first.open_edge);
    assert!(paired.pairs[1..].iter().all(|p| !p.open_edge));
    // A missing later row: the last prompt of row-b may be answered there.
    let paired = sessions([&rows[0], &rows[1]])[0].pair(&PairOptions::new());
    let last = paired.pairs.last().unwrap();
    assert!(last.pair.response.is_none() && last.open_edge);
    // A complete unsplit session ending with an unanswered prompt has no open edge.
    let mut acts = session_activities(1);
    acts.push(json!({"type": "message", "id": "late", "timestamp": T0 + 99, "from": {"role": 1}, "text": "anyone?"}));
    let t = row("solo", json!(1), "2026-03-01T10:00:00Z", &acts);
    let paired = Session::new(vec![&t]).unwrap().pair(&PairOptions::new());
    assert!(paired.pairs.iter().all(|p| !p.open_edge));
}

#[test]
fn a_resaved_row_keeps_the_keys_of_its_earlier_pairs() {
    let acts = session_activities(5);
    let before = row("r", json!(1), "2026-03-01T10:00:00Z", &acts[..8]);
    let after = row("r", json!(1), "2026-03-01T10:00:00Z", &acts);
    let keys = |t: &Transcript| -> Vec<String> {
        Session::new(vec![t])
            .unwrap()
            .pair(&PairOptions::new())
            .pairs
            .into_iter()
            .map(|p| p.key)
            .collect()
    };
    let (old, new) = (keys(&before), keys(&after));
    assert!(old.iter().all(|k| new.contains(k)), "{old:?} / {new:?}");
    // The second reply to "question 2", and turns 3 and 4.
    assert_eq!(new.len() - old.len(), 3);
    // Messages without ids are identified by their position in their row.
    let no_ids: Vec<Value> = acts
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a.as_object_mut().unwrap().remove("id");
            a
        })
        .collect();
    let t = row("p", json!(1), "2026-03-01T10:00:00Z", &no_ids);
    let k = keys(&t);
    assert!(k[1].contains("|@p:2|@p:3"), "{k:?}");
}

#[test]
fn a_half_pair_has_the_key_its_completed_pair_names_as_its_part() {
    let rows = split_rows();
    // Row a alone ends with "question 1" unanswered: a pair without a response.
    let alone = sessions([&rows[0]])[0].pair(&PairOptions::new());
    let half = alone.pairs.last().unwrap();
    assert!(half.pair.response.is_none());
    assert_eq!(
        (&half.request_only_key, &half.response_only_key),
        (&None, &None)
    );
    // Row b brings its reply: the completed pair names the half-pair's key as its request part.
    let whole = sessions([&rows[0], &rows[1]])[0].pair(&PairOptions::new());
    let full = whole
        .pairs
        .iter()
        .find(|p| p.pair.request.is_some() && p.pair.response.is_some() && p.key.contains("|q1|"))
        .unwrap();
    assert_eq!(full.request_only_key.as_deref(), Some(half.key.as_str()));
    assert_ne!(full.key, half.key);
    // Row b alone starts with that reply: its orphan pair is the completed pair's response part.
    let orphan = sessions([&rows[1]])[0].pair(&PairOptions::new());
    assert_eq!(
        full.response_only_key.as_deref(),
        Some(orphan.pairs[0].key.as_str())
    );
}
