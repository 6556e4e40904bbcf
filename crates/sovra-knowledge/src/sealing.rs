//! Uploaded files and private collections sealed at rest with their
//! owner's key.
//!
//! The knowledge base holds no keys: a [`FileSealer`], given by whoever
//! opens it (the server, over the store's envelope keys: master → tenant →
//! subject), seals a file's bytes, and the text of a private collection's
//! documents and passages, for their owner before they are written and
//! opens them when they are read. Erasing the owner deletes their key, so
//! whatever is left of them (a backup, free pages) is unreadable.
//!
//! A sealed file is [`MAGIC`] followed by what the sealer returned; a
//! sealed text field is [`TEXT_MAGIC`] followed by the same, in base64 (the
//! columns are text). A value without its mark was written before sealing
//! (or with no sealer) and is read as plaintext. The binding (`aad`) names
//! the tenant, the owner and the row (a file id; a collection, document,
//! passage and field), so sealed bytes moved to another row, field or
//! person do not open.

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
    /// [`FileSealer::open`] of many `(aad, sealed)` values of one subject,
    /// in order (a search opens every passage of a private collection:
    /// a sealer over a key store reads the key once).
    async fn open_many(
        &self,
        tenant: &str,
        user: &str,
        items: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Vec<u8>>, SealError> {
        let mut out = Vec::with_capacity(items.len());
        for (aad, sealed) in items {
            out.push(self.open(tenant, user, aad, sealed).await?);
        }
        Ok(out)
    }
}

/// What starts a sealed text field (a private passage's text or heading, a
/// private document's title, source or URL). No NUL (PostgreSQL text holds
/// none); the control character keeps it from the start of any text the
/// extractors and the name checks let through.
pub const TEXT_MAGIC: &str = "\u{1}sovra-sealed-text/1:";

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

/// Where a sealed text field lives: the owner of its private collection,
/// the collection, the row (a document id, or `document#ord` for a
/// passage) and the field's name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field<'a> {
    pub tenant: &'a str,
    pub owner: &'a str,
    pub collection: &'a str,
    pub row: &'a str,
    pub field: &'a str,
}

impl Field<'_> {
    /// The binding: every part length-prefixed, so no two places share one.
    pub(crate) fn aad(&self) -> Vec<u8> {
        let mut out = b"knowledge-text".to_vec();
        for part in [
            self.tenant,
            self.owner,
            self.collection,
            self.row,
            self.field,
        ] {
            out.extend_from_slice(format!(":{}:", part.len()).as_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The row name of passage `ord` of document `document` in a [`Field`].
pub(crate) fn passage_row(document: &str, ord: i64) -> String {
    format!("{document}#{ord}")
}

/// The text to store for `plain` in `at`: sealed and marked when there is a
/// sealer (empty text stays empty: it says nothing).
pub(crate) async fn seal_text(
    sealer: Option<&dyn FileSealer>,
    at: Field<'_>,
    plain: &str,
) -> Result<String, Error> {
    use base64::Engine as _;
    let Some(sealer) = sealer else {
        return Ok(plain.to_owned());
    };
    if plain.is_empty() {
        return Ok(String::new());
    }
    let sealed = sealer
        .seal(at.tenant, at.owner, &at.aad(), plain.as_bytes())
        .await
        .map_err(Error::Seal)?;
    Ok(format!(
        "{TEXT_MAGIC}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
    ))
}

/// The plaintexts of stored text fields of one owner (`tenant`, `owner`),
/// each with its binding (`aad`), in order: the sealed ones opened in one
/// call to the sealer, the others as they are.
pub(crate) async fn open_texts(
    sealer: Option<&dyn FileSealer>,
    tenant: &str,
    owner: &str,
    fields: Vec<(Vec<u8>, String)>,
) -> Result<Vec<String>, Error> {
    use base64::Engine as _;
    let mut out = Vec::with_capacity(fields.len());
    let mut sealed = Vec::new();
    let mut at = Vec::new();
    for (i, (aad, stored)) in fields.into_iter().enumerate() {
        match stored.strip_prefix(TEXT_MAGIC) {
            Some(encoded) => {
                let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
                    .decode(encoded)
                    .map_err(|e| Error::Seal(SealError(format!("a sealed field: {e}"))))?;
                sealed.push((aad, bytes));
                at.push(i);
                out.push(String::new());
            }
            None => out.push(stored),
        }
    }
    if sealed.is_empty() {
        return Ok(out);
    }
    let Some(sealer) = sealer else {
        return Err(Error::Seal(SealError(
            "a private collection's text is sealed and this knowledge base was opened without keys"
                .into(),
        )));
    };
    let opened = sealer
        .open_many(tenant, owner, &sealed)
        .await
        .map_err(Error::Seal)?;
    if opened.len() != at.len() {
        return Err(Error::Seal(SealError(
            "the sealer opened a different number of values than asked".into(),
        )));
    }
    for (i, plain) in at.into_iter().zip(opened) {
        out[i] = String::from_utf8(plain)
            .map_err(|_| Error::Seal(SealError("a sealed field is not UTF-8".into())))?;
    }
    Ok(out)
}
