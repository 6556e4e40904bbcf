//! Local account passwords, hashed with argon2id.
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$...`, OWASP's
//! minimum parameters), so parameters can be raised later and old hashes
//! still verify. Checking a password for a user who does not exist runs the
//! same hash against a fixed dummy, so timing does not tell which user
//! names exist.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted for a local account.
pub const MIN_LENGTH: usize = 12;
/// Longest accepted (argon2 takes any length; this bounds the work a request can ask for).
pub const MAX_LENGTH: usize = 1024;

/// Why a password could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be {MIN_LENGTH}-{MAX_LENGTH} characters")]
    Length,
    #[error("could not hash the password: {0}")]
    Hash(String),
}

fn argon2() -> Argon2<'static> {
    // OWASP: argon2id, 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a new password.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let n = password.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        return Err(PasswordError::Length);
    }
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// A fixed hash to verify against when there is no user, so a miss costs
/// as much as a hit.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c292cmEtZHVtbXktc2FsdA$8K0Nqk1Wm3mHkM3ZJ2KxqI7s4v5b3m2n8kq1b0m8D3U";

/// Whether `password` matches `stored` (a PHC string); with no stored hash,
/// spends the same time and says no.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    if password.chars().count() > MAX_LENGTH {
        return false;
    }
    let phc = stored.unwrap_or(DUMMY);
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let h1 = hash("correct horse battery").unwrap();
        let h2 = hash("correct horse battery").unwrap();
        assert_ne!(h1, h2, "salted");
        assert!(h1.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h1)));
        assert!(!verify("correct horse batterx", Some(&h1)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("anything", Some("not a phc string")));
    }

    #[test]
    fn short_passwords_are_refused() {
        assert_eq!(hash("short"), Err(PasswordError::Length));
    }

    #[test]
    fn the_dummy_parses() {
        assert!(PasswordHash::new(DUMMY).is_ok());
    }
}
