//! Single-row operations against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock, raw_uri};
use dataverse_client::{
    DataverseClient, Error, FilterValue, Key, UpsertKind, UpsertOptions, odata_bind,
};
use httpmock::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

const API: &str = "/api/data/v9.2";
const ID: &str = "00000000-0000-0000-0000-0000000000aa";

/// Upserts by a two-part alternate key whose string part contains a quote.
async fn scenario_upsert_alternate_key(
    client: &DataverseClient,
) -> dataverse_client::UpsertOutcome {
    let key = Key::alternate([
        ("name", FilterValue::from("O'Brien & Sons/EU")),
        ("accountnumber", FilterValue::from(42)),
    ]);
    client
        .upsert(
            "accounts",
            &key,
            &json!({"telephone1": "555"}),
            UpsertOptions::new().return_row(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn upsert_by_a_two_part_alternate_key_with_a_quote() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .is_true(raw_uri(format!(
                    "{API}/accounts(name='O''Brien%20%26%20Sons%2FEU',accountnumber=42)"
                )))
                .header("prefer", "return=representation")
                .header("content-type", "application/json")
                .header_missing("if-match")
                .header_missing("if-none-match")
                .json_body(json!({"telephone1": "555"}));
            then.status(201)
                .header(
                    "OData-EntityId",
                    format!("{}{API}/accounts({ID})", server.base_url()),
                )
                .json_body(json!({"@odata.etag": "W/\"1\"", "accountid": ID, "telephone1": "555"}));
        })
        .await;
    let c = clock();
    let out = scenario_upsert_alternate_key(&client_for(&server.base_url(), &c)).await;
    m.assert_async().await;
    assert_eq!(out.kind, UpsertKind::Created);
    assert_eq!(out.id, Some(Uuid::parse_str(ID).unwrap()));
    assert_eq!(out.etag.as_deref(), Some("W/\"1\""));
    assert_eq!(out.row.unwrap()["telephone1"], "555");
}

#[tokio::test]
async fn upsert_modes_send_their_preconditions() {
    let server = MockServer::start_async().await;
    let create_only = server
        .mock_async(|when, then| {
            when.method(PATCH).header("if-none-match", "*");
            then.status(412).json_body(json!({"error": {"code": "0x80060892", "message": "A record with matching key values already exists."}}));
        })
        .await;
    let update_only = server
        .mock_async(|when, then| {
            when.method(PATCH).header("if-match", "*");
            then.status(204);
        })
        .await;
    let etag = server
        .mock_async(|when, then| {
            when.method(PATCH).header("if-match", "W/\"7\"");
            then.status(204).header("ETag", "W/\"8\"");
        })
        .await;
    let plain = server
        .mock_async(|when, then| {
            when.method(PATCH);
            then.status(204);
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let key = Key::id(Uuid::from_u128(1));
    let body = json!({"name": "n"});
    let err = client
        .upsert("accounts", &key, &body, UpsertOptions::new().create_only())
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(
        err.service_message(),
        Some("A record with matching key values already exists.")
    );
    let out = client
        .upsert("accounts", &key, &body, UpsertOptions::new().update_only())
        .await
        .unwrap();
    assert_eq!(out.kind, UpsertKind::Updated);
    let out = client
        .upsert(
            "accounts",
            &key,
            &body,
            UpsertOptions::new().if_match("W/\"7\""),
        )
        .await
        .unwrap();
    assert_eq!(out.etag.as_deref(), Some("W/\"8\""));
    let out = client
        .upsert("accounts", &key, &body, UpsertOptions::new())
        .await
        .unwrap();
    assert_eq!(out.kind, UpsertKind::CreatedOrUpdated);
    for m in [create_only, update_only, etag, plain] {
        m.assert_calls_async(1).await;
    }
    // Key columns repeated in the body are refused before anything is sent.
    let err = client
        .upsert(
            "accounts",
            &Key::alternate([("name", "x".into())]),
            &json!({"name": "x"}),
            UpsertOptions::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
}

#[tokio::test]
async fn create_update_get_delete_and_links() {
    let server = MockServer::start_async().await;
    let id = Uuid::parse_str(ID).unwrap();
    let parent = Uuid::from_u128(5);
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!("{API}/botcomponents"))
                .json_body(json!({
                    "name": "topic",
                    "parentbotid@odata.bind": format!("/bots({parent})"),
                }));
            then.status(204).header(
                "OData-EntityId",
                format!("{}{API}/botcomponents({ID})", server.base_url()),
            );
        })
        .await;
    let update = server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(format!("{API}/botcomponents({ID})"))
                .header("if-match", "*");
            then.status(204);
        })
        .await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/botcomponents({ID})"))
                .query_param("$select", "name");
            then.status(200).json_body(json!({"name": "topic"}));
        })
        .await;
    let missing = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{API}/botcomponents({})", Uuid::nil()));
            then.status(404).json_body(json!({"error": {"code": "0x80040217", "message": "botcomponent With Id = 0 Does Not Exist"}}));
        })
        .await;
    let bad_set = server
        .mock_async(|when, then| {
            when.method(GET).path_includes("botcomponentz");
            then.status(404).json_body(json!({"error": {"code": "0x80060888", "message": "Resource not found for the segment 'botcomponentz'."}}));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path(format!("{API}/botcomponents({ID})"));
            then.status(204);
        })
        .await;
    let associate = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(format!(
                    "{API}/botcomponents({ID})/botcomponent_workflow/$ref"
                ))
                .json_body(
                    json!({"@odata.id": format!("{}{API}/workflows({parent})", server.base_url())}),
                );
            then.status(204);
        })
        .await;
    let disassociate = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!(
                "{API}/botcomponents({ID})/botcomponent_workflow({parent})/$ref"
            ));
            then.status(204);
        })
        .await;

    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let (field, value) = odata_bind("parentbotid", "bots", &Key::id(parent)).unwrap();
    let mut body = json!({"name": "topic"});
    body[field] = value;
    assert_eq!(client.create("botcomponents", &body).await.unwrap(), id);
    client
        .update("botcomponents", &Key::id(id), &json!({"name": "t2"}))
        .await
        .unwrap();
    let row: Option<Value> = client
        .get("botcomponents", &Key::id(id), &["name"])
        .await
        .unwrap();
    assert_eq!(row.unwrap()["name"], "topic");
    let none: Option<Value> = client
        .get("botcomponents", &Key::id(Uuid::nil()), &[])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = client
        .get::<Value>("botcomponentz", &Key::id(id), &[])
        .await
        .unwrap_err();
    assert!(err.is_not_found() && err.service_message().unwrap().contains("segment"));
    client.delete("botcomponents", &Key::id(id)).await.unwrap();
    client
        .associate(
            "botcomponents",
            &Key::id(id),
            "botcomponent_workflow",
            "workflows",
            &Key::id(parent),
        )
        .await
        .unwrap();
    client
        .disassociate(
            "botcomponents",
            &Key::id(id),
            "botcomponent_workflow",
            Some(parent),
        )
        .await
        .unwrap();
    for m in [
        create,
        update,
        get,
        missing,
        bad_set,
        delete,
        associate,
        disassociate,
    ] {
        m.assert_calls_async(1).await;
    }
}
