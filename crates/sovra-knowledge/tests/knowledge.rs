//! The knowledge base end to end with the model-free [`HashEmbedder`]:
//! idempotent and replacing ingestion, access control over random
//! operation sequences, erasure down to the index rows, rebuilds, limits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sovra_knowledge::embed::HashEmbedder;
use sovra_knowledge::{
    Caller, Error, FileListQuery, IngestStatus, Knowledge, KnowledgeConfig, Limits, Mode,
    NewDocument, Query, Scope,
};

async fn open(dir: &std::path::Path) -> Knowledge {
    Knowledge::open(KnowledgeConfig::new(dir), Arc::new(HashEmbedder::default()))
        .await
        .unwrap()
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

#[tokio::test]
async fn reingesting_is_idempotent_and_a_change_replaces_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let kb = open(dir.path()).await;
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
#[tokio::test]
async fn no_caller_ever_retrieves_what_it_may_not_read() {
    let callers = [
        Caller::new("a", "alice", false),
        Caller::new("a", "bob", false),
        Caller::new("b", "carol", false),
        Caller::new("a", "admin-a", true),
        Caller::new("b", "admin-b", true),
    ];
    for seed in 0..6u64 {
        let dir = tempfile::tempdir().unwrap();
        let kb = open(dir.path()).await;
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

#[tokio::test]
async fn erasure_leaves_no_chunk_vector_or_fulltext_row() {
    let dir = tempfile::tempdir().unwrap();
    let kb = open(dir.path()).await;
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
    let c = kb.counts().await.unwrap();
    assert_eq!(
        (c.collections, c.documents, c.chunks, c.fts_rows, c.vectors),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(kb.fts_matches("aardvarkcase").await.unwrap(), 0);
    for id in chunk_ids {
        assert!(!kb.has_vector(id));
    }
    assert!(kb.list_collections(&alice).await.unwrap().is_empty());
    // Reopening rebuilds nothing that was erased.
    drop(kb);
    let kb = open(dir.path()).await;
    assert_eq!(kb.counts().await.unwrap().vectors, 1);
    assert_eq!(kb.fts_matches("okapifile").await.unwrap(), 1);
}

#[tokio::test]
async fn retention_purges_old_private_documents_only() {
    let dir = tempfile::tempdir().unwrap();
    let kb = open(dir.path()).await;
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

#[tokio::test]
async fn lost_indexes_are_rebuilt_from_the_stored_chunks() {
    let dir = tempfile::tempdir().unwrap();
    {
        let kb = open(dir.path()).await;
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
    std::fs::remove_file(dir.path().join("knowledge.vec")).unwrap();
    {
        // Drop the full-text table behind the knowledge base's back.
        let url = format!("sqlite://{}", dir.path().join("knowledge.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("DROP TABLE chunks_fts")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let kb = open(dir.path()).await;
    let c = kb.counts().await.unwrap();
    assert_eq!((c.chunks, c.fts_rows, c.vectors), (2, 2, 2));
    assert!(dir.path().join("knowledge.vec").exists());
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

#[tokio::test]
async fn a_second_process_writing_is_seen_by_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path()).await;
    let cli = open(dir.path()).await;
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

#[tokio::test]
async fn limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = KnowledgeConfig::new(dir.path());
    config.limits = Limits {
        max_upload_bytes: 200,
        max_chunks_per_document: 2,
        max_query_chars: 20,
        max_results: 5,
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
}

#[tokio::test]
async fn pdf_and_docx_are_ingested_with_their_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let kb = open(dir.path()).await;
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

/// `GET /v1/files`' pages: every page size and both orders give back all
/// the caller's files exactly once, in (created_at, id) order, though most
/// were uploaded within the same second; `purpose` filters; `after` must
/// name one of the caller's own files.
#[tokio::test]
async fn files_page_by_keyset_in_a_total_order() {
    let dir = tempfile::tempdir().unwrap();
    let kb = open(dir.path()).await;
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
