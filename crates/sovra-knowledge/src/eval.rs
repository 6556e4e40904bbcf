//! The retrieval evaluation behind `sovra eval knowledge`.
//!
//! A corpus folder of documents and a JSONL file of questions, each naming
//! the document (path relative to the corpus) that answers it, or null for
//! a question the corpus cannot answer. The corpus is ingested into one
//! public collection; each question is searched in vector-only, text-only
//! and hybrid mode, and a question scores when its document is among the
//! first five distinct documents returned (recall@5) and by the reciprocal
//! of that document's rank among the first ten (MRR@10). The unanswerable
//! questions measure where "official sources only" should decline: the
//! best passage's cosine for them against the answerable ones.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Caller, Error, Knowledge, Mode, NewDocument, Query, Scope};

/// One line of the questions file.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EvalQuestion {
    pub id: String,
    pub question: String,
    pub language: String,
    /// The answering document, relative to the corpus; None: not answerable.
    pub document: Option<String>,
    #[serde(default)]
    pub cross_language: bool,
}

/// The scores of one search mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeScore {
    pub mode: Mode,
    pub recall_at_5: f64,
    pub mrr: f64,
    /// recall@5 over the cross-language questions only.
    pub cross_recall_at_5: f64,
    /// Question ids whose document was not in the top five.
    pub misses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub documents: usize,
    pub chunks: u64,
    pub ingest_secs: f64,
    pub questions: usize,
    pub cross_language: usize,
    pub unanswerable: usize,
    pub modes: Vec<ModeScore>,
    /// Best-passage cosine (hybrid) of answerable questions: lowest, median.
    pub answerable_similarity: (f32, f32),
    /// Best-passage cosine of unanswerable questions: median, highest
    /// (None: the set has none).
    pub unanswerable_similarity: Option<(f32, f32)>,
    /// Mean search latency per mode, milliseconds.
    pub mean_latency_ms: Vec<(Mode, f64)>,
    /// "Official sources only" as one cosine threshold on the best hybrid
    /// passage: how well it declines exactly the unanswerable questions.
    pub decline: Decline,
}

/// Declining below a cosine threshold, scored on the questions' labels.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Decline {
    pub threshold: f32,
    /// Of the declined questions, the share that were unanswerable.
    pub precision: f64,
    /// Of the unanswerable questions, the share that were declined.
    pub recall: f64,
    /// Answerable questions that were declined.
    pub wrongly_declined: usize,
}

impl Decline {
    /// Scores declining every question whose best cosine is below `threshold`.
    pub fn at(threshold: f32, answerable: &[f32], unanswerable: &[f32]) -> Self {
        let wrong = answerable.iter().filter(|s| **s < threshold).count();
        let right = unanswerable.iter().filter(|s| **s < threshold).count();
        let declined = wrong + right;
        Self {
            threshold,
            precision: if declined == 0 {
                1.0
            } else {
                right as f64 / declined as f64
            },
            recall: if unanswerable.is_empty() {
                1.0
            } else {
                right as f64 / unanswerable.len() as f64
            },
            wrongly_declined: wrong,
        }
    }
}

/// The default `knowledge.min_similarity`, for the decline score.
pub const DEFAULT_DECLINE_THRESHOLD: f32 = 0.80;

/// An ingested evaluation corpus.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub collection: String,
    pub documents: usize,
    pub ingest_secs: f64,
}

/// Every ingestible file under `paths` (folders are walked), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| crate::Format::from_name(n).is_some())
        {
            out.push(p);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Read the questions file.
pub fn read_questions(path: &Path) -> Result<Vec<EvalQuestion>, Error> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Invalid {
                what: "question",
                problem: format!("{}:{}: {e}", path.display(), i + 1),
            })
        })
        .collect()
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Ingest `corpus` into a fresh public collection of `kb` and score `questions`.
pub async fn run(
    kb: &Knowledge,
    corpus: &Path,
    questions: &[EvalQuestion],
) -> Result<EvalReport, Error> {
    run_with(kb, corpus, questions, None).await
}

/// [`run`] with a fusion other than the knowledge base's default.
pub async fn run_with(
    kb: &Knowledge,
    corpus: &Path,
    questions: &[EvalQuestion],
    fusion: Option<crate::Fusion>,
) -> Result<EvalReport, Error> {
    let ingested = ingest(kb, corpus).await?;
    score(kb, &ingested, questions, fusion, DEFAULT_DECLINE_THRESHOLD).await
}

/// Ingest `corpus` into a fresh public collection of `kb`.
pub async fn ingest(kb: &Knowledge, corpus: &Path) -> Result<Ingested, Error> {
    let op = Caller::operator("public");
    let coll = kb
        .create_collection(&op, "evaluation corpus", Scope::Public, "")
        .await?;
    let files = discover(&[corpus.to_path_buf()])?;
    let started = Instant::now();
    for f in &files {
        let rel = f
            .strip_prefix(corpus)
            .unwrap_or(f)
            .to_string_lossy()
            .replace('\\', "/");
        let doc = NewDocument::from_source(&rel, std::fs::read(f)?)?;
        kb.ingest(&op, &coll.id, doc).await?;
    }
    Ok(Ingested {
        collection: coll.id,
        documents: files.len(),
        ingest_secs: started.elapsed().as_secs_f64(),
    })
}

/// Score `questions` on an ingested corpus; `decline_threshold` is the
/// cosine below which "official sources only" declines.
pub async fn score(
    kb: &Knowledge,
    ingested: &Ingested,
    questions: &[EvalQuestion],
    fusion: Option<crate::Fusion>,
    decline_threshold: f32,
) -> Result<EvalReport, Error> {
    let coll_id = ingested.collection.clone();
    let chunks = kb.counts().await?.chunks;
    let reader = Caller::new("public", "evaluator", false);
    let answerable: Vec<&EvalQuestion> =
        questions.iter().filter(|q| q.document.is_some()).collect();
    let cross = answerable.iter().filter(|q| q.cross_language).count();
    let mut modes = Vec::new();
    let mut latency = Vec::new();
    let mut best_answerable = Vec::new();
    let mut best_unanswerable = Vec::new();
    for mode in [Mode::Vector, Mode::Text, Mode::Hybrid] {
        let (mut hits5, mut rr, mut cross5) = (0usize, 0f64, 0usize);
        let mut misses = Vec::new();
        let t = Instant::now();
        for q in questions {
            let query = Query {
                mode,
                collections: Some(vec![coll_id.clone()]),
                fusion,
                ..Query::new(&q.question, 10)
            };
            let hits = kb.search(&reader, &query).await?;
            let best = hits
                .iter()
                .filter_map(|h| h.similarity)
                .fold(f32::MIN, f32::max);
            let Some(target) = &q.document else {
                if mode == Mode::Hybrid {
                    best_unanswerable.push(best);
                }
                continue;
            };
            if mode == Mode::Hybrid {
                best_answerable.push(best);
            }
            let mut docs: Vec<&str> = Vec::new();
            for h in &hits {
                if !docs.contains(&h.source.as_str()) {
                    docs.push(&h.source);
                }
            }
            match docs.iter().position(|d| d == target) {
                Some(r) => {
                    rr += 1.0 / (r + 1) as f64;
                    if r < 5 {
                        hits5 += 1;
                        cross5 += usize::from(q.cross_language);
                    } else {
                        misses.push(q.id.clone());
                    }
                }
                None => misses.push(q.id.clone()),
            }
        }
        latency.push((
            mode,
            t.elapsed().as_secs_f64() * 1000.0 / questions.len().max(1) as f64,
        ));
        let n = answerable.len().max(1) as f64;
        modes.push(ModeScore {
            mode,
            recall_at_5: hits5 as f64 / n,
            mrr: rr / n,
            cross_recall_at_5: cross5 as f64 / cross.max(1) as f64,
            misses,
        });
    }
    let decline = Decline::at(decline_threshold, &best_answerable, &best_unanswerable);
    let lowest = best_answerable.iter().copied().fold(f32::MAX, f32::min);
    let unanswerable_similarity = (!best_unanswerable.is_empty()).then(|| {
        let highest = best_unanswerable.iter().copied().fold(f32::MIN, f32::max);
        (median(&mut best_unanswerable), highest)
    });
    Ok(EvalReport {
        documents: ingested.documents,
        chunks,
        ingest_secs: ingested.ingest_secs,
        questions: answerable.len(),
        cross_language: cross,
        unanswerable: questions.len() - answerable.len(),
        modes,
        answerable_similarity: (lowest, median(&mut best_answerable)),
        unanswerable_similarity,
        mean_latency_ms: latency,
        decline,
    })
}
