//! The `tenant-emulator serve` binary: prints what a client needs, and serves it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn serve_prints_credentials_that_work() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tenant-emulator"))
        .args([
            "serve",
            "--port",
            "0",
            "--seed",
            "3",
            "--agents",
            "2",
            "--transcripts",
            "4",
        ])
        .args(["--ingestion-token", "akto-jwt", "--request-limit", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut vars = HashMap::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some((k, v)) = line.split_once('=') {
            vars.insert(k.to_owned(), v.to_owned());
            if k == "DATA_INGESTION_SERVICE_URL" {
                break;
            }
        }
    }
    let env = &vars["DATAVERSE_ENVIRONMENT_URL"];
    assert!(env.starts_with("http://127.0.0.1:"));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "client_credentials"),
            ("client_id", vars["DATAVERSE_CLIENT_ID"].as_str()),
            ("client_secret", vars["DATAVERSE_CLIENT_SECRET"].as_str()),
            ("scope", &format!("{env}/.default")),
        ])
        .finish();
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        vars["AZURE_AUTHORITY_HOST"], vars["DATAVERSE_TENANT_ID"]
    );
    let token: Value = http
        .post(token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page: Value = http
        .get(format!(
            "{env}/api/data/v9.1/conversationtranscripts?$select=name"
        ))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["value"].as_array().unwrap().len(), 4);
    let ingest = http
        .post(format!(
            "{}/api/ingestData",
            vars["DATA_INGESTION_SERVICE_URL"]
        ))
        .header("authorization", "akto-jwt")
        .body(r#"{"batchData":[{"path":"/x"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ingest.status(), 200);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_flags_fail_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_tenant-emulator"))
        .args(["serve", "--port", "0", "--fault-targets", "nowhere"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown fault target 'nowhere'"),
        "{stderr}"
    );
}
