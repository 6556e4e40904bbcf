-- The knowledge base as the code created it at open before migrations
-- existed, statement for statement: every statement is idempotent, so on a
-- database that code made this runs over the existing tables, keeps their
-- rows (and the instance id), and is then recorded as applied.
-- The tables are prefixed `knowledge_`: they sit beside the platform
-- store's in the same database.
CREATE TABLE IF NOT EXISTS knowledge_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
INSERT INTO knowledge_meta (key, value) VALUES ('generation', 0) ON CONFLICT DO NOTHING;
INSERT INTO knowledge_meta (key, value)
    VALUES ('instance', floor(random() * 4503599627370496)::BIGINT) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS knowledge_collections (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL CHECK (scope IN ('public', 'tenant', 'private')),
    tenant TEXT NOT NULL,
    owner TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_collections_by_owner ON knowledge_collections (tenant, owner);
CREATE TABLE IF NOT EXISTS knowledge_documents (
    id TEXT PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES knowledge_collections (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT,
    language TEXT,
    effective_date TEXT,
    content_hash TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    chunks BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (collection_id, source)
);
-- `fts`: the full-text column, NULL for chunks of private collections.
CREATE TABLE IF NOT EXISTS knowledge_chunks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id TEXT NOT NULL REFERENCES knowledge_documents (id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL,
    ord BIGINT NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    embedding BYTEA NOT NULL,
    fts TSVECTOR
);
CREATE INDEX IF NOT EXISTS knowledge_chunks_by_document ON knowledge_chunks (document_id);
CREATE INDEX IF NOT EXISTS knowledge_chunks_by_collection ON knowledge_chunks (collection_id);
CREATE INDEX IF NOT EXISTS knowledge_chunks_fts ON knowledge_chunks USING GIN (fts);
-- Uploaded files (`files.rs`).
CREATE TABLE IF NOT EXISTS knowledge_files (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    owner TEXT NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    content BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS knowledge_files_by_owner ON knowledge_files (tenant, owner, created_at);
