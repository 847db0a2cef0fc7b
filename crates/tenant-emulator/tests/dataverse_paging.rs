//! Paging over plain HTTP: `Prefer: odata.maxpagesize`, `Preference-Applied`, absolute
//! `@odata.nextLink` with an opaque `$skiptoken`, and refusal of damaged skiptokens.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use std::time::Instant;

use dataverse_common::{Server, column, guid, start_default};
use percent_encoding::percent_decode_str;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn components(n: u64) -> impl Iterator<Item = Value> {
    (0..n).map(|i| {
        json!({
            "botcomponentid": guid(i),
            "name": format!("Topic {}", i % 7),
            "componenttype": i % 3,
            "createdon": format!("2024-09-{:02}T10:00:00Z", 1 + i % 28),
        })
    })
}

/// Follows next links from `first` and returns every page.
async fn all_pages(server: &Server, first: &str, prefer: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut url = first.to_owned();
    loop {
        let reply = server.get(&url, &[("Prefer", prefer)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.text);
        let body = reply.json();
        let next = body
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_owned);
        pages.push(body);
        match next {
            Some(n) => url = n,
            None => return pages,
        }
        assert!(pages.len() < 1000, "paging does not end");
    }
}

#[tokio::test]
async fn maxpagesize_pages_in_key_order_with_absolute_next_links() {
    let server = start_default().await;
    server.seed("botcomponents", components(23));
    let reply = server
        .get(
            "botcomponents?$select=name",
            &[("Prefer", "odata.maxpagesize=5")],
        )
        .await;
    assert_eq!(
        reply.header("Preference-Applied"),
        Some("odata.maxpagesize=5")
    );
    let body = reply.json();
    assert_eq!(body["value"].as_array().unwrap().len(), 5);
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!(
            "{}/botcomponents?$select=name&$skiptoken=",
            server.base
        )),
        "{next}"
    );
    // The skiptoken is a URL-encoded paging cookie, like the real one.
    let token = next.split("$skiptoken=").nth(1).unwrap();
    let cookie = percent_decode_str(token).decode_utf8().unwrap();
    assert!(
        cookie.starts_with("<cookie pagenumber=\"2\" pagingcookie=\""),
        "{cookie}"
    );

    let pages = all_pages(&server, "botcomponents?$select=name", "odata.maxpagesize=5").await;
    assert_eq!(pages.len(), 5);
    let ids: Vec<Value> = pages
        .iter()
        .flat_map(|p| column(p, "botcomponentid"))
        .collect();
    assert_eq!(ids, (0..23).map(|i| json!(guid(i))).collect::<Vec<_>>());
    assert!(pages.last().unwrap().get("@odata.nextLink").is_none());
}

#[tokio::test]
async fn ordered_filtered_paging_matches_the_unpaged_result() {
    let server = start_default().await;
    server.seed("botcomponents", components(40));
    let query = "botcomponents?$select=name,createdon&$filter=componenttype ne 1&$orderby=name desc,createdon asc";
    let whole = server.get(query, &[]).await.json();
    let expected = column(&whole, "botcomponentid");
    assert_eq!(expected.len(), 27);
    let pages = all_pages(&server, query, "odata.maxpagesize=4").await;
    assert_eq!(pages.len(), 7);
    let paged: Vec<Value> = pages
        .iter()
        .flat_map(|p| column(p, "botcomponentid"))
        .collect();
    assert_eq!(paged, expected);
}

#[tokio::test]
async fn writes_between_pages_neither_repeat_nor_skip_rows() {
    let server = start_default().await;
    server.seed(
        "botcomponents",
        (10..20).map(|i| json!({"botcomponentid": guid(i), "name": "x"})),
    );
    let first = server
        .get(
            "botcomponents?$select=name",
            &[("Prefer", "odata.maxpagesize=4")],
        )
        .await
        .json();
    // A row before the cursor and one after it.
    server.seed(
        "botcomponents",
        [
            json!({"botcomponentid": guid(1), "name": "x"}),
            json!({"botcomponentid": guid(30), "name": "x"}),
        ],
    );
    let rest = all_pages(
        &server,
        first["@odata.nextLink"].as_str().unwrap(),
        "odata.maxpagesize=4",
    )
    .await;
    let mut ids: Vec<Value> = column(&first, "botcomponentid");
    ids.extend(rest.iter().flat_map(|p| column(p, "botcomponentid")));
    let mut expected: Vec<Value> = (10..20).map(|i| json!(guid(i))).collect();
    expected.push(json!(guid(30)));
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn top_without_page_size_limits_and_is_ignored_with_it() {
    let server = start_default().await;
    server.seed("botcomponents", components(12));
    let top = server
        .get("botcomponents?$select=name&$top=3", &[])
        .await
        .json();
    assert_eq!(top["value"].as_array().unwrap().len(), 3);
    assert!(top.get("@odata.nextLink").is_none());
    let paged = server
        .get(
            "botcomponents?$select=name&$top=3",
            &[("Prefer", "odata.maxpagesize=5")],
        )
        .await
        .json();
    assert_eq!(paged["value"].as_array().unwrap().len(), 5);
    assert!(paged.get("@odata.nextLink").is_some());
}

#[tokio::test]
async fn damaged_or_foreign_skiptokens_are_400() {
    let server = start_default().await;
    server.seed("botcomponents", components(12));
    let ordered = server
        .get(
            "botcomponents?$select=name&$orderby=name",
            &[("Prefer", "odata.maxpagesize=5")],
        )
        .await
        .json();
    let next = ordered["@odata.nextLink"].as_str().unwrap();
    let token = next.split("$skiptoken=").nth(1).unwrap();
    for path in [
        "botcomponents?$select=name&$skiptoken=garbage".to_owned(),
        "botcomponents?$select=name&$skiptoken=%3Ccookie%20pagenumber%3D%222%22%20%2F%3E"
            .to_owned(),
        format!(
            "botcomponents?$select=name&$skiptoken={}",
            &token[..token.len() / 2]
        ),
        // A cookie of an ordered query used on an unordered one.
        format!("botcomponents?$select=name&$skiptoken={token}"),
    ] {
        let reply = server.get(&path, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
        let (code, message) = reply.error();
        assert_eq!(code, "0x80040203");
        assert!(message.contains("$skiptoken"));
    }
}

#[tokio::test]
async fn default_page_is_5000_and_fast() {
    let server = start_default().await;
    server.seed(
        "conversationtranscripts",
        (0..12_000u64).map(|i| {
            json!({
                "conversationtranscriptid": guid(i),
                "name": format!("{}_{}", guid(i + 1_000_000), guid(7)),
                "metadata": "{\"BotId\":\"4b57a07a-d1cf-06b6-3ebc-97dababcdbf0\",\"BotName\":\"cr3e5_testCopilot\"}",
                "conversationstarttime": "2024-09-09T18:04:50Z",
                "schematype": "powervirtualagents",
                "schemaversion": "0.2.1",
                "_bot_conversationtranscriptid_value": guid(7),
            })
        }),
    );
    let started = Instant::now();
    let reply = server.get("conversationtranscripts", &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("Preference-Applied").is_none());
    let body = reply.json();
    assert_eq!(body["value"].as_array().unwrap().len(), 5000);
    assert!(body["@odata.nextLink"].is_string());
    assert!(elapsed.as_secs_f64() < 5.0, "first page took {elapsed:?}");
    // An oversized page size is capped at 5000.
    let capped = server
        .get(
            "conversationtranscripts?$select=name",
            &[("Prefer", "odata.maxpagesize=9000")],
        )
        .await;
    assert_eq!(
        capped.header("Preference-Applied"),
        Some("odata.maxpagesize=5000")
    );
    assert_eq!(capped.json()["value"].as_array().unwrap().len(), 5000);
}
