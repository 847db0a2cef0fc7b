//! A throttle-aware client for Microsoft Graph, focused on what a governance team needs to
//! watch Microsoft 365 Copilot.
//!
//! - [`GraphClient`]: v1.0 and beta roots per cloud ([`entra_auth::Cloud`]), overridable
//!   (e.g. from `GRAPH_URL`); requests go through the `client-core` pipeline, which retries
//!   429 and 503 after `Retry-After` (exponential backoff with jitter when it is missing),
//!   other 5xx and lost connections.
//! - Paging: lazy [`PageStream`]s and [`ItemStream`]s that follow `@odata.nextLink`, refuse
//!   links to other hosts and repeated links, send `ConsistencyLevel: eventual` on every page
//!   of an advanced query, and resume from a saved [`Continuation`].
//! - Errors: one [`Error`] type with Graph's error body typed ([`GraphErrorBody`]: code,
//!   message, `innerError` request id and date) and `status()`, `is_throttled()`,
//!   `is_retryable()`.
//! - [`batch`](GraphClient::batch): JSON batching, at most [`MAX_BATCH_REQUESTS`] a request,
//!   answers matched by id, throttled parts sent again.
//! - Licences and users: [`subscribed_skus`](GraphClient::subscribed_skus),
//!   [`users_with_license`](GraphClient::users_with_license),
//!   [`copilot_users`](GraphClient::copilot_users) (by configurable SKU part numbers),
//!   [`users_by_id`](GraphClient::users_by_id).
//! - The Microsoft 365 Copilot interaction export:
//!   [`interaction_pages`](GraphClient::interaction_pages) with an [`InteractionQuery`]
//!   (`createdDateTime` window with both bounds, `appClass` filter, `$top` 100), items typed
//!   as [`AiInteraction`] with unknown fields kept. Public cloud only.
//! - Identity posture: [`identity_posture`](GraphClient::identity_posture) reads an app's
//!   service principal, application permissions resolved to names, delegated grants,
//!   credentials (expired, expiring, long-lived secrets) and owners, and classifies
//!   permissions with [`classify_permission`].
//! - Security Copilot (beta): [`security_copilot`](GraphClient::security_copilot) gives
//!   sessions, prompts (text or a direct skill with inputs, [`PromptInput`]) and
//!   evaluations, polled to a terminal state with backoff and a deadline
//!   ([`SecurityCopilot::wait_for_evaluation`]), under a client-side rate limit (600 calls
//!   per 60 s by default, [`RateLimiter`]).
//!
//! ```no_run
//! use client_core::{AccessToken, StaticTokenCredential};
//! use futures::TryStreamExt;
//! use graph_client::{AiInteraction, GraphClient, InteractionQuery};
//! use std::sync::Arc;
//!
//! # async fn run() -> Result<(), graph_client::Error> {
//! let token = AccessToken::new(
//!     std::env::var("GRAPH_TOKEN").unwrap_or_default(),
//!     time::OffsetDateTime::now_utc() + time::Duration::hours(1),
//! );
//! let graph = GraphClient::builder(Arc::new(StaticTokenCredential::new(token))).build()?;
//! let now = time::OffsetDateTime::now_utc();
//! let window = InteractionQuery::new().created_between(now - time::Duration::days(7), now);
//! for user in graph.copilot_users(&[]).await? {
//!     let items: Vec<AiInteraction> = graph
//!         .interaction_pages::<AiInteraction>(&user.id, &window)
//!         .items()
//!         .try_collect()
//!         .await?;
//!     println!("{}: {} interactions", user.id, items.len());
//! }
//! # Ok(()) }
//! ```

mod batch;
mod client;
mod error;
mod identity;
mod interactions;
mod paging;
mod security_copilot;
mod users;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH_REQUESTS};
pub use client::{ApiVersion, DEFAULT_MAX_CONCURRENCY, GraphClient, GraphClientBuilder};
pub use error::{Error, GraphError, GraphErrorBody};
pub use identity::{
    AppCredential, AppRole, AppRoleAssignment, Application, ApplicationPermission, ConsentType,
    CredentialIssue, CredentialKind, CredentialReport, DEFAULT_ACCESS_ROLE_ID,
    DelegatedPermissions, EXPIRING_WITHIN, IdentityPosture, LONG_LIVED_SECRET,
    OAuth2PermissionGrant, Owner, ServicePrincipal, classify_permission, credential_issues,
};
pub use interactions::{
    AiInteraction, DEFAULT_INTERACTION_PAGE_SIZE, Identity, IdentitySet, InteractionAttachment,
    InteractionContext, InteractionLink, InteractionMention, InteractionQuery, InteractionType,
    ItemBody, MentionedIdentitySet, app_class,
};
pub use paging::{CollectionRequest, Continuation, ItemStream, Page, PageStream};
pub use security_copilot::{
    DEFAULT_RATE_LIMIT_CALLS, DEFAULT_RATE_LIMIT_WINDOW, DEFAULT_WORKSPACE, Evaluation,
    EvaluationResult, EvaluationResultType, EvaluationState, Plugin, PollOptions, Prompt,
    PromptInput, PromptType, RateLimiter, SecurityCopilot, Session,
};
pub use users::{
    AssignedLicense, DEFAULT_COPILOT_SKU_PART_NUMBERS, MICROSOFT_365_COPILOT_SKU_ID, SkuSource,
    SubscribedSku, User,
};
