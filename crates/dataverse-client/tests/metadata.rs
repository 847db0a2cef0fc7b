//! Metadata against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::{client_for, clock};
use dataverse_client::DataverseClient;
use httpmock::prelude::*;
use serde_json::json;

const API: &str = "/api/data/v9.2";

async fn scenario_component_types(client: &DataverseClient) -> Vec<(i32, Option<String>)> {
    let set = client
        .global_option_set("botcomponent_componenttype")
        .await
        .unwrap();
    assert_eq!(set.name, "botcomponent_componenttype");
    set.options
        .iter()
        .map(|o| (o.value, o.label.clone()))
        .collect()
}

#[tokio::test]
async fn option_set_labels_fall_back_to_the_first_localized_label() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/GlobalOptionSetDefinitions(Name='botcomponent_componenttype')"));
            then.status(200).json_body(json!({
                "@odata.context": "x",
                "@odata.type": "#Microsoft.Dynamics.CRM.OptionSetMetadata",
                "Name": "botcomponent_componenttype",
                "Options": [
                    {"Value": 0, "Label": {
                        "LocalizedLabels": [{"Label": "Topic", "LanguageCode": 1033}],
                        "UserLocalizedLabel": {"Label": "Topic", "LanguageCode": 1033}}},
                    {"Value": 9, "Label": {
                        "LocalizedLabels": [{"Label": "Topic (V2)", "LanguageCode": 1033}, {"Label": "Thème (V2)", "LanguageCode": 1036}],
                        "UserLocalizedLabel": null}},
                    {"Value": 99, "Label": {"LocalizedLabels": [], "UserLocalizedLabel": null}},
                ]
            }));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let options = scenario_component_types(&client).await;
    assert_eq!(
        options,
        [
            (0, Some("Topic".to_owned())),
            (9, Some("Topic (V2)".to_owned())),
            (99, None)
        ]
    );
    let set = client
        .global_option_set("botcomponent_componenttype")
        .await
        .unwrap();
    assert_eq!(set.label(9), Some("Topic (V2)"));
    assert_eq!(set.label(42), None);
    assert_eq!(set.options[1].labels.len(), 2);
    m.assert_calls_async(2).await;
    assert!(client.global_option_set("x') or (1").await.is_err());
}

#[tokio::test]
async fn entity_and_attribute_definitions() {
    let server = MockServer::start_async().await;
    let entity = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{API}/EntityDefinitions(LogicalName='bot')"))
                .query_param_exists("$select");
            then.status(200).json_body(json!({
                "LogicalName": "bot", "SchemaName": "bot", "EntitySetName": "bots",
                "PrimaryIdAttribute": "botid", "PrimaryNameAttribute": "name",
                "ChangeTrackingEnabled": true, "IsIntersect": false,
                "MetadataId": "00000000-0000-0000-0000-000000000001"
            }));
        })
        .await;
    let attrs = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!(
                    "{API}/EntityDefinitions(LogicalName='bot')/Attributes"
                ))
                .query_param(
                    "$select",
                    "LogicalName,SchemaName,AttributeType,IsPrimaryId",
                );
            then.status(200).json_body(json!({"value": [
                {"LogicalName": "botid", "AttributeType": "Uniqueidentifier", "IsPrimaryId": true},
                {"LogicalName": "name", "AttributeType": "String", "IsPrimaryId": false},
            ]}));
        })
        .await;
    let c = clock();
    let client = client_for(&server.base_url(), &c);
    let def = client.entity_definition("bot").await.unwrap();
    assert_eq!(def.entity_set_name.as_deref(), Some("bots"));
    assert_eq!(def.primary_id_attribute.as_deref(), Some("botid"));
    assert!(client.change_tracking_enabled("bot").await.unwrap());
    let a = client.attribute_definitions("bot").await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].attribute_type.as_deref(), Some("Uniqueidentifier"));
    entity.assert_calls_async(2).await;
    attrs.assert_calls_async(1).await;
}
