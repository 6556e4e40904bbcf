//! Persistence behind one trait.
//!
//! [`Store`] is everything Sovra keeps: conversations and their messages,
//! the keys that seal them, legal holds and the audit trail. Two backends
//! implement it from one body of SQL (see `sql.rs`): [`SqliteStore`], the
//! embedded default (one WAL file in the data dir, `synchronous=FULL`), and
//! [`PostgresStore`] for several replicas and large deployments. Each has its
//! own migrations, embedded in the binary and run at open. `conformance`
//! (compiled for tests only) is one suite, written against the trait, that
//! both backends run.
//!
//! Everything a citizen wrote (titles, message text) is sealed with that
//! person's key before it reaches the database (see [`crypto`]); ids,
//! owners, timestamps and token counts stay in the clear so the store can be
//! operated, queried and purged without keys.

#[cfg(test)]
mod conformance;
pub mod crypto;
mod directory;
mod postgres;
pub mod private;
pub mod retention;
mod safety;
mod sql;
mod sqlite;
mod subject;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub use crypto::{Key, Keyring, MasterKeySource, load_keyring};
pub use postgres::{PostgresStore, restore_postgres, testdb};
pub use safety::{
    Feedback, FeedbackCounts, NewFeedback, Rating, SafetyEvent, SafetyRecord, Stage,
    TransparencyCounts,
};
use serde::Serialize;
pub use sovra_audit::{AuditEntry, NewAuditEntry};
use sovra_core::openai::Role;
pub use sovra_identity::Directory;
pub use sqlite::SqliteStore;
pub use subject::Subject;
use time::OffsetDateTime;

/// What a store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("conversation {0} does not exist")]
    NoConversation(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("key error: {0}")]
    Key(String),
    #[error("{0} is under legal hold")]
    LegalHold(String),
    #[error("invalid {what}: {problem}")]
    Invalid { what: &'static str, problem: String },
    #[error("unsupported storage url `{0}` (use sqlite://PATH or postgres://...)")]
    Url(String),
    #[error("backup failed: {0}")]
    Backup(String),
    #[error("could not create {path} owner-only: {source}")]
    Private {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// An I/O failure making `path` private ([`private`]).
    pub(crate) fn private(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| StoreError::Private {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The time the store stamps rows with and purges against; tests turn it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
    }
}

/// A clock that only moves when told (retention tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Self {
        Self(AtomicI64::new(ms))
    }
    pub fn advance_days(&self, days: i64) {
        self.0.fetch_add(days * 86_400_000, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A conversation's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: String,
    pub title: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Whose conversation this is (not part of the API's JSON).
    #[serde(skip)]
    pub owner: Subject,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredMessage {
    pub id: String,
    pub role: Role,
    pub content: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<MessageUsage>,
    /// The sources a grounded answer cited (`[{index, document_id, title,
    /// url, effective_date, snippet}]`), absent when it was not grounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub citations: Option<serde_json::Value>,
}

/// Token accounting of an assistant message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MessageUsage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub finish_reason: String,
}

/// A message to append.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub role: Role,
    pub content: &'a str,
    pub usage: Option<MessageUsage>,
}

/// A conversation with its messages (exports).
#[derive(Debug, Clone, Serialize)]
pub struct ConversationExport {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<StoredMessage>,
}

/// Everything held about one data subject, machine-readable.
#[derive(Debug, Clone, Serialize)]
pub struct SubjectExport {
    pub format: &'static str,
    pub tenant: String,
    pub user: String,
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub conversations: Vec<ConversationExport>,
    pub legal_holds: Vec<LegalHold>,
    /// Audit entries about this subject (they carry no content).
    pub audit: Vec<AuditEntry>,
    /// The subject's ratings of answers.
    pub feedback: Vec<Feedback>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasureReport {
    pub conversations: u64,
    pub messages: u64,
    pub keys: u64,
    /// The audit entry that records the erasure.
    pub audit_seq: i64,
}

/// A legal hold: while it stands, retention skips the subject (or the whole
/// tenant when `user` is None) and erasure is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegalHold {
    pub tenant: String,
    pub user: Option<String>,
    pub reason: String,
    pub created_at_ms: i64,
}

/// How long each kind of data is kept, in days (None = forever).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KindRetention {
    pub conversations_days: Option<u32>,
    pub audit_days: Option<u32>,
}

/// Retention rules: a default and per-tenant overrides (field by field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RetentionRules {
    pub default: KindRetention,
    pub tenants: BTreeMap<String, KindRetention>,
}

impl RetentionRules {
    /// The conversation retention of `tenant`.
    pub fn conversations_days(&self, tenant: &str) -> Option<u32> {
        self.tenants
            .get(tenant)
            .and_then(|t| t.conversations_days)
            .or(self.default.conversations_days)
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    pub conversations: u64,
    pub messages: u64,
    pub audit_entries: u64,
}

/// Everything Sovra persists. Every store is also the [`Directory`] of
/// tenants, users, keys and sessions: `Arc<dyn Store>` upcasts to
/// `Arc<dyn Directory>` (see [`directory_of`]).
#[async_trait::async_trait]
pub trait Store: Directory + Send + Sync + 'static {
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    async fn create_conversation(
        &self,
        owner: &Subject,
        title: &str,
    ) -> Result<Conversation, StoreError>;
    /// The owner's conversations, newest-updated first.
    async fn list_conversations(
        &self,
        owner: &Subject,
        limit: u32,
    ) -> Result<Vec<Conversation>, StoreError>;
    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;
    async fn rename_conversation(&self, id: &str, title: &str) -> Result<bool, StoreError>;
    /// Deletes the conversation and its messages; false if it did not exist.
    async fn delete_conversation(&self, id: &str) -> Result<bool, StoreError>;
    /// Deletes message `from` of the conversation and every message appended
    /// after it (regenerate and edit in the web chat); returns how many went,
    /// 0 when the conversation has no such message.
    async fn truncate_messages(&self, conversation_id: &str, from: &str)
    -> Result<u64, StoreError>;
    /// Messages in the order they were appended.
    async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError>;
    /// Appends and bumps the conversation's `updated_at`, atomically; returns
    /// once the message is durable.
    async fn append_message(
        &self,
        conversation_id: &str,
        message: NewMessage<'_>,
    ) -> Result<StoredMessage, StoreError> {
        self.append_message_cited(conversation_id, message, None)
            .await
    }
    /// [`Store::append_message`] with the sources a grounded answer cited,
    /// sealed with the message (they say what the person asked about).
    async fn append_message_cited(
        &self,
        conversation_id: &str,
        message: NewMessage<'_>,
        citations: Option<&serde_json::Value>,
    ) -> Result<StoredMessage, StoreError>;

    /// Everything held about `subject`.
    async fn export_subject(&self, subject: &Subject) -> Result<SubjectExport, StoreError>;
    /// Remove everything held about `subject` and its key, and record the
    /// erasure (counts, no content) in the audit trail, in one transaction.
    async fn erase_subject(
        &self,
        subject: &Subject,
        actor: &str,
    ) -> Result<ErasureReport, StoreError>;
    /// Crypto-shred a tenant: delete its keys and rows; an audit entry records it.
    async fn shred_tenant(&self, tenant: &str, actor: &str) -> Result<ErasureReport, StoreError>;
    /// Give `tenant` a new key and rewrap its subject keys with it; returns the new version.
    async fn rotate_tenant_key(&self, tenant: &str, actor: &str) -> Result<i64, StoreError>;

    async fn set_legal_hold(&self, hold: &LegalHold, actor: &str) -> Result<(), StoreError>;
    /// Lift a hold; false if there was none.
    async fn release_legal_hold(
        &self,
        tenant: &str,
        user: Option<&str>,
        actor: &str,
    ) -> Result<bool, StoreError>;
    async fn legal_holds(&self) -> Result<Vec<LegalHold>, StoreError>;
    /// Delete what `rules` say has expired, except what a legal hold covers.
    async fn purge_expired(&self, rules: &RetentionRules) -> Result<PurgeReport, StoreError>;

    /// Append to the audit trail.
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// The audit trail in order, from `after_seq` (exclusive), at most `limit` entries.
    async fn audit_entries(
        &self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// The store's record of the newest audit entry, updated in the same
    /// transaction as every append (seq 0 and [`sovra_audit::GENESIS`] before the first).
    async fn audit_head(&self) -> Result<sovra_audit::Anchor, StoreError>;

    /// A consistent copy of the whole store at `dest`, taken while serving.
    async fn backup(&self, dest: &Path) -> Result<(), StoreError>;

    /// Record `rater`'s rating of an assistant message in one of their own
    /// conversations (replacing an earlier rating of it); `None` when there
    /// is no such message for them.
    async fn add_feedback(
        &self,
        rater: &Subject,
        feedback: NewFeedback<'_>,
    ) -> Result<Option<Feedback>, StoreError>;
    /// The newest ratings first, at most `limit` (the operator's queue).
    /// The newest ratings of answers given in `reach` (a tenant's subtree;
    /// None: every tenant, for the platform's administrators).
    async fn recent_feedback(
        &self,
        reach: Option<&sovra_identity::TenantPath>,
        limit: u32,
    ) -> Result<Vec<Feedback>, StoreError>;
    /// Record an action of the safety pipeline.
    async fn record_safety_event(&self, event: &SafetyEvent) -> Result<(), StoreError>;
    /// The newest safety actions first, at most `limit`.
    /// The newest safety actions on requests of `reach` (a tenant's
    /// subtree; None: every tenant, and actions recorded with no tenant).
    async fn recent_safety_events(
        &self,
        reach: Option<&sovra_identity::TenantPath>,
        limit: u32,
    ) -> Result<Vec<SafetyRecord>, StoreError>;
    /// Add request counts for `day` (`YYYY-MM-DD`) by answer language.
    async fn add_request_counts(
        &self,
        day: &str,
        counts: &[(String, u64)],
    ) -> Result<(), StoreError>;
    /// Everything the transparency report counts.
    async fn transparency(&self) -> Result<TransparencyCounts, StoreError>;

    /// Seal `plain` with `subject`'s key (made if they have none yet), bound
    /// to `aad`: for what other parts keep about a person outside this
    /// store (uploaded files), so that erasing the subject, which deletes
    /// the key, or shredding their tenant leaves it unreadable everywhere.
    /// The value is bound to `aad` in a domain of its own, never mistaken
    /// for one of this store's rows.
    async fn seal_for(
        &self,
        subject: &Subject,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, StoreError>;
    /// Open what [`Store::seal_for`] sealed for `subject` with the same
    /// `aad`; [`StoreError::Key`] when the subject's key is gone (erased).
    async fn open_for(
        &self,
        subject: &Subject,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError>;
    /// [`Store::open_for`] of many `(aad, sealed)` values of one subject,
    /// its key read once (a search opening a private collection's passages).
    async fn open_many_for(
        &self,
        subject: &Subject,
        items: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::with_capacity(items.len());
        for (aad, sealed) in items {
            out.push(self.open_for(subject, aad, sealed).await?);
        }
        Ok(out)
    }
}

/// The same store, seen as the directory.
pub fn directory_of(store: Arc<dyn Store>) -> Arc<dyn Directory> {
    store
}

/// Check the whole audit trail; the count of entries, or the first bad one.
pub async fn verify_audit(
    store: &dyn Store,
) -> Result<Result<usize, sovra_audit::ChainError>, StoreError> {
    Ok(verify_audit_against(store, None)
        .await?
        .map(|report| report.entries))
}

/// What a verification of the audit trail covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: usize,
    /// The oldest entry (older ones were purged by retention), if any.
    pub first_seq: Option<i64>,
    /// The newest entry, which the store's head record matches.
    pub head: sovra_audit::Anchor,
    /// Entries of the archive the live chain was checked against.
    pub archived: Option<usize>,
}

/// Check the whole audit trail, page by page: every link, every entry's
/// hash, that it ends at the store's head record (so entries cut from or
/// added to the end show), and, given an archive exported earlier, that
/// every archived entry is still there unchanged.
pub async fn verify_audit_against(
    store: &dyn Store,
    archive: Option<&sovra_audit::Archive>,
) -> Result<Result<AuditReport, sovra_audit::ChainError>, StoreError> {
    let mut verifier = sovra_audit::Verifier::new();
    let mut after = i64::MIN;
    // Appends may land while we read: the head is read after the entries,
    // and if it moved on, the new entries are read too (a committed entry
    // never lies beyond the head: both are written in one transaction).
    let mut round = 0;
    loop {
        let mut read_any = false;
        loop {
            let page = store.audit_entries(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            read_any = true;
            for e in &page {
                let first = verifier.count() == 0;
                if let Err(err) = verifier.push(e) {
                    return Ok(Err(err));
                }
                if let Some(a) = archive
                    && let Err(err) = a.check_live(e, first)
                {
                    return Ok(Err(err));
                }
            }
        }
        let head = store.audit_head().await?;
        let last_seq = verifier.last().map(|a| a.seq).unwrap_or(0);
        if head.seq > last_seq && read_any && round < 8 {
            round += 1;
            continue;
        }
        if let Err(err) = verifier.check_head(&head) {
            return Ok(Err(err));
        }
        if let Some(a) = archive
            && let Err(err) = a.check_end(verifier.last())
        {
            return Ok(Err(err));
        }
        return Ok(Ok(AuditReport {
            entries: verifier.count(),
            first_seq: verifier.first_seq(),
            head,
            archived: archive.map(|a| a.len()),
        }));
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// `sqlite://PATH`, `postgres://...`, or None for `sovra.db` in `data_dir`.
    pub url: Option<String>,
    pub data_dir: PathBuf,
    pub keyring: Keyring,
    pub clock: Arc<dyn Clock>,
}

/// Open the backend `options.url` names.
pub async fn open(options: OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    match options.url.as_deref() {
        None => Ok(Arc::new(
            SqliteStore::open_with(&options.data_dir, options.keyring, options.clock).await?,
        )),
        Some(url) if url.starts_with("sqlite://") || url.starts_with("sqlite:") => {
            let path = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = Path::new(path);
            Ok(Arc::new(
                SqliteStore::open_file(path, options.keyring, options.clock).await?,
            ))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => Ok(
            Arc::new(PostgresStore::connect(url, options.keyring, options.clock).await?),
        ),
        Some(other) => Err(StoreError::Url(other.to_owned())),
    }
}
