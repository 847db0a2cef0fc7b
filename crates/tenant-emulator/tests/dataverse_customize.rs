//! Custom tables through the metadata API over plain HTTP: global option sets, tables with a
//! primary name column, columns, alternate keys with their index status, then writes, `$batch`
//! and queries on the new table with its limits and keys enforced. Bodies follow the Web API
//! documentation's shapes (EntityMetadata, *AttributeMetadata, EntityKeyMetadata).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use std::sync::Arc;
use std::time::Duration;

use dataverse_common::{Server, start, start_default};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenant_emulator::clock::ManualClock;
use tenant_emulator::dataverse::{Dataverse, DataverseConfig};

fn label(text: &str) -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [{"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": 1033}],
    })
}

fn option_set() -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
        "Name": "new_zone",
        "DisplayName": label("Zone"),
        "IsGlobal": true,
        "OptionSetType": "Picklist",
        "Options": [
            {"Value": 1, "Label": label("Zone 1")},
            {"Value": 2, "Label": label("Zone 2")},
        ],
    })
}

fn table() -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
        "SchemaName": "new_BankAccount",
        "DisplayName": label("Bank Account"),
        "DisplayCollectionName": label("Bank Accounts"),
        "Description": label("An example table."),
        "OwnershipType": "OrganizationOwned",
        "IsActivity": false,
        "HasActivities": false,
        "HasNotes": false,
        "Attributes": [{
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "SchemaName": "new_Name",
            "IsPrimaryName": true,
            "RequiredLevel": {"Value": "ApplicationRequired"},
            "MaxLength": 100,
            "FormatName": {"Value": "Text"},
            "DisplayName": label("Name"),
        }],
    })
}

fn string_column(schema_name: &str, max: u32) -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
        "SchemaName": schema_name,
        "MaxLength": max,
        "DisplayName": label(schema_name),
    })
}

fn key(schema_name: &str, columns: &[&str]) -> Value {
    json!({
        "@odata.type": "Microsoft.Dynamics.CRM.EntityKeyMetadata",
        "SchemaName": schema_name,
        "DisplayName": label(schema_name),
        "KeyAttributes": columns,
    })
}

const TABLE: &str = "EntityDefinitions(LogicalName='new_bankaccount')";

/// Creates the option set, the table, three columns and the code key.
async fn create_bank_account(s: &Server) {
    let r = s
        .post("GlobalOptionSetDefinitions", &[], option_set())
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(
        r.header("OData-EntityId")
            .unwrap()
            .contains("/GlobalOptionSetDefinitions(")
    );
    let r = s.post("EntityDefinitions", &[], table()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let id = r.header("OData-EntityId").unwrap().to_owned();
    assert!(id.contains("/EntityDefinitions("), "{id}");
    // The returned address reads the table back.
    let by_id = s.get(&id, &[]).await;
    assert_eq!(by_id.json()["LogicalName"], "new_bankaccount");

    for body in [
        string_column("new_Code", 10),
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "SchemaName": "new_Zone",
            "DisplayName": label("Zone"),
            "GlobalOptionSet@odata.bind": "/GlobalOptionSetDefinitions(Name='new_zone')",
        }),
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            "SchemaName": "new_Balance",
            "DisplayName": label("Balance"),
        }),
        json!({
            "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            "SchemaName": "new_Open",
            "DisplayName": label("Open"),
            "OptionSet": {"TrueOption": {"Value": 1, "Label": label("Yes")}, "FalseOption": {"Value": 0, "Label": label("No")}},
        }),
    ] {
        let r = s.post(&format!("{TABLE}/Attributes"), &[], body).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        assert!(r.header("OData-EntityId").unwrap().contains("/Attributes("));
    }
    let r = s
        .post(
            &format!("{TABLE}/Keys"),
            &[],
            key("new_CodeKey", &["new_code"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(r.header("OData-EntityId").unwrap().contains("/Keys("));
}

#[tokio::test]
async fn a_table_created_through_metadata_takes_writes_batches_and_queries_by_its_key() {
    let s = start_default().await;
    create_bank_account(&s).await;

    // Metadata reads show what was created.
    let e = s
        .get(
            &format!("{TABLE}?$select=LogicalName,SchemaName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,IsCustomEntity,OwnershipType"),
            &[],
        )
        .await
        .json();
    assert_eq!(e["SchemaName"], "new_BankAccount");
    assert_eq!(e["EntitySetName"], "new_bankaccounts");
    assert_eq!(e["PrimaryIdAttribute"], "new_bankaccountid");
    assert_eq!(e["PrimaryNameAttribute"], "new_name");
    assert_eq!(e["IsCustomEntity"], true);
    assert_eq!(e["OwnershipType"], "OrganizationOwned");
    let attrs = s
        .get(&format!("{TABLE}/Attributes?$select=LogicalName"), &[])
        .await
        .json();
    let names: Vec<&str> = attrs["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["LogicalName"].as_str().unwrap())
        .collect();
    for n in [
        "new_bankaccountid",
        "new_name",
        "new_code",
        "new_zone",
        "new_balance",
        "new_open",
        "createdon",
        "_organizationid_value",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(!names.contains(&"_ownerid_value"), "organization owned");
    let code = s
        .get(&format!("{TABLE}/Attributes(LogicalName='new_code')"), &[])
        .await
        .json();
    assert_eq!(code["SchemaName"], "new_Code");
    assert_eq!(code["MaxLength"], 10);
    let keys = s.get(&format!("{TABLE}/Keys"), &[]).await.json();
    assert_eq!(keys["value"][0]["SchemaName"], "new_CodeKey");
    assert_eq!(keys["value"][0]["LogicalName"], "new_codekey");
    assert_eq!(keys["value"][0]["KeyAttributes"], json!(["new_code"]));
    assert_eq!(keys["value"][0]["EntityKeyIndexStatus"], "Active");
    let sets = s
        .get("GlobalOptionSetDefinitions?$select=Name", &[])
        .await
        .json();
    assert!(
        sets["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["Name"] == "new_zone")
    );

    // Upsert by the key creates, then updates the same row.
    let r = s
        .patch(
            "new_bankaccounts(new_code='A1')",
            &[],
            json!({"new_name": "First", "new_zone": 2, "new_balance": 5, "new_open": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = s
        .patch(
            "new_bankaccounts(new_code='A1')",
            &[],
            json!({"new_name": "Renamed"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(s.dataverse.count("new_bankaccounts"), 1);
    let row = s
        .get(
            "new_bankaccounts(new_code='A1')?$select=new_name,new_zone",
            &[("Prefer", "odata.include-annotations=\"*\"")],
        )
        .await
        .json();
    assert_eq!(row["new_name"], "Renamed");
    assert_eq!(
        row["new_zone@OData.Community.Display.V1.FormattedValue"],
        "Zone 2"
    );

    // The key is enforced on create.
    let r = s
        .post(
            "new_bankaccounts",
            &[],
            json!({"new_name": "Dup", "new_code": "a1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text);

    // Limits: text longer than MaxLength, a choice value outside the option set.
    let r = s
        .patch(
            "new_bankaccounts(new_code='A2')",
            &[],
            json!({"new_name": "x".repeat(101)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error().1.contains("maximum allowed length of '100'"),
        "{}",
        r.text
    );
    let r = s
        .patch(
            "new_bankaccounts(new_code='A2')",
            &[],
            json!({"new_zone": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error().1.contains("outside the valid range"),
        "{}",
        r.text
    );
    assert_eq!(s.dataverse.count("new_bankaccounts"), 1);

    // A change set of upserts by key.
    let mut body =
        String::from("--batch_k\r\nContent-Type: multipart/mixed; boundary=changeset_k\r\n\r\n");
    for (i, code) in ["B1", "B2", "A1"].iter().enumerate() {
        body.push_str(&format!(
            "--changeset_k\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\nPATCH new_bankaccounts(new_code='{code}') HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{{\"new_name\":\"batch {code}\"}}\r\n",
            i + 1
        ));
    }
    body.push_str("--changeset_k--\r\n--batch_k--\r\n");
    let r = s
        .send(
            reqwest::Method::POST,
            "$batch",
            &[("Content-Type", "multipart/mixed; boundary=\"batch_k\"")],
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text.matches("HTTP/1.1 204").count(), 3, "{}", r.text);
    assert_eq!(s.dataverse.count("new_bankaccounts"), 3);
    let q = s
        .get(
            "new_bankaccounts?$select=new_code,new_name&$filter=startswith(new_name,'batch')&$orderby=new_code",
            &[],
        )
        .await
        .json();
    let codes: Vec<&str> = q["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["new_code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["A1", "B1", "B2"]);
}

#[tokio::test]
async fn bad_and_repeated_metadata_writes_get_dataverse_errors() {
    let s = start_default().await;
    // An unknown table: Dataverse's 404 body, for rows and for metadata.
    let r = s.get("new_bankaccounts", &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().1.contains("new_bankaccounts"));
    let r = s
        .post(
            &format!("{TABLE}/Attributes"),
            &[],
            string_column("new_X", 5),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().1.contains("new_bankaccount"));

    // A column bound to an option set that does not exist yet.
    let mut t = table();
    t["Attributes"].as_array_mut().unwrap().push(json!({
        "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        "SchemaName": "new_Zone",
        "DisplayName": label("Zone"),
        "GlobalOptionSet@odata.bind": "/GlobalOptionSetDefinitions(Name='new_zone')",
    }));
    let r = s.post("EntityDefinitions", &[], t).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(s.dataverse.entity_set("new_bankaccounts"), None);

    // What a table needs.
    for (field, value) in [
        ("SchemaName", json!("BankAccount")),
        ("OwnershipType", Value::Null),
        ("DisplayName", Value::Null),
        ("HasNotes", Value::Null),
        ("Attributes", json!([])),
    ] {
        let mut t = table();
        t[field] = value;
        let r = s.post("EntityDefinitions", &[], t).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert!(
            r.error().1.contains(field) || field == "Attributes" || field == "SchemaName",
            "{field}: {}",
            r.text
        );
    }

    create_bank_account(&s).await;
    // Everything again: each refused as a duplicate, nothing changed.
    assert_eq!(
        s.post("GlobalOptionSetDefinitions", &[], option_set())
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.post("EntityDefinitions", &[], table()).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.post(
            &format!("{TABLE}/Attributes"),
            &[],
            string_column("new_Code", 10)
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        s.post(
            &format!("{TABLE}/Keys"),
            &[],
            key("new_OtherKey", &["new_code"])
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );

    // Not key-able, not a column, lookups and metadata in a change set are refused by name.
    let r = s
        .post(
            &format!("{TABLE}/Keys"),
            &[],
            key("new_OpenKey", &["new_open"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().1.contains("new_open"));
    let r = s
        .post(
            &format!("{TABLE}/Keys"),
            &[],
            key("new_NopeKey", &["new_nope"]),
        )
        .await;
    assert!(r.error().1.contains("new_nope"));
    let r = s
        .post(
            &format!("{TABLE}/Attributes"),
            &[],
            json!({"@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata", "SchemaName": "new_Parent", "DisplayName": label("P")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().1.contains("RelationshipDefinitions"));
    let body = format!(
        "--batch_m\r\nContent-Type: multipart/mixed; boundary=changeset_m\r\n\r\n--changeset_m\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST {TABLE}/Attributes HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{}\r\n--changeset_m--\r\n--batch_m--\r\n",
        string_column("new_Other", 5)
    );
    let r = s
        .send(
            reqwest::Method::POST,
            "$batch",
            &[("Content-Type", "multipart/mixed; boundary=\"batch_m\"")],
            Some(body),
        )
        .await;
    assert!(r.text.contains("change set"), "{}", r.text);

    // A key over rows that already break it: listed as Failed, not usable.
    let r = s
        .post(
            &format!("{TABLE}/Attributes"),
            &[],
            string_column("new_Branch", 20),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for code in ["C1", "C2"] {
        let r = s
            .patch(
                &format!("new_bankaccounts(new_code='{code}')"),
                &[],
                json!({"new_name": code, "new_branch": "same"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    }
    let r = s
        .post(
            &format!("{TABLE}/Keys"),
            &[],
            key("new_BranchKey", &["new_branch"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let keys = s
        .get(
            &format!("{TABLE}/Keys?$select=SchemaName,EntityKeyIndexStatus"),
            &[],
        )
        .await
        .json();
    let failed = keys["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["SchemaName"] == "new_BranchKey")
        .unwrap();
    assert_eq!(failed["EntityKeyIndexStatus"], "Failed");
    let r = s
        .patch(
            "new_bankaccounts(new_branch='same')",
            &[],
            json!({"new_name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // InsertOptionValue adds an option that writes may then use.
    let r = s
        .post(
            "InsertOptionValue",
            &[],
            json!({"OptionSetName": "new_zone", "Value": 3, "Label": label("Zone 3")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["NewOptionValue"], 3);
    let r = s
        .patch(
            "new_bankaccounts(new_code='C1')",
            &[],
            json!({"new_zone": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}

#[tokio::test]
async fn a_new_key_reports_pending_then_active_and_is_refused_until_active() {
    let clock = ManualClock::new(time::macros::datetime!(2026-03-01 09:00 UTC));
    let mut config = DataverseConfig::default();
    config.clock = Arc::new(clock.clone());
    config.key_activation_delay = Duration::from_secs(60);
    let s = start(Dataverse::new(config)).await;
    create_bank_account(&s).await;
    let status = || async {
        s.get(&format!("{TABLE}/Keys(LogicalName='new_codekey')"), &[])
            .await
            .json()["EntityKeyIndexStatus"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status().await, "Pending");
    let r = s
        .patch(
            "new_bankaccounts(new_code='A1')",
            &[],
            json!({"new_name": "early"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().1.contains("Pending"), "{}", r.text);
    clock.advance(Duration::from_secs(30));
    assert_eq!(status().await, "InProgress");
    clock.advance(Duration::from_secs(30));
    assert_eq!(status().await, "Active");
    let r = s
        .patch(
            "new_bankaccounts(new_code='A1')",
            &[],
            json!({"new_name": "on time"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}
