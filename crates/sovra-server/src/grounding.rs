//! Grounded chat: answers from official documents, with citations.
//!
//! A chat request opts in with the extension `"sovra": {"knowledge":
//! {"collections": [...], "official_sources_only": true}}` (or the server
//! grounds every request when `knowledge.ground_by_default` is set, which a
//! request can turn off with `"knowledge": false`). The last user message is
//! searched in the collections the caller may read; the passages that are
//! relevant enough (cosine at least `knowledge.min_similarity`, centred
//! cosine at least `knowledge.min_relevance`: `RelevanceFloor`) go into the
//! system prompt numbered, each screened for prompt injection (suspicious
//! ones are dropped) and fenced as untrusted data by sovra-guard, with the
//! instruction to cite them inline as [1], [2]. The response carries the
//! passages as `citations`, an extension field clients can ignore; a stream
//! sends them first, in a chunk with no choices. With
//! `official_sources_only`, a question no passage answers is declined in
//! the user's language, without calling the model.
//!
//! The chat handler calls [`ground`] before preparing the request and
//! [`Grounding::respond`] / [`Grounding::stream`] on the way out; everything
//! else about grounding lives here.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sovra_core::ApiError;
use sovra_core::openai::{ChatCompletionRequest, ChatMessage, MessageContent, Role};
use sovra_knowledge::{Hit, Mode, Query};

use crate::{AppState, HttpError};

/// One source the answer may cite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Citation {
    pub index: usize,
    pub document_id: String,
    pub title: String,
    pub url: Option<String>,
    pub effective_date: Option<String>,
    pub snippet: String,
}

/// What grounding decided for one request.
#[derive(Debug, Clone, Default)]
pub enum Grounding {
    /// Not asked for.
    #[default]
    Off,
    /// Passages were put in the prompt (possibly none).
    Grounded(Vec<Citation>),
    /// Official sources only, and none answers: this message instead of the model.
    Declined { message: String, language: String },
}

struct Ask {
    collections: Option<Vec<String>>,
    official_only: bool,
    /// The request asked for grounding itself (not the server's default).
    explicit: bool,
}

fn ask(state: &AppState, ext: Option<&Value>) -> Result<Option<Ask>, ApiError> {
    let by_default = state
        .knowledge
        .as_ref()
        .is_some_and(|k| k.ground_by_default);
    let official_by_default = state
        .knowledge
        .as_ref()
        .is_some_and(|k| k.official_sources_only);
    let k = ext.and_then(|e| e.get("knowledge"));
    let bad = |m: &str| ApiError::invalid_param("sovra.knowledge", m.to_owned());
    let ask = match k {
        None | Some(Value::Null) if by_default => Ask {
            collections: None,
            official_only: official_by_default,
            explicit: false,
        },
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => Ask {
            collections: None,
            official_only: false,
            explicit: true,
        },
        Some(Value::Object(o)) => {
            let collections = match o.get("collections") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            bad("'sovra.knowledge.collections' must be a list of vector store ids.")
                        })?,
                ),
                Some(_) => {
                    return Err(bad(
                        "'sovra.knowledge.collections' must be a list of vector store ids.",
                    ));
                }
            };
            let official_only = match o.get("official_sources_only") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(bad(
                        "'sovra.knowledge.official_sources_only' must be true or false.",
                    ));
                }
            };
            Ask {
                collections,
                official_only,
                explicit: true,
            }
        }
        Some(_) => return Err(bad("'sovra.knowledge' must be an object, true or false.")),
    };
    if state.knowledge.is_none() {
        return Err(bad(
            "This server has no knowledge base (knowledge.enabled, which needs embeddings); leave 'sovra.knowledge' out.",
        ));
    }
    Ok(Some(ask))
}

fn text_of(m: &ChatMessage) -> Option<String> {
    m.content.as_ref().and_then(|c| c.text().ok())
}

/// Search for the last user message and put what was found into `req`'s
/// system prompt. Returns what the response must carry.
pub async fn ground(
    state: &AppState,
    who: &sovra_identity::Principal,
    req: &mut ChatCompletionRequest,
) -> Result<Grounding, HttpError> {
    let Some(ask) = ask(state, req.sovra.as_ref())? else {
        return Ok(Grounding::Off);
    };
    let Some(svc) = state.knowledge.as_ref() else {
        return Ok(Grounding::Off);
    };
    let Some(question) = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .and_then(text_of)
    else {
        return Ok(Grounding::Off);
    };
    // Grounding reads collections: what the knowledge API lets this caller
    // read, no more. A key without the `knowledge` scope is refused there
    // (403), and so here when it asks for grounding; grounding by the
    // server's default reads the public collections only for it, as for the
    // anonymous web chat.
    let may_read = who.allows(sovra_identity::Scope::Knowledge);
    if !may_read && ask.explicit {
        return Err(HttpError(
            ApiError::new(
                sovra_core::ErrorKind::PermissionDenied,
                "This API key lacks the scope 'knowledge', which grounding ('sovra.knowledge') needs: it reads collections.",
            )
            .with_code("permission_denied"),
        ));
    }
    let caller = crate::knowledge::caller(who);
    let (citations, block) = match retrieve(
        svc,
        &caller,
        &question,
        ask.collections,
        Reach {
            public_only: ask.official_only || !may_read,
            decline: ask.official_only,
        },
        None,
    )
    .await?
    {
        Retrieved::Declined { message, language } => {
            return Ok(Grounding::Declined { message, language });
        }
        Retrieved::Passages { citations, block } => (citations, block),
    };
    let Some(block) = block else {
        return Ok(Grounding::Grounded(citations));
    };
    match req.messages.first_mut() {
        Some(first) if first.role == Role::System => {
            let prior = text_of(first).unwrap_or_default();
            first.content = Some(MessageContent::Text(format!("{prior}\n\n{block}")));
        }
        _ => req.messages.insert(
            0,
            ChatMessage {
                role: Role::System,
                content: Some(MessageContent::Text(block)),
                name: None,
                tool_calls: None,
                tool_call_id: None,
            },
        ),
    }
    Ok(Grounding::Grounded(citations))
}

/// What retrieval found for one question.
#[derive(Debug, Clone)]
pub enum Retrieved {
    /// The passages to cite (maybe none) and the prompt block that holds
    /// them (None when there are none).
    Passages {
        citations: Vec<Citation>,
        block: Option<String>,
    },
    /// Official sources only, and none is relevant: say so in `language`.
    Declined { message: String, language: String },
}

/// Which collections one retrieval reads, and what it does with no passage.
#[derive(Debug, Clone, Copy)]
pub struct Reach {
    /// Public (official) collections only.
    pub public_only: bool,
    /// Decline when no passage is relevant (official sources only).
    pub decline: bool,
}

/// Search `question` in what `caller` may read (public collections only
/// with `reach.public_only`), keep the relevant passages that do not look
/// like prompt injections, and fence them into a prompt block. `language`:
/// the language to decline in; None: the question's (English when unknown).
pub async fn retrieve(
    svc: &crate::knowledge::KnowledgeService,
    caller: &sovra_knowledge::Caller,
    question: &str,
    collections: Option<Vec<String>>,
    reach: Reach,
    language: Option<&str>,
) -> Result<Retrieved, HttpError> {
    let max = svc.kb.limits().max_query_chars;
    let query_text: String = question.chars().take(max).collect();
    let q = Query {
        collections,
        official_only: reach.public_only,
        mode: Mode::Hybrid,
        ..Query::new(&query_text, svc.passages)
    };
    let hits: Vec<Hit> = svc
        .kb
        .search(caller, &q)
        .await?
        .into_iter()
        .filter(|h| svc.relevance.admits(h))
        .filter(|h| {
            let report = sovra_guard::injection::screen_injection(&h.text);
            if report.suspicious {
                tracing::warn!(document = %h.document_id, score = report.score, "dropped a retrieved passage that looks like a prompt injection");
            }
            !report.suspicious
        })
        .collect();
    if hits.is_empty() && reach.decline {
        let language = match language {
            Some(l) => l.to_owned(),
            None => sovra_knowledge::lang::detect(question).unwrap_or_else(|| "en".into()),
        };
        return Ok(Retrieved::Declined {
            message: decline_message(&language).to_owned(),
            language,
        });
    }
    if hits.is_empty() {
        return Ok(Retrieved::Passages {
            citations: Vec::new(),
            block: None,
        });
    }
    let mut block = String::from(
        "Answer the user's question from the numbered passages of official documents below. \
         Cite every fact inline with its passage number in square brackets, like [1] or [2]. \
         If the passages do not contain the answer, say so instead of guessing. \
         Answer in the language of the user's question.\n",
    );
    let mut citations = Vec::with_capacity(hits.len());
    for (i, h) in hits.iter().enumerate() {
        let n = i + 1;
        let mut header = format!("[{n}] {}", h.title);
        if let Some(d) = &h.effective_date {
            header.push_str(&format!(" (effective {d})"));
        }
        if !h.heading.is_empty() {
            header.push_str(&format!(" — {}", h.heading));
        }
        block.push('\n');
        block.push_str(&sovra_guard::injection::fence_untrusted(
            &format!("official document [{n}]"),
            &format!("{header}\n{}", h.text),
        ));
        block.push('\n');
        citations.push(Citation {
            index: n,
            document_id: h.document_id.clone(),
            title: h.title.clone(),
            url: h.url.clone(),
            effective_date: h.effective_date.clone(),
            snippet: snippet(&h.text),
        });
    }
    Ok(Retrieved::Passages {
        citations,
        block: Some(block),
    })
}

/// Grounding for one web-chat message (`POST /api/conversations/{id}/messages`):
/// on when `knowledge.ground_by_default` is set, over public collections
/// only (declining when nothing is relevant) with
/// `knowledge.official_sources_only`. A decline is in the question's
/// language when there is a text for it, else in `answer_language` (the
/// safety pipeline's), else the page's, else English. None when the web
/// chat is not grounded.
pub async fn for_web_chat(
    state: &AppState,
    who: &sovra_identity::Principal,
    question: &str,
    answer_language: Option<&str>,
    page_language: Option<&str>,
) -> Result<Option<Retrieved>, HttpError> {
    let Some(svc) = state.knowledge.as_ref().filter(|k| k.ground_by_default) else {
        return Ok(None);
    };
    let caller = crate::knowledge::caller(who);
    let language = sovra_knowledge::lang::detect(question)
        .filter(|l| has_decline(l))
        .or_else(|| {
            answer_language
                .filter(|l| has_decline(l))
                .map(str::to_owned)
        })
        .or_else(|| page_language.filter(|l| has_decline(l)).map(str::to_owned))
        .unwrap_or_else(|| "en".to_owned());
    let language = Some(language);
    retrieve(
        svc,
        &caller,
        question,
        None,
        Reach {
            public_only: svc.official_sources_only || !who.allows(sovra_identity::Scope::Knowledge),
            decline: svc.official_sources_only,
        },
        language.as_deref(),
    )
    .await
    .map(Some)
}

impl Retrieved {
    /// How the response reports it (the citations chunk of a stream).
    pub fn grounding(&self) -> Grounding {
        match self {
            Self::Passages { citations, .. } => Grounding::Grounded(citations.clone()),
            Self::Declined { message, language } => Grounding::Declined {
                message: message.clone(),
                language: language.clone(),
            },
        }
    }
}

fn snippet(text: &str) -> String {
    const MAX: usize = 240;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    match cut.rfind(' ') {
        Some(i) => format!("{}…", &cut[..i]),
        None => format!("{cut}…"),
    }
}

/// Whether [`decline_message`] has a text in `language` (English always).
pub fn has_decline(language: &str) -> bool {
    language == "en" || decline_message(language) != decline_message("en")
}

/// "Not in the official sources", in the languages of the shipped country
/// profiles (de, fr, it, et, ru, ar) and English for anything else.
pub fn decline_message(language: &str) -> &'static str {
    match language {
        "et" => {
            "Ma ei leidnud seda mulle kättesaadavatest ametlikest allikatest, seega ei saa ma sellele usaldusväärselt vastata. Palun pöörduge otse vastava asutuse poole."
        }
        "fr" => {
            "Je n'ai pas trouvé cette information dans les sources officielles dont je dispose ; je ne peux donc pas y répondre de manière fiable. Veuillez vous adresser directement au service public concerné."
        }
        "de" => {
            "Ich habe dazu in den mir verfügbaren offiziellen Quellen nichts gefunden und kann die Frage deshalb nicht verlässlich beantworten. Bitte wenden Sie sich direkt an die zuständige Behörde."
        }
        "it" => {
            "Non ho trovato questa informazione nelle fonti ufficiali a mia disposizione, quindi non posso rispondere in modo affidabile. Si rivolga direttamente all'ufficio pubblico competente."
        }
        "ru" => {
            "Я не нашёл этого в доступных мне официальных источниках, поэтому не могу ответить надёжно. Пожалуйста, обратитесь напрямую в соответствующее ведомство."
        }
        "ar" => {
            "لم أجد هذه المعلومة في المصادر الرسمية المتاحة لي، لذلك لا يمكنني الإجابة عنها بشكل موثوق. يرجى التوجه مباشرة إلى المصلحة الإدارية المختصة."
        }
        _ => {
            "I could not find this in the official sources available to me, so I cannot answer it reliably. Please contact the responsible public service directly."
        }
    }
}

impl Grounding {
    fn citations(&self) -> Option<&[Citation]> {
        match self {
            Self::Grounded(c) => Some(c),
            Self::Declined { .. } => Some(&[]),
            Self::Off => None,
        }
    }

    /// A declined request's answer, without calling the model (None: go on).
    pub fn declined(&self, model: &str, stream: bool) -> Option<Response> {
        let Self::Declined { message, language } = self else {
            return None;
        };
        let (id, created) = crate::openai::completion_id();
        let ext = json!({"declined": true, "reason": "no_official_source", "language": language});
        if stream {
            let chunk = |delta: Value, finish: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let events = [
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "citations": [], "sovra": ext}),
                chunk(
                    json!({"role": "assistant", "content": message}),
                    Value::Null,
                ),
                chunk(json!({}), json!("stop")),
            ];
            let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            body.push_str("data: [DONE]\n\n");
            return Some(
                (
                    [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                    body,
                )
                    .into_response(),
            );
        }
        let body = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": message, "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "citations": [],
            "sovra": ext,
        });
        Some(axum::Json(body).into_response())
    }

    /// The non-streamed response body, with `citations` when grounded.
    pub fn respond(&self, body: impl Serialize) -> Response {
        let Some(citations) = self.citations() else {
            return axum::Json(body).into_response();
        };
        match serde_json::to_value(body) {
            Ok(mut v) => {
                v["citations"] = json!(citations);
                axum::Json(v).into_response()
            }
            Err(e) => HttpError(ApiError::internal(format!(
                "could not encode the response: {e}"
            )))
            .into_response(),
        }
    }

    /// A streamed response, preceded by a chunk carrying `citations` when grounded.
    pub fn stream(&self, response: Response, model: &str) -> Response {
        let Some(citations) = self.citations() else {
            return response;
        };
        let (id, created) = crate::openai::completion_id();
        let mut first = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "citations": citations});
        if let Self::Declined { language, .. } = self {
            first["sovra"] =
                json!({"declined": true, "reason": "no_official_source", "language": language});
        }
        let (parts, body) = response.into_parts();
        let head = futures::stream::once(async move {
            Ok::<_, axum::Error>(bytes::Bytes::from(format!("data: {first}\n\n")))
        });
        let rest = body.into_data_stream();
        Response::from_parts(parts, Body::from_stream(head.chain(rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_language_has_its_decline() {
        for lang in ["de", "fr", "it", "et", "ru", "ar"] {
            assert_ne!(decline_message(lang), decline_message("en"), "{lang}");
            assert_eq!(
                sovra_knowledge::lang::detect(decline_message(lang)).as_deref(),
                Some(lang)
            );
        }
        assert_eq!(
            sovra_knowledge::lang::detect(decline_message("en")).as_deref(),
            Some("en")
        );
    }

    #[test]
    fn snippets_are_short_and_end_at_a_word() {
        let s = snippet(&"word ".repeat(100));
        assert!(s.chars().count() <= 241 && s.ends_with('…'), "{s}");
        assert_eq!(snippet("short"), "short");
    }
}
