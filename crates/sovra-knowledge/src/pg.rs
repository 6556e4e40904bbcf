//! The PostgreSQL backend: the knowledge base several replicas share.
//!
//! The same tables as `knowledge.db` (`store.rs`), prefixed `knowledge_`
//! so they sit beside the platform store's in the same database, made by
//! the migrations in `migrations/postgres` at open (`migrate.rs`, under an
//! advisory lock, so replicas starting together do not race). The SQL both
//! backends run is written once, in `sql.rs`; what is here is PostgreSQL's
//! own (`tsvector`, `ANY`, `RETURNING` deletes, `VACUUM`). Embeddings are `bytea` (the same little-endian
//! f32s as the SQLite blob); the full-text index is a `tsvector` column on
//! each chunk, built with the `simple` configuration from the same body
//! text FTS5 indexes ([`crate::store::fts_body`]), under a GIN index;
//! chunks of private collections have none (their text is sealed,
//! `sealing.rs`, and searched in memory).
//! Uploaded files' bytes are `bytea` too (sealed with the owner's key when
//! the server gave a sealer, `sealing.rs`).
//!
//! Every write transaction bumps `knowledge_meta.generation` *first*: the
//! row lock serialises writers across replicas, and every replica's
//! in-memory vector index compares its generation with the database's and
//! reloads when another replica wrote. Erasures end with a `VACUUM` of the
//! tables they touched (index cleanup forced), so dead row versions holding
//! erased text, embeddings, lexemes or file bytes are pruned, not left for
//! autovacuum.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crate::chunk::Chunk;
use crate::files::{self, FileListQuery, FilePage};
use crate::files::{MAX_FILES_PER_OWNER, StoredFile};
use crate::search::{Hit, render_terms};
use crate::sql::postgres as shared;
use crate::store::{StoredPassage, blob, fts_body, unblob};
use crate::{Caller, Collection, Counts, Document, Error, Removed, Scope, Visibility};

/// After an erasure: prune dead row versions (and their index entries) now.
const VACUUM_KNOWLEDGE: &str =
    "VACUUM (INDEX_CLEANUP ON) knowledge_chunks, knowledge_documents, knowledge_collections";
const VACUUM_FILES: &str = "VACUUM (INDEX_CLEANUP ON) knowledge_files";

/// A tsquery for free text: the search terms (prefix terms with `:*`), ORed. The terms
/// are letters and digits only; quoting them keeps it so.
pub fn ts_query(text: &str) -> Option<String> {
    render_terms(text, |t| format!("'{t}':*"), |t| format!("'{t}'"), " | ")
}

/// Rank of a chunk for a query, higher is better: term frequency with the
/// body's length dampened (`1`: divided by 1 + log(length)), close to what
/// BM25 weighs; fusion min-max normalises it as it does `-bm25()`.
const RANK: &str = "ts_rank(fts, to_tsquery('simple', $1), 1)";

pub struct Db {
    pool: PgPool,
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Take the generation row (serialising writers across replicas) and bump it.
async fn bump(tx: &mut Tx<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(shared::BUMP).fetch_one(&mut **tx).await
}

fn collection_of(r: &PgRow) -> Result<Collection, sqlx::Error> {
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

fn document_of(r: &PgRow) -> Result<Document, sqlx::Error> {
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

fn file_of(r: &PgRow) -> Result<StoredFile, sqlx::Error> {
    Ok(StoredFile {
        id: r.try_get("id")?,
        filename: r.try_get("filename")?,
        purpose: r.try_get("purpose")?,
        bytes: r.try_get::<i64, _>("bytes")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

fn file_not_found(id: &str) -> Error {
    Error::NotFound {
        what: "file",
        id: id.to_owned(),
    }
}

fn ids_of(ids: Vec<i64>) -> HashSet<i64> {
    ids.into_iter().collect()
}

impl Db {
    /// Connect to `url` (`postgres://user@host/db`) and migrate the schema.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = PgConnectOptions::from_str(url)?.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        crate::migrate::postgres(&pool).await?;
        Ok(Self { pool })
    }

    pub async fn generation(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(shared::GENERATION)
            .fetch_one(&self.pool)
            .await
    }

    /// This knowledge base's random id (names the vector index file, so a
    /// file built from another database is never taken for this one's).
    pub async fn instance(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT value FROM knowledge_meta WHERE key = 'instance'")
            .fetch_one(&self.pool)
            .await
    }

    async fn vacuum(&self, stmt: &str) -> Result<(), sqlx::Error> {
        sqlx::query(stmt).execute(&self.pool).await.map(|_| ())
    }

    /// Fill the full-text column of chunks that lack it; the number filled.
    pub async fn ensure_fts(&self) -> Result<u64, sqlx::Error> {
        self.fill_fts(false).await
    }

    pub async fn rebuild_fts(&self) -> Result<u64, sqlx::Error> {
        self.fill_fts(true).await
    }

    async fn fill_fts(&self, all: bool) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Private passages written before they were kept out of the index
        // lose their lexemes (a no-op once done).
        let cleared = sqlx::query(&format!(
            "UPDATE knowledge_chunks SET fts = NULL WHERE fts IS NOT NULL AND NOT ({})",
            shared::INDEXED_CHUNK
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let sql = format!(
            "SELECT c.id, d.title, c.heading, c.text FROM knowledge_chunks c
             JOIN knowledge_documents d ON d.id = c.document_id WHERE c.{} {} ORDER BY c.id",
            shared::INDEXED_CHUNK,
            if all { "" } else { "AND c.fts IS NULL" }
        );
        let rows: Vec<(i64, String, String, String)> =
            sqlx::query_as(&sql).fetch_all(&mut *tx).await?;
        let mut n = 0;
        for batch in rows.chunks(500) {
            let ids: Vec<i64> = batch.iter().map(|r| r.0).collect();
            let bodies: Vec<String> = batch.iter().map(|r| fts_body(&r.1, &r.2, &r.3)).collect();
            n += sqlx::query(
                "UPDATE knowledge_chunks c SET fts = to_tsvector('simple', u.body)
                 FROM UNNEST($1::BIGINT[], $2::TEXT[]) AS u(id, body) WHERE c.id = u.id",
            )
            .bind(&ids)
            .bind(&bodies)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        if cleared > 0 {
            self.vacuum(VACUUM_KNOWLEDGE).await?;
        }
        Ok(n + cleared)
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
        sqlx::query(shared::INSERT_COLLECTION)
            .bind(&c.id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(c.visibility.scope.as_str())
            .bind(&c.visibility.tenant)
            .bind(&c.visibility.owner)
            .bind(c.created_at)
            .execute(&self.pool)
            .await?;
        // Creating a collection adds no vectors; the generation stays.
        Ok(())
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

    /// Delete collections with everything in them; what went, and the new generation.
    pub async fn delete_collections(&self, ids: &[String]) -> Result<(Removed, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let generation = bump(&mut tx).await?;
        let mut removed = Removed::default();
        for id in ids {
            let chunks: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM knowledge_chunks WHERE collection_id = $1 RETURNING id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
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
        tx.commit().await?;
        self.vacuum(VACUUM_KNOWLEDGE).await?;
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
        let generation = bump(&mut tx).await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM knowledge_chunks WHERE document_id = $1 AND collection_id = $2 RETURNING id",
        )
        .bind(document)
        .bind(collection)
        .fetch_all(&mut *tx)
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
        tx.commit().await?;
        self.vacuum(VACUUM_KNOWLEDGE).await?;
        Ok(Some((ids_of(ids), generation)))
    }

    /// Put `doc` in place of whatever had its (collection, source), in one
    /// transaction: the old chunk ids, the new ones, the new generation.
    pub async fn replace_document(
        &self,
        doc: &Document,
        chunks: &[Chunk],
        vectors: &[Vec<f32>],
        indexed: bool,
        replaces: Option<&str>,
    ) -> Result<(HashSet<i64>, Vec<i64>, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let generation = bump(&mut tx).await?;
        let old: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM knowledge_chunks WHERE document_id IN
             (SELECT id FROM knowledge_documents WHERE collection_id = $1 AND (source = $2 OR id = $3)) RETURNING id",
        )
        .bind(&doc.collection_id)
        .bind(&doc.source)
        .bind(replaces.unwrap_or_default())
        .fetch_all(&mut *tx)
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
            let id: i64 = sqlx::query_scalar("INSERT INTO knowledge_chunks (document_id, collection_id, ord, heading, text, embedding, fts) VALUES ($1, $2, $3, $4, $5, $6, to_tsvector('simple', $7)) RETURNING id")
                .bind(&doc.id)
                .bind(&doc.collection_id)
                .bind(ord as i64)
                .bind(&c.heading)
                .bind(&c.text)
                .bind(blob(v))
                .bind(indexed.then(|| fts_body(&doc.title, &c.heading, &c.text)))
                .fetch_one(&mut *tx)
                .await?;
            new.push(id);
        }
        tx.commit().await?;
        if !old.is_empty() {
            self.vacuum(VACUUM_KNOWLEDGE).await?;
        }
        Ok((ids_of(old), new, generation))
    }

    pub async fn delete_documents_before(
        &self,
        collections: &[String],
        cutoff: i64,
    ) -> Result<(Removed, HashSet<i64>, i64), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let generation = bump(&mut tx).await?;
        let mut removed = Removed::default();
        let mut ids = HashSet::new();
        for c in collections {
            let gone: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM knowledge_chunks WHERE document_id IN
                 (SELECT id FROM knowledge_documents WHERE collection_id = $1 AND created_at < $2) RETURNING id",
            )
            .bind(c)
            .bind(cutoff)
            .fetch_all(&mut *tx)
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
        tx.commit().await?;
        if removed.documents > 0 {
            self.vacuum(VACUUM_KNOWLEDGE).await?;
        }
        Ok((removed, ids, generation))
    }

    /// Ranked chunk ids among `allowed` collections, with their rank
    /// (higher is better).
    pub async fn fts(
        &self,
        text: &str,
        allowed: &HashSet<String>,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, sqlx::Error> {
        let Some(q) = ts_query(text) else {
            return Ok(Vec::new());
        };
        let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
        let sql = format!(
            "SELECT id, {RANK} AS score FROM knowledge_chunks
             WHERE fts @@ to_tsquery('simple', $1) AND collection_id = ANY($2)
             ORDER BY score DESC, id LIMIT $3"
        );
        let rows: Vec<(i64, f32)> = sqlx::query_as(&sql)
            .bind(q)
            .bind(&allowed)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    pub async fn fts_count(&self, term: &str) -> Result<u64, sqlx::Error> {
        let Some(q) = ts_query(term) else {
            return Ok(0);
        };
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM knowledge_chunks WHERE fts @@ to_tsquery('simple', $1)",
        )
        .bind(q)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// The passages of `fused` (id, score), in that order.
    pub async fn hits(&self, fused: &[(i64, f32)]) -> Result<Vec<(Hit, i64)>, sqlx::Error> {
        if fused.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = fused.iter().map(|(id, _)| *id).collect();
        let rows = sqlx::query(&format!("{} = ANY($1)", shared::HITS_WHERE_ID))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
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
            "{} = ANY($1) ORDER BY c.id LIMIT $2",
            shared::PASSAGES_WHERE_COLLECTION
        );
        let rows = sqlx::query(&sql)
            .bind(collections)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
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
            fts_rows: one("SELECT count(*) FROM knowledge_chunks WHERE fts IS NOT NULL").await?,
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
        bump(&mut tx).await?;
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
            sqlx::query("INSERT INTO knowledge_chunks (document_id, collection_id, ord, heading, text, embedding, fts) VALUES ($1, $2, $3, '', $4, $5, CASE WHEN $2 IN (SELECT id FROM knowledge_collections WHERE scope = 'private') THEN NULL ELSE to_tsvector('simple', $4) END)")
                .bind(&doc)
                .bind(collection)
                .bind((i % per_doc) as i64)
                .bind(&text)
                .bind(blob(&vector_of(i)))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    }

    // Uploaded files (see `files.rs` for what they are).

    pub async fn add_file(
        &self,
        caller: &Caller,
        file: &StoredFile,
        content: &[u8],
    ) -> Result<(), Error> {
        let mut tx = self.pool.begin().await?;
        // One uploader at a time per person, so the cap holds across replicas.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("knowledge_files/{}/{}", caller.tenant, caller.user))
            .execute(&mut *tx)
            .await?;
        let held: i64 = sqlx::query_scalar(shared::COUNT_FILES_OF)
            .bind(&caller.tenant)
            .bind(&caller.user)
            .fetch_one(&mut *tx)
            .await?;
        if held as u64 >= MAX_FILES_PER_OWNER {
            return Err(crate::files::too_many());
        }
        sqlx::query(shared::INSERT_FILE)
            .bind(&file.id)
            .bind(&caller.tenant)
            .bind(&caller.user)
            .bind(&file.filename)
            .bind(&file.purpose)
            .bind(file.bytes as i64)
            .bind(file.created_at)
            .bind(content)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of the caller's files by (`created_at`, `id`), keyset-paged
    /// as on SQLite (`files::list`): `limit + 1` rows, never the whole list.
    pub async fn list_files(&self, caller: &Caller, q: &FileListQuery) -> Result<FilePage, Error> {
        let created: Option<i64> = match &q.after {
            None => None,
            Some(after) => {
                sqlx::query_scalar(shared::FILE_CREATED_AT)
                    .bind(after)
                    .bind(&caller.tenant)
                    .bind(&caller.user)
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        let cursor = files::cursor(q, created)?;
        let sql = files::page_sql(shared::FILES, q, cursor.is_some());
        let mut query = sqlx::query(&sql).bind(&caller.tenant).bind(&caller.user);
        if let Some(p) = &q.purpose {
            query = query.bind(p);
        }
        if let Some((created, id)) = &cursor {
            query = query.bind(created).bind(id);
        }
        let rows = query
            .bind(files::page_rows(q))
            .fetch_all(&self.pool)
            .await?;
        let page: Vec<StoredFile> = rows.iter().map(file_of).collect::<Result<_, _>>()?;
        Ok(FilePage::of(page, q))
    }

    pub async fn file(&self, caller: &Caller, id: &str) -> Result<StoredFile, Error> {
        let row = sqlx::query(shared::FILE)
            .bind(id)
            .bind(&caller.tenant)
            .bind(&caller.user)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(file_of(&r)?),
            None => Err(file_not_found(id)),
        }
    }

    pub async fn file_content(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(StoredFile, Vec<u8>), Error> {
        let row = sqlx::query(
            "SELECT id, filename, purpose, bytes, created_at, content FROM knowledge_files
             WHERE id = $1 AND tenant = $2 AND owner = $3",
        )
        .bind(id)
        .bind(&caller.tenant)
        .bind(&caller.user)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok((file_of(&r)?, r.try_get("content")?)),
            None => Err(file_not_found(id)),
        }
    }

    pub async fn delete_file(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        let n = sqlx::query(shared::DELETE_FILE)
            .bind(id)
            .bind(&caller.tenant)
            .bind(&caller.user)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(file_not_found(id));
        }
        Ok(self.vacuum(VACUUM_FILES).await?)
    }

    /// Every file of (tenant, user); how many went.
    pub async fn erase_files(&self, tenant: &str, user: &str) -> Result<u64, Error> {
        let n = sqlx::query(shared::ERASE_FILES)
            .bind(tenant)
            .bind(user)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n > 0 {
            self.vacuum(VACUUM_FILES).await?;
        }
        Ok(n)
    }

    /// Retention: files of `tenant` uploaded before `cutoff` (Unix seconds).
    pub async fn purge_files(&self, tenant: &str, cutoff: i64) -> Result<u64, Error> {
        let n = sqlx::query(shared::PURGE_FILES)
            .bind(tenant)
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n > 0 {
            self.vacuum(VACUUM_FILES).await?;
        }
        Ok(n)
    }

    pub async fn file_tenants(&self) -> Result<Vec<String>, Error> {
        Ok(sqlx::query_scalar(shared::FILE_TENANTS)
            .fetch_all(&self.pool)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsquery_terms_are_words_ored_long_ones_as_prefixes() {
        assert_eq!(
            ts_query("How do I renew my \"passport\" OR NOT* -xy?").as_deref(),
            Some("'renew' | 'passpor':* | 'xy'")
        );
        assert_eq!(ts_query("What is it?"), None);
        assert_eq!(ts_query("it's: & | ! ( ) <->"), None);
    }
}
