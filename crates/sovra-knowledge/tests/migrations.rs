//! The knowledge base's schema is migrations (`migrations/{sqlite,postgres}`):
//! a database the schema code before them made opens with every row kept
//! and ends at the newest migration, with exactly the schema a new one
//! gets; opening again (or twice at once) applies nothing more. On both
//! backends: SQLite in a temporary data dir, PostgreSQL
//! (`SOVRA_TEST_POSTGRES_URL`, else the local server) in a database of its
//! own per test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use sovra_knowledge::embed::HashEmbedder;
use sovra_knowledge::{Caller, Knowledge, KnowledgeConfig, Storage};
use sovra_store::testdb::TestDb;

/// `knowledge.db` as the code before migrations created it at open
/// (`store.rs`'s `SCHEMA`, `files.rs`'s `SCHEMA`, then `FTS`), verbatim.
const OLD_SQLITE: &str = r#"
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
DROP INDEX IF EXISTS files_by_owner;
CREATE INDEX IF NOT EXISTS files_by_owner_page ON files (tenant, owner, created_at, id);

CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, collection_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');
"#;

/// The `knowledge_*` tables as the code before migrations created them at
/// open (`pg.rs`'s `SCHEMA`), verbatim.
const OLD_POSTGRES: &str = r#"
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
DROP INDEX IF EXISTS knowledge_files_by_owner;
CREATE INDEX IF NOT EXISTS knowledge_files_by_owner_page ON knowledge_files (tenant, owner, created_at, id);
"#;

/// Where one test's knowledge base lives (see `knowledge.rs`'s `Place`).
struct Place {
    dir: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Place {
    async fn new(postgres: bool) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            db: if postgres {
                Some(TestDb::create().await.unwrap())
            } else {
                None
            },
        }
    }

    fn config(&self) -> KnowledgeConfig {
        let mut config = KnowledgeConfig::new(self.dir.path());
        if let Some(db) = &self.db {
            config.storage = Storage::Postgres {
                url: db.url.clone(),
            };
        }
        config
    }

    async fn open(&self) -> Result<Knowledge, sovra_knowledge::Error> {
        Knowledge::open(self.config(), Arc::new(HashEmbedder::default())).await
    }

    fn sqlite_url(&self) -> String {
        let path = self.dir.path().join("knowledge.db");
        format!("sqlite://{}?mode=rwc", path.display())
    }

    /// Run `sql` (several statements) on the database itself.
    async fn raw(&self, sql: &str) {
        match &self.db {
            None => {
                let pool = sqlx::SqlitePool::connect(&self.sqlite_url()).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Some(db) => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// The rows of `sql`, every column read as text.
    async fn rows(&self, sql: &str) -> Vec<String> {
        use sqlx::Row as _;
        match &self.db {
            None => {
                let pool = sqlx::SqlitePool::connect(&self.sqlite_url()).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .unwrap()
                                    .unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect()
            }
            Some(db) => {
                let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| {
                                r.try_get::<Option<String>, _>(i)
                                    .unwrap()
                                    .unwrap_or_default()
                            })
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect()
            }
        }
    }

    fn table(&self, name: &str) -> String {
        match self.db {
            None => name.to_owned(),
            Some(_) => format!("knowledge_{name}"),
        }
    }

    /// Every table, column, index and constraint of the knowledge base, but
    /// the migrations' own record.
    async fn schema(&self) -> Vec<String> {
        match self.db {
            None => {
                self.rows(
                    "SELECT type, name, coalesce(sql, '') FROM sqlite_master
                     WHERE name NOT LIKE 'knowledge_migrations%' ORDER BY type, name",
                )
                .await
            }
            Some(_) => {
                let mut out = self
                    .rows(
                        "SELECT table_name::TEXT, ordinal_position::TEXT, column_name::TEXT, data_type::TEXT,
                                is_nullable::TEXT, coalesce(column_default, '')::TEXT, is_identity::TEXT
                         FROM information_schema.columns
                         WHERE table_schema = 'public' AND table_name LIKE 'knowledge\\_%'
                           AND table_name <> 'knowledge_migrations'
                         ORDER BY table_name, ordinal_position",
                    )
                    .await;
                out.extend(
                    self.rows(
                        "SELECT indexname::TEXT, indexdef FROM pg_indexes
                         WHERE schemaname = 'public' AND tablename LIKE 'knowledge\\_%'
                           AND tablename <> 'knowledge_migrations'
                         ORDER BY indexname",
                    )
                    .await,
                );
                out.extend(
                    self.rows(
                        "SELECT conrelid::regclass::TEXT, conname::TEXT, pg_get_constraintdef(oid)
                         FROM pg_constraint WHERE conrelid::regclass::TEXT LIKE 'knowledge\\_%'
                           AND conrelid::regclass::TEXT <> 'knowledge_migrations'
                         ORDER BY 1, 2",
                    )
                    .await,
                );
                out
            }
        }
    }

    /// The migrations recorded as applied: version, description, checksum.
    async fn applied(&self) -> Vec<String> {
        let checksum = match self.db {
            None => "hex(checksum)",
            Some(_) => "encode(checksum, 'hex')",
        };
        self.rows(&format!(
            "SELECT CAST(version AS TEXT), description, {checksum}, CAST(applied_at AS TEXT)
             FROM knowledge_migrations ORDER BY version"
        ))
        .await
    }

    /// The migration files this build embeds, by version.
    fn migrations(&self) -> Vec<i64> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(if self.db.is_some() {
                "postgres"
            } else {
                "sqlite"
            });
        let mut out: Vec<i64> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.split('_').next().unwrap().parse().unwrap()
            })
            .collect();
        out.sort_unstable();
        out
    }
}

/// Run `async fn $name(postgres: bool)` as `$name::sqlite` and `$name::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(false).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(true).await
            }
        }
    )*};
}

both!(
    a_database_from_before_migrations_opens_with_its_rows,
    migrating_again_is_a_no_op,
    replicas_opening_together_migrate_once,
    a_database_migrated_by_a_newer_build_is_refused,
);

/// A 64-dimension embedding (the [`HashEmbedder`]'s) as stored: little-endian f32s.
fn embedding_hex() -> String {
    (0..64)
        .flat_map(|i| (i as f32 / 64.0).to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn a_database_from_before_migrations_opens_with_its_rows(postgres: bool) {
    let place = Place::new(postgres).await;
    let blob = embedding_hex();
    if postgres {
        place.raw(OLD_POSTGRES).await;
        place
            .raw(&format!(
                "UPDATE knowledge_meta SET value = 12345 WHERE key = 'instance';
                 UPDATE knowledge_meta SET value = 7 WHERE key = 'generation';
                 INSERT INTO knowledge_collections (id, name, scope, tenant, created_at)
                     VALUES ('coll-old', 'Old guidance', 'public', 'public', 1);
                 INSERT INTO knowledge_documents (id, collection_id, source, title, content_hash, bytes, chunks, created_at)
                     VALUES ('doc-old', 'coll-old', 'renewal.md', 'Passport renewal', 'h', 40, 1, 1);
                 INSERT INTO knowledge_chunks (document_id, collection_id, ord, heading, text, embedding, fts)
                     VALUES ('doc-old', 'coll-old', 0, 'Renewing', 'Bring the old passport.', '\\x{blob}',
                             to_tsvector('simple', 'Passport renewal' || chr(10) || 'Renewing' || chr(10) || 'Bring the old passport.'));
                 INSERT INTO knowledge_files (id, tenant, owner, filename, purpose, bytes, created_at, content)
                     VALUES ('file-old', 'public', 'alice', 'notes.txt', 'assistants', 5, 1, '\\x68656c6c6f');"
            ))
            .await;
    } else {
        place.raw(OLD_SQLITE).await;
        place
            .raw(&format!(
                "UPDATE meta SET value = 7 WHERE key = 'generation';
                 INSERT INTO collections (id, name, scope, tenant, created_at)
                     VALUES ('coll-old', 'Old guidance', 'public', 'public', 1);
                 INSERT INTO documents (id, collection_id, source, title, content_hash, bytes, chunks, created_at)
                     VALUES ('doc-old', 'coll-old', 'renewal.md', 'Passport renewal', 'h', 40, 1, 1);
                 INSERT INTO chunks (id, document_id, collection_id, ord, heading, text, embedding)
                     VALUES (1, 'doc-old', 'coll-old', 0, 'Renewing', 'Bring the old passport.', x'{blob}');
                 INSERT INTO chunks_fts (rowid, body, collection_id)
                     VALUES (1, 'Passport renewal' || char(10) || 'Renewing' || char(10) || 'Bring the old passport.', 'coll-old');
                 INSERT INTO files (id, tenant, owner, filename, purpose, bytes, created_at, content)
                     VALUES ('file-old', 'public', 'alice', 'notes.txt', 'assistants', 5, 1, x'68656c6c6f');"
            ))
            .await;
    }
    let old_schema = place.schema().await;

    let k = place.open().await.unwrap();
    let counts = k.counts().await.unwrap();
    assert_eq!(
        (
            counts.collections,
            counts.documents,
            counts.chunks,
            counts.fts_rows,
            counts.vectors
        ),
        (1, 1, 1, 1, 1),
        "every row kept, the full text untouched, the vectors loaded from it"
    );
    let alice = Caller::new("public", "alice", false);
    let collections = k.list_collections(&alice).await.unwrap();
    assert_eq!(collections.len(), 1);
    assert_eq!(collections[0].id, "coll-old");
    assert_eq!(
        (
            collections[0].documents,
            collections[0].chunks,
            collections[0].bytes
        ),
        (1, 1, 40)
    );
    assert_eq!(k.fts_matches("passport").await.unwrap(), 1);
    assert_eq!(
        k.file(&alice, "file-old").await.unwrap().filename,
        "notes.txt"
    );
    let meta = place.table("meta");
    assert_eq!(
        place
            .rows(&format!(
                "SELECT CAST(value AS TEXT) FROM {meta} WHERE key = 'generation'"
            ))
            .await,
        ["7"],
        "opening writes nothing of its own"
    );
    if postgres {
        assert_eq!(
            place
                .rows("SELECT CAST(value AS TEXT) FROM knowledge_meta WHERE key = 'instance'")
                .await,
            ["12345"],
            "the instance id (which names the vector file) is kept"
        );
        assert!(place.dir.path().join("knowledge-pg-3039.vec").exists());
    }
    drop(k);

    let versions: Vec<String> = place
        .applied()
        .await
        .iter()
        .map(|r| r.split(" | ").next().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = place.migrations().iter().map(i64::to_string).collect();
    assert_eq!(
        versions, expected,
        "at the newest migration, every one recorded"
    );
    assert_eq!(
        place.schema().await,
        old_schema,
        "the migrations changed nothing in the old schema"
    );

    // And the schema is exactly the one a new knowledge base gets.
    let fresh = Place::new(postgres).await;
    drop(fresh.open().await.unwrap());
    assert_eq!(fresh.schema().await, old_schema);
}

async fn migrating_again_is_a_no_op(postgres: bool) {
    let place = Place::new(postgres).await;
    let k = place.open().await.unwrap();
    let op = Caller::operator("public");
    k.create_collection(&op, "Guidance", sovra_knowledge::Scope::Public, "")
        .await
        .unwrap();
    drop(k);
    let applied = place.applied().await;
    assert_eq!(applied.len(), place.migrations().len());
    let schema = place.schema().await;

    for _ in 0..2 {
        let k = place.open().await.unwrap();
        assert_eq!(k.counts().await.unwrap().collections, 1);
        drop(k);
        assert_eq!(place.applied().await, applied, "nothing applied again");
        assert_eq!(place.schema().await, schema);
    }
}

async fn replicas_opening_together_migrate_once(postgres: bool) {
    let place = Place::new(postgres).await;
    let (a, b) = tokio::join!(place.open(), place.open());
    a.unwrap();
    b.unwrap();
    assert_eq!(place.applied().await.len(), place.migrations().len());
}

async fn a_database_migrated_by_a_newer_build_is_refused(postgres: bool) {
    let place = Place::new(postgres).await;
    drop(place.open().await.unwrap());
    let blob = match place.db {
        None => "x'00'",
        Some(_) => "'\\x00'",
    };
    place
        .raw(&format!(
            "INSERT INTO knowledge_migrations (version, description, checksum, applied_at)
             VALUES (9999, 'from the future', {blob}, 0)"
        ))
        .await;
    let err = place.open().await.err().expect("refused");
    assert!(err.to_string().contains("9999"), "{err}");
}
