//! ChainedTokenCredential: skips what is not configured, stops on real failures, reports
//! every attempt, sticks with the first that works.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, StaticTokenCredential, TokenCredential,
    async_trait,
};
use entra_auth::{
    ChainError, ChainedTokenCredential, CredentialOptions, Env, EnvironmentCredential,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const SCOPE: &str = "https://graph.microsoft.com/.default";

#[derive(Debug)]
struct Fails {
    kind: CredentialErrorKind,
    calls: AtomicUsize,
}

impl Fails {
    fn new(kind: CredentialErrorKind) -> Arc<Self> {
        Arc::new(Self {
            kind,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl TokenCredential for Fails {
    async fn get_token(&self, _: &[&str]) -> Result<AccessToken, CredentialError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(CredentialError::new(self.kind, format!("{:?} failure", self.kind)).with_hint("fix me"))
    }
}

/// Always succeeds, counting calls.
#[derive(Debug)]
struct Works {
    calls: AtomicUsize,
}

#[async_trait]
impl TokenCredential for Works {
    async fn get_token(&self, _: &[&str]) -> Result<AccessToken, CredentialError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(
            "tok",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}

#[tokio::test]
async fn moves_on_only_when_not_configured_and_then_sticks() {
    let skipped = Fails::new(CredentialErrorKind::NotConfigured);
    let works = Arc::new(Works {
        calls: AtomicUsize::new(0),
    });
    let never = Fails::new(CredentialErrorKind::Rejected);
    let chain = ChainedTokenCredential::new()
        .with_named("first", skipped.clone())
        .with_named("second", works.clone())
        .with_named("third", never.clone());
    assert_eq!(chain.selected(), None);
    chain.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(chain.selected(), Some("second"));
    chain.get_token(&[SCOPE]).await.unwrap();
    // The skipped one is not asked again once the chain has settled.
    assert_eq!(skipped.calls.load(Ordering::SeqCst), 1);
    assert_eq!(works.calls.load(Ordering::SeqCst), 2);
    assert_eq!(never.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_configured_credential_that_fails_stops_the_chain() {
    let rejected = Fails::new(CredentialErrorKind::Rejected);
    let works = Arc::new(Works {
        calls: AtomicUsize::new(0),
    });
    let chain = ChainedTokenCredential::new()
        .with_named("broken", rejected.clone())
        .with_named("fallback", works.clone());
    let e = chain.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::Rejected);
    assert_eq!(e.hint(), Some("fix me"));
    assert_eq!(works.calls.load(Ordering::SeqCst), 0);
    assert_eq!(chain.selected(), None);
}

#[tokio::test]
async fn reports_every_attempt_when_none_is_configured() {
    let chain = ChainedTokenCredential::new()
        .with(EnvironmentCredential::from_env(
            &Env::default(),
            CredentialOptions::default(),
        ))
        .with_named(
            "managed identity",
            Fails::new(CredentialErrorKind::NotConfigured),
        );
    let e = chain.get_token(&[SCOPE]).await.unwrap_err();
    assert_eq!(e.kind(), CredentialErrorKind::NotConfigured);
    let text = e.to_string();
    assert!(
        text.contains("EnvironmentCredential: the environment does not configure"),
        "{text}"
    );
    assert!(
        text.contains("managed identity: NotConfigured failure"),
        "{text}"
    );
    let all = e.downcast_ref::<ChainError>().unwrap();
    let names: Vec<&str> = all.attempts().iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["EnvironmentCredential", "managed identity"]);

    let empty = ChainedTokenCredential::new()
        .get_token(&[SCOPE])
        .await
        .unwrap_err();
    assert!(empty.to_string().contains("empty"));
}

#[tokio::test]
async fn type_names_are_short() {
    let chain = ChainedTokenCredential::new().with(StaticTokenCredential::new(AccessToken::new(
        "secret-token-value",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    )));
    chain.get_token(&[SCOPE]).await.unwrap();
    assert_eq!(chain.selected(), Some("StaticTokenCredential"));
    assert!(!format!("{chain:?}").contains("secret-token-value"));
}
