//! The Microsoft 365 Copilot interaction export (`getAllEnterpriseInteractions`).

use crate::client::{encode_query_value, encode_segment, odata_string};
use crate::paging::CollectionRequest;
use crate::{Continuation, Error, GraphClient, PageStream};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The page size Microsoft recommends for the export.
pub const DEFAULT_INTERACTION_PAGE_SIZE: u32 = 100;

/// Well-known `appClass` values: the Copilot surface an interaction happened in.
pub mod app_class {
    /// Microsoft 365 Copilot Chat (Business Chat).
    pub const BIZCHAT: &str = "IPM.SkypeTeams.Message.Copilot.BizChat";
    /// Copilot in Teams.
    pub const TEAMS: &str = "IPM.SkypeTeams.Message.Copilot.Teams";
    /// Copilot in Word.
    pub const WORD: &str = "IPM.SkypeTeams.Message.Copilot.Word";
    /// Copilot in Excel.
    pub const EXCEL: &str = "IPM.SkypeTeams.Message.Copilot.Excel";
    /// Copilot in PowerPoint.
    pub const POWERPOINT: &str = "IPM.SkypeTeams.Message.Copilot.PowerPoint";
    /// Copilot in Outlook.
    pub const OUTLOOK: &str = "IPM.SkypeTeams.Message.Copilot.Outlook";
    /// Copilot in Loop.
    pub const LOOP: &str = "IPM.SkypeTeams.Message.Copilot.Loop";
}

/// Whether an interaction is the user's prompt or Copilot's answer (`aiInteractionType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum InteractionType {
    /// `userPrompt`.
    UserPrompt,
    /// `aiResponse`.
    AiResponse,
    /// Any other value (`unknownFutureValue`, a value added later), kept as sent.
    Other(String),
}

impl From<String> for InteractionType {
    fn from(s: String) -> Self {
        if s.eq_ignore_ascii_case("userPrompt") {
            InteractionType::UserPrompt
        } else if s.eq_ignore_ascii_case("aiResponse") {
            InteractionType::AiResponse
        } else {
            InteractionType::Other(s)
        }
    }
}

impl From<InteractionType> for String {
    fn from(t: InteractionType) -> Self {
        match t {
            InteractionType::UserPrompt => "userPrompt".into(),
            InteractionType::AiResponse => "aiResponse".into(),
            InteractionType::Other(s) => s,
        }
    }
}

/// `itemBody`: the text and its type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ItemBody {
    /// `text` or `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The text or HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `identity`: an id and a display name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Identity {
    /// The object id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Fields this version does not know (`userIdentityType`, `tenantId`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `identitySet`: who sent an interaction (a user for prompts, an application for answers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IdentitySet {
    /// `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Identity>,
    /// `application`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Identity>,
    /// `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Identity>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `aiInteractionAttachment`: a document, card or image attached to an interaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InteractionAttachment {
    /// `attachmentId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_id: Option<String>,
    /// `content` (for cards, JSON as a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `contentType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `contentUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `aiInteractionLink`: a link shown in an interaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InteractionLink {
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `linkType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_type: Option<String>,
    /// `linkUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_url: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `aiInteractionContext`: a resource (file, message, meeting...) the interaction referred to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InteractionContext {
    /// `contextReference`: an id or URL of the resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_reference: Option<String>,
    /// `contextType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_type: Option<String>,
    /// `displayName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `aiInteractionMentionedIdentitySet`: what a mention refers to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MentionedIdentitySet {
    /// `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Identity>,
    /// `application`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<Identity>,
    /// `device`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Identity>,
    /// `conversation` (a Teams conversation identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<Identity>,
    /// `tag` (a Teams tag identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Identity>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `aiInteractionMention`: an entity mentioned in an interaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InteractionMention {
    /// `mentionId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention_id: Option<i64>,
    /// `mentionText`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mention_text: Option<String>,
    /// `mentioned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentioned: Option<MentionedIdentitySet>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One Microsoft 365 Copilot interaction (`aiInteraction`): a prompt or an answer.
///
/// Every documented field is typed; fields this version does not know (including
/// `@odata.type`) are kept in [`extra`](Self::extra) and written back by `Serialize`, so
/// nothing the service sent is lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AiInteraction {
    /// `id`.
    pub id: String,
    /// `sessionId`: the Copilot conversation (thread) id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `requestId`: groups a prompt with its answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `appClass`: the surface, e.g. [`app_class::WORD`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_class: Option<String>,
    /// `interactionType`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction_type: Option<InteractionType>,
    /// `conversationType`, e.g. `appchat`, `bizchat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_type: Option<String>,
    /// `createdDateTime`.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date_time: Option<OffsetDateTime>,
    /// `etag`: changes when the interaction changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `locale`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// `body`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ItemBody>,
    /// `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<IdentitySet>,
    /// `attachments`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attachments: Vec<InteractionAttachment>,
    /// `links`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub links: Vec<InteractionLink>,
    /// `mentions`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mentions: Vec<InteractionMention>,
    /// `contexts`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub contexts: Vec<InteractionContext>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl AiInteraction {
    /// Whether this is the user's prompt.
    pub fn is_prompt(&self) -> bool {
        self.interaction_type == Some(InteractionType::UserPrompt)
    }
}

/// What to export for one user: the `createdDateTime` window, the apps, the page size.
///
/// The service needs both bounds when it filters on `createdDateTime`, so a window always
/// has both: `(after, before)`, exclusive on each side as the service's `gt`/`lt` are.
///
/// ```
/// use graph_client::{InteractionQuery, app_class};
/// use time::macros::datetime;
/// let q = InteractionQuery::new()
///     .created_between(datetime!(2025-11-24 00:00 UTC), datetime!(2025-11-25 00:00 UTC))
///     .app_classes([app_class::WORD, app_class::BIZCHAT]);
/// assert_eq!(
///     q.filter().unwrap().as_deref(),
///     Some("createdDateTime gt 2025-11-24T00:00:00Z and createdDateTime lt 2025-11-25T00:00:00Z \
///           and (appClass eq 'IPM.SkypeTeams.Message.Copilot.Word' or appClass eq 'IPM.SkypeTeams.Message.Copilot.BizChat')")
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionQuery {
    window: Option<(OffsetDateTime, OffsetDateTime)>,
    app_classes: Vec<String>,
    top: u32,
}

impl Default for InteractionQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl InteractionQuery {
    /// Everything, 100 a page.
    pub fn new() -> Self {
        Self {
            window: None,
            app_classes: Vec::new(),
            top: DEFAULT_INTERACTION_PAGE_SIZE,
        }
    }

    /// Only interactions created after `after` and before `before`.
    pub fn created_between(mut self, after: OffsetDateTime, before: OffsetDateTime) -> Self {
        self.window = Some((after, before));
        self
    }

    /// Only interactions from these apps (`appClass`), e.g. [`app_class::TEAMS`].
    pub fn app_classes<I, S>(mut self, classes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.app_classes = classes.into_iter().map(Into::into).collect();
        self
    }

    /// Items per page (`$top`, default 100, 1..=1000).
    pub fn top(mut self, n: u32) -> Self {
        self.top = n;
        self
    }

    /// The `$filter` expression, if any.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the window is empty or reversed, or an app class is empty.
    pub fn filter(&self) -> Result<Option<String>, Error> {
        let mut parts = Vec::new();
        if let Some((after, before)) = self.window {
            if after >= before {
                return Err(Error::invalid(format!(
                    "the createdDateTime window is empty: {} is not before {}",
                    format_instant(after, false)?,
                    format_instant(before, true)?
                )));
            }
            parts.push(format!(
                "createdDateTime gt {} and createdDateTime lt {}",
                format_instant(after, false)?,
                format_instant(before, true)?
            ));
        }
        if !self.app_classes.is_empty() {
            if self.app_classes.iter().any(|c| c.trim().is_empty()) {
                return Err(Error::invalid("an appClass filter value is empty"));
            }
            let ors: Vec<String> = self
                .app_classes
                .iter()
                .map(|c| format!("appClass eq {}", odata_string(c)))
                .collect();
            parts.push(if ors.len() == 1 || parts.is_empty() {
                ors.join(" or ")
            } else {
                format!("({})", ors.join(" or "))
            });
        }
        Ok((!parts.is_empty()).then(|| parts.join(" and ")))
    }

    fn query_string(&self) -> Result<String, Error> {
        if !(1..=1000).contains(&self.top) {
            return Err(Error::invalid(format!(
                "$top {} is out of range: use 1 to 1000 (100 is recommended)",
                self.top
            )));
        }
        let mut qs = format!("$top={}", self.top);
        if let Some(f) = self.filter()? {
            qs.push_str("&$filter=");
            qs.push_str(&encode_query_value(&f));
        }
        Ok(qs)
    }
}

/// UTC, whole seconds, `Z`: the form the service documents. The lower bound is rounded down
/// and the upper bound up, so rounding never excludes an interaction inside the window.
fn format_instant(t: OffsetDateTime, round_up: bool) -> Result<String, Error> {
    let mut t = t.to_offset(time::UtcOffset::UTC);
    if round_up && t.nanosecond() != 0 {
        t += time::Duration::seconds(1);
    }
    let t = t
        .replace_nanosecond(0)
        .map_err(|e| Error::invalid(format!("bad instant: {e}")))?;
    t.format(&Rfc3339)
        .map_err(|e| Error::invalid(format!("cannot format {t}: {e}")))
}

impl GraphClient {
    /// The export's first request for `user_id` (an Entra object id or a UPN).
    ///
    /// # Errors
    /// [`Error::UnsupportedCloud`] outside the public cloud; [`Error::InvalidInput`] for an
    /// empty user or a bad query.
    pub fn interactions_request(
        &self,
        user_id: &str,
        query: &InteractionQuery,
    ) -> Result<CollectionRequest, Error> {
        self.require_public_cloud("the Copilot interaction export")?;
        if user_id.trim().is_empty() {
            return Err(Error::invalid("the user id is empty"));
        }
        let url = self.url(&format!(
            "copilot/users/{}/interactionHistory/getAllEnterpriseInteractions?{}",
            encode_segment(user_id),
            query.query_string()?
        ))?;
        Ok(CollectionRequest::new(url))
    }

    /// A lazy stream of the pages of `user_id`'s Copilot interactions, decoded as `T`
    /// (usually [`AiInteraction`]); needs the application permission
    /// `AiEnterpriseInteraction.Read.All`. Errors that the request cannot be built are
    /// returned when the stream is first polled.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use graph_client::{AiInteraction, InteractionQuery};
    /// # async fn run(client: graph_client::GraphClient) -> Result<(), graph_client::Error> {
    /// let now = time::OffsetDateTime::now_utc();
    /// let q = InteractionQuery::new().created_between(now - time::Duration::days(90), now);
    /// let mut pages = client.interaction_pages::<AiInteraction>("254efcd0-5094-4fc5-b2b3-1637629393e1", &q);
    /// while let Some(page) = pages.try_next().await? {
    ///     for i in &page.items {
    ///         println!("{} {:?}", i.id, i.app_class);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn interaction_pages<T>(&self, user_id: &str, query: &InteractionQuery) -> PageStream<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        match self.interactions_request(user_id, query) {
            Ok(r) => self.pages(r),
            Err(e) => crate::paging::failed(e),
        }
    }

    /// Resumes an interaction export from a saved [`Continuation`].
    pub fn interaction_pages_from<T>(&self, continuation: Continuation) -> PageStream<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        self.pages_from(continuation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_field_typed_and_unknown_ones_kept() {
        let json = r##"{
          "@odata.type": "#microsoft.graph.aiInteraction",
          "id": "1731701801008", "sessionId": "19:x@thread.v2", "requestId": "GTbr3lHOsGnV",
          "appClass": "IPM.SkypeTeams.Message.Copilot.Word", "interactionType": "aiResponse",
          "conversationType": "appchat", "etag": "1731701801008", "locale": "en-us",
          "createdDateTime": "2024-11-15T20:16:41.008Z",
          "from": {"user": null, "device": null,
                   "application": {"@odata.type": "#microsoft.graph.teamworkApplicationIdentity", "id": "app", "displayName": "Copilot in Word"}},
          "body": {"contentType": "html", "content": "<p>Hi</p>"},
          "attachments": [{"attachmentId": "a1", "contentType": "reference", "contentUrl": "https://x/doc.docx", "name": "doc.docx"}],
          "links": [{"linkUrl": "https://x", "displayName": "X", "linkType": "web"}],
          "mentions": [{"mentionId": 0, "mentionText": "Ann", "mentioned": {"user": {"id": "u2", "displayName": "Ann"}}}],
          "contexts": [{"contextReference": "https://x/doc.docx", "displayName": "doc.docx", "contextType": "file"}],
          "futureField": {"a": 1}
        }"##;
        let i: AiInteraction = serde_json::from_str(json).unwrap();
        assert_eq!(i.interaction_type, Some(InteractionType::AiResponse));
        assert!(!i.is_prompt());
        assert_eq!(
            i.created_date_time,
            Some(datetime!(2024-11-15 20:16:41.008 UTC))
        );
        assert_eq!(
            i.from
                .as_ref()
                .unwrap()
                .application
                .as_ref()
                .unwrap()
                .display_name
                .as_deref(),
            Some("Copilot in Word")
        );
        assert_eq!(i.attachments[0].name.as_deref(), Some("doc.docx"));
        assert_eq!(i.links[0].link_type.as_deref(), Some("web"));
        assert_eq!(i.mentions[0].mention_id, Some(0));
        assert_eq!(
            i.mentions[0]
                .mentioned
                .as_ref()
                .unwrap()
                .user
                .as_ref()
                .unwrap()
                .id
                .as_deref(),
            Some("u2")
        );
        assert_eq!(i.contexts[0].context_type.as_deref(), Some("file"));
        assert_eq!(i.extra["futureField"], serde_json::json!({"a": 1}));
        assert!(i.extra.contains_key("@odata.type"));
        // Round trip keeps what was sent.
        let back: AiInteraction =
            serde_json::from_value(serde_json::to_value(&i).unwrap()).unwrap();
        assert_eq!(back, i);
        let other: AiInteraction = serde_json::from_str(
            r#"{"id":"1","interactionType":"unknownFutureValue","attachments":null}"#,
        )
        .unwrap();
        assert_eq!(
            other.interaction_type,
            Some(InteractionType::Other("unknownFutureValue".into()))
        );
        assert!(other.attachments.is_empty());
    }

    #[test]
    fn filters() {
        let t0 = datetime!(2025-11-24 00:00:00.5 UTC);
        let t1 = datetime!(2025-11-25 01:00:00.2 +01:00);
        let q = InteractionQuery::new().created_between(t0, t1);
        assert_eq!(
            q.filter().unwrap().as_deref(),
            Some(
                "createdDateTime gt 2025-11-24T00:00:00Z and createdDateTime lt 2025-11-25T00:00:01Z"
            )
        );
        let q = InteractionQuery::new().app_classes([app_class::TEAMS]);
        assert_eq!(
            q.filter().unwrap().as_deref(),
            Some("appClass eq 'IPM.SkypeTeams.Message.Copilot.Teams'")
        );
        assert_eq!(InteractionQuery::new().filter().unwrap(), None);
        assert!(
            InteractionQuery::new()
                .created_between(t1, t0)
                .filter()
                .is_err()
        );
        assert!(InteractionQuery::new().app_classes([" "]).filter().is_err());
        assert!(InteractionQuery::new().top(0).query_string().is_err());
        assert_eq!(
            InteractionQuery::new()
                .app_classes(["it's"])
                .query_string()
                .unwrap(),
            "$top=100&$filter=appClass%20eq%20'it''s'"
        );
    }
}
