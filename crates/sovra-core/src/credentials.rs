//! Parsing the credentials a client presents, kept free of any server
//! state so it can be fuzzed alone (`fuzz/`): the bearer token of an
//! `Authorization` header. Comparing a token with what is expected is the
//! caller's job (in constant time; see `sovra-server::auth`).

/// Most bytes of a token worth looking at; longer ones are refused unread
/// (every key Sovra issues or accepts is far shorter).
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The token of an `Authorization: Bearer TOKEN` header value: the scheme
/// case-insensitively, one or more spaces, then the token with surrounding
/// whitespace trimmed. None for another scheme, an empty or overlong token,
/// or one with whitespace or control characters inside.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(|c: char| c == ' ' || c == '\t');
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_found_and_odd_ones_refused() {
        assert_eq!(bearer_token("Bearer sk-abc"), Some("sk-abc"));
        assert_eq!(bearer_token("bearer sk-abc"), Some("sk-abc"));
        assert_eq!(bearer_token("BEARER   sk-abc  "), Some("sk-abc"));
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearer a\u{0}b"), None);
        assert_eq!(bearer_token(&format!("Bearer {}", "k".repeat(5000))), None);
        assert_eq!(bearer_token("Bearersk-abc"), None);
    }
}
