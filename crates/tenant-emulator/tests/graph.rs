//! Microsoft Graph end to end: `entra-auth` gets a Graph token from the emulator's Entra and
//! `graph-client` reads licences, users and Copilot interactions from the emulator's Graph.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod graph_common;

use futures::TryStreamExt;
use graph_client::{AiInteraction, BatchRequest, GraphClient, InteractionQuery, app_class};
use std::collections::HashSet;
use tenant_emulator::faults::FaultConfig;
use tenant_emulator::graph::M365Spec;
use tenant_emulator::{Emulator, RunningEmulator};
use time::OffsetDateTime;

fn client(emulator: &RunningEmulator) -> GraphClient {
    graph_common::client(emulator, 10)
}

fn everything() -> InteractionQuery {
    let now = OffsetDateTime::now_utc();
    InteractionQuery::new().created_between(
        now - time::Duration::days(365),
        now + time::Duration::days(1),
    )
}

#[tokio::test]
async fn licensed_users_and_every_interaction_through_paging() {
    let emulator = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(5, 37).with_extra_users(2, 1))
        .start()
        .await
        .unwrap();
    let graph = client(&emulator);
    // The default app holds User.Read.All but not LicenseAssignment.Read.All: the standard
    // licence's well-known skuId stands in for the subscribedSkus lookup.
    let (users, source) = graph.copilot_users_with_source(&[]).await.unwrap();
    assert_eq!(source, graph_client::SkuSource::WellKnown);
    assert_eq!(users.len(), 7, "5 active + 2 idle licensed users");
    let unlicensed = emulator
        .graph()
        .users()
        .into_iter()
        .find(|u| !u.licensed)
        .unwrap();
    assert!(users.iter().all(|u| u.id != unlicensed.id));

    let mut seen = HashSet::new();
    let mut total = 0;
    for user in users
        .iter()
        .map(|u| u.id.clone())
        .chain([unlicensed.id.clone()])
    {
        // Small pages so every user's export spans several next links.
        let q = everything().top(10);
        let items: Vec<AiInteraction> = graph
            .interaction_pages(&user, &q)
            .items()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(items.len(), emulator.graph().interactions_of(&user).len());
        total += items.len();
        for i in &items {
            assert!(seen.insert(i.id.clone()), "{} twice", i.id);
        }
    }
    assert_eq!(total, emulator.graph().interaction_count());
    assert_eq!(total, 6 * 37);

    // The app filter and the window narrow the export.
    let user = &users[0].id;
    let word: Vec<AiInteraction> = graph
        .interaction_pages(
            user,
            &everything().app_classes([app_class::WORD, app_class::EXCEL]),
        )
        .items()
        .try_collect()
        .await
        .unwrap();
    assert!(word.iter().all(|i| matches!(
        i.app_class.as_deref(),
        Some(app_class::WORD | app_class::EXCEL)
    )));
    let all = emulator.graph().interactions_of(user);
    let expected = all
        .iter()
        .filter(|v| v["appClass"] == app_class::WORD || v["appClass"] == app_class::EXCEL)
        .count();
    assert_eq!(word.len(), expected);
    let now = OffsetDateTime::now_utc();
    let empty: Vec<AiInteraction> = graph
        .interaction_pages(
            user,
            &InteractionQuery::new()
                .created_between(now + time::Duration::days(1), now + time::Duration::days(2)),
        )
        .items()
        .try_collect()
        .await
        .unwrap();
    assert!(empty.is_empty());

    // Fan-out reads through $batch.
    let ids: Vec<String> = users
        .iter()
        .map(|u| u.id.clone())
        .chain(["nobody@nowhere".to_owned()])
        .collect();
    let found = graph.users_by_id(&ids).await.unwrap();
    assert!(found[..7].iter().all(Option::is_some));
    assert!(found[7].is_none());
    // subscribedSkus needs LicenseAssignment.Read.All, which the default app does not hold.
    let answers = graph
        .batch(vec![BatchRequest::get("a", "/subscribedSkus")])
        .await
        .unwrap();
    assert_eq!(answers[0].status, 403);
    emulator.shutdown().await;
}

#[tokio::test]
async fn licence_lookup_by_part_number_needs_license_assignment_read() {
    let emulator = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(3, 1))
        .graph_roles([
            tenant_emulator::graph::INTERACTION_ROLE,
            tenant_emulator::graph::USER_READ_ROLE,
            "LicenseAssignment.Read.All",
        ])
        .start()
        .await
        .unwrap();
    let graph = client(&emulator);
    let (users, source) = graph.copilot_users_with_source(&[]).await.unwrap();
    assert_eq!(source, graph_client::SkuSource::SubscribedSkus);
    assert_eq!(users.len(), 3);
    emulator.shutdown().await;
}

#[tokio::test]
async fn generated_interactions_have_the_awkward_shapes() {
    let emulator = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .start()
        .await
        .unwrap();
    let graph = client(&emulator);
    let mut items = Vec::new();
    for u in emulator.graph().users() {
        let mut got: Vec<AiInteraction> = graph
            .interaction_pages(&u.id, &everything())
            .items()
            .try_collect()
            .await
            .unwrap();
        items.append(&mut got);
    }
    let prompts: HashSet<_> = items
        .iter()
        .filter(|i| i.is_prompt())
        .filter_map(|i| i.request_id.clone())
        .collect();
    let answered: HashSet<_> = items
        .iter()
        .filter(|i| !i.is_prompt())
        .filter_map(|i| i.request_id.clone())
        .collect();
    assert!(
        prompts.difference(&answered).count() > 0,
        "some prompts have no answer"
    );
    assert!(
        items
            .iter()
            .any(|i| i.body.as_ref().and_then(|b| b.content_type.as_deref()) == Some("html"))
    );
    assert!(items.iter().any(|i| !i.attachments.is_empty()));
    assert!(items.iter().any(|i| !i.links.is_empty()));
    assert!(items.iter().any(|i| !i.contexts.is_empty()));
    assert!(
        items
            .iter()
            .any(|i| i.etag.as_deref() != Some(i.id.as_str()))
    );
    let apps: HashSet<_> = items.iter().filter_map(|i| i.app_class.clone()).collect();
    assert!(apps.len() >= 5, "{apps:?}");
    assert!(items.iter().all(|i| i.from.is_some() && i.extra.is_empty()));
    // New interactions arrive now; changed etags show.
    let added = emulator.graph().add_interactions(3);
    assert_eq!(added.len(), 6);
    let changed = emulator.graph().change_etags(2);
    assert_eq!(changed.len(), 2);
    emulator.shutdown().await;
}

#[tokio::test]
async fn permissions_consistency_and_throttling() {
    let emulator = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .graph_roles(["User.Read.All"])
        .m365(M365Spec::new(3, 20))
        .start()
        .await
        .unwrap();
    let graph = client(&emulator);
    let users = graph.copilot_users(&[]).await.unwrap();
    let e = graph
        .interaction_pages::<AiInteraction>(&users[0].id, &everything())
        .try_next()
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert_eq!(e.code(), Some("Authorization_RequestDenied"));
    assert!(
        e.message()
            .unwrap()
            .contains("AiEnterpriseInteraction.Read.All")
    );
    assert!(e.request_id().is_some());
    assert!(e.graph().unwrap().body().date().is_some());

    // $count without ConsistencyLevel is refused, as Graph does.
    let raw = graph
        .pages::<serde_json::Value>(graph_client::CollectionRequest::new(
            graph.url("users?$count=true").unwrap(),
        ))
        .try_next()
        .await
        .unwrap_err();
    assert_eq!(raw.code(), Some("Request_UnsupportedQuery"));
    emulator.shutdown().await;

    // 30% injected 429s: everything still arrives, once.
    let emulator = Emulator::builder()
        .transcripts(0)
        .agents(1)
        .m365(M365Spec::new(4, 30))
        .faults(
            FaultConfig::none()
                .with_throttle_rate(0.3)
                .with_retry_after(0),
        )
        .start()
        .await
        .unwrap();
    let graph = client(&emulator);
    let users = graph.copilot_users(&[]).await.unwrap();
    assert_eq!(users.len(), 4);
    let mut n = 0;
    for u in &users {
        let items: Vec<AiInteraction> = graph
            .interaction_pages(&u.id, &everything().top(7))
            .items()
            .try_collect()
            .await
            .unwrap();
        let ids: HashSet<_> = items.iter().map(|i| i.id.clone()).collect();
        assert_eq!(ids.len(), items.len());
        n += items.len();
    }
    assert_eq!(n, 120);
    emulator.shutdown().await;
}
