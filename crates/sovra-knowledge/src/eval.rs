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
    /// Best-passage cosine of unanswerable questions: median, highest.
    pub unanswerable_similarity: (f32, f32),
    /// Mean search latency per mode, milliseconds.
    pub mean_latency_ms: Vec<(Mode, f64)>,
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
    let ingest_secs = started.elapsed().as_secs_f64();
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
                collections: Some(vec![coll.id.clone()]),
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
    let lowest = best_answerable.iter().copied().fold(f32::MAX, f32::min);
    let highest = best_unanswerable.iter().copied().fold(f32::MIN, f32::max);
    Ok(EvalReport {
        documents: files.len(),
        chunks,
        ingest_secs,
        questions: answerable.len(),
        cross_language: cross,
        unanswerable: questions.len() - answerable.len(),
        modes,
        answerable_similarity: (lowest, median(&mut best_answerable)),
        unanswerable_similarity: (median(&mut best_unanswerable), highest),
        mean_latency_ms: latency,
    })
}
