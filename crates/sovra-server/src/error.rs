//! Rendering errors: every failure a client sees goes through [`HttpError`].

use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sovra_assistant::AssistantError;
use sovra_core::{ApiError, ErrorKind};
use sovra_embeddings::EmbedError;
use sovra_engine::EngineError;
use sovra_knowledge::Error as KnowledgeError;
use sovra_store::StoreError;

/// An [`ApiError`] on its way out as an HTTP response in OpenAI's shape.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl From<AssistantError> for HttpError {
    fn from(e: AssistantError) -> Self {
        match e {
            AssistantError::Refused(api) => Self(api),
            AssistantError::Engine(e) => e.into(),
            AssistantError::Store(e) => e.into(),
            AssistantError::Knowledge(e) => e.into(),
            AssistantError::Safety(why) => {
                tracing::error!(error = %why, "the safety pipeline failed");
                Self(ApiError::internal(
                    "The safety check failed on this request.",
                ))
            }
            AssistantError::NotKept => Self(ApiError::internal(
                "The answer could not be saved; it was not kept.",
            )),
        }
    }
}

impl From<KnowledgeError> for HttpError {
    fn from(e: KnowledgeError) -> Self {
        Self(knowledge_error(e))
    }
}

impl From<EngineError> for HttpError {
    fn from(e: EngineError) -> Self {
        Self(engine_error(&e))
    }
}

/// How engine failures look to a client.
pub fn engine_error(e: &EngineError) -> ApiError {
    match e {
        EngineError::ContextLength { .. } => ApiError::invalid(e.to_string())
            .with_param("messages")
            .with_code("context_length_exceeded"),
        EngineError::Overloaded(_) | EngineError::Stopped => ApiError::overloaded(e.to_string()),
        EngineError::Invalid(m) => ApiError::invalid(m.clone()),
        EngineError::InvalidParam { param, message } => {
            ApiError::invalid_param(param, format!("Invalid '{param}': {message}"))
        }
        EngineError::Internal(_) => ApiError::internal(e.to_string()),
        EngineError::Unavailable(m) => ApiError::overloaded(m.clone()),
        EngineError::RateLimited(m) => ApiError::new(ErrorKind::RateLimited, m.clone()),
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoConversation(id) => Self(
                ApiError::new(
                    ErrorKind::NotFound,
                    format!("No conversation found with id '{id}'."),
                )
                .with_code("not_found"),
            ),
            StoreError::LegalHold(what) => Self(
                ApiError::invalid(format!(
                    "{what} is under legal hold: its data cannot be erased now."
                ))
                .with_code("legal_hold"),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                Self(ApiError::internal(
                    "The server could not read or write its store.",
                ))
            }
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for HttpError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self(ApiError::invalid(format!(
            "Invalid query string: {}",
            rejection.body_text()
        )))
    }
}

impl From<JsonRejection> for HttpError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let api = match rejection {
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                ErrorKind::PayloadTooLarge,
                "The request body is larger than this server accepts (see limits.max_body_bytes).",
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::invalid(
                "Expected a JSON body with the header 'Content-Type: application/json'.",
            ),
            JsonRejection::JsonSyntaxError(e) => ApiError::invalid(format!(
                "We could not parse the JSON body of your request. ({})",
                e.body_text()
            )),
            JsonRejection::JsonDataError(e) => {
                ApiError::invalid(format!("Invalid request body: {}", e.body_text()))
            }
            other => ApiError::invalid(other.body_text()),
        };
        Self(api)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(self.0.envelope())).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Unknown routes answer like OpenAI does, in JSON.
pub async fn not_found(uri: axum::http::Uri) -> HttpError {
    HttpError(
        ApiError::new(
            ErrorKind::NotFound,
            format!("Unknown request URL: {}.", uri.path()),
        )
        .with_code("unknown_url"),
    )
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let e = ApiError::invalid(format!(
        "Method {method} is not allowed for {}.",
        uri.path()
    ));
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(e.envelope())).into_response()
}

/// How knowledge failures look to a client.
pub fn knowledge_error(e: KnowledgeError) -> ApiError {
    match &e {
        KnowledgeError::NotFound { .. } => {
            ApiError::new(ErrorKind::NotFound, capitalise(&e.to_string())).with_code("not_found")
        }
        KnowledgeError::Forbidden(m) => {
            ApiError::new(ErrorKind::PermissionDenied, capitalise(m)).with_code("permission_denied")
        }
        KnowledgeError::Invalid { what, .. } => {
            ApiError::invalid_param(what, capitalise(&e.to_string()))
        }
        KnowledgeError::TooLarge { .. } => {
            ApiError::new(ErrorKind::PayloadTooLarge, capitalise(&e.to_string()))
                .with_param("file")
                .with_code("file_too_large")
        }
        KnowledgeError::TooManyChunks { .. } => {
            ApiError::invalid_param("file", capitalise(&e.to_string())).with_code("too_many_chunks")
        }
        KnowledgeError::QueryTooLong { .. } => {
            ApiError::invalid_param("query", capitalise(&e.to_string())).with_code("query_too_long")
        }
        KnowledgeError::Extract { .. } | KnowledgeError::UnknownFormat(_) => {
            ApiError::invalid_param("file", capitalise(&e.to_string()))
        }
        KnowledgeError::Embed(inner) => embed_error(inner),
        KnowledgeError::Database(_)
        | KnowledgeError::Io(_)
        | KnowledgeError::Internal(_)
        | KnowledgeError::Seal(_) => {
            tracing::error!(error = %e, "knowledge failure");
            ApiError::internal("The server could not read or write its knowledge base.")
        }
    }
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            f.to_uppercase().chain(c).collect::<String>() + if s.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}

/// How embedder refusals look to a client.
pub fn embed_error(e: &EmbedError) -> ApiError {
    match e {
        EmbedError::TooLong { .. }
        | EmbedError::BadToken { .. }
        | EmbedError::Empty { .. }
        | EmbedError::Nul { .. } => {
            ApiError::invalid_param("input", format!("Invalid 'input': {e}."))
        }
        EmbedError::Busy(_) => ApiError::overloaded(e.to_string()),
        EmbedError::Internal(_) => {
            tracing::error!(error = %e, "embedding failed");
            ApiError::internal("The embedding model failed on this request.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_statuses() {
        let overloaded = HttpError::from(EngineError::Overloaded(8)).into_response();
        assert_eq!(overloaded.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(overloaded.headers()[header::RETRY_AFTER], "1");
        let limited = HttpError(ApiError::new(ErrorKind::RateLimited, "slow down")).into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "1");
        let param = engine_error(&EngineError::InvalidParam {
            param: "logit_bias".into(),
            message: "token id 9 is not in this model's vocabulary.".into(),
        });
        assert_eq!(
            (param.status(), param.param.as_deref()),
            (400, Some("logit_bias"))
        );
        let long = engine_error(&EngineError::ContextLength {
            prompt_tokens: 3000,
            max_tokens: 10,
            context: 2048,
        });
        assert_eq!(
            (long.status(), long.code.as_deref()),
            (400, Some("context_length_exceeded"))
        );
        // Context overflow says what was asked and what is allowed.
        assert!(
            long.message.contains("3000")
                && long.message.contains("10")
                && long.message.contains("2048"),
            "{}",
            long.message
        );
        assert_eq!(
            engine_error(&EngineError::Internal("x".into())).status(),
            500
        );
        assert_eq!(engine_error(&EngineError::Stopped).status(), 503);
        assert_eq!(
            engine_error(&EngineError::Unavailable("no backend".into())).status(),
            503
        );
        let full = HttpError::from(EngineError::RateLimited("tenant over share".into()));
        let full = full.into_response();
        assert_eq!(full.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(full.headers()[header::RETRY_AFTER], "1");
    }
}
