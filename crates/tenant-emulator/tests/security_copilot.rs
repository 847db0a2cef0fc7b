//! Security Copilot and the directory end to end: `graph-client` against the emulator's Graph
//! beta Security Copilot endpoints (evaluations moving through states on the emulator's
//! clock to every outcome, the 600-per-60-s limit answered 429 with `Retry-After`, Graph error
//! bodies) and its identity reads (service principals, permissions resolved to names,
//! grants, credentials, owners).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod graph_common;

use futures::TryStreamExt;
use graph_client::{
    ConsentType, CredentialIssue, EvaluationResultType, EvaluationState, PromptInput,
};
use std::sync::Arc;
use std::time::Duration;
use tenant_emulator::Emulator;
use tenant_emulator::clock::ManualClock;
use tenant_emulator::identity::IdentityProfile;
use tenant_emulator::security_copilot::{Outcome, SecurityCopilotSettings, SecurityCopilotSpec};

use graph_common::client;

#[tokio::test]
async fn evaluations_move_through_states_to_every_outcome() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .clock(Arc::new(clock.clone()))
        .security_copilot(SecurityCopilotSpec::new(0, 0))
        .start()
        .await
        .unwrap();
    let sc = client(&emu, 1).security_copilot();
    let session = sc.create_session("tests").await.unwrap();
    assert!(!session.id.is_empty());
    for outcome in Outcome::ALL {
        let text = format!("What happened? [emulator:{}]", outcome.as_str());
        let prompt = sc
            .create_prompt(&session.id, &PromptInput::text(text))
            .await
            .unwrap();
        let started = sc.create_evaluation(&session.id, &prompt.id).await.unwrap();
        assert_eq!(started.state, EvaluationState::Created);
        clock.advance(Duration::from_secs(2));
        let running = sc
            .evaluation(&session.id, &prompt.id, &started.id)
            .await
            .unwrap();
        assert_eq!(running.state, EvaluationState::Running, "{outcome:?}");
        assert!(running.result.is_none());
        clock.advance(Duration::from_secs(3));
        let done = sc
            .evaluation(&session.id, &prompt.id, &started.id)
            .await
            .unwrap();
        let want = match outcome {
            Outcome::Cancelled => (EvaluationState::Cancelled, None),
            Outcome::WaitingForInput => (EvaluationState::WaitingForInput, None),
            Outcome::Never => (EvaluationState::Running, None),
            o => (
                EvaluationState::Completed,
                Some(EvaluationResultType::from(o.as_str().to_owned())),
            ),
        };
        assert_eq!(
            (
                done.state.clone(),
                done.result.as_ref().map(|r| r.result_type.clone())
            ),
            want,
            "{outcome:?}"
        );
        assert_eq!(done.is_terminal(), outcome != Outcome::Never);
        assert_eq!(done.answer().is_some(), outcome == Outcome::Success);
        assert_eq!(done.is_cancelled, Some(outcome == Outcome::Cancelled));
    }
    // The admin setting picks the outcome of unmarked prompts.
    emu.graph()
        .security_copilot()
        .set_settings(
            SecurityCopilotSettings::default()
                .with_outcome(Outcome::CapacityExceeded)
                .with_run_time(Duration::ZERO),
        )
        .unwrap();
    let p = sc
        .create_prompt(
            &session.id,
            &PromptInput::skill("GetIncident").input("id", "42"),
        )
        .await
        .unwrap();
    assert_eq!(p.skill_name.as_deref(), Some("GetIncident"));
    let e = sc.create_evaluation(&session.id, &p.id).await.unwrap();
    assert_eq!(
        e.result.map(|r| r.result_type),
        Some(EvaluationResultType::CapacityExceeded)
    );
    // Lists page and hold what was created.
    let prompts: Vec<graph_client::Prompt> = sc.prompts(&session.id).try_collect().await.unwrap();
    assert_eq!(prompts.len(), Outcome::ALL.len() + 1);
    let sessions: Vec<graph_client::Session> = sc.sessions().try_collect().await.unwrap();
    assert_eq!(sessions.len(), 1);
}

#[tokio::test]
async fn bad_requests_get_graph_error_bodies() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    let graph = client(&emu, 1);
    let sc = graph.security_copilot();
    let e = sc.session("no-such-session").await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("no-such-session"), "{e}");
    let e = sc
        .clone()
        .workspace("other")
        .session("x")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    // The generated history: 4 sessions of 3 prompts, each evaluated once.
    let sessions: Vec<graph_client::Session> = sc.sessions().try_collect().await.unwrap();
    assert_eq!(sessions.len(), 4);
    let prompts: Vec<graph_client::Prompt> =
        sc.prompts(&sessions[0].id).try_collect().await.unwrap();
    assert_eq!(prompts.len(), 3);
    let evals: Vec<graph_client::Evaluation> = sc
        .evaluations(&sessions[0].id, &prompts[0].id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(evals.len(), 1);
    assert!(evals[0].is_terminal());

    // Without the permission: 403 with Graph's body.
    let denied = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .graph_roles(["User.Read.All"])
        .start()
        .await
        .unwrap();
    let e = client(&denied, 1)
        .security_copilot()
        .create_session("x")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert!(
        e.to_string()
            .contains("SecurityCopilotWorkspaces.ReadWrite.All"),
        "{e}"
    );
    let e = client(&denied, 1)
        .identity_posture(
            &emu.credentials().client_id.to_string(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
}

#[tokio::test]
async fn the_601st_call_in_a_minute_is_answered_429_with_retry_after() {
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .clock(Arc::new(clock.clone()))
        .start()
        .await
        .unwrap();
    let url = format!(
        "{}/beta/security/securityCopilot/workspaces/default/sessions",
        emu.graph_url()
    );
    let c = emu.credentials();
    let form = [
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", c.client_id.to_string()),
        ("client_secret", c.client_secret.clone()),
        ("scope", "https://graph.microsoft.com/.default".to_owned()),
    ];
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(emu.token_url())
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    for i in 0..600 {
        let r = http
            .get(&url)
            .header("authorization", &bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "call {i}");
        if i == 299 {
            clock.advance(Duration::from_secs(30));
        }
    }
    let r = http
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert!(body["error"]["innerError"]["request-id"].is_string());
    assert_eq!(emu.graph().security_copilot().throttled(), 1);
    clock.advance(Duration::from_secs(30));
    let r = http
        .get(&url)
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the first 300 calls left the window");
}

#[tokio::test]
async fn planted_identities_read_back_through_graph_client() {
    let emu = Emulator::builder()
        .transcripts(0)
        .agents(6)
        .start()
        .await
        .unwrap();
    let graph = client(&emu, 1);
    let now = time::OffsetDateTime::now_utc();
    let planted = emu.graph().directory().identities();
    assert_eq!(planted.len(), 7, "6 agents and the connector");
    for p in &planted {
        let posture = graph
            .identity_posture(&p.app_id.to_string(), now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            posture.service_principal.id,
            p.service_principal_id.to_string()
        );
        match p.profile {
            IdentityProfile::OverPrivileged => {
                let high: Vec<String> = posture
                    .high_privilege()
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                for n in [
                    "Mail.Send",
                    "Directory.ReadWrite.All",
                    "Sites.ReadWrite.All",
                    "Files.ReadWrite.All",
                ] {
                    assert!(high.iter().any(|h| h == n), "{n} in {high:?}");
                }
                assert!(
                    posture
                        .application_permissions
                        .iter()
                        .any(|a| a.name.is_none()),
                    "a removed role is kept without a name"
                );
                assert!(
                    posture
                        .delegated_permissions
                        .iter()
                        .any(|d| d.consent_type == ConsentType::AllPrincipals)
                );
            }
            IdentityProfile::ExpiredSecret => {
                assert!(posture.has_credential_issue(CredentialIssue::Expired));
            }
            IdentityProfile::Orphaned => assert!(posture.is_orphaned()),
            IdentityProfile::ExpiringSecret => {
                assert!(posture.has_credential_issue(CredentialIssue::ExpiringSoon));
                assert!(posture.has_credential_issue(CredentialIssue::LongLivedSecret));
            }
            IdentityProfile::Connector => {
                let names: Vec<String> = posture
                    .application_permissions
                    .iter()
                    .filter_map(|a| a.name.clone())
                    .collect();
                assert_eq!(names.len(), tenant_emulator::DEFAULT_GRAPH_ROLES.len());
                assert!(posture.high_privilege().is_empty());
                assert!(posture.credentials.iter().all(|c| c.issues.is_empty()));
                assert!(!posture.is_orphaned());
            }
            _ => {
                assert!(posture.high_privilege().is_empty(), "{p:?}");
                assert!(posture.credentials.iter().all(|c| c.issues.is_empty()));
                assert!(!posture.is_orphaned());
                assert!(
                    posture
                        .delegated_permissions
                        .iter()
                        .all(|d| d.consent_type == ConsentType::Principal)
                );
            }
        }
    }
    // The inventory shows each agent's app id, and some agents' agent identity id.
    let rows = emu.inventory().rows();
    let with_app = rows
        .iter()
        .filter(|r| r.pointer("/properties/entraAppId").is_some())
        .count();
    assert_eq!(with_app, 6);
    // An agent identity id is its service principal's object id.
    for p in planted.iter().filter(|p| p.agent.is_some()) {
        if let Some(agent) =
            tenant_emulator::identity::agent_identity_id(p.agent.as_deref().unwrap())
        {
            let sp = graph
                .service_principal(&agent.to_string())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(sp.app_id, p.app_id.to_string());
        }
    }
    assert!(
        graph
            .identity_posture("11111111-1111-1111-1111-111111111111", now)
            .await
            .unwrap()
            .is_none()
    );
}
