//! The Entra token endpoint, driven with plain form posts written from docs/wire/entra.md:
//! client secret and certificate assertion, and each documented error.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use serde_json::{Value, json};
use tenant_emulator::RunningEmulator;
use tenant_emulator::clock::{Clock, ManualClock};
use tenant_emulator::entra::{
    AppCertificate, AppRegistration, ClientSecret, JWT_BEARER_ASSERTION_TYPE,
};
use uuid::Uuid;

const CERT: &[u8] = include_bytes!("fixtures/certs/cert.der");
const KEY: &[u8] = include_bytes!("fixtures/certs/key.pk8.der");
const PUBLIC: &[u8] = include_bytes!("fixtures/certs/public.pkcs1.der");

const CERT_APP: Uuid = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
const EXPIRED_APP: Uuid = Uuid::from_u128(0x9999_2222_3333_4444_5555_6666_7777_8888);

async fn emulator(clock: &ManualClock) -> RunningEmulator {
    let cert_app = AppRegistration::new(CERT_APP, "cert-app")
        .with_certificate(AppCertificate::from_der(CERT).with_rsa_public_key(PUBLIC.to_vec()))
        .with_roles(["Reader"]);
    let expired_app = AppRegistration::new(EXPIRED_APP, "expired-app").with_secret(
        ClientSecret::new("old-secret").expires_at(clock.now() - Duration::from_secs(60)),
    );
    builder(clock)
        .token_lifetime(Duration::from_secs(1800))
        .app(cert_app)
        .app(expired_app)
        .start()
        .await
        .unwrap()
}

fn sign(alg: &str, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_pkcs8(KEY).unwrap();
    let mut sig = vec![0; key.public().modulus_len()];
    let padding: &dyn signature::RsaEncoding = if alg == "PS256" {
        &signature::RSA_PSS_SHA256
    } else {
        &signature::RSA_PKCS1_SHA256
    };
    key.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn assertion_claims(emu: &RunningEmulator, clock: &ManualClock) -> Value {
    let now = clock.now().unix_timestamp();
    json!({
        "aud": emu.token_url(),
        "iss": CERT_APP,
        "sub": CERT_APP,
        "jti": Uuid::new_v4(),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    })
}

fn ps256_header() -> Value {
    json!({"typ": "JWT", "alg": "PS256", "x5t#S256": AppCertificate::from_der(CERT).x5t_s256()})
}

async fn assertion_request(emu: &RunningEmulator, assertion: &str) -> reqwest::Response {
    let scope = format!("{}/.default", emu.environment_url());
    let client_id = CERT_APP.to_string();
    token_request(
        emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
            ("scope", &scope),
        ],
    )
    .await
}

#[tokio::test]
async fn client_secret_issues_a_dataverse_token() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let c = emu.credentials().clone();
    let scope = format!("{}/.default", emu.environment_url());
    let response = token_request(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id.to_string()),
            ("client_secret", &c.client_secret),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let claims = claims(token);
    let now = clock.now().unix_timestamp();
    assert_eq!(claims["aud"], emu.environment_url());
    assert_eq!(claims["tid"], c.tenant_id.to_string());
    assert_eq!(claims["appid"], c.client_id.to_string());
    assert_eq!(claims["azp"], c.client_id.to_string());
    assert!(claims["roles"].is_array());
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["nbf"], now);
    assert_eq!(claims["exp"], now + 1800);
    assert!(
        claims["iss"]
            .as_str()
            .unwrap()
            .contains(&c.tenant_id.to_string())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn tenant_may_be_given_by_domain_and_scope_by_trailing_slash() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let c = emu.credentials().clone();
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        emu.authority_host(),
        emu.entra().domain()
    );
    // `https://org.crm.dynamics.com//.default` is a common spelling of the Dataverse scope.
    let scope = format!("{}//.default", emu.environment_url());
    let response = token_request_to(
        &emu,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id.to_string()),
            ("client_secret", &c.client_secret),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        emu.environment_url()
    );
}

#[tokio::test]
async fn secret_errors() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let c = emu.credentials().clone();
    let client_id = c.client_id.to_string();
    let scope = format!("{}/.default", emu.environment_url());
    let base = |secret: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.into()),
            ("scope", scope.clone()),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        let emu = &emu;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(emu, &pairs).await
        }
    };
    // Wrong secret (e.g. the secret's ID pasted instead of its value).
    let secret_id = emu.tenant().identity().client_secret_id.to_string();
    let mut form = base("");
    form[2].1 = secret_id;
    let body = assert_aad_error(send(form).await, 401, "invalid_client", 7000215).await;
    assert!(body["error_uri"].as_str().unwrap().contains("7000215"));

    // Expired secret.
    let form = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", EXPIRED_APP.to_string()),
        ("client_secret", "old-secret".into()),
        ("scope", scope.clone()),
    ];
    assert_aad_error(send(form).await, 401, "invalid_client", 7000222).await;

    // Unknown app.
    let mut form = base("x");
    form[1].1 = Uuid::from_u128(42).to_string();
    assert_aad_error(send(form).await, 400, "unauthorized_client", 700016).await;

    // Neither secret nor assertion.
    let mut form = base("x");
    form.remove(2);
    assert_aad_error(send(form).await, 401, "invalid_client", 7000218).await;

    // Missing scope, a scope without /.default, two resources, an unknown resource.
    let mut form = base("");
    form[2].1 = c.client_secret.clone();
    form.pop();
    assert_aad_error(send(form.clone()).await, 400, "invalid_scope", 70011).await;
    for bad in [
        format!("{}/user_impersonation", emu.environment_url()),
        format!(
            "{0}/.default https://graph.microsoft.com/.default",
            emu.environment_url()
        ),
    ] {
        let mut f = form.clone();
        f.push(("scope", bad));
        assert_aad_error(send(f).await, 400, "invalid_scope", 70011).await;
    }
    let mut f = form.clone();
    f.push(("scope", "https://nowhere.example.com/.default".into()));
    assert_aad_error(send(f).await, 400, "invalid_resource", 500011).await;
}

#[tokio::test]
async fn tenant_errors() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let c = emu.credentials().clone();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", &c.client_id.to_string()),
        ("client_secret", &c.client_secret),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let other_tenant = format!(
        "{}/{}/oauth2/v2.0/token",
        emu.authority_host(),
        Uuid::from_u128(5)
    );
    assert_aad_error(
        token_request_to(&emu, &other_tenant, &form).await,
        400,
        "invalid_request",
        90002,
    )
    .await;
    let other_domain = format!(
        "{}/fabrikam.onmicrosoft.com/oauth2/v2.0/token",
        emu.authority_host()
    );
    assert_aad_error(
        token_request_to(&emu, &other_domain, &form).await,
        400,
        "invalid_request",
        90002,
    )
    .await;
    let get = http().get(emu.token_url()).send().await.unwrap();
    assert_aad_error(get, 400, "invalid_request", 900561).await;
    let malformed = format!("{}/not_a_tenant/oauth2/v2.0/token", emu.authority_host());
    assert_aad_error(
        token_request_to(&emu, &malformed, &form).await,
        400,
        "invalid_request",
        900023,
    )
    .await;
}

#[tokio::test]
async fn certificate_assertions_rs256_and_ps256() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let claims_in = assertion_claims(&emu, &clock);
    let ps = sign("PS256", ps256_header(), claims_in.clone());
    let response = assertion_request(&emu, &ps).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token_claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(token_claims["appid"], CERT_APP.to_string());
    assert_eq!(token_claims["appidacr"], "2");
    assert_eq!(token_claims["roles"], json!(["Reader"]));

    let rs_header =
        json!({"typ": "JWT", "alg": "RS256", "x5t": AppCertificate::from_der(CERT).x5t()});
    let rs = sign("RS256", rs_header, claims_in);
    assert_eq!(assertion_request(&emu, &rs).await.status(), 200);
}

#[tokio::test]
async fn assertion_errors() {
    let clock = clock();
    let emu = emulator(&clock).await;
    let good = assertion_claims(&emu, &clock);

    // Expired, and not yet valid.
    let mut expired = good.clone();
    expired["exp"] = json!(clock.now().unix_timestamp() - 1);
    let a = sign("PS256", ps256_header(), expired);
    assert_aad_error(
        assertion_request(&emu, &a).await,
        401,
        "invalid_client",
        700024,
    )
    .await;
    let mut early = good.clone();
    early["nbf"] = json!(clock.now().unix_timestamp() + 300);
    let a = sign("PS256", ps256_header(), early);
    assert_aad_error(
        assertion_request(&emu, &a).await,
        401,
        "invalid_client",
        700024,
    )
    .await;

    // A certificate the app does not have.
    let unknown =
        json!({"typ": "JWT", "alg": "PS256", "x5t#S256": URL_SAFE_NO_PAD.encode([7u8; 32])});
    let a = sign("PS256", unknown, good.clone());
    assert_aad_error(
        assertion_request(&emu, &a).await,
        401,
        "invalid_client",
        700027,
    )
    .await;

    // The right certificate, a tampered payload: the signature no longer matches.
    let a = sign("PS256", ps256_header(), good.clone());
    let mut parts: Vec<String> = a.split('.').map(str::to_owned).collect();
    let mut tampered = good.clone();
    tampered["exp"] = json!(clock.now().unix_timestamp() + 700);
    parts[1] = URL_SAFE_NO_PAD.encode(tampered.to_string());
    assert_aad_error(
        assertion_request(&emu, &parts.join(".")).await,
        401,
        "invalid_client",
        700027,
    )
    .await;

    // iss / sub must be the client ID; aud must be the token endpoint.
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!(Uuid::from_u128(3));
    let a = sign("PS256", ps256_header(), wrong_iss);
    assert_aad_error(
        assertion_request(&emu, &a).await,
        401,
        "invalid_client",
        700021,
    )
    .await;
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("https://login.microsoftonline.com/common/oauth2/v2.0/token");
    let a = sign("PS256", ps256_header(), wrong_aud);
    let body = assert_aad_error(
        assertion_request(&emu, &a).await,
        401,
        "invalid_client",
        50013,
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("audience")
    );

    // Not a JWT at all.
    assert_aad_error(
        assertion_request(&emu, "not.a-jwt").await,
        400,
        "invalid_request",
        50027,
    )
    .await;
}

#[tokio::test]
async fn token_lifetime_is_configurable_and_expiry_is_enforced() {
    let clock = clock();
    let emu = builder(&clock)
        .token_lifetime(Duration::from_secs(120))
        .start()
        .await
        .unwrap();
    let token = dataverse_token(&emu).await;
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
    clock.advance(Duration::from_secs(121));
    let response = dv_get(&emu, &token, "WhoAmI").await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // A fresh token works again.
    let token = dataverse_token(&emu).await;
    assert_eq!(dv_get(&emu, &token, "WhoAmI").await.status(), 200);
}
