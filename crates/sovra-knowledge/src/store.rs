//! The SQLite backend (the default): `knowledge.db`, collections,
//! documents, chunks with their embeddings, uploaded files (`files.rs`) and
//! the FTS5 full-text index, in one SQLite file (WAL) in the data dir. The
//! PostgreSQL backend (`pg.rs`) holds the same; `backend.rs` is the seam.
//!
//! Every write runs in one transaction that also bumps `meta.generation`,
//! so a process holding the vector index in memory can tell whether the
//! database moved under it (another process, e.g. `sovra knowledge ingest`,
//! wrote) and reload. Full-text rows share their chunk's rowid; deleting a
//! chunk deletes its full-text row in the same transaction, and erasures
//! end with an FTS5 `optimize` so the deleted terms leave the index's
//! segments too, not just its visible rows. Chunks of private collections
//! get no full-text rows (their text is sealed, `sealing.rs`; they are
//! searched in memory, [`crate::search::bm25_in_memory`]).
//!
//! The schema is `migrations/sqlite` (`migrate.rs`); the statements this
//! backend shares with PostgreSQL are written once in `sql.rs`, and what
//! is here is SQLite's own (FTS5, `IN (?, …)` lists, `VACUUM INTO`).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::chunk::Chunk;
use crate::search::{Hit, fts_query};
use crate::sql::sqlite as shared;
use crate::{Collection, Counts, Document, Error, Removed, Scope, Visibility};

/// The full-text table, as migration 0001 creates it; [`Db::rebuild_fts`]
/// drops and recreates it with this same statement.
const FTS: &str = "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')";

pub struct Db {
    pub(crate) pool: SqlitePool,
}

pub(crate) fn blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn unblob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// What the full-text index holds for a chunk: title, heading and text, so a
/// word of the title finds every passage of the document. Both backends
/// index exactly this text (FTS5 here, a `tsvector` in PostgreSQL).
pub(crate) fn fts_body(title: &str, heading: &str, text: &str) -> String {
    format!("{title}\n{heading}\n{text}")
}

/// A stored passage of a private collection, as read for the in-memory
/// full-text search (its text, heading and document title still sealed).
#[derive(Debug, Clone)]
pub(crate) struct StoredPassage {
    pub id: i64,
    pub document_id: String,
    pub collection_id: String,
    pub ord: i64,
    pub heading: String,
    pub text: String,
    pub title: String,
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn collection_of(r: &sqlx::sqlite::SqliteRow) -> Result<Collection, sqlx::Error> {
    let scope: String = r.try_get("scope")?;
    let scope = Scope::parse(&scope).map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
    Ok(Collection {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        visibility: Visibility {
            scope,
            tenant: r.try_get("tenant")?,
            owner: r.try_get("owner")?,
        },
        created_at: r.try_get("created_at")?,
        documents: r.try_get::<i64, _>("documents")? as u64,
        chunks: r.try_get::<i64, _>("nchunks")? as u64,
        bytes: r.try_get::<i64, _>("nbytes")? as u64,
    })
}

fn document_of(r: &sqlx::sqlite::SqliteRow) -> Result<Document, sqlx::Error> {
    Ok(Document {
        id: r.try_get("id")?,
        collection_id: r.try_get("collection_id")?,
        source: r.try_get("source")?,
        title: r.try_get("title")?,
        url: r.try_get("url")?,
        language: r.try_get("language")?,
        effective_date: r.try_get("effective_date")?,
        content_hash: r.try_get("content_hash")?,
        bytes: r.try_get::<i64, _>("bytes")? as u64,
        chunks: r.try_get::<i64, _>("chunks")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

async fn bump(tx: &mut Tx<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(shared::BUMP).fetch_one(&mut **tx).await
}

impl Db {
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        // Born owner-only (SQLite gives its -wal and -shm files the same
        // mode); the binary tightens an older, wider one at start.
        match crate::index::owner_only(path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(sqlx::Error::Io(e)),
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .foreign_keys(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            // Deleted rows (erased files, chunks) are overwritten, not left in free pages.
            .pragma("secure_delete", "on");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        crate::migrate::sqlite(&pool).await?;
        Ok(Self { pool })
    }

    /// `VACUUM INTO` a new owner-only file at `dest` (it must not exist).
    pub async fn backup_to(&self, dest: &Path) -> Result<(), Error> {
        let name = dest.to_str().ok_or_else(|| Error::Invalid {
            what: "backup path",
            problem: "must be UTF-8".into(),
        })?;
        crate::index::owner_only(dest)?;
        let done = sqlx::query("VACUUM INTO ?")
            .bind(name)
            .execute(&self.pool)
            .await;
        if let Err(e) = done {
            let _ = std::fs::remove_file(dest);
            return Err(e.into());
        }
        Ok(())
    }

    pub async fn generation(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(shared::GENERATION)
            .fetch_one(&self.pool)
            .await
    }

    /// Rebuild the full-text index when its row count disagrees with the
    /// chunks (lost, torn or never built); the number of rows rebuilt.
    pub async fn ensure_fts(&self) -> Result<u64, sqlx::Error> {
        let chunks: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM chunks WHERE {}",
            shared::INDEXED_CHUNK
        ))
        .fetch_one(&self.pool)
        .await?;
        let fts: Result<i64, _> = sqlx::query_scalar("SELECT count(*) FROM chunks_fts")
            .fetch_one(&self.pool)
            .await;
        if fts.as_ref().ok() == Some(&chunks) {
            return Ok(0);
        }
        self.rebuild_fts().await
    }

    pub async fn rebuild_fts(&self) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DROP TABLE IF EXISTS chunks_fts")
            .execute(&mut *tx)
            .await?;
        sqlx::query(FTS).execute(&mut *tx).await?;
        let rows = sqlx::query(&format!(
            "SELECT c.id, d.title, c.heading, c.text, c.collection_id
             FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.{}",
            shared::INDEXED_CHUNK
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut n = 0;
        for r in rows {
            let (title, heading, text): (String, String, String) =
                (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
            n +=
                sqlx::query("INSERT INTO chunks_fts (rowid, body, collection_id) VALUES (?, ?, ?)")
                    .bind(r.try_get::<i64, _>(0)?)
                    .bind(fts_body(&title, &heading, &text))
                    .bind(r.try_get::<String, _>(4)?)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn each_embedding(
        &self,
        mut f: impl FnMut(i64, &str, Option<&str>, &[f32]),
    ) -> Result<(), sqlx::Error> {
        use futures::StreamExt as _;
        let mut rows = sqlx::query(shared::EACH_EMBEDDING).fetch(&self.pool);
        while let Some(r) = rows.next().await {
            let r = r?;
            let id: i64 = r.try_get(0)?;
            let c: String = r.try_get(1)?;
            let language: Option<String> = r.try_get(2)?;
            let b: Vec<u8> = r.try_get(3)?;
            f(id, &c, language.as_deref(), &unblob(&b));
        }
        Ok(())
    }

    pub async fn insert_collection(&self, c: &Collection) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(shared::INSERT_COLLECTION)
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(c.visibility.scope.as_str())
            .bind(&c.visibility.tenant)
            .bind(&c.visibility.owner)
            .bind(c.created_at)
            .execute(&mut *tx)
            .await?;
        // Creating a collection adds no vectors; the generation stays.
        tx.commit().await
    }

    pub async fn collections_for(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<Vec<Collection>, sqlx::Error> {
        let rows = sqlx::query(shared::COLLECTIONS_FOR)
            .bind(tenant)
            .bind(user)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(collection_of).collect()
    }

    pub async fn collection(&self, id: &str) -> Result<Option<Collection>, sqlx::Error> {
        let row = sqlx::query(shared::COLLECTION)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(collection_of).transpose()
    }

    pub async fn private_collections_of(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(shared::PRIVATE_COLLECTIONS_OF)
            .bind(tenant)
            .bind(user)
            .fetch_all(&self.pool)
            .await
    }

    pub async fn private_collections_by_tenant(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
        let rows = sqlx::query(shared::PRIVATE_COLLECTIONS)
            .fetch_all(&self.pool)
            .await?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in rows {
            out.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
        }
        Ok(out)
    }

    async fn delete_chunks_where(
        tx: &mut Tx<'_>,
        cond: &str,
        binds: &[String],
    ) -> Result<HashSet<i64>, sqlx::Error> {
        let sel = format!("SELECT id FROM chunks WHERE {cond}");
        let mut q = sqlx::query_scalar::<_, i64>(&sel);
        for b in binds {
            q = q.bind(b);
        }
        let ids: HashSet<i64> = q.fetch_all(&mut **tx).await?.into_iter().collect();
        for stmt in [
            format!("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE {cond})"),
            format!("DELETE FROM chunks WHERE {cond}"),
        ] {
            let mut q = sqlx::query(&stmt);
            for b in binds {
                q = q.bind(b);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(ids)
    }

    async fn optimize_fts(&self) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    /// Delete collections with everything in them; what went, and the new generation.
    pub async fn delete_collections(&self, ids: &[String]) -> Result<(Removed, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut removed = Removed::default();
        for id in ids {
            let chunks =
                Self::delete_chunks_where(&mut tx, "collection_id = ?", std::slice::from_ref(id))
                    .await?;
            removed.chunks += chunks.len() as u64;
            removed.documents += sqlx::query(shared::DELETE_DOCUMENTS_OF_COLLECTION)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            removed.collections += sqlx::query(shared::DELETE_COLLECTION)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let generation = bump(&mut tx).await?;
        tx.commit().await?;
        self.optimize_fts().await?;
        // The deleted text (chunks, full-text rows) is zeroed in the file by
        // `secure_delete`, but its old pages stay in the write-ahead log
        // until a checkpoint: take it now, not minutes later.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok((removed, generation))
    }

    pub async fn documents(&self, collection: &str) -> Result<Vec<Document>, sqlx::Error> {
        let rows = sqlx::query(shared::DOCUMENTS)
            .bind(collection)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(document_of).collect()
    }

    pub async fn document_by_source(
        &self,
        collection: &str,
        source: &str,
    ) -> Result<Option<Document>, sqlx::Error> {
        let row = sqlx::query(shared::DOCUMENT_BY_SOURCE)
            .bind(collection)
            .bind(source)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(document_of).transpose()
    }

    pub async fn delete_document(
        &self,
        collection: &str,
        document: &str,
    ) -> Result<Option<(HashSet<i64>, i64)>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let binds = [document.to_owned(), collection.to_owned()];
        let ids =
            Self::delete_chunks_where(&mut tx, "document_id = ? AND collection_id = ?", &binds)
                .await?;
        let n = sqlx::query(shared::DELETE_DOCUMENT)
            .bind(document)
            .bind(collection)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(None);
        }
        let generation = bump(&mut tx).await?;
        tx.commit().await?;
        self.optimize_fts().await?;
        Ok(Some((ids, generation)))
    }

    /// Put `doc` in place of whatever had its (collection, source), or was
    /// document `replaces` of its collection (a sealed source matches no
    /// other), in one transaction: the old chunk ids, the new ones, the new
    /// generation. `indexed`: whether its chunks get full-text rows.
    pub async fn replace_document(
        &self,
        doc: &Document,
        chunks: &[Chunk],
        vectors: &[Vec<f32>],
        indexed: bool,
        replaces: Option<&str>,
    ) -> Result<(HashSet<i64>, Vec<i64>, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let binds = [
            doc.collection_id.clone(),
            doc.source.clone(),
            replaces.unwrap_or_default().to_owned(),
        ];
        let old = Self::delete_chunks_where(
            &mut tx,
            "document_id IN (SELECT id FROM documents WHERE collection_id = ? AND (source = ? OR id = ?))",
            &binds,
        )
        .await?;
        sqlx::query(shared::DELETE_REPLACED_DOCUMENT)
            .bind(&doc.collection_id)
            .bind(&doc.source)
            .bind(replaces.unwrap_or_default())
            .execute(&mut *tx)
            .await?;
        sqlx::query(shared::INSERT_DOCUMENT)
            .bind(&doc.id)
            .bind(&doc.collection_id)
            .bind(&doc.source)
            .bind(&doc.title)
            .bind(&doc.url)
            .bind(&doc.language)
            .bind(&doc.effective_date)
            .bind(&doc.content_hash)
            .bind(doc.bytes as i64)
            .bind(doc.chunks as i64)
            .bind(doc.created_at)
            .execute(&mut *tx)
            .await?;
        let mut new = Vec::with_capacity(chunks.len());
        for (ord, (c, v)) in chunks.iter().zip(vectors).enumerate() {
            let id: i64 = sqlx::query_scalar("INSERT INTO chunks (document_id, collection_id, ord, heading, text, embedding) VALUES (?, ?, ?, ?, ?, ?) RETURNING id")
                .bind(&doc.id)
                .bind(&doc.collection_id)
                .bind(ord as i64)
                .bind(&c.heading)
                .bind(&c.text)
                .bind(blob(v))
                .fetch_one(&mut *tx)
                .await?;
            if indexed {
                sqlx::query("INSERT INTO chunks_fts (rowid, body, collection_id) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(fts_body(&doc.title, &c.heading, &c.text))
                    .bind(&doc.collection_id)
                    .execute(&mut *tx)
                    .await?;
            }
            new.push(id);
        }
        let generation = bump(&mut tx).await?;
        tx.commit().await?;
        if !old.is_empty() {
            self.optimize_fts().await?;
        }
        Ok((old, new, generation))
    }

    pub async fn delete_documents_before(
        &self,
        collections: &[String],
        cutoff: i64,
    ) -> Result<(Removed, HashSet<i64>, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut removed = Removed::default();
        let mut ids = HashSet::new();
        for c in collections {
            let binds = [c.clone(), cutoff.to_string()];
            let gone = Self::delete_chunks_where(
                &mut tx,
                "document_id IN (SELECT id FROM documents WHERE collection_id = ? AND created_at < CAST(? AS INTEGER))",
                &binds,
            )
            .await?;
            removed.chunks += gone.len() as u64;
            ids.extend(gone);
            removed.documents += sqlx::query(shared::DELETE_DOCUMENTS_BEFORE)
                .bind(c)
                .bind(cutoff)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let generation = bump(&mut tx).await?;
        tx.commit().await?;
        if removed.documents > 0 {
            self.optimize_fts().await?;
        }
        Ok((removed, ids, generation))
    }

    /// BM25-ranked chunk ids among `allowed` collections, with their BM25
    /// score (higher is better: FTS5's `bm25()` negated).
    ///
    /// The collection filter reads each matching row's `collection_id`
    /// from the FTS content table, about half the query's cost over a
    /// large index; when `allowed` holds every collection (checked in the
    /// same read snapshot as the query) it would keep every row, so it is
    /// left out. The results are the same either way.
    pub async fn fts(
        &self,
        text: &str,
        allowed: &HashSet<String>,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, sqlx::Error> {
        let Some(q) = fts_query(text) else {
            return Ok(Vec::new());
        };
        let mut tx = self.pool.begin().await?;
        let all: Vec<String> = sqlx::query_scalar("SELECT id FROM collections")
            .fetch_all(&mut *tx)
            .await?;
        let every = all.iter().all(|c| allowed.contains(c));
        let filter = if every {
            String::new()
        } else {
            format!(" AND collection_id IN ({})", placeholders(allowed.len()))
        };
        let sql = format!(
            "SELECT rowid, -bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ?{filter} ORDER BY bm25(chunks_fts) LIMIT ?"
        );
        let mut query = sqlx::query_as::<_, (i64, f64)>(&sql).bind(q);
        if !every {
            for a in allowed {
                query = query.bind(a);
            }
        }
        let rows = query.bind(limit as i64).fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(id, s)| (id, s as f32)).collect())
    }

    pub async fn fts_count(&self, term: &str) -> Result<u64, sqlx::Error> {
        let Some(q) = fts_query(term) else {
            return Ok(0);
        };
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?")
            .bind(q)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// The passages of `fused` (id, score), in that order, each with its
    /// place in its document (`ord`, which a sealed passage is bound to).
    pub async fn hits(&self, fused: &[(i64, f32)]) -> Result<Vec<(Hit, i64)>, sqlx::Error> {
        if fused.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{} IN ({})",
            shared::HITS_WHERE_ID,
            placeholders(fused.len())
        );
        let mut q = sqlx::query(&sql);
        for (id, _) in fused {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut by_id = std::collections::HashMap::new();
        for r in rows {
            let id: i64 = r.try_get("id")?;
            let ord: i64 = r.try_get("ord")?;
            by_id.insert(
                id,
                (
                    Hit {
                        chunk_id: id,
                        document_id: r.try_get("document_id")?,
                        collection_id: r.try_get("collection_id")?,
                        source: r.try_get("source")?,
                        title: r.try_get("title")?,
                        url: r.try_get("url")?,
                        language: r.try_get("language")?,
                        effective_date: r.try_get("effective_date")?,
                        heading: r.try_get("heading")?,
                        text: r.try_get("text")?,
                        score: 0.0,
                        similarity: None,
                        relevance: None,
                    },
                    ord,
                ),
            );
        }
        Ok(fused
            .iter()
            .filter_map(|(id, s)| {
                by_id.remove(id).map(|(mut h, ord)| {
                    h.score = *s;
                    (h, ord)
                })
            })
            .collect())
    }

    /// The passages of `collections` (private ones), by id, at most `limit`.
    pub async fn passages(
        &self,
        collections: &[String],
        limit: usize,
    ) -> Result<Vec<StoredPassage>, sqlx::Error> {
        if collections.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "{} IN ({}) ORDER BY c.id LIMIT ?",
            shared::PASSAGES_WHERE_COLLECTION,
            placeholders(collections.len())
        );
        let mut q = sqlx::query(&sql);
        for c in collections {
            q = q.bind(c);
        }
        let rows = q.bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(StoredPassage {
                    id: r.try_get(0)?,
                    document_id: r.try_get(1)?,
                    collection_id: r.try_get(2)?,
                    ord: r.try_get(3)?,
                    heading: r.try_get(4)?,
                    text: r.try_get(5)?,
                    title: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// How many passages (tenant, owner)'s private collections hold, but
    /// those of document `except`.
    pub async fn private_passages_of(
        &self,
        tenant: &str,
        owner: &str,
        except: &str,
    ) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(shared::PRIVATE_PASSAGES_OF)
            .bind(tenant)
            .bind(owner)
            .bind(except)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    pub async fn counts(&self) -> Result<Counts, sqlx::Error> {
        let one = |sql: &'static str| async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&self.pool)
                .await
                .map(|n| n as u64)
        };
        Ok(Counts {
            collections: one(shared::COUNT_COLLECTIONS).await?,
            documents: one(shared::COUNT_DOCUMENTS).await?,
            chunks: one(shared::COUNT_CHUNKS).await?,
            fts_rows: one("SELECT count(*) FROM chunks_fts").await?,
            vectors: 0,
        })
    }

    pub async fn bulk_synthetic(
        &self,
        collection: &str,
        n: usize,
        per_doc: usize,
        text_of: &(dyn Fn(usize) -> String + Sync),
        vector_of: &(dyn Fn(usize) -> Vec<f32> + Sync),
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let private: bool = sqlx::query_scalar(
            "SELECT count(*) > 0 FROM collections WHERE id = ? AND scope = 'private'",
        )
        .bind(collection)
        .fetch_one(&mut *tx)
        .await?;
        let mut doc = String::new();
        for i in 0..n {
            if i % per_doc == 0 {
                doc = format!("file-synthetic-{collection}-{}", i / per_doc);
                sqlx::query(shared::INSERT_SYNTHETIC_DOCUMENT)
                    .bind(&doc)
                    .bind(collection)
                    .bind(format!("Synthetic document {}", i / per_doc))
                    .bind(per_doc as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            let text = text_of(i);
            let id: i64 = sqlx::query_scalar("INSERT INTO chunks (document_id, collection_id, ord, heading, text, embedding) VALUES (?, ?, ?, '', ?, ?) RETURNING id")
                .bind(&doc)
                .bind(collection)
                .bind((i % per_doc) as i64)
                .bind(&text)
                .bind(blob(&vector_of(i)))
                .fetch_one(&mut *tx)
                .await?;
            if private {
                continue;
            }
            sqlx::query("INSERT INTO chunks_fts (rowid, body, collection_id) VALUES (?, ?, ?)")
                .bind(id)
                .bind(&text)
                .bind(collection)
                .execute(&mut *tx)
                .await?;
        }
        bump(&mut tx).await?;
        tx.commit().await
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// `rebuild_fts` recreates the full-text table exactly as migration 0001 made it.
    #[test]
    fn the_rebuilt_fulltext_table_is_the_migrations() {
        let initial = include_str!("../migrations/sqlite/0001_initial.sql");
        assert!(initial.contains(&format!("{FTS};")));
    }

    /// Issue 21, finding 15: `knowledge.db` and its backups are the owner's only.
    #[tokio::test]
    async fn the_database_and_its_backup_are_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knowledge.db");
        let db = Db::open(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        let wal = dir.path().join("knowledge.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
        let backup = dir.path().join("b.knowledge.db");
        db.backup_to(&backup).await.unwrap();
        assert_eq!(mode(&backup), 0o600);
        assert!(db.backup_to(&backup).await.is_err(), "never over a file");
    }
}
