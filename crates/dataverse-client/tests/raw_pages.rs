//! Raw pages fetched by the client and paired by `transcript_model::page_to_records` give
//! exactly the records of the typed path (rows decoded one by one, then paired), on real
//! `conversationtranscript` rows served as two pages.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock, raw_uri};
use dataverse_client::DataverseClient;
use futures::TryStreamExt;
use httpmock::prelude::*;
use serde_json::{Value, json};
use transcript_model::{AktoConfig, AktoRecord, BotIdentity, Transcript};

/// A real export of `conversationtranscripts` rows (transcript-model's golden input).
const ROWS: &[u8] =
    include_bytes!("../../transcript-model/tests/fixtures/slg-conversationtranscripts.json");

const API: &str = "/api/data/v9.2";

fn config() -> AktoConfig {
    AktoConfig::new(
        "1000000",
        "0",
        "Default-426a6ef4-2476-4eab-ae1c-1c9dc2bfca80",
    )
    .with_bot(
        "4D4799B8-D46E-EF11-A670-001DD804EDD8",
        BotIdentity::new("Test Copilot", "cr3e5_testCopilot"),
    )
}

/// Serves the fixture's rows as two pages of `conversationtranscripts` (split at `split`).
async fn serve(server: &MockServer, split: usize) -> usize {
    let rows: Vec<Value> = serde_json::from_slice(ROWS).unwrap();
    let (first, second) = rows.split_at(split);
    let next = server.url(format!("{API}/conversationtranscripts?$skiptoken=page2"));
    server
        .mock_async(|when, then| {
            when.method(GET).is_true(raw_uri(format!(
                "{API}/conversationtranscripts?$skiptoken=page2"
            )));
            then.status(200).json_body(json!({ "value": second }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/conversationtranscripts"))
                .query_param_missing("$skiptoken");
            then.status(200)
                .json_body(json!({ "value": first, "@odata.nextLink": next }));
        })
        .await;
    rows.len()
}

fn query(client: &DataverseClient) -> dataverse_client::Query {
    client
        .query("conversationtranscripts")
        .select(Transcript::COLUMNS.iter().copied())
}

#[tokio::test]
async fn raw_pages_paired_by_transcript_model_equal_the_typed_path() {
    let server = MockServer::start_async().await;
    let total = serve(&server, 5).await;
    let clock = clock();
    let client = client_for(&server.base_url(), &clock);
    let config = config();

    // Typed: rows decoded by the client, each made a transcript and paired.
    let rows: Vec<Value> = client.rows(&query(&client)).try_collect().await.unwrap();
    assert_eq!(rows.len(), total);
    let typed: Vec<Vec<AktoRecord>> = rows
        .iter()
        .map(|row| {
            let t = Transcript::from_value(row).unwrap();
            config.records(&t.pair())
        })
        .collect();

    // Raw: the page bytes as the service sent them, paired in one pass per page.
    let pages: Vec<_> = client
        .raw_pages(&query(&client))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].rows, 5);
    assert!(pages[0].next_link.is_some() && pages[1].next_link.is_none());
    let raw: Vec<Vec<AktoRecord>> = pages
        .iter()
        .flat_map(|page| config.page_to_records(&page.body).unwrap())
        .map(Result::unwrap)
        .collect();

    assert_eq!(raw, typed);
    let pairs: usize = raw.iter().map(Vec::len).sum();
    assert!(
        pairs > total,
        "the fixture pairs into more records than rows: {pairs}"
    );
}
