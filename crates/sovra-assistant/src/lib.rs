//! Sovra's one answer pipeline.
//!
//! Every surface that answers a person (`/v1/chat/completions`,
//! `/v1/completions`, the web chat's conversation API, which `sovra chat`
//! speaks, and the evaluations) maps its wire types into a [`Question`],
//! calls [`Assistant::answer`], and renders the [`Answer`] it gets back. The
//! pipeline runs the same stages, in the same order, for all of them:
//!
//! 1. **validate**: a surface checks its own wire fields first (an invalid
//!    request never reaches a later stage); grounding's extension is read by
//!    [`grounding::parse_ask`] and its scope checked here.
//! 2. **admit**: priority and fair-share bucket from the caller's identity
//!    alone ([`priority`]); the quota charged ([`Admission`]).
//! 3. **language**, 4. **moderation and policy decision**: the last user
//!    message is screened ([`safety`]): a refusal naming the rule, or a safe
//!    completion with the country's help lines, is answered without the
//!    model.
//! 5. **PII placeholders**: personal data becomes reversible placeholders
//!    before the model (when the profile says so); tool results are fenced.
//! 6. **grounding**: the masked question is searched in what the caller may
//!    read; with official sources only and nothing relevant, a decline in
//!    the user's language, without the model ([`grounding`]).
//! 7. **generate** on the engine (embedded, fleet, or a simulated node); a
//!    conversation drops its oldest turns until the prompt fits.
//! 8. **streamed output check** and 9. **placeholders restored**
//!    ([`safety::Safety::guard_output`]).
//! 10. **persist**: a conversation keeps the question (masked) at once, and
//!     the answer (masked, with its citations) through [`Answer::on_end`]
//!     before the client is told it is complete.
//!
//! The pipeline knows nothing of HTTP: it returns typed data ([`Outcome`],
//! citations, the language decision) and the engine's typed events.

pub mod grounding;
pub mod policy;
pub mod priority;
pub mod safety;

mod error;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use sovra_core::ApiError;
use sovra_core::openai::{Citation, FinishReason, Role};
use sovra_engine::{
    Engine, EngineError, Event, EventStream, Finish, GenerateRequest, Priority, Prompt, Turn,
};
use sovra_guard::{Decision, LanguageDecision, Vault};
use sovra_identity::Principal;
use sovra_store::{MessageUsage, NewMessage, Store, StoredMessage};

pub use error::AssistantError;
pub use grounding::KnowledgeService;
pub use safety::{ClassifierState, Gate, Safety};

/// Where a request is charged before the model runs (quotas and rate
/// limits); a surface passes the caller's. [`Unmetered`] charges nothing.
pub trait Admission: Send + Sync {
    /// Check and count a generation of `prompt` with an answer of up to
    /// `max_tokens` (`None`: the configured reserve, at most `ceiling`).
    fn admit<'a>(
        &'a self,
        engine: &'a dyn Engine,
        model: &'a str,
        prompt: &'a Prompt,
        max_tokens: Option<u32>,
        ceiling: u32,
    ) -> BoxFuture<'a, Result<Box<dyn Metered>, ApiError>>;
}

/// An admitted request's reservation: it settles against the real usage
/// of the answer's events.
pub trait Metered: Send {
    fn meter(self: Box<Self>, events: EventStream) -> EventStream;
}

/// No quota: nothing is charged.
pub struct Unmetered;

struct Free;

impl Metered for Free {
    fn meter(self: Box<Self>, events: EventStream) -> EventStream {
        events
    }
}

impl Admission for Unmetered {
    fn admit<'a>(
        &'a self,
        _engine: &'a dyn Engine,
        _model: &'a str,
        _prompt: &'a Prompt,
        _max_tokens: Option<u32>,
        _ceiling: u32,
    ) -> BoxFuture<'a, Result<Box<dyn Metered>, ApiError>> {
        Box::pin(async { Ok(Box::new(Free) as Box<dyn Metered>) })
    }
}

/// Called once when an answer ends: the text the person was shown, and how
/// it ended (`None` when they went away or the engine failed first).
/// Returns whether the answer is durably kept; if not, the surface reports
/// an error instead of the end of the answer, so nothing unsaved is
/// acknowledged.
pub type OnEnd = Box<dyn FnOnce(String, Option<Finish>) -> BoxFuture<'static, bool> + Send>;

/// The pipeline over one deployment's parts; cheap to clone.
#[derive(Clone)]
pub struct Assistant {
    pub engine: Arc<dyn Engine>,
    pub store: Arc<dyn Store>,
    /// The country profile's safety pipeline; `None` only for a bare
    /// inference node (`sovra sim-node`), never for `sovra serve`.
    pub safety: Option<Arc<Safety>>,
    /// Grounding, when a knowledge base is served.
    pub knowledge: Option<KnowledgeService>,
    /// A conversation's system prompt when no profile speaks for it.
    pub system_prompt: Arc<str>,
    /// The same per language (from the country profile).
    pub system_prompts: Arc<BTreeMap<String, String>>,
}

/// A stored conversation the question continues (the web chat, `sovra
/// chat`): the pipeline builds the prompt from its history with the
/// profile's persona, and persists both turns.
pub struct Conversation {
    pub id: String,
    /// Its messages so far, oldest first (stored masked).
    pub history: Vec<StoredMessage>,
    /// The new message, as the person wrote it.
    pub content: String,
    /// The page's language, for a message with no letters to detect.
    pub page_language: Option<String>,
    /// Name the conversation after this message (its first).
    pub retitle: bool,
}

/// One thing to answer, as a surface mapped it from its wire types.
pub struct Question<'a> {
    /// Who asks: their identity alone sets the priority, the fair-share
    /// bucket and what grounding may read.
    pub who: &'a Principal,
    /// The checked request: prompt, sampling, model. For a conversation the
    /// pipeline builds the prompt; its sampling and model are used.
    pub request: GenerateRequest,
    /// What the request asks of grounding (None: not grounded).
    pub grounding: Option<grounding::Ask>,
    /// A lower priority class the client asked for (never a higher one).
    pub asked_priority: Option<Priority>,
    /// A session key for prefix-aware routing.
    pub session: Option<String>,
    /// The conversation this continues, if any.
    pub conversation: Option<Conversation>,
    /// Where the request is charged.
    pub admission: &'a dyn Admission,
}

/// How an answer came about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The model answered.
    Generated,
    /// Official sources only, and none answers: a decline, without the model.
    Declined { language: String },
    /// Moderation refused the question (`finish_reason: content_filter`).
    Refused { rule: String },
    /// A safe completion with the country's help lines, without the model.
    SafeCompletion { rule: String },
}

/// What the pipeline answers: what is known before the first token, and
/// the answer's events.
pub struct Answer {
    /// The model id the answer is reported under.
    pub model: String,
    pub outcome: Outcome,
    /// The language decision, when the safety pipeline ran.
    pub language: Option<LanguageDecision>,
    /// The passages the answer may cite, when grounding ran (empty for a
    /// decline); None when it was not grounded.
    pub citations: Option<Vec<Citation>>,
    /// Text, log-probabilities and the finish, checked and metered.
    pub events: EventStream,
    /// Persists the answer of a conversation; the surface calls it with the
    /// text it delivered (see [`OnEnd`]).
    pub on_end: Option<OnEnd>,
}

impl Answer {
    /// Sovra's note on the answer, for the wire (a decline's reason).
    pub fn note(&self) -> Option<sovra_core::openai::AnswerNote> {
        match &self.outcome {
            Outcome::Declined { language } => {
                Some(sovra_core::openai::AnswerNote::no_official_source(language))
            }
            _ => None,
        }
    }

    /// Drains the answer in process (no stream to a client): its text and
    /// finish, persisted as a streamed one would be.
    pub async fn collect(mut self) -> Result<(String, Finish), AssistantError> {
        use futures::StreamExt as _;
        let mut text = String::new();
        let mut finish = None;
        let mut failed = None;
        while let Some(event) = self.events.next().await {
            match event {
                Ok(Event::Delta(d)) => text.push_str(&d),
                Ok(Event::Finish(f)) => {
                    finish = Some(f);
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(hook) = self.on_end.take()
            && !hook(text.clone(), finish).await
        {
            return Err(AssistantError::NotKept);
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        finish
            .map(|f| (text, f))
            .ok_or(AssistantError::Engine(EngineError::Internal(
                "the engine ended the answer without finishing it".into(),
            )))
    }
}

/// The characters of a conversation's first message that name it.
const TITLE_CHARS: usize = 60;

/// What the safety stage decided, with the texts the later stages use.
struct Screened {
    /// The language decision (None without a safety pipeline).
    language: Option<LanguageDecision>,
    /// Answer this without the model (a refusal or a safe completion).
    decided: Option<Decision>,
    /// Restores the model's placeholders.
    vault: Vault,
    /// A conversation's new message: as the model sees it, and as stored.
    model_text: String,
    stored_text: String,
}

/// What the later stages get of a question the safety stage let through.
struct Passed {
    language: Option<LanguageDecision>,
    vault: Vault,
    /// A conversation's new message as the model sees it.
    model_text: String,
}

impl Assistant {
    /// Answers `q` through every stage, in order (see the crate docs).
    pub async fn answer(&self, q: Question<'_>) -> Result<Answer, AssistantError> {
        let Question {
            who,
            mut request,
            grounding: ask,
            asked_priority,
            session,
            conversation,
            admission,
        } = q;
        // 1. validate: what the surfaces share.
        if let Some(ask) = &ask {
            grounding::check_scope(who, ask)?;
        }
        // 2. admit: the identity decides the queue; the quota is charged.
        let session = session.or_else(|| conversation.as_ref().map(|c| c.id.clone()));
        priority::apply(who, asked_priority, session.as_deref(), &mut request.hints);
        let model = request
            .model
            .clone()
            .unwrap_or_else(|| self.engine.model().id.clone());
        if let Some(c) = &conversation {
            // Charged as the history stands, with the default system
            // prompt (the engine's count settles the difference).
            request.prompt = Prompt::Chat(self.conversation_turns(
                &self.system_prompt,
                &c.history,
                &c.content,
                0,
            ));
        }
        let ticket = admission
            .admit(
                &*self.engine,
                &model,
                &request.prompt,
                request.params.max_tokens,
                request.params.ceiling,
            )
            .await?;
        // 3-5. language, moderation and policy, PII placeholders.
        let tenant = who.tenant.to_string();
        let Screened {
            language,
            decided,
            vault,
            model_text,
            stored_text,
        } = self
            .screen(&tenant, &mut request.prompt, conversation.as_ref())
            .await?;
        let answer = match decided {
            Some(decision) => {
                let outcome = match &decision {
                    Decision::Block { rule, .. } => Outcome::Refused { rule: rule.clone() },
                    Decision::SafeCompletion { rule, .. } => {
                        Outcome::SafeCompletion { rule: rule.clone() }
                    }
                    Decision::Allow => Outcome::Generated,
                };
                Answer {
                    model,
                    outcome,
                    language,
                    citations: None,
                    events: safety::answer_stream(&decision),
                    on_end: None,
                }
            }
            None => {
                self.ground_and_generate(
                    who,
                    request,
                    ask,
                    conversation.as_ref(),
                    Passed {
                        language,
                        vault,
                        model_text,
                    },
                    model,
                    tenant,
                )
                .await?
            }
        };
        // 10. persist: the question at once (masked), the answer at its end.
        let mut answer = answer;
        if let Some(c) = &conversation {
            // Stored with the answer so a reload shows them; a decline cites nothing.
            let citations = match (&answer.outcome, &answer.citations) {
                (Outcome::Generated, Some(c)) => serde_json::to_value(c).ok(),
                _ => None,
            };
            answer.on_end = Some(self.persist(c, &stored_text, citations).await?);
        }
        answer.events = ticket.meter(answer.events);
        Ok(answer)
    }

    /// Stages 3-5: the language, the policy decision and the placeholders.
    async fn screen(
        &self,
        tenant: &str,
        prompt: &mut Prompt,
        conversation: Option<&Conversation>,
    ) -> Result<Screened, AssistantError> {
        let Some(safety) = &self.safety else {
            let text = conversation.map(|c| c.content.clone()).unwrap_or_default();
            return Ok(Screened {
                language: None,
                decided: None,
                vault: Vault::new(),
                model_text: text.clone(),
                stored_text: text,
            });
        };
        let (gate, model_text, stored_text) = match conversation {
            Some(c) => {
                let (gate, model_text, stored) = safety
                    .check_message(&*self.store, Some(tenant), c.content.clone())
                    .await?;
                (gate, model_text, stored)
            }
            None => {
                let gate = safety.screen(&*self.store, Some(tenant), prompt).await?;
                (gate, String::new(), String::new())
            }
        };
        Ok(match gate {
            Gate::Answer { language, decision } => Screened {
                language: Some(language),
                decided: Some(decision),
                vault: Vault::new(),
                model_text,
                stored_text,
            },
            Gate::Pass {
                mut language,
                vault,
            } => {
                // No letters to detect (an emoji, a number): the page's
                // language, when the profile speaks it.
                if language.detected.is_none()
                    && let Some(l) = conversation.and_then(|c| c.page_language.as_deref())
                    && safety.guard().profile.supports(l)
                {
                    language.answer_language = l.to_owned();
                    language.fallback = false;
                }
                Screened {
                    language: Some(language),
                    decided: None,
                    vault,
                    model_text,
                    stored_text,
                }
            }
        })
    }

    /// Stages 6-9: grounding, generation, the output check and the
    /// placeholders restored.
    #[allow(clippy::too_many_arguments)]
    async fn ground_and_generate(
        &self,
        who: &Principal,
        mut request: GenerateRequest,
        ask: Option<grounding::Ask>,
        conversation: Option<&Conversation>,
        screened: Passed,
        model: String,
        tenant: String,
    ) -> Result<Answer, AssistantError> {
        let answer_language = screened
            .language
            .as_ref()
            .map(|l| l.answer_language.as_str());
        // 6. grounding, on the question as the model sees it.
        let question = match (conversation, &request.prompt) {
            (Some(_), _) => Some(screened.model_text.clone()),
            (None, Prompt::Chat(turns)) => turns
                .iter()
                .rev()
                .find(|t| t.role == Role::User)
                .map(|t| t.content.clone()),
            (None, Prompt::Text(_)) => None,
        };
        let mut block = None;
        let mut citations = None;
        if let (Some(ask), Some(svc), Some(question)) = (ask, &self.knowledge, question) {
            let page = conversation.and_then(|c| c.page_language.as_deref());
            let language = grounding::decline_language(&question, answer_language, page);
            let may_read = who.allows(sovra_identity::Scope::Knowledge);
            let retrieved = grounding::retrieve(
                svc,
                &grounding::knowledge_caller(who),
                &question,
                ask.collections,
                grounding::Reach {
                    public_only: ask.official_only || !may_read,
                    decline: ask.official_only,
                },
                Some(&language),
            )
            .await?;
            match retrieved {
                grounding::Retrieved::Declined { message, language } => {
                    return Ok(Answer {
                        model,
                        outcome: Outcome::Declined { language },
                        language: screened.language.clone(),
                        citations: Some(Vec::new()),
                        events: fixed_answer(message),
                        on_end: None,
                    });
                }
                grounding::Retrieved::Passages {
                    citations: found,
                    block: b,
                } => {
                    citations = Some(found);
                    block = b;
                }
            }
        }
        // 7. generate.
        let events = match conversation {
            Some(c) => {
                let persona = self.persona(screened.language.as_ref(), c);
                let system = match &block {
                    Some(b) if persona.is_empty() => b.clone(),
                    Some(b) => format!("{persona}\n\n{b}"),
                    None => persona,
                };
                self.generate_conversation(request, c, &screened.model_text, &system)
                    .await?
            }
            None => {
                if let (Some(b), Prompt::Chat(turns)) = (&block, &mut request.prompt) {
                    put_in_system_prompt(turns, b);
                }
                self.engine.generate(request).await?
            }
        };
        // 8-9. the output check; placeholders restored.
        let events = match (&self.safety, &screened.language) {
            (Some(safety), Some(language)) => safety.guard_output(
                events,
                &language.answer_language,
                screened.vault,
                self.store.clone(),
                Some(tenant),
            ),
            _ => events,
        };
        Ok(Answer {
            model,
            outcome: Outcome::Generated,
            language: screened.language.clone(),
            citations,
            events,
            on_end: None,
        })
    }

    /// A conversation's system prompt: the profile's persona in the answer's
    /// language, else the page language's prompt, else the default.
    fn persona(&self, language: Option<&LanguageDecision>, c: &Conversation) -> String {
        match (&self.safety, language) {
            (Some(safety), Some(language)) => safety.system_prompt(language),
            _ => c
                .page_language
                .as_deref()
                .and_then(|l| self.system_prompts.get(l))
                .map(String::as_str)
                .unwrap_or(&self.system_prompt)
                .to_owned(),
        }
    }

    /// The turns of a conversation: the system prompt, the history from
    /// `skip` on, and the new message.
    fn conversation_turns(
        &self,
        system: &str,
        history: &[StoredMessage],
        content: &str,
        skip: usize,
    ) -> Vec<Turn> {
        let mut turns = Vec::with_capacity(history.len() + 2);
        if !system.is_empty() {
            turns.push(Turn::new(Role::System, system));
        }
        turns.extend(
            history[skip.min(history.len())..]
                .iter()
                .filter(|m| matches!(m.role, Role::User | Role::Assistant))
                .map(|m| Turn::new(m.role, m.content.clone())),
        );
        turns.push(Turn::new(Role::User, content));
        turns
    }

    /// Starts a conversation's answer with as much history as fits,
    /// dropping the oldest turns first.
    async fn generate_conversation(
        &self,
        request: GenerateRequest,
        c: &Conversation,
        content: &str,
        system: &str,
    ) -> Result<EventStream, AssistantError> {
        let mut skip = 0;
        loop {
            let mut attempt = request.clone();
            attempt.prompt =
                Prompt::Chat(self.conversation_turns(system, &c.history, content, skip));
            match self.engine.generate(attempt).await {
                Err(EngineError::ContextLength { .. }) if skip < c.history.len() => {
                    // Drop the older half of what is left (at least one turn).
                    skip += ((c.history.len() - skip) / 2).max(1);
                }
                other => return Ok(other?),
            }
        }
    }

    /// Keeps a conversation's question (masked) and names the conversation
    /// after it; returns the hook that keeps the answer.
    async fn persist(
        &self,
        c: &Conversation,
        stored_question: &str,
        citations: Option<serde_json::Value>,
    ) -> Result<OnEnd, AssistantError> {
        self.store
            .append_message(
                &c.id,
                NewMessage {
                    role: Role::User,
                    content: stored_question,
                    usage: None,
                },
            )
            .await?;
        if c.retitle {
            let title: String = stored_question.chars().take(TITLE_CHARS).collect();
            self.store.rename_conversation(&c.id, title.trim()).await?;
        }
        let store = self.store.clone();
        let safety = self.safety.clone();
        let id = c.id.clone();
        Ok(Box::new(move |text: String, finish: Option<Finish>| {
            Box::pin(async move {
                let text = match &safety {
                    Some(s) => s.mask(&text),
                    None => text,
                };
                if text.is_empty() && finish.is_none() {
                    return true;
                }
                let usage = finish.map(|f| MessageUsage {
                    prompt_tokens: f.prompt_tokens,
                    completion_tokens: f.completion_tokens,
                    finish_reason: f.reason.as_str().into(),
                });
                let message = NewMessage {
                    role: Role::Assistant,
                    content: &text,
                    usage,
                };
                match store
                    .append_message_cited(&id, message, citations.as_ref())
                    .await
                {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::error!(conversation = %id, error = %e, "could not store the answer");
                        false
                    }
                }
            })
        }))
    }
}

/// Puts a grounding block into a chat's system prompt (after the client's
/// own, or as a new first turn).
fn put_in_system_prompt(turns: &mut Vec<Turn>, block: &str) {
    match turns.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{}\n\n{block}", first.content);
        }
        _ => turns.insert(0, Turn::new(Role::System, block)),
    }
}

/// An answer given without the model (an "official sources only" decline).
fn fixed_answer(message: String) -> EventStream {
    let events = vec![
        Ok(Event::Delta(message)),
        Ok(Event::Finish(Finish {
            reason: FinishReason::Stop,
            prompt_tokens: 0,
            completion_tokens: 0,
        })),
    ];
    Box::pin(futures::stream::iter(events))
}

/// A surface runs the pipeline on any runtime thread: its future is `Send`.
#[allow(dead_code)]
fn answer_is_send<'a>(
    assistant: &'a Assistant,
    q: Question<'a>,
) -> impl std::future::Future<Output = Result<Answer, AssistantError>> + Send + 'a {
    assistant.answer(q)
}
