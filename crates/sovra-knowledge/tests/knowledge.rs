//! The knowledge base end to end with the model-free [`HashEmbedder`]:
//! idempotent and replacing ingestion, access control over random
//! operation sequences, erasure down to the index rows, rebuilds, limits.
//! Every behaviour runs on both backends (`both!`): SQLite in a temporary
//! data dir, and the real PostgreSQL server (`SOVRA_TEST_POSTGRES_URL`,
//! else the local one) in a database of its own per test; replicas sharing
//! one PostgreSQL knowledge base are tested at the end.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sovra_knowledge::embed::HashEmbedder;
use sovra_knowledge::{
    Caller, Error, FileListQuery, FileSealer, IngestStatus, Knowledge, KnowledgeConfig, Limits,
    Mode, NewDocument, Query, Scope, SealError, Storage,
};
use sovra_store::testdb::TestDb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where one test's knowledge base lives: a data dir, and on PostgreSQL a
/// fresh database dropped with the test.
struct Place {
    dir: tempfile::TempDir,
    db: Option<TestDb>,
}

impl Place {
    async fn new(backend: Backend) -> Self {
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(TestDb::create().await.unwrap()),
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            db,
        }
    }

    /// A config for a replica whose data dir is `dir`.
    fn config_in(&self, dir: &Path) -> KnowledgeConfig {
        let mut config = KnowledgeConfig::new(dir);
        if let Some(db) = &self.db {
            config.storage = Storage::Postgres {
                url: db.url.clone(),
            };
        }
        config
    }

    fn config(&self) -> KnowledgeConfig {
        self.config_in(self.dir.path())
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn open(&self) -> Knowledge {
        Knowledge::open(self.config(), Arc::new(HashEmbedder::default()))
            .await
            .unwrap()
    }

    /// The vector index files in the data dir.
    fn vec_files(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "vec"))
            .collect()
    }
}

/// Run `async fn $name(backend: Backend)` as `$name::sqlite` and `$name::postgres`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await
            }
        }
    )*};
}

both!(
    reingesting_is_idempotent_and_a_change_replaces_chunks,
    no_caller_ever_retrieves_what_it_may_not_read,
    erasure_leaves_no_chunk_vector_or_fulltext_row,
    retention_purges_old_private_documents_only,
    lost_indexes_are_rebuilt_from_the_stored_chunks,
    a_second_process_writing_is_seen_by_the_first,
    limits_are_enforced,
    pdf_and_docx_are_ingested_with_their_metadata,
    files_page_by_keyset_in_a_total_order,
    uploaded_files_are_sealed_with_their_owners_key,
    private_collections_are_sealed_and_searched_in_memory,
);

/// A store whose subject keys seal for the knowledge base, in `dir`.
async fn key_store(dir: &Path) -> Arc<dyn sovra_store::Store> {
    Arc::new(
        sovra_store::SqliteStore::open(
            dir,
            sovra_store::crypto::Keyring::new(sovra_store::crypto::Key::generate()),
        )
        .await
        .unwrap(),
    )
}

/// The server's sealer, over a real store's subject keys (the binary's
/// `StoreSealer` is the same few lines).
struct StoreSealer(Arc<dyn sovra_store::Store>);

#[async_trait::async_trait]
impl FileSealer for StoreSealer {
    async fn seal(&self, t: &str, u: &str, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let s = sovra_store::Subject::new(t, u).map_err(|e| SealError(e.to_string()))?;
        self.0
            .seal_for(&s, aad, plain)
            .await
            .map_err(|e| SealError(e.to_string()))
    }

    async fn open(
        &self,
        t: &str,
        u: &str,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let s = sovra_store::Subject::new(t, u).map_err(|e| SealError(e.to_string()))?;
        self.0
            .open_for(&s, aad, sealed)
            .await
            .map_err(|e| SealError(e.to_string()))
    }

    async fn open_many(
        &self,
        t: &str,
        u: &str,
        items: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<Vec<Vec<u8>>, SealError> {
        let s = sovra_store::Subject::new(t, u).map_err(|e| SealError(e.to_string()))?;
        self.0
            .open_many_for(&s, items)
            .await
            .map_err(|e| SealError(e.to_string()))
    }
}

/// Run one statement on the knowledge database itself, bypassing the API.
async fn raw_sql(place: &Place, sqlite: &str, postgres: &str) {
    match &place.db {
        None => {
            let url = format!("sqlite://{}", place.path().join("knowledge.db").display());
            // As the knowledge base writes: what is overwritten is zeroed.
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let mut conn = pool.acquire().await.unwrap();
            sqlx::query("PRAGMA secure_delete = on")
                .execute(&mut *conn)
                .await
                .unwrap();
            sqlx::query(sqlite).execute(&mut *conn).await.unwrap();
            drop(conn);
            pool.close().await;
        }
        Some(db) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(postgres).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Whether `marker` is anywhere in the stored knowledge base: the raw
/// bytes of `knowledge.db` and its write-ahead log, or on PostgreSQL every
/// stored file's content and every row of the other tables as text (the
/// full-text column's lexemes included).
async fn stored_anywhere(place: &Place, marker: &str) -> bool {
    match &place.db {
        None => ["knowledge.db", "knowledge.db-wal"].iter().any(|f| {
            std::fs::read(place.path().join(f))
                .is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker.as_bytes()))
        }),
        Some(db) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM knowledge_files WHERE position(convert_to($1, 'UTF8') in content) > 0)
                      + (SELECT count(*) FROM knowledge_files f WHERE strpos(lower(f::text), lower($1)) > 0)
                      + (SELECT count(*) FROM knowledge_chunks c WHERE strpos(lower(c::text), lower($1)) > 0)
                      + (SELECT count(*) FROM knowledge_documents d WHERE strpos(lower(d::text), lower($1)) > 0)
                      + (SELECT count(*) FROM knowledge_collections k WHERE strpos(lower(k::text), lower($1)) > 0)",
            )
            .bind(marker)
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            n > 0
        }
    }
}

/// Issue 21, finding 8: an upload's bytes are sealed with its owner's
/// subject key: not in the database, yet downloaded, exported and
/// attached as before; rows from before sealing stay readable; sealed
/// bytes moved to another row do not open; erasing the owner's key
/// shreds what is left.
async fn uploaded_files_are_sealed_with_their_owners_key(backend: Backend) {
    let place = Place::new(backend).await;
    let keys = tempfile::tempdir().unwrap();
    let store: Arc<dyn sovra_store::Store> = Arc::new(
        sovra_store::SqliteStore::open(
            keys.path(),
            sovra_store::crypto::Keyring::new(sovra_store::crypto::Key::generate()),
        )
        .await
        .unwrap(),
    );
    let alice = Caller::new("public", "alice", false);
    let bob = Caller::new("public", "bob", false);

    // Written before sealing: plaintext, and it stays readable.
    let old = place
        .open()
        .await
        .add_file(&alice, "old.txt", "assistants", b"legacy walrusplain")
        .await
        .unwrap();
    assert!(stored_anywhere(&place, "walrusplain").await);

    let kb = place
        .open()
        .await
        .with_sealer(Arc::new(StoreSealer(store.clone())));
    let plain = b"# Note\n\nThe sealedmanatee code is 4.";
    let f = kb
        .add_file(&alice, "note.md", "assistants", plain)
        .await
        .unwrap();
    assert_eq!(f.bytes, plain.len() as u64, "the size is the plaintext's");
    assert!(
        !stored_anywhere(&place, "sealedmanatee").await,
        "the upload's bytes are sealed at rest"
    );
    assert_eq!(kb.file_content(&alice, &f.id).await.unwrap().1, plain);
    assert_eq!(
        kb.file_content(&alice, &old.id).await.unwrap().1,
        b"legacy walrusplain"
    );
    assert!(matches!(
        kb.file_content(&bob, &f.id).await,
        Err(Error::NotFound { .. })
    ));
    let export = kb.export_subject("public", "alice").await.unwrap();
    let mut exported: Vec<&[u8]> = export.files.iter().map(|(_, b)| b.as_slice()).collect();
    exported.sort();
    assert_eq!(
        exported,
        vec![plain.as_slice(), b"legacy walrusplain".as_slice()]
    );

    // Attached to a collection: ingested from the opened bytes.
    let mine = kb
        .create_collection(&alice, "mine", Scope::Private, "")
        .await
        .unwrap();
    let doc = kb.file_document(&alice, &f.id).await.unwrap();
    assert_eq!(doc.bytes, plain);
    kb.ingest(&alice, &mine.id, doc).await.unwrap();
    assert_eq!(
        kb.search(&alice, &text_query("sealedmanatee"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Sealed bytes moved to another row (here: her old file) do not open.
    let id = &f.id;
    let old_id = &old.id;
    raw_sql(
        &place,
        &format!("UPDATE files SET content = (SELECT content FROM files WHERE id = '{id}') WHERE id = '{old_id}'"),
        &format!("UPDATE knowledge_files SET content = (SELECT content FROM knowledge_files WHERE id = '{id}') WHERE id = '{old_id}'"),
    )
    .await;
    assert!(matches!(
        kb.file_content(&alice, &old.id).await,
        Err(Error::Seal(_))
    ));

    // The owner's key erased (as `DELETE /api/me/data` and `sovra data
    // erase` do, with the rows): any copy left of the bytes is shredded.
    store
        .erase_subject(&sovra_store::Subject::public("alice").unwrap(), "test")
        .await
        .unwrap();
    assert!(matches!(
        kb.file_content(&alice, &f.id).await,
        Err(Error::Seal(_))
    ));
    assert!(kb.file_document(&alice, &f.id).await.is_err());
    assert!(kb.export_subject("public", "alice").await.is_err());
}

/// Issue 21, finding 8: a private collection's documents and passages are
/// sealed with the owner's key: no word of them in the database files or
/// rows, nor in the full-text index, yet the owner finds them by text and
/// by meaning, with their citations opened; nobody else finds them; public
/// collections keep their full-text index; rows from before sealing still
/// read and are still found; once the owner's key is gone nothing opens,
/// and erasure still takes the rows.
async fn private_collections_are_sealed_and_searched_in_memory(backend: Backend) {
    let place = Place::new(backend).await;
    let keys = tempfile::tempdir().unwrap();
    let store = key_store(keys.path()).await;
    let op = Caller::operator("public");
    let alice = Caller::new("public", "alice", false);
    let bob = Caller::new("public", "bob", false);

    // Written before sealing, by a version that indexed private passages.
    let mine = {
        let kb = place.open().await;
        let mine = kb
            .create_collection(&alice, "mine", Scope::Private, "")
            .await
            .unwrap();
        kb.ingest(
            &alice,
            &mine.id,
            md(
                "legacy.md",
                "# Old\n\nThe walrusledger was kept before sealing.",
            ),
        )
        .await
        .unwrap();
        mine
    };
    raw_sql(
        &place,
        "INSERT INTO chunks_fts (rowid, body, collection_id) SELECT id, text, collection_id FROM chunks",
        "UPDATE knowledge_chunks SET fts = to_tsvector('simple', text)",
    )
    .await;
    assert!(stored_anywhere(&place, "walrusledger").await);

    // Opening drops the private full-text rows; the passage stays plaintext.
    let kb = place
        .open()
        .await
        .with_sealer(Arc::new(StoreSealer(store.clone())));
    assert_eq!(kb.fts_matches("walrusledger").await.unwrap(), 0);
    assert_eq!(kb.counts().await.unwrap().fts_rows, 0);

    let public = kb
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    kb.ingest(
        &op,
        &public.id,
        md("gov.md", "# Fees\n\nThe narwhalpermit costs 5 euros."),
    )
    .await
    .unwrap();
    let letter = NewDocument {
        title: Some("Tax note quokkatitle".into()),
        url: Some("https://example.org/quokkaurl".into()),
        ..md(
            "quokkasource-letter.md",
            "# Heading quokkaheading\n\nMy quokkasecret tax number is 7.\n\n# Garden\n\nA second passage about roses.",
        )
    };
    let ing = kb.ingest(&alice, &mine.id, letter.clone()).await.unwrap();
    assert_eq!(ing.status, IngestStatus::Added);
    assert_eq!(ing.document.title, "Tax note quokkatitle");
    assert_eq!(ing.document.source, "quokkasource-letter.md");
    let markers = [
        "quokkasecret",
        "quokkatitle",
        "quokkaurl",
        "quokkasource",
        "quokkaheading",
        "roses",
    ];
    for m in markers {
        assert!(
            !stored_anywhere(&place, m).await,
            "{m} is stored in the clear"
        );
    }
    assert!(stored_anywhere(&place, "narwhalpermit").await);
    // The public collection keeps its full-text rows; private ones have none.
    assert_eq!(kb.fts_matches("narwhalpermit").await.unwrap(), 1);
    assert_eq!(kb.fts_matches("quokkasecret").await.unwrap(), 0);
    let c = kb.counts().await.unwrap();
    assert_eq!((c.chunks, c.fts_rows, c.vectors), (4, 1, 4));

    // The owner finds it by text and by both lists, cited in the clear.
    for mode in [Mode::Text, Mode::Hybrid, Mode::Vector] {
        let hits = kb
            .search(
                &alice,
                &Query {
                    mode,
                    ..Query::new("quokkasecret tax number", 5)
                },
            )
            .await
            .unwrap();
        let h = hits
            .iter()
            .find(|h| h.text.contains("quokkasecret"))
            .unwrap_or_else(|| panic!("{mode:?}: {hits:?}"));
        if mode == Mode::Text {
            assert_eq!(hits[0].chunk_id, h.chunk_id, "{hits:?}");
        }
        assert_eq!(h.document_id, ing.document.id);
        assert_eq!(h.collection_id, mine.id);
        assert_eq!(h.title, "Tax note quokkatitle");
        assert_eq!(h.source, "quokkasource-letter.md");
        assert_eq!(h.url.as_deref(), Some("https://example.org/quokkaurl"));
        assert_eq!(h.heading, "Heading quokkaheading");
        assert_eq!(h.text, "My quokkasecret tax number is 7.");
    }
    // A word of the title finds every passage of the document, as in FTS.
    assert_eq!(
        kb.search(&alice, &text_query("quokkatitle"))
            .await
            .unwrap()
            .len(),
        2
    );
    // Public and private text hits come in one list.
    let both = kb
        .search(&alice, &text_query("narwhalpermit quokkasecret"))
        .await
        .unwrap();
    let mut cols: Vec<&str> = both.iter().map(|h| h.collection_id.as_str()).collect();
    cols.sort();
    let mut want = vec![mine.id.as_str(), public.id.as_str()];
    want.sort();
    assert_eq!(cols, want, "{both:?}");
    // The legacy plaintext passage is read and found, once.
    let old = kb
        .search(&alice, &text_query("walrusledger"))
        .await
        .unwrap();
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0].text, "The walrusledger was kept before sealing.");
    assert_eq!(old[0].source, "legacy.md");

    // Nobody else finds it, by any list, nor reaches the collection.
    for mode in [Mode::Text, Mode::Hybrid, Mode::Vector] {
        let hits = kb
            .search(
                &bob,
                &Query {
                    mode,
                    ..Query::new("quokkasecret tax number walrusledger", 10)
                },
            )
            .await
            .unwrap();
        assert!(
            hits.iter().all(|h| h.collection_id == public.id),
            "{hits:?}"
        );
    }
    assert!(matches!(
        kb.search(
            &bob,
            &Query {
                collections: Some(vec![mine.id.clone()]),
                ..text_query("quokkasecret")
            }
        )
        .await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        kb.documents(&bob, &mine.id).await,
        Err(Error::NotFound { .. })
    ));

    // The owner's listing and export are in the clear.
    let mut sources: Vec<String> = kb
        .documents(&alice, &mine.id)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.source)
        .collect();
    sources.sort();
    assert_eq!(sources, ["legacy.md", "quokkasource-letter.md"]);
    let export = kb.export_subject("public", "alice").await.unwrap();
    assert_eq!(export.collections.len(), 1);
    let doc = export.collections[0]
        .1
        .iter()
        .find(|d| d.id == ing.document.id)
        .unwrap();
    assert_eq!(doc.title, "Tax note quokkatitle");
    assert_eq!(doc.url.as_deref(), Some("https://example.org/quokkaurl"));

    // Sealed sources still say when a document is unchanged or replaced.
    let again = kb.ingest(&alice, &mine.id, letter.clone()).await.unwrap();
    assert_eq!(again.status, IngestStatus::Unchanged);
    assert_eq!(again.document, ing.document);
    let changed = NewDocument {
        bytes: b"Now the quokkanew passage only.".to_vec(),
        ..letter
    };
    let replaced = kb.ingest(&alice, &mine.id, changed).await.unwrap();
    assert_eq!(replaced.status, IngestStatus::Replaced);
    assert_eq!(kb.counts().await.unwrap().chunks, 3);
    assert!(
        kb.search(&alice, &text_query("quokkasecret"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        kb.search(&alice, &text_query("quokkanew"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!stored_anywhere(&place, "quokkanew").await);

    // A sealed passage moved to another row does not open.
    raw_sql(
        &place,
        &format!("UPDATE chunks SET text = (SELECT text FROM chunks WHERE document_id = '{0}') WHERE collection_id = '{1}' AND document_id <> '{0}'", replaced.document.id, mine.id),
        &format!("UPDATE knowledge_chunks SET text = (SELECT text FROM knowledge_chunks WHERE document_id = '{0}') WHERE collection_id = '{1}' AND document_id <> '{0}'", replaced.document.id, mine.id),
    )
    .await;
    assert!(matches!(
        kb.search(&alice, &text_query("quokkanew")).await,
        Err(Error::Seal(_))
    ));

    // The owner's key erased: nothing of hers opens; others are served.
    store
        .erase_subject(&sovra_store::Subject::public("alice").unwrap(), "test")
        .await
        .unwrap();
    assert!(matches!(
        kb.search(&alice, &Query::new("quokkanew", 5)).await,
        Err(Error::Seal(_))
    ));
    assert!(matches!(
        kb.documents(&alice, &mine.id).await,
        Err(Error::Seal(_))
    ));
    assert!(kb.export_subject("public", "alice").await.is_err());
    assert_eq!(
        kb.search(&bob, &Query::new("narwhalpermit", 5))
            .await
            .unwrap()
            .len(),
        1
    );
    // Erasure takes the rows, legacy plaintext included, without opening them.
    let removed = kb.erase_subject("public", "alice").await.unwrap();
    assert_eq!((removed.collections, removed.documents), (1, 2));
    assert!(!stored_anywhere(&place, "walrusledger").await);
    assert!(
        kb.search(&alice, &Query::new("quokkanew", 5))
            .await
            .unwrap()
            .iter()
            .all(|h| h.collection_id == public.id)
    );
    let export = kb.export_subject("public", "alice").await.unwrap();
    assert!(export.collections.is_empty() && export.files.is_empty());
}

fn md(source: &str, body: &str) -> NewDocument {
    NewDocument::from_source(source, body.as_bytes().to_vec()).unwrap()
}

fn text_query(q: &str) -> Query {
    Query {
        mode: Mode::Text,
        ..Query::new(q, 10)
    }
}

async fn reingesting_is_idempotent_and_a_change_replaces_chunks(backend: Backend) {
    let place = Place::new(backend).await;
    let kb = place.open().await;
    let op = Caller::operator("public");
    let c = kb
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    let v1 = "# Fees\n\nThe zebrafee is 30 euros.\n\n# Where\n\nAt the office.";
    let a = kb.ingest(&op, &c.id, md("fees.md", v1)).await.unwrap();
    assert_eq!(a.status, IngestStatus::Added);
    let before = kb.counts().await.unwrap();
    assert_eq!(
        (
            before.documents,
            before.chunks,
            before.fts_rows,
            before.vectors
        ),
        (1, 2, 2, 2)
    );
    let again = kb.ingest(&op, &c.id, md("fees.md", v1)).await.unwrap();
    assert_eq!(again.status, IngestStatus::Unchanged);
    assert_eq!(again.document.id, a.document.id);
    assert_eq!(kb.counts().await.unwrap(), before);

    let v2 = "# Fees\n\nThe quaggafee is 45 euros.";
    let b = kb.ingest(&op, &c.id, md("fees.md", v2)).await.unwrap();
    assert_eq!(b.status, IngestStatus::Replaced);
    let after = kb.counts().await.unwrap();
    assert_eq!(
        (after.documents, after.chunks, after.fts_rows, after.vectors),
        (1, 1, 1, 1)
    );
    assert_eq!(kb.fts_matches("zebrafee").await.unwrap(), 0);
    let hits = kb.search(&op, &text_query("quaggafee")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].document_id, b.document.id);
    assert!(
        kb.search(&op, &text_query("zebrafee"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Random sequences of creates, ingests, deletes and erasures by members of
/// two tenants; after every step, every caller's every search returns only
/// what that caller may read, and everything it may read is findable.
async fn no_caller_ever_retrieves_what_it_may_not_read(backend: Backend) {
    let callers = [
        Caller::new("a", "alice", false),
        Caller::new("a", "bob", false),
        Caller::new("b", "carol", false),
        Caller::new("a", "admin-a", true),
        Caller::new("b", "admin-b", true),
    ];
    for seed in 0..6u64 {
        let place = Place::new(backend).await;
        let kb = place.open().await;
        let mut rng = StdRng::seed_from_u64(seed);
        // marker word -> collection id
        let mut markers: HashMap<String, String> = HashMap::new();
        let mut collections: Vec<String> = Vec::new();
        for step in 0..40 {
            let who = &callers[rng.random_range(0..callers.len())];
            match rng.random_range(0..10) {
                0..=2 => {
                    let scope =
                        [Scope::Public, Scope::Tenant, Scope::Private][rng.random_range(0..3)];
                    match kb.create_collection(who, "c", scope, "").await {
                        Ok(c) => collections.push(c.id),
                        Err(Error::Forbidden(_)) => {
                            assert!(!who.operator && scope != Scope::Private)
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                3..=7 if !collections.is_empty() => {
                    let c = collections[rng.random_range(0..collections.len())].clone();
                    let marker = format!("mark{seed}x{step}q");
                    match kb
                        .ingest(
                            who,
                            &c,
                            md(
                                &format!("{marker}.md"),
                                &format!("# T\n\nText {marker} here."),
                            ),
                        )
                        .await
                    {
                        Ok(_) => {
                            markers.insert(marker, c);
                        }
                        Err(Error::Forbidden(_) | Error::NotFound { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                8 if !collections.is_empty() => {
                    let c = collections[rng.random_range(0..collections.len())].clone();
                    if kb.delete_collection(who, &c).await.is_ok() {
                        markers.retain(|_, coll| *coll != c);
                        collections.retain(|x| *x != c);
                    }
                }
                9 => {
                    kb.erase_subject(&who.tenant, &who.user).await.unwrap();
                    let alive: Vec<String> = {
                        let mut ids = Vec::new();
                        for c in &callers {
                            ids.extend(
                                kb.list_collections(c)
                                    .await
                                    .unwrap()
                                    .into_iter()
                                    .map(|c| c.id),
                            );
                        }
                        ids
                    };
                    collections.retain(|c| alive.contains(c));
                    markers.retain(|_, c| alive.contains(c));
                }
                _ => {}
            }
            for caller in &callers {
                let readable: Vec<String> = kb
                    .list_collections(caller)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                for (marker, coll) in &markers {
                    for mode in [Mode::Text, Mode::Hybrid] {
                        let q = Query {
                            mode,
                            ..Query::new(marker, 50)
                        };
                        let hits = kb.search(caller, &q).await.unwrap();
                        for h in &hits {
                            assert!(
                                readable.contains(&h.collection_id),
                                "seed {seed} step {step}: {caller:?} got {h:?}"
                            );
                        }
                        if mode == Mode::Text {
                            let found = hits.iter().any(|h| h.text.contains(marker.as_str()));
                            assert_eq!(
                                found,
                                readable.contains(coll),
                                "seed {seed} step {step}: {caller:?} {marker}"
                            );
                        }
                    }
                    // Naming a collection one may not read is "not found".
                    if !readable.contains(coll) {
                        let q = Query {
                            collections: Some(vec![coll.clone()]),
                            ..Query::new(marker, 5)
                        };
                        assert!(matches!(
                            kb.search(caller, &q).await,
                            Err(Error::NotFound { .. })
                        ));
                    }
                }
            }
        }
    }
}

async fn erasure_leaves_no_chunk_vector_or_fulltext_row(backend: Backend) {
    let place = Place::new(backend).await;
    let kb = place.open().await;
    let alice = Caller::new("public", "alice", false);
    let bob = Caller::new("public", "bob", false);
    let mine = kb
        .create_collection(&alice, "mine", Scope::Private, "")
        .await
        .unwrap();
    let his = kb
        .create_collection(&bob, "his", Scope::Private, "")
        .await
        .unwrap();
    let a = kb
        .ingest(
            &alice,
            &mine.id,
            md("a.md", "# Secret\n\nMy aardvarkcase number is 12."),
        )
        .await
        .unwrap();
    kb.ingest(
        &bob,
        &his.id,
        md("b.md", "# Note\n\nBob's okapifile stays."),
    )
    .await
    .unwrap();
    let chunk_ids: Vec<i64> = kb
        .search(&alice, &text_query("aardvarkcase"))
        .await
        .unwrap()
        .iter()
        .map(|h| h.chunk_id)
        .collect();
    assert!(!chunk_ids.is_empty());
    let removed = kb.erase_subject("public", "alice").await.unwrap();
    assert_eq!(
        (removed.collections, removed.documents, removed.chunks),
        (1, 1, a.document.chunks)
    );
    // Bob's private passage is left, with no full-text row (private
    // collections are searched in memory).
    let c = kb.counts().await.unwrap();
    assert_eq!(
        (c.collections, c.documents, c.chunks, c.fts_rows, c.vectors),
        (1, 1, 1, 0, 1)
    );
    assert_eq!(kb.fts_matches("aardvarkcase").await.unwrap(), 0);
    for id in chunk_ids {
        assert!(!kb.has_vector(id));
    }
    assert!(kb.list_collections(&alice).await.unwrap().is_empty());
    // Reopening rebuilds nothing that was erased.
    drop(kb);
    let kb = place.open().await;
    assert_eq!(kb.counts().await.unwrap().vectors, 1);
    assert_eq!(kb.counts().await.unwrap().fts_rows, 0);
    assert_eq!(
        kb.search(&bob, &text_query("okapifile"))
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn retention_purges_old_private_documents_only(backend: Backend) {
    let place = Place::new(backend).await;
    let kb = place.open().await;
    let op = Caller::operator("public");
    let alice = Caller::new("public", "alice", false);
    let public = kb
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    let mine = kb
        .create_collection(&alice, "mine", Scope::Private, "")
        .await
        .unwrap();
    kb.ingest(&op, &public.id, md("p.md", "Public text."))
        .await
        .unwrap();
    kb.ingest(&alice, &mine.id, md("m.md", "Private text."))
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let keep = kb.purge_expired(&|_| Some(30), now).await.unwrap();
    assert_eq!(keep.documents, 0);
    let gone = kb
        .purge_expired(&|_| Some(30), now + 31 * 86_400)
        .await
        .unwrap();
    assert_eq!((gone.documents, gone.chunks), (1, 1));
    let c = kb.counts().await.unwrap();
    assert_eq!((c.documents, c.chunks, c.fts_rows, c.vectors), (1, 1, 1, 1));
}

async fn lost_indexes_are_rebuilt_from_the_stored_chunks(backend: Backend) {
    let place = Place::new(backend).await;
    {
        let kb = place.open().await;
        let op = Caller::operator("public");
        let c = kb
            .create_collection(&op, "gov", Scope::Public, "")
            .await
            .unwrap();
        kb.ingest(
            &op,
            &c.id,
            md(
                "x.md",
                "# A\n\nThe ibexpermit costs 5 euros.\n\n# B\n\nSecond part.",
            ),
        )
        .await
        .unwrap();
        kb.flush().await.unwrap();
    }
    let files = place.vec_files();
    assert_eq!(files.len(), 1, "{files:?}");
    std::fs::remove_file(&files[0]).unwrap();
    // Drop the full-text index behind the knowledge base's back.
    match &place.db {
        None => {
            let url = format!("sqlite://{}", place.path().join("knowledge.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE chunks_fts")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Some(db) => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::raw_sql(
                "DROP INDEX knowledge_chunks_fts; UPDATE knowledge_chunks SET fts = NULL",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
    let kb = place.open().await;
    let c = kb.counts().await.unwrap();
    assert_eq!((c.chunks, c.fts_rows, c.vectors), (2, 2, 2));
    assert_eq!(place.vec_files(), files);
    let hits = kb
        .search(&Caller::new("x", "y", false), &text_query("ibexpermit"))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    let v = kb
        .search(
            &Caller::new("x", "y", false),
            &Query {
                mode: Mode::Vector,
                ..Query::new("ibexpermit costs", 1)
            },
        )
        .await
        .unwrap();
    assert_eq!(v.len(), 1);
}

async fn a_second_process_writing_is_seen_by_the_first(backend: Backend) {
    let place = Place::new(backend).await;
    let server = place.open().await;
    let cli = place.open().await;
    let op = Caller::operator("public");
    let c = cli
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    cli.ingest(&op, &c.id, md("x.md", "The walruspass is free."))
        .await
        .unwrap();
    let q = Query {
        mode: Mode::Vector,
        ..Query::new("walruspass", 3)
    };
    assert_eq!(server.search(&op, &q).await.unwrap().len(), 1);
}

async fn limits_are_enforced(backend: Backend) {
    let place = Place::new(backend).await;
    let mut config = place.config();
    config.limits = Limits {
        max_upload_bytes: 200,
        max_chunks_per_document: 2,
        max_query_chars: 20,
        max_results: 5,
        max_private_passages: 3,
    };
    config.chunking.max_chars = 50;
    let kb = Knowledge::open(config, Arc::new(HashEmbedder::default()))
        .await
        .unwrap();
    let op = Caller::operator("public");
    let c = kb
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    let big = "x".repeat(201);
    assert!(matches!(
        kb.ingest(&op, &c.id, md("big.txt", &big)).await,
        Err(Error::TooLarge {
            bytes: 201,
            max: 200
        })
    ));
    let many = "# A\n\none.\n\n# B\n\ntwo.\n\n# C\n\nthree.";
    assert!(matches!(
        kb.ingest(&op, &c.id, md("many.md", many)).await,
        Err(Error::TooManyChunks { chunks: 3, max: 2 })
    ));
    assert!(matches!(
        kb.search(&op, &Query::new(&"q".repeat(21), 3)).await,
        Err(Error::QueryTooLong { chars: 21, max: 20 })
    ));
    assert!(matches!(
        NewDocument::from_source("x.exe", vec![]),
        Err(Error::UnknownFormat(_))
    ));
    let anyone = Caller::new("public", "eve", false);
    assert!(matches!(
        kb.create_collection(&anyone, "gov2", Scope::Public, "")
            .await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        kb.ingest(&anyone, &c.id, md("e.md", "evil")).await,
        Err(Error::Forbidden(_))
    ));
    // One person's private passages, all searched in memory, are bounded:
    // 2 + 2 > 3 is refused; replacing a document counts its new passages
    // instead of its old ones.
    let mine = kb
        .create_collection(&anyone, "mine", Scope::Private, "")
        .await
        .unwrap();
    let two = "# A\n\none.\n\n# B\n\ntwo.";
    kb.ingest(&anyone, &mine.id, md("a.md", two)).await.unwrap();
    match kb.ingest(&anyone, &mine.id, md("b.md", two)).await {
        Err(Error::Invalid { problem, .. }) => assert!(problem.contains("at most 3"), "{problem}"),
        other => panic!("expected the private bound, got {other:?}"),
    }
    let other = kb
        .create_collection(&anyone, "other", Scope::Private, "")
        .await
        .unwrap();
    assert!(
        kb.ingest(&anyone, &other.id, md("b.md", two))
            .await
            .is_err()
    );
    kb.ingest(
        &anyone,
        &mine.id,
        md("a.md", "# A\n\nthree.\n\n# B\n\nfour."),
    )
    .await
    .unwrap();
    kb.ingest(&anyone, &other.id, md("c.md", "one passage."))
        .await
        .unwrap();
}

async fn pdf_and_docx_are_ingested_with_their_metadata(backend: Backend) {
    let place = Place::new(backend).await;
    let kb = place.open().await;
    let op = Caller::operator("public");
    let c = kb
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    let pdf = kb
        .ingest(
            &op,
            &c.id,
            NewDocument::from_source(
                "reg.pdf",
                sovra_knowledge::fixtures::pdf_bytes(
                    "Vehicle registration takes five working days.",
                ),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(pdf.document.language.as_deref(), Some("en"));
    let mut docx = NewDocument::from_source(
        "kg.docx",
        sovra_knowledge::fixtures::docx_bytes(
            "Kindergeld",
            "Antrag",
            "Stellen Sie den Antrag bei der Familienkasse",
        )
        .unwrap(),
    )
    .unwrap();
    docx.effective_date = Some("2025-01-01".into());
    docx.url = Some("https://example.de/kg".into());
    let d = kb.ingest(&op, &c.id, docx).await.unwrap();
    assert_eq!(d.document.title, "Kindergeld");
    assert_eq!(d.document.language.as_deref(), Some("de"));
    let hits = kb.search(&op, &text_query("Familienkasse")).await.unwrap();
    assert_eq!(hits[0].effective_date.as_deref(), Some("2025-01-01"));
    assert_eq!(hits[0].url.as_deref(), Some("https://example.de/kg"));
    assert_eq!(hits[0].heading, "Antrag");
    assert!(
        !kb.search(&op, &text_query("registration"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// Two replicas (two data dirs, one PostgreSQL database) see each other's
/// writes, deletions and erasures, in both indexes and in the uploaded
/// files, and concurrent writes leave both indexes whole.
#[tokio::test]
async fn postgres_replicas_share_one_knowledge_base() {
    let place = Place::new(Backend::Postgres).await;
    let other = tempfile::tempdir().unwrap();
    let a = place.open().await;
    let b = Knowledge::open(
        place.config_in(other.path()),
        Arc::new(HashEmbedder::default()),
    )
    .await
    .unwrap();
    let op = Caller::operator("public");
    let alice = Caller::new("public", "alice", false);
    let vector = |q: &str| Query {
        mode: Mode::Vector,
        ..Query::new(q, 10)
    };

    let gov = a
        .create_collection(&op, "gov", Scope::Public, "")
        .await
        .unwrap();
    let doc = a
        .ingest(
            &op,
            &gov.id,
            md("x.md", "# Fees\n\nThe narwhalfee is 12 euros."),
        )
        .await
        .unwrap();
    assert_eq!(b.list_collections(&op).await.unwrap().len(), 1);
    let hits = b.search(&op, &vector("narwhalfee")).await.unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].document_id, doc.document.id);
    assert_eq!(
        b.search(&op, &text_query("narwhalfee"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Alice works on replica b; replica a sees her collection and file.
    let mine = b
        .create_collection(&alice, "mine", Scope::Private, "")
        .await
        .unwrap();
    b.ingest(&alice, &mine.id, md("m.md", "My yakpermit number is 7."))
        .await
        .unwrap();
    let f = b
        .add_file(&alice, "note.txt", "assistants", b"the dugongsecret")
        .await
        .unwrap();
    assert_eq!(
        a.file_content(&alice, &f.id).await.unwrap().1,
        b"the dugongsecret"
    );
    assert_eq!(
        a.search(&alice, &text_query("yakpermit"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        a.search(&alice, &vector("yakpermit")).await.unwrap().len(),
        2
    );

    // Erased on a: gone on b, from both indexes, and from every table.
    let removed = a.erase_subject("public", "alice").await.unwrap();
    assert_eq!(
        (removed.collections, removed.chunks, removed.files),
        (1, 1, 1)
    );
    assert!(
        b.search(&alice, &text_query("yakpermit"))
            .await
            .unwrap()
            .is_empty()
    );
    let hits = b.search(&alice, &vector("yakpermit")).await.unwrap();
    assert!(hits.iter().all(|h| h.collection_id == gov.id), "{hits:?}");
    assert!(matches!(
        b.file(&alice, &f.id).await,
        Err(Error::NotFound { .. })
    ));
    assert_eq!(b.counts().await.unwrap().vectors, 1);
    let Some(db) = &place.db else { unreachable!() };
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM knowledge_chunks WHERE text LIKE '%yakpermit%'
                 OR fts @@ to_tsquery('simple', 'yakpermit'))
              + (SELECT count(*) FROM knowledge_files)
              + (SELECT count(*) FROM knowledge_collections WHERE owner = 'alice')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);

    // Both replicas write at once: each index ends holding both documents.
    let (x, y) = tokio::join!(
        a.ingest(&op, &gov.id, md("p.md", "The puffinform is blue.")),
        b.ingest(&op, &gov.id, md("q.md", "The quokkaform is green.")),
    );
    x.unwrap();
    y.unwrap();
    for kb in [&a, &b] {
        assert_eq!(kb.search(&op, &vector("form")).await.unwrap().len(), 3);
        assert_eq!(kb.counts().await.unwrap().vectors, 3);
    }

    // Deleted on b: gone from a's vector index.
    b.delete_document(&op, &gov.id, &doc.document.id)
        .await
        .unwrap();
    let hits = a.search(&op, &vector("narwhalfee")).await.unwrap();
    assert!(hits.iter().all(|h| h.document_id != doc.document.id));
    assert_eq!(a.counts().await.unwrap().vectors, 2);

    // Each replica keeps its own index file, named for the database.
    a.flush().await.unwrap();
    b.flush().await.unwrap();
    let name = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".vec"))
            .collect::<Vec<_>>()
    };
    let names = name(place.path());
    assert_eq!(names.len(), 1);
    assert!(names[0].starts_with("knowledge-pg-"), "{names:?}");
    assert_eq!(name(other.path()), names);
    pool.close().await;
}

/// Search latency on the same synthetic data in both backends (run with
/// `--ignored --nocapture`; docs/knowledge.md has a measurement).
#[tokio::test]
#[ignore]
async fn search_latency_on_both_backends() {
    let n: usize = std::env::var("SOVRA_BENCH_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let vocab: Vec<String> = (0..3000).map(|i| format!("w{i:04}x")).collect();
    let text_of = |i: usize| {
        let mut r = StdRng::seed_from_u64(i as u64);
        (0..60)
            .map(|_| vocab[r.random_range(0..vocab.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let dim = HashEmbedder::default().dim;
    let vector_of = |i: usize| {
        let mut r = StdRng::seed_from_u64(i as u64 ^ 0x5eed);
        let v: Vec<f32> = (0..dim).map(|_| r.random_range(-1.0..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
    };
    let op = Caller::operator("public");
    let mut queries = Vec::new();
    let mut r = StdRng::seed_from_u64(99);
    for _ in 0..200 {
        let words: Vec<&str> = (0..3)
            .map(|_| vocab[r.random_range(0..vocab.len())].as_str())
            .collect();
        queries.push(words.join(" "));
    }
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let place = Place::new(backend).await;
        let kb = place.open().await;
        let c = kb
            .create_collection(&op, "synthetic", Scope::Public, "")
            .await
            .unwrap();
        let t = std::time::Instant::now();
        kb.bulk_synthetic(&c.id, n, 20, &text_of, &vector_of)
            .await
            .unwrap();
        let load = t.elapsed().as_secs_f64();
        for mode in [Mode::Text, Mode::Hybrid] {
            let mut ms: Vec<f64> = Vec::new();
            for q in &queries {
                let t = std::time::Instant::now();
                let hits = kb
                    .search(
                        &op,
                        &Query {
                            mode,
                            ..Query::new(q, 10)
                        },
                    )
                    .await
                    .unwrap();
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                assert!(!hits.is_empty());
            }
            ms.sort_by(f64::total_cmp);
            println!(
                "{backend:?} {n} chunks (loaded in {load:.1} s), {mode:?}: p50 {:.2} ms, p95 {:.2} ms",
                ms[ms.len() / 2],
                ms[ms.len() * 95 / 100]
            );
        }
    }
}

/// What a search costs its owner over a private collection at its bound:
/// every passage opened with the owner's key (a real store's) and ranked
/// in memory (run with `--ignored --nocapture`; `SOVRA_BENCH_PRIVATE`
/// passages, 1,000 by default, `SOVRA_BENCH_QUERIES` queries, 200;
/// docs/knowledge.md has a measurement).
#[tokio::test]
#[ignore]
async fn private_search_latency_at_the_bound() {
    let n: usize = std::env::var("SOVRA_BENCH_PRIVATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let vocab: Vec<String> = (0..3000).map(|i| format!("w{i:04}x")).collect();
    let per_doc = 100;
    let alice = Caller::new("public", "alice", false);
    let mut r = StdRng::seed_from_u64(99);
    let count: usize = std::env::var("SOVRA_BENCH_QUERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let queries: Vec<String> = (0..count)
        .map(|_| {
            (0..3)
                .map(|_| vocab[r.random_range(0..vocab.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let place = Place::new(backend).await;
        let keys = tempfile::tempdir().unwrap();
        let store = key_store(keys.path()).await;
        let mut config = place.config();
        config.limits.max_private_passages = n;
        let kb = Knowledge::open(config, Arc::new(HashEmbedder::default()))
            .await
            .unwrap()
            .with_sealer(Arc::new(StoreSealer(store)));
        let c = kb
            .create_collection(&alice, "mine", Scope::Private, "")
            .await
            .unwrap();
        let t = std::time::Instant::now();
        for d in 0..n.div_ceil(per_doc) {
            let body: String = (0..per_doc.min(n - d * per_doc))
                .map(|p| {
                    let mut r = StdRng::seed_from_u64((d * per_doc + p) as u64);
                    let words: Vec<&str> = (0..60)
                        .map(|_| vocab[r.random_range(0..vocab.len())].as_str())
                        .collect();
                    format!("# P{p}\n\n{}\n\n", words.join(" "))
                })
                .collect();
            kb.ingest(&alice, &c.id, md(&format!("d{d}.md"), &body))
                .await
                .unwrap();
        }
        let load = t.elapsed().as_secs_f64();
        assert_eq!(kb.counts().await.unwrap().chunks, n as u64);
        for mode in [Mode::Text, Mode::Hybrid, Mode::Vector] {
            let mut ms: Vec<f64> = Vec::new();
            for q in &queries {
                let t = std::time::Instant::now();
                let hits = kb
                    .search(
                        &alice,
                        &Query {
                            mode,
                            ..Query::new(q, 10)
                        },
                    )
                    .await
                    .unwrap();
                ms.push(t.elapsed().as_secs_f64() * 1e3);
                assert!(!hits.is_empty() || mode == Mode::Text);
            }
            ms.sort_by(f64::total_cmp);
            println!(
                "{backend:?} private {n} passages (sealed and ingested in {load:.1} s), {mode:?}: p50 {:.2} ms, p99 {:.2} ms",
                ms[ms.len() / 2],
                ms[ms.len() * 99 / 100]
            );
        }
    }
}

/// `GET /v1/files`' pages: every page size and both orders give back all
/// the caller's files exactly once, in (created_at, id) order, though most
/// were uploaded within the same second; `purpose` filters; `after` must
/// name one of the caller's own files.
async fn files_page_by_keyset_in_a_total_order(backend: Backend) {
    let place = Place::new(backend).await;
    let kb = place.open().await;
    let ann = Caller::new("public", "ann", false);
    let bob = Caller::new("public", "bob", false);
    let mut made = Vec::new();
    for i in 0..7 {
        let purpose = if i % 3 == 0 {
            "user_data"
        } else {
            "assistants"
        };
        made.push(
            kb.add_file(&ann, &format!("f{i}.txt"), purpose, b"text")
                .await
                .unwrap(),
        );
    }
    let bobs = kb
        .add_file(&bob, "b.txt", "assistants", b"text")
        .await
        .unwrap();
    let mut asc = made.clone();
    asc.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let all = kb
        .list_files(&ann, &FileListQuery::default())
        .await
        .unwrap();
    assert!(!all.has_more);
    let desc: Vec<_> = asc.iter().rev().cloned().collect();
    assert_eq!(all.files, desc, "newest first by default");
    for ascending in [true, false] {
        let want = if ascending { &asc } else { &desc };
        for limit in 1..=8 {
            let (mut got, mut after, mut pages) = (Vec::new(), None, 0);
            loop {
                let page = kb
                    .list_files(
                        &ann,
                        &FileListQuery {
                            limit,
                            after: after.clone(),
                            ascending,
                            purpose: None,
                        },
                    )
                    .await
                    .unwrap();
                assert!(page.files.len() <= limit);
                pages += 1;
                after = page.files.last().map(|f| f.id.clone());
                got.extend(page.files);
                if !page.has_more {
                    break;
                }
            }
            assert_eq!(&got, want, "limit {limit}, ascending {ascending}");
            assert_eq!(pages, 7_usize.div_ceil(limit), "limit {limit}");
        }
    }
    let only = kb
        .list_files(
            &ann,
            &FileListQuery {
                purpose: Some("user_data".into()),
                ..FileListQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only.files.len(), 3);
    assert!(only.files.iter().all(|f| f.purpose == "user_data"));
    // Someone else's file is no cursor; limits outside 1..=10000 are refused.
    for q in [
        FileListQuery {
            after: Some(bobs.id.clone()),
            ..FileListQuery::default()
        },
        FileListQuery {
            limit: 0,
            ..FileListQuery::default()
        },
        FileListQuery {
            limit: 10_001,
            ..FileListQuery::default()
        },
    ] {
        assert!(
            matches!(kb.list_files(&ann, &q).await, Err(Error::Invalid { .. })),
            "{q:?}"
        );
    }
}
