//! The SQLite store: the embedded default.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sovra_core::ids::new_id;
use sovra_core::openai::Role;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::{Conversation, MessageUsage, NewMessage, Store, StoreError, StoredMessage};

/// Conversations in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn role_from(s: &str) -> Result<Role, StoreError> {
    match s {
        "system" => Ok(Role::System),
        "developer" => Ok(Role::Developer),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(StoreError::Corrupt(format!("unknown role `{other}`"))),
    }
}

impl SqliteStore {
    /// Open (creating if needed) `sovra.db` in `data_dir` and run migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("sovra.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // An acknowledged message is on disk, not only in the WAL's page cache.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::with_options(options).await
    }

    /// An in-memory store (tests).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::with_options(options).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection.
            .max_connections(if in_memory { 1 } else { 4 })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    fn conversation(row: &sqlx::sqlite::SqliteRow) -> Result<Conversation, StoreError> {
        Ok(Conversation {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            created_at: from_ms(row.try_get("created_at")?),
            updated_at: from_ms(row.try_get("updated_at")?),
        })
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_conversation(&self, title: &str) -> Result<Conversation, StoreError> {
        let id = new_id("conv");
        let now = now_ms();
        sqlx::query(
            "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(title)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(Conversation {
            id,
            title: title.to_owned(),
            created_at: from_ms(now),
            updated_at: from_ms(now),
        })
    }

    async fn list_conversations(&self, limit: u32) -> Result<Vec<Conversation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, title, created_at, updated_at FROM conversations ORDER BY updated_at DESC, rowid DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::conversation).collect()
    }

    async fn get_conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let row =
            sqlx::query("SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(Self::conversation).transpose()
    }

    async fn rename_conversation(&self, id: &str, title: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE conversations SET title = ? WHERE id = ?")
            .bind(title)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_conversation(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM conversations WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn messages(&self, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, content, created_at, prompt_tokens, completion_tokens, finish_reason
             FROM messages WHERE conversation_id = ? ORDER BY seq",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                let prompt: Option<i64> = row.try_get("prompt_tokens")?;
                let completion: Option<i64> = row.try_get("completion_tokens")?;
                let finish: Option<String> = row.try_get("finish_reason")?;
                let usage = match (prompt, completion, finish) {
                    (Some(p), Some(c), Some(f)) => Some(MessageUsage {
                        prompt_tokens: u32::try_from(p).unwrap_or(0),
                        completion_tokens: u32::try_from(c).unwrap_or(0),
                        finish_reason: f,
                    }),
                    _ => None,
                };
                Ok(StoredMessage {
                    id: row.try_get("id")?,
                    role: role_from(&role)?,
                    content: row.try_get("content")?,
                    created_at: from_ms(row.try_get("created_at")?),
                    usage,
                })
            })
            .collect()
    }

    async fn append_message(
        &self,
        conversation_id: &str,
        message: NewMessage<'_>,
    ) -> Result<StoredMessage, StoreError> {
        let id = new_id("msg");
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let touched =
            sqlx::query("UPDATE conversations SET updated_at = MAX(updated_at, ?) WHERE id = ?")
                .bind(now)
                .bind(conversation_id)
                .execute(&mut *tx)
                .await?;
        if touched.rows_affected() == 0 {
            return Err(StoreError::NoConversation(conversation_id.to_owned()));
        }
        let usage = message.usage.as_ref();
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, role, content, created_at, prompt_tokens, completion_tokens, finish_reason)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(conversation_id)
        .bind(message.role.as_str())
        .bind(message.content)
        .bind(now)
        .bind(usage.map(|u| i64::from(u.prompt_tokens)))
        .bind(usage.map(|u| i64::from(u.completion_tokens)))
        .bind(usage.map(|u| u.finish_reason.clone()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(StoredMessage {
            id,
            role: message.role,
            content: message.content.to_owned(),
            created_at: from_ms(now),
            usage: message.usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_in_memory_passes_conformance() {
        let store = SqliteStore::in_memory().await;
        assert!(store.is_ok(), "{store:?}");
        if let Ok(store) = store {
            crate::conformance::run_all(&store).await;
        }
    }

    #[tokio::test]
    async fn sqlite_file_keeps_data_across_reopen() {
        let Ok(dir) = tempfile::tempdir() else { return };
        let id = {
            let store = SqliteStore::open(dir.path()).await.ok();
            let Some(store) = store else {
                panic!("open failed")
            };
            let c = store.create_conversation("kept").await.ok();
            let Some(c) = c else { panic!("create failed") };
            let appended = store
                .append_message(
                    &c.id,
                    NewMessage {
                        role: Role::User,
                        content: "hello",
                        usage: None,
                    },
                )
                .await;
            assert!(appended.is_ok());
            c.id
        };
        let store = SqliteStore::open(dir.path()).await.ok();
        let Some(store) = store else {
            panic!("reopen failed")
        };
        let msgs = store.messages(&id).await.ok().unwrap_or_default();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].content, "hello");
    }
}
