//! Rate limits and quotas on the inference endpoints, answered as OpenAI
//! answers them.
//!
//! [`meter`] (a layer on every route) picks out the inference routes
//! (`POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and the
//! web chat's `POST /api/conversations/{id}/messages`), works out who the
//! request is charged to ([`charge_of`]) and hands the handler a [`Quota`].
//! The handler calls [`Quota::admit`] once it knows the prompt, before the
//! model runs: the prompt is counted with the engine's own tokenizer, the
//! prompt plus the answer's most tokens (`max_tokens`, or
//! `quotas.reserve_completion_tokens`) are reserved in every bucket at once,
//! and [`Ticket::meter`] corrects the count to the real usage when the
//! answer finishes. A refusal is a 429 with OpenAI's body (`type` `requests`
//! or `tokens`, `code` `rate_limit_exceeded`) and `retry-after`; every
//! metered response, success or not, carries the `x-ratelimit-*` headers.
//!
//! What a ticket does with its reservation: an answer that finishes is
//! charged what it used (the unused part comes back); a request that fails
//! before the model starts gets its tokens back (the request still counts);
//! a stream the client abandons, or that fails midway, keeps its whole
//! reservation, so hanging up early is never a way to spend less.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;
use sha2::{Digest, Sha256};
use sovra_core::{ApiError, ErrorKind};
use sovra_engine::{Engine, Event, EventStream, Prompt};
use sovra_limits::{Charge, Grant, Limiter, Measure, Refusal, Report, openai_duration};
use tokio_util::task::TaskTracker;

use crate::{AppState, HttpError};
use sovra_identity::{Credential, Principal};

/// The limiter a server enforces, and how it reserves answers.
#[derive(Clone)]
pub struct Quotas {
    limiter: Arc<Limiter>,
    /// Tokens reserved for an answer whose request sets no `max_tokens`.
    reserve_completion_tokens: u32,
}

impl Quotas {
    pub fn new(limiter: Arc<Limiter>, reserve_completion_tokens: u32) -> Self {
        Self {
            limiter,
            reserve_completion_tokens,
        }
    }
}

/// When an anonymous caller refused for a crowd of anonymous counters may
/// try again: the minute windows' counters are swept out by then.
const CROWDED_RETRY: Duration = Duration::from_secs(60);

/// The routes a quota applies to (as the router matches them).
const METERED: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/api/conversations/{id}/messages",
];

/// Who a request is charged to: the caller the identity middleware
/// resolved. A tenant API key is charged by its id; one of the operator's
/// static keys by its fingerprint (never the key itself); the user and
/// their tenant path (every ancestor of which is a pool) always. The
/// anonymous public (no credential) is marked so: the counters it creates
/// come out of their own bounded share ([`sovra_limits::memory`]).
pub fn charge_of(who: &Principal, headers: &HeaderMap) -> Charge {
    let key = match &who.credential {
        Credential::ApiKey { id, .. } => Some(id.clone()),
        Credential::Operator => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(sovra_core::credentials::bearer_token)
            .map(key_id),
        Credential::Session { .. } | Credential::Anonymous => None,
    };
    Charge {
        key,
        user: Some(who.user.clone()),
        tenant: who.tenant.to_string(),
        model: None,
        anonymous: who.credential == Credential::Anonymous,
    }
}

/// A key's id: 16 bytes of its SHA-256 as hex (its first 8 digits are the
/// fingerprint the operator console shows).
fn key_id(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

/// The layer: give metered routes a [`Quota`], and put the `x-ratelimit-*`
/// headers (and a refusal's `retry-after`) on their responses.
pub async fn meter(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(quotas) = state.quotas.clone() else {
        return next.run(request).await;
    };
    let metered = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| METERED.contains(&p.as_str()));
    if !metered {
        return next.run(request).await;
    }
    // The identity middleware runs first and leaves the caller here.
    let who = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or_else(|| Principal::anonymous(sovra_store::Subject::ANONYMOUS));
    let charge = charge_of(&who, request.headers());
    let quota = Quota(Some(Arc::new(Meter {
        quotas,
        charge,
        tasks: state.tasks.clone(),
        outcome: Mutex::new(None),
    })));
    request.extensions_mut().insert(quota.clone());
    let mut response = next.run(request).await;
    quota.decorate(&mut response);
    response
}

/// What the headers of a metered response report.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    report: Report,
    /// Set on a 429 from this limiter.
    retry_after: Option<Duration>,
    /// The request can never pass as it is (larger than a whole limit):
    /// `x-should-retry: false`, which the OpenAI SDKs obey.
    hopeless: bool,
}

struct Meter {
    quotas: Quotas,
    charge: Charge,
    tasks: TaskTracker,
    outcome: Mutex<Option<Outcome>>,
}

/// A handler's handle on the quota of its request (inert where quotas are off).
#[derive(Clone, Default)]
pub struct Quota(Option<Arc<Meter>>);

impl<S: Send + Sync> FromRequestParts<S> for Quota {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Quota>().cloned().unwrap_or_default())
    }
}

/// How many tokens a prompt is when the engine cannot say: about four bytes
/// a token (as the simulated tokenizer), plus a few per chat message.
fn estimate(prompt: &Prompt) -> u32 {
    let n = match prompt {
        Prompt::Chat(turns) => turns.iter().map(|t| t.content.len().div_ceil(4) + 4).sum(),
        Prompt::Text(text) => text.len().div_ceil(4).max(1),
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Quota {
    /// Check and count a generation of `prompt` with an answer of up to
    /// `max_tokens` (`None`: the configured reserve, at most `ceiling`).
    pub async fn admit(
        &self,
        engine: &dyn Engine,
        model: &str,
        prompt: &Prompt,
        max_tokens: Option<u32>,
        ceiling: u32,
    ) -> Result<Ticket, HttpError> {
        let Some(m) = &self.0 else {
            return Ok(Ticket::default());
        };
        let tokens = if m.quotas.limiter.counts_tokens(&m.charge) {
            let counted = match engine.count_prompt_tokens(prompt).await {
                Some(n) => n,
                None => estimate(prompt),
            };
            // Longer than the context never runs whole (the engine refuses
            // it, or the conversation drops its oldest turns to fit).
            let prompt_tokens = counted.min(engine.model().context_length);
            let answer = max_tokens
                .unwrap_or(m.quotas.reserve_completion_tokens)
                .min(ceiling);
            u64::from(prompt_tokens) + u64::from(answer)
        } else {
            0
        };
        self.admit_tokens(model, tokens).await
    }

    /// Check and count a request of `tokens` tokens, known up front (embeddings).
    pub async fn admit_tokens(&self, model: &str, tokens: u64) -> Result<Ticket, HttpError> {
        let Some(m) = &self.0 else {
            return Ok(Ticket::default());
        };
        let charge = Charge {
            model: Some(model.to_owned()),
            ..m.charge.clone()
        };
        match m.quotas.limiter.acquire(&charge, tokens).await {
            Ok(admission) => {
                m.set(Outcome {
                    report: admission.report,
                    retry_after: None,
                    hopeless: false,
                });
                Ok(Ticket(admission.grant.map(|grant| Settle {
                    limiter: m.quotas.limiter.clone(),
                    tasks: m.tasks.clone(),
                    grant,
                })))
            }
            Err(refusal) => Err(m.refuse(model, refusal)),
        }
    }

    /// Put the headers on a metered response.
    fn decorate(&self, response: &mut Response) {
        let Some(outcome) = self.0.as_ref().and_then(|m| m.outcome()) else {
            return;
        };
        let headers = response.headers_mut();
        for (measure, gauge) in [
            ("requests", outcome.report.requests),
            ("tokens", outcome.report.tokens),
        ] {
            let Some(g) = gauge else { continue };
            for (name, value) in [
                ("limit", g.limit.to_string()),
                ("remaining", g.remaining.to_string()),
                ("reset", openai_duration(g.reset)),
            ] {
                if let (Ok(n), Ok(v)) = (
                    axum::http::HeaderName::try_from(format!("x-ratelimit-{name}-{measure}")),
                    HeaderValue::from_str(&value),
                ) {
                    headers.insert(n, v);
                }
            }
        }
        if outcome.hopeless {
            headers.remove(header::RETRY_AFTER);
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if let Some(wait) = outcome.retry_after {
            // Whole seconds, rounded up: never tell a client to come back early.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
    }
}

impl Meter {
    fn set(&self, outcome: Outcome) {
        if let Ok(mut o) = self.outcome.lock() {
            *o = Some(outcome);
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().ok().and_then(|o| *o)
    }

    /// OpenAI's 429 (or a 503 when the store is down and the policy says refuse).
    fn refuse(&self, model: &str, refusal: Refusal) -> HttpError {
        let kind = |m: Measure| match m {
            Measure::Requests => ErrorKind::RequestsLimit,
            Measure::Tokens => ErrorKind::TokensLimit,
        };
        match refusal {
            Refusal::Limited {
                bucket,
                used,
                requested,
                retry_after,
                report,
            } => {
                self.set(Outcome {
                    report,
                    retry_after: Some(retry_after),
                    hopeless: false,
                });
                let what = format!(
                    "{} per {} ({})",
                    bucket.measure.as_str(),
                    match bucket.window {
                        sovra_limits::Window::Minute => "min",
                        sovra_limits::Window::Day => "day",
                    },
                    bucket.window.abbreviation(bucket.measure)
                );
                HttpError(
                    ApiError::new(
                        kind(bucket.measure),
                        format!(
                            "Rate limit reached for {model} for {} on {what}: Limit {}, Used {used}, Requested {requested}. Please try again in {}. Ask the operator of this Sovra if you need a higher limit.",
                            bucket.scope,
                            bucket.limit,
                            openai_duration(retry_after),
                        ),
                    )
                    .with_code("rate_limit_exceeded"),
                )
            }
            Refusal::TooLarge { bucket, requested } => {
                self.set(Outcome {
                    report: Report::default(),
                    retry_after: None,
                    hopeless: true,
                });
                HttpError(
                ApiError::new(
                    kind(bucket.measure),
                    format!(
                        "Request too large for {model} for {} on {} per {} ({}): Limit {}, Requested {requested}. The input or output tokens must be reduced in order to run successfully.",
                        bucket.scope,
                        bucket.measure.as_str(),
                        bucket.window.as_str(),
                        bucket.window.abbreviation(bucket.measure),
                        bucket.limit,
                    ),
                )
                .with_code("rate_limit_exceeded"),
                )
            }
            Refusal::Unavailable(_) => HttpError(ApiError::overloaded(
                "The rate-limit store is unavailable, so requests cannot be counted; try again shortly.",
            )),
            Refusal::Crowded => {
                self.set(Outcome {
                    report: Report::default(),
                    retry_after: Some(CROWDED_RETRY),
                    hopeless: false,
                });
                HttpError(ApiError::overloaded(
                    "Too many people without an account are using this service right now. Sign in, or try again in a minute.",
                ))
            }
        }
    }
}

/// The tokens a counted request reserved, until its answer settles them.
#[derive(Default)]
pub struct Ticket(Option<Settle>);

struct Settle {
    limiter: Arc<Limiter>,
    tasks: TaskTracker,
    grant: Grant,
}

impl Settle {
    /// Correct the count to `used` tokens, in the background.
    fn spawn(self, used: u64) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let Settle {
            limiter,
            tasks,
            grant,
        } = self;
        tasks.spawn(async move {
            if let Err(e) = limiter.settle(&grant, used).await {
                tracing::warn!(error = %e, "could not settle a token reservation");
            }
        });
    }
}

impl sovra_assistant::Metered for Ticket {
    fn meter(self: Box<Self>, events: EventStream) -> EventStream {
        Ticket::meter(*self, events)
    }
}

/// The answer pipeline charges a request here, in its admission stage.
impl sovra_assistant::Admission for Quota {
    fn admit<'a>(
        &'a self,
        engine: &'a dyn Engine,
        model: &'a str,
        prompt: &'a Prompt,
        max_tokens: Option<u32>,
        ceiling: u32,
    ) -> futures::future::BoxFuture<'a, Result<Box<dyn sovra_assistant::Metered>, ApiError>> {
        Box::pin(async move {
            Quota::admit(self, engine, model, prompt, max_tokens, ceiling)
                .await
                .map(|t| Box::new(t) as Box<dyn sovra_assistant::Metered>)
                .map_err(|e| e.0)
        })
    }
}

impl Ticket {
    /// Watch the answer: when it finishes, charge what it really used.
    /// Abandoned or failed midway, it keeps its whole reservation.
    pub fn meter(mut self, events: EventStream) -> EventStream {
        let Some(settle) = self.0.take() else {
            return events;
        };
        let mut settle = Some(settle);
        events
            .map(move |item| {
                if let Ok(Event::Finish(f)) = &item
                    && let Some(s) = settle.take()
                {
                    s.spawn(u64::from(f.prompt_tokens) + u64::from(f.completion_tokens));
                }
                item
            })
            .boxed()
    }

    /// The request is done and used `tokens` (embeddings).
    pub fn settle(mut self, tokens: u64) {
        if let Some(s) = self.0.take() {
            s.spawn(tokens);
        }
    }
}

impl Drop for Ticket {
    /// Dropped before the model ran (the request failed first): the tokens
    /// come back; the request itself stays counted.
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.spawn(0);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn charge_is_the_callers() {
        let mut who = Principal::anonymous("alice");
        let c = charge_of(&who, &HeaderMap::new());
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.tenant, "public");
        assert_eq!(c.key, None);
        assert!(c.anonymous, "nobody authenticated the anonymous public");
        // A tenant key by its id.
        who.tenant = sovra_identity::TenantPath::parse("nation/health").unwrap();
        who.credential = Credential::ApiKey {
            id: "key_1".into(),
            scopes: vec![],
            models: None,
        };
        let c = charge_of(&who, &HeaderMap::new());
        assert_eq!(c.key.as_deref(), Some("key_1"));
        assert!(!c.anonymous);
        assert_eq!(c.tenant, "nation/health");
        // An operator key by its fingerprint, never the key.
        who.credential = Credential::Operator;
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-sovra-0123456789abcdef"),
        );
        let id = charge_of(&who, &h).key.unwrap();
        assert_eq!(id.len(), 32);
        assert!(!id.contains("sk-sovra"));
    }

    #[test]
    fn estimates_are_about_four_bytes_a_token() {
        assert_eq!(estimate(&Prompt::Text("12345678".into())), 2);
        assert_eq!(estimate(&Prompt::Text(String::new())), 1);
    }
}
