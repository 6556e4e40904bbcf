//! The SQL both backends run, written once.
//!
//! SQLite and PostgreSQL accept the same statements here (`$n` parameters,
//! `CAST(… AS BIGINT)`, `RETURNING`); only the table names differ, the
//! PostgreSQL ones prefixed `knowledge_` (they share the platform store's
//! database). [`shared_sql!`] stamps the statements out once per dialect
//! with its table names, as `&'static str` constants: [`sqlite`] for
//! `store.rs` and `files.rs`, [`postgres`] for `pg.rs`. What the dialects
//! do differently (full text: FTS5 rows or a `tsvector` column; id lists:
//! `IN (?, …)` or `= ANY($1)`; `RETURNING` deletes; vacuuming) stays in
//! those files. The schema itself is in `migrations/` (`migrate.rs`).

/// Collections (`c`) with their document, chunk and byte counts, then `$rest`.
macro_rules! collection_select {
    ($collections:literal, $documents:literal, $rest:literal) => {
        concat!(
            "SELECT c.id, c.name, c.description, c.scope, c.tenant, c.owner, c.created_at,
    (SELECT count(*) FROM ",
            $documents,
            " d WHERE d.collection_id = c.id) AS documents,
    (SELECT CAST(coalesce(sum(d.chunks), 0) AS BIGINT) FROM ",
            $documents,
            " d WHERE d.collection_id = c.id) AS nchunks,
    (SELECT CAST(coalesce(sum(d.bytes), 0) AS BIGINT) FROM ",
            $documents,
            " d WHERE d.collection_id = c.id) AS nbytes
    FROM ",
            $collections,
            " c",
            $rest
        )
    };
}

/// The statements, over the tables `$meta`, `$collections`, `$documents`,
/// `$chunks` and `$files`.
macro_rules! shared_sql {
    (
        meta: $meta:literal,
        collections: $collections:literal,
        documents: $documents:literal,
        chunks: $chunks:literal,
        files: $files:literal $(,)?
    ) => {
        /// The uploaded files' table (`files::page_sql` builds its page query).
        pub(crate) const FILES: &str = $files;

        // The generation every write bumps.

        pub(crate) const GENERATION: &str =
            concat!("SELECT value FROM ", $meta, " WHERE key = 'generation'");
        pub(crate) const BUMP: &str = concat!(
            "UPDATE ",
            $meta,
            " SET value = value + 1 WHERE key = 'generation' RETURNING value"
        );

        // Collections.

        /// Chunks that the full-text index holds: those outside private collections.
        pub(crate) const INDEXED_CHUNK: &str = concat!(
            "collection_id NOT IN (SELECT id FROM ",
            $collections,
            " WHERE scope = 'private')"
        );
        pub(crate) const INSERT_COLLECTION: &str = concat!(
            "INSERT INTO ",
            $collections,
            " (id, name, description, scope, tenant, owner, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        /// What (tenant $1, user $2) may read: public collections, tenant
        /// collections of the caller's tenant and of every tenant above it,
        /// and the caller's own.
        pub(crate) const COLLECTIONS_FOR: &str = collection_select!(
            $collections,
            $documents,
            " WHERE c.scope = 'public' OR (c.scope = 'tenant' AND (c.tenant = $1 OR $1 LIKE (c.tenant || '/%'))) OR (c.tenant = $1 AND c.owner = $2) ORDER BY c.created_at DESC, c.id"
        );
        pub(crate) const COLLECTION: &str =
            collection_select!($collections, $documents, " WHERE c.id = $1");
        pub(crate) const PRIVATE_COLLECTIONS_OF: &str = concat!(
            "SELECT id FROM ",
            $collections,
            " WHERE scope = 'private' AND tenant = $1 AND owner = $2"
        );
        pub(crate) const PRIVATE_COLLECTIONS: &str = concat!(
            "SELECT tenant, id FROM ",
            $collections,
            " WHERE scope = 'private'"
        );
        pub(crate) const DELETE_COLLECTION: &str =
            concat!("DELETE FROM ", $collections, " WHERE id = $1");

        // Documents.

        pub(crate) const DOCUMENTS: &str = concat!(
            "SELECT * FROM ",
            $documents,
            " WHERE collection_id = $1 ORDER BY created_at DESC, id"
        );
        pub(crate) const DOCUMENT_BY_SOURCE: &str = concat!(
            "SELECT * FROM ",
            $documents,
            " WHERE collection_id = $1 AND source = $2"
        );
        pub(crate) const INSERT_DOCUMENT: &str = concat!(
            "INSERT INTO ",
            $documents,
            " (id, collection_id, source, title, url, language, effective_date, content_hash, bytes, chunks, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        /// A synthetic document (benchmarks): id and source $1, collection
        /// $2, title $3, $4 chunks.
        pub(crate) const INSERT_SYNTHETIC_DOCUMENT: &str = concat!(
            "INSERT INTO ",
            $documents,
            " (id, collection_id, source, title, content_hash, bytes, chunks, created_at) VALUES ($1, $2, $1, $3, '', 0, $4, 0)"
        );
        pub(crate) const DELETE_DOCUMENTS_OF_COLLECTION: &str =
            concat!("DELETE FROM ", $documents, " WHERE collection_id = $1");
        pub(crate) const DELETE_DOCUMENT: &str = concat!(
            "DELETE FROM ",
            $documents,
            " WHERE id = $1 AND collection_id = $2"
        );
        /// The document a new one replaces: same (collection $1, source $2), or id $3.
        pub(crate) const DELETE_REPLACED_DOCUMENT: &str = concat!(
            "DELETE FROM ",
            $documents,
            " WHERE collection_id = $1 AND (source = $2 OR id = $3)"
        );
        pub(crate) const DELETE_DOCUMENTS_BEFORE: &str = concat!(
            "DELETE FROM ",
            $documents,
            " WHERE collection_id = $1 AND created_at < $2"
        );
        /// How many passages (tenant $1, owner $2)'s private collections
        /// hold, but those of document $3.
        pub(crate) const PRIVATE_PASSAGES_OF: &str = concat!(
            "SELECT CAST(coalesce(sum(d.chunks), 0) AS BIGINT) FROM ",
            $documents,
            " d JOIN ",
            $collections,
            " k ON k.id = d.collection_id
             WHERE k.scope = 'private' AND k.tenant = $1 AND k.owner = $2 AND d.id <> $3"
        );

        // Chunks.

        pub(crate) const EACH_EMBEDDING: &str = concat!(
            "SELECT c.id, c.collection_id, d.language, c.embedding
             FROM ",
            $chunks,
            " c JOIN ",
            $documents,
            " d ON d.id = c.document_id ORDER BY c.id"
        );
        /// Passages with their documents, to be followed by a condition on `c.id`.
        pub(crate) const HITS_WHERE_ID: &str = concat!(
            "SELECT c.id, c.document_id, c.collection_id, c.ord, c.heading, c.text, d.source, d.title, d.url, d.language, d.effective_date
             FROM ",
            $chunks,
            " c JOIN ",
            $documents,
            " d ON d.id = c.document_id WHERE c.id"
        );
        /// Stored passages, to be followed by a condition on `c.collection_id`.
        pub(crate) const PASSAGES_WHERE_COLLECTION: &str = concat!(
            "SELECT c.id, c.document_id, c.collection_id, c.ord, c.heading, c.text, d.title
             FROM ",
            $chunks,
            " c JOIN ",
            $documents,
            " d ON d.id = c.document_id
             WHERE c.collection_id"
        );
        pub(crate) const COUNT_COLLECTIONS: &str = concat!("SELECT count(*) FROM ", $collections);
        pub(crate) const COUNT_DOCUMENTS: &str = concat!("SELECT count(*) FROM ", $documents);
        pub(crate) const COUNT_CHUNKS: &str = concat!("SELECT count(*) FROM ", $chunks);

        // Uploaded files.

        pub(crate) const COUNT_FILES_OF: &str = concat!(
            "SELECT count(*) FROM ",
            $files,
            " WHERE tenant = $1 AND owner = $2"
        );
        pub(crate) const INSERT_FILE: &str = concat!(
            "INSERT INTO ",
            $files,
            " (id, tenant, owner, filename, purpose, bytes, created_at, content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        /// The `after` cursor's row: file $1 of (tenant $2, owner $3).
        pub(crate) const FILE_CREATED_AT: &str = concat!(
            "SELECT created_at FROM ",
            $files,
            " WHERE id = $1 AND tenant = $2 AND owner = $3"
        );
        pub(crate) const FILE: &str = concat!(
            "SELECT id, filename, purpose, bytes, created_at FROM ",
            $files,
            "
         WHERE id = $1 AND tenant = $2 AND owner = $3"
        );
        pub(crate) const DELETE_FILE: &str = concat!(
            "DELETE FROM ",
            $files,
            " WHERE id = $1 AND tenant = $2 AND owner = $3"
        );
        pub(crate) const ERASE_FILES: &str =
            concat!("DELETE FROM ", $files, " WHERE tenant = $1 AND owner = $2");
        pub(crate) const PURGE_FILES: &str = concat!(
            "DELETE FROM ",
            $files,
            " WHERE tenant = $1 AND created_at < $2"
        );
        pub(crate) const FILE_TENANTS: &str = concat!("SELECT DISTINCT tenant FROM ", $files);
    };
}

/// `knowledge.db`'s tables.
pub(crate) mod sqlite {
    shared_sql!(
        meta: "meta",
        collections: "collections",
        documents: "documents",
        chunks: "chunks",
        files: "files",
    );
}

/// The `knowledge_*` tables in PostgreSQL.
pub(crate) mod postgres {
    shared_sql!(
        meta: "knowledge_meta",
        collections: "knowledge_collections",
        documents: "knowledge_documents",
        chunks: "knowledge_chunks",
        files: "knowledge_files",
    );
}
