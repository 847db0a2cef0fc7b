#![doc = include_str!("../README.md")]

mod batch;
mod client;
mod error;
mod identity;
mod identity_batch;
mod interactions;
mod paging;
mod security_copilot;
mod users;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH_REQUESTS};
pub use client::{ApiVersion, DEFAULT_MAX_CONCURRENCY, GraphClient, GraphClientBuilder};
pub use error::{
    DeadlineError, DecodeError, Error, GraphError, GraphErrorBody, InvalidInputError,
    NextLinkLoopError, UnsupportedCloudError,
};
pub use identity::{
    AppCredential, AppRole, AppRoleAssignment, Application, ApplicationPermission, ConsentType,
    CredentialIssue, CredentialKind, CredentialReport, DEFAULT_ACCESS_ROLE_ID,
    DelegatedPermissions, EXPIRING_WITHIN, IdentityPosture, LONG_LIVED_SECRET,
    OAuth2PermissionGrant, Owner, ServicePrincipal, classify_permission, credential_issues,
};
pub use identity_batch::IdentityKey;
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
