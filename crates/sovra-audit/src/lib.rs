//! The audit trail's shape and its integrity rule, without storage.
//!
//! Every [`AuditEntry`] commits to the previous entry's hash, so removing,
//! reordering or editing any entry breaks the chain at that point and
//! [`verify`] names the first bad one. Storage lives with the data it audits
//! (`sovra-store` keeps the entries in the same database, appended in the same
//! transaction as the change they record); this crate only says how an entry
//! is hashed and checked. Entries never carry the content they are about:
//! an erasure records who was erased and how much, not what they wrote.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What the caller records; the store adds sequence, time and hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// Who did it: `cli:<os user>`, `user:<id>`, `system:retention`...
    pub actor: String,
    /// What happened, as a stable dotted name: `data.erase`, `key.shred`...
    pub action: String,
    /// The tenant it concerns.
    pub tenant: String,
    /// The data subject it concerns, if one.
    pub subject: Option<String>,
    /// Counts and ids, never content.
    pub details: serde_json::Value,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix milliseconds.
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub tenant: String,
    pub subject: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash an entry with these fields must carry.
pub fn entry_hash(prev_hash: &str, seq: i64, at_ms: i64, entry: &NewAuditEntry) -> String {
    // A canonical JSON array: field order is fixed, so the hash is too.
    let canonical = serde_json::json!([
        prev_hash,
        seq,
        at_ms,
        entry.actor,
        entry.action,
        entry.tenant,
        entry.subject,
        entry.details,
    ]);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl AuditEntry {
    /// Seal `entry` as the one after (`prev_seq`, `prev_hash`).
    pub fn seal(prev_seq: i64, prev_hash: &str, at_ms: i64, entry: NewAuditEntry) -> Self {
        let seq = prev_seq + 1;
        let hash = entry_hash(prev_hash, seq, at_ms, &entry);
        Self {
            seq,
            at_ms,
            actor: entry.actor,
            action: entry.action,
            tenant: entry.tenant,
            subject: entry.subject,
            details: entry.details,
            prev_hash: prev_hash.to_owned(),
            hash,
        }
    }

    fn recomputed(&self) -> String {
        let fields = NewAuditEntry {
            actor: self.actor.clone(),
            action: self.action.clone(),
            tenant: self.tenant.clone(),
            subject: self.subject.clone(),
            details: self.details.clone(),
        };
        entry_hash(&self.prev_hash, self.seq, self.at_ms, &fields)
    }
}

/// Why a chain does not verify, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq}: its hash does not match its contents (edited)")]
    Tampered { seq: i64 },
    #[error(
        "audit entry {seq}: it does not follow entry {prev_seq} (removed or reordered entries)"
    )]
    Broken { seq: i64, prev_seq: i64 },
}

/// Check a chain given in sequence order. The first entry's `prev_hash` is
/// trusted (it is [`GENESIS`] unless retention purged older entries).
pub fn verify(entries: &[AuditEntry]) -> Result<usize, ChainError> {
    let mut prev: Option<&AuditEntry> = None;
    for e in entries {
        if let Some(p) = prev
            && (e.prev_hash != p.hash || e.seq != p.seq + 1)
        {
            return Err(ChainError::Broken {
                seq: e.seq,
                prev_seq: p.seq,
            });
        }
        if e.recomputed() != e.hash {
            return Err(ChainError::Tampered { seq: e.seq });
        }
        prev = Some(e);
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, hash) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS.to_owned()));
            out.push(AuditEntry::seal(
                seq,
                &hash,
                1000 + i,
                NewAuditEntry {
                    actor: "cli:root".into(),
                    action: "data.erase".into(),
                    tenant: "public".into(),
                    subject: Some(format!("u{i}")),
                    details: serde_json::json!({"messages": i}),
                },
            ));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn an_edit_names_the_edited_entry() {
        let mut c = chain(5);
        c[2].details = serde_json::json!({"messages": 99});
        assert_eq!(verify(&c), Err(ChainError::Tampered { seq: 3 }));
    }

    #[test]
    fn a_removal_names_the_entry_after_the_gap() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(
            verify(&c),
            Err(ChainError::Broken {
                seq: 3,
                prev_seq: 1
            })
        );
    }

    #[test]
    fn a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link() {
        let mut c = chain(4);
        c[1].subject = Some("someone else".into());
        c[1].hash = c[1].recomputed();
        assert_eq!(
            verify(&c),
            Err(ChainError::Broken {
                seq: 3,
                prev_seq: 2
            })
        );
    }
}
