-- Conversations and their messages. Times are Unix milliseconds (UTC).
CREATE TABLE conversations (
    id          TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX conversations_updated ON conversations (updated_at DESC);

CREATE TABLE messages (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    conversation_id  TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('system', 'developer', 'user', 'assistant', 'tool')),
    content          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    -- Token counts from the engine's tokenizer (assistant messages).
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    finish_reason     TEXT
);
CREATE INDEX messages_conversation ON messages (conversation_id, seq);
