//! API keys, session tokens and tenant paths as clients present them:
//! parsing never panics, what parses round-trips exactly, a key's display
//! prefix is a prefix of the key and never the whole secret, and a parsed
//! tenant path only ever reaches its own subtree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovra_identity::{ApiKeySecret, SessionToken, TenantPath};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = ApiKeySecret::parse(s) {
        assert_eq!(key.expose(), s);
        let shown = key.shown();
        let visible = shown.trim_end_matches('…');
        assert!(s.starts_with(visible));
        assert!(visible.len() < s.len());
        assert_eq!(key.hash().len(), 64);
    }
    if let Ok(token) = SessionToken::parse(s) {
        assert_eq!(token.expose(), s);
        assert!(token.matches(s));
    }
    if let Ok(path) = TenantPath::parse(s) {
        assert_eq!(path.as_str(), s);
        for ancestor in path.self_and_ancestors() {
            assert!(path.is_within(&ancestor));
        }
    }
});
