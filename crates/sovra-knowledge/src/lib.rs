//! National knowledge: answers grounded in official documents.
//!
//! A [`Knowledge`] base holds collections of documents, each visible by
//! (scope, tenant, owner) (see [`access`]): public national documents,
//! an agency's own, one user's uploads. Ingesting a document extracts its
//! text ([`extract`]: Markdown, HTML, text, PDF, DOCX), cuts it into
//! passages at headings and sentence ends ([`chunk`]), embeds each passage
//! with the multilingual embedder behind the [`Embedder`] seam, and stores
//! everything in one of two backends ([`Storage`]): `knowledge.db` (SQLite)
//! in the data dir, or the `knowledge_*` tables of a PostgreSQL database
//! that several replicas share. Either holds documents, chunks with their
//! embeddings, uploaded files and a full-text index (FTS5, or a `tsvector`
//! column). The vector index ([`index`]) is a cache of the stored
//! embeddings, kept in memory and in a file in the data dir, and reloaded
//! when another process or replica wrote. A search runs both indexes over only the collections
//! the caller may read and merges them, by default by adding their
//! normalised scores ([`search`]); the vector side ranks by cosines with
//! each language's mean taken out ([`index`]), so a question finds a
//! passage in another language. Every document has a content hash: ingesting the same
//! bytes again does nothing, changed bytes replace the old chunks.
//!
//! Private collections are one person's: with a [`FileSealer`] their
//! documents' titles, sources and URLs and their passages' text and
//! headings are sealed with the owner's key ([`sealing`]), so they have no
//! full-text rows; a search that reaches them (only their owner's does)
//! opens their passages and ranks them by BM25 in memory
//! ([`search::bm25_in_memory`]), at most [`Limits::max_private_passages`]
//! of them per person.

pub mod access;
mod backend;
pub mod chunk;
pub mod embed;
pub mod eval;
pub mod extract;
pub mod files;
#[doc(hidden)]
pub mod fixtures;
pub mod index;
pub mod isolate;
pub mod lang;
mod migrate;
mod pg;
pub mod sealing;
pub mod search;
mod sql;
mod store;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

pub use access::{Caller, Scope, Visibility};
pub use backend::Storage;
pub use chunk::ChunkConfig;
pub use extract::Format;
pub use files::{FileListQuery, FilePage, MAX_LIST_LIMIT, StoredFile};
pub use sealing::{FileSealer, SealError};
pub use search::{Fusion, FusionMethod, Hit, Mode, Query, RelevanceFloor};
use serde::Serialize;
pub use sovra_embeddings::Embedder;
use sovra_embeddings::{EmbedError, EmbedInput};

use crate::index::VectorIndex;

/// What a knowledge operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no {what} found with id '{id}'")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid {what}: {problem}")]
    Invalid { what: &'static str, problem: String },
    #[error("the document is {bytes} bytes; this server accepts at most {max} bytes per document")]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "the document makes {chunks} chunks; this server accepts at most {max} chunks per document"
    )]
    TooManyChunks { chunks: usize, max: usize },
    #[error("the query is {chars} characters long; this server accepts at most {max}")]
    QueryTooLong { chars: usize, max: usize },
    #[error("could not read the {format} document: {problem}")]
    Extract {
        format: &'static str,
        problem: String,
    },
    #[error("`{0}` is not a supported document (use .md, .html, .txt, .pdf or .docx)")]
    UnknownFormat(String),
    #[error("embedding failed: {0}")]
    Embed(#[from] EmbedError),
    #[error("knowledge database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("knowledge index file: {0}")]
    Io(#[from] std::io::Error),
    #[error("internal error: {0}")]
    Internal(String),
    /// A file's bytes, or a private collection's text, could not be sealed
    /// or opened with its owner's key.
    #[error("sealing: {0}")]
    Seal(#[from] sealing::SealError),
}

/// Bounds on what one request may ask of the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Limits {
    /// Most bytes in one uploaded document.
    pub max_upload_bytes: usize,
    /// Most chunks one document may make.
    pub max_chunks_per_document: usize,
    /// Most characters in one search query.
    pub max_query_chars: usize,
    /// Most results one search returns.
    pub max_results: usize,
    /// Most passages one person's private collections hold together: a
    /// search that reaches them opens and ranks every one of them in
    /// memory (their text is sealed, so no full-text index holds it).
    #[serde(default = "default_max_private_passages")]
    pub max_private_passages: usize,
}

/// The default [`Limits::max_private_passages`]: one largest document
/// (`max_chunks_per_document`); a text search over that many takes about
/// 80-150 ms in an optimised build, 25 ms over 1,000 (docs/knowledge.md).
pub const DEFAULT_MAX_PRIVATE_PASSAGES: usize = 5000;

fn default_max_private_passages() -> usize {
    DEFAULT_MAX_PRIVATE_PASSAGES
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 20 * 1024 * 1024,
            max_chunks_per_document: 5000,
            max_query_chars: 2000,
            max_results: 50,
            max_private_passages: DEFAULT_MAX_PRIVATE_PASSAGES,
        }
    }
}

/// How to open a knowledge base.
#[derive(Debug, Clone)]
pub struct KnowledgeConfig {
    /// Where `knowledge.db` (SQLite) and the vector index file live.
    pub data_dir: PathBuf,
    /// Which backend holds the knowledge base.
    pub storage: Storage,
    pub limits: Limits,
    pub chunking: ChunkConfig,
    pub fusion: search::Fusion,
    /// How much of each language's mean passage vector the vector search
    /// subtracts (0: plain cosine; see [`index`]).
    pub language_centering: f32,
    /// Where PDF and DOCX files are read: `None` in this process (for
    /// documents one trusts: tests, evaluations); the server and the CLI
    /// read them in a child process with a memory and time limit
    /// ([`isolate`]).
    pub isolation: Option<isolate::Isolation>,
}

/// The default [`KnowledgeConfig::language_centering`], chosen on the
/// tuning questions (docs/knowledge.md).
pub const DEFAULT_LANGUAGE_CENTERING: f32 = 0.4;

impl KnowledgeConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            storage: Storage::Sqlite,
            limits: Limits::default(),
            chunking: ChunkConfig { max_chars: 800 },
            fusion: search::Fusion::default(),
            language_centering: DEFAULT_LANGUAGE_CENTERING,
            isolation: None,
        }
    }
}

/// A collection (an OpenAI "vector store").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    /// Unix seconds.
    pub created_at: i64,
    pub documents: u64,
    pub chunks: u64,
    pub bytes: u64,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub id: String,
    pub collection_id: String,
    /// The key it was ingested under (file name, path or URL): re-ingesting
    /// the same source replaces it.
    pub source: String,
    pub title: String,
    pub url: Option<String>,
    pub language: Option<String>,
    pub effective_date: Option<String>,
    pub content_hash: String,
    pub bytes: u64,
    pub chunks: u64,
    /// Unix seconds.
    pub created_at: i64,
}

/// A document to ingest, with what the caller knows about it (anything
/// given here wins over what the file says about itself).
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// The id a new document gets (an uploaded file's, when attached by
    /// `file_id`); None: a fresh one.
    pub id: Option<String>,
    pub source: String,
    pub format: Format,
    pub bytes: Vec<u8>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub language: Option<String>,
    pub effective_date: Option<String>,
}

impl NewDocument {
    /// A document whose format follows from its source's extension.
    pub fn from_source(source: &str, bytes: Vec<u8>) -> Result<Self, Error> {
        let format =
            Format::from_name(source).ok_or_else(|| Error::UnknownFormat(source.into()))?;
        Ok(Self {
            id: None,
            source: source.to_owned(),
            format,
            bytes,
            title: None,
            url: None,
            language: None,
            effective_date: None,
        })
    }
}

/// What ingesting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// A new document.
    Added,
    /// Same content as stored: nothing was done.
    Unchanged,
    /// The source's content changed: its old chunks were replaced.
    Replaced,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingested {
    pub document: Document,
    pub status: IngestStatus,
}

/// Row counts of everything the knowledge base stores (erasure checks, `status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub collections: u64,
    pub documents: u64,
    pub chunks: u64,
    pub fts_rows: u64,
    pub vectors: u64,
}

/// Everything the knowledge base holds of one person (the right of
/// access): their uploaded files with the bytes, and their private
/// collections with the documents in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKnowledge {
    pub files: Vec<(StoredFile, Vec<u8>)>,
    pub collections: Vec<(Collection, Vec<Document>)>,
}

/// What an erasure or purge removed from the knowledge base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub collections: u64,
    pub documents: u64,
    pub chunks: u64,
    /// Uploaded files (`/v1/files`), bytes included.
    pub files: u64,
}

struct Loaded {
    index: VectorIndex,
    generation: i64,
}

/// The knowledge base: see the crate docs.
pub struct Knowledge {
    db: backend::Db,
    embedder: Arc<dyn Embedder>,
    loaded: Arc<RwLock<Loaded>>,
    /// Serialises writes, so the in-memory index follows the database.
    writer: tokio::sync::Mutex<()>,
    config: KnowledgeConfig,
    vec_path: PathBuf,
    saving: Arc<AtomicBool>,
    dirty: Arc<AtomicBool>,
    /// Seals uploaded files and private collections' text with their
    /// owner's key (none: kept as given).
    sealer: Option<Arc<dyn FileSealer>>,
}

/// Whose key a collection's text is sealed with: its (tenant, owner) when
/// it is private.
fn sealed_for(c: &Collection) -> Option<(&str, &str)> {
    match (c.visibility.scope, c.visibility.owner.as_deref()) {
        (Scope::Private, Some(owner)) => Some((c.visibility.tenant.as_str(), owner)),
        _ => None,
    }
}

/// The collections a search reaches: every id, and the private ones.
struct Reach {
    ids: HashSet<String>,
    private: Vec<Collection>,
}

fn poisoned<T>(_: T) -> Error {
    Error::Internal("the vector index lock was poisoned".into())
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn check_name(what: &'static str, v: &str, max: usize) -> Result<(), Error> {
    if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(Error::Invalid {
            what,
            problem: format!("must be 1-{max} characters without control characters"),
        });
    }
    Ok(())
}

/// Delete (tenant, user)'s files and private collections in `db`: what
/// went, and when collections went, the new generation and their ids.
async fn erase_in(
    db: &backend::Db,
    tenant: &str,
    user: &str,
) -> Result<(Removed, Option<(i64, Vec<String>)>), Error> {
    let files = db.erase_files(tenant, user).await?;
    let ids = db.private_collections_of(tenant, user).await?;
    if ids.is_empty() {
        return Ok((
            Removed {
                files,
                ..Removed::default()
            },
            None,
        ));
    }
    let (mut removed, generation) = db.delete_collections(&ids).await?;
    removed.files = files;
    Ok((removed, Some((generation, ids))))
}

impl Knowledge {
    /// Open (or create) the knowledge base in `config.storage` (the data
    /// dir's `knowledge.db` or a PostgreSQL database); rebuilds the
    /// full-text and vector indexes from the stored chunks when they are
    /// missing or stale.
    pub async fn open(config: KnowledgeConfig, embedder: Arc<dyn Embedder>) -> Result<Self, Error> {
        // Owner-only when made here (the binary makes and tightens it first).
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            dir.mode(0o700);
        }
        dir.create(&config.data_dir)?;
        let db = backend::Db::open(&config.storage, &config.data_dir).await?;
        let fts_rebuilt = db.ensure_fts().await?;
        if fts_rebuilt > 0 {
            tracing::warn!(
                chunks = fts_rebuilt,
                "rebuilt the knowledge full-text index from the stored chunks"
            );
        }
        let vec_path = config.data_dir.join(db.vec_file().await?);
        let generation = db.generation().await?;
        let dim = embedder.dimensions();
        let path = vec_path.clone();
        let cached = tokio::task::spawn_blocking(move || VectorIndex::load(&path, dim, generation))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        let me = Self {
            loaded: Arc::new(RwLock::new(Loaded {
                index: VectorIndex::new(dim),
                generation: -1,
            })),
            db,
            embedder,
            writer: tokio::sync::Mutex::new(()),
            config,
            vec_path,
            saving: Arc::new(AtomicBool::new(false)),
            dirty: Arc::new(AtomicBool::new(false)),
            sealer: None,
        };
        match cached {
            Some(mut index) => {
                index.set_centering(me.config.language_centering);
                index.recenter();
                *me.loaded.write().map_err(poisoned)? = Loaded { index, generation };
            }
            None => {
                let n = me.reload_vectors().await?;
                if n > 0 {
                    tracing::info!(
                        vectors = n,
                        "rebuilt the knowledge vector index from the stored embeddings"
                    );
                }
                me.flush().await?;
            }
        }
        Ok(me)
    }

    /// Seal uploaded files and private collections' text from now on with
    /// `sealer` (the server gives one over the store's keys); what was
    /// written before stays readable.
    pub fn with_sealer(mut self, sealer: Arc<dyn FileSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// The stored bytes of `caller`'s file, opened.
    async fn open_file(
        &self,
        caller: &Caller,
        file: StoredFile,
        stored: Vec<u8>,
    ) -> Result<(StoredFile, Vec<u8>), Error> {
        let bytes = sealing::open(
            self.sealer.as_deref(),
            &caller.tenant,
            &caller.user,
            &file.id,
            stored,
        )
        .await?;
        Ok((file, bytes))
    }

    /// A sealed text field of private collection `c`.
    fn field<'a>(
        c: &'a Collection,
        (tenant, owner): (&'a str, &'a str),
        row: &'a str,
        field: &'a str,
    ) -> sealing::Field<'a> {
        sealing::Field {
            tenant,
            owner,
            collection: &c.id,
            row,
            field,
        }
    }

    /// `doc` as stored in `c`: title, source and URL sealed when `c` is
    /// private (and there is a sealer).
    async fn seal_document(&self, c: &Collection, mut doc: Document) -> Result<Document, Error> {
        let Some(who) = sealed_for(c) else {
            return Ok(doc);
        };
        let sealer = self.sealer.as_deref();
        let id = doc.id.clone();
        doc.title =
            sealing::seal_text(sealer, Self::field(c, who, &id, "title"), &doc.title).await?;
        doc.source =
            sealing::seal_text(sealer, Self::field(c, who, &id, "source"), &doc.source).await?;
        if let Some(url) = &doc.url {
            doc.url = Some(sealing::seal_text(sealer, Self::field(c, who, &id, "url"), url).await?);
        }
        Ok(doc)
    }

    /// A stored document of `c`, opened.
    async fn open_document(&self, c: &Collection, mut doc: Document) -> Result<Document, Error> {
        let Some(who) = sealed_for(c) else {
            return Ok(doc);
        };
        let id = doc.id.clone();
        let aad = |field| Self::field(c, who, &id, field).aad();
        let mut fields = vec![
            (aad("title"), std::mem::take(&mut doc.title)),
            (aad("source"), std::mem::take(&mut doc.source)),
        ];
        let url = doc.url.take();
        if let Some(url) = url.clone() {
            fields.push((aad("url"), url));
        }
        let mut opened = sealing::open_texts(self.sealer.as_deref(), who.0, who.1, fields)
            .await?
            .into_iter();
        doc.title = opened.next().unwrap_or_default();
        doc.source = opened.next().unwrap_or_default();
        doc.url = url.and(opened.next());
        Ok(doc)
    }

    /// The stored documents of `c`, opened.
    async fn open_documents(&self, c: &Collection) -> Result<Vec<Document>, Error> {
        let mut out = Vec::new();
        for d in self.db.documents(&c.id).await? {
            out.push(self.open_document(c, d).await?);
        }
        Ok(out)
    }

    /// The document of `c` ingested under `source`, opened. A private
    /// collection's sources may be sealed (no two alike), so they are
    /// opened and compared; its documents are few (within
    /// [`Limits::max_private_passages`]).
    async fn document_by_source(
        &self,
        c: &Collection,
        source: &str,
    ) -> Result<Option<Document>, Error> {
        if sealed_for(c).is_none() {
            return Ok(self.db.document_by_source(&c.id, source).await?);
        }
        Ok(self
            .open_documents(c)
            .await?
            .into_iter()
            .find(|d| d.source == source))
    }

    /// The chunks of document `doc` as stored in `c`: text and heading
    /// sealed when `c` is private.
    async fn seal_chunks(
        &self,
        c: &Collection,
        doc: &str,
        chunks: Vec<chunk::Chunk>,
    ) -> Result<Vec<chunk::Chunk>, Error> {
        let Some(who) = sealed_for(c) else {
            return Ok(chunks);
        };
        let sealer = self.sealer.as_deref();
        let mut out = Vec::with_capacity(chunks.len());
        for (ord, ch) in chunks.into_iter().enumerate() {
            let row = sealing::passage_row(doc, ord as i64);
            out.push(chunk::Chunk {
                heading: sealing::seal_text(
                    sealer,
                    Self::field(c, who, &row, "heading"),
                    &ch.heading,
                )
                .await?,
                text: sealing::seal_text(sealer, Self::field(c, who, &row, "text"), &ch.text)
                    .await?,
            });
        }
        Ok(out)
    }

    /// A hit (passage `ord` of its document) from `c`, opened.
    async fn open_hit(&self, c: &Collection, mut h: Hit, ord: i64) -> Result<Hit, Error> {
        let Some(who) = sealed_for(c) else {
            return Ok(h);
        };
        let doc = h.document_id.clone();
        let row = sealing::passage_row(&doc, ord);
        let mut fields = vec![
            (
                Self::field(c, who, &row, "heading").aad(),
                std::mem::take(&mut h.heading),
            ),
            (
                Self::field(c, who, &row, "text").aad(),
                std::mem::take(&mut h.text),
            ),
            (
                Self::field(c, who, &doc, "title").aad(),
                std::mem::take(&mut h.title),
            ),
            (
                Self::field(c, who, &doc, "source").aad(),
                std::mem::take(&mut h.source),
            ),
        ];
        let url = h.url.take();
        if let Some(url) = url.clone() {
            fields.push((Self::field(c, who, &doc, "url").aad(), url));
        }
        let mut opened = sealing::open_texts(self.sealer.as_deref(), who.0, who.1, fields)
            .await?
            .into_iter();
        h.heading = opened.next().unwrap_or_default();
        h.text = opened.next().unwrap_or_default();
        h.title = opened.next().unwrap_or_default();
        h.source = opened.next().unwrap_or_default();
        h.url = url.and(opened.next());
        Ok(h)
    }

    /// The full-text list over the private collections a search reaches:
    /// their passages opened (at most [`Limits::max_private_passages`], the
    /// most their one owner may hold) and ranked by BM25 in memory.
    async fn private_text_hits(
        &self,
        private: &[Collection],
        text: &str,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, Error> {
        if private.is_empty() || search::fts_terms(text).is_empty() {
            return Ok(Vec::new());
        }
        let max = self.config.limits.max_private_passages;
        let ids: Vec<String> = private.iter().map(|c| c.id.clone()).collect();
        let mut passages = self.db.passages(&ids, max.saturating_add(1)).await?;
        if passages.len() > max {
            // Only rows from before the bound (or another process's) get here.
            tracing::warn!(
                max,
                "private collections hold more passages than knowledge.max_private_passages; the full-text search reads the first ones only"
            );
            passages.truncate(max);
        }
        // Each collection's fields opened in one call (one key read): every
        // passage's heading and text, every document's title once.
        let mut bodies = Vec::with_capacity(passages.len());
        for c in private {
            let Some(who) = sealed_for(c) else { continue };
            let mut titles: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::new();
            let mut fields = Vec::new();
            // Per passage: its id and where its title, heading and text are.
            let mut at = Vec::new();
            for p in passages.iter().filter(|p| p.collection_id == c.id) {
                let title = match titles.get(p.document_id.as_str()) {
                    Some(i) => *i,
                    None => {
                        let aad = Self::field(c, who, &p.document_id, "title").aad();
                        fields.push((aad, p.title.clone()));
                        titles.insert(&p.document_id, fields.len() - 1);
                        fields.len() - 1
                    }
                };
                let row = sealing::passage_row(&p.document_id, p.ord);
                fields.push((
                    Self::field(c, who, &row, "heading").aad(),
                    p.heading.clone(),
                ));
                fields.push((Self::field(c, who, &row, "text").aad(), p.text.clone()));
                at.push((p.id, title, fields.len() - 2));
            }
            let opened = sealing::open_texts(self.sealer.as_deref(), who.0, who.1, fields).await?;
            let get = |i: usize| opened.get(i).map_or("", String::as_str);
            for (id, title, heading) in at {
                bodies.push((
                    id,
                    store::fts_body(get(title), get(heading), get(heading + 1)),
                ));
            }
        }
        let text = text.to_owned();
        tokio::task::spawn_blocking(move || search::bm25_in_memory(&text, &bodies, limit))
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Rebuild the vector index from the stored embeddings.
    async fn reload_vectors(&self) -> Result<usize, Error> {
        let generation = self.db.generation().await?;
        let mut index = VectorIndex::new(self.embedder.dimensions());
        self.db
            .each_embedding(|id, coll, language, v| index.add(id, coll, language, v))
            .await?;
        index.set_centering(self.config.language_centering);
        index.recenter();
        let n = index.len();
        *self.loaded.write().map_err(poisoned)? = Loaded { index, generation };
        Ok(n)
    }

    /// Drop and rebuild both indexes from the stored chunks (`sovra knowledge reindex`).
    pub async fn rebuild_indexes(&self) -> Result<Counts, Error> {
        let _w = self.writer.lock().await;
        self.db.rebuild_fts().await?;
        self.reload_vectors().await?;
        self.flush().await?;
        self.counts().await
    }

    /// Write the vector index file now (the CLI does before it exits).
    pub async fn flush(&self) -> Result<(), Error> {
        let loaded = self.loaded.clone();
        let path = self.vec_path.clone();
        tokio::task::spawn_blocking(move || -> Result<(), Error> {
            let l = loaded.read().map_err(poisoned)?;
            l.index.save(&path, l.generation)?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// Save the index file in the background, coalescing bursts of writes.
    fn persist_soon(&self) {
        self.dirty.store(true, Ordering::SeqCst);
        if self.saving.swap(true, Ordering::SeqCst) {
            return;
        }
        let (loaded, path, saving, dirty) = (
            self.loaded.clone(),
            self.vec_path.clone(),
            self.saving.clone(),
            self.dirty.clone(),
        );
        tokio::task::spawn_blocking(move || {
            while dirty.swap(false, Ordering::SeqCst) {
                let result = loaded
                    .read()
                    .map_err(poisoned)
                    .and_then(|l| Ok(l.index.save(&path, l.generation)?));
                if let Err(e) = result {
                    tracing::warn!(error = %e, "could not save the knowledge vector index (it is rebuilt at start)");
                }
            }
            saving.store(false, Ordering::SeqCst);
        });
    }

    /// Bring the in-memory index up to the database after a write that
    /// moved it to `generation`: apply `change` if nothing else wrote in
    /// between, else reload it all (another process, e.g. the CLI, wrote).
    async fn follow(
        &self,
        generation: i64,
        change: impl FnOnce(&mut VectorIndex),
    ) -> Result<(), Error> {
        let stale = {
            let mut l = self.loaded.write().map_err(poisoned)?;
            if l.generation == generation - 1 {
                change(&mut l.index);
                l.index.recenter();
                l.generation = generation;
                false
            } else {
                true
            }
        };
        if stale {
            self.reload_vectors().await?;
        }
        self.persist_soon();
        Ok(())
    }

    /// Reload if another process changed the database since we last looked.
    async fn catch_up(&self) -> Result<(), Error> {
        let generation = self.db.generation().await?;
        let current = self.loaded.read().map_err(poisoned)?.generation;
        if current != generation {
            let _w = self.writer.lock().await;
            let current = self.loaded.read().map_err(poisoned)?.generation;
            if current != self.db.generation().await? {
                self.reload_vectors().await?;
            }
        }
        Ok(())
    }

    pub async fn create_collection(
        &self,
        caller: &Caller,
        name: &str,
        scope: Scope,
        description: &str,
    ) -> Result<Collection, Error> {
        check_name("name", name, 256)?;
        if description.chars().count() > 2000 {
            return Err(Error::Invalid {
                what: "description",
                problem: "must be at most 2000 characters".into(),
            });
        }
        let visibility = caller.visibility(scope);
        if !caller.can_write(&visibility) {
            return Err(Error::Forbidden(format!(
                "creating a {} collection needs the operator's API key",
                scope.as_str()
            )));
        }
        let c = Collection {
            id: format!("vs_{}", uuid::Uuid::new_v4().simple()),
            name: name.trim().to_owned(),
            description: description.to_owned(),
            visibility,
            created_at: now_secs(),
            documents: 0,
            chunks: 0,
            bytes: 0,
        };
        let _w = self.writer.lock().await;
        self.db.insert_collection(&c).await?;
        Ok(c)
    }

    /// Every collection the caller may read, newest first.
    pub async fn list_collections(&self, caller: &Caller) -> Result<Vec<Collection>, Error> {
        Ok(self
            .db
            .collections_for(&caller.tenant, &caller.user)
            .await?
            .into_iter()
            .filter(|c| caller.can_read(&c.visibility))
            .collect())
    }

    /// One collection, if the caller may read it (else "not found": the
    /// existence of other people's collections is not disclosed).
    pub async fn collection(&self, caller: &Caller, id: &str) -> Result<Collection, Error> {
        match self.db.collection(id).await? {
            Some(c) if caller.can_read(&c.visibility) => Ok(c),
            _ => Err(Error::NotFound {
                what: "vector store",
                id: id.to_owned(),
            }),
        }
    }

    async fn writable(&self, caller: &Caller, id: &str) -> Result<Collection, Error> {
        let c = self.collection(caller, id).await?;
        if !caller.can_write(&c.visibility) {
            return Err(Error::Forbidden(format!(
                "changing the {} collection '{id}' needs the operator's API key",
                c.visibility.scope.as_str()
            )));
        }
        Ok(c)
    }

    /// Delete a collection with its documents, chunks, vectors and full-text rows.
    pub async fn delete_collection(&self, caller: &Caller, id: &str) -> Result<Removed, Error> {
        self.writable(caller, id).await?;
        let _w = self.writer.lock().await;
        let (removed, generation) = self.db.delete_collections(&[id.to_owned()]).await?;
        let id = id.to_owned();
        self.follow(generation, |ix| ix.remove_collection(&id))
            .await?;
        Ok(removed)
    }

    pub async fn documents(
        &self,
        caller: &Caller,
        collection: &str,
    ) -> Result<Vec<Document>, Error> {
        let c = self.collection(caller, collection).await?;
        self.open_documents(&c).await
    }

    pub async fn delete_document(
        &self,
        caller: &Caller,
        collection: &str,
        document: &str,
    ) -> Result<(), Error> {
        self.writable(caller, collection).await?;
        let _w = self.writer.lock().await;
        let Some((ids, generation)) = self.db.delete_document(collection, document).await? else {
            return Err(Error::NotFound {
                what: "file",
                id: document.to_owned(),
            });
        };
        self.follow(generation, |ix| ix.remove(&ids)).await
    }

    /// Ingest one document into a collection the caller may write.
    pub async fn ingest(
        &self,
        caller: &Caller,
        collection: &str,
        doc: NewDocument,
    ) -> Result<Ingested, Error> {
        let max = self.config.limits.max_upload_bytes;
        if doc.bytes.len() > max {
            return Err(Error::TooLarge {
                bytes: doc.bytes.len(),
                max,
            });
        }
        check_name("source", &doc.source, 2048)?;
        let coll = self.writable(caller, collection).await?;
        let hash = content_hash(&doc);
        let existing = self.document_by_source(&coll, &doc.source).await?;
        if let Some(existing) = &existing
            && existing.content_hash == hash
        {
            return Ok(Ingested {
                document: existing.clone(),
                status: IngestStatus::Unchanged,
            });
        }
        let (format, bytes) = (doc.format, doc.bytes.clone());
        let extracted = match &self.config.isolation {
            Some(iso) if isolate::isolated(format) => isolate::extract(iso, format, bytes).await?,
            _ => tokio::task::spawn_blocking(move || extract::extract(format, &bytes))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??,
        };
        let chunks = chunk::chunk(&extracted.text, self.config.chunking);
        if chunks.len() > self.config.limits.max_chunks_per_document {
            return Err(Error::TooManyChunks {
                chunks: chunks.len(),
                max: self.config.limits.max_chunks_per_document,
            });
        }
        if chunks.is_empty() {
            return Err(Error::Extract {
                format: "document",
                problem: "it holds no text".into(),
            });
        }
        if let Some((tenant, owner)) = sealed_for(&coll) {
            let replaced = existing.as_ref().map_or("", |d| d.id.as_str());
            let held = self.db.private_passages_of(tenant, owner, replaced).await?;
            let max = self.config.limits.max_private_passages;
            let total = held.saturating_add(chunks.len() as u64);
            if total > max as u64 {
                return Err(Error::Invalid {
                    what: "file",
                    problem: format!(
                        "your private collections would hold {total} passages; this server keeps at most {max} per person (a search reads them all); delete some documents first"
                    ),
                });
            }
        }
        let title = doc
            .title
            .or(extracted.title)
            .unwrap_or_else(|| doc.source.clone());
        let language = doc
            .language
            .as_deref()
            .or(extracted.language.as_deref())
            .and_then(lang::normalise)
            .or_else(|| lang::detect(&extracted.text));
        let mut vectors = Vec::with_capacity(chunks.len());
        for batch in chunks.chunks(32) {
            let inputs = batch
                .iter()
                .map(|c| EmbedInput::Text(embed::passage_text(&title, &c.heading, &c.text)))
                .collect();
            vectors.extend(self.embedder.embed(inputs).await?.vectors);
        }
        let document = Document {
            id: doc
                .id
                .unwrap_or_else(|| format!("file-{}", uuid::Uuid::new_v4().simple())),
            collection_id: collection.to_owned(),
            source: doc.source,
            title,
            url: doc.url.or(extracted.url),
            language,
            effective_date: doc.effective_date.or(extracted.effective_date),
            content_hash: hash,
            bytes: doc.bytes.len() as u64,
            chunks: chunks.len() as u64,
            created_at: now_secs(),
        };
        let stored_doc = self.seal_document(&coll, document.clone()).await?;
        let stored_chunks = self.seal_chunks(&coll, &document.id, chunks).await?;
        let _w = self.writer.lock().await;
        // A private collection's sources are sealed: the document this one
        // replaces is found by opening them (under the lock, so no other
        // ingest of this process slips in between).
        let replaces = match sealed_for(&coll) {
            Some(_) => self
                .document_by_source(&coll, &document.source)
                .await?
                .map(|d| d.id),
            None => None,
        };
        let (old, new, generation) = self
            .db
            .replace_document(
                &stored_doc,
                &stored_chunks,
                &vectors,
                sealed_for(&coll).is_none(),
                replaces.as_deref(),
            )
            .await?;
        let status = if old.is_empty() {
            IngestStatus::Added
        } else {
            IngestStatus::Replaced
        };
        let coll = collection.to_owned();
        let language = document.language.clone();
        self.follow(generation, move |ix| {
            ix.remove(&old);
            for (id, v) in new.iter().zip(&vectors) {
                ix.add(*id, &coll, language.as_deref(), v);
            }
        })
        .await?;
        Ok(Ingested { document, status })
    }

    /// Collections a search may look in: those asked for (each must be
    /// readable) or all readable ones; only public ones when
    /// `official_only`. The private ones among them are the caller's own.
    async fn allowed(&self, caller: &Caller, q: &Query) -> Result<Reach, Error> {
        let readable = self.list_collections(caller).await?;
        let mut chosen = Vec::new();
        match &q.collections {
            Some(wanted) => {
                for id in wanted {
                    let Some(c) = readable.iter().find(|c| &c.id == id) else {
                        return Err(Error::NotFound {
                            what: "vector store",
                            id: id.clone(),
                        });
                    };
                    if !q.official_only || c.visibility.scope == Scope::Public {
                        chosen.push(c.clone());
                    }
                }
            }
            None => chosen.extend(
                readable
                    .into_iter()
                    .filter(|c| !q.official_only || c.visibility.scope == Scope::Public),
            ),
        }
        let ids = chosen.iter().map(|c| c.id.clone()).collect();
        let private = chosen
            .into_iter()
            .filter(|c| sealed_for(c).is_some())
            .collect();
        Ok(Reach { ids, private })
    }

    /// Search what the caller may read; best first.
    pub async fn search(&self, caller: &Caller, q: &Query) -> Result<Vec<Hit>, Error> {
        let chars = q.text.chars().count();
        let max = self.config.limits.max_query_chars;
        if chars > max {
            return Err(Error::QueryTooLong { chars, max });
        }
        if q.text.trim().is_empty() {
            return Err(Error::Invalid {
                what: "query",
                problem: "must not be empty".into(),
            });
        }
        let k = q.k.clamp(1, self.config.limits.max_results);
        let reach = self.allowed(caller, q).await?;
        let allowed = reach.ids;
        if allowed.is_empty() {
            return Ok(Vec::new());
        }
        self.catch_up().await?;
        let candidates = (k * 4).max(40);
        let qvec = match q.mode {
            Mode::Text => None,
            _ => Some(
                self.embedder
                    .embed(vec![EmbedInput::Text(embed::query_text(&q.text))])
                    .await?
                    .vectors
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::Internal("the embedder returned no vector".into()))?,
            ),
        };
        let language = qvec.as_ref().and_then(|_| lang::detect(&q.text));
        let vector_hits = match &qvec {
            Some(v) => {
                let (loaded, v, allowed) = (self.loaded.clone(), v.clone(), allowed.clone());
                let language = language.clone();
                tokio::task::spawn_blocking(move || -> Result<_, Error> {
                    Ok(loaded.read().map_err(poisoned)?.index.search(
                        &v,
                        language.as_deref(),
                        &allowed,
                        candidates,
                    ))
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))??
            }
            None => Vec::new(),
        };
        // Private passages have no full-text rows: the indexed list holds
        // the public and tenant ones, the in-memory one the private ones.
        let text_hits = match q.mode {
            Mode::Vector => Vec::new(),
            _ => search::merge_text_lists(
                self.db.fts(&q.text, &allowed, candidates).await?,
                self.private_text_hits(&reach.private, &q.text, candidates)
                    .await?,
                candidates,
            ),
        };
        let fused = search::fuse(
            &vector_hits,
            &text_hits,
            k,
            q.fusion.unwrap_or(self.config.fusion),
        );
        let mut hits = Vec::with_capacity(fused.len());
        for (h, ord) in self.db.hits(&fused).await? {
            match reach.private.iter().find(|c| c.id == h.collection_id) {
                Some(c) => hits.push(self.open_hit(c, h, ord).await?),
                None => hits.push(h),
            }
        }
        if let Some(v) = &qvec {
            let l = self.loaded.read().map_err(poisoned)?;
            let ids: Vec<i64> = hits.iter().map(|h| h.chunk_id).collect();
            let relevance = l.index.relevance(v, language.as_deref(), &ids);
            for (h, r) in hits.iter_mut().zip(relevance) {
                h.similarity = l.index.similarity(v, h.chunk_id);
                h.relevance = r;
            }
        }
        Ok(hits)
    }

    /// Erase a data subject: their uploaded files and private collections,
    /// with every chunk, vector and full-text row, gone from the database
    /// file and its write-ahead log when this returns.
    pub async fn erase_subject(&self, tenant: &str, user: &str) -> Result<Removed, Error> {
        let _w = self.writer.lock().await;
        let (removed, change) = erase_in(&self.db, tenant, user).await?;
        if let Some((generation, ids)) = change {
            self.follow(generation, |ix| {
                for id in &ids {
                    ix.remove_collection(id);
                }
            })
            .await?;
        }
        Ok(removed)
    }

    /// What the knowledge base holds of (tenant, user): see [`SubjectKnowledge`].
    pub async fn export_subject(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<SubjectKnowledge, Error> {
        let me = Caller::new(tenant, user, false);
        let page = self.db.list_files(&me, &FileListQuery::default()).await?;
        let mut files = Vec::with_capacity(page.files.len());
        for f in page.files {
            let (file, stored) = self.db.file_content(&me, &f.id).await?;
            files.push(self.open_file(&me, file, stored).await?);
        }
        let mut collections = Vec::new();
        for id in self.db.private_collections_of(tenant, user).await? {
            if let Some(c) = self.db.collection(&id).await? {
                let documents = self.open_documents(&c).await?;
                collections.push((c, documents));
            }
        }
        Ok(SubjectKnowledge { files, collections })
    }

    /// A consistent copy of `knowledge.db` at `dest` (owner-only; `VACUUM
    /// INTO`, safe beside a running server), without opening the knowledge
    /// base. False for PostgreSQL, whose tables its own backups hold.
    pub async fn backup_offline(config: &KnowledgeConfig, dest: &Path) -> Result<bool, Error> {
        match &config.storage {
            Storage::Postgres { .. } => Ok(false),
            Storage::Sqlite => {
                let db = store::Db::open(&config.data_dir.join("knowledge.db")).await?;
                db.backup_to(dest).await?;
                Ok(true)
            }
        }
    }

    /// [`Knowledge::erase_subject`] without opening the knowledge base (no
    /// embedder, no index in memory), for `sovra data erase` beside a
    /// running server: the database rows go at once, and the vector index
    /// file with them (it is rebuilt from the database at the next start; a
    /// running server reloads its index when it sees the database moved).
    pub async fn erase_subject_offline(
        config: &KnowledgeConfig,
        tenant: &str,
        user: &str,
    ) -> Result<Removed, Error> {
        let db = backend::Db::open(&config.storage, &config.data_dir).await?;
        let (removed, change) = erase_in(&db, tenant, user).await?;
        if change.is_some() {
            let vec_path = config.data_dir.join(db.vec_file().await?);
            match std::fs::remove_file(&vec_path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }

    /// Retention: delete documents in private collections ingested more than
    /// `days(tenant)` days before `now` (Unix seconds); None keeps them.
    pub async fn purge_expired(
        &self,
        days: &(dyn Fn(&str) -> Option<u32> + Send + Sync),
        now: i64,
    ) -> Result<Removed, Error> {
        let _w = self.writer.lock().await;
        let mut total = Removed::default();
        for (tenant, collections) in self.db.private_collections_by_tenant().await? {
            let Some(d) = days(&tenant) else { continue };
            let cutoff = now - i64::from(d) * 86_400;
            let (removed, ids, generation) = self
                .db
                .delete_documents_before(&collections, cutoff)
                .await?;
            if removed.documents > 0 {
                total.documents += removed.documents;
                total.chunks += removed.chunks;
                self.follow(generation, |ix| ix.remove(&ids)).await?;
            }
        }
        for tenant in self.db.file_tenants().await? {
            let Some(d) = days(&tenant) else { continue };
            let cutoff = now - i64::from(d) * 86_400;
            total.files += self.db.purge_files(&tenant, cutoff).await?;
        }
        Ok(total)
    }

    /// Keep an uploaded file for `caller` (OpenAI's `POST /v1/files`).
    pub async fn add_file(
        &self,
        caller: &Caller,
        filename: &str,
        purpose: &str,
        content: &[u8],
    ) -> Result<StoredFile, Error> {
        let max = self.config.limits.max_upload_bytes;
        if content.len() > max {
            return Err(Error::TooLarge {
                bytes: content.len(),
                max,
            });
        }
        check_name("filename", filename, 512)?;
        check_name("purpose", purpose, 64)?;
        let file = files::new_file(filename, purpose, content.len(), now_secs());
        let stored = sealing::seal(
            self.sealer.as_deref(),
            &caller.tenant,
            &caller.user,
            &file.id,
            content,
        )
        .await?;
        self.db.add_file(caller, &file, &stored).await?;
        Ok(file)
    }

    /// A page of the caller's uploaded files (OpenAI's `limit`, `after`,
    /// `order`, `purpose`), by creation time then id.
    pub async fn list_files(
        &self,
        caller: &Caller,
        query: &FileListQuery,
    ) -> Result<FilePage, Error> {
        self.db.list_files(caller, query).await
    }

    /// One of the caller's files; someone else's is "not found".
    pub async fn file(&self, caller: &Caller, id: &str) -> Result<StoredFile, Error> {
        self.db.file(caller, id).await
    }

    /// Delete one of the caller's files (its bytes overwritten on disk).
    pub async fn delete_file(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        self.db.delete_file(caller, id).await
    }

    /// The caller's uploaded file `file_id` as a document to ingest: it
    /// takes the file's id (as OpenAI's vector store files do) and its name
    /// as the source (whose extension names the format).
    pub async fn file_document(
        &self,
        caller: &Caller,
        file_id: &str,
    ) -> Result<NewDocument, Error> {
        let (file, stored) = self.db.file_content(caller, file_id).await?;
        let (file, bytes) = self.open_file(caller, file, stored).await?;
        let mut doc = NewDocument::from_source(&file.filename, bytes)?;
        doc.id = Some(file.id);
        Ok(doc)
    }

    /// The bytes of one of the caller's files.
    pub async fn file_content(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(StoredFile, Vec<u8>), Error> {
        let (file, stored) = self.db.file_content(caller, id).await?;
        self.open_file(caller, file, stored).await
    }

    /// What is stored, row by row, and how many vectors the index holds.
    pub async fn counts(&self) -> Result<Counts, Error> {
        let mut c = self.db.counts().await?;
        c.vectors = self.loaded.read().map_err(poisoned)?.index.len() as u64;
        Ok(c)
    }

    /// Whether any full-text row still matches `term` (erasure checks).
    pub async fn fts_matches(&self, term: &str) -> Result<u64, Error> {
        Ok(self.db.fts_count(term).await?)
    }

    /// Whether the vector index holds the chunk `id`.
    pub fn has_vector(&self, id: i64) -> bool {
        self.loaded.read().is_ok_and(|l| l.index.contains(id))
    }

    /// Insert synthetic chunks straight into one collection (benchmarks):
    /// `n` chunks of `text_of(i)` with `vector_of(i)`, in documents of `per_doc`.
    pub async fn bulk_synthetic(
        &self,
        collection: &str,
        n: usize,
        per_doc: usize,
        text_of: &(dyn Fn(usize) -> String + Sync),
        vector_of: &(dyn Fn(usize) -> Vec<f32> + Sync),
    ) -> Result<(), Error> {
        let _w = self.writer.lock().await;
        self.db
            .bulk_synthetic(collection, n, per_doc.max(1), text_of, vector_of)
            .await?;
        self.reload_vectors().await?;
        self.flush().await
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }
}

/// The hash that decides whether a document changed: its bytes and the
/// metadata the caller gave.
fn content_hash(doc: &NewDocument) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(&doc.bytes);
    for f in [&doc.title, &doc.url, &doc.language, &doc.effective_date] {
        h.update([0u8]);
        h.update(f.as_deref().unwrap_or("").as_bytes());
    }
    hex::encode(h.finalize())
}
