//! Identity posture reads against httpmock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use graph_client::{ConsentType, CredentialIssue, Error, GraphClient};
use httpmock::prelude::*;
use serde_json::json;
use time::macros::datetime;

const APP: &str = "11111111-2222-3333-4444-555555555555";
const GRAPH_SP: &str = "gsp-1";
const MAIL_SEND: &str = "b633e1c5-b582-4048-a93e-9f11b44c7e96";

fn client(server: &MockServer) -> GraphClient {
    support::builder()
        .base_url(&server.base_url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn posture_resolves_roles_grants_credentials_and_owners() {
    let server = MockServer::start_async().await;
    let graph = client(&server);
    let sp = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/servicePrincipals(appId='{APP}')"))
                .header("authorization", "Bearer graph-token");
            then.json_body(
                json!({"id": "sp-1", "appId": APP, "displayName": "HR agent",
                "servicePrincipalType": "Application", "appRoles": []}),
            );
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1.0/servicePrincipals/sp-1/appRoleAssignments");
            then.json_body(json!({"value": [
                {"id": "a1", "principalId": "sp-1", "resourceId": GRAPH_SP,
                 "resourceDisplayName": "Microsoft Graph", "appRoleId": MAIL_SEND,
                 "createdDateTime": "2026-01-01T00:00:00Z"},
                {"id": "a2", "principalId": "sp-1", "resourceId": GRAPH_SP,
                 "resourceDisplayName": "Microsoft Graph", "appRoleId": "removed-role"}
            ]}));
        })
        .await;
    let resource = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v1.0/servicePrincipals/{GRAPH_SP}"));
            then.json_body(json!({"id": GRAPH_SP, "appId": "00000003-0000-0000-c000-000000000000",
                "displayName": "Microsoft Graph", "appRoles": [
                    {"id": MAIL_SEND, "value": "Mail.Send", "allowedMemberTypes": ["Application"], "isEnabled": true},
                    {"id": "r-read", "value": "User.Read.All", "allowedMemberTypes": ["Application"]}
                ]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1.0/oauth2PermissionGrants")
                .query_param("$filter", "clientId eq 'sp-1'");
            then.json_body(json!({"value": [
                {"id": "g1", "clientId": "sp-1", "consentType": "AllPrincipals",
                 "principalId": null, "resourceId": GRAPH_SP, "scope": "User.Read Files.ReadWrite.All"},
                {"id": "g2", "clientId": "sp-1", "consentType": "Principal",
                 "principalId": "u-1", "resourceId": GRAPH_SP, "scope": "Calendars.Read"}
            ]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/applications(appId='{APP}')"));
            then.json_body(json!({"id": "app-obj", "appId": APP, "displayName": "HR agent",
                "passwordCredentials": [
                    {"keyId": "k1", "displayName": "old", "startDateTime": "2025-06-01T00:00:00Z",
                     "endDateTime": "2026-02-01T00:00:00Z", "hint": "abc", "secretText": null},
                    {"keyId": "k2", "displayName": "forever", "startDateTime": "2026-01-01T00:00:00Z",
                     "endDateTime": "2028-01-01T00:00:00Z"}
                ],
                "keyCredentials": [
                    {"keyId": "k3", "startDateTime": "2026-01-01T00:00:00Z",
                     "endDateTime": "2026-03-20T00:00:00Z", "type": "AsymmetricX509Cert"}
                ]}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1.0/applications/app-obj/owners");
            then.json_body(json!({"value": []}));
        })
        .await;

    let p = graph
        .identity_posture(APP, datetime!(2026-03-01 00:00 UTC))
        .await
        .unwrap()
        .unwrap();
    sp.assert_async().await;
    // Read once though two assignments and two grants name it.
    resource.assert_calls_async(1).await;

    assert_eq!(p.application_permissions.len(), 2, "nothing dropped");
    let mail = &p.application_permissions[0];
    assert_eq!(mail.name.as_deref(), Some("Mail.Send"));
    assert!(mail.high_privilege.is_some());
    assert_eq!(mail.resource, "Microsoft Graph");
    assert_eq!(p.application_permissions[1].name, None);

    assert_eq!(p.delegated_permissions.len(), 2);
    let admin = &p.delegated_permissions[0];
    assert_eq!(admin.consent_type, ConsentType::AllPrincipals);
    assert_eq!(admin.resource.as_deref(), Some("Microsoft Graph"));
    assert!(admin.scopes[1].1.is_some(), "Files.ReadWrite.All is high");
    assert!(admin.scopes[0].1.is_none(), "User.Read is not");
    assert_eq!(
        p.delegated_permissions[1].principal_id.as_deref(),
        Some("u-1")
    );

    let high: Vec<String> = p.high_privilege().into_iter().map(|(n, _)| n).collect();
    assert_eq!(high, ["Mail.Send", "Files.ReadWrite.All"]);

    assert!(p.application_found);
    assert!(p.is_orphaned());
    assert_eq!(p.credentials.len(), 3);
    assert_eq!(p.credentials[0].issues, vec![CredentialIssue::Expired]);
    assert_eq!(
        p.credentials[1].issues,
        vec![CredentialIssue::LongLivedSecret]
    );
    assert_eq!(p.credentials[2].issues, vec![CredentialIssue::ExpiringSoon]);
    assert!(p.has_credential_issue(CredentialIssue::Expired));
}

#[tokio::test]
async fn an_app_without_a_service_principal_or_registration_is_reported_as_such() {
    let server = MockServer::start_async().await;
    let graph = client(&server);
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/servicePrincipals(appId='{APP}')"));
            then.status(404)
                .json_body(json!({"error": {"code": "Request_ResourceNotFound",
                "message": "Resource does not exist"}}));
        })
        .await;
    assert!(
        graph
            .identity_posture(APP, datetime!(2026-03-01 00:00 UTC))
            .await
            .unwrap()
            .is_none()
    );

    let server = MockServer::start_async().await;
    let graph = client(&server);
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/servicePrincipals(appId='{APP}')"));
            then.json_body(json!({"id": "sp-1", "appId": APP}));
        })
        .await;
    for path in [
        "/v1.0/servicePrincipals/sp-1/appRoleAssignments",
        "/v1.0/oauth2PermissionGrants",
    ] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(path);
                then.json_body(json!({"value": []}));
            })
            .await;
    }
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/applications(appId='{APP}')"));
            then.status(404)
                .json_body(json!({"error": {"code": "Request_ResourceNotFound"}}));
        })
        .await;
    let p = graph
        .identity_posture(APP, datetime!(2026-03-01 00:00 UTC))
        .await
        .unwrap()
        .unwrap();
    assert!(!p.application_found);
    assert!(
        !p.is_orphaned(),
        "a foreign app's owners are not visible, not absent"
    );
    assert!(p.high_privilege().is_empty());
}

#[tokio::test]
async fn bad_app_ids_and_forbidden_reads_are_typed() {
    let server = MockServer::start_async().await;
    let graph = client(&server);
    for bad in ["", "x') or (1 eq 1", "a/b"] {
        let err = graph.service_principal_by_app_id(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err}");
    }
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v1.0/servicePrincipals(appId='{APP}')"));
            then.status(403)
                .json_body(json!({"error": {"code": "Authorization_RequestDenied",
                "message": "Insufficient privileges to complete the operation."}}));
        })
        .await;
    let err = graph
        .identity_posture(APP, datetime!(2026-03-01 00:00 UTC))
        .await
        .unwrap_err();
    assert!(err.is_forbidden());
    assert_eq!(err.code(), Some("Authorization_RequestDenied"));
}
