//! What stands in front of the Web API: bearer token, audience, application user, service
//! protection (docs/wire/dataverse.md, "Errors and service protection").
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tenant_emulator::entra::{AppRegistration, ClientSecret, DataverseAccess};
use tenant_emulator::throttle::ServiceProtectionLimits;
use uuid::Uuid;

#[tokio::test]
async fn missing_or_foreign_tokens_get_401_with_a_bearer_challenge() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let response = http()
        .get(format!("{}WhoAmI", emu.web_api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&format!("resource_id={}", emu.environment_url())),
        "{challenge}"
    );

    // A token for another resource (Graph) has the wrong audience.
    let c = emu.credentials().clone();
    let response = token_request(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id.to_string()),
            ("client_secret", &c.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    let graph: Value = response.json().await.unwrap();
    let response = dv_get(&emu, graph["access_token"].as_str().unwrap(), "WhoAmI").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience"),
        "{body}"
    );

    // A forged token.
    let token = dataverse_token(&emu).await;
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(dv_get(&emu, &forged, "WhoAmI").await.status(), 401);
    assert_eq!(dv_get(&emu, "garbage", "WhoAmI").await.status(), 401);
}

#[tokio::test]
async fn whoami_names_the_application_user() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 200);
    let who: Value = response.json().await.unwrap();
    let user_id = who["UserId"].as_str().unwrap().to_owned();
    assert_eq!(
        who["OrganizationId"],
        emu.tenant().identity().organization_id.to_string()
    );
    // The user is the application user of the connector app.
    let user = dv_get(
        &emu,
        &token,
        &format!("systemusers({user_id})?$select=applicationid,fullname"),
    )
    .await;
    assert_eq!(user.status(), 200);
    let user: Value = user.json().await.unwrap();
    assert_eq!(
        user["applicationid"],
        emu.credentials().client_id.to_string()
    );
}

#[tokio::test]
async fn app_without_application_user_gets_403() {
    let clock = clock();
    let stranger = Uuid::from_u128(77);
    let emu = builder(&clock)
        .app(
            AppRegistration::new(stranger, "no-app-user")
                .with_secret(ClientSecret::new("pw"))
                .with_dataverse_access(DataverseAccess::None),
        )
        .start()
        .await
        .unwrap();
    let scope = format!("{}/.default", emu.environment_url());
    let response = token_request(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &stranger.to_string()),
            ("client_secret", "pw"),
            ("scope", &scope),
        ],
    )
    .await;
    let token: Value = response.json().await.unwrap();
    let response = dv_get(
        &emu,
        token["access_token"].as_str().unwrap(),
        "bots?$select=name",
    )
    .await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x80072560");
    // The connector app itself still reads.
    let token = dataverse_token(&emu).await;
    assert_eq!(
        dv_get(&emu, &token, "bots?$select=name").await.status(),
        200
    );
}

#[tokio::test]
async fn throttles_after_n_requests_with_exact_retry_after() {
    let clock = clock();
    let emu = builder(&clock)
        .service_protection(ServiceProtectionLimits::default().with_requests(5))
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    for i in 0..5u32 {
        let response = dv_get(&emu, &token, "WhoAmI").await;
        assert_eq!(response.status(), 200);
        let remaining = response.headers()["x-ms-ratelimit-burst-remaining-xrm-requests"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(remaining, (4 - i).to_string());
        clock.advance(Duration::from_secs(10));
    }
    // Requests at 0, 10, 20, 30, 40; now 50. The refused request counts too, so two arrivals
    // must leave the 300 s window: the second (at 10) leaves at 310.
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "260");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "0x80072322");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Number of requests exceeded the limit of 5 over time window of 300 seconds")
    );
    clock.advance(Duration::from_secs(259));
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 429);
    // The second refusal (at 309) pushed the wait to when the arrival at 20 leaves: 320.
    clock.advance(Duration::from_secs(11));
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
}

#[tokio::test]
async fn limits_can_be_changed_at_run_time() {
    let clock = clock();
    let emu = builder(&clock).start().await.unwrap();
    let token = dataverse_token(&emu).await;
    let response = http()
        .post(format!("{}/_emulator/limits", emu.base_url()))
        .body(r#"{"requests": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn least_privilege_by_default_over_privileged_on_request() {
    let clock = clock();
    let least = builder(&clock).start().await.unwrap();
    let caller = least
        .dataverse()
        .privileges_for_app(least.credentials().client_id)
        .unwrap();
    assert!(caller.privileges.can_read("conversationtranscript"));
    assert!(caller.privileges.can_read("botcomponent"));
    assert!(!caller.privileges.has("prvWritebot"));
    assert!(!caller.privileges.has("prvDeleteconversationtranscript"));

    let over = builder(&clock)
        .connector_access(DataverseAccess::OverPrivileged)
        .start()
        .await
        .unwrap();
    let caller = over
        .dataverse()
        .privileges_for_app(over.credentials().client_id)
        .unwrap();
    assert!(caller.privileges.has("prvDeleteconversationtranscript"));
    // The role names are visible over HTTP, as a permissions audit would read them.
    let token = dataverse_token(&over).await;
    let roles: Value = dv_get(&over, &token, "roles?$select=name")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = roles["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert!(names.contains(&"System Administrator"), "{names:?}");
    assert!(
        names.contains(&"Copilot Studio Connector Reader"),
        "{names:?}"
    );
}
