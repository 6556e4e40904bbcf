//! The seam between the knowledge logic (`lib.rs`) and where it is kept:
//! [`Db`] is one of the two backends, SQLite in the data dir (`store.rs`,
//! `files.rs`) or a PostgreSQL database several replicas share (`pg.rs`).
//! Both take and return plain data (collections, documents, chunk ids,
//! hits, counts) and bump the same generation in every write transaction;
//! this module only chooses between them and owns nothing else.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::chunk::Chunk;
use crate::files::{FileListQuery, FilePage};
use crate::search::Hit;
use crate::store::StoredPassage;
use crate::{Caller, Collection, Counts, Document, Error, Removed, StoredFile, files, pg, store};

/// Where a knowledge base is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Storage {
    /// `knowledge.db` in the data dir (one node).
    #[default]
    Sqlite,
    /// The `knowledge_*` tables of the PostgreSQL database at this URL
    /// (`postgres://user@host/db`): every replica pointed at it shares one
    /// knowledge base.
    Postgres { url: String },
}

pub(crate) enum Db {
    Sqlite(store::Db),
    Postgres(pg::Db),
}

/// The same call on whichever backend this is.
macro_rules! on {
    ($self:ident, $db:ident => $call:expr) => {
        match $self {
            Db::Sqlite($db) => $call,
            Db::Postgres($db) => $call,
        }
    };
}

impl Db {
    pub async fn open(storage: &Storage, data_dir: &Path) -> Result<Self, sqlx::Error> {
        Ok(match storage {
            Storage::Sqlite => Self::Sqlite(store::Db::open(&data_dir.join("knowledge.db")).await?),
            Storage::Postgres { url } => Self::Postgres(pg::Db::open(url).await?),
        })
    }

    /// The vector index cache file's name in the data dir: the PostgreSQL
    /// one carries the database's instance id, so a data dir that moved
    /// between databases never loads another's vectors.
    pub async fn vec_file(&self) -> Result<String, sqlx::Error> {
        Ok(match self {
            Db::Sqlite(_) => "knowledge.vec".to_owned(),
            Db::Postgres(d) => format!("knowledge-pg-{:x}.vec", d.instance().await?),
        })
    }

    pub async fn generation(&self) -> Result<i64, sqlx::Error> {
        on!(self, d => d.generation().await)
    }

    pub async fn ensure_fts(&self) -> Result<u64, sqlx::Error> {
        on!(self, d => d.ensure_fts().await)
    }

    pub async fn rebuild_fts(&self) -> Result<u64, sqlx::Error> {
        on!(self, d => d.rebuild_fts().await)
    }

    pub async fn each_embedding(
        &self,
        f: impl FnMut(i64, &str, Option<&str>, &[f32]),
    ) -> Result<(), sqlx::Error> {
        on!(self, d => d.each_embedding(f).await)
    }

    pub async fn insert_collection(&self, c: &Collection) -> Result<(), sqlx::Error> {
        on!(self, d => d.insert_collection(c).await)
    }

    pub async fn collections_for(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<Vec<Collection>, sqlx::Error> {
        on!(self, d => d.collections_for(tenant, user).await)
    }

    pub async fn collection(&self, id: &str) -> Result<Option<Collection>, sqlx::Error> {
        on!(self, d => d.collection(id).await)
    }

    pub async fn private_collections_of(
        &self,
        tenant: &str,
        user: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        on!(self, d => d.private_collections_of(tenant, user).await)
    }

    pub async fn private_collections_by_tenant(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, sqlx::Error> {
        on!(self, d => d.private_collections_by_tenant().await)
    }

    pub async fn delete_collections(&self, ids: &[String]) -> Result<(Removed, i64), sqlx::Error> {
        on!(self, d => d.delete_collections(ids).await)
    }

    pub async fn documents(&self, collection: &str) -> Result<Vec<Document>, sqlx::Error> {
        on!(self, d => d.documents(collection).await)
    }

    pub async fn document_by_source(
        &self,
        collection: &str,
        source: &str,
    ) -> Result<Option<Document>, sqlx::Error> {
        on!(self, d => d.document_by_source(collection, source).await)
    }

    pub async fn delete_document(
        &self,
        collection: &str,
        document: &str,
    ) -> Result<Option<(HashSet<i64>, i64)>, sqlx::Error> {
        on!(self, d => d.delete_document(collection, document).await)
    }

    pub async fn replace_document(
        &self,
        doc: &Document,
        chunks: &[Chunk],
        vectors: &[Vec<f32>],
        indexed: bool,
        replaces: Option<&str>,
    ) -> Result<(HashSet<i64>, Vec<i64>, i64), sqlx::Error> {
        on!(self, d => d.replace_document(doc, chunks, vectors, indexed, replaces).await)
    }

    pub async fn delete_documents_before(
        &self,
        collections: &[String],
        cutoff: i64,
    ) -> Result<(Removed, HashSet<i64>, i64), sqlx::Error> {
        on!(self, d => d.delete_documents_before(collections, cutoff).await)
    }

    pub async fn fts(
        &self,
        text: &str,
        allowed: &HashSet<String>,
        limit: usize,
    ) -> Result<Vec<(i64, f32)>, sqlx::Error> {
        on!(self, d => d.fts(text, allowed, limit).await)
    }

    pub async fn fts_count(&self, term: &str) -> Result<u64, sqlx::Error> {
        on!(self, d => d.fts_count(term).await)
    }

    pub async fn hits(&self, fused: &[(i64, f32)]) -> Result<Vec<(Hit, i64)>, sqlx::Error> {
        on!(self, d => d.hits(fused).await)
    }

    pub async fn passages(
        &self,
        collections: &[String],
        limit: usize,
    ) -> Result<Vec<StoredPassage>, sqlx::Error> {
        on!(self, d => d.passages(collections, limit).await)
    }

    pub async fn private_passages_of(
        &self,
        tenant: &str,
        owner: &str,
        except: &str,
    ) -> Result<u64, sqlx::Error> {
        on!(self, d => d.private_passages_of(tenant, owner, except).await)
    }

    pub async fn counts(&self) -> Result<Counts, sqlx::Error> {
        on!(self, d => d.counts().await)
    }

    pub async fn bulk_synthetic(
        &self,
        collection: &str,
        n: usize,
        per_doc: usize,
        text_of: &(dyn Fn(usize) -> String + Sync),
        vector_of: &(dyn Fn(usize) -> Vec<f32> + Sync),
    ) -> Result<(), sqlx::Error> {
        on!(self, d => d.bulk_synthetic(collection, n, per_doc, text_of, vector_of).await)
    }

    // Uploaded files.

    /// Keep `file`'s stored bytes (sealed already, when there is a sealer).
    pub async fn add_file(
        &self,
        caller: &Caller,
        file: &StoredFile,
        stored: &[u8],
    ) -> Result<(), Error> {
        match self {
            Db::Sqlite(d) => files::add(&d.pool, caller, file, stored).await,
            Db::Postgres(d) => d.add_file(caller, file, stored).await,
        }
    }

    pub async fn list_files(
        &self,
        caller: &Caller,
        query: &FileListQuery,
    ) -> Result<FilePage, Error> {
        files::check_list_limit(query)?;
        match self {
            Db::Sqlite(d) => files::list(&d.pool, caller, query).await,
            Db::Postgres(d) => d.list_files(caller, query).await,
        }
    }

    pub async fn file(&self, caller: &Caller, id: &str) -> Result<StoredFile, Error> {
        match self {
            Db::Sqlite(d) => files::get(&d.pool, caller, id).await,
            Db::Postgres(d) => d.file(caller, id).await,
        }
    }

    pub async fn file_content(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(StoredFile, Vec<u8>), Error> {
        match self {
            Db::Sqlite(d) => files::content(&d.pool, caller, id).await,
            Db::Postgres(d) => d.file_content(caller, id).await,
        }
    }

    pub async fn delete_file(&self, caller: &Caller, id: &str) -> Result<(), Error> {
        match self {
            Db::Sqlite(d) => files::delete(&d.pool, caller, id).await,
            Db::Postgres(d) => d.delete_file(caller, id).await,
        }
    }

    pub async fn erase_files(&self, tenant: &str, user: &str) -> Result<u64, Error> {
        match self {
            Db::Sqlite(d) => files::erase(&d.pool, tenant, user).await,
            Db::Postgres(d) => d.erase_files(tenant, user).await,
        }
    }

    pub async fn purge_files(&self, tenant: &str, cutoff: i64) -> Result<u64, Error> {
        match self {
            Db::Sqlite(d) => files::purge(&d.pool, tenant, cutoff).await,
            Db::Postgres(d) => d.purge_files(tenant, cutoff).await,
        }
    }

    pub async fn file_tenants(&self) -> Result<Vec<String>, Error> {
        match self {
            Db::Sqlite(d) => files::tenants(&d.pool).await,
            Db::Postgres(d) => d.file_tenants().await,
        }
    }
}
