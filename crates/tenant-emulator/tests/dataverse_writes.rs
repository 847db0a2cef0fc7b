//! Writes over plain HTTP: create, upsert by key and alternate key, the If-Match / If-None-Match
//! rules, ETags, delete and `nav@odata.bind`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use dataverse_common::{Server, guid, start_default};
use reqwest::StatusCode;
use serde_json::json;
use tenant_emulator::dataverse::{ColumnDef, ColumnKind, EntitySetDef};

/// An inventory-like set with a two-column alternate key (a string and a number).
async fn with_inventory() -> Server {
    let server = start_default().await;
    server
        .dataverse
        .declare_entity_set(
            EntitySetDef::new("cr_agents", "cr_agent", "cr_agentid")
                .primary_name("cr_name")
                .columns([
                    ColumnDef::new("cr_name", ColumnKind::String),
                    ColumnDef::new("cr_environment", ColumnKind::String),
                    ColumnDef::new("cr_revision", ColumnKind::Integer),
                    ColumnDef::new("cr_active", ColumnKind::Boolean),
                ])
                .with_system_columns()
                .alternate_key(["cr_environment", "cr_revision"]),
        )
        .unwrap();
    server
}

#[tokio::test]
async fn create_returns_204_with_entity_id_or_201_with_the_row() {
    let server = start_default().await;
    let created = server.post("bots", &[], json!({"name": "New Bot"})).await;
    assert_eq!(created.status, StatusCode::NO_CONTENT);
    let id_url = created.header("OData-EntityId").unwrap().to_owned();
    assert!(
        id_url.starts_with(&format!("{}/bots(", server.base)),
        "{id_url}"
    );
    let row = server.get(&id_url, &[]).await.json();
    assert_eq!(row["name"], "New Bot");
    assert_eq!(row["statecode"], 0);
    assert!(row["createdon"].is_string());
    assert!(row["versionnumber"].is_u64());

    let represented = server
        .post(
            "bots?$select=name",
            &[("Prefer", "return=representation")],
            json!({"name": "Shown"}),
        )
        .await;
    assert_eq!(represented.status, StatusCode::CREATED);
    assert_eq!(
        represented.header("Preference-Applied"),
        Some("return=representation")
    );
    let body = represented.json();
    assert_eq!(body["name"], "Shown");
    assert!(body["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    assert!(
        body["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#bots(name)/$entity")
    );

    let unknown = server
        .post(
            "bots",
            &[],
            json!({"name": "x", "description": "no such column"}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.error().1.starts_with(
        "The property 'description' does not exist on type 'Microsoft.Dynamics.CRM.bot'."
    ));
    let wrong_type = server
        .post("bots", &[], json!({"statecode": "active"}))
        .await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    let lookup_direct = server
        .post("botcomponents", &[], json!({"_parentbotid_value": guid(1)}))
        .await;
    assert_eq!(lookup_direct.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn upsert_rules_follow_if_match_and_if_none_match() {
    let server = start_default().await;
    let url = format!("bots({})", guid(5));

    // If-Match: * never creates.
    let absent = server
        .patch(&url, &[("If-Match", "*")], json!({"name": "x"}))
        .await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    assert_eq!(
        absent.error().1,
        format!("bot With Id = {} Does Not Exist", guid(5))
    );

    // No header: created (204), then updated (204).
    assert_eq!(
        server
            .patch(&url, &[], json!({"name": "first"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .patch(&url, &[], json!({"name": "second"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(server.get(&url, &[]).await.json()["name"], "second");

    // If-None-Match: * never updates.
    let exists = server
        .patch(&url, &[("If-None-Match", "*")], json!({"name": "third"}))
        .await;
    assert_eq!(exists.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        exists.error(),
        (
            String::new(),
            "A record with matching key values already exists.".to_owned()
        )
    );
    let other = format!("bots({})", guid(6));
    assert_eq!(
        server
            .patch(&other, &[("If-None-Match", "*")], json!({"name": "new"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // If-Match: * updates an existing row.
    assert_eq!(
        server
            .patch(&url, &[("If-Match", "*")], json!({"name": "fourth"}))
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    // Optimistic concurrency with the row's ETag.
    let etag = server.get(&url, &[]).await.json()["@odata.etag"]
        .as_str()
        .unwrap()
        .to_owned();
    let ok = server
        .patch(&url, &[("If-Match", &etag)], json!({"name": "fifth"}))
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    let stale = server
        .patch(&url, &[("If-Match", &etag)], json!({"name": "sixth"}))
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        stale.error().1,
        "The version of the existing record doesn't match the RowVersion property provided."
    );
    let stale_delete = server.delete(&url, &[("If-Match", &etag)]).await;
    assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);

    // return=representation: 201 on create, 200 on update.
    let third = format!("bots({})", guid(7));
    let rep = [("Prefer", "return=representation")];
    assert_eq!(
        server
            .patch(&third, &rep, json!({"name": "a"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let updated = server.patch(&third, &rep, json!({"name": "b"})).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["name"], "b");

    // A different key in the body is refused.
    let mismatch = server.patch(&third, &[], json!({"botid": guid(8)})).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);

    // Delete, then 404.
    assert_eq!(
        server.delete(&third, &[]).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.delete(&third, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.get(&third, &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alternate_keys_with_quotes_and_numbers() {
    let server = with_inventory().await;
    let key = "cr_agents(cr_environment='Contoso''s Prod',cr_revision=2)";
    let created = server
        .patch(key, &[], json!({"cr_name": "Agent A", "cr_active": true}))
        .await;
    assert_eq!(created.status, StatusCode::NO_CONTENT, "{}", created.text);
    let entity_url = created.header("OData-EntityId").unwrap().to_owned();

    // The same key (key values in the other order, string case differing) updates the same row.
    let again = server
        .patch(
            "cr_agents(cr_revision=2,cr_environment='contoso''s prod')",
            &[],
            json!({"cr_name": "Agent A2"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    assert_eq!(again.header("OData-EntityId"), Some(entity_url.as_str()));
    let row = server.get(key, &[]).await.json();
    assert_eq!(row["cr_name"], "Agent A2");
    assert_eq!(row["cr_environment"], "Contoso's Prod");
    assert_eq!(row["cr_revision"], 2);
    assert_eq!(server.dataverse.count("cr_agents"), 1);

    // Percent-encoded key segments decode first.
    let encoded = server
        .get(
            "cr_agents(cr_environment=%27Contoso%27%27s%20Prod%27,cr_revision=2)?$select=cr_name",
            &[],
        )
        .await;
    assert_eq!(encoded.json()["cr_name"], "Agent A2");

    let missing = server
        .patch(
            "cr_agents(cr_environment='Nope',cr_revision=1)",
            &[("If-Match", "*")],
            json!({"cr_name": "x"}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.error().1,
        "A record with the specified key values does not exist in cr_agent entity"
    );
    let not_a_key = server.get("cr_agents(cr_name='Agent A2')", &[]).await;
    assert_eq!(not_a_key.status, StatusCode::BAD_REQUEST);

    // Creating a second row with the same alternate key values is a 412.
    let duplicate = server
        .post(
            "cr_agents",
            &[],
            json!({"cr_name": "dup", "cr_environment": "CONTOSO'S PROD", "cr_revision": 2}),
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(server.delete(key, &[]).await.status, StatusCode::NO_CONTENT);
    assert_eq!(server.dataverse.count("cr_agents"), 0);
}

#[tokio::test]
async fn navigation_binds_set_lookups() {
    let server = start_default().await;
    server.seed("bots", [json!({"botid": guid(1), "name": "Parent"})]);
    for reference in [
        format!("/bots({})", guid(1)),
        format!("bots({})", guid(1)),
        format!("{}/bots({})", server.base, guid(1)),
    ] {
        let created = server
            .post(
                "botcomponents?$select=_parentbotid_value",
                &[("Prefer", "return=representation")],
                json!({"name": "Topic", "parentbotid@odata.bind": reference}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.json()["_parentbotid_value"], guid(1));
    }
    let missing = server
        .post(
            "botcomponents",
            &[],
            json!({"parentbotid@odata.bind": format!("/bots({})", guid(2))}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let wrong_set = server
        .post(
            "botcomponents",
            &[],
            json!({"parentbotid@odata.bind": format!("/botcomponents({})", guid(2))}),
        )
        .await;
    assert!(wrong_set.status.is_client_error());
    let unknown_nav = server
        .post(
            "botcomponents",
            &[],
            json!({"nosuchnav@odata.bind": format!("/bots({})", guid(1))}),
        )
        .await;
    assert_eq!(unknown_nav.status, StatusCode::BAD_REQUEST);
    let expanded = server
        .get(
            "botcomponents?$select=name&$expand=parentbotid($select=name)&$top=1",
            &[],
        )
        .await
        .json();
    assert_eq!(expanded["value"][0]["parentbotid"]["name"], "Parent");
}

#[tokio::test]
async fn associate_and_disassociate_with_ref() {
    let server = start_default().await;
    server.seed("bots", [json!({"botid": guid(1), "name": "Bot"})]);
    server.seed(
        "botcomponents",
        [
            json!({"botcomponentid": guid(10), "name": "Shared"}),
            json!({"botcomponentid": guid(11), "name": "Own"}),
        ],
    );
    let bot = format!("bots({})", guid(1));
    let shared = format!("{}/botcomponents({})", server.base, guid(10));

    // N:N through bot_botcomponent.
    let linked = server
        .post(
            &format!("{bot}/bot_botcomponent/$ref"),
            &[],
            json!({"@odata.id": shared}),
        )
        .await;
    assert_eq!(linked.status, StatusCode::NO_CONTENT, "{}", linked.text);
    let expanded = server
        .get(
            &format!("{bot}?$select=name&$expand=bot_botcomponent($select=name)"),
            &[],
        )
        .await
        .json();
    assert_eq!(expanded["bot_botcomponent"][0]["name"], "Shared");
    let again = server
        .post(
            &format!("{bot}/bot_botcomponent/$ref"),
            &[],
            json!({"@odata.id": shared}),
        )
        .await;
    assert_eq!(again.status, StatusCode::PRECONDITION_FAILED);
    let unlinked = server
        .delete(&format!("{bot}/bot_botcomponent({})/$ref", guid(10)), &[])
        .await;
    assert_eq!(unlinked.status, StatusCode::NO_CONTENT);
    let gone = server
        .delete(&format!("{bot}/bot_botcomponent({})/$ref", guid(10)), &[])
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // 1:N from the parent side, then removed with $id.
    let own = format!("botcomponents({})", guid(11));
    let parented = server
        .post(
            &format!("{bot}/botcomponent_parent_bot/$ref"),
            &[],
            json!({"@odata.id": own}),
        )
        .await;
    assert_eq!(parented.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.get(&own, &[]).await.json()["_parentbotid_value"],
        guid(1)
    );
    let removed = server
        .delete(
            &format!(
                "{bot}/botcomponent_parent_bot/$ref?$id={}/{own}",
                server.base
            ),
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.text);
    assert!(server.get(&own, &[]).await.json()["_parentbotid_value"].is_null());

    // Single-valued from the child side.
    let set = server
        .send(
            reqwest::Method::PUT,
            &format!("{own}/parentbotid/$ref"),
            &[],
            Some(json!({"@odata.id": format!("/{bot}")}).to_string()),
        )
        .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.text);
    assert_eq!(
        server.get(&own, &[]).await.json()["_parentbotid_value"],
        guid(1)
    );
    let wrong = server
        .send(
            reqwest::Method::PUT,
            &format!("{own}/parentbotid/$ref"),
            &[],
            Some(json!({"@odata.id": shared}).to_string()),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let cleared = server.delete(&format!("{own}/parentbotid/$ref"), &[]).await;
    assert_eq!(cleared.status, StatusCode::NO_CONTENT);
    assert!(server.get(&own, &[]).await.json()["_parentbotid_value"].is_null());
}
