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
    hex::encode(digest)
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

    /// What the caller recorded, without sequence, time and hashes.
    pub fn fields(&self) -> NewAuditEntry {
        NewAuditEntry {
            actor: self.actor.clone(),
            action: self.action.clone(),
            tenant: self.tenant.clone(),
            subject: self.subject.clone(),
            details: self.details.clone(),
        }
    }

    fn recomputed(&self) -> String {
        entry_hash(&self.prev_hash, self.seq, self.at_ms, &self.fields())
    }
}

/// A point of the chain known from elsewhere: the database's head record,
/// or the newest entry of an exported archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

/// Why a chain does not verify, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq}: its hash does not match its contents (edited)")]
    Tampered { seq: i64 },
    #[error(
        "audit entry {seq}: it does not follow entry {prev_seq} (removed, inserted or reordered entries)"
    )]
    Broken { seq: i64, prev_seq: i64 },
    #[error(
        "audit entry {head_seq}: the head records it as the newest, but the newest entry is {last_seq} (entries removed from, or added to, the end)"
    )]
    HeadMismatch { head_seq: i64, last_seq: i64 },
    #[error(
        "audit entry {seq}: it differs from the archived copy (rewritten after it was archived)"
    )]
    ArchiveMismatch { seq: i64 },
    #[error(
        "audit entry {seq}: it is in the archive but not in the database (removed after it was archived)"
    )]
    Missing { seq: i64 },
    #[error(
        "audit entry {seq}: the database's oldest entry does not continue the archive, which ends at {archive_last} (entries in neither)"
    )]
    Gap { seq: i64, archive_last: i64 },
}

impl ChainError {
    /// The sequence number of the entry the error names.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Tampered { seq }
            | Self::Broken { seq, .. }
            | Self::ArchiveMismatch { seq }
            | Self::Missing { seq }
            | Self::Gap { seq, .. } => *seq,
            Self::HeadMismatch { head_seq, .. } => *head_seq,
        }
    }

    /// A stable short name for the failure, for scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Tampered { .. } => "edited",
            Self::Broken { .. } => "broken_link",
            Self::HeadMismatch { .. } => "head_mismatch",
            Self::ArchiveMismatch { .. } => "archive_mismatch",
            Self::Missing { .. } => "missing",
            Self::Gap { .. } => "gap",
        }
    }
}

/// Checks a chain one entry at a time, in sequence order, so a long trail
/// never has to be held in memory. The first entry's `prev_hash` is trusted
/// (it is [`GENESIS`] unless retention purged older entries).
#[derive(Debug, Default)]
pub struct Verifier {
    last: Option<Anchor>,
    first_seq: Option<i64>,
    count: usize,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Check the next entry against the one before it.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainError> {
        if let Some(p) = &self.last
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
        self.first_seq.get_or_insert(e.seq);
        self.count += 1;
        self.last = Some(Anchor {
            seq: e.seq,
            hash: e.hash.clone(),
        });
        Ok(())
    }

    /// Entries checked so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The oldest entry checked.
    pub fn first_seq(&self) -> Option<i64> {
        self.first_seq
    }

    /// The newest entry checked.
    pub fn last(&self) -> Option<&Anchor> {
        self.last.as_ref()
    }

    /// The chain must end where `head` (the store's record of its newest
    /// entry, written in the same transaction as every append) says: this
    /// catches entries cut from, or appended to, the end, which no link
    /// between entries can show. An empty chain matches a head at 0
    /// ([`GENESIS`]).
    pub fn check_head(&self, head: &Anchor) -> Result<(), ChainError> {
        let (last_seq, last_hash) = match &self.last {
            Some(a) => (a.seq, a.hash.as_str()),
            None => (0, GENESIS),
        };
        if last_seq != head.seq || last_hash != head.hash {
            return Err(ChainError::HeadMismatch {
                head_seq: head.seq,
                last_seq,
            });
        }
        Ok(())
    }
}

/// Check a chain given in sequence order; the count of entries, or the first bad one.
pub fn verify(entries: &[AuditEntry]) -> Result<usize, ChainError> {
    let mut v = Verifier::new();
    for e in entries {
        v.push(e)?;
    }
    Ok(v.count())
}

/// What an exported archive holds, for checking the live chain against it:
/// each archived entry's sequence number and hash (the hash commits to
/// everything else), in order.
#[derive(Debug, Default)]
pub struct Archive {
    hashes: Vec<(i64, String)>,
    verifier: Verifier,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add the archive's next entry; the archive must itself be a chain.
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainError> {
        self.verifier.push(e)?;
        self.hashes.push((e.seq, e.hash.clone()));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The newest archived entry.
    pub fn last(&self) -> Option<&Anchor> {
        self.verifier.last()
    }

    fn hash_of(&self, seq: i64) -> Option<&str> {
        let first = self.hashes.first()?.0;
        let i = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.hashes.get(i).map(|(_, h)| h.as_str())
    }

    /// Check one live entry (in order) against the archive: an archived
    /// entry must be unchanged, and the oldest live entry must continue the
    /// archive (retention may have purged older ones).
    pub fn check_live(&self, e: &AuditEntry, is_first: bool) -> Result<(), ChainError> {
        let Some(last) = self.last() else {
            return Ok(());
        };
        if let Some(h) = self.hash_of(e.seq) {
            if h != e.hash {
                return Err(ChainError::ArchiveMismatch { seq: e.seq });
            }
        } else if is_first && e.seq > last.seq + 1 {
            return Err(ChainError::Gap {
                seq: e.seq,
                archive_last: last.seq,
            });
        } else if is_first && e.seq == last.seq + 1 && e.prev_hash != last.hash {
            return Err(ChainError::ArchiveMismatch { seq: e.seq });
        }
        Ok(())
    }

    /// After the live chain: nothing archived may be missing from its end.
    pub fn check_end(&self, live_last: Option<&Anchor>) -> Result<(), ChainError> {
        let Some(last) = self.last() else {
            return Ok(());
        };
        let live_seq = live_last.map(|a| a.seq).unwrap_or(0);
        if live_seq < last.seq {
            return Err(ChainError::Missing {
                seq: live_seq.max(self.hashes.first().map(|h| h.0 - 1).unwrap_or(0)) + 1,
            });
        }
        Ok(())
    }
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

    fn head_of(c: &[AuditEntry]) -> Anchor {
        c.last()
            .map(|e| Anchor {
                seq: e.seq,
                hash: e.hash.clone(),
            })
            .unwrap_or(Anchor {
                seq: 0,
                hash: GENESIS.into(),
            })
    }

    fn verified(c: &[AuditEntry]) -> Verifier {
        let mut v = Verifier::new();
        for e in c {
            v.push(e).unwrap();
        }
        v
    }

    #[test]
    fn the_head_catches_a_cut_tail_and_a_forged_append() {
        let c = chain(5);
        let head = head_of(&c);
        assert_eq!(verified(&c).check_head(&head), Ok(()));
        // The last two entries deleted: the links that remain are fine.
        assert_eq!(
            verified(&c[..3]).check_head(&head),
            Err(ChainError::HeadMismatch {
                head_seq: 5,
                last_seq: 3
            })
        );
        // Everything deleted.
        assert_eq!(
            verified(&[]).check_head(&head),
            Err(ChainError::HeadMismatch {
                head_seq: 5,
                last_seq: 0
            })
        );
        // A well-formed entry appended without moving the head.
        let mut longer = c.clone();
        let next = AuditEntry::seal(5, &c[4].hash, 2000, c[0].fields());
        longer.push(next);
        assert_eq!(
            verified(&longer).check_head(&head),
            Err(ChainError::HeadMismatch {
                head_seq: 5,
                last_seq: 6
            })
        );
        assert_eq!(verified(&[]).check_head(&head_of(&[])), Ok(()));
    }

    fn archive_of(c: &[AuditEntry]) -> Archive {
        let mut a = Archive::new();
        for e in c {
            a.push(e).unwrap();
        }
        a
    }

    fn check_against(a: &Archive, live: &[AuditEntry]) -> Result<(), ChainError> {
        let mut v = Verifier::new();
        for (i, e) in live.iter().enumerate() {
            v.push(e)?;
            a.check_live(e, i == 0)?;
        }
        a.check_end(v.last())
    }

    #[test]
    fn an_archive_catches_what_the_database_alone_cannot() {
        let c = chain(6);
        let a = archive_of(&c[..4]);
        assert_eq!(a.len(), 4);
        // Intact, grown since, or purged (a prefix) by retention: fine.
        assert_eq!(check_against(&a, &c), Ok(()));
        assert_eq!(check_against(&a, &c[2..]), Ok(()));
        assert_eq!(check_against(&a, &c[4..]), Ok(()));
        // Cut back behind the archive (with the head moved too).
        assert_eq!(
            check_against(&a, &c[..2]),
            Err(ChainError::Missing { seq: 3 })
        );
        assert_eq!(check_against(&a, &[]), Err(ChainError::Missing { seq: 1 }));
        // The whole chain rewritten from entry 2 with fresh, valid hashes.
        let mut rewritten: Vec<AuditEntry> = c[..1].to_vec();
        for e in &c[1..] {
            let mut f = e.fields();
            f.subject = Some("forged".into());
            let p = rewritten.last().unwrap();
            rewritten.push(AuditEntry::seal(p.seq, &p.hash.clone(), e.at_ms, f));
        }
        assert_eq!(verify(&rewritten), Ok(6));
        assert_eq!(
            check_against(&a, &rewritten),
            Err(ChainError::ArchiveMismatch { seq: 2 })
        );
        // Purged past the archive's end: the entries between are in neither.
        assert_eq!(
            check_against(&archive_of(&c[..2]), &c[3..]),
            Err(ChainError::Gap {
                seq: 4,
                archive_last: 2
            })
        );
        // An archive that is not itself a chain is refused.
        let mut bad = Archive::new();
        bad.push(&c[0]).unwrap();
        assert_eq!(
            bad.push(&c[2]),
            Err(ChainError::Broken {
                seq: 3,
                prev_seq: 1
            })
        );
    }

    #[test]
    fn a_swap_of_two_entries_is_named() {
        let mut c = chain(5);
        c.swap(1, 2);
        let (a, b) = (c[1].seq, c[2].seq);
        c[1].seq = b;
        c[2].seq = a;
        assert_eq!(
            verify(&c),
            Err(ChainError::Broken {
                seq: 2,
                prev_seq: 1
            })
        );
    }
}
