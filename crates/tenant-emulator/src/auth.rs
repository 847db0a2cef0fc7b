//! What stands in front of the Dataverse Web API: bearer-token checks (signature, lifetime,
//! tenant, audience = the environment URL), the application user lookup, and service
//! protection per application user.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::dataverse::Dataverse;
use crate::entra::{Entra, TokenRejection};
use crate::throttle::ServiceProtection;

/// State of the Dataverse front door.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) entra: Entra,
    pub(crate) dataverse: Dataverse,
    pub(crate) protection: ServiceProtection,
    /// The environment URL (`http://127.0.0.1:PORT`): tokens' `aud` must equal it.
    pub(crate) environment_url: Arc<str>,
    /// Where clients get tokens (`{authority}/{tenant}`), for `WWW-Authenticate`.
    pub(crate) authorization_uri: Arc<str>,
}

fn dataverse_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            "application/json; odata.metadata=minimal",
        )],
        json!({"error": {"code": code, "message": message}}).to_string(),
    )
        .into_response()
}

impl Gate {
    fn unauthorized(&self, error: Option<&str>, message: &str) -> Response {
        let mut challenge = format!(
            "Bearer authorization_uri={}/oauth2/authorize, resource_id={}",
            self.authorization_uri, self.environment_url
        );
        if let Some(error) = error {
            challenge = format!(
                "Bearer error=\"{error}\", error_description=\"{message}\", authorization_uri={}/oauth2/authorize, resource_id={}",
                self.authorization_uri, self.environment_url
            );
        }
        let mut response = dataverse_error(StatusCode::UNAUTHORIZED, "", message);
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The middleware in front of [`Dataverse::router`].
pub(crate) async fn gate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let Some(token) = token else {
        return gate.unauthorized(
            None,
            "The request has no bearer token in the Authorization header.",
        );
    };
    let claims = match gate.entra.validate_token(&token) {
        Ok(claims) => claims,
        Err(TokenRejection::Expired) => {
            return gate.unauthorized(Some("invalid_token"), "The access token is expired.");
        }
        Err(TokenRejection::NotYetValid) => {
            return gate.unauthorized(Some("invalid_token"), "The access token is not yet valid.");
        }
        Err(e) => {
            return gate.unauthorized(
                Some("invalid_token"),
                &format!("Bearer token validation failed: {e}."),
            );
        }
    };
    if claims.tenant_id != gate.entra.tenant_id() {
        return gate.unauthorized(
            Some("invalid_token"),
            "The token was issued by another tenant.",
        );
    }
    if !same_resource(&claims.audience, &gate.environment_url) {
        return gate.unauthorized(
            Some("invalid_token"),
            &format!(
                "The audience '{}' is invalid; tokens for this environment must be requested for scope {}/.default.",
                claims.audience, gate.environment_url
            ),
        );
    }
    let Some(caller) = gate.dataverse.privileges_for_app(claims.app_id) else {
        // Documented answer for an app registration without an application user.
        return dataverse_error(
            StatusCode::FORBIDDEN,
            "0x80072560",
            &format!(
                "The user is not a member of the organization. (No application user exists for application ID {} in this environment.)",
                claims.app_id
            ),
        );
    };
    let permit = match gate.protection.begin(caller.user_id) {
        Ok(permit) => permit,
        Err(throttled) => {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                [(
                    header::CONTENT_TYPE,
                    "application/json; odata.metadata=minimal",
                )],
                throttled.body().to_string(),
            )
                .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(throttled.retry_after()),
            );
            return response;
        }
    };
    let remaining = permit.remaining();
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    drop(permit);
    let headers = response.headers_mut();
    if remaining.requests != u32::MAX {
        headers.insert(
            "x-ms-ratelimit-burst-remaining-xrm-requests",
            HeaderValue::from(remaining.requests),
        );
        if let Ok(v) = HeaderValue::from_str(&remaining.execution_ms.to_string()) {
            headers.insert("x-ms-ratelimit-time-remaining-xrm-requests", v);
        }
    }
    response
}
