-- Owners, sealed content, keys, legal holds and the audit trail.
-- Titles and message text become sealed BLOBs (see src/crypto.rs); rows
-- written before this migration are marked as legacy plaintext (0x00) and
-- sealed by SqliteStore when it opens the database.
CREATE TABLE conversations_v2 (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL DEFAULT 'public',
    user_id     TEXT NOT NULL DEFAULT 'anonymous',
    title       BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
INSERT INTO conversations_v2 (id, title, created_at, updated_at)
    SELECT id, X'00' || CAST(title AS BLOB), created_at, updated_at FROM conversations;

CREATE TABLE messages_v2 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    conversation_id  TEXT NOT NULL REFERENCES conversations_v2 (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('system', 'developer', 'user', 'assistant', 'tool')),
    content          BLOB NOT NULL,
    created_at       INTEGER NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    finish_reason     TEXT
);
INSERT INTO messages_v2 (seq, id, conversation_id, role, content, created_at, prompt_tokens, completion_tokens, finish_reason)
    SELECT seq, id, conversation_id, role, X'00' || CAST(content AS BLOB), created_at, prompt_tokens, completion_tokens, finish_reason FROM messages;

DROP TABLE messages;
DROP TABLE conversations;
ALTER TABLE conversations_v2 RENAME TO conversations;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX conversations_owner ON conversations (tenant_id, user_id, updated_at DESC);
CREATE INDEX conversations_tenant_updated ON conversations (tenant_id, updated_at);
CREATE INDEX messages_conversation ON messages (conversation_id, seq);

-- Tenant keys, wrapped by the master key named by master_id.
CREATE TABLE tenant_keys (
    tenant_id   TEXT NOT NULL,
    version     INTEGER NOT NULL,
    master_id   TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Subject keys, wrapped by their tenant's key of version tenant_version.
CREATE TABLE subject_keys (
    tenant_id       TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    tenant_version  INTEGER NOT NULL,
    wrapped         BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- user_id '' holds the whole tenant.
CREATE TABLE legal_holds (
    tenant_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY NOT NULL,
    at_ms      INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    user_id    TEXT,
    details    TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit_log (tenant_id, user_id);

-- One row: the chain's head. Appenders update it first, which serialises them.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
