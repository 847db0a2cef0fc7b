//! The admin API under `/_emulator/`: read ingested records, change faults and limits, expire
//! tokens, add transcripts, and describe the emulator.
//!
//! - `GET /_emulator/info`: URLs and the connector app's credentials.
//! - `GET /_emulator/ingested` (array of accepted records), `DELETE` to clear.
//! - `GET /_emulator/faults`, `POST` a [`FaultConfig`](crate::faults::FaultConfig) JSON to replace it.
//! - `GET /_emulator/limits`, `POST` a
//!   [`ServiceProtectionLimits`](crate::throttle::ServiceProtectionLimits) JSON to replace them.
//! - `POST /_emulator/tokens/expire`: every token issued so far is expired.
//! - `GET /_emulator/devicelogin`: device code sign-ins waiting; `POST` with
//!   `{"user_code": "...", "approve": true|false}` approves or declines one (404 if none waits).
//! - `GET /_emulator/security-copilot`, `POST` a
//!   [`SecurityCopilotSettings`](crate::security_copilot::SecurityCopilotSettings) JSON
//!   (outcome of new evaluations, their run time, the rate limit) to replace it.
//! - `POST /_emulator/transcripts` with `{"count": n}` (generated, started within the last
//!   hour; at most [`MAX_GENERATED_PER_REQUEST`](crate::MAX_GENERATED_PER_REQUEST))
//!   or `{"rows": [...]}` (as given): answers `{"ids": [...]}`.
//!
//! Request bodies are limited to [`ADMIN_BODY_LIMIT`] bytes (2 MiB; larger ones get `413`).
//! Every malformed or out-of-range request gets a `4xx` answer with `{"error": "..."}` saying
//! what to fix (fault durations and rates, limits' windows and counts are bounded); none can
//! stop the emulator.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::emulator::Shared;
use crate::faults::FaultConfig;
use crate::generate::Row;
use crate::throttle::ServiceProtectionLimits;

/// The largest admin request body, in bytes.
pub const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/ingested", get(ingested).delete(clear_ingested))
        .route("/_emulator/faults", get(get_faults).post(set_faults))
        .route("/_emulator/limits", get(get_limits).post(set_limits))
        .route("/_emulator/tokens/expire", post(expire_tokens))
        .route(
            "/_emulator/devicelogin",
            get(pending_sign_ins).post(decide_sign_in),
        )
        .route("/_emulator/transcripts", post(add_transcripts))
        .route(
            "/_emulator/security-copilot",
            get(get_security_copilot).post(set_security_copilot),
        )
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .with_state(shared)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn info(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let c = &shared.credentials;
    Json(json!({
        "base_url": shared.base_url,
        "authority_host": shared.base_url,
        "token_url": shared.token_url(),
        "environment_url": shared.base_url,
        "web_api_url": format!("{}/api/data/v9.2/", shared.base_url),
        "ingestion_url": shared.base_url,
        "tenant_id": c.tenant_id,
        "tenant_domain": shared.entra.domain(),
        "client_id": c.client_id,
        "client_secret": c.client_secret,
        "scope": format!("{}/.default", shared.base_url),
        "agents": shared.tenant.agent_count(),
        "transcripts": shared.dataverse.count("conversationtranscripts"),
    }))
}

async fn ingested(State(shared): State<Arc<Shared>>) -> Json<Vec<Row>> {
    Json(shared.ingestion.records())
}

async fn clear_ingested(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.ingestion.clear();
    StatusCode::NO_CONTENT
}

async fn get_faults(State(shared): State<Arc<Shared>>) -> Json<FaultConfig> {
    Json(shared.faults.config())
}

async fn set_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(format!("invalid fault config: {e}")),
    };
    match shared.faults.apply(config) {
        Ok(()) => Json(shared.faults.config()).into_response(),
        Err(e) => bad_request(e),
    }
}

async fn get_limits(State(shared): State<Arc<Shared>>) -> Json<ServiceProtectionLimits> {
    Json(shared.protection.limits())
}

async fn set_limits(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<ServiceProtectionLimits>(&body) {
        Ok(limits) => match limits.validate() {
            Ok(()) => {
                shared.protection.set_limits(limits);
                Json(limits).into_response()
            }
            Err(e) => bad_request(format!("invalid limits: {e}")),
        },
        Err(e) => bad_request(format!("invalid limits: {e}")),
    }
}

async fn expire_tokens(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.entra.expire_issued_tokens();
    StatusCode::NO_CONTENT
}

async fn pending_sign_ins(
    State(shared): State<Arc<Shared>>,
) -> Json<Vec<crate::entra_device::PendingSignIn>> {
    Json(shared.entra.device_sign_in().pending())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInDecision {
    user_code: String,
    approve: bool,
}

async fn decide_sign_in(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let d: SignInDecision = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return bad_request(format!(
                "expected {{\"user_code\": \"...\", \"approve\": true|false}}: {e}"
            ));
        }
    };
    let device = shared.entra.device_sign_in();
    let found = if d.approve {
        device.approve(&d.user_code)
    } else {
        device.decline(&d.user_code)
    };
    if found {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no device code sign-in waits for this user code"})),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddTranscripts {
    count: Option<usize>,
    rows: Option<Vec<Row>>,
}

async fn add_transcripts(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let request: AddTranscripts = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(format!(
                "expected {{\"count\": n}} or {{\"rows\": [...]}}: {e}"
            ));
        }
    };
    let result = match (request.count, request.rows) {
        (Some(count), None) => shared.add_generated_transcripts(count),
        (None, Some(rows)) => shared.add_transcript_rows(rows),
        _ => return bad_request("send exactly one of \"count\" or \"rows\"".to_owned()),
    };
    match result {
        Ok(ids) => (StatusCode::CREATED, Json(json!({"ids": ids}))).into_response(),
        Err(e) => bad_request(e.to_string()),
    }
}

async fn get_security_copilot(
    State(shared): State<Arc<Shared>>,
) -> Json<crate::security_copilot::SecurityCopilotSettings> {
    Json(shared.graph.security_copilot().settings())
}

async fn set_security_copilot(
    State(shared): State<Arc<Shared>>,
    body: axum::body::Bytes,
) -> Response {
    let settings: crate::security_copilot::SecurityCopilotSettings =
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return bad_request(format!("invalid Security Copilot settings: {e}")),
        };
    match shared.graph.security_copilot().set_settings(settings) {
        Ok(()) => Json(shared.graph.security_copilot().settings()).into_response(),
        Err(e) => bad_request(format!("invalid Security Copilot settings: {e}")),
    }
}
