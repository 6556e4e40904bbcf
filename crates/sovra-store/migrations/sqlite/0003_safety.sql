-- Citizens' ratings of answers, moderation actions and request counts for
-- the transparency report. Feedback reasons are sealed with the rater's key
-- (like message text); a rating goes with its message (erasure, retention).
CREATE TABLE feedback (
    id          TEXT PRIMARY KEY NOT NULL,
    message_id  TEXT NOT NULL UNIQUE REFERENCES messages (id) ON DELETE CASCADE,
    rating      TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    reason      BLOB,
    created_at  INTEGER NOT NULL
);
CREATE INDEX feedback_created ON feedback (created_at);

-- What the safety pipeline did; metadata only, never message text or who.
CREATE TABLE safety_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms       INTEGER NOT NULL,
    stage       TEXT NOT NULL CHECK (stage IN ('input', 'output')),
    language    TEXT NOT NULL,
    action      TEXT NOT NULL,
    rule        TEXT,
    categories  TEXT NOT NULL
);
CREATE INDEX safety_events_at ON safety_events (at_ms);

-- Requests per day and answer language, flushed from memory in batches.
CREATE TABLE request_counts (
    day       TEXT NOT NULL,
    language  TEXT NOT NULL,
    requests  BIGINT NOT NULL,
    PRIMARY KEY (day, language)
);
