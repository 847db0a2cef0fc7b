//! The per-client concurrency limit, observed by a server that holds every request.
//!
//! Tokio's clock is paused: the server's hold is a timer that fires only once every task is
//! idle, that is once the client has sent all it is allowed to. Nothing sleeps for real.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{TOKEN, clock};
use dataverse_client::{DEFAULT_MAX_CONCURRENCY, DataverseClient};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WHO_AM_I: &str = r#"{"UserId":"00000000-0000-0000-0000-000000000001","BusinessUnitId":"00000000-0000-0000-0000-000000000002","OrganizationId":"00000000-0000-0000-0000-000000000003"}"#;

#[derive(Default)]
struct Counts {
    in_flight: AtomicUsize,
    max: AtomicUsize,
    served: AtomicUsize,
}

/// A keep-alive HTTP/1.1 server answering every request with WhoAmI after holding it 1 s.
async fn holding_server(counts: Arc<Counts>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let counts = counts.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // One GET per exchange: read up to the blank line.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    assert!(head.contains(&format!("authorization: bearer {TOKEN}")));
                    buf.drain(..end);
                    let now = counts.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    counts.max.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    counts.in_flight.fetch_sub(1, Ordering::SeqCst);
                    counts.served.fetch_add(1, Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{WHO_AM_I}",
                        WHO_AM_I.len()
                    );
                    if socket.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

async fn max_in_flight(build: impl FnOnce(&str) -> DataverseClient) -> usize {
    let counts = Arc::new(Counts::default());
    let url = holding_server(counts.clone()).await;
    let client = build(&url);
    let calls = (0..30).map(|_| client.who_am_i());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(counts.served.load(Ordering::SeqCst), 30);
    counts.max.load(Ordering::SeqCst)
}

#[tokio::test(start_paused = true)]
async fn requests_in_flight_stay_at_the_default_limit_well_below_52() {
    let c = clock();
    let max = max_in_flight(|url| common::client_for(url, &c)).await;
    assert_eq!(max, DEFAULT_MAX_CONCURRENCY);
    const { assert!(DEFAULT_MAX_CONCURRENCY <= 16) };
}

#[tokio::test(start_paused = true)]
async fn the_builder_sets_the_limit() {
    let c = clock();
    let max = max_in_flight(|url| {
        DataverseClient::builder(
            url,
            Arc::new(client_core::StaticTokenCredential::new(
                client_core::AccessToken::new(TOKEN, time::macros::datetime!(2030-01-01 0:00 UTC)),
            )),
        )
        .unwrap()
        .max_concurrency(3)
        .clock(Arc::new(c.clone()))
        .build()
        .unwrap()
    })
    .await;
    assert_eq!(max, 3);
}
