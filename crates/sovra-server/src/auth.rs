//! The operator's static API keys (`auth.api_keys`).
//!
//! A request carrying one as `Authorization: Bearer KEY` acts as a platform
//! admin (`Credential::Operator`); setting any closes the platform (no open
//! mode). Whether a route needs a key, and which, is decided in one place,
//! [`crate::identity`], for every route alike: a wrong key gets OpenAI's
//! `401` (`code: invalid_api_key`), which the SDKs raise as
//! `AuthenticationError`. Keys are held only as SHA-256 digests and compared
//! digest to digest in constant time (`subtle`), against every key without
//! early exit, so neither memory nor timing gives a key away; no key, nor
//! any part of a presented one beyond OpenAI's 4-character hint, is logged.
//! Per-tenant keys with scopes and expiry are the directory's.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The accepted keys, as digests.
#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    digests: Arc<[[u8; 32]]>,
    /// Per key, what the console may show: a 4-character prefix and the
    /// first 8 hex digits of the digest.
    shown: Arc<[(String, String)]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    pub fn new(keys: &[String]) -> Self {
        let shown = keys
            .iter()
            .map(|k| {
                let prefix: String = k.chars().take(4).collect();
                let fingerprint = hex::encode(&digest(k)[..4]);
                (format!("{prefix}…"), fingerprint)
            })
            .collect();
        Self {
            digests: keys.iter().map(|k| digest(k)).collect(),
            shown,
        }
    }

    /// Each key's prefix and fingerprint, for the operator console.
    pub fn shown(&self) -> &[(String, String)] {
        &self.shown
    }

    /// No operator keys configured.
    pub fn is_open(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys; the time taken does not
    /// depend on which key matched or how much of it did.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        let found = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, k| found | k.ct_eq(&d));
        found.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_exactly() {
        let keys = ApiKeys::new(&[
            "sk-sovra-0123456789abcdef".into(),
            "another-key-0123456789".into(),
        ]);
        assert!(!keys.is_open());
        assert!(keys.accepts("sk-sovra-0123456789abcdef"));
        assert!(keys.accepts("another-key-0123456789"));
        assert!(!keys.accepts("sk-sovra-0123456789abcde"));
        assert!(!keys.accepts(""));
        assert!(ApiKeys::new(&[]).is_open());
    }
}
