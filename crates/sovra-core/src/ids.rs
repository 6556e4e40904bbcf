//! Identifiers and clocks shared across crates.
//!
//! OpenAI clients see ids such as `chatcmpl-…`; Sovra generates them from
//! random UUIDs so they never leak ordering or host information.

use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh id with the given prefix, e.g. `new_id("chatcmpl")`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Seconds since the Unix epoch, as OpenAI's `created` fields carry them.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_prefix_and_differ() {
        let a = new_id("chatcmpl");
        let b = new_id("chatcmpl");
        assert!(a.starts_with("chatcmpl-"));
        assert_ne!(a, b);
    }
}
