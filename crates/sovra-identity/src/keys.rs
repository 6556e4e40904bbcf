//! API key secrets and session tokens: made, parsed, hashed, shown.
//!
//! A key is `sk-sovra-` followed by 43 base64url characters: 256 random
//! bits from a CSPRNG the OS seeds. It is shown once, when made; the store keeps only its
//! SHA-256 (a 256-bit random secret needs no slow hash: nobody can guess
//! one, so there is nothing to stretch) and its first characters for
//! display. Lookups go by the hash, so a presented key is never compared
//! byte by byte with a stored secret. Session tokens are the same 256-bit
//! randomness without the prefix, carried in a cookie.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

/// What every Sovra API key starts with.
pub const KEY_PREFIX: &str = "sk-sovra-";
/// Characters of the random part (32 bytes, base64url without padding).
const SECRET_CHARS: usize = 43;
/// Characters of a key kept for display: the prefix and 6 of the secret.
const SHOWN_CHARS: usize = KEY_PREFIX.len() + 6;

/// Why a presented key or token was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("not a Sovra API key (they start with `{KEY_PREFIX}`)")]
    NotSovra,
    #[error("malformed key or token")]
    Malformed,
}

fn random_32() -> [u8; 32] {
    // The thread's CSPRNG (ChaCha12, seeded from and reseeded by the OS).
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn hex_sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn is_b64url(s: &str) -> bool {
    s.len() == SECRET_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && URL_SAFE_NO_PAD
            .decode(s)
            .map(|b| b.len() == 32)
            .unwrap_or(false)
}

/// A full API key secret. Its `Debug` shows only the displayed prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A new random key.
    pub fn generate() -> Self {
        Self(format!(
            "{KEY_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(random_32())
        ))
    }

    /// Check the shape of a presented key (no lookup).
    pub fn parse(s: &str) -> Result<Self, KeyParseError> {
        let rest = s.strip_prefix(KEY_PREFIX).ok_or(KeyParseError::NotSovra)?;
        if is_b64url(rest) {
            Ok(Self(s.to_owned()))
        } else {
            Err(KeyParseError::Malformed)
        }
    }

    /// The whole secret: show it once, to its owner, and never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks keys up by.
    pub fn hash(&self) -> String {
        hex_sha256(&self.0)
    }

    /// What lists show: `sk-sovra-AbC123…`.
    pub fn shown(&self) -> String {
        format!("{}…", &self.0[..SHOWN_CHARS])
    }
}

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({})", self.shown())
    }
}

/// A session (or CSRF) token. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_32()))
    }

    pub fn parse(s: &str) -> Result<Self, KeyParseError> {
        if is_b64url(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(KeyParseError::Malformed)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hex_sha256(&self.0)
    }

    /// Whether `presented` is this token, in time independent of where they differ.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(presented.as_bytes());
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = ApiKeySecret::generate();
        let b = ApiKeySecret::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), KEY_PREFIX.len() + SECRET_CHARS);
        assert_eq!(ApiKeySecret::parse(a.expose()).unwrap(), a);
        assert_eq!(a.hash().len(), 64);
        assert!(a.shown().ends_with('…'));
        assert!(!format!("{a:?}").contains(&a.expose()[KEY_PREFIX.len() + 6..]));
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = ApiKeySecret::generate();
        let g = good.expose();
        assert_eq!(ApiKeySecret::parse("sk-abc"), Err(KeyParseError::NotSovra));
        for bad in [
            &g[..g.len() - 1],
            &format!("{g}A"),
            &format!("{KEY_PREFIX}{}", "!".repeat(SECRET_CHARS)),
            KEY_PREFIX,
        ] {
            assert_eq!(
                ApiKeySecret::parse(bad),
                Err(KeyParseError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn session_tokens_match_exactly() {
        let t = SessionToken::generate();
        assert!(t.matches(t.expose()));
        assert!(!t.matches(&t.expose()[1..]));
        assert!(SessionToken::parse(t.expose()).is_ok());
        assert!(SessionToken::parse("short").is_err());
        assert_eq!(format!("{t:?}"), "SessionToken(…)");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = ApiKeySecret::parse(&s);
            let _ = SessionToken::parse(&s);
        }
    }
}
