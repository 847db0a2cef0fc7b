//! Scenarios shared by the `dataverse-client` httpmock tests (`tests/shared_scenarios.rs`) and
//! the tenant emulator's end-to-end tests (`crates/tenant-emulator/tests/client_scenarios.rs`,
//! which includes this file with `#[path]`), so the client and the emulator are checked against
//! the same documented behaviour (docs/wire/dataverse.md).
//!
//! Each scenario takes a [`DataverseClient`] and asserts what the wire format promises. The
//! server must hold the table [`SET`] (columns in [`COLUMNS`], alternate key
//! `(cr_name, cr_revision)`, change tracking on) seeded with [`seed_rows`]. Only
//! `dataverse_client`, `client_core`, `futures`, `serde_json`, `time` and `uuid` are used here:
//! both test crates have them.
#![allow(dead_code, unreachable_pub)]

use client_core::ManualClock;
use dataverse_client::{
    Batch, BatchMode, BatchOutcome, BatchResult, Change, DataverseClient, Error, Filter,
    FilterValue, Key, OptionSet, Query, UpsertKind, UpsertOptions, WhoAmI,
};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

/// The entity set every row scenario uses (an inventory-like table declared at run time).
pub const SET: &str = "cr_inventories";
/// Its logical name (privileges are named after it: `prvReadcr_inventory`).
pub const LOGICAL: &str = "cr_inventory";
/// Its primary key column.
pub const PK: &str = "cr_inventoryid";
/// Its primary name column.
pub const NAME: &str = "cr_name";

/// The kind of a column, as a server would declare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Single line of text.
    String,
    /// Whole number.
    Integer,
    /// A GUID that is not a lookup.
    Guid,
    /// Yes/no.
    Boolean,
    /// Date and time.
    DateTime,
}

/// The columns of [`SET`] besides its primary key.
pub const COLUMNS: [(&str, Kind); 6] = [
    ("cr_name", Kind::String),
    ("cr_environment", Kind::String),
    ("cr_revision", Kind::Integer),
    ("cr_agentid", Kind::Guid),
    ("cr_active", Kind::Boolean),
    ("cr_lastseen", Kind::DateTime),
];

/// The alternate key of [`SET`]: a string and a number.
pub const ALTERNATE_KEY: [&str; 2] = ["cr_name", "cr_revision"];

/// The agent GUID most seeded rows point to.
pub const AGENT: Uuid = Uuid::from_u128(0x6a3d_2c1e_0f4b_4e8a_9c7d_1b2a_3c4d_5e6f);
/// Another agent GUID.
pub const OTHER_AGENT: Uuid = Uuid::from_u128(0x0b8e_77f2_5c1d_4f3a_a2e4_9d6c_8b7a_1f20);
/// The date the filter scenario compares `cr_lastseen` with.
pub const SINCE: OffsetDateTime = datetime!(2026-01-15 00:00 UTC);
/// The page size of the paging scenario.
pub const PAGE_SIZE: u32 = 3;

/// The primary id of seeded row `n` (1..=8).
pub fn row_id(n: u8) -> Uuid {
    Uuid::from_u128(0xc0ff_ee00_0000_4000_8000_0000_0000_0000 | u128::from(n))
}

/// A row id no scenario ever creates.
pub fn missing_id() -> Uuid {
    Uuid::from_u128(0xdead_0000_0000_4000_8000_0000_0000_0001)
}

/// The id the delta scenario creates its new row with.
pub fn delta_new_id() -> Uuid {
    Uuid::from_u128(0xc0ff_ee00_0000_4000_8000_0000_0000_0099)
}

/// Eight rows. Only row 1 matches the filter scenario; each of rows 2..=7 differs from it in
/// exactly one of the filter's literals (string with a quote, GUID, date, number, boolean, a
/// doubled quote in the stored value). Names sort in the reverse of id order, so `$orderby`
/// is visible in the paging scenario.
pub fn seed_rows() -> Vec<Value> {
    let seen = "2026-02-01T08:30:00Z";
    let row = |n: u8,
               name: &str,
               env: &str,
               rev: i64,
               agent: Option<Uuid>,
               active: bool,
               last: Option<&str>| {
        json!({
            PK: row_id(n),
            "cr_name": name,
            "cr_environment": env,
            "cr_revision": rev,
            "cr_agentid": agent,
            "cr_active": active,
            "cr_lastseen": last,
        })
    };
    vec![
        row(1, "hotel", "it's prod", 5, Some(AGENT), true, Some(seen)),
        row(2, "golf", "its prod", 5, Some(AGENT), true, Some(seen)),
        row(
            3,
            "foxtrot",
            "it's prod",
            5,
            Some(OTHER_AGENT),
            true,
            Some(seen),
        ),
        row(
            4,
            "echo",
            "it's prod",
            5,
            Some(AGENT),
            true,
            Some("2026-01-14T23:59:59Z"),
        ),
        row(5, "delta", "it's prod", 2, Some(AGENT), true, Some(seen)),
        row(6, "charlie", "it's prod", 5, Some(AGENT), false, Some(seen)),
        row(7, "bravo", "it''s prod", 5, Some(AGENT), true, Some(seen)),
        row(8, "alpha", "prod", 1, None, false, None),
    ]
}

/// The seeded names in `$orderby=cr_name` order.
pub fn names_in_order() -> Vec<&'static str> {
    vec![
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ]
}

fn name_of(row: &Value) -> &str {
    row[NAME]
        .as_str()
        .unwrap_or_else(|| panic!("row without {NAME}: {row}"))
}

fn id_of(row: &Value) -> Uuid {
    row[PK]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("row without {PK}: {row}"))
}

/// The seeded id of `name`.
fn seeded_id(name: &str) -> Uuid {
    seed_rows()
        .iter()
        .find(|r| r[NAME] == name)
        .map(id_of)
        .unwrap_or_else(|| panic!("{name} is not seeded"))
}

// ---------------------------------------------------------------------------------------
// Queries

/// The query of the paging scenario: ordered by name, [`PAGE_SIZE`] rows per page, all
/// annotations.
pub fn paging_query(client: &DataverseClient) -> Query {
    client
        .query(SET)
        .select([PK, NAME])
        .order_by(NAME, dataverse_client::Order::Asc)
        .page_size(PAGE_SIZE)
        .include_annotations("*")
}

/// Pages through [`SET`] [`PAGE_SIZE`] rows at a time. Every page but the last is full, so a
/// follow-up request that lost `Prefer: odata.maxpagesize` (a server then answers with up to
/// 5000 rows) fails here; rows come in `$orderby` order with their seeded ids.
pub async fn paging(client: &DataverseClient) -> Vec<Vec<Value>> {
    let pages: Vec<dataverse_client::Page<Value>> = client
        .pages(&paging_query(client))
        .try_collect()
        .await
        .unwrap();
    let sizes: Vec<usize> = pages.iter().map(|p| p.rows.len()).collect();
    assert_eq!(sizes, [3, 3, 2], "rows per page");
    for page in &pages[..pages.len() - 1] {
        assert!(page.next_link.is_some(), "a full page links to the next");
    }
    assert!(pages[pages.len() - 1].next_link.is_none());
    let rows: Vec<Value> = pages.iter().flat_map(|p| p.rows.clone()).collect();
    let names: Vec<&str> = rows.iter().map(name_of).collect();
    assert_eq!(names, names_in_order());
    for row in &rows {
        assert_eq!(id_of(row), seeded_id(name_of(row)), "{row}");
    }
    pages.into_iter().map(|p| p.rows).collect()
}

/// The filter of the filter scenario: a string with a quote, a GUID, a date, a number and a
/// boolean, all typed.
pub fn literal_filter() -> Filter {
    Filter::eq("cr_environment", "it's prod")
        .and(Filter::eq("cr_agentid", AGENT))
        .and(Filter::ge("cr_lastseen", SINCE))
        .and(Filter::gt("cr_revision", 2))
        .and(Filter::eq("cr_active", true))
}

/// The `$filter` value [`literal_filter`] must produce on the wire.
pub const LITERAL_FILTER_ODATA: &str = "((((cr_environment eq 'it''s prod') and (cr_agentid eq 6a3d2c1e-0f4b-4e8a-9c7d-1b2a3c4d5e6f)) and (cr_lastseen ge 2026-01-15T00:00:00Z)) and (cr_revision gt 2)) and (cr_active eq true)";

/// Only row 1 passes the typed filter; the row whose stored value has a doubled quote does
/// not (the quote is escaped exactly once).
pub async fn filter_literals(client: &DataverseClient) {
    assert_eq!(literal_filter().to_odata().unwrap(), LITERAL_FILTER_ODATA);
    let q = client
        .query(SET)
        .select([PK, NAME])
        .filter(literal_filter());
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    let names: Vec<&str> = rows.iter().map(name_of).collect();
    assert_eq!(names, ["hotel"], "{rows:?}");
    assert_eq!(id_of(&rows[0]), row_id(1));

    // The doubled quote is data, not syntax.
    let q = client
        .query(SET)
        .select([PK, NAME])
        .filter(Filter::eq("cr_environment", "it''s prod"));
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert_eq!(rows.iter().map(name_of).collect::<Vec<_>>(), ["bravo"]);
}

// ---------------------------------------------------------------------------------------
// Change tracking

fn upserted(changes: &[Change]) -> BTreeSet<(Uuid, String)> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(row) => Some((id_of(row), name_of(row).to_owned())),
            _ => None,
        })
        .collect()
}

fn deleted(changes: &[Change]) -> BTreeSet<Uuid> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Deleted { id } => Some(*id),
            _ => None,
        })
        .collect()
}

/// The rows of the initial sync: every seeded row, as upserts.
fn assert_full_sync(changes: &[Change]) {
    let expected: BTreeSet<(Uuid, String)> = seed_rows()
        .iter()
        .map(|r| (id_of(r), name_of(r).to_owned()))
        .collect();
    assert_eq!(changes.len(), expected.len(), "{changes:?}");
    assert_eq!(upserted(changes), expected);
}

/// The writes the delta scenario makes between its reads: rename row 1 and create a row (two
/// upserts), delete row 2.
pub async fn delta_writes(client: &DataverseClient) {
    client
        .upsert(
            SET,
            &Key::id(row_id(1)),
            &json!({NAME: "hotel (renamed)"}),
            UpsertOptions::new(),
        )
        .await
        .unwrap();
    client
        .upsert(
            SET,
            &Key::id(delta_new_id()),
            &json!({NAME: "india", "cr_revision": 9}),
            UpsertOptions::new(),
        )
        .await
        .unwrap();
    client.delete(SET, &Key::id(row_id(2))).await.unwrap();
}

/// Initial sync (every row and a delta link), two upserts and a delete through the client,
/// the changes (exactly those three, the deletion as `$deletedEntity`), then an empty delta.
pub async fn delta_cycle(client: &DataverseClient) {
    let mut initial = client.track_changes(SET, &[PK, NAME]);
    let mut first = Vec::new();
    while let Some(c) = initial.try_next().await.unwrap() {
        first.push(c);
    }
    assert_full_sync(&first);
    let link = initial.delta_link().cloned().unwrap();
    // Delta links are stored between runs as plain strings.
    let link = serde_json::from_str(&serde_json::to_string(&link).unwrap()).unwrap();

    delta_writes(client).await;

    let second = client.changes_since(link).read_all().await.unwrap();
    assert_eq!(second.changes.len(), 3, "{:?}", second.changes);
    assert_eq!(
        upserted(&second.changes),
        BTreeSet::from([
            (row_id(1), "hotel (renamed)".to_owned()),
            (delta_new_id(), "india".to_owned()),
        ])
    );
    assert_eq!(deleted(&second.changes), BTreeSet::from([row_id(2)]));

    let third = client
        .changes_since(second.delta_link.clone())
        .read_all()
        .await
        .unwrap();
    assert!(third.changes.is_empty(), "{:?}", third.changes);
}

/// An initial sync, then `expire` (the server's retention passes), then the delta link fails
/// with [`Error::DeltaTokenExpired`] (400); a new full sync works. Returns the error.
pub async fn expired_delta_token(client: &DataverseClient, expire: impl FnOnce()) -> Error {
    let initial = client.track_changes(SET, &[PK, NAME]);
    let mut initial = initial;
    let mut rows = Vec::new();
    while let Some(c) = initial.try_next().await.unwrap() {
        rows.push(c);
    }
    assert_full_sync(&rows);
    let link = initial.delta_link().cloned().unwrap();
    expire();
    let err = client.changes_since(link).read_all().await.unwrap_err();
    assert!(matches!(err, Error::DeltaTokenExpired(_)), "{err}");
    assert!(err.is_delta_token_expired());
    assert_eq!(err.status(), Some(400));
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("full sync"), "{err}");
    // The documented fallback: a full sync with a new delta link.
    let again = client
        .track_changes(SET, &[PK, NAME])
        .read_all()
        .await
        .unwrap();
    assert_full_sync(&again.changes);
    err
}

// ---------------------------------------------------------------------------------------
// Writes

/// The two-part alternate key with a quote (and URL-reserved characters) in its string part.
pub fn quoted_key() -> Key {
    Key::alternate([
        ("cr_name", FilterValue::from("O'Brien & Sons/EU")),
        ("cr_revision", FilterValue::from(42)),
    ])
}

/// The path [`quoted_key`] must produce on the wire.
pub const QUOTED_KEY_PATH: &str =
    "cr_inventories(cr_name='O''Brien%20%26%20Sons%2FEU',cr_revision=42)";

/// Upserts by [`quoted_key`] returning the row: the first creates (201), the second updates
/// (200) the same row, which then reads back by the same key. Returns the row's id.
pub async fn upsert_alternate_key(client: &DataverseClient) -> Uuid {
    let created = client
        .upsert(
            SET,
            &quoted_key(),
            &json!({"cr_environment": "it's staging"}),
            UpsertOptions::new().return_row(),
        )
        .await
        .unwrap();
    assert_eq!(created.kind, UpsertKind::Created);
    let id = created.id.expect("OData-EntityId names the created row");
    let row = created.row.expect("return=representation returns the row");
    assert_eq!(row["cr_environment"], "it's staging");
    assert_eq!(row["cr_name"], "O'Brien & Sons/EU");
    assert_eq!(row["cr_revision"], 42);
    assert_eq!(id_of(&row), id);
    assert!(created.etag.is_some());

    let updated = client
        .upsert(
            SET,
            &quoted_key(),
            &json!({"cr_environment": "prod"}),
            UpsertOptions::new().return_row(),
        )
        .await
        .unwrap();
    assert_eq!(updated.kind, UpsertKind::Updated);
    assert_eq!(updated.id, Some(id));
    assert_eq!(updated.row.unwrap()["cr_environment"], "prod");
    assert_ne!(updated.etag, created.etag, "an update changes the ETag");

    let read: Value = client
        .get(SET, &quoted_key(), &[PK, "cr_environment"])
        .await
        .unwrap()
        .expect("the upserted row reads back by its alternate key");
    assert_eq!(id_of(&read), id);
    assert_eq!(read["cr_environment"], "prod");
    id
}

/// The alternate key of seeded row 8.
pub fn existing_key() -> Key {
    Key::alternate([
        ("cr_name", FilterValue::from("alpha")),
        ("cr_revision", FilterValue::from(1)),
    ])
}

/// An alternate key no row has (until this scenario creates it).
pub fn absent_key() -> Key {
    Key::alternate([
        ("cr_name", FilterValue::from("zulu")),
        ("cr_revision", FilterValue::from(26)),
    ])
}

/// Create-only on an existing row is 412 with the documented message; update-only on a
/// missing row is 404; the opposite pairs succeed as Created and Updated.
pub async fn create_only_and_update_only(client: &DataverseClient) {
    let body = json!({"cr_environment": "test"});
    let err = client
        .upsert(
            SET,
            &existing_key(),
            &body,
            UpsertOptions::new().create_only(),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    assert_eq!(err.status(), Some(412));
    assert_eq!(
        err.service_message(),
        Some("A record with matching key values already exists.")
    );

    let err = client
        .upsert(
            SET,
            &absent_key(),
            &body,
            UpsertOptions::new().update_only(),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(!err.is_retryable());

    let out = client
        .upsert(
            SET,
            &existing_key(),
            &body,
            UpsertOptions::new().update_only(),
        )
        .await
        .unwrap();
    assert_eq!(out.kind, UpsertKind::Updated);
    let out = client
        .upsert(
            SET,
            &absent_key(),
            &body,
            UpsertOptions::new().create_only(),
        )
        .await
        .unwrap();
    assert_eq!(out.kind, UpsertKind::Created);
}

// ---------------------------------------------------------------------------------------
// $batch

/// A read, a change set (create a row, then update a row that does not exist: `If-Match: *`
/// makes that a 404), and a delete of row 3 after it.
pub fn failing_batch() -> Batch {
    let mut batch = Batch::new();
    batch.query(
        &Query::new(SET)
            .select([PK, NAME])
            .filter(Filter::eq(NAME, "alpha")),
    );
    let mut cs = batch.change_set();
    cs.create(SET, json!({NAME: "juliett", "cr_revision": 10}));
    cs.update(SET, &Key::id(missing_id()), json!({NAME: "kilo"}));
    batch.delete(SET, &Key::id(row_id(3)));
    batch
}

/// Runs [`failing_batch`]: the read succeeds, the change set's first part is rolled back and
/// its second fails with 404; without continue-on-error the delete is not run, with it the
/// delete answers 204.
pub async fn batch_with_failing_change_set(
    client: &DataverseClient,
    mode: BatchMode,
) -> Vec<BatchResult> {
    let results = client.batch(failing_batch(), mode).await.unwrap();
    assert_eq!(results.len(), 4, "{results:?}");
    assert_eq!(
        results.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    let page: Value = results[0].response().unwrap().json().unwrap().unwrap();
    assert_eq!(page["value"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["value"][0][NAME], "alpha");
    assert!(
        matches!(results[1].outcome, BatchOutcome::RolledBack),
        "{:?}",
        results[1]
    );
    assert_eq!(results[1].content_id.unwrap().value(), 1);
    let e = results[2]
        .error()
        .unwrap_or_else(|| panic!("{:?}", results[2]));
    assert_eq!(e.status(), Some(404));
    assert!(e.is_not_found());
    assert!(e.service_message().is_some_and(|m| !m.is_empty()), "{e}");
    assert!(e.to_string().contains("PATCH cr_inventories("), "{e}");
    assert_eq!(results[2].content_id.unwrap().value(), 2);
    match mode {
        BatchMode::ContinueOnError => {
            assert_eq!(
                results[3].response().unwrap().status,
                204,
                "{:?}",
                results[3]
            );
        }
        _ => assert!(
            matches!(results[3].outcome, BatchOutcome::NotExecuted),
            "{:?}",
            results[3]
        ),
    }
    results
}

/// What [`batch_with_failing_change_set`] left behind: the change set's create was rolled back;
/// row 3 is gone only with continue-on-error.
pub async fn batch_effects(client: &DataverseClient, mode: BatchMode) {
    let q = client
        .query(SET)
        .select([PK, NAME])
        .filter(Filter::eq(NAME, "juliett"));
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert!(
        rows.is_empty(),
        "a failed change set keeps nothing: {rows:?}"
    );
    let row3: Option<Value> = client.get(SET, &Key::id(row_id(3)), &[NAME]).await.unwrap();
    match mode {
        BatchMode::ContinueOnError => assert!(row3.is_none(), "the delete ran"),
        _ => assert!(row3.is_some(), "the batch stopped before the delete"),
    }
}

// ---------------------------------------------------------------------------------------
// Metadata, errors, service protection

/// `WhoAmI` answers the three ids.
pub async fn who_am_i(client: &DataverseClient) -> WhoAmI {
    let me = client.who_am_i().await.unwrap();
    assert!(!me.user_id.is_nil() && !me.business_unit_id.is_nil() && !me.organization_id.is_nil());
    me
}

/// `botcomponent_componenttype`: every option has a label, taken from `UserLocalizedLabel` or,
/// when that is null, from the first localized label.
pub async fn component_types(client: &DataverseClient) -> OptionSet {
    let set = client
        .global_option_set("botcomponent_componenttype")
        .await
        .unwrap();
    assert_eq!(set.name, "botcomponent_componenttype");
    assert!(!set.options.is_empty());
    assert_eq!(set.label(0), Some("Topic"));
    assert_eq!(set.label(9), Some("Topic (V2)"));
    for o in &set.options {
        assert!(o.label.is_some(), "option {} has no label", o.value);
    }
    set
}

/// A caller without read privilege on [`SET`]: a typed 403 carrying the service's message
/// (which names the missing privilege), not retried.
pub async fn forbidden_read(client: &DataverseClient) -> Error {
    let err = client
        .rows::<Value>(&client.query(SET).select([NAME]))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Http(_)), "{err}");
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_retryable() && !err.is_throttled());
    let message = err.service_message().unwrap_or_default();
    assert!(message.contains(&format!("prvRead{LOGICAL}")), "{message}");
    assert!(
        err.to_string().contains(&format!("prvRead{LOGICAL}")),
        "{err}"
    );
    err
}

/// `calls` WhoAmI requests in a row, one of which the server throttles with `429` and a
/// `Retry-After` of `retry_after`: every call succeeds, and the client waited at least that
/// long on `clock` (which never sleeps for real).
pub async fn throttled_then_success(
    client: &DataverseClient,
    clock: &ManualClock,
    calls: usize,
    retry_after: Duration,
) {
    let before = clock.sleeps().len();
    for _ in 0..calls {
        who_am_i(client).await;
    }
    let sleeps = clock.sleeps()[before..].to_vec();
    assert!(
        sleeps.iter().any(|d| *d >= retry_after),
        "expected a wait of at least {retry_after:?}: {sleeps:?}"
    );
}

// ---------------------------------------------------------------------------------------
// More of the documented behaviour

/// `$top` alone is honoured by the server; next to `odata.maxpagesize` the server ignores it,
/// so the row stream itself stops after `n` rows. `$count=true` counts every matching row.
pub async fn top_and_count(client: &DataverseClient) {
    let expected = &names_in_order()[..4];
    let q = client
        .query(SET)
        .select([PK, NAME])
        .order_by(NAME, dataverse_client::Order::Asc)
        .top(4);
    let rows: Vec<Value> = client.rows(&q).try_collect().await.unwrap();
    assert_eq!(rows.iter().map(name_of).collect::<Vec<_>>(), expected);

    let rows: Vec<Value> = client
        .rows(&q.clone().page_size(PAGE_SIZE))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.iter().map(name_of).collect::<Vec<_>>(), expected);

    let q = client
        .query(SET)
        .select([PK, NAME])
        .order_by(NAME, dataverse_client::Order::Asc)
        .count()
        .page_size(PAGE_SIZE);
    let mut pages = client.pages::<Value>(&q);
    let page = pages.try_next().await.unwrap().unwrap();
    assert_eq!(page.rows.len(), PAGE_SIZE as usize);
    assert_eq!(page.count, Some(8));
}

/// `If-Match: {etag}`: an update with the row's current ETag succeeds and changes it; the old
/// ETag then fails with 412.
pub async fn optimistic_concurrency(client: &DataverseClient) {
    let key = Key::id(row_id(4));
    let row: Value = client
        .get(SET, &key, &[NAME])
        .await
        .unwrap()
        .expect("seeded row 4");
    let etag = row["@odata.etag"]
        .as_str()
        .expect("rows carry @odata.etag")
        .to_owned();
    let out = client
        .upsert(
            SET,
            &key,
            &json!({"cr_revision": 6}),
            UpsertOptions::new().if_match(etag.clone()),
        )
        .await
        .unwrap();
    assert_eq!(out.kind, UpsertKind::Updated);
    let err = client
        .upsert(
            SET,
            &key,
            &json!({"cr_revision": 7}),
            UpsertOptions::new().if_match(etag),
        )
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    let now: Value = client
        .get(SET, &key, &["cr_revision"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now["cr_revision"], 6, "the stale write changed nothing");
}

/// A missing row reads as `None`; an unknown entity set is an error (Dataverse answers 404 to
/// both, and tells them apart by the code `0x80060888`, "Resource not found for the segment").
pub async fn missing_row_and_unknown_set(client: &DataverseClient) {
    let none: Option<Value> = client
        .get(SET, &Key::id(missing_id()), &[NAME])
        .await
        .unwrap();
    assert!(none.is_none());
    let err = client
        .get::<Value>("cr_inventoriez", &Key::id(row_id(1)), &[])
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.service_message()
            .unwrap_or_default()
            .contains("cr_inventoriez"),
        "{err}"
    );
}

/// `EntityDefinitions(LogicalName='cr_inventory')` and its attributes.
pub async fn table_metadata(client: &DataverseClient) {
    let def = client.entity_definition(LOGICAL).await.unwrap();
    assert_eq!(def.logical_name, LOGICAL);
    assert_eq!(def.entity_set_name.as_deref(), Some(SET));
    assert_eq!(def.primary_id_attribute.as_deref(), Some(PK));
    assert_eq!(def.primary_name_attribute.as_deref(), Some(NAME));
    assert!(def.change_tracking_enabled);
    assert!(client.change_tracking_enabled(LOGICAL).await.unwrap());
    let attributes = client.attribute_definitions(LOGICAL).await.unwrap();
    let kind = |name: &str| {
        attributes
            .iter()
            .find(|a| a.logical_name == name)
            .and_then(|a| a.attribute_type.clone())
    };
    assert_eq!(kind(PK).as_deref(), Some("Uniqueidentifier"));
    assert_eq!(kind(NAME).as_deref(), Some("String"));
    assert_eq!(kind("cr_revision").as_deref(), Some("Integer"));
    assert_eq!(kind("cr_active").as_deref(), Some("Boolean"));
    assert_eq!(kind("cr_lastseen").as_deref(), Some("DateTime"));
    let pk = attributes.iter().find(|a| a.logical_name == PK).unwrap();
    assert_eq!(pk.is_primary_id, Some(true));
}

/// A change set that succeeds, its second part addressing what the first created (`$1`):
/// both answer 204 with the created row's id, and the row holds both writes.
pub async fn change_set_with_a_reference(client: &DataverseClient) -> Uuid {
    let mut batch = Batch::new();
    let mut cs = batch.change_set();
    let created = cs.create(SET, json!({NAME: "lima", "cr_revision": 12}));
    cs.push(
        dataverse_client::Operation::new(http::Method::PATCH, &created.reference())
            .json(json!({"cr_environment": "set through $1"})),
    );
    let results = client.batch(batch, BatchMode::StopOnError).await.unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(BatchResult::is_success), "{results:?}");
    let id = results[0]
        .response()
        .and_then(|r| r.entity_id())
        .expect("OData-EntityId of the created row");
    assert_eq!(results[0].content_id.unwrap().value(), 1);
    assert_eq!(results[1].content_id.unwrap().value(), 2);
    let row: Value = client
        .get(SET, &Key::id(id), &[NAME, "cr_environment"])
        .await
        .unwrap()
        .expect("the change set's row");
    assert_eq!(row[NAME], "lima");
    assert_eq!(row["cr_environment"], "set through $1");
    id
}
