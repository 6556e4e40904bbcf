//! A nearest-neighbour classifier over sentence embeddings: the first
//! in-country model behind [`Classifier`].
//!
//! It holds labelled exemplars (text embedded once, with its categories) and
//! scores a new text by its `k` nearest exemplars: a category's score is the
//! similarity-weighted share of neighbours labelled with it (or with one of
//! its subcategories). A multilingual embedder (multilingual-e5-small in
//! `sovra-embeddings`) puts paraphrases, and the same request in another
//! language, near each other, which the lexicons cannot do. The embedder is
//! behind the small [`Embed`] trait so this crate does not depend on one.
//!
//! Plain, the vote cannot abstain: five neighbours always vote, however far
//! they are, and in e5's space short texts all sit close together, so a
//! greeting's nearest exemplars were short harmful ones ("Hello" refused as
//! harassment). [`Abstention`] makes a harmful neighbour vote only above a
//! similarity floor and by a margin over the nearest benign exemplar. The
//! trained head in [`crate::head`] is the other answer; `sovra eval safety`
//! compares them.

use std::fmt;

use crate::GuardError;
use crate::moderation::{CategoryMatch, Classifier, Scores};

/// Text to one L2-normalised vector (a blocking call).
pub trait Embed: Send + Sync + fmt::Debug {
    fn embed(&self, text: &str) -> Result<Vec<f32>, GuardError>;
}

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Exemplar {
    /// Categories, subcategories included as labelled (`hate/threatening`);
    /// empty for a benign example.
    pub categories: Vec<String>,
    pub vector: Vec<f32>,
}

/// Nearest neighbours over exemplars.
#[derive(Debug)]
pub struct ExemplarClassifier<E> {
    embedder: E,
    exemplars: Vec<Exemplar>,
    k: usize,
    scale: f32,
    abstention: Option<Abstention>,
}

/// When a harmful neighbour may vote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Abstention {
    /// Lowest cosine similarity at which a harmful neighbour votes.
    pub floor: f32,
    /// How much nearer than the nearest benign exemplar a harmful neighbour
    /// must be (0: at least as near).
    pub margin: f32,
}

/// Most exemplars one classifier holds (a search is linear in them).
pub const MAX_EXEMPLARS: usize = 100_000;

impl<E: Embed> ExemplarClassifier<E> {
    /// `k` neighbours vote (at least 1); exemplars past [`MAX_EXEMPLARS`]
    /// are dropped.
    pub fn new(embedder: E, mut exemplars: Vec<Exemplar>, k: usize) -> Self {
        exemplars.truncate(MAX_EXEMPLARS);
        ExemplarClassifier {
            embedder,
            exemplars,
            k: k.max(1),
            scale: 1.0,
            abstention: None,
        }
    }

    /// Harmful neighbours vote only as `abstention` allows.
    pub fn with_abstention(mut self, abstention: Abstention) -> Self {
        self.abstention = Some(abstention);
        self
    }

    /// Multiplies every score by `scale` (0..=1): at the default threshold
    /// of 0.5, a scale of 0.75 asks for two thirds of the neighbours' weight
    /// instead of half.
    pub fn with_scale(mut self, scale: f32) -> Self {
        self.scale = scale.clamp(0.0, 1.0);
        self
    }

    /// Embeds `(text, categories)` pairs into exemplars with `embedder`.
    pub fn embed_all(
        embedder: &E,
        labelled: &[(String, Vec<String>)],
    ) -> Result<Vec<Exemplar>, GuardError> {
        labelled
            .iter()
            .take(MAX_EXEMPLARS)
            .map(|(text, categories)| {
                Ok(Exemplar {
                    categories: categories.clone(),
                    vector: embedder.embed(text)?,
                })
            })
            .collect()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The labels and their parents, where the parent is a category of its own
/// (`hate/threatening` -> `hate`; `medical/emergency` has no `medical`).
pub(crate) fn labels_with_parents(categories: &[String]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for c in categories {
        out.push(c);
        if let Some((parent, _)) = c.split_once('/')
            && sovra_profile::OPENAI_CATEGORIES.contains(&parent)
        {
            out.push(parent);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl<E: Embed> Classifier for ExemplarClassifier<E> {
    fn name(&self) -> &str {
        "exemplars"
    }

    fn classify(&self, text: &str) -> Result<Scores, GuardError> {
        if text.trim().is_empty() {
            // Nothing to embed, nothing to say.
            return Ok(Scores::default());
        }
        let v = self.embedder.embed(text)?;
        let mut sims: Vec<(f32, &Exemplar)> = self
            .exemplars
            .iter()
            .map(|e| (dot(&v, &e.vector), e))
            .collect();
        // The nearest benign exemplar, for the margin.
        let nearest_benign = sims
            .iter()
            .filter(|(_, e)| e.categories.is_empty())
            .map(|(s, _)| *s)
            .fold(f32::NEG_INFINITY, f32::max);
        sims.sort_by(|a, b| b.0.total_cmp(&a.0));
        sims.truncate(self.k);
        let total: f32 = sims.iter().map(|(s, _)| s.max(0.0)).sum();
        let mut scores = std::collections::BTreeMap::<String, f32>::new();
        if total > 0.0 {
            for (s, e) in &sims {
                if let Some(a) = self.abstention
                    && (*s < a.floor || *s < nearest_benign + a.margin)
                {
                    continue;
                }
                for c in labels_with_parents(&e.categories) {
                    *scores.entry(c.to_owned()).or_insert(0.0) += self.scale * s.max(0.0) / total;
                }
            }
        }
        let matches = scores
            .iter()
            .map(|(c, s)| CategoryMatch {
                category: c.clone(),
                rule: "exemplars".to_owned(),
                start: 0,
                end: text.len(),
                score: *s,
            })
            .collect();
        Ok(Scores { scores, matches })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A toy embedder: one axis per keyword.
    #[derive(Debug)]
    struct Toy;
    impl Embed for Toy {
        fn embed(&self, text: &str) -> Result<Vec<f32>, GuardError> {
            let mut v: Vec<f32> = ["stab", "bomb", "passport", "tax"]
                .iter()
                .map(|w| if text.contains(w) { 1.0 } else { 0.0 })
                .collect();
            v.push(0.1);
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            Ok(v.into_iter().map(|x| x / n).collect())
        }
    }

    #[test]
    fn neighbours_vote_and_parents_follow() {
        let labelled = vec![
            ("stab him".to_owned(), vec!["violence".to_owned()]),
            ("a bomb".to_owned(), vec!["illicit/violent".to_owned()]),
            ("renew passport".to_owned(), vec![]),
            ("pay tax".to_owned(), vec![]),
        ];
        let ex = ExemplarClassifier::embed_all(&Toy, &labelled).unwrap();
        let c = ExemplarClassifier::new(Toy, ex, 1);
        let s = c.classify("how to stab").unwrap();
        assert!(s.scores["violence"] > 0.99);
        let s = c.classify("build a bomb").unwrap();
        assert!(s.scores["illicit"] > 0.99, "parent of illicit/violent");
        let s = c.classify("my passport").unwrap();
        assert!(s.scores.is_empty());
    }

    #[test]
    fn abstains_when_a_benign_exemplar_is_nearer() {
        let labelled = vec![
            ("stab him".to_owned(), vec!["violence".to_owned()]),
            ("stab passport".to_owned(), vec![]),
        ];
        let ex = ExemplarClassifier::embed_all(&Toy, &labelled).unwrap();
        // Two neighbours: the plain vote gives violence half the weight.
        let plain = ExemplarClassifier::new(Toy, ex.clone(), 2);
        assert!(plain.classify("stab passport").unwrap().scores["violence"] > 0.4);
        let abstaining = ExemplarClassifier::new(Toy, ex, 2).with_abstention(Abstention {
            floor: 0.5,
            margin: 0.0,
        });
        let s = abstaining.classify("stab passport").unwrap();
        assert!(s.scores.is_empty(), "the benign exemplar is nearer: {s:?}");
        let s = abstaining.classify("stab").unwrap();
        assert!(
            s.scores["violence"] > 0.4,
            "the harmful one is nearer: {s:?}"
        );
    }
}
