//! The one body of SQL both backends run.
//!
//! SQLite and PostgreSQL accept the same statements here (`$n` parameters,
//! `ON CONFLICT`, `CASE`), so the [`Store`](crate::Store) implementation is
//! written once, in [`impl_sql_store!`], and stamped out for each backend's
//! concrete pool type; what differs (connecting, migrations, how a write
//! transaction begins, backups) lives in `sqlite.rs` and `postgres.rs`.
//! Keeping the types concrete keeps sqlx's checks and errors simple.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use sovra_core::openai::Role;

use crate::crypto::{Key, Keyring};
use crate::{Clock, StoreError, Subject};

/// Unwrapped keys held in memory, by the hash of their wrapped form.
const KEY_CACHE: usize = 4096;

/// What both backends share besides SQL: keys and the clock.
#[derive(Debug)]
pub(crate) struct Core {
    pub keyring: Keyring,
    pub clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<[u8; 32], Key>>,
}

impl Core {
    pub fn new(keyring: Keyring, clock: Arc<dyn Clock>) -> Self {
        Self {
            keyring,
            clock,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Unwrap `wrapped` with `by`, through the cache.
    pub fn unwrap_key(&self, by: &Key, aad: &[u8], wrapped: &[u8]) -> Result<Key, StoreError> {
        let mut h = Sha256::new();
        h.update(aad);
        h.update(wrapped);
        let id: [u8; 32] = h.finalize().into();
        if let Ok(cache) = self.cache.lock()
            && let Some(k) = cache.get(&id)
        {
            return Ok(k.clone());
        }
        let key = Key::from_bytes(&by.open(aad, wrapped)?)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= KEY_CACHE {
                cache.clear();
            }
            cache.insert(id, key.clone());
        }
        Ok(key)
    }

    /// Forget every unwrapped key (after erasure, shredding or rotation).
    pub fn forget_keys(&self) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.clear();
        }
    }
}

pub(crate) fn tenant_aad(tenant: &str, version: i64) -> Vec<u8> {
    format!("tenant-key:{tenant}:{version}").into_bytes()
}

pub(crate) fn subject_aad(s: &Subject) -> Vec<u8> {
    format!("subject-key:{}:{}", s.tenant, s.user).into_bytes()
}

pub(crate) fn title_aad(id: &str) -> Vec<u8> {
    format!("title:{id}").into_bytes()
}

pub(crate) fn feedback_aad(id: &str) -> Vec<u8> {
    format!("feedback:{id}").into_bytes()
}

pub(crate) fn content_aad(id: &str) -> Vec<u8> {
    format!("content:{id}").into_bytes()
}

pub(crate) fn citations_aad(id: &str) -> Vec<u8> {
    format!("citations:{id}").into_bytes()
}

/// What [`Store::seal_for`](crate::Store::seal_for) binds a value to: the
/// caller's `aad` in a domain no row of this store uses.
pub(crate) fn outside_aad(aad: &[u8]) -> Vec<u8> {
    [b"outside:".as_slice(), aad].concat()
}

pub(crate) fn role_from(s: &str) -> Result<Role, StoreError> {
    match s {
        "system" => Ok(Role::System),
        "developer" => Ok(Role::Developer),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(StoreError::Corrupt(format!("unknown role `{other}`"))),
    }
}

/// Implement [`Store`](crate::Store) for `$store` (with fields `pool` and
/// `core`, and a `begin_write` method) over database `$db`.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty) => {
        type Conn = <$db as sqlx::Database>::Connection;

        impl $store {
            /// The tenant's newest key, created if `create` and missing.
            async fn tenant_key(
                &self,
                conn: &mut Conn,
                tenant: &str,
                create: bool,
            ) -> Result<Option<(i64, $crate::crypto::Key)>, $crate::StoreError> {
                use sqlx::Row as _;
                for _ in 0..2 {
                    let row = sqlx::query(
                        "SELECT version, master_id, wrapped FROM tenant_keys WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
                    )
                    .bind(tenant)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(row) = row {
                        let version: i64 = row.try_get("version")?;
                        let master_id: String = row.try_get("master_id")?;
                        let wrapped: Vec<u8> = row.try_get("wrapped")?;
                        let master = self.core.keyring.by_id(&master_id).ok_or_else(|| {
                            $crate::StoreError::Key(format!(
                                "tenant {tenant}'s key is wrapped by master key {master_id}, which is not configured"
                            ))
                        })?;
                        let key = self.core.unwrap_key(
                            master,
                            &$crate::sql::tenant_aad(tenant, version),
                            &wrapped,
                        )?;
                        return Ok(Some((version, key)));
                    }
                    if !create {
                        return Ok(None);
                    }
                    let key = $crate::crypto::Key::generate();
                    let master = &self.core.keyring.current;
                    let wrapped =
                        master.seal(&$crate::sql::tenant_aad(tenant, 1), key.bytes())?;
                    sqlx::query(
                        "INSERT INTO tenant_keys (tenant_id, version, master_id, wrapped, created_at) VALUES ($1, 1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant)
                    .bind(master.fingerprint())
                    .bind(wrapped)
                    .bind(self.core.now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
                Err($crate::StoreError::Key(format!("could not create a key for tenant {tenant}")))
            }

            /// Version `version` of the tenant's key.
            async fn tenant_key_version(
                &self,
                conn: &mut Conn,
                tenant: &str,
                version: i64,
            ) -> Result<(i64, $crate::crypto::Key), $crate::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT master_id, wrapped FROM tenant_keys WHERE tenant_id = $1 AND version = $2")
                    .bind(tenant)
                    .bind(version)
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("tenant {tenant} has no key version {version}")))?;
                let master_id: String = row.try_get("master_id")?;
                let wrapped: Vec<u8> = row.try_get("wrapped")?;
                let master = self.core.keyring.by_id(&master_id).ok_or_else(|| {
                    $crate::StoreError::Key(format!("master key {master_id} is not configured"))
                })?;
                let key = self.core.unwrap_key(master, &$crate::sql::tenant_aad(tenant, version), &wrapped)?;
                Ok((version, key))
            }

            /// The subject's key, created if `create` and missing.
            async fn subject_key(
                &self,
                conn: &mut Conn,
                subject: &$crate::Subject,
                create: bool,
            ) -> Result<Option<$crate::crypto::Key>, $crate::StoreError> {
                use sqlx::Row as _;
                for _ in 0..2 {
                    let row = sqlx::query(
                        "SELECT s.wrapped AS wrapped, s.tenant_version AS tv, t.master_id AS master_id, t.wrapped AS twrapped
                         FROM subject_keys s JOIN tenant_keys t ON t.tenant_id = s.tenant_id AND t.version = s.tenant_version
                         WHERE s.tenant_id = $1 AND s.user_id = $2",
                    )
                    .bind(&subject.tenant)
                    .bind(&subject.user)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(row) = row {
                        let tv: i64 = row.try_get("tv")?;
                        let master_id: String = row.try_get("master_id")?;
                        let twrapped: Vec<u8> = row.try_get("twrapped")?;
                        let wrapped: Vec<u8> = row.try_get("wrapped")?;
                        let master = self.core.keyring.by_id(&master_id).ok_or_else(|| {
                            $crate::StoreError::Key(format!(
                                "tenant {}'s key is wrapped by master key {master_id}, which is not configured",
                                subject.tenant
                            ))
                        })?;
                        let tenant_key = self.core.unwrap_key(
                            master,
                            &$crate::sql::tenant_aad(&subject.tenant, tv),
                            &twrapped,
                        )?;
                        let key = self.core.unwrap_key(
                            &tenant_key,
                            &$crate::sql::subject_aad(subject),
                            &wrapped,
                        )?;
                        return Ok(Some(key));
                    }
                    if !create {
                        return Ok(None);
                    }
                    let Some((tv, tenant_key)) = self.tenant_key(conn, &subject.tenant, true).await? else {
                        continue;
                    };
                    let key = $crate::crypto::Key::generate();
                    let wrapped = tenant_key.seal(&$crate::sql::subject_aad(subject), key.bytes())?;
                    sqlx::query(
                        "INSERT INTO subject_keys (tenant_id, user_id, tenant_version, wrapped, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&subject.tenant)
                    .bind(&subject.user)
                    .bind(tv)
                    .bind(wrapped)
                    .bind(self.core.now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
                Err($crate::StoreError::Key(format!("could not create a key for {subject}")))
            }

            /// Rewrap tenant keys still wrapped by a previous master key.
            async fn rewrap_master(&self) -> Result<u64, $crate::StoreError> {
                use sqlx::Row as _;
                let current = self.core.keyring.current.fingerprint();
                let mut tx = self.begin_write().await?;
                let rows = sqlx::query(
                    "SELECT tenant_id, version, master_id, wrapped FROM tenant_keys WHERE master_id <> $1",
                )
                .bind(&current)
                .fetch_all(&mut *tx)
                .await?;
                let mut n = 0;
                for row in rows {
                    let tenant: String = row.try_get("tenant_id")?;
                    let version: i64 = row.try_get("version")?;
                    let master_id: String = row.try_get("master_id")?;
                    let wrapped: Vec<u8> = row.try_get("wrapped")?;
                    let old = self.core.keyring.by_id(&master_id).ok_or_else(|| {
                        $crate::StoreError::Key(format!(
                            "tenant {tenant}'s key is wrapped by master key {master_id}; configure it as a previous master key to rotate"
                        ))
                    })?;
                    let aad = $crate::sql::tenant_aad(&tenant, version);
                    let plain = old.open(&aad, &wrapped)?;
                    let rewrapped = self.core.keyring.current.seal(&aad, &plain)?;
                    sqlx::query("UPDATE tenant_keys SET master_id = $1, wrapped = $2 WHERE tenant_id = $3 AND version = $4")
                        .bind(&current)
                        .bind(rewrapped)
                        .bind(&tenant)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                    n += 1;
                }
                tx.commit().await?;
                if n > 0 {
                    tracing::info!(tenant_keys = n, "rewrapped tenant keys with the current master key");
                }
                Ok(n)
            }

            async fn append_audit_in(
                &self,
                conn: &mut Conn,
                entry: sovra_audit::NewAuditEntry,
            ) -> Result<sovra_audit::AuditEntry, $crate::StoreError> {
                use sqlx::Row as _;
                // Writing the head first takes its lock before reading it, so
                // concurrent appenders (threads or replicas) queue here.
                sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
                    .execute(&mut *conn)
                    .await?;
                let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(&mut *conn)
                    .await?;
                let seq: i64 = head.try_get("seq")?;
                let hash: String = head.try_get("hash")?;
                let sealed = sovra_audit::AuditEntry::seal(seq, &hash, self.core.now_ms(), entry);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at_ms, actor, action, tenant_id, user_id, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(sealed.seq)
                .bind(sealed.at_ms)
                .bind(&sealed.actor)
                .bind(&sealed.action)
                .bind(&sealed.tenant)
                .bind(&sealed.subject)
                .bind(sealed.details.to_string())
                .bind(&sealed.prev_hash)
                .bind(&sealed.hash)
                .execute(&mut *conn)
                .await?;
                sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
                    .bind(sealed.seq)
                    .bind(&sealed.hash)
                    .execute(&mut *conn)
                    .await?;
                Ok(sealed)
            }

            fn audit_row(row: &<$db as sqlx::Database>::Row) -> Result<sovra_audit::AuditEntry, $crate::StoreError> {
                use sqlx::Row as _;
                let details: String = row.try_get("details")?;
                Ok(sovra_audit::AuditEntry {
                    seq: row.try_get("seq")?,
                    at_ms: row.try_get("at_ms")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    tenant: row.try_get("tenant_id")?,
                    subject: row.try_get("user_id")?,
                    details: serde_json::from_str(&details)
                        .map_err(|e| $crate::StoreError::Corrupt(format!("audit details: {e}")))?,
                    prev_hash: row.try_get("prev_hash")?,
                    hash: row.try_get("hash")?,
                })
            }

            /// Headers of the conversations `where_sql` selects (param $1.. bound by `binds`).
            async fn conversations_where(
                &self,
                conn: &mut Conn,
                sql: &str,
                binds: &[&str],
                limit: Option<i64>,
            ) -> Result<Vec<$crate::Conversation>, $crate::StoreError> {
                use sqlx::Row as _;
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                if let Some(l) = limit {
                    q = q.bind(l);
                }
                let rows = q.fetch_all(&mut *conn).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let owner = $crate::Subject {
                        tenant: row.try_get("tenant_id")?,
                        user: row.try_get("user_id")?,
                    };
                    let id: String = row.try_get("id")?;
                    let sealed: Vec<u8> = row.try_get("title")?;
                    let title = match self.subject_key(conn, &owner, false).await? {
                        Some(k) => k.open_string(&$crate::sql::title_aad(&id), &sealed)?,
                        None if sealed.first() == Some(&0) => {
                            String::from_utf8_lossy(&sealed[1..]).into_owned()
                        }
                        None => return Err($crate::StoreError::Key(format!("no key for {owner}"))),
                    };
                    out.push($crate::Conversation {
                        id,
                        title,
                        created_at: $crate::from_ms(row.try_get("created_at")?),
                        updated_at: $crate::from_ms(row.try_get("updated_at")?),
                        owner,
                    });
                }
                Ok(out)
            }

            async fn messages_in(
                &self,
                conn: &mut Conn,
                conversation_id: &str,
            ) -> Result<Vec<$crate::StoredMessage>, $crate::StoreError> {
                use sqlx::Row as _;
                let owner = sqlx::query("SELECT tenant_id, user_id FROM conversations WHERE id = $1")
                    .bind(conversation_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                let Some(owner) = owner else { return Ok(Vec::new()) };
                let owner = $crate::Subject {
                    tenant: owner.try_get("tenant_id")?,
                    user: owner.try_get("user_id")?,
                };
                let key = self.subject_key(conn, &owner, false).await?;
                let rows = sqlx::query(
                    "SELECT id, role, content, created_at, prompt_tokens, completion_tokens, finish_reason, citations
                     FROM messages WHERE conversation_id = $1 ORDER BY seq",
                )
                .bind(conversation_id)
                .fetch_all(&mut *conn)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let role: String = row.try_get("role")?;
                    let prompt: Option<i64> = row.try_get("prompt_tokens")?;
                    let completion: Option<i64> = row.try_get("completion_tokens")?;
                    let finish: Option<String> = row.try_get("finish_reason")?;
                    let usage = match (prompt, completion, finish) {
                        (Some(p), Some(c), Some(f)) => Some($crate::MessageUsage {
                            prompt_tokens: u32::try_from(p).unwrap_or(0),
                            completion_tokens: u32::try_from(c).unwrap_or(0),
                            finish_reason: f,
                        }),
                        _ => None,
                    };
                    let id: String = row.try_get("id")?;
                    let sealed: Vec<u8> = row.try_get("content")?;
                    let content = match &key {
                        Some(k) => k.open_string(&$crate::sql::content_aad(&id), &sealed)?,
                        None if sealed.first() == Some(&0) => {
                            String::from_utf8_lossy(&sealed[1..]).into_owned()
                        }
                        None => return Err($crate::StoreError::Key(format!("no key for {owner}"))),
                    };
                    let sealed_citations: Option<Vec<u8>> = row.try_get("citations")?;
                    let citations = match (sealed_citations, &key) {
                        (None, _) => None,
                        (Some(sealed), Some(k)) => {
                            let json = k.open_string(&$crate::sql::citations_aad(&id), &sealed)?;
                            Some(serde_json::from_str(&json).map_err(|e| {
                                $crate::StoreError::Corrupt(format!("citations of {id} are not JSON: {e}"))
                            })?)
                        }
                        (Some(_), None) => return Err($crate::StoreError::Key(format!("no key for {owner}"))),
                    };
                    out.push($crate::StoredMessage {
                        id,
                        role: $crate::sql::role_from(&role)?,
                        content,
                        created_at: $crate::from_ms(row.try_get("created_at")?),
                        usage,
                        citations,
                    });
                }
                Ok(out)
            }

            async fn held(&self, conn: &mut Conn, subject: &$crate::Subject) -> Result<bool, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT 1 AS one FROM legal_holds WHERE tenant_id = $1 AND (user_id = '' OR user_id = $2)",
                )
                .bind(&subject.tenant)
                .bind(&subject.user)
                .fetch_optional(&mut *conn)
                .await?;
                Ok(row.is_some())
            }

            /// Delete the conversations `filter` selects (binds: tenant, then user or cutoff).
            /// Ratings joined with their owner, opened with the owner's key.
            async fn feedback_where(
                &self,
                conn: &mut Conn,
                filter: &str,
                binds: &[&str],
                limit: Option<u32>,
            ) -> Result<Vec<$crate::Feedback>, $crate::StoreError> {
                use sqlx::Row as _;
                let sql = format!(
                    "SELECT f.id AS id, f.message_id AS message_id, m.conversation_id AS conversation_id, f.rating AS rating, f.reason AS reason, f.created_at AS created_at, c.tenant_id AS tenant_id, c.user_id AS user_id
                     FROM feedback f JOIN messages m ON m.id = f.message_id JOIN conversations c ON c.id = m.conversation_id
                     WHERE {filter} ORDER BY f.created_at DESC, f.id LIMIT {}",
                    limit.map_or(i64::MAX, i64::from)
                );
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = q.bind(*b);
                }
                let rows = q.fetch_all(&mut *conn).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let id: String = row.try_get("id")?;
                    let owner = $crate::Subject {
                        tenant: row.try_get("tenant_id")?,
                        user: row.try_get("user_id")?,
                    };
                    let sealed: Option<Vec<u8>> = row.try_get("reason")?;
                    let reason = match sealed {
                        None => None,
                        Some(sealed) => match self.subject_key(conn, &owner, false).await? {
                            Some(k) => Some(k.open_string(&$crate::sql::feedback_aad(&id), &sealed)?),
                            // The key is gone (erased): the reason went with it.
                            None => None,
                        },
                    };
                    let rating: String = row.try_get("rating")?;
                    out.push($crate::Feedback {
                        id,
                        message_id: row.try_get("message_id")?,
                        conversation_id: row.try_get("conversation_id")?,
                        rating: $crate::Rating::parse(&rating)
                            .ok_or_else(|| $crate::StoreError::Corrupt(format!("rating `{rating}`")))?,
                        reason,
                        created_at: $crate::from_ms(row.try_get("created_at")?),
                    });
                }
                Ok(out)
            }

            async fn delete_conversations(
                &self,
                conn: &mut Conn,
                filter: &str,
                tenant: &str,
                second: DeleteBind<'_>,
            ) -> Result<(u64, u64), $crate::StoreError> {
                use sqlx::Row as _;
                let count_sql = format!(
                    "SELECT COUNT(*) AS n FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE {filter})"
                );
                let delete_messages = format!(
                    "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE {filter})"
                );
                let delete_sql = format!("DELETE FROM conversations WHERE {filter}");
                let mut count = sqlx::query(&count_sql).bind(tenant);
                let mut del_m = sqlx::query(&delete_messages).bind(tenant);
                let mut del = sqlx::query(&delete_sql).bind(tenant);
                match second {
                    DeleteBind::Text(t) => {
                        count = count.bind(t);
                        del_m = del_m.bind(t);
                        del = del.bind(t);
                    }
                    DeleteBind::Int(i) => {
                        count = count.bind(i);
                        del_m = del_m.bind(i);
                        del = del.bind(i);
                    }
                    DeleteBind::None => {}
                }
                let n: i64 = count.fetch_one(&mut *conn).await?.try_get("n")?;
                del_m.execute(&mut *conn).await?;
                let done = del.execute(&mut *conn).await?;
                Ok((done.rows_affected(), u64::try_from(n).unwrap_or(0)))
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn seal_for(
                &self,
                subject: &$crate::Subject,
                aad: &[u8],
                plain: &[u8],
            ) -> Result<Vec<u8>, $crate::StoreError> {
                // Most subjects have a key already: read it without taking
                // the write lock; make one in a write transaction otherwise.
                let found = {
                    let mut conn = self.pool.acquire().await?;
                    self.subject_key(&mut conn, subject, false).await?
                };
                let key = match found {
                    Some(k) => k,
                    None => {
                        let mut tx = self.begin_write().await?;
                        let key = self
                            .subject_key(&mut tx, subject, true)
                            .await?
                            .ok_or_else(|| $crate::StoreError::Key(format!("no key for {subject}")))?;
                        tx.commit().await?;
                        key
                    }
                };
                key.seal(&$crate::sql::outside_aad(aad), plain)
            }

            async fn open_for(
                &self,
                subject: &$crate::Subject,
                aad: &[u8],
                sealed: &[u8],
            ) -> Result<Vec<u8>, $crate::StoreError> {
                let mut conn = self.pool.acquire().await?;
                let key = self
                    .subject_key(&mut conn, subject, false)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("no key for {subject} (erased?)")))?;
                key.open_sealed(&$crate::sql::outside_aad(aad), sealed)
            }

            async fn open_many_for(
                &self,
                subject: &$crate::Subject,
                items: &[(Vec<u8>, Vec<u8>)],
            ) -> Result<Vec<Vec<u8>>, $crate::StoreError> {
                if items.is_empty() {
                    return Ok(Vec::new());
                }
                let key = {
                    let mut conn = self.pool.acquire().await?;
                    self.subject_key(&mut conn, subject, false)
                        .await?
                        .ok_or_else(|| $crate::StoreError::Key(format!("no key for {subject} (erased?)")))?
                };
                items
                    .iter()
                    .map(|(aad, sealed)| key.open_sealed(&$crate::sql::outside_aad(aad), sealed))
                    .collect()
            }

            async fn create_conversation(
                &self,
                owner: &$crate::Subject,
                title: &str,
            ) -> Result<$crate::Conversation, $crate::StoreError> {
                let id = sovra_core::ids::new_id("conv");
                let now = self.core.now_ms();
                let mut tx = self.begin_write().await?;
                let key = self
                    .subject_key(&mut tx, owner, true)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("no key for {owner}")))?;
                let sealed = key.seal(&$crate::sql::title_aad(&id), title.as_bytes())?;
                sqlx::query(
                    "INSERT INTO conversations (id, tenant_id, user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(&owner.tenant)
                .bind(&owner.user)
                .bind(sealed)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::Conversation {
                    id,
                    title: title.to_owned(),
                    created_at: $crate::from_ms(now),
                    updated_at: $crate::from_ms(now),
                    owner: owner.clone(),
                })
            }

            async fn list_conversations(
                &self,
                owner: &$crate::Subject,
                limit: u32,
            ) -> Result<Vec<$crate::Conversation>, $crate::StoreError> {
                let mut conn = self.pool.acquire().await?;
                self.conversations_where(
                    &mut conn,
                    "SELECT id, tenant_id, user_id, title, created_at, updated_at FROM conversations
                     WHERE tenant_id = $1 AND user_id = $2 ORDER BY updated_at DESC, id DESC LIMIT $3",
                    &[&owner.tenant, &owner.user],
                    Some(i64::from(limit)),
                )
                .await
            }

            async fn get_conversation(&self, id: &str) -> Result<Option<$crate::Conversation>, $crate::StoreError> {
                let mut conn = self.pool.acquire().await?;
                let mut found = self
                    .conversations_where(
                        &mut conn,
                        "SELECT id, tenant_id, user_id, title, created_at, updated_at FROM conversations WHERE id = $1",
                        &[id],
                        None,
                    )
                    .await?;
                Ok(found.pop())
            }

            async fn rename_conversation(&self, id: &str, title: &str) -> Result<bool, $crate::StoreError> {
                use sqlx::Row as _;
                let mut tx = self.begin_write().await?;
                let owner = sqlx::query("SELECT tenant_id, user_id FROM conversations WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(owner) = owner else { return Ok(false) };
                let owner = $crate::Subject {
                    tenant: owner.try_get("tenant_id")?,
                    user: owner.try_get("user_id")?,
                };
                let key = self
                    .subject_key(&mut tx, &owner, true)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("no key for {owner}")))?;
                let sealed = key.seal(&$crate::sql::title_aad(id), title.as_bytes())?;
                let done = sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
                    .bind(sealed)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_conversation(&self, id: &str) -> Result<bool, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("DELETE FROM messages WHERE conversation_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let done = sqlx::query("DELETE FROM conversations WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn truncate_messages(
                &self,
                conversation_id: &str,
                from: &str,
            ) -> Result<u64, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query(
                    "DELETE FROM messages WHERE conversation_id = $1
                     AND seq >= (SELECT seq FROM messages WHERE id = $2 AND conversation_id = $1)",
                )
                .bind(conversation_id)
                .bind(from)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(done.rows_affected())
            }

            async fn messages(&self, conversation_id: &str) -> Result<Vec<$crate::StoredMessage>, $crate::StoreError> {
                let mut conn = self.pool.acquire().await?;
                self.messages_in(&mut conn, conversation_id).await
            }

            async fn append_message_cited(
                &self,
                conversation_id: &str,
                message: $crate::NewMessage<'_>,
                citations: Option<&serde_json::Value>,
            ) -> Result<$crate::StoredMessage, $crate::StoreError> {
                use sqlx::Row as _;
                let id = sovra_core::ids::new_id("msg");
                let now = self.core.now_ms();
                let mut tx = self.begin_write().await?;
                let owner = sqlx::query(
                    "UPDATE conversations SET updated_at = CASE WHEN updated_at > $1 THEN updated_at ELSE $1 END
                     WHERE id = $2 RETURNING tenant_id, user_id",
                )
                .bind(now)
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(owner) = owner else {
                    return Err($crate::StoreError::NoConversation(conversation_id.to_owned()));
                };
                let owner = $crate::Subject {
                    tenant: owner.try_get("tenant_id")?,
                    user: owner.try_get("user_id")?,
                };
                let key = self
                    .subject_key(&mut tx, &owner, true)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("no key for {owner}")))?;
                let sealed = key.seal(&$crate::sql::content_aad(&id), message.content.as_bytes())?;
                let sealed_citations = match citations {
                    Some(c) => Some(key.seal(&$crate::sql::citations_aad(&id), c.to_string().as_bytes())?),
                    None => None,
                };
                let usage = message.usage.as_ref();
                sqlx::query(
                    "INSERT INTO messages (id, conversation_id, role, content, created_at, prompt_tokens, completion_tokens, finish_reason, citations)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&id)
                .bind(conversation_id)
                .bind(message.role.as_str())
                .bind(sealed)
                .bind(now)
                .bind(usage.map(|u| i64::from(u.prompt_tokens)))
                .bind(usage.map(|u| i64::from(u.completion_tokens)))
                .bind(usage.map(|u| u.finish_reason.clone()))
                .bind(sealed_citations)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::StoredMessage {
                    id,
                    role: message.role,
                    content: message.content.to_owned(),
                    created_at: $crate::from_ms(now),
                    usage: message.usage,
                    citations: citations.cloned(),
                })
            }

            async fn export_subject(&self, subject: &$crate::Subject) -> Result<$crate::SubjectExport, $crate::StoreError> {
                use sqlx::Row as _;
                let mut conn = self.pool.acquire().await?;
                let headers = self
                    .conversations_where(
                        &mut conn,
                        "SELECT id, tenant_id, user_id, title, created_at, updated_at FROM conversations
                         WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
                        &[&subject.tenant, &subject.user],
                        None,
                    )
                    .await?;
                let mut conversations = Vec::with_capacity(headers.len());
                for c in headers {
                    let messages = self.messages_in(&mut conn, &c.id).await?;
                    conversations.push($crate::ConversationExport { conversation: c, messages });
                }
                let holds = sqlx::query(
                    "SELECT tenant_id, user_id, reason, created_at FROM legal_holds WHERE tenant_id = $1 AND (user_id = '' OR user_id = $2)",
                )
                .bind(&subject.tenant)
                .bind(&subject.user)
                .fetch_all(&mut *conn)
                .await?;
                let mut legal_holds = Vec::new();
                for h in holds {
                    let user: String = h.try_get("user_id")?;
                    legal_holds.push($crate::LegalHold {
                        tenant: h.try_get("tenant_id")?,
                        user: (!user.is_empty()).then_some(user),
                        reason: h.try_get("reason")?,
                        created_at_ms: h.try_get("created_at")?,
                    });
                }
                let rows = sqlx::query(
                    "SELECT seq, at_ms, actor, action, tenant_id, user_id, details, prev_hash, hash FROM audit_log
                     WHERE tenant_id = $1 AND user_id = $2 ORDER BY seq",
                )
                .bind(&subject.tenant)
                .bind(&subject.user)
                .fetch_all(&mut *conn)
                .await?;
                let audit = rows.iter().map(Self::audit_row).collect::<Result<Vec<_>, _>>()?;
                Ok($crate::SubjectExport {
                    format: "sovra.subject-export.v1",
                    tenant: subject.tenant.clone(),
                    user: subject.user.clone(),
                    exported_at: $crate::from_ms(self.core.now_ms()),
                    conversations,
                    legal_holds,
                    audit,
                    feedback: self
                        .feedback_where(&mut conn, "c.tenant_id = $1 AND c.user_id = $2", &[&subject.tenant, &subject.user], None)
                        .await?,
                })
            }

            async fn erase_subject(
                &self,
                subject: &$crate::Subject,
                actor: &str,
            ) -> Result<$crate::ErasureReport, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                if self.held(&mut tx, subject).await? {
                    return Err($crate::StoreError::LegalHold(subject.to_string()));
                }
                let (conversations, messages) = self
                    .delete_conversations(
                        &mut tx,
                        "tenant_id = $1 AND user_id = $2",
                        &subject.tenant,
                        DeleteBind::Text(&subject.user),
                    )
                    .await?;
                let keys = sqlx::query("DELETE FROM subject_keys WHERE tenant_id = $1 AND user_id = $2")
                    .bind(&subject.tenant)
                    .bind(&subject.user)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let entry = self
                    .append_audit_in(
                        &mut tx,
                        sovra_audit::NewAuditEntry {
                            actor: actor.to_owned(),
                            action: "data.erase".into(),
                            tenant: subject.tenant.clone(),
                            subject: Some(subject.user.clone()),
                            details: serde_json::json!({
                                "conversations": conversations,
                                "messages": messages,
                                "keys": keys,
                            }),
                        },
                    )
                    .await?;
                tx.commit().await?;
                self.core.forget_keys();
                self.after_erase().await?;
                Ok($crate::ErasureReport { conversations, messages, keys, audit_seq: entry.seq })
            }

            async fn shred_tenant(&self, tenant: &str, actor: &str) -> Result<$crate::ErasureReport, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let probe = $crate::Subject { tenant: tenant.to_owned(), user: String::new() };
                let held = sqlx::query("SELECT 1 AS one FROM legal_holds WHERE tenant_id = $1")
                    .bind(&probe.tenant)
                    .fetch_optional(&mut *tx)
                    .await?;
                if held.is_some() {
                    return Err($crate::StoreError::LegalHold(format!("tenant {tenant}")));
                }
                let (conversations, messages) = self
                    .delete_conversations(&mut tx, "tenant_id = $1", tenant, DeleteBind::None)
                    .await?;
                let subject_keys = sqlx::query("DELETE FROM subject_keys WHERE tenant_id = $1")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let tenant_keys = sqlx::query("DELETE FROM tenant_keys WHERE tenant_id = $1")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let keys = subject_keys + tenant_keys;
                let entry = self
                    .append_audit_in(
                        &mut tx,
                        sovra_audit::NewAuditEntry {
                            actor: actor.to_owned(),
                            action: "key.shred_tenant".into(),
                            tenant: tenant.to_owned(),
                            subject: None,
                            details: serde_json::json!({
                                "conversations": conversations,
                                "messages": messages,
                                "keys": keys,
                            }),
                        },
                    )
                    .await?;
                tx.commit().await?;
                self.core.forget_keys();
                self.after_erase().await?;
                Ok($crate::ErasureReport { conversations, messages, keys, audit_seq: entry.seq })
            }

            async fn rotate_tenant_key(&self, tenant: &str, actor: &str) -> Result<i64, $crate::StoreError> {
                use sqlx::Row as _;
                let mut tx = self.begin_write().await?;
                let (old_version, old_key) = self
                    .tenant_key(&mut tx, tenant, true)
                    .await?
                    .ok_or_else(|| $crate::StoreError::Key(format!("no key for tenant {tenant}")))?;
                let version = old_version + 1;
                let key = $crate::crypto::Key::generate();
                let master = &self.core.keyring.current;
                let wrapped = master.seal(&$crate::sql::tenant_aad(tenant, version), key.bytes())?;
                sqlx::query(
                    "INSERT INTO tenant_keys (tenant_id, version, master_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(tenant)
                .bind(version)
                .bind(master.fingerprint())
                .bind(wrapped)
                .bind(self.core.now_ms())
                .execute(&mut *tx)
                .await?;
                let subjects = sqlx::query(
                    "SELECT user_id, tenant_version, wrapped FROM subject_keys WHERE tenant_id = $1",
                )
                .bind(tenant)
                .fetch_all(&mut *tx)
                .await?;
                let mut rewrapped = 0u64;
                for row in subjects {
                    let user: String = row.try_get("user_id")?;
                    let tv: i64 = row.try_get("tenant_version")?;
                    let wrapped: Vec<u8> = row.try_get("wrapped")?;
                    let s = $crate::Subject { tenant: tenant.to_owned(), user: user.clone() };
                    let by = if tv == old_version {
                        old_key.clone()
                    } else {
                        let (_, k) = self.tenant_key_version(&mut tx, tenant, tv).await?;
                        k
                    };
                    let aad = $crate::sql::subject_aad(&s);
                    let plain = by.open(&aad, &wrapped)?;
                    let again = key.seal(&aad, &plain)?;
                    sqlx::query("UPDATE subject_keys SET tenant_version = $1, wrapped = $2 WHERE tenant_id = $3 AND user_id = $4")
                        .bind(version)
                        .bind(again)
                        .bind(tenant)
                        .bind(&user)
                        .execute(&mut *tx)
                        .await?;
                    rewrapped += 1;
                }
                sqlx::query("DELETE FROM tenant_keys WHERE tenant_id = $1 AND version < $2")
                    .bind(tenant)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                self.append_audit_in(
                    &mut tx,
                    sovra_audit::NewAuditEntry {
                        actor: actor.to_owned(),
                        action: "key.rotate_tenant".into(),
                        tenant: tenant.to_owned(),
                        subject: None,
                        details: serde_json::json!({"version": version, "subject_keys": rewrapped}),
                    },
                )
                .await?;
                tx.commit().await?;
                self.core.forget_keys();
                Ok(version)
            }

            async fn set_legal_hold(&self, hold: &$crate::LegalHold, actor: &str) -> Result<(), $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let user = hold.user.clone().unwrap_or_default();
                sqlx::query(
                    "INSERT INTO legal_holds (tenant_id, user_id, reason, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, user_id) DO UPDATE SET reason = excluded.reason",
                )
                .bind(&hold.tenant)
                .bind(&user)
                .bind(&hold.reason)
                .bind(self.core.now_ms())
                .execute(&mut *tx)
                .await?;
                self.append_audit_in(
                    &mut tx,
                    sovra_audit::NewAuditEntry {
                        actor: actor.to_owned(),
                        action: "hold.set".into(),
                        tenant: hold.tenant.clone(),
                        subject: hold.user.clone(),
                        details: serde_json::json!({"reason": hold.reason}),
                    },
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn release_legal_hold(&self, tenant: &str, user: Option<&str>, actor: &str) -> Result<bool, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM legal_holds WHERE tenant_id = $1 AND user_id = $2")
                    .bind(tenant)
                    .bind(user.unwrap_or(""))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() > 0 {
                    self.append_audit_in(
                        &mut tx,
                        sovra_audit::NewAuditEntry {
                            actor: actor.to_owned(),
                            action: "hold.release".into(),
                            tenant: tenant.to_owned(),
                            subject: user.map(str::to_owned),
                            details: serde_json::json!({}),
                        },
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn legal_holds(&self) -> Result<Vec<$crate::LegalHold>, $crate::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query("SELECT tenant_id, user_id, reason, created_at FROM legal_holds ORDER BY tenant_id, user_id")
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for h in rows {
                    let user: String = h.try_get("user_id")?;
                    out.push($crate::LegalHold {
                        tenant: h.try_get("tenant_id")?,
                        user: (!user.is_empty()).then_some(user),
                        reason: h.try_get("reason")?,
                        created_at_ms: h.try_get("created_at")?,
                    });
                }
                Ok(out)
            }

            async fn purge_expired(&self, rules: &$crate::RetentionRules) -> Result<$crate::PurgeReport, $crate::StoreError> {
                use sqlx::Row as _;
                const DAY_MS: i64 = 86_400_000;
                let now = self.core.now_ms();
                let mut report = $crate::PurgeReport::default();
                let tenants = sqlx::query("SELECT DISTINCT tenant_id FROM conversations")
                    .fetch_all(&self.pool)
                    .await?;
                let mut tx = self.begin_write().await?;
                for row in tenants {
                    let tenant: String = row.try_get("tenant_id")?;
                    let Some(days) = rules.conversations_days(&tenant) else { continue };
                    let cutoff = now - i64::from(days) * DAY_MS;
                    let (c, m) = self
                        .delete_conversations(
                            &mut tx,
                            "tenant_id = $1 AND updated_at < $2 AND NOT EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = conversations.tenant_id AND (h.user_id = '' OR h.user_id = conversations.user_id))",
                            &tenant,
                            DeleteBind::Int(cutoff),
                        )
                        .await?;
                    report.conversations += c;
                    report.messages += m;
                }
                if let Some(days) = rules.default.audit_days {
                    // Only a prefix of the chain goes, so what is left still verifies.
                    let cutoff = now - i64::from(days) * DAY_MS;
                    let done = sqlx::query(
                        "DELETE FROM audit_log WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE at_ms < $1)",
                    )
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?;
                    report.audit_entries = done.rows_affected();
                }
                if report != $crate::PurgeReport::default() {
                    self.append_audit_in(
                        &mut tx,
                        sovra_audit::NewAuditEntry {
                            actor: "system:retention".into(),
                            action: "retention.purge".into(),
                            tenant: "*".into(),
                            subject: None,
                            details: serde_json::json!(report),
                        },
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(report)
            }

            async fn append_audit(&self, entry: sovra_audit::NewAuditEntry) -> Result<sovra_audit::AuditEntry, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let e = self.append_audit_in(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn audit_entries(&self, after_seq: i64, limit: u32) -> Result<Vec<sovra_audit::AuditEntry>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT seq, at_ms, actor, action, tenant_id, user_id, details, prev_hash, hash FROM audit_log
                     WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::audit_row).collect()
            }

            async fn audit_head(&self) -> Result<sovra_audit::Anchor, $crate::StoreError> {
                use sqlx::Row as _;
                let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(sovra_audit::Anchor { seq: head.try_get("seq")?, hash: head.try_get("hash")? })
            }

            async fn backup(&self, dest: &std::path::Path) -> Result<(), $crate::StoreError> {
                self.backup_to(dest).await
            }

            async fn add_feedback(
                &self,
                rater: &$crate::Subject,
                feedback: $crate::NewFeedback<'_>,
            ) -> Result<Option<$crate::Feedback>, $crate::StoreError> {
                let mut tx = self.begin_write().await?;
                let owned = sqlx::query(
                    "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                     WHERE m.id = $1 AND m.role = 'assistant' AND c.tenant_id = $2 AND c.user_id = $3",
                )
                .bind(feedback.message_id)
                .bind(&rater.tenant)
                .bind(&rater.user)
                .fetch_optional(&mut *tx)
                .await?;
                if owned.is_none() {
                    return Ok(None);
                }
                let id = sovra_core::ids::new_id("fb");
                let reason = match feedback.reason {
                    None => None,
                    Some(text) => {
                        let key = self
                            .subject_key(&mut tx, rater, true)
                            .await?
                            .ok_or_else(|| $crate::StoreError::Key(format!("no key for {rater}")))?;
                        Some(key.seal(&$crate::sql::feedback_aad(&id), text.as_bytes())?)
                    }
                };
                sqlx::query(
                    "INSERT INTO feedback (id, message_id, rating, reason, created_at) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (message_id) DO UPDATE SET id = excluded.id, rating = excluded.rating, reason = excluded.reason, created_at = excluded.created_at",
                )
                .bind(&id)
                .bind(feedback.message_id)
                .bind(feedback.rating.as_str())
                .bind(reason)
                .bind(self.core.now_ms())
                .execute(&mut *tx)
                .await?;
                let stored = self.feedback_where(&mut tx, "f.id = $1", &[&id], Some(1)).await?;
                tx.commit().await?;
                Ok(stored.into_iter().next())
            }

            async fn recent_feedback(
                &self,
                reach: Option<&sovra_identity::TenantPath>,
                limit: u32,
            ) -> Result<Vec<$crate::Feedback>, $crate::StoreError> {
                let mut conn = self.pool.acquire().await?;
                match reach {
                    None => self.feedback_where(&mut conn, "1 = 1", &[], Some(limit)).await,
                    Some(root) => {
                        let below = $crate::directory::below(root);
                        self.feedback_where(
                            &mut conn,
                            "(c.tenant_id = $1 OR c.tenant_id LIKE $2)",
                            &[root.as_str(), below.as_str()],
                            Some(limit),
                        )
                        .await
                    }
                }
            }

            async fn record_safety_event(&self, event: &$crate::SafetyEvent) -> Result<(), $crate::StoreError> {
                let categories = serde_json::to_string(&event.categories)
                    .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?;
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO safety_events (at_ms, stage, language, action, rule, categories, tenant) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(self.core.now_ms())
                .bind(event.stage.as_str())
                .bind(&event.language)
                .bind(&event.action)
                .bind(event.rule.as_deref())
                .bind(categories)
                .bind(event.tenant.as_deref())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn recent_safety_events(
                &self,
                reach: Option<&sovra_identity::TenantPath>,
                limit: u32,
            ) -> Result<Vec<$crate::SafetyRecord>, $crate::StoreError> {
                use sqlx::Row as _;
                const COLS: &str = "SELECT seq, at_ms, stage, language, action, rule, categories, tenant FROM safety_events";
                let rows = match reach {
                    None => sqlx::query(&format!("{COLS} ORDER BY seq DESC LIMIT $1"))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?,
                    // Events of no tenant (recorded before tenants were) are the platform's.
                    Some(root) => sqlx::query(&format!(
                        "{COLS} WHERE tenant = $1 OR tenant LIKE $2 ORDER BY seq DESC LIMIT $3"
                    ))
                    .bind(root.as_str())
                    .bind($crate::directory::below(root))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?,
                };
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let stage: String = row.try_get("stage")?;
                    let categories: String = row.try_get("categories")?;
                    out.push($crate::SafetyRecord {
                        seq: row.try_get("seq")?,
                        at: $crate::from_ms(row.try_get("at_ms")?),
                        event: $crate::SafetyEvent {
                            stage: if stage == "output" { $crate::Stage::Output } else { $crate::Stage::Input },
                            language: row.try_get("language")?,
                            action: row.try_get("action")?,
                            rule: row.try_get("rule")?,
                            categories: serde_json::from_str(&categories)
                                .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?,
                            tenant: row.try_get("tenant")?,
                        },
                    });
                }
                Ok(out)
            }

            async fn add_request_counts(&self, day: &str, counts: &[(String, u64)]) -> Result<(), $crate::StoreError> {
                if counts.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                for (language, n) in counts {
                    sqlx::query(
                        "INSERT INTO request_counts (day, language, requests) VALUES ($1, $2, $3)
                         ON CONFLICT (day, language) DO UPDATE SET requests = request_counts.requests + excluded.requests",
                    )
                    .bind(day)
                    .bind(language)
                    .bind(i64::try_from(*n).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn transparency(&self) -> Result<$crate::TransparencyCounts, $crate::StoreError> {
                use sqlx::Row as _;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                let mut out = $crate::TransparencyCounts::default();
                let rows = sqlx::query("SELECT language, CAST(SUM(requests) AS BIGINT) AS n FROM request_counts GROUP BY language")
                    .fetch_all(&self.pool)
                    .await?;
                for row in rows {
                    out.requests_by_language.insert(row.try_get("language")?, count(row.try_get("n")?));
                }
                let rows = sqlx::query("SELECT action, rule, categories FROM safety_events")
                    .fetch_all(&self.pool)
                    .await?;
                for row in rows {
                    let action: String = row.try_get("action")?;
                    let rule: Option<String> = row.try_get("rule")?;
                    let categories: String = row.try_get("categories")?;
                    let categories: Vec<String> = serde_json::from_str(&categories)
                        .map_err(|e| $crate::StoreError::Corrupt(e.to_string()))?;
                    let per = out.moderation_actions.entry(action).or_default();
                    for c in categories {
                        *per.entry(c).or_default() += 1;
                    }
                    *out.moderation_by_rule.entry(rule.unwrap_or_else(|| "(none)".into())).or_default() += 1;
                }
                let rows = sqlx::query("SELECT rating, CAST(COUNT(*) AS BIGINT) AS n, CAST(COUNT(reason) AS BIGINT) AS r FROM feedback GROUP BY rating")
                    .fetch_all(&self.pool)
                    .await?;
                for row in rows {
                    let rating: String = row.try_get("rating")?;
                    let n = count(row.try_get("n")?);
                    out.feedback.with_reason += count(row.try_get("r")?);
                    match $crate::Rating::parse(&rating) {
                        Some($crate::Rating::Up) => out.feedback.up += n,
                        Some($crate::Rating::Down) => out.feedback.down += n,
                        None => {}
                    }
                }
                Ok(out)
            }
        }
    };
}

/// The second parameter of a delete filter.
pub(crate) enum DeleteBind<'a> {
    Text(&'a str),
    Int(i64),
    None,
}

pub(crate) use impl_sql_store;

/// Shared by the backends' erasure tests: every key that can be recovered
/// from what the database holds now.
#[cfg(test)]
pub(crate) mod recover {
    use super::*;

    /// Tenant rows: (tenant, version, master_id, wrapped); subject rows:
    /// (tenant, user, tenant_version, wrapped).
    pub fn all_keys(
        keyring: &Keyring,
        tenants: &[(String, i64, String, Vec<u8>)],
        subjects: &[(String, String, i64, Vec<u8>)],
    ) -> Vec<Key> {
        let mut tenant_keys = Vec::new();
        for (t, v, m, w) in tenants {
            if let Some(master) = keyring.by_id(m)
                && let Ok(k) = master
                    .open(&tenant_aad(t, *v), w)
                    .and_then(|b| Key::from_bytes(&b))
            {
                tenant_keys.push((t.clone(), *v, k));
            }
        }
        let mut out: Vec<Key> = tenant_keys.iter().map(|(_, _, k)| k.clone()).collect();
        for (t, u, v, w) in subjects {
            let s = Subject {
                tenant: t.clone(),
                user: u.clone(),
            };
            for (tt, tv, tk) in &tenant_keys {
                if tt == t
                    && tv == v
                    && let Ok(k) = tk
                        .open(&subject_aad(&s), w)
                        .and_then(|b| Key::from_bytes(&b))
                {
                    out.push(k);
                }
            }
        }
        out
    }
}
