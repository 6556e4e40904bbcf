//! The `Authorization` header's bearer token: whatever a client sends, the
//! token found is a non-empty, bounded piece of the header without
//! whitespace or control characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovra_core::credentials::{MAX_TOKEN_BYTES, bearer_token};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(token) = bearer_token(header) {
        assert!(!token.is_empty());
        assert!(token.len() <= MAX_TOKEN_BYTES);
        assert!(!token.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert!(header.contains(token));
    }
});
