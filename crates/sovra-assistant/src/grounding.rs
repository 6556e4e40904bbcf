//! Grounding: answers from official documents, with citations.
//!
//! A chat request opts in with the extension `"sovra": {"knowledge":
//! {"collections": [...], "official_sources_only": true}}` (or the server
//! grounds every request when `knowledge.ground_by_default` is set, which a
//! request can turn off with `"knowledge": false`); the web chat is grounded
//! when `knowledge.ground_by_default` is set. The last user message, as the
//! model will see it (personal data as placeholders), is searched in the
//! collections the caller may read; the passages that are relevant enough
//! (cosine at least `knowledge.min_similarity`, centred cosine at least
//! `knowledge.min_relevance`: `RelevanceFloor`) go into the system prompt
//! numbered, each screened for prompt injection (suspicious ones are
//! dropped) and fenced as untrusted data by sovra-guard, with the
//! instruction to cite them inline as [1], [2]. The answer carries the
//! passages as citations. With official sources only, a question no passage
//! answers is declined in the user's language, without calling the model.
//!
//! [`parse_ask`] reads what a request asks for (a surface calls it while it
//! validates); the pipeline ([`crate::Assistant::answer`]) calls
//! [`retrieve`] after the safety checks.

use std::sync::Arc;

use serde_json::Value;
use sovra_core::ApiError;
pub use sovra_core::openai::Citation;
use sovra_identity::Principal;
use sovra_knowledge::{Caller, Hit, Knowledge, Mode, Query};

use crate::AssistantError;

/// The knowledge base a server offers, and how chat is grounded in it.
#[derive(Clone)]
pub struct KnowledgeService {
    pub kb: Arc<Knowledge>,
    /// Passages put into a grounded prompt.
    pub passages: usize,
    /// What counts as a relevant passage (grounding keeps only those;
    /// `official_sources_only` declines when none is left).
    pub relevance: sovra_knowledge::RelevanceFloor,
    /// Ground chat in the public collections unless the request opts out.
    pub ground_by_default: bool,
    /// Default grounding (and the web chat) uses public collections only
    /// and declines when nothing relevant is found.
    pub official_sources_only: bool,
}

/// What one request asks of grounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The collections to search (None: all the caller may read).
    pub collections: Option<Vec<String>>,
    /// Public (official) collections only, declining when none answers.
    pub official_only: bool,
    /// The request asked for grounding itself (not the server's default).
    pub explicit: bool,
}

impl Ask {
    /// Grounding as the server's defaults set it (the web chat's).
    pub fn by_default(svc: &KnowledgeService) -> Self {
        Self {
            collections: None,
            official_only: svc.official_sources_only,
            explicit: false,
        }
    }
}

/// Reads the `sovra.knowledge` extension of a chat request against the
/// server's knowledge settings: None when the request is not grounded.
/// A malformed extension, or one that asks for grounding on a server with
/// no knowledge base, is a 400 naming `sovra.knowledge`.
pub fn parse_ask(
    knowledge: Option<&KnowledgeService>,
    ext: Option<&Value>,
) -> Result<Option<Ask>, ApiError> {
    let by_default = knowledge.is_some_and(|k| k.ground_by_default);
    let official_by_default = knowledge.is_some_and(|k| k.official_sources_only);
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
    if knowledge.is_none() {
        return Err(bad(
            "This server has no knowledge base (knowledge.enabled, which needs embeddings); leave 'sovra.knowledge' out.",
        ));
    }
    Ok(Some(ask))
}

/// Whether `who` may read collections (the `knowledge` scope); asking for
/// grounding explicitly without it is a 403, since grounding reads them.
/// Grounding by the server's default reads the public collections only for
/// such a caller, as for the anonymous web chat.
pub fn check_scope(who: &Principal, ask: &Ask) -> Result<(), ApiError> {
    if ask.explicit && !who.allows(sovra_identity::Scope::Knowledge) {
        return Err(ApiError::new(
            sovra_core::ErrorKind::PermissionDenied,
            "This API key lacks the scope 'knowledge', which grounding ('sovra.knowledge') needs: it reads collections.",
        )
        .with_code("permission_denied"));
    }
    Ok(())
}

/// The caller, as the knowledge base's access rules see them.
pub fn knowledge_caller(who: &Principal) -> Caller {
    use sovra_identity::Role::{Developer, PlatformAdmin, TenantAdmin};
    let platform = who.role == PlatformAdmin;
    let staff = matches!(who.role, PlatformAdmin | TenantAdmin | Developer);
    Caller::with_rights(who.tenant.as_str(), &who.user, platform, staff)
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
    svc: &KnowledgeService,
    caller: &Caller,
    question: &str,
    collections: Option<Vec<String>>,
    reach: Reach,
    language: Option<&str>,
) -> Result<Retrieved, AssistantError> {
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

/// The language a decline is written in: the question's when there is a
/// text for it, else the answer's (the safety pipeline's decision), else
/// the page's, else English.
pub fn decline_language(
    question: &str,
    answer_language: Option<&str>,
    page_language: Option<&str>,
) -> String {
    sovra_knowledge::lang::detect(question)
        .filter(|l| has_decline(l))
        .or_else(|| {
            [answer_language, page_language]
                .into_iter()
                .flatten()
                .find(|l| has_decline(l))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "en".to_owned())
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
