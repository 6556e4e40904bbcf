//! Uploaded files sealed at rest with their owner's key.
//!
//! The knowledge base holds no keys: a [`FileSealer`], given by whoever
//! opens it (the server, over the store's envelope keys: master → tenant →
//! subject), seals a file's bytes for its owner before they are written and
//! opens them when they are read. Erasing the owner deletes their key, so
//! whatever is left of their files (a backup, free pages) is unreadable.
//!
//! A sealed row is [`MAGIC`] followed by what the sealer returned; a row
//! without it was written before sealing (or with no sealer) and is read
//! as plaintext. The binding (`aad`) names the tenant, the owner and the
//! file id, so sealed bytes moved to another row or person do not open.

use crate::Error;

/// Why bytes could not be sealed or opened (the sealer's own words: no
/// key for the subject, bytes that do not open, the key store failing).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

/// What starts a sealed file's stored bytes.
pub const MAGIC: &[u8] = b"\0sovra-sealed-file/1\0";

/// Seals and opens bytes for one data subject (tenant, user).
#[async_trait::async_trait]
pub trait FileSealer: Send + Sync {
    /// `plain` sealed with the subject's key (made if they have none),
    /// bound to `aad`.
    async fn seal(
        &self,
        tenant: &str,
        user: &str,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, SealError>;
    /// What [`FileSealer::seal`] sealed for the same subject and `aad`; an
    /// error when it does not open (the subject's key is gone, or the bytes
    /// were moved or altered).
    async fn open(
        &self,
        tenant: &str,
        user: &str,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError>;
}

/// The binding of file `id` of (tenant, user).
pub(crate) fn aad(tenant: &str, user: &str, id: &str) -> Vec<u8> {
    format!("knowledge-file:{}:{tenant}:{user}:{id}", tenant.len()).into_bytes()
}

/// The bytes to store for `plain`: sealed and marked when there is a sealer.
pub(crate) async fn seal(
    sealer: Option<&dyn FileSealer>,
    tenant: &str,
    user: &str,
    id: &str,
    plain: &[u8],
) -> Result<Vec<u8>, Error> {
    let Some(sealer) = sealer else {
        return Ok(plain.to_vec());
    };
    let sealed = sealer
        .seal(tenant, user, &aad(tenant, user, id), plain)
        .await
        .map_err(Error::Seal)?;
    Ok([MAGIC, &sealed].concat())
}

/// The plaintext of stored bytes: opened when marked, as they are when not
/// (rows from before sealing).
pub(crate) async fn open(
    sealer: Option<&dyn FileSealer>,
    tenant: &str,
    user: &str,
    id: &str,
    stored: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let Some(sealed) = stored.strip_prefix(MAGIC) else {
        return Ok(stored);
    };
    let Some(sealer) = sealer else {
        return Err(Error::Seal(SealError(format!(
            "file {id} is sealed and this knowledge base was opened without keys"
        ))));
    };
    sealer
        .open(tenant, user, &aad(tenant, user, id), sealed)
        .await
        .map_err(Error::Seal)
}
