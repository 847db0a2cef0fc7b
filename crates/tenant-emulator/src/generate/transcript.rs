//! Transcript `content`: a JSON string `{"activities":[...]}` shaped like the real rows
//! (greetings, multi-turn conversations, card replies with postBack clicks, generative answers,
//! generative orchestration plan steps, unanswered prompts, Teams / web chat / test pane).

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::catalog::{DOMAINS, GOODBYES, GREETINGS, ToolDef};
use super::components::{
    FALLBACK_TEXT, component_id, greeting_text, knowledge_schema, tool_schema, topic_schema,
};
use super::{BotProfile, SyntheticTenant, iso};
use crate::rng::Rng;

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

struct Conv<'a> {
    r: &'a mut Rng,
    tenant: &'a SyntheticTenant,
    bot: &'a BotProfile,
    conversation_id: &'a str,
    acts: Vec<Value>,
    t: i64,
    channel: &'static str,
    user: Value,
    bot_from: Value,
    messages: u32,
    failed: bool,
}

impl Conv<'_> {
    fn new_id(&mut self) -> String {
        self.r.uuid().to_string()
    }

    fn hex_id(&mut self) -> String {
        self.r.uuid().simple().to_string()
    }

    fn wait(&mut self, lo: u64, hi: u64) {
        self.t += i64::try_from(self.r.range(lo, hi)).unwrap_or(0);
    }

    fn trace(&mut self, value_type: &str, value: Value, reply_to: Option<&str>, system: bool) {
        let mut a = json!({
            "valueType": value_type,
            "id": self.hex_id(),
            "type": "trace",
            "timestamp": self.t,
            "from": if system { json!({"id": "", "role": 0}) } else { self.bot_from.clone() },
        });
        if let Some(reply_to) = reply_to {
            a["replyToId"] = json!(reply_to);
        }
        a["value"] = value;
        self.acts.push(a);
    }

    fn event(
        &mut self,
        name: &str,
        value: Option<Value>,
        reply_to: Option<&str>,
        from_user: bool,
    ) -> String {
        let id = self.new_id();
        let mut a = json!({
            "id": id,
            "type": "event",
            "timestamp": self.t,
            "from": if from_user { self.user.clone() } else { self.bot_from.clone() },
            "name": name,
            "channelId": self.channel,
            "attachments": [],
        });
        if let Some(reply_to) = reply_to {
            a["replyToId"] = json!(reply_to);
        }
        if let Some(value) = value {
            a["value"] = value;
        }
        self.acts.push(a);
        id
    }

    fn bot_message(&mut self, text: &str, reply_to: &str, attachments: Value) -> String {
        let id = self.new_id();
        let speak = format!(
            "<speak version=\"1.0\" xml:lang=\"{}\" xmlns:mstts=\"http://www.w3.org/2001/mstts\" xmlns=\"http://www.w3.org/2001/10/synthesis\"><voice name=\"en-US-ChristopherNeural\" xmlns=\"\"><prosody rate=\"0%\" pitch=\"0%\">{}</prosody></voice></speak>",
            self.bot.locale,
            text.replace('&', "&amp;").replace('<', "&lt;")
        );
        let mut a = json!({
            "id": id,
            "type": "message",
            "timestamp": self.t,
            "from": self.bot_from,
            "channelId": self.channel,
            "textFormat": "markdown",
            "text": text,
            "attachments": attachments,
            "replyToId": reply_to,
        });
        if !text.is_empty() {
            a["speak"] = json!(speak);
        }
        self.acts.push(a);
        self.messages += 1;
        id
    }

    fn channel_data(&mut self) -> Value {
        match self.channel {
            "pva-studio" => json!({
                "attachmentSizes": [],
                "enableDiagnostics": true,
                "testMode": "Text",
                "clientActivityID": self.r.string(ALNUM, 10),
            }),
            "msteams" => json!({"tenant": {"id": self.tenant.identity.tenant_id}}),
            _ => json!({
                "clientActivityID": format!("{}{}", self.t * 1000, self.r.string(ALNUM, 10)),
                "clientTimestamp": iso(OffsetDateTime::from_unix_timestamp(self.t).unwrap_or(OffsetDateTime::UNIX_EPOCH)),
            }),
        }
    }

    fn user_message(&mut self, text: &str) -> String {
        let id = self.new_id();
        let channel_data = self.channel_data();
        self.acts.push(json!({
            "id": id,
            "type": "message",
            "timestamp": self.t,
            "from": self.user,
            "channelId": self.channel,
            "textFormat": "plain",
            "text": text,
            "attachments": [],
            "channelData": channel_data,
        }));
        self.messages += 1;
        id
    }

    fn user_postback(&mut self, value: Value) -> String {
        let id = self.new_id();
        let mut channel_data = self.channel_data();
        channel_data["postBack"] = json!(true);
        self.acts.push(json!({
            "id": id,
            "type": "message",
            "timestamp": self.t,
            "from": self.user,
            "channelId": self.channel,
            "text": "",
            "attachments": [],
            "channelData": channel_data,
            "value": value,
        }));
        self.messages += 1;
        id
    }

    fn dialog_tracing(
        &mut self,
        reply_to: &str,
        action_id: &str,
        topic_schema: &str,
        action_type: &str,
    ) {
        let component = component_id(self.tenant.spec.seed, self.bot, topic_schema);
        self.event(
            "DialogTracing",
            Some(json!({"actions": [{
                "actionId": action_id,
                "topicId": topic_schema,
                "triggerId": "main",
                "dialogComponentId": component,
                "actionType": action_type,
                "conditionItemExit": [],
                "variableState": {"dialogState": {}, "globalState": {}},
                "exception": "",
                "resultTrace": {},
            }]})),
            Some(reply_to),
            false,
        );
    }

    fn greeting(&mut self, start_event: &str) {
        let text = greeting_text(self.bot);
        self.bot_message(&text, start_event, json!([]));
        let schema = topic_schema(self.bot, "Conversation Start");
        self.dialog_tracing(start_event, "sendMessage_M0LuhV", &schema, "SendActivity");
    }

    /// A question answered from knowledge (classic generative answers).
    fn generative_answer(&mut self, question: &str, answer: &str) {
        let asked = self.user_message(question);
        self.wait(0, 1);
        self.trace("UnknownIntent", json!({"userQuery": question}), None, false);
        let search = topic_schema(self.bot, "Search");
        self.dialog_tracing(
            &asked,
            "search-content",
            &search,
            "SearchAndSummarizeContent",
        );
        self.wait(1, 4);
        self.trace(
            "VariableAssignment",
            json!({"name": "Answer", "id": "Topic.Answer", "newValue": answer, "type": "local"}),
            Some(&asked),
            false,
        );
        // Some tenants redact bot replies: the message stays, its text is gone.
        let shown = if self.r.chance(0.03) { "" } else { answer };
        self.bot_message(shown, &asked, json!([]));
        self.trace(
            "GPTAnswer",
            json!({"gptAnswerState": "Answered"}),
            Some(&asked),
            false,
        );
        let endpoints: Vec<String> = self
            .bot
            .knowledge
            .iter()
            .map(|k| match DOMAINS[self.bot.domain].knowledge[*k].kind {
                super::catalog::KnowledgeKind::SharePoint(s)
                | super::catalog::KnowledgeKind::PublicSite(s) => s.to_owned(),
                super::catalog::KnowledgeKind::Dataverse(s) => s.to_owned(),
            })
            .collect();
        let support = json!({
            "endpoints": endpoints,
            "message": question,
            "activityId": asked,
            "conversationId": self.conversation_id,
            "performedContentProvenanceCheck": true,
            "performedContentModerationCheck": true,
            "cdsBotId": self.bot.id,
            "tenantId": self.tenant.identity.tenant_id,
            "environmentId": self.tenant.identity.environment_id,
            "gptAnswerState": "Answered",
            "triggeredGptFallback": false,
            "completionState": "Answered",
        });
        self.event(
            "GenerativeAnswersSupportData",
            Some(support),
            Some(&asked),
            false,
        );
        self.dialog_tracing(&asked, "has-answer-conditions", &search, "ConditionGroup");
        self.dialog_tracing(&asked, "end-topic", &search, "EndDialog");
    }

    fn fallback(&mut self, question: &str) {
        let asked = self.user_message(question);
        self.wait(0, 1);
        self.trace("UnknownIntent", json!({"userQuery": question}), None, false);
        let fallback = topic_schema(self.bot, "Fallback");
        self.dialog_tracing(&asked, "conditionGroup_LktzXw", &fallback, "ConditionGroup");
        self.bot_message(FALLBACK_TEXT, &asked, json!([]));
        self.dialog_tracing(&asked, "sendMessage_QZreqo", &fallback, "SendActivity");
    }

    /// A topic turn, with an adaptive card and a postBack click when the topic has one.
    fn topic(&mut self, t: usize, planned: bool) {
        let def = &DOMAINS[self.bot.domain].topics[t];
        let trigger = *self.r.pick(def.triggers);
        let asked = self.user_message(trigger);
        self.wait(0, 2);
        let schema = topic_schema(self.bot, def.name);
        let plan = planned.then(|| {
            self.plan_start(
                &asked,
                &schema,
                "CustomTopic",
                &format!(
                    "The user wants to {}; the {} topic handles that.",
                    def.name.to_ascii_lowercase(),
                    def.name
                ),
            )
        });
        if !planned {
            let score = 0.9 + self.r.unit() / 10.0;
            self.trace(
                "IntentRecognition",
                json!({"intentId": schema, "intentName": def.name, "score": score}),
                Some(&asked),
                false,
            );
        }
        let mut reply_to = asked.clone();
        if let Some((question, choices)) = def.card {
            let actions: Vec<Value> = choices
                .iter()
                .map(|c| json!({"type": "Action.Submit", "title": c, "data": {"choice": c}}))
                .collect();
            let card = json!([{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "type": "AdaptiveCard",
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "version": "1.5",
                    "body": [{"type": "TextBlock", "text": question, "wrap": true, "weight": "Bolder"}],
                    "actions": actions,
                },
            }]);
            self.bot_message("", &asked, card);
            self.dialog_tracing(
                &asked,
                "adaptiveCardPrompt_card",
                &schema,
                "AdaptiveCardPrompt",
            );
            self.wait(3, 40);
            let choice = *self.r.pick(choices);
            reply_to = self.user_postback(json!({"choice": choice}));
            self.wait(0, 2);
        }
        self.bot_message(def.reply, &reply_to, json!([]));
        self.dialog_tracing(&reply_to, "sendMessage_reply", &schema, "SendActivity");
        if let Some((plan_id, step_id)) = plan {
            self.plan_finish(&asked, &plan_id, &step_id, &schema, json!({}));
        }
    }

    fn plan_start(
        &mut self,
        asked: &str,
        step: &str,
        kind: &str,
        thought: &str,
    ) -> (String, String) {
        let plan_id = self.new_id();
        let step_id = self.new_id();
        self.event(
            "DynamicPlanReceived",
            Some(json!({"steps": [step], "isFinalPlan": true, "planIdentifier": plan_id})),
            Some(asked),
            false,
        );
        self.event(
            "DynamicPlanStepTriggered",
            Some(json!({
                "planIdentifier": plan_id,
                "stepId": step_id,
                "taskDialogId": step,
                "thought": thought,
                "state": "inProgress",
                "hasRecommendations": false,
                "type": kind,
            })),
            Some(asked),
            false,
        );
        (plan_id, step_id)
    }

    fn plan_finish(
        &mut self,
        asked: &str,
        plan_id: &str,
        step_id: &str,
        step: &str,
        observation: Value,
    ) {
        let ms = self.r.range(300, 4000);
        self.event(
            "DynamicPlanStepFinished",
            Some(json!({
                "planIdentifier": plan_id,
                "stepId": step_id,
                "taskDialogId": step,
                "observation": observation,
                "planUsedOutputs": {},
                "state": "completed",
                "executionTime": format!("00:00:{:02}.{:03}0000", ms / 1000, ms % 1000),
            })),
            Some(asked),
            false,
        );
        self.trace(
            "DynamicPlanFinished",
            json!({"planId": plan_id, "wasCancelled": false}),
            Some(asked),
            false,
        );
    }

    /// A knowledge question answered through generative orchestration.
    fn planned_knowledge(&mut self, question: &str, answer: &str) {
        let asked = self.user_message(question);
        self.wait(0, 2);
        let step = "P:UniversalSearchTool";
        let (plan_id, step_id) = self.plan_start(
            &asked,
            step,
            "KnowledgeSource",
            "I should search the knowledge sources to answer this question.",
        );
        let sources: Vec<String> = self
            .bot
            .knowledge
            .iter()
            .map(|k| knowledge_schema(self.tenant.spec.seed, self.bot, *k))
            .collect();
        self.event(
            "UniversalSearchToolTraceData",
            Some(json!({"knowledgeSources": sources, "outputKnowledgeSources": sources.first().map(|s| vec![s.clone()]).unwrap_or_default()})),
            Some(&asked),
            false,
        );
        self.wait(1, 5);
        self.bot_message(answer, &asked, json!([]));
        self.plan_finish(
            &asked,
            &plan_id,
            &step_id,
            step,
            json!({"search_result": {"search_results": [{"text": answer}]}}),
        );
    }

    /// A connector / MCP / flow tool call through generative orchestration.
    fn planned_tool(&mut self, tool: &ToolDef) {
        let question = format!(
            "Can you help me with {}? It's about {}.",
            tool.name.to_ascii_lowercase(),
            tool.argument.1
        );
        let asked = self.user_message(&question);
        self.run_tool(&asked, tool);
    }

    /// The plan for one tool call answering activity `asked`; connectors fail now and then.
    fn run_tool(&mut self, asked: &str, tool: &ToolDef) {
        self.wait(0, 2);
        let schema = tool_schema(self.bot, tool);
        let thought = format!(
            "I will use {} to {}.",
            tool.name,
            tool.description.to_ascii_lowercase()
        );
        let (plan_id, step_id) = self.plan_start(asked, &schema, "CustomTopic", &thought);
        self.event(
            "DynamicPlanStepBindUpdate",
            Some(json!({"taskDialogId": schema, "stepId": step_id, "arguments": {tool.argument.0: tool.argument.1}, "planIdentifier": plan_id})),
            Some(asked),
            false,
        );
        self.wait(1, 6);
        if self.r.chance(0.05) {
            let message = format!(
                "The connector request for '{}' failed with status 502 (Bad Gateway).",
                tool.name
            );
            self.trace(
                "ErrorTraceData",
                json!({"isUserError": false, "errorCode": "ConnectorRequestFailure", "errorMessage": message}),
                Some(asked),
                false,
            );
            let text = format!(
                "An error has occurred.\nError code: ConnectorRequestFailure\nConversation Id: {}\nTime (UTC): {}.",
                self.conversation_id,
                iso(OffsetDateTime::from_unix_timestamp(self.t)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH))
            );
            self.bot_message(&text, asked, json!([]));
            let on_error = topic_schema(self.bot, "On Error");
            self.dialog_tracing(asked, "sendMessage_dZ0gaF", &on_error, "SendActivity");
            self.failed = true;
            return;
        }
        let observation: Value =
            serde_json::from_str(tool.result).unwrap_or_else(|_| json!(tool.result));
        let reply = format!("Here is what I found with {}: {}", tool.name, tool.result);
        self.bot_message(&reply, asked, json!([]));
        self.plan_finish(asked, &plan_id, &step_id, &schema, observation);
    }

    /// "Talk to a person": the Escalate topic, a hand-off trace.
    fn escalate(&mut self) {
        let asked = self.user_message("Talk to a person");
        self.wait(0, 1);
        let schema = topic_schema(self.bot, "Escalate");
        self.trace(
            "IntentRecognition",
            json!({"intentId": schema, "intentName": "Escalate", "score": 0.97}),
            Some(&asked),
            false,
        );
        self.bot_message(
            "Escalating to a representative is not currently configured for this agent, however this is where the agent could provide information about how to get in touch with someone another way.",
            &asked,
            json!([]),
        );
        self.dialog_tracing(&asked, "sendMessage_escalate", &schema, "SendActivity");
        self.trace(
            "HandOff",
            json!({"type": "HandOff", "handOffContext": {"topicName": "Escalate", "conversationId": self.conversation_id}}),
            Some(&asked),
            false,
        );
    }

    /// An autonomous run: a trigger payload (no text) starts a plan.
    fn autonomous(&mut self, tool: &ToolDef) {
        let id = self.new_id();
        let t = self.t;
        self.acts.push(json!({
            "id": id,
            "type": "message",
            "timestamp": t,
            "from": self.user,
            "channelId": self.channel,
            "text": "",
            "attachments": [],
            "channelData": {"triggerTest": false},
            "value": {"subject": format!("New request: {}", tool.argument.1), "from": "requests@contoso.com"},
        }));
        self.messages += 1;
        self.run_tool(&id, tool);
    }
}

/// The content JSON for one conversation.
pub(super) fn content(
    r: &mut Rng,
    tenant: &SyntheticTenant,
    bot: &BotProfile,
    conversation_id: &str,
    start: OffsetDateTime,
) -> String {
    let domain = &DOMAINS[bot.domain];
    let autonomous = bot.orchestration && !bot.tools.is_empty() && r.chance(0.04);
    let channel: &'static str = if autonomous {
        "pva-autonomous"
    } else if r.chance(0.15) {
        "pva-studio"
    } else {
        let picked: &&'static str = r.pick(&bot.channels);
        picked
    };
    let (user, bot_from) = match channel {
        "pva-studio" => {
            // In the test pane the user and the bot share one id: role tells them apart.
            let id = r.uuid().to_string();
            (json!({"id": id, "role": 1}), json!({"id": id, "role": 0}))
        }
        "msteams" => (
            json!({"id": format!("29:1{}", r.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 43)), "aadObjectId": Uuid::from_u64_pair(r.next_u64(), r.next_u64()).to_string(), "role": 1}),
            json!({"id": format!("28:{}", bot.runtime_id), "role": 0}),
        ),
        _ => (
            json!({"id": format!("dl_{}", r.uuid()), "role": 1}),
            json!({"id": bot.runtime_id.to_string(), "role": 0}),
        ),
    };
    let mut c = Conv {
        r,
        tenant,
        bot,
        conversation_id,
        acts: Vec::new(),
        t: start.unix_timestamp(),
        channel,
        user,
        bot_from,
        messages: 0,
        failed: false,
    };
    c.trace(
        "ConversationInfo",
        json!({"isDesignMode": channel == "pva-studio", "locale": bot.locale}),
        None,
        true,
    );
    // ConversationInfo carries no id in real rows.
    if let Some(first) = c.acts.first_mut().and_then(Value::as_object_mut) {
        first.remove("id");
    }
    if autonomous {
        // No greeting: the trigger's payload is the first activity.
    } else if channel == "msteams" {
        c.event("conversationUpdate", None, None, true);
        if let Some(last) = c.acts.last_mut() {
            last["type"] = json!("conversationUpdate");
            last["membersAdded"] = json!([{"id": c.bot_from["id"]}]);
            if let Some(o) = last.as_object_mut() {
                o.remove("name");
            }
        }
    } else {
        let start_event = c.event("startConversation", None, None, true);
        c.wait(0, 1);
        c.greeting(&start_event);
        if c.r.chance(0.05) {
            // Duplicate greetings happen in real data.
            c.greeting(&start_event);
        }
    }

    let scenario = c.r.unit();
    let mut outcome = "Abandoned";
    let mut answered = true;
    if autonomous {
        let t = *c.r.pick(&bot.tools);
        c.autonomous(&domain.tools[t]);
        outcome = "Resolved";
    } else if scenario < 0.12 {
        // Greeting only (or, in Teams, an install with no message).
    } else if scenario < 0.22 {
        c.wait(5, 60);
        let q = c.r.pick(domain.questions).0;
        c.user_message(q);
        answered = false;
    } else if scenario < 0.30 {
        c.wait(5, 60);
        let q = *c.r.pick(domain.unanswerable);
        c.fallback(q);
    } else if scenario < 0.34 {
        c.wait(5, 60);
        c.escalate();
        outcome = "Escalated";
    } else {
        let turns = c.r.range(1, 4);
        for _ in 0..turns {
            c.wait(4, 90);
            let pick = c.r.unit();
            if pick < 0.35 && !bot.topics.is_empty() {
                let t = *c.r.pick(&bot.topics);
                c.topic(t, bot.orchestration);
            } else if pick < 0.6 && bot.orchestration && !bot.tools.is_empty() {
                let t = *c.r.pick(&bot.tools);
                c.planned_tool(&domain.tools[t]);
            } else if !bot.knowledge.is_empty() {
                let (q, a) = *c.r.pick(domain.questions);
                if bot.orchestration {
                    c.planned_knowledge(q, a);
                } else {
                    c.generative_answer(q, a);
                }
            } else {
                let q = *c.r.pick(domain.unanswerable);
                c.fallback(q);
            }
        }
        c.wait(5, 60);
        let end = c.r.unit();
        if end < 0.1 {
            // The user's last prompt got no answer (session timed out or the bot failed).
            let q = c.r.pick(domain.questions).0;
            c.user_message(q);
            answered = false;
        } else if end < 0.6 {
            let bye = *c.r.pick(GOODBYES);
            let said = c.user_message(bye);
            c.wait(0, 1);
            c.bot_message("You're welcome.", &said, json!([]));
            outcome = "Resolved";
            if c.r.chance(0.3) {
                c.event("endOfConversation", None, Some(&said), false);
                if let Some(last) = c.acts.last_mut().and_then(Value::as_object_mut) {
                    last.insert("type".into(), json!("endOfConversation"));
                    last.remove("name");
                    last.insert("code".into(), json!("completedSuccessfully"));
                }
            }
        }
    }
    let _ = GREETINGS;
    let engaged = c
        .acts
        .iter()
        .any(|a| a["type"] == "message" && a["from"]["role"] == 1);
    if !answered || c.failed {
        outcome = "Abandoned";
    }
    let start_iso = iso(start);
    let end_iso = iso(OffsetDateTime::from_unix_timestamp(c.t).unwrap_or(start));
    let turn_count = c.messages;
    c.trace(
        "SessionInfo",
        json!({
            "startTimeUtc": start_iso,
            "endTimeUtc": end_iso,
            "type": if engaged { "Engaged" } else { "Unengaged" },
            "outcome": outcome,
            "turnCount": turn_count,
            "impliedSuccess": outcome == "Resolved",
        }),
        None,
        true,
    );
    if let Some(last) = c.acts.last_mut() {
        last["id"] = json!("0");
    }
    json!({"activities": c.acts}).to_string()
}

/// Part `part` (1-based) of `parts` of a session's content: the activities cut so that each
/// cut falls between a prompt and its reply (the prompt ends one part, its reply starts the
/// next), as when Copilot Studio splits a session that outgrew one row. Sessions with too few
/// prompts are cut evenly.
pub(super) fn part_of(whole: &str, part: u64, parts: u64) -> Option<String> {
    let doc: Value = serde_json::from_str(whole).ok()?;
    let acts = doc.get("activities")?.as_array()?;
    let parts = usize::try_from(parts).ok()?.max(1);
    let part = usize::try_from(part).ok()?.clamp(1, parts);
    let is_user_message = |a: &Value| {
        a.get("type").and_then(Value::as_str) == Some("message")
            && a.pointer("/from/role").and_then(Value::as_i64) == Some(1)
    };
    // Cut candidates: right after a user message that a message follows later.
    let candidates: Vec<usize> = (0..acts.len())
        .filter(|&i| is_user_message(&acts[i]) && i + 1 < acts.len())
        .map(|i| i + 1)
        .collect();
    let cuts: Vec<usize> = if candidates.len() >= parts - 1 {
        (1..parts)
            .map(|k| candidates[(k * candidates.len()) / parts])
            .collect()
    } else {
        (1..parts).map(|k| k * acts.len() / parts).collect()
    };
    let mut bounds = vec![0];
    bounds.extend(cuts);
    bounds.push(acts.len());
    let (from, to) = (bounds[part - 1], bounds[part].max(bounds[part - 1]));
    Some(json!({"activities": &acts[from..to]}).to_string())
}
