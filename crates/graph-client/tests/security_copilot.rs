//! Security Copilot wire formats, the polling state machine and the rate limit, against
//! httpmock on a manual clock (no real waiting).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use client_core::ManualClock;
use futures::TryStreamExt;
use graph_client::{
    Error, EvaluationResultType, EvaluationState, PollOptions, PromptInput, PromptType,
    SecurityCopilot,
};
use httpmock::prelude::*;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::{builder, client, client_on, clock};
use time::macros::datetime;

const ROOT: &str = "/beta/security/securityCopilot/workspaces/default/sessions";

fn copilot(server: &MockServer, clock: &ManualClock) -> SecurityCopilot {
    client(server, clock).security_copilot()
}

#[tokio::test]
async fn sessions_prompts_and_evaluations_are_created_on_the_beta_paths() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock);
    let s = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(ROOT)
                .header("authorization", "Bearer graph-token")
                .json_body(json!({"displayName": "triage"}));
            then.status(201)
                .json_body(json!({"id": "s1", "displayName": "triage",
                "createdDateTime": "2026-03-01T12:00:00.1234567Z"}));
        })
        .await;
    let p = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{ROOT}/s1/prompts"))
                .json_body(json!({"type": "skill", "skillName": "GetIncident",
                    "inputs": {"incidentId": "42", "tenant": "a b"}}));
            then.status(201)
                .json_body(json!({"id": "p1", "type": "skill",
                "skillName": "GetIncident", "inputs": {"incidentId": "42"},
                "skillInputDescriptors": []}));
        })
        .await;
    let e = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{ROOT}/s1/prompts/p1/evaluations"))
                .json_body(json!({}));
            then.status(201)
                .json_body(json!({"id": "e1", "state": "created", "executionCount": 0}));
        })
        .await;
    let session = sc.create_session("triage").await.unwrap();
    assert_eq!(session.id, "s1");
    assert!(session.created_date_time.is_some());
    let input = PromptInput::skill("GetIncident")
        .input("incidentId", "42")
        .input("tenant", "a b");
    let prompt = sc.create_prompt(&session.id, &input).await.unwrap();
    assert_eq!(prompt.prompt_type, PromptType::Skill);
    assert!(prompt.extra.contains_key("skillInputDescriptors"));
    let eval = sc.create_evaluation("s1", &prompt.id).await.unwrap();
    assert_eq!(eval.state, EvaluationState::Created);
    assert!(!eval.is_terminal());
    s.assert_async().await;
    p.assert_async().await;
    e.assert_async().await;
}

#[tokio::test]
async fn lists_follow_next_links_and_ids_are_escaped() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock).workspace("ws 1");
    let base = "/beta/security/securityCopilot/workspaces/ws%201/sessions";
    let next = format!("{}{base}/a%2Fb/prompts?$skiptoken=2", server.base_url());
    let p2 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{base}/a%2Fb/prompts"))
                .query_param("$skiptoken", "2");
            then.json_body(json!({"value": [{"id": "p2", "type": "prompt", "content": "b"}]}));
        })
        .await;
    let p1 = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{base}/a%2Fb/prompts"))
                .query_param_missing("$skiptoken");
            then.json_body(json!({"@odata.nextLink": next,
                "value": [{"id": "p1", "type": "prompt", "content": "a"}]}));
        })
        .await;
    let prompts: Vec<_> = sc.prompts("a/b").try_collect().await.unwrap();
    assert_eq!(
        prompts.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["p1", "p2"]
    );
    p1.assert_async().await;
    p2.assert_async().await;
    let err = sc.prompt("", "p").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
}

/// Serves `states` in order for the evaluation, then repeats the last.
async fn evaluation_mock(server: &MockServer, states: Vec<serde_json::Value>) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    for (i, body) in states.iter().enumerate() {
        let counter = n.clone();
        let last = i == states.len() - 1;
        let body = body.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET)
                    .path(format!("{ROOT}/s1/prompts/p1/evaluations/e1"))
                    .is_true(move |_| {
                        let seen = counter.load(Ordering::SeqCst);
                        if seen == i || (last && seen > i) {
                            counter.fetch_add(1, Ordering::SeqCst);
                            true
                        } else {
                            false
                        }
                    });
                then.json_body(body);
            })
            .await;
    }
    n
}

#[tokio::test]
async fn polling_backs_off_exponentially_until_completed() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock);
    let reads = evaluation_mock(
        &server,
        vec![
            json!({"id": "e1", "state": "created"}),
            json!({"id": "e1", "state": "running"}),
            json!({"id": "e1", "state": "running"}),
            json!({"id": "e1", "state": "pending"}),
            json!({"id": "e1", "state": "running"}),
            json!({"id": "e1", "state": "completed",
                   "completedDateTime": "2026-03-01T12:00:20Z",
                   "result": {"type": "success", "content": "No incidents.", "previewState": "ga"}}),
        ],
    )
    .await;
    let mut seen = Vec::new();
    let opts = PollOptions::default()
        .initial(Duration::from_secs(1))
        .max(Duration::from_secs(5));
    let eval = sc
        .wait_for_evaluation_with("s1", "p1", "e1", &opts, |e| seen.push(e.state.clone()))
        .await
        .unwrap();
    assert_eq!(eval.answer(), Some("No incidents."));
    assert_eq!(reads.load(Ordering::SeqCst), 6);
    assert_eq!(seen.len(), 6);
    assert_eq!(
        clock.sleeps(),
        [1, 2, 4, 5, 5].map(Duration::from_secs).to_vec()
    );
}

#[tokio::test]
async fn each_failure_result_is_typed_and_explained() {
    for (wire, ty) in [
        ("error", EvaluationResultType::Error),
        (
            "needAdditionalClaims",
            EvaluationResultType::NeedAdditionalClaims,
        ),
        ("rejected", EvaluationResultType::Rejected),
        ("timedOut", EvaluationResultType::TimedOut),
        ("capacityExceeded", EvaluationResultType::CapacityExceeded),
        (
            "somethingNew",
            EvaluationResultType::Other("somethingNew".into()),
        ),
    ] {
        let server = MockServer::start_async().await;
        let clock = clock();
        let sc = copilot(&server, &clock);
        evaluation_mock(
            &server,
            vec![
                json!({"id": "e1", "state": "running"}),
                json!({"id": "e1", "state": "completed", "result": {"type": wire, "content": "why"}}),
            ],
        )
        .await;
        let eval = sc
            .wait_for_evaluation("s1", "p1", "e1", &PollOptions::default())
            .await
            .unwrap();
        let result = eval.result.clone().unwrap();
        assert_eq!(result.result_type, ty, "{wire}");
        assert_eq!(result.content.as_deref(), Some("why"));
        assert_eq!(eval.answer(), None, "{wire} is not an answer");
        assert!(!ty.explanation().is_empty());
    }
}

#[tokio::test]
async fn cancelled_and_waiting_for_input_stop_polling() {
    for body in [
        json!({"id": "e1", "state": "cancelled"}),
        json!({"id": "e1", "state": "waitingForInput"}),
        json!({"id": "e1", "state": "running", "isCancelled": true}),
    ] {
        let server = MockServer::start_async().await;
        let clock = clock();
        let sc = copilot(&server, &clock);
        let reads = evaluation_mock(&server, vec![body.clone()]).await;
        let eval = sc
            .wait_for_evaluation("s1", "p1", "e1", &PollOptions::default())
            .await
            .unwrap();
        assert!(eval.is_terminal(), "{body}");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn polling_stops_at_the_deadline_on_the_clock() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock);
    let reads = evaluation_mock(&server, vec![json!({"id": "e1", "state": "running"})]).await;
    let opts = PollOptions::default()
        .initial(Duration::from_secs(2))
        .max(Duration::from_secs(8))
        .deadline(Duration::from_secs(27));
    let err = sc
        .wait_for_evaluation("s1", "p1", "e1", &opts)
        .await
        .unwrap_err();
    match &err {
        Error::Deadline(d) => {
            assert_eq!(d.waited(), Duration::from_secs(27));
            assert_eq!(d.last_state(), "running");
        }
        other => panic!("{other}"),
    }
    // 2 + 4 + 8 + 8 = 22, then the next 8 s wait is cut to the 5 s left: one final read at 27 s.
    assert_eq!(
        clock.sleeps(),
        [2, 4, 8, 8, 5].map(Duration::from_secs).to_vec()
    );
    assert_eq!(reads.load(Ordering::SeqCst), 6);
    assert!(err.to_string().contains("running"));
}

#[tokio::test]
async fn run_prompt_creates_evaluates_and_waits() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock);
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{ROOT}/s1/prompts"))
                .json_body(json!({"type": "prompt", "content": "Summarise incident 42"}));
            then.status(201).json_body(
                json!({"id": "p1", "type": "prompt", "content": "Summarise incident 42"}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{ROOT}/s1/prompts/p1/evaluations"));
            then.status(201)
                .json_body(json!({"id": "e1", "state": "created"}));
        })
        .await;
    evaluation_mock(
        &server,
        vec![json!({"id": "e1", "state": "completed", "result": {"type": "success", "content": "ok"}})],
    )
    .await;
    let (prompt, eval) = sc
        .run_prompt(
            "s1",
            &PromptInput::text("Summarise incident 42"),
            &PollOptions::default(),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(prompt.id, "p1");
    assert_eq!(eval.answer(), Some("ok"));
    // The first read happens at once, without waiting.
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn the_rate_limit_delays_calls_over_the_limit_on_the_clock() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock).rate_limit(3, Duration::from_secs(60));
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ROOT}/s1"));
            then.json_body(json!({"id": "s1"}));
        })
        .await;
    for _ in 0..3 {
        sc.session("s1").await.unwrap();
    }
    assert!(clock.sleeps().is_empty());
    sc.session("s1").await.unwrap();
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(60)]);
    m.assert_calls_async(4).await;
}

#[tokio::test]
async fn security_copilot_is_public_cloud_only_and_errors_are_typed() {
    let client = builder()
        .cloud(entra_auth::Cloud::UsGovHigh)
        .build()
        .unwrap();
    let err = client.security_copilot().session("s1").await.unwrap_err();
    assert!(matches!(err, Error::UnsupportedCloud { .. }), "{err}");

    let server = MockServer::start_async().await;
    let clock = clock();
    let sc = copilot(&server, &clock);
    server
        .mock_async(|when, then| {
            when.method(POST).path(ROOT);
            then.status(403)
                .json_body(json!({"error": {"code": "Forbidden",
                "message": "User is not assigned a Security Copilot role",
                "innerError": {"request-id": "rq1"}}}));
        })
        .await;
    let err = sc.create_session("x").await.unwrap_err();
    assert!(err.is_forbidden());
    assert_eq!(err.request_id(), Some("rq1"));
    assert!(err.to_string().contains("Security Copilot role"));
}

/// A clock whose reading never moves while its sleeps return at once: the wall clock as
/// seen under tokio's paused time.
#[derive(Debug)]
struct FrozenClock;

impl client_core::Clock for FrozenClock {
    fn now(&self) -> time::OffsetDateTime {
        datetime!(2026-03-01 12:00 UTC)
    }
    fn sleep(&self, _: Duration) -> client_core::SleepFuture {
        Box::pin(std::future::ready(()))
    }
}

#[tokio::test]
async fn the_deadline_holds_when_the_wall_clock_stands_still() {
    let server = MockServer::start_async().await;
    let sc = client_on(&server, Arc::new(FrozenClock)).security_copilot();
    // Running for 40 reads, then completed: a deadline measured only on the frozen clock
    // would never pass and the poll would end in success after 41 reads.
    let mut states = vec![json!({"id": "e1", "state": "running"}); 40];
    states.push(json!({"id": "e1", "state": "completed", "result": {"type": "success"}}));
    let reads = evaluation_mock(&server, states).await;
    let opts = PollOptions::default()
        .initial(Duration::from_secs(2))
        .max(Duration::from_secs(8))
        .deadline(Duration::from_secs(30));
    let err = sc
        .wait_for_evaluation("s1", "p1", "e1", &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Deadline { .. }), "{err}");
    // Sleeps of 2, 4, 8, 8, 8 reach 30 s: six reads.
    assert_eq!(reads.load(Ordering::SeqCst), 6);
}
