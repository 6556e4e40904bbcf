//! The retrieval evaluation behind `sovra eval knowledge`.
//!
//! A corpus folder of documents and a JSONL file of questions, each naming
//! the document (path relative to the corpus) that answers it, or null for
//! a question the corpus cannot answer. The corpus is ingested into one
//! public collection; each question is searched in vector-only, text-only
//! and hybrid mode, and a question scores when its document is among the
//! first five distinct documents returned (recall@5) and by the reciprocal
//! of that document's rank among the first ten (MRR@10). The unanswerable
//! questions measure where "official sources only" should decline: a
//! question is declined when no hybrid hit clears the [`RelevanceFloor`],
//! and the best passage's plain and centred cosines are reported for both
//! kinds of question.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Caller, Error, Knowledge, Mode, NewDocument, Query, RelevanceFloor, Scope};

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
    /// Best-passage cosine (hybrid) of answerable questions: lowest, median
    /// (None: the set has none).
    pub answerable_similarity: Option<(f32, f32)>,
    /// Best-passage cosine of unanswerable questions: median, highest
    /// (None: the set has none).
    pub unanswerable_similarity: Option<(f32, f32)>,
    /// The same two for the best centred cosine (`Hit::relevance`); None
    /// where no hit had one.
    pub answerable_relevance: Option<(f32, f32)>,
    pub unanswerable_relevance: Option<(f32, f32)>,
    /// Mean search latency per mode, milliseconds.
    pub mean_latency_ms: Vec<(Mode, f64)>,
    /// "Official sources only" with the floor: how well it declines exactly
    /// the unanswerable questions.
    pub decline: Decline,
}

/// Declining when no hit clears a [`RelevanceFloor`], scored on the
/// questions' labels.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Decline {
    pub floor: RelevanceFloor,
    /// Of the declined questions, the share that were unanswerable.
    pub precision: f64,
    /// Of the unanswerable questions, the share that were declined.
    pub recall: f64,
    /// Answerable questions that were declined.
    pub wrongly_declined: usize,
}

impl Decline {
    /// Scores declining: `answerable` and `unanswerable` say, per question,
    /// whether it was declined.
    pub fn score(floor: RelevanceFloor, answerable: &[bool], unanswerable: &[bool]) -> Self {
        let wrong = answerable.iter().filter(|d| **d).count();
        let right = unanswerable.iter().filter(|d| **d).count();
        let declined = wrong + right;
        Self {
            floor,
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

/// The best passage of each question of one kind, as scored for declining.
#[derive(Default)]
struct Best {
    similarity: Vec<f32>,
    relevance: Vec<f32>,
    declined: Vec<bool>,
}

impl Best {
    fn push(&mut self, hits: &[crate::Hit], floor: RelevanceFloor) {
        let best = |f: fn(&crate::Hit) -> Option<f32>| hits.iter().filter_map(f).reduce(f32::max);
        self.similarity
            .push(best(|h| h.similarity).unwrap_or(f32::MIN));
        self.relevance.extend(best(|h| h.relevance));
        self.declined.push(!hits.iter().any(|h| floor.admits(h)));
    }

    /// Median and highest of one score (None: no question had it).
    fn spread(&mut self, of: fn(&mut Self) -> &mut Vec<f32>) -> Option<(f32, f32)> {
        let v = of(self);
        let highest = v.iter().copied().reduce(f32::max)?;
        Some((median(v), highest))
    }

    /// Lowest and median of one score (None: no question had it).
    fn floor(&mut self, of: fn(&mut Self) -> &mut Vec<f32>) -> Option<(f32, f32)> {
        let v = of(self);
        let lowest = v.iter().copied().reduce(f32::min)?;
        Some((lowest, median(v)))
    }
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
    score(kb, &ingested, questions, fusion, RelevanceFloor::default()).await
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

/// Score `questions` on an ingested corpus; `floor` is what "official
/// sources only" declines below.
pub async fn score(
    kb: &Knowledge,
    ingested: &Ingested,
    questions: &[EvalQuestion],
    fusion: Option<crate::Fusion>,
    floor: RelevanceFloor,
) -> Result<EvalReport, Error> {
    let coll_id = ingested.collection.clone();
    let chunks = kb.counts().await?.chunks;
    let reader = Caller::new("public", "evaluator", false);
    let answerable: Vec<&EvalQuestion> =
        questions.iter().filter(|q| q.document.is_some()).collect();
    let cross = answerable.iter().filter(|q| q.cross_language).count();
    let mut modes = Vec::new();
    let mut latency = Vec::new();
    // Per answerable / unanswerable question (hybrid): best plain cosine,
    // best centred cosine, declined.
    let (mut best_answerable, mut best_unanswerable) = (Best::default(), Best::default());
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
            let Some(target) = &q.document else {
                if mode == Mode::Hybrid {
                    best_unanswerable.push(&hits, floor);
                }
                continue;
            };
            if mode == Mode::Hybrid {
                best_answerable.push(&hits, floor);
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
    let decline = Decline::score(
        floor,
        &best_answerable.declined,
        &best_unanswerable.declined,
    );
    Ok(EvalReport {
        documents: ingested.documents,
        chunks,
        ingest_secs: ingested.ingest_secs,
        questions: answerable.len(),
        cross_language: cross,
        unanswerable: questions.len() - answerable.len(),
        modes,
        answerable_similarity: best_answerable.floor(|b| &mut b.similarity),
        unanswerable_similarity: best_unanswerable.spread(|b| &mut b.similarity),
        answerable_relevance: best_answerable.floor(|b| &mut b.relevance),
        unanswerable_relevance: best_unanswerable.spread(|b| &mut b.relevance),
        mean_latency_ms: latency,
        decline,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decline_scores_count_the_right_and_the_wrong_declines() {
        let d = Decline::score(
            RelevanceFloor::default(),
            &[false, true, false, false],
            &[true, true, false],
        );
        assert_eq!(d.wrongly_declined, 1);
        assert!((d.precision - 2.0 / 3.0).abs() < 1e-9, "{d:?}");
        assert!((d.recall - 2.0 / 3.0).abs() < 1e-9, "{d:?}");
        // Nothing declined: no wrong decline, so full precision and no recall.
        let none = Decline::score(RelevanceFloor::default(), &[false], &[false, false]);
        assert_eq!((none.precision, none.recall), (1.0, 0.0));
    }
}
