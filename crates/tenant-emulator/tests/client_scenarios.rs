//! The `dataverse-client` scenarios (shared with its httpmock tests) against the emulator, end
//! to end: `entra-auth`'s `ClientSecretCredential` gets a token from the emulator's Entra token
//! endpoint, and `dataverse-client` uses it against the emulator's Dataverse Web API, behind
//! its token checks, privileges and service protection. Client and emulator are thereby held
//! to the same documented behaviour (docs/wire/dataverse.md).
//!
//! One clock drives everything: the client's retry waits, the credential's token expiry and the
//! emulator's "now" (throttling window, delta token retention). It never sleeps for real.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../dataverse-client/tests/scenarios/mod.rs"]
mod scenarios;

use std::sync::Arc;
use std::time::Duration;

use dataverse_client::{BatchMode, DataverseClient};
use entra_auth::{ClientSecretCredential, CredentialOptions};
use scenarios::{COLUMNS, Kind};
use serde_json::Value;
use tenant_emulator::clock::Sleep;
use tenant_emulator::dataverse::{ColumnDef, ColumnKind, EntitySetDef};
use tenant_emulator::entra::{AppRegistration, ClientSecret, DataverseAccess};
use tenant_emulator::throttle::ServiceProtectionLimits;
use tenant_emulator::{Emulator, EmulatorBuilder, RunningEmulator};
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// The emulator's time is the client's manual clock: when the client waits out a
/// `Retry-After`, the emulator's throttling window moves by as much.
struct Linked(client_core::ManualClock);

impl tenant_emulator::clock::Clock for Linked {
    fn now(&self) -> OffsetDateTime {
        client_core::Clock::now(&self.0)
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        // Injected latency (unused here) passes as time, never as real waiting.
        self.0.advance(duration);
        Box::pin(std::future::ready(()))
    }
}

struct Env {
    emulator: RunningEmulator,
    clock: client_core::ManualClock,
    /// The connector app, over-privileged so the scenarios can write.
    client: DataverseClient,
}

/// A client for an app registered in the emulator: a client secret credential against the
/// emulator's token endpoint, and the emulator's environment URL.
fn client_for_app(
    emulator: &RunningEmulator,
    clock: &client_core::ManualClock,
    client_id: Uuid,
    secret: &str,
) -> DataverseClient {
    client_builder(emulator, clock, client_id, secret)
        .build()
        .unwrap()
}

fn client_builder(
    emulator: &RunningEmulator,
    clock: &client_core::ManualClock,
    client_id: Uuid,
    secret: &str,
) -> dataverse_client::DataverseClientBuilder {
    let options = CredentialOptions::default()
        .with_authority_host(url::Url::parse(emulator.authority_host()).unwrap())
        .with_clock(Arc::new(clock.clone()));
    let credential = ClientSecretCredential::new(
        emulator.credentials().tenant_id.to_string(),
        client_id.to_string(),
        secret.to_owned(),
        options,
    )
    .unwrap();
    DataverseClient::builder(emulator.environment_url(), Arc::new(credential))
        .unwrap()
        .clock(Arc::new(clock.clone()))
}

/// The scenario table, declared at run time as the inventory tables are.
fn scenario_set() -> EntitySetDef {
    EntitySetDef::new(scenarios::SET, scenarios::LOGICAL, scenarios::PK)
        .primary_name(scenarios::NAME)
        .columns(COLUMNS.iter().map(|(name, kind)| {
            let kind = match kind {
                Kind::String => ColumnKind::String,
                Kind::Integer => ColumnKind::Integer,
                Kind::Guid => ColumnKind::Uniqueidentifier,
                Kind::Boolean => ColumnKind::Boolean,
                Kind::DateTime => ColumnKind::DateTime,
            };
            ColumnDef::new(*name, kind)
        }))
        .with_system_columns()
        .alternate_key(scenarios::ALTERNATE_KEY)
}

async fn start_with(configure: impl FnOnce(EmulatorBuilder) -> EmulatorBuilder) -> Env {
    let clock = client_core::ManualClock::new(datetime!(2026-03-01 12:00 UTC));
    let builder = Emulator::builder()
        .seed(11)
        .agents(2)
        .transcripts(0)
        .clock(Arc::new(Linked(clock.clone())))
        .connector_access(DataverseAccess::OverPrivileged);
    let emulator = configure(builder).start().await.unwrap();
    let dataverse = emulator.dataverse();
    dataverse.declare_entity_set(scenario_set()).unwrap();
    dataverse
        .insert_rows(
            scenarios::SET,
            scenarios::seed_rows().into_iter().map(|row| match row {
                Value::Object(map) => map,
                other => panic!("not a row: {other}"),
            }),
        )
        .unwrap();
    let creds = emulator.credentials().clone();
    let client = client_for_app(&emulator, &clock, creds.client_id, &creds.client_secret);
    Env {
        emulator,
        clock,
        client,
    }
}

async fn start() -> Env {
    start_with(|b| b).await
}

#[tokio::test]
async fn paging_and_typed_filters() {
    let env = start().await;
    scenarios::paging(&env.client).await;
    scenarios::filter_literals(&env.client).await;
}

/// Values holding URL and OData metacharacters go through an alternate key (URL path), a body
/// and a `$filter` (query string) and come back as they were: neither end lets a value change
/// the request's structure.
#[tokio::test]
async fn values_with_url_metacharacters_survive_keys_bodies_and_filters() {
    use dataverse_client::{Filter, Key, UpsertOptions};
    use futures::TryStreamExt;
    let env = start().await;
    let client = &env.client;
    let values = [
        "a&b=c",
        "x#y",
        "1+1 = 2",
        "100% sure",
        "%27 is a quote",
        "it's ''doubled''",
        "q?x=1",
        "path/seg\\back",
        "semi;colon, comma (paren)",
        "tab\tnew\nline",
        "ünïcödé 😀",
        "') or (1 eq 1",
    ];
    for (i, v) in values.iter().enumerate() {
        let revision = 100 + i32::try_from(i).unwrap();
        let key = Key::alternate([("cr_name", (*v).into()), ("cr_revision", revision.into())]);
        client
            .upsert(
                scenarios::SET,
                &key,
                &serde_json::json!({"cr_environment": v}),
                UpsertOptions::new().create_only(),
            )
            .await
            .unwrap_or_else(|e| panic!("{v:?}: {e}"));
        let row: Value = client
            .get(scenarios::SET, &key, &["cr_name", "cr_environment"])
            .await
            .unwrap_or_else(|e| panic!("{v:?}: {e}"))
            .unwrap_or_else(|| panic!("{v:?}: not found by its key"));
        assert_eq!(row["cr_name"], *v);
        assert_eq!(row["cr_environment"], *v);
    }
    for v in values {
        for filter in [
            Filter::eq("cr_environment", v),
            Filter::eq("cr_name", v).and(Filter::contains("cr_environment", v)),
            Filter::starts_with("cr_name", v).and(Filter::ends_with("cr_environment", v)),
        ] {
            let q = client
                .query(scenarios::SET)
                .select(["cr_name"])
                .filter(filter);
            let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
            let names: Vec<&str> = rows.iter().filter_map(|r| r["cr_name"].as_str()).collect();
            assert_eq!(names, [v], "{v:?}");
        }
    }
}

#[tokio::test]
async fn delta_cycle() {
    let env = start().await;
    scenarios::delta_cycle(&env.client).await;
    // The writes went through the client and are what the store holds.
    let dataverse = env.emulator.dataverse();
    assert!(
        dataverse
            .row(scenarios::SET, scenarios::row_id(2))
            .is_none()
    );
    assert_eq!(
        dataverse.row(scenarios::SET, scenarios::row_id(1)).unwrap()["cr_name"],
        "hotel (renamed)"
    );
}

#[tokio::test]
async fn delta_cycle_with_pages_inside_the_delta_responses() {
    let env = start().await;
    let creds = env.emulator.credentials().clone();
    // Three rows a page: the initial sync spans three pages before its delta link.
    let client = client_builder(
        &env.emulator,
        &env.clock,
        creds.client_id,
        &creds.client_secret,
    )
    .page_size(3)
    .build()
    .unwrap();
    scenarios::delta_cycle(&client).await;
}

#[tokio::test]
async fn expired_delta_token_after_the_retention_period() {
    let env = start().await;
    // ExpireChangeTrackingInDays defaults to 7: eight days later the token is stale. The
    // access token (one hour) expires too, so the credential fetches a new one on the way.
    let clock = env.clock.clone();
    let err = scenarios::expired_delta_token(&env.client, move || {
        clock.advance(Duration::from_secs(8 * 24 * 3600));
    })
    .await;
    assert_eq!(err.service_code(), Some("0x80044352"));
    assert_eq!(
        err.service_message(),
        Some("Version stamp associated with the client has expired. Please perform a full sync.")
    );
}

#[tokio::test]
async fn expired_delta_token_when_the_emulator_expires_them() {
    let env = start().await;
    let dataverse = env.emulator.dataverse().clone();
    scenarios::expired_delta_token(&env.client, move || {
        dataverse.expire_change_tracking_tokens();
    })
    .await;
}

#[tokio::test]
async fn upserts_by_alternate_key_and_their_preconditions() {
    let env = start().await;
    let id = scenarios::upsert_alternate_key(&env.client).await;
    // The quote arrived as one quote: the key value is stored as given.
    let row = env.emulator.dataverse().row(scenarios::SET, id).unwrap();
    assert_eq!(row["cr_name"], "O'Brien & Sons/EU");
    assert_eq!(row["cr_revision"], 42);
    scenarios::create_only_and_update_only(&env.client).await;
}

#[tokio::test]
async fn batch_with_a_failing_change_set_stops_by_default() {
    let env = start().await;
    scenarios::batch_with_failing_change_set(&env.client, BatchMode::StopOnError).await;
    scenarios::batch_effects(&env.client, BatchMode::StopOnError).await;
}

#[tokio::test]
async fn batch_with_a_failing_change_set_continues_on_error() {
    let env = start().await;
    scenarios::batch_with_failing_change_set(&env.client, BatchMode::ContinueOnError).await;
    scenarios::batch_effects(&env.client, BatchMode::ContinueOnError).await;
}

#[tokio::test]
async fn who_am_i_names_the_application_user() {
    let env = start().await;
    let me = scenarios::who_am_i(&env.client).await;
    let identity = env.emulator.tenant().identity();
    let app_user = env
        .emulator
        .dataverse()
        .privileges_for_app(identity.client_id)
        .unwrap();
    assert_eq!(me.user_id, app_user.user_id);
    assert_eq!(me.business_unit_id, identity.business_unit_id);
    assert_eq!(me.organization_id, identity.organization_id);
}

#[tokio::test]
async fn component_type_labels_fall_back_to_the_first_localized_label() {
    let env = start().await;
    let set = scenarios::component_types(&env.client).await;
    let expected = &env.emulator.dataverse().config().option_sets[0];
    assert_eq!(set.options.len(), expected.options.len());
    for option in &expected.options {
        // Options without a UserLocalizedLabel get the first localized label.
        assert_eq!(
            set.label(option.value),
            Some(option.label.as_str()),
            "{option:?}"
        );
    }
    assert!(
        expected.options.iter().any(|o| !o.user_localized),
        "the emulator serves some null UserLocalizedLabels"
    );
}

#[tokio::test]
async fn a_caller_without_read_privilege_gets_a_typed_403() {
    let reader_id = Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0403);
    let reader_secret = "reader~secret.value-0403";
    let env = start_with(|b| {
        b.app(
            AppRegistration::new(reader_id, "least-privilege-reader")
                .with_secret(ClientSecret::new(reader_secret))
                .with_dataverse_access(DataverseAccess::LeastPrivilege),
        )
    })
    .await;
    let reader = client_for_app(&env.emulator, &env.clock, reader_id, reader_secret);
    // The same app may read the Copilot Studio tables its role grants.
    let bots: Vec<Value> = futures::TryStreamExt::try_collect(
        reader.rows::<Value>(&reader.query("bots").select(["name"])),
    )
    .await
    .unwrap();
    assert_eq!(bots.len(), 2);
    let err = scenarios::forbidden_read(&reader).await;
    assert!(err.request_id().is_some(), "{err}");
    assert!(env.clock.sleeps().is_empty(), "a 403 is not retried");
}

#[tokio::test]
async fn a_429_from_service_protection_is_waited_out() {
    let window = Duration::from_secs(10);
    let env = start_with(|b| {
        b.service_protection(
            ServiceProtectionLimits::default()
                .with_requests(3)
                .with_window(window),
        )
    })
    .await;
    // The fourth request in the window is refused with Retry-After: 10 (all three earlier
    // arrivals must leave the window); the client waits that long and succeeds.
    scenarios::throttled_then_success(&env.client, &env.clock, 4, window).await;
    // Exactly one wait, exactly as long as the emulator asked: the Retry-After is exact (the
    // window frees up at that moment) and the client adds nothing to it.
    assert_eq!(env.clock.sleeps(), [window]);
}

#[tokio::test]
async fn top_and_count() {
    let env = start().await;
    scenarios::top_and_count(&env.client).await;
}

#[tokio::test]
async fn optimistic_concurrency_with_etags() {
    let env = start().await;
    scenarios::optimistic_concurrency(&env.client).await;
}

#[tokio::test]
async fn a_missing_row_is_none_and_an_unknown_set_an_error() {
    let env = start().await;
    scenarios::missing_row_and_unknown_set(&env.client).await;
}

#[tokio::test]
async fn table_metadata() {
    let env = start().await;
    scenarios::table_metadata(&env.client).await;
}

#[tokio::test]
async fn a_change_set_with_a_content_id_reference() {
    let env = start().await;
    let id = scenarios::change_set_with_a_reference(&env.client).await;
    let row = env.emulator.dataverse().row(scenarios::SET, id).unwrap();
    assert_eq!(row["cr_environment"], "set through $1");
}

#[tokio::test]
async fn a_revoked_access_token_is_replaced_once() {
    let env = start().await;
    let before = scenarios::who_am_i(&env.client).await;
    // Every token issued so far stops working, although the credential's cache still holds
    // one that looks valid: the 401 makes the client fetch a fresh token and retry once.
    env.emulator.expire_tokens();
    let after = scenarios::who_am_i(&env.client).await;
    assert_eq!(after, before);
    assert!(env.clock.sleeps().is_empty(), "{:?}", env.clock.sleeps());
}

#[tokio::test]
async fn the_same_scenarios_on_web_api_v9_1() {
    let env = start().await;
    let creds = env.emulator.credentials().clone();
    // Akto's connector talks v9.1; links the service returns must stay on it.
    let client = client_builder(
        &env.emulator,
        &env.clock,
        creds.client_id,
        &creds.client_secret,
    )
    .api_version("v9.1")
    .build()
    .unwrap();
    assert!(client.api_url().as_str().ends_with("/api/data/v9.1/"));
    scenarios::paging(&client).await;
    let first: dataverse_client::Page<Value> =
        futures::TryStreamExt::try_next(&mut client.pages(&scenarios::paging_query(&client)))
            .await
            .unwrap()
            .unwrap();
    let next = first.next_link.unwrap();
    assert!(next.path().starts_with("/api/data/v9.1/"), "{next}");
    scenarios::delta_cycle(&client).await;
    scenarios::upsert_alternate_key(&client).await;
}
