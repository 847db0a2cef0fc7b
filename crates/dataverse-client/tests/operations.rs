//! One operation description for single calls and `$batch`, typed row columns and GUID lookups,
//! through the in-process mock transport (no sockets).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use client_core::mock::{MockTransport, reply};
use client_core::{AccessToken, StaticTokenCredential};
use dataverse_client::{
    Batch, BatchMode, DataverseClient, Error, Filter, Key, Query, Table, UpsertOptions,
};
use futures::TryStreamExt;
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

fn client(mock: &Arc<MockTransport>) -> DataverseClient {
    let token = AccessToken::new(
        "t",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    DataverseClient::builder(
        "https://org.crm.dynamics.com",
        StaticTokenCredential::new(token),
    )
    .unwrap()
    .transport(mock.clone())
    .build()
    .unwrap()
}

fn refusal(r: Result<impl std::fmt::Debug, Error>) -> Option<String> {
    match r {
        Err(Error::InvalidInput(e)) => Some(e.message().to_owned()),
        _ => None,
    }
}

#[tokio::test]
async fn a_batch_update_refuses_exactly_what_a_single_update_refuses() {
    let id = Key::id(Uuid::from_u128(1));
    let alt = Key::alternate([("accountnumber", "A-1".into())]);
    let empty_alt = Key::alternate(Vec::<(String, dataverse_client::FilterValue)>::new());
    let cases: Vec<(&str, &str, Key, serde_json::Value)> = vec![
        ("valid", "accounts", id.clone(), json!({"name": "x"})),
        (
            "valid alternate key",
            "accounts",
            alt.clone(),
            json!({"name": "x"}),
        ),
        ("array body", "accounts", id.clone(), json!([1, 2])),
        ("string body", "accounts", id.clone(), json!("name")),
        (
            "repeats the key column",
            "accounts",
            alt.clone(),
            json!({"accountnumber": "A-1"}),
        ),
        (
            "bad entity set",
            "accounts?x=1",
            id.clone(),
            json!({"name": "x"}),
        ),
        (
            "empty alternate key",
            "accounts",
            empty_alt,
            json!({"name": "x"}),
        ),
    ];
    for (name, set, key, body) in cases {
        // Answers every request, so a refusal can only come from the checks.
        let mock = Arc::new(MockTransport::new(|_| reply(204, "").into()));
        let c = client(&mock);
        let single = refusal(c.update(set, &key, &body).await);
        let sent_single = mock.request_count();
        let mut batch = Batch::new();
        batch.update(set, &key, &body);
        let batched = refusal(c.batch(batch, BatchMode::StopOnError).await);
        let mut cs_batch = Batch::new();
        cs_batch.change_set().update(set, &key, &body);
        let in_change_set = refusal(c.batch(cs_batch, BatchMode::StopOnError).await);
        let upsert = refusal(c.upsert(set, &key, &body, UpsertOptions::new()).await);
        assert_eq!(single, batched, "{name}: single and batch disagree");
        assert_eq!(
            single, in_change_set,
            "{name}: single and change set disagree"
        );
        assert_eq!(
            single.is_some(),
            upsert.is_some(),
            "{name}: update and upsert disagree"
        );
        // A refused update sends nothing; an accepted one is sent.
        assert_eq!(sent_single, usize::from(single.is_none()), "{name}");
    }
}

#[tokio::test]
async fn writes_accept_any_serialisable_row() {
    #[derive(serde::Serialize)]
    struct Account<'a> {
        name: &'a str,
        revenue: u32,
    }
    let mock = Arc::new(MockTransport::new(|_| reply(204, "").into()));
    client(&mock)
        .update(
            "accounts",
            &Key::id(Uuid::nil()),
            &Account {
                name: "Contoso",
                revenue: 7,
            },
        )
        .await
        .unwrap();
    let sent = &mock.requests()[0];
    assert_eq!(sent.body().as_ref(), br#"{"name":"Contoso","revenue":7}"#);
    assert_eq!(sent.header("if-match"), Some("*"));
}

#[derive(Debug, serde::Deserialize)]
struct Component {
    name: Option<String>,
    data: Option<String>,
}

impl Table for Component {
    const ENTITY_SET: &'static str = "botcomponents";
    const COLUMNS: &'static [&'static str] = &["name", "data"];
}

#[tokio::test]
async fn a_row_without_a_declared_column_is_an_error_naming_it() {
    let mock = Arc::new(MockTransport::script([
        reply(200, r#"{"value":[{"name":"a","data":null}]}"#).into(),
        reply(200, r#"{"value":[{"name":"b"}]}"#).into(),
        reply(200, r#"{"value":[{"name":"b"}]}"#).into(),
    ]));
    let c = client(&mock);
    let q = Query::of::<Component>();
    // Present but null is fine: the column was selected and is empty.
    let rows: Vec<Component> = c.rows_of(&q).try_collect().await.unwrap();
    assert_eq!(
        (rows[0].name.as_deref(), rows[0].data.as_deref()),
        (Some("a"), None)
    );
    assert!(mock.requests()[0].url().contains("$select=name,data"));
    for err in [
        c.rows_of::<Component>(&q)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err(),
        c.raw_pages_of::<Component>(&q)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::MissingColumn(m) if m.column() == "data" && m.entity_set() == "botcomponents"),
            "{err}"
        );
        assert!(err.to_string().contains("`data`") && err.to_string().contains("$select"));
    }
}

#[tokio::test]
async fn a_string_bot_id_in_a_lookup_filter_is_sent_as_a_guid_literal() {
    let mock = Arc::new(MockTransport::new(|_| reply(200, r#"{"value":[]}"#).into()));
    let c = client(&mock);
    let bot = "{0A1B2C3D-0000-0000-0000-00000000000F}";
    for q in [
        Query::new("conversationtranscripts")
            .filter(Filter::lookup("_bot_conversationtranscriptid_value", bot)),
        Query::new("conversationtranscripts").filter(Filter::lookup(
            "_bot_conversationtranscriptid_value",
            Uuid::parse_str(bot).unwrap(),
        )),
    ] {
        let _: Vec<serde_json::Value> = c.rows(&q).try_collect().await.unwrap();
    }
    let urls: Vec<String> = mock.requests().iter().map(|r| r.url().to_owned()).collect();
    for url in &urls {
        assert!(
            url.contains("$filter=_bot_conversationtranscriptid_value%20eq%200a1b2c3d-0000-0000-0000-00000000000f"),
            "{url}"
        );
        assert!(!url.contains("%27"), "quoted: {url}");
    }
    // Text that is no GUID never reaches the service.
    let q = Query::new("bots").filter(Filter::lookup("botid", "Helpdesk"));
    let err = c
        .rows::<serde_json::Value>(&q)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test]
async fn raw_pages_hand_over_the_bytes_and_the_next_link() {
    let first = r#"{"value":[{"name":"a","data":"x"}],"@odata.nextLink":"https://org.crm.dynamics.com/api/data/v9.2/botcomponents?$skiptoken=2"}"#;
    let mock = Arc::new(MockTransport::script([
        reply(200, first).into(),
        reply(200, r#"{"value":[]}"#).into(),
    ]));
    let pages: Vec<_> = client(&mock)
        .raw_pages_of::<Component>(&Query::of::<Component>())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].body.as_ref(), first.as_bytes());
    assert_eq!(pages[0].rows, 1);
    assert!(
        pages[0]
            .next_link
            .as_ref()
            .unwrap()
            .as_str()
            .ends_with("$skiptoken=2")
    );
    assert!(pages[1].next_link.is_none());
}
