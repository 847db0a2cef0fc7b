//! Queries over plain HTTP: `$select`, `$filter` (every operator), `$orderby`, `$top`, `$count`,
//! `$expand`, percent-decoding, the documented error bodies, metadata and `WhoAmI`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dataverse_common;

use dataverse_common::{Server, column, guid, real_transcripts, start_default};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenant_emulator::dataverse::{Caller, Dataverse, DataverseConfig, Privileges};

const BOT_A: u64 = 1;
const BOT_B: u64 = 2;

/// Two bots, five components, and a N:N link.
async fn seeded() -> Server {
    let server = start_default().await;
    server.seed(
        "bots",
        [
            json!({"botid": guid(BOT_A), "name": "O'Brien Bot", "schemaname": "cr3e5_obrien", "statecode": 0, "language": 1033}),
            json!({"botid": guid(BOT_B), "name": "A&B Helper", "schemaname": "cr3e5_ab", "statecode": 1, "language": 1036}),
        ],
    );
    let comps = [
        (
            10,
            BOT_A,
            "Greeting",
            9,
            false,
            "2024-09-01T10:00:00Z",
            Some("Says hello"),
        ),
        (11, BOT_A, "Goodbye", 9, true, "2024-09-02T10:00:00Z", None),
        (
            12,
            BOT_A,
            "Instructions",
            15,
            false,
            "2024-09-03T10:00:00Z",
            Some("GPT"),
        ),
        (
            13,
            BOT_B,
            "Escalate",
            9,
            false,
            "2024-09-04T10:00:00Z",
            None,
        ),
        (
            14,
            BOT_B,
            "Knowledge",
            16,
            true,
            "2024-09-05T10:00:00Z",
            Some("SharePoint"),
        ),
    ];
    server.seed(
        "botcomponents",
        comps
            .iter()
            .map(|(id, bot, name, ct, managed, created, desc)| {
                json!({
                    "botcomponentid": guid(*id),
                    "_parentbotid_value": guid(*bot),
                    "name": name,
                    "schemaname": format!("cr3e5.topic.{name}"),
                    "componenttype": ct,
                    "ismanaged": managed,
                    "createdon": created,
                    "description": desc,
                })
            }),
    );
    server.seed(
        "bot_botcomponentset",
        [json!({"bot_botcomponentid": guid(90), "botid": guid(BOT_B), "botcomponentid": guid(12)})],
    );
    server
}

async fn names(server: &Server, filter: &str) -> Vec<String> {
    let path = format!("botcomponents?$select=name&$filter={filter}&$orderby=name");
    let reply = server.get(&path, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{filter}: {}", reply.text);
    column(&reply.json(), "name")
        .into_iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn select_returns_selected_columns_etag_and_key() {
    let server = seeded().await;
    let reply = server.get("bots?$select=name", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("OData-Version"), Some("4.0"));
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = reply.json();
    assert_eq!(
        body["@odata.context"],
        format!("{}/$metadata#bots(name)", server.base)
    );
    let first = body["value"][0].as_object().unwrap();
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["@odata.etag", "botid", "name"]);
    assert!(first["@odata.etag"].as_str().unwrap().starts_with("W/\""));
    // Without $select every column comes back, nulls included.
    let all = server.get("bots", &[]).await.json();
    assert!(
        all["value"][0]
            .as_object()
            .unwrap()
            .contains_key("configuration")
    );
    assert!(all["value"][0]["configuration"].is_null());
}

#[tokio::test]
async fn unknown_columns_are_the_real_400() {
    let server = seeded().await;
    for (path, logical, column) in [
        ("bots?$select=name,description", "bot", "description"),
        (
            "bots?$select=generativeaiconfiguration",
            "bot",
            "generativeaiconfiguration",
        ),
        (
            "botcomponents?$filter=_botid_value eq 00000000-0000-0000-0000-000000000001",
            "botcomponent",
            "_botid_value",
        ),
        ("botcomponents?$orderby=nope desc", "botcomponent", "nope"),
        ("bots?$expand=nothing_here", "bot", "nothing_here"),
    ] {
        let reply = server.get(path, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        let (code, message) = reply.error();
        assert_eq!(code, "0x0");
        assert_eq!(
            message,
            format!(
                "Could not find a property named '{column}' on type 'Microsoft.Dynamics.CRM.{logical}'."
            )
        );
    }
}

#[tokio::test]
async fn filters_cover_every_operator_and_literal() {
    let server = seeded().await;
    let a = guid(BOT_A);
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("name eq 'Greeting'".into(), vec!["Greeting"]),
        // String comparison is case-insensitive, as Dataverse's collation makes it.
        ("name eq 'greeting'".into(), vec!["Greeting"]),
        (
            "name ne 'Greeting'".into(),
            vec!["Escalate", "Goodbye", "Instructions", "Knowledge"],
        ),
        (
            "componenttype gt 9".into(),
            vec!["Instructions", "Knowledge"],
        ),
        (
            "componenttype ge 15".into(),
            vec!["Instructions", "Knowledge"],
        ),
        (
            "componenttype lt 15".into(),
            vec!["Escalate", "Goodbye", "Greeting"],
        ),
        (
            "componenttype le 9".into(),
            vec!["Escalate", "Goodbye", "Greeting"],
        ),
        (
            "componenttype eq 9 and ismanaged eq true".into(),
            vec!["Goodbye"],
        ),
        (
            "componenttype eq 15 or componenttype eq 16".into(),
            vec!["Instructions", "Knowledge"],
        ),
        (
            "not (componenttype eq 9)".into(),
            vec!["Instructions", "Knowledge"],
        ),
        (
            "(componenttype eq 9 or componenttype eq 16) and ismanaged eq false".into(),
            vec!["Escalate", "Greeting"],
        ),
        (
            "contains(name,'o')".into(),
            vec!["Goodbye", "Instructions", "Knowledge"],
        ),
        ("startswith(name,'G')".into(), vec!["Goodbye", "Greeting"]),
        ("endswith(name,'ate')".into(), vec!["Escalate"]),
        ("not contains(name,'e')".into(), vec!["Instructions"]),
        (
            format!("_parentbotid_value eq {a}"),
            vec!["Goodbye", "Greeting", "Instructions"],
        ),
        (
            "createdon ge 2024-09-03T10:00:00Z".into(),
            vec!["Escalate", "Instructions", "Knowledge"],
        ),
        ("createdon lt 2024-09-02".into(), vec!["Greeting"]),
        ("description eq null".into(), vec!["Escalate", "Goodbye"]),
        (
            "description ne null".into(),
            vec!["Greeting", "Instructions", "Knowledge"],
        ),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='componenttype',PropertyValues=['15','16'])"
                .into(),
            vec!["Instructions", "Knowledge"],
        ),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['Greeting','Escalate'])"
                .into(),
            vec!["Escalate", "Greeting"],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(names(&server, &filter).await, expected, "{filter}");
    }
    // '' inside a string literal is one quote.
    let reply = server
        .get("bots?$select=name&$filter=name eq 'O''Brien Bot'", &[])
        .await;
    assert_eq!(column(&reply.json(), "name"), [json!("O'Brien Bot")]);
}

#[tokio::test]
async fn query_strings_are_percent_decoded() {
    let server = seeded().await;
    // An encoded ampersand inside a literal, an encoded `$`, and `+` for spaces.
    let reply = server
        .get(
            "bots?%24select=name&$filter=name%20eq%20%27A%26B%20Helper%27",
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(column(&reply.json(), "name"), [json!("A&B Helper")]);
    let plus = server
        .get("bots?$select=name&$filter=statecode+eq+1", &[])
        .await;
    assert_eq!(column(&plus.json(), "name"), [json!("A&B Helper")]);
}

#[tokio::test]
async fn orderby_top_and_count() {
    let server = seeded().await;
    let reply = server
        .get(
            "botcomponents?$select=name&$orderby=componenttype desc,name asc&$top=3&$count=true",
            &[],
        )
        .await;
    let body = reply.json();
    assert_eq!(
        column(&body, "name"),
        [json!("Knowledge"), json!("Instructions"), json!("Escalate")]
    );
    assert_eq!(body["@odata.count"], 5);
    assert!(body.get("@odata.nextLink").is_none());
    // Without $orderby rows come in primary key order.
    let plain = server.get("botcomponents?$select=name", &[]).await.json();
    assert_eq!(
        column(&plain, "botcomponentid"),
        (10..15).map(|n| json!(guid(n))).collect::<Vec<_>>()
    );
    let count = server.get("botcomponents/$count", &[]).await;
    assert_eq!(count.text, "5");
}

#[tokio::test]
async fn count_is_capped_at_5000() {
    let server = start_default().await;
    server.seed(
        "botcomponents",
        (0..5003).map(|n| json!({"botcomponentid": guid(n), "name": format!("c{n}")})),
    );
    let body = server
        .get(
            "botcomponents?$select=name&$count=true",
            &[("Prefer", "odata.maxpagesize=10")],
        )
        .await
        .json();
    assert_eq!(body["@odata.count"], 5000);
    assert_eq!(
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"],
        true
    );
}

#[tokio::test]
async fn expand_botcomponent_relationships() {
    let server = seeded().await;
    let path = "bots?$select=name&$expand=botcomponent_parent_bot($select=name;$filter=componenttype eq 9;$orderby=name desc)&$orderby=name";
    let body = server.get(path, &[]).await.json();
    let bots = body["value"].as_array().unwrap();
    assert_eq!(bots[0]["name"], "A&B Helper");
    assert_eq!(
        column(
            &json!({"value": bots[0]["botcomponent_parent_bot"]}),
            "name"
        ),
        [json!("Escalate")]
    );
    assert_eq!(
        column(
            &json!({"value": bots[1]["botcomponent_parent_bot"]}),
            "name"
        ),
        [json!("Greeting"), json!("Goodbye")]
    );
    // Single-valued: the parent bot of each component.
    let comps = server
        .get("botcomponents?$select=name&$expand=parentbotid($select=name)&$filter=name eq 'Knowledge'", &[])
        .await
        .json();
    assert_eq!(comps["value"][0]["parentbotid"]["name"], "A&B Helper");
    // N:N through the intersect set.
    let nn = server
        .get(
            &format!(
                "bots({})?$select=name&$expand=bot_botcomponent($select=name)",
                guid(BOT_B)
            ),
            &[],
        )
        .await
        .json();
    assert_eq!(nn["bot_botcomponent"][0]["name"], "Instructions");
    assert!(nn["@odata.context"].as_str().unwrap().ends_with("/$entity"));
    // Navigation path.
    let nav = server
        .get(
            &format!(
                "bots({})/botcomponent_parent_bot?$select=name&$orderby=name",
                guid(BOT_B)
            ),
            &[],
        )
        .await;
    assert_eq!(
        column(&nav.json(), "name"),
        [json!("Escalate"), json!("Knowledge")]
    );
}

#[tokio::test]
async fn single_rows_and_not_found() {
    let server = seeded().await;
    let ok = server
        .get(&format!("bots({})?$select=name", guid(BOT_A)), &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["name"], "O'Brien Bot");
    let etag = ok.json()["@odata.etag"].as_str().unwrap().to_owned();
    let not_modified = server
        .get(
            &format!("bots({})?$select=name", guid(BOT_A)),
            &[("If-None-Match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    let prop = server
        .get(&format!("bots({})/name", guid(BOT_A)), &[])
        .await
        .json();
    assert_eq!(prop["value"], "O'Brien Bot");

    let missing = server.get(&format!("bots({})", guid(77)), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        missing.error(),
        (
            "0x80040217".into(),
            format!("bot With Id = {} Does Not Exist", guid(77))
        )
    );
    let unknown = server.get("nopes?$select=name", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.error().1,
        "Resource not found for the segment 'nopes'."
    );
    let put = server
        .send(reqwest::Method::PUT, "bots", &[], Some("{}".into()))
        .await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        put.error().1,
        "The requested resource does not support http method 'PUT'."
    );
    let delete_all = server.delete("bots", &[]).await;
    assert_eq!(delete_all.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn bad_queries_are_400_with_an_error_body() {
    let server = seeded().await;
    for path in [
        "bots?$filter=name eq",
        "bots?$filter=name eq 'unterminated",
        "bots?$filter=(name eq 'x'",
        "bots?$filter=name eq 1",
        "bots?$filter=contains(statecode,'1')",
        "bots?$filter=statecode eq 'one'",
        "bots?$skip=10",
        "bots?$top=-1",
        "bots?$top=1&$top=2",
        "bots?$count=maybe",
        "bots?$orderby=name upward",
        "bots(not-a-key)",
        "bots?$filter=Microsoft.Dynamics.CRM.In(PropertyName='statecode',PropertyValues=['x'])",
    ] {
        let reply = server.get(path, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            reply.text
        );
        let (_, message) = reply.error();
        assert!(!message.is_empty());
    }
    let types = server.get("bots?$filter=name eq 1", &[]).await.error().1;
    assert_eq!(
        types,
        "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'Equal'."
    );
}

#[tokio::test]
async fn hostile_filters_are_400s_and_the_server_keeps_serving() {
    let server = seeded().await;
    // URIs are limited to 64 KiB; 10,000 levels fit and were far beyond the stack.
    let deep = 10_000;
    let hostile = [
        // Each of these used to recurse once per level: deep enough, the stack overflowed and
        // the whole process aborted.
        format!(
            "bots?$filter={}statecode eq 0{}",
            "(".repeat(deep),
            ")".repeat(deep)
        ),
        format!("bots?$filter={}statecode eq 0", "not ".repeat(deep)),
        format!("bots(name={}'x'{})", "(".repeat(deep), ")".repeat(deep)),
        format!(
            "bots?$expand=botcomponent_parent_bot($filter={}name eq 'x'{})",
            "(".repeat(deep),
            ")".repeat(deep)
        ),
    ];
    for path in &hostile {
        let reply = server.get(path, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", &path[..40]);
    }
    // Huge numbers and long chains are answered, not refused or overflowed.
    let reply = server
        .get(
            "bots?$filter=statecode eq 99999999999999999999999999 or statecode eq 1e400",
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let chain = (0..1_500)
        .map(|i| format!("statecode eq {i}"))
        .collect::<Vec<_>>()
        .join(" or ");
    let reply = server.get(&format!("bots?$filter={chain}"), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(!reply.json()["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn real_transcript_rows_load_and_query() {
    let server = start_default().await;
    let rows = real_transcripts();
    server.seed("conversationtranscripts", rows.clone());
    let cutoff = "2024-09-09T18:04:00Z";
    let mut expected: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r["conversationstarttime"].as_str().unwrap() >= cutoff)
        .map(|r| {
            (
                r["conversationstarttime"].as_str().unwrap().to_owned(),
                r["conversationtranscriptid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    let reply = server
        .get(
            &format!("conversationtranscripts?$select=conversationstarttime,content&$filter=conversationstarttime ge {cutoff}&$orderby=conversationstarttime desc"),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    let got: Vec<(String, String)> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["conversationstarttime"].as_str().unwrap().to_owned(),
                r["conversationtranscriptid"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    // content is a JSON string, returned as stored.
    let content = body["value"][0]["content"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(content).unwrap();
    assert!(parsed["activities"].is_array());
}

#[tokio::test]
async fn materializer_fills_columns_on_demand() {
    let server = start_default().await;
    server.seed(
        "conversationtranscripts",
        (1..=3).map(|n| json!({"conversationtranscriptid": guid(n), "name": format!("t{n}")})),
    );
    server.dataverse.set_materializer(
        "conversationtranscripts",
        std::sync::Arc::new(|row| {
            let name = row["name"].as_str().unwrap_or_default();
            let mut extra = serde_json::Map::new();
            extra.insert(
                "content".into(),
                json!(format!("{{\"activities\":[],\"for\":\"{name}\"}}")),
            );
            extra
        }),
    );
    let body = server
        .get(
            "conversationtranscripts?$select=content&$filter=contains(content,'t2')",
            &[],
        )
        .await
        .json();
    assert_eq!(
        column(&body, "content"),
        [json!("{\"activities\":[],\"for\":\"t2\"}")]
    );
}

#[tokio::test]
async fn metadata_and_who_am_i() {
    let server = start_default().await;
    let config = DataverseConfig::default();
    let who = server.get("WhoAmI", &[]).await.json();
    assert_eq!(who["UserId"], config.default_user_id.to_string());
    assert_eq!(who["BusinessUnitId"], config.business_unit_id.to_string());
    assert_eq!(who["OrganizationId"], config.organization_id.to_string());

    let set = server
        .get(
            "GlobalOptionSetDefinitions(Name='botcomponent_componenttype')",
            &[],
        )
        .await
        .json();
    let options = set["Options"].as_array().unwrap();
    assert_eq!(options.len(), 20);
    let values: Vec<i64> = options
        .iter()
        .map(|o| o["Value"].as_i64().unwrap())
        .collect();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
    assert_eq!(
        options[9]["Label"]["UserLocalizedLabel"]["Label"],
        "Topic (V2)"
    );
    assert_eq!(
        options[15]["Label"]["LocalizedLabels"][0]["Label"],
        "Custom GPT"
    );
    assert!(
        options
            .iter()
            .any(|o| o["Label"]["UserLocalizedLabel"].is_null())
    );
    let missing = server
        .get("GlobalOptionSetDefinitions(Name='nope')", &[])
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let entity = server
        .get("EntityDefinitions(LogicalName='conversationtranscript')?$select=ChangeTrackingEnabled,EntitySetName", &[])
        .await
        .json();
    assert_eq!(entity["ChangeTrackingEnabled"], true);
    assert_eq!(entity["EntitySetName"], "conversationtranscripts");
    let attrs = server
        .get(
            "EntityDefinitions(LogicalName='bot')/Attributes?$select=LogicalName,AttributeType",
            &[],
        )
        .await
        .json();
    let attrs = attrs["value"].as_array().unwrap();
    assert!(
        attrs
            .iter()
            .any(|a| a["LogicalName"] == "configuration" && a["AttributeType"] == "Memo")
    );
    assert!(!attrs.iter().any(|a| a["LogicalName"] == "description"));

    server
        .dataverse
        .declare_entity_set(
            tenant_emulator::dataverse::EntitySetDef::new("cr_things", "cr_thing", "cr_thingid")
                .change_tracking(false),
        )
        .unwrap();
    let tracked = server
        .get(
            "EntityDefinitions?$select=LogicalName&$filter=ChangeTrackingEnabled eq true",
            &[],
        )
        .await;
    assert_eq!(tracked.status, StatusCode::OK, "{}", tracked.text);
    let names = column(&tracked.json(), "LogicalName");
    assert!(names.contains(&json!("conversationtranscript")));
    assert!(!names.contains(&json!("systemuserroles")));
    assert!(!names.contains(&json!("cr_thing")));
    let custom = server
        .get(
            "EntityDefinitions?$select=LogicalName&$filter=IsCustomEntity eq true",
            &[],
        )
        .await
        .json();
    assert_eq!(column(&custom, "LogicalName"), [json!("cr_thing")]);
    let unknown = server
        .get("EntityDefinitions?$filter=Nonsense eq true", &[])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown.error().1,
        "Could not find a property named 'Nonsense' on type 'Microsoft.Dynamics.CRM.EntityMetadata'."
    );
}

#[tokio::test]
async fn caller_without_read_privilege_gets_403() {
    let dataverse = Dataverse::new(DataverseConfig::default());
    let caller = Caller {
        user_id: uuid::Uuid::from_u128(5),
        app_id: uuid::Uuid::from_u128(6),
        privileges: Privileges::from_names(["prvReadbot"]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = dataverse.router().layer(axum::Extension(caller));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let server = Server {
        base: format!("http://{addr}/api/data/v9.2"),
        dataverse,
        client: reqwest::Client::new(),
    };
    assert_eq!(
        server.get("bots?$select=name", &[]).await.status,
        StatusCode::OK
    );
    let denied = server.get("botcomponents?$select=name", &[]).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let (code, message) = denied.error();
    assert_eq!(code, "0x80040220");
    assert!(message.contains("prvReadbotcomponent"), "{message}");
    let who = server.get("WhoAmI", &[]).await.json();
    assert_eq!(who["UserId"], uuid::Uuid::from_u128(5).to_string());
}

#[tokio::test]
async fn annotations_when_asked_for_and_v9_1_is_served() {
    let server = seeded().await;
    let path = "botcomponents?$select=name,componenttype,ismanaged,_parentbotid_value&$filter=name eq 'Greeting'";
    let plain = server.get(path, &[]).await.json();
    let row = plain["value"][0].as_object().unwrap();
    assert!(
        !row.keys()
            .any(|k| k.contains("@OData") || k.contains("@Microsoft"))
    );
    let annotated = server
        .get(path, &[("Prefer", "odata.include-annotations=\"*\"")])
        .await;
    assert_eq!(
        annotated.header("Preference-Applied"),
        Some("odata.include-annotations=\"*\"")
    );
    let row = &annotated.json()["value"][0];
    assert_eq!(
        row["componenttype@OData.Community.Display.V1.FormattedValue"],
        "Topic (V2)"
    );
    assert_eq!(
        row["ismanaged@OData.Community.Display.V1.FormattedValue"],
        "No"
    );
    assert_eq!(
        row["_parentbotid_value@Microsoft.Dynamics.CRM.lookuplogicalname"],
        "bot"
    );
    assert_eq!(
        row["_parentbotid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        "parentbotid"
    );
    assert_eq!(
        row["_parentbotid_value@OData.Community.Display.V1.FormattedValue"],
        "O'Brien Bot"
    );

    let v91 = server
        .get(
            &format!("{}/bots?$select=name", server.base.replace("v9.2", "v9.1")),
            &[("Prefer", "odata.maxpagesize=1")],
        )
        .await
        .json();
    assert!(
        v91["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/api/data/v9.1/$metadata#bots(name)")
    );
    assert!(
        v91["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("/api/data/v9.1/bots?")
    );
}

#[tokio::test]
async fn materializer_for_named_columns_runs_only_when_they_are_read() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let server = start_default().await;
    server.seed(
        "conversationtranscripts",
        (1..=4).map(|n| json!({"conversationtranscriptid": guid(n), "name": format!("t{n}")})),
    );
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    server.dataverse.set_materializer_for(
        "conversationtranscripts",
        ["content"],
        std::sync::Arc::new(move |_row| {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut extra = serde_json::Map::new();
            extra.insert("content".into(), json!("{\"activities\":[]}"));
            extra.insert(
                "metadata".into(),
                json!("ignored: not a declared column of it"),
            );
            extra
        }),
    );
    let body = server
        .get(
            "conversationtranscripts?$select=name,metadata&$filter=_owningteam_value eq null",
            &[],
        )
        .await
        .json();
    assert_eq!(body["value"].as_array().unwrap().len(), 4);
    assert!(body["value"][0]["metadata"].is_null());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let with_content = server
        .get("conversationtranscripts?$select=content&$top=2", &[])
        .await
        .json();
    assert_eq!(with_content["value"][1]["content"], "{\"activities\":[]}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
