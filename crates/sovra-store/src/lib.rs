//! Persistence behind one trait.
//!
//! [`Store`] is everything Sovra keeps: today conversations and their
//! messages. [`SqliteStore`] is the embedded default (one file in the data
//! dir, WAL, `synchronous=FULL` so an acknowledged message survives a crash),
//! with migrations embedded in the binary and run at open. The conformance
//! tests in [`conformance`] are written against the trait so every backend
//! runs the same suite.

pub mod conformance;
mod sqlite;

pub use sqlite::SqliteStore;

use serde::Serialize;
use sovra_core::openai::Role;
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

/// Everything Sovra persists.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    async fn create_conversation(&self, title: &str) -> Result<Conversation, StoreError>;
    /// Newest-updated first.
    async fn list_conversations(&self, limit: u32) -> Result<Vec<Conversation>, StoreError>;
    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError>;
    async fn rename_conversation(&self, id: &str, title: &str) -> Result<bool, StoreError>;
    /// Deletes the conversation and its messages; false if it did not exist.
    async fn delete_conversation(&self, id: &str) -> Result<bool, StoreError>;
    /// Messages in the order they were appended.
    async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError>;
    /// Appends and bumps the conversation's `updated_at`, atomically.
    async fn append_message(
        &self,
        conversation_id: &str,
        message: NewMessage<'_>,
    ) -> Result<StoredMessage, StoreError>;
}
