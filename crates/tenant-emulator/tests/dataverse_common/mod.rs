//! Shared helpers of the Dataverse engine tests: an engine served on an ephemeral loopback port
//! and a plain HTTP client. Requests are written from the documented wire format.

#![allow(dead_code, unreachable_pub)]

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};
use tenant_emulator::dataverse::{Dataverse, DataverseConfig};

pub struct Server {
    /// `http://127.0.0.1:PORT/api/data/v9.2`
    pub base: String,
    pub dataverse: Dataverse,
    pub client: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error body's `(code, message)`, asserting the documented shape.
    pub fn error(&self) -> (String, String) {
        let body = self.json();
        let err = body
            .get("error")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("no error object: {}", self.text));
        assert_eq!(
            err.len(),
            2,
            "error has exactly code and message: {}",
            self.text
        );
        (
            err["code"].as_str().unwrap().to_owned(),
            err["message"].as_str().unwrap().to_owned(),
        )
    }
}

pub async fn start(dataverse: Dataverse) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = dataverse.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server {
        base: format!("http://{addr}/api/data/v9.2"),
        dataverse,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

pub async fn start_default() -> Server {
    start(Dataverse::new(DataverseConfig::default())).await
}

impl Server {
    /// `path` is relative to the service root (`bots?$select=name`) or an absolute URL.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/{path}", self.base)
        };
        let mut req = self
            .client
            .request(method, &url)
            .header("Accept", "application/json")
            .header("OData-MaxVersion", "4.0")
            .header("OData-Version", "4.0");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                req = req.header("Content-Type", "application/json");
            }
            req = req.body(body);
        }
        let resp = req.send().await.unwrap();
        Reply {
            status: resp.status(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, None).await
    }

    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.send(Method::POST, path, headers, Some(body.to_string()))
            .await
    }

    pub async fn patch(&self, path: &str, headers: &[(&str, &str)], body: Value) -> Reply {
        self.send(Method::PATCH, path, headers, Some(body.to_string()))
            .await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::DELETE, path, headers, None).await
    }

    pub fn seed(&self, set: &str, rows: impl IntoIterator<Item = Value>) {
        self.dataverse
            .insert_rows(set, rows.into_iter().map(object))
            .unwrap();
    }
}

pub fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A GUID whose last 12 digits are `n` (so GUID order is `n` order).
pub fn guid(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// The values of `column` in a collection response.
pub fn column(body: &Value, name: &str) -> Vec<Value> {
    body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[name].clone())
        .collect()
}

/// The 11 real transcript rows.
pub fn real_transcripts() -> Vec<Value> {
    let text = include_str!("../fixtures/dataverse/conversationtranscripts.json");
    serde_json::from_str(text).unwrap()
}
