//! The one API error type.
//!
//! Every failure a client can see is an [`ApiError`]: an HTTP status plus
//! OpenAI's error body (`{"error": {"message", "type", "param", "code"}}`).
//! Lower layers map their own errors into it once; no handler builds error
//! JSON by hand.

use serde::Serialize;
use utoipa::ToSchema;

/// The class of an API error, which fixes its HTTP status and `type` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400: the request is malformed or asks for something impossible.
    InvalidRequest,
    /// 401: no or bad credentials.
    Authentication,
    /// 403: the caller is known but may not do this (e.g. write a public collection).
    PermissionDenied,
    /// 404: the named model, conversation or route does not exist.
    NotFound,
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 429: a rate limit was hit.
    RateLimited,
    /// 429: a quota of requests is spent (OpenAI's `type: "requests"`).
    RequestsLimit,
    /// 429: a quota of tokens is spent (OpenAI's `type: "tokens"`).
    TokensLimit,
    /// 503: no capacity right now (queue full, model still loading, shutting down).
    Overloaded,
    /// 500: a bug or an unexpected failure inside Sovra.
    Internal,
}

impl ErrorKind {
    /// The HTTP status code for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited | ErrorKind::RequestsLimit | ErrorKind::TokensLimit => 429,
            ErrorKind::Overloaded => 503,
            ErrorKind::Internal => 500,
        }
    }

    /// OpenAI's `error.type` string for this kind.
    pub fn type_name(self) -> &'static str {
        match self {
            // OpenAI answers a bad or missing key with `invalid_request_error`.
            ErrorKind::InvalidRequest
            | ErrorKind::Authentication
            | ErrorKind::PermissionDenied
            | ErrorKind::NotFound
            | ErrorKind::PayloadTooLarge => "invalid_request_error",
            ErrorKind::RateLimited => "rate_limit_error",
            // What OpenAI sends with `code: rate_limit_exceeded`.
            ErrorKind::RequestsLimit => "requests",
            ErrorKind::TokensLimit => "tokens",
            ErrorKind::Overloaded | ErrorKind::Internal => "server_error",
        }
    }
}

/// An error as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

/// OpenAI's error envelope: `{"error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope<'a> {
    pub error: ErrorBody<'a>,
}

/// The inside of OpenAI's error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(required = true)]
    pub param: Option<&'a str>,
    #[schema(required = true)]
    pub code: Option<&'a str>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            code: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(message).with_param(param)
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_param("model")
        .with_code("model_not_found")
    }

    pub fn overloaded(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Overloaded, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_owned());
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The body OpenAI would send for this error.
    pub fn envelope(&self) -> ErrorEnvelope<'_> {
        ErrorEnvelope {
            error: ErrorBody {
                message: &self.message,
                kind: self.kind.type_name(),
                param: self.param.as_deref(),
                code: self.code.as_deref(),
            },
        }
    }

    /// The body as a JSON value (for SSE `data:` lines and tests).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self.envelope()).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_openai_shape() {
        let e = ApiError::model_not_found("gpt-x");
        let v = e.to_json();
        assert_eq!(e.status(), 404);
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("gpt-x"))
        );
    }

    #[test]
    fn null_param_and_code_are_present() {
        let v = ApiError::internal("boom").to_json();
        let obj = v["error"].as_object().cloned().unwrap_or_default();
        assert!(obj.contains_key("param") && obj.contains_key("code"));
        assert!(v["error"]["param"].is_null());
    }
}
