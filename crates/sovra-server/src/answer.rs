//! What the HTTP surfaces share around the answer pipeline
//! ([`sovra_assistant::Assistant::answer`]): the request headers a client
//! may use (a lower priority class, a session key) and the response headers
//! that name the answer's language.

use axum::http::{HeaderMap, HeaderValue};
use sovra_engine::Priority;
use sovra_guard::LanguageDecision;

/// The header a client may use to lower its own priority class (`batch`,
/// `citizen`); it can never raise it above the one its identity grants.
pub const LOWER_PRIORITY_HEADER: &str = "x-sovra-priority";
/// The header that names a session for prefix-aware routing.
pub const SESSION_HEADER: &str = "x-sovra-session";
/// The header naming the language an answer is in.
pub const LANGUAGE_HEADER: &str = "x-sovra-language";
/// The header saying the user's language is not supported (`true`).
pub const FALLBACK_HEADER: &str = "x-sovra-language-fallback";

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The priority class the client asks for (the pipeline only ever lowers
/// to it) and its session key, from the request's headers.
pub fn asked(headers: &HeaderMap) -> (Option<Priority>, Option<String>) {
    (
        header(headers, LOWER_PRIORITY_HEADER).and_then(Priority::parse),
        header(headers, SESSION_HEADER).map(str::to_owned),
    )
}

/// Adds the language headers to a response.
pub fn language_headers(
    response: &mut axum::response::Response,
    language: Option<&LanguageDecision>,
) {
    let Some(language) = language else { return };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&language.answer_language) {
        headers.insert(LANGUAGE_HEADER, v);
    }
    headers.insert(
        FALLBACK_HEADER,
        HeaderValue::from_static(if language.fallback { "true" } else { "false" }),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_ask_for_a_class_and_a_session() {
        let mut h = HeaderMap::new();
        assert_eq!(asked(&h), (None, None));
        h.insert(LOWER_PRIORITY_HEADER, "Batch".parse().unwrap());
        h.insert(SESSION_HEADER, " conv-9 ".parse().unwrap());
        assert_eq!(asked(&h), (Some(Priority::Batch), Some("conv-9".into())));
        h.insert(LOWER_PRIORITY_HEADER, "nonsense".parse().unwrap());
        assert_eq!(asked(&h).0, None);
    }
}
