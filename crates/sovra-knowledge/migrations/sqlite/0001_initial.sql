-- The knowledge base as the code created it at open before migrations
-- existed, statement for statement: every statement is idempotent, so on a
-- database that code made this runs over the existing tables, keeps their
-- rows, and is then recorded as applied.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS collections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL CHECK (scope IN ('public', 'tenant', 'private')),
    tenant TEXT NOT NULL,
    owner TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS collections_by_owner ON collections (tenant, owner);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT,
    language TEXT,
    effective_date TEXT,
    content_hash TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (collection_id, source)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks (document_id);
CREATE INDEX IF NOT EXISTS chunks_by_collection ON chunks (collection_id);
-- Full text: one row per chunk outside private collections, sharing its rowid
-- (`store.rs` rebuilds it with this same statement, `store::FTS`).
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
-- Uploaded files (`files.rs`).
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    owner TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_owner ON files (tenant, owner, created_at);
