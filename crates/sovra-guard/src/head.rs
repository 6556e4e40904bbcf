//! A trained head over sentence embeddings: one logistic regression per
//! moderation category (one-vs-rest), calibrated so a score reads as a
//! probability.
//!
//! The nearest-neighbour vote ([`crate::exemplar`]) memorises phrasings but
//! cannot abstain: five neighbours always vote, and in multilingual-e5's space
//! every short text sits close to every other, so "Hello" borrowed the labels
//! of short harmful exemplars. A linear head learns which *directions* of the
//! embedding carry a harm, from harmful and everyday exemplars alike, and
//! says "0.02" for a greeting instead of "three of five neighbours".
//!
//! Training is deterministic (full-batch L-BFGS on the L2-regularised
//! log-loss, no randomness), so the same exemplars and embedder give the same
//! weights on every machine. Calibration is Platt scaling fitted on
//! out-of-fold scores (k-fold over the exemplars, folds by position), so the
//! head's confidence on text it was not trained on is what the score says.
//!
//! A head is plain data ([`LogisticHead`]): it can be trained at start, or
//! shipped as JSON with a SHA-256 of its content and the digest of the
//! exemplars and embedder it was trained from, and refused when either does
//! not match.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::GuardError;
use crate::exemplar::{Embed, Exemplar, labels_with_parents};
use crate::moderation::{CategoryMatch, Classifier, Scores};

/// How a head is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Inverse L2 strength, as scikit-learn's `C`: the objective is
    /// `C * sum(log-loss) + |w|^2 / 2` (the bias is not penalised).
    pub c: f32,
    /// Folds for the out-of-fold scores Platt scaling is fitted on (0 or 1:
    /// no calibration).
    pub folds: usize,
    /// Most L-BFGS iterations per category.
    pub max_iterations: usize,
    /// Multiplies the calibrated odds of every category: about half the
    /// exemplars are harmful, far fewer of the messages a national assistant
    /// receives, so a probability fitted on the exemplars overstates harm in
    /// served traffic. 1/3 was chosen on `eval/safety/everyday-tuning.jsonl`
    /// (the largest that refuses at most 2 of its 720 everyday messages).
    pub prior_odds: f32,
    /// The same for [`HELP_CATEGORIES`], whose answer is the country's help
    /// lines rather than a refusal: a false one still answers with help, a
    /// missed one leaves a person in crisis alone, so they are moved less.
    /// 1/2 was chosen after the first blind run (docs/safety.md): with 1/3
    /// the everyday-mood exemplars cost four crisis answers on heldout4.
    /// 3/5 since exemplars3.jsonl (harm look-alikes pulled crises down):
    /// no everyday-tuning message more, two crises more on heldout4.
    pub help_prior_odds: f32,
}

/// Categories a country answers with its help lines (self-harm, a medical
/// emergency), not a refusal.
pub const HELP_CATEGORIES: [&str; 4] = [
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "medical/emergency",
];

impl Default for TrainParams {
    fn default() -> Self {
        Self {
            c: 10.0,
            folds: 5,
            max_iterations: 400,
            prior_odds: 1.0 / 3.0,
            help_prior_odds: 0.6,
        }
    }
}

/// One category's weights and its calibration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryHead {
    pub category: String,
    pub weights: Vec<f32>,
    pub bias: f32,
    /// Platt scaling: `p = sigmoid(a * logit + b)`; `(1, 0)` is none.
    pub platt_a: f32,
    pub platt_b: f32,
}

/// One-vs-rest logistic regression over `dimensions`-long embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticHead {
    pub dimensions: usize,
    pub params: TrainParams,
    /// The embedder the vectors came from (a head only reads its vectors).
    pub embedder: String,
    /// SHA-256 of the labelled texts it was trained on (see
    /// [`exemplar_digest`]).
    pub exemplars: String,
    pub categories: Vec<CategoryHead>,
}

/// A head as shipped: the head and the SHA-256 of its canonical JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShippedHead {
    pub sha256: String,
    pub head: LogisticHead,
}

/// Digest of labelled texts, in order: what a shipped head is checked
/// against before it is trusted.
pub fn exemplar_digest<'a>(labelled: impl IntoIterator<Item = (&'a str, &'a [String])>) -> String {
    let mut h = Sha256::new();
    for (text, categories) in labelled {
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
        for c in categories {
            h.update([0u8]);
            h.update(c.as_bytes());
        }
        h.update([1u8]);
    }
    hex::encode(h.finalize())
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 30.0 { z } else { z.exp().ln_1p() }
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

/// A labelled design matrix: rows of `dims` floats, targets 0/1.
struct Problem<'a> {
    rows: Vec<&'a [f32]>,
    targets: Vec<f64>,
    dims: usize,
    c: f64,
}

impl Problem<'_> {
    /// Objective and gradient at `theta` (`dims` weights, then the bias).
    fn eval(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let d = self.dims;
        grad.iter_mut().for_each(|g| *g = 0.0);
        let w: Vec<f32> = theta[..d].iter().map(|x| *x as f32).collect();
        let b = theta[d];
        let mut loss = 0.0;
        for (x, y) in self.rows.iter().zip(&self.targets) {
            let z = dot(&w, x) + b;
            // log-loss: y * softplus(-z) + (1 - y) * softplus(z)
            loss += y * softplus(-z) + (1.0 - y) * softplus(z);
            let r = self.c * (sigmoid(z) - y);
            for (g, xi) in grad[..d].iter_mut().zip(x.iter()) {
                *g += r * f64::from(*xi);
            }
            grad[d] += r;
        }
        let mut reg = 0.0;
        for (g, t) in grad[..d].iter_mut().zip(&theta[..d]) {
            *g += t;
            reg += t * t;
        }
        self.c * loss + reg / 2.0
    }
}

/// Minimises a smooth convex objective with L-BFGS (memory 8) and a
/// backtracking Armijo line search. Deterministic.
fn lbfgs(problem: &Problem<'_>, max_iterations: usize) -> Vec<f64> {
    const MEMORY: usize = 8;
    let n = problem.dims + 1;
    let mut x = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = problem.eval(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let g0 = norm(&g).max(1e-12);
    for _ in 0..max_iterations {
        if norm(&g) <= 1e-5 * g0 {
            break;
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / y.iter().zip(s).map(|(a, b)| a * b).sum::<f64>();
            let a = rho * s.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push((a, rho));
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let sy: f64 = s.iter().zip(y).map(|(a, b)| a * b).sum();
            let yy: f64 = y.iter().map(|a| a * a).sum();
            let gamma = sy / yy;
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            // First step: a unit-length move.
            let gn = norm(&q).max(1e-12);
            q.iter_mut().for_each(|v| *v /= gn);
        }
        for ((s, y), (a, rho)) in s_hist.iter().zip(&y_hist).zip(alphas.into_iter().rev()) {
            let b = rho * y.iter().zip(&q).map(|(a, b)| a * b).sum::<f64>();
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope: f64 = dir.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart memory.
            s_hist.clear();
            y_hist.clear();
            continue;
        }
        let mut step = 1.0;
        let mut x_new = vec![0.0; n];
        let mut g_new = vec![0.0; n];
        let mut f_new;
        let mut tries = 0;
        loop {
            x_new
                .iter_mut()
                .zip(x.iter().zip(&dir))
                .for_each(|(xn, (xi, di))| *xn = xi + step * di);
            f_new = problem.eval(&x_new, &mut g_new);
            if f_new <= f + 1e-4 * step * slope || tries >= 30 {
                break;
            }
            step *= 0.5;
            tries += 1;
        }
        if f_new > f {
            break;
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if s.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>() > 1e-12 {
            s_hist.push(s);
            y_hist.push(y);
            if s_hist.len() > MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        let done = (f - f_new).abs() <= 1e-10 * f.abs().max(1.0);
        x = x_new;
        g = g_new;
        f = f_new;
        if done {
            break;
        }
    }
    x
}

/// Fits `p = sigmoid(a * z + b)` to out-of-fold logits by Newton's method
/// on the log-loss, with Platt's smoothed targets.
fn fit_platt(logits: &[f64], targets: &[f64]) -> (f64, f64) {
    let pos = targets.iter().filter(|t| **t > 0.5).count() as f64;
    let neg = targets.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return (1.0, 0.0);
    }
    let hi = (pos + 1.0) / (pos + 2.0);
    let lo = 1.0 / (neg + 2.0);
    let t: Vec<f64> = targets
        .iter()
        .map(|y| if *y > 0.5 { hi } else { lo })
        .collect();
    let loss = |a: f64, b: f64| -> f64 {
        logits
            .iter()
            .zip(&t)
            .map(|(z, y)| {
                let u = a * z + b;
                y * softplus(-u) + (1.0 - y) * softplus(u)
            })
            .sum()
    };
    let (mut a, mut b) = (1.0, 0.0);
    let mut current = loss(a, b);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (z, y) in logits.iter().zip(&t) {
            let p = sigmoid(a * z + b);
            let r = p - y;
            let w = p * (1.0 - p);
            ga += r * z;
            gb += r;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        // Damped Newton: halve the step until the loss goes down.
        let mut step = 1.0;
        let mut moved = false;
        while step > 1e-6 {
            let (na, nb) = (a - step * da, b - step * db);
            let l = loss(na, nb);
            if l < current {
                (a, b, current) = (na, nb, l);
                moved = true;
                break;
            }
            step *= 0.5;
        }
        if !moved || (step * da).abs() < 1e-9 && (step * db).abs() < 1e-9 {
            break;
        }
    }
    (a, b)
}

impl LogisticHead {
    /// Trains one calibrated logistic regression per category in
    /// `categories` (a category is positive for an exemplar labelled with it
    /// or one of its subcategories).
    pub fn train(
        exemplars: &[Exemplar],
        categories: &[&str],
        params: TrainParams,
        embedder: &str,
        exemplar_digest: &str,
    ) -> Result<Self, GuardError> {
        let dims = exemplars.first().map_or(0, |e| e.vector.len());
        if dims == 0 || exemplars.iter().any(|e| e.vector.len() != dims) {
            return Err(GuardError::Classifier {
                name: "logistic".into(),
                message: "exemplar vectors are missing or of different lengths".into(),
            });
        }
        let rows: Vec<&[f32]> = exemplars.iter().map(|e| e.vector.as_slice()).collect();
        let mut heads = Vec::with_capacity(categories.len());
        for category in categories {
            let targets: Vec<f64> = exemplars
                .iter()
                .map(|e| {
                    if labels_with_parents(&e.categories).contains(category) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect();
            let fit = |idx: &[usize]| {
                let problem = Problem {
                    rows: idx.iter().map(|i| rows[*i]).collect(),
                    targets: idx.iter().map(|i| targets[*i]).collect(),
                    dims,
                    c: f64::from(params.c),
                };
                lbfgs(&problem, params.max_iterations)
            };
            let all: Vec<usize> = (0..rows.len()).collect();
            let theta = fit(&all);
            let (platt_a, platt_b) = if params.folds >= 2 && targets.iter().any(|t| *t > 0.5) {
                let mut oof = vec![0.0; rows.len()];
                for fold in 0..params.folds {
                    let train: Vec<usize> = all
                        .iter()
                        .copied()
                        .filter(|i| i % params.folds != fold)
                        .collect();
                    let t = fit(&train);
                    let w: Vec<f32> = t[..dims].iter().map(|x| *x as f32).collect();
                    for i in all.iter().copied().filter(|i| i % params.folds == fold) {
                        oof[i] = dot(&w, rows[i]) + t[dims];
                    }
                }
                fit_platt(&oof, &targets)
            } else {
                (1.0, 0.0)
            };
            heads.push(CategoryHead {
                category: (*category).to_owned(),
                weights: theta[..dims].iter().map(|x| *x as f32).collect(),
                bias: theta[dims] as f32,
                platt_a: platt_a as f32,
                platt_b: platt_b as f32,
            });
        }
        Ok(LogisticHead {
            dimensions: dims,
            params,
            embedder: embedder.to_owned(),
            exemplars: exemplar_digest.to_owned(),
            categories: heads,
        })
    }

    /// Calibrated probability per category for one embedding.
    pub fn score(&self, vector: &[f32]) -> BTreeMap<String, f32> {
        let log_odds = |o: f32| f64::from(o.max(f32::MIN_POSITIVE)).ln();
        let (prior, help_prior) = (
            log_odds(self.params.prior_odds),
            log_odds(self.params.help_prior_odds),
        );
        self.categories
            .iter()
            .map(|h| {
                let prior = if HELP_CATEGORIES.contains(&h.category.as_str()) {
                    help_prior
                } else {
                    prior
                };
                let z = dot(&h.weights, vector) + f64::from(h.bias);
                let p = sigmoid(f64::from(h.platt_a) * z + f64::from(h.platt_b) + prior);
                (h.category.clone(), p as f32)
            })
            .collect()
    }

    /// The head with the SHA-256 of its canonical JSON, for shipping.
    pub fn ship(&self) -> Result<ShippedHead, GuardError> {
        Ok(ShippedHead {
            sha256: self.content_digest()?,
            head: self.clone(),
        })
    }

    fn content_digest(&self) -> Result<String, GuardError> {
        let json = serde_json::to_vec(self).map_err(|e| GuardError::Classifier {
            name: "logistic".into(),
            message: e.to_string(),
        })?;
        Ok(hex::encode(Sha256::digest(&json)))
    }
}

impl ShippedHead {
    /// Parses a shipped head and checks it: its checksum, and that it was
    /// trained from `exemplars` (a digest) for `embedder` with `dimensions`.
    pub fn verify(
        json: &str,
        embedder: &str,
        dimensions: usize,
        exemplars: &str,
    ) -> Result<LogisticHead, GuardError> {
        let bad = |message: String| GuardError::Classifier {
            name: "logistic".into(),
            message,
        };
        let shipped: ShippedHead =
            serde_json::from_str(json).map_err(|e| bad(format!("unreadable head: {e}")))?;
        let digest = shipped.head.content_digest()?;
        if digest != shipped.sha256 {
            return Err(bad(format!(
                "head checksum mismatch: content is {digest}, file says {}",
                shipped.sha256
            )));
        }
        let head = shipped.head;
        if head.embedder != embedder || head.dimensions != dimensions {
            return Err(bad(format!(
                "head was trained for {} ({} dimensions), not {embedder} ({dimensions})",
                head.embedder, head.dimensions
            )));
        }
        if head.exemplars != exemplars {
            return Err(bad(
                "head was trained from other exemplars (retrain: `sovra eval safety --train-head`)"
                    .into(),
            ));
        }
        if head
            .categories
            .iter()
            .any(|c| c.weights.len() != dimensions)
        {
            return Err(bad("head weights have the wrong length".into()));
        }
        Ok(head)
    }
}

/// The head as a [`Classifier`]: embeds the text and scores it.
pub struct HeadClassifier<E> {
    embedder: E,
    head: LogisticHead,
}

impl<E> fmt::Debug for HeadClassifier<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeadClassifier")
            .field("categories", &self.head.categories.len())
            .finish()
    }
}

impl<E: Embed> HeadClassifier<E> {
    pub fn new(embedder: E, head: LogisticHead) -> Self {
        Self { embedder, head }
    }

    pub fn head(&self) -> &LogisticHead {
        &self.head
    }
}

impl<E: Embed> Classifier for HeadClassifier<E> {
    fn name(&self) -> &str {
        "logistic"
    }

    fn classify(&self, text: &str) -> Result<Scores, GuardError> {
        if text.trim().is_empty() {
            return Ok(Scores::default());
        }
        let v = self.embedder.embed(text)?;
        if v.len() != self.head.dimensions {
            return Err(GuardError::Classifier {
                name: "logistic".into(),
                message: format!(
                    "embedding has {} dimensions, the head {}",
                    v.len(),
                    self.head.dimensions
                ),
            });
        }
        let scores = self.head.score(&v);
        let matches = scores
            .iter()
            .map(|(c, s)| CategoryMatch {
                category: c.clone(),
                rule: "logistic".to_owned(),
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

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// Two clusters in 3-D: "harm" along x, "everyday" along y.
    fn toy() -> Vec<Exemplar> {
        let mut out = Vec::new();
        for i in 0..40 {
            let jitter = (i as f32 * 0.37).sin() * 0.2;
            out.push(Exemplar {
                categories: vec!["violence/graphic".into()],
                vector: unit(vec![1.0, jitter, 0.3]),
            });
            out.push(Exemplar {
                categories: vec![],
                vector: unit(vec![jitter, 1.0, 0.3]),
            });
        }
        out
    }

    #[test]
    fn learns_separable_categories_and_their_parents() {
        let head = LogisticHead::train(
            &toy(),
            &["violence", "violence/graphic", "hate"],
            TrainParams::default(),
            "toy",
            "d",
        )
        .unwrap();
        let harm = head.score(&unit(vec![1.0, 0.05, 0.3]));
        let calm = head.score(&unit(vec![0.05, 1.0, 0.3]));
        assert!(harm["violence/graphic"] > 0.9, "{harm:?}");
        assert!(
            harm["violence"] > 0.9,
            "parent learned from the child label"
        );
        assert!(calm["violence/graphic"] < 0.1, "{calm:?}");
        assert!(harm["hate"] < 0.1, "no positives: stays low");
    }

    #[test]
    fn matches_a_closed_form_optimum() {
        // One feature, symmetric data: the optimum has bias 0 and the
        // gradient vanishes there.
        let ex: Vec<Exemplar> = [(1.0, true), (-1.0, false), (0.5, true), (-0.5, false)]
            .iter()
            .map(|(x, pos)| Exemplar {
                categories: if *pos { vec!["hate".into()] } else { vec![] },
                vector: vec![*x],
            })
            .collect();
        let rows: Vec<&[f32]> = ex.iter().map(|e| e.vector.as_slice()).collect();
        let p = Problem {
            rows,
            targets: vec![1.0, 0.0, 1.0, 0.0],
            dims: 1,
            c: 1.0,
        };
        let theta = lbfgs(&p, 200);
        let mut g = vec![0.0; 2];
        p.eval(&theta, &mut g);
        assert!(
            g.iter().all(|x| x.abs() < 1e-4),
            "gradient at optimum {g:?}"
        );
        assert!(theta[1].abs() < 1e-4, "bias {}", theta[1]);
        assert!(theta[0] > 0.5);
    }

    #[test]
    fn platt_recovers_a_known_calibration() {
        // Logits whose true probability is sigmoid(0.5 z - 1).
        let mut z = Vec::new();
        let mut y = Vec::new();
        for i in 0..2000 {
            let zi = (i as f64 / 100.0) - 10.0;
            let p = sigmoid(0.5 * zi - 1.0);
            // Deterministic "sampling": a quasi-random threshold.
            let u = ((i as f64 * 0.618_033_988_75) % 1.0).abs();
            z.push(zi);
            y.push(if u < p { 1.0 } else { 0.0 });
        }
        let (a, b) = fit_platt(&z, &y);
        assert!((a - 0.5).abs() < 0.1, "a = {a}");
        assert!((b + 1.0).abs() < 0.25, "b = {b}");
    }

    #[test]
    fn shipped_head_is_checked() {
        let head =
            LogisticHead::train(&toy(), &["violence"], TrainParams::default(), "toy", "d").unwrap();
        let json = serde_json::to_string(&head.ship().unwrap()).unwrap();
        assert!(ShippedHead::verify(&json, "toy", 3, "d").is_ok());
        let err = ShippedHead::verify(&json, "toy", 3, "other").unwrap_err();
        assert!(err.to_string().contains("other exemplars"), "{err}");
        let err = ShippedHead::verify(&json, "e5", 3, "d").unwrap_err();
        assert!(err.to_string().contains("trained for toy"), "{err}");
        let tampered = json.replacen("\"bias\":", "\"bias\":1e-3+", 1);
        assert!(ShippedHead::verify(&tampered, "toy", 3, "d").is_err());
        let mut shipped: ShippedHead = serde_json::from_str(&json).unwrap();
        shipped.head.categories[0].bias += 1.0;
        let altered = serde_json::to_string(&shipped).unwrap();
        let err = ShippedHead::verify(&altered, "toy", 3, "d").unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
