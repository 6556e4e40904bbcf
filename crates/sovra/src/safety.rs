//! The safety pipeline `sovra serve` runs: the country profile (or the
//! built-in neutral one), the guard built from it, the audit record of the
//! policy in force, the in-country classifier beside the rules (the trained
//! logistic head shipped with the build, or the nearest-neighbour vote),
//! and the task that flushes per-language request counts to the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use sovra_assistant::safety::Safety;
use sovra_config::{ClassifierKind, Settings};
use sovra_embeddings::{EmbedInput, Embedder};
use sovra_guard::{
    Abstention, Classifier, Embed, Exemplar, ExemplarClassifier, Guard, GuardError, HeadClassifier,
    LogisticHead, ShippedHead, TrainParams,
};
use sovra_store::Store;
use tokio_util::sync::CancellationToken;

/// The labelled exemplars the classifiers learn from (see eval/safety/):
/// the team's first evaluation set, the harmful and look-alike exemplar
/// banks (the third for the harms the blind heldout5 run missed), and
/// everyday messages (moods and complaints too) in every web chat language.
const EXEMPLAR_SETS: [(&str, &str); 6] = [
    (
        "eval/safety/cases.jsonl",
        include_str!("../../../eval/safety/cases.jsonl"),
    ),
    (
        "eval/safety/exemplars.jsonl",
        include_str!("../../../eval/safety/exemplars.jsonl"),
    ),
    (
        "eval/safety/exemplars2.jsonl",
        include_str!("../../../eval/safety/exemplars2.jsonl"),
    ),
    (
        "eval/safety/exemplars3.jsonl",
        include_str!("../../../eval/safety/exemplars3.jsonl"),
    ),
    (
        "eval/safety/everyday-exemplars.jsonl",
        include_str!("../../../eval/safety/everyday-exemplars.jsonl"),
    ),
    (
        "eval/safety/everyday-moods.jsonl",
        include_str!("../../../eval/safety/everyday-moods.jsonl"),
    ),
];

/// The logistic head trained from [`EXEMPLAR_SETS`] with the default
/// embedder, shipped so a node moderates with it from its first request
/// (`sovra eval safety --train-head eval/safety/head.json` writes it).
const SHIPPED_HEAD: &str = include_str!("../../../eval/safety/head.json");

/// What moderates beside the rules.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Choice {
    /// The calibrated logistic head.
    Logistic,
    /// The nearest-neighbour vote, optionally abstaining.
    Vote {
        k: usize,
        scale: f32,
        abstention: Option<Abstention>,
    },
}

impl Choice {
    /// The classifier the settings ask for (`None`: rules only), given
    /// whether embeddings are served.
    pub fn from_settings(settings: &Settings, have_embeddings: bool) -> Result<Option<Self>> {
        let s = &settings.safety;
        let chosen = match s.classifier {
            ClassifierKind::Rules => return Ok(None),
            ClassifierKind::Auto if !have_embeddings => return Ok(None),
            ClassifierKind::Auto | ClassifierKind::Logistic => Choice::Logistic,
            ClassifierKind::Vote => Choice::Vote {
                k: s.knn_k,
                scale: s.knn_scale,
                abstention: s.knn_floor.map(|floor| Abstention {
                    floor,
                    margin: s.knn_margin,
                }),
            },
        };
        if !have_embeddings {
            anyhow::bail!(
                "setting `safety.classifier = \"{}\"` needs the embedding model (`embeddings.enabled`)",
                chosen.name()
            );
        }
        Ok(Some(chosen))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Choice::Logistic => "logistic",
            Choice::Vote {
                abstention: Some(_),
                ..
            } => "abstaining vote",
            Choice::Vote { .. } => "vote",
        }
    }
}

/// Builds the classifier in the background and swaps it into `safety`
/// when ready; until then the rules alone moderate (and `/readyz` says the
/// node is not ready).
pub fn spawn_classifier(
    safety: Arc<Safety>,
    settings: &Settings,
    choice: Choice,
    embedder: Arc<dyn Embedder>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let cache_dir = settings
        .engine
        .model_cache
        .clone()
        .unwrap_or_else(sovra_models::default_cache_dir);
    safety.expect_classifier();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let built = tokio::select! {
            _ = stop.cancelled() => return,
            built = build_classifier(choice, embedder, &cache_dir) => built,
        };
        let classifier = match built {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the safety classifier could not be built; rules alone moderate");
                safety.classifier_failed();
                return;
            }
        };
        let guard = match Guard::new(safety.profile()) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "the safety classifier could not be built");
                safety.classifier_failed();
                return;
            }
        };
        let guard = Guard {
            moderator: guard
                .moderator
                .with_classifier(Box::new(RulesOnFailure(classifier))),
            ..guard
        };
        safety.replace_guard(guard);
        safety.classifier_ready();
        tracing::info!(
            classifier = choice.name(),
            seconds = started.elapsed().as_secs_f32(),
            "safety classifier ready (rules + {})",
            choice.name()
        );
    })
}

/// The classifier `choice` names, over `embedder`.
pub async fn build_classifier(
    choice: Choice,
    embedder: Arc<dyn Embedder>,
    cache_dir: &Path,
) -> Result<Box<dyn Classifier>> {
    let embed = BlockingEmbed {
        embedder: embedder.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    Ok(match choice {
        Choice::Logistic => {
            let head = load_or_train_head(embedder, cache_dir).await?;
            Box::new(HeadClassifier::new(embed, head))
        }
        Choice::Vote {
            k,
            scale,
            abstention,
        } => {
            let exemplars = exemplars(embedder, cache_dir).await?;
            let knn = ExemplarClassifier::new(embed, exemplars, k).with_scale(scale);
            match abstention {
                Some(a) => Box::new(knn.with_abstention(a)),
                None => Box::new(knn),
            }
        }
    })
}

/// Every labelled exemplar, in order.
fn labelled() -> Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    for (name, src) in EXEMPLAR_SETS {
        for case in sovra_guard::eval::parse_cases(src, name)? {
            out.push((case.text, case.categories));
        }
    }
    Ok(out)
}

/// The digest a head is trained from: the exemplars' texts and labels.
fn exemplar_digest(labelled: &[(String, Vec<String>)]) -> String {
    sovra_guard::head::exemplar_digest(labelled.iter().map(|(t, c)| (t.as_str(), c.as_slice())))
}

/// Categories a head learns: the moderation categories some exemplar has.
fn head_categories(labelled: &[(String, Vec<String>)]) -> Vec<&'static str> {
    sovra_profile::OPENAI_CATEGORIES
        .iter()
        .chain(sovra_profile::SOVRA_CATEGORIES.iter())
        .copied()
        .filter(|c| {
            labelled.iter().any(|(_, cats)| {
                cats.iter()
                    .any(|l| l == c || l.strip_prefix(c).is_some_and(|r| r.starts_with('/')))
            })
        })
        .collect()
}

/// The shipped head if it was trained from these exemplars with this
/// embedder; else one trained earlier on this machine (cached); else one
/// trained now.
async fn load_or_train_head(embedder: Arc<dyn Embedder>, cache_dir: &Path) -> Result<LogisticHead> {
    let labelled = labelled()?;
    let digest = exemplar_digest(&labelled);
    let (model, dims) = (embedder.model_id().to_owned(), embedder.dimensions());
    match ShippedHead::verify(SHIPPED_HEAD, &model, dims, &digest) {
        Ok(head) => return Ok(head),
        Err(e) => tracing::warn!(
            reason = %e,
            "the shipped safety head does not fit this build's exemplars or embedder; training one (minutes, once)"
        ),
    }
    let cached = cache_dir.join(format!("safety-head-{}.json", &digest[..16]));
    if let Ok(json) = std::fs::read_to_string(&cached)
        && let Ok(head) = ShippedHead::verify(&json, &model, dims, &digest)
    {
        return Ok(head);
    }
    let head = train_head(embedder, cache_dir).await?;
    let json = serde_json::to_string(&head.ship()?)?;
    if let Err(e) = write_atomically(&cached, json.as_bytes()) {
        tracing::warn!(path = %cached.display(), error = %e, "could not cache the trained safety head");
    }
    Ok(head)
}

/// Embeds the exemplars (cached) and trains the logistic head on them.
pub async fn train_head(embedder: Arc<dyn Embedder>, cache_dir: &Path) -> Result<LogisticHead> {
    let labelled = labelled()?;
    let digest = exemplar_digest(&labelled);
    let categories = head_categories(&labelled);
    let model = embedder.model_id().to_owned();
    let exemplars = exemplars(embedder, cache_dir).await?;
    tokio::task::spawn_blocking(move || {
        LogisticHead::train(
            &exemplars,
            &categories,
            TrainParams::default(),
            &model,
            &digest,
        )
    })
    .await
    .context("training the safety head crashed")?
    .context("training the safety head")
}

/// Loads the profile, builds the guard and records the policy in force.
pub async fn build(settings: &Settings, store: &dyn Store) -> Result<Arc<Safety>> {
    let (profile, source) = match &settings.safety.profile {
        Some(path) => (
            sovra_profile::load(path)
                .context("invalid country profile (setting `safety.profile`)")?,
            path.display().to_string(),
        ),
        None => (
            sovra_profile::neutral().context("the built-in neutral profile is invalid")?,
            "built-in".to_owned(),
        ),
    };
    let guard = Guard::new(profile.clone()).context("could not build the safety pipeline")?;
    let history = sovra_assistant::policy::record_policy(store, &profile, &source)
        .await
        .context("could not record the policy in the audit trail")?;
    tracing::info!(
        country = %profile.country.as_str(),
        version = %profile.version,
        source = %source,
        changes = history.len(),
        "country profile loaded"
    );
    Ok(Arc::new(
        Safety::new(guard, settings.safety.check_output).with_policy_history(history),
    ))
}

/// The exemplar vectors, from the cache or embedded now (and cached).
async fn exemplars(embedder: Arc<dyn Embedder>, cache_dir: &Path) -> Result<Vec<Exemplar>> {
    let labelled = labelled()?;
    let mut hasher = Sha256::new();
    hasher.update(embedder.model_id().as_bytes());
    for (_, src) in EXEMPLAR_SETS {
        hasher.update(src.as_bytes());
    }
    let digest = hex::encode(&hasher.finalize()[..8]);
    let path = cache_dir.join(format!("safety-exemplars-{digest}.f32"));
    if let Some(vectors) = read_cache(&path, labelled.len(), embedder.dimensions()) {
        return Ok(zip(labelled, vectors));
    }
    let mut vectors = Vec::with_capacity(labelled.len());
    for batch in labelled.chunks(16) {
        let inputs = batch
            .iter()
            .map(|(t, _)| EmbedInput::Text(t.clone()))
            .collect();
        let out = embedder
            .embed(inputs)
            .await
            .context("embedding the safety exemplars")?;
        vectors.extend(out.vectors);
    }
    if let Err(e) = write_cache(&path, &vectors) {
        tracing::warn!(path = %path.display(), error = %e, "could not cache the safety exemplars");
    }
    Ok(zip(labelled, vectors))
}

fn zip(labelled: Vec<(String, Vec<String>)>, vectors: Vec<Vec<f32>>) -> Vec<Exemplar> {
    labelled
        .into_iter()
        .zip(vectors)
        .map(|((_, categories), vector)| Exemplar { categories, vector })
        .collect()
}

fn read_cache(path: &PathBuf, count: usize, dims: usize) -> Option<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() != count * dims * 4 {
        return None;
    }
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(floats.chunks(dims).map(<[f32]>::to_vec).collect())
}

fn write_cache(path: &Path, vectors: &[Vec<f32>]) -> std::io::Result<()> {
    let bytes: Vec<u8> = vectors
        .iter()
        .flatten()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    write_atomically(path, &bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(tmp, path)
}

/// A classifier that cannot answer (the embedding queue is full, say) adds
/// nothing, and the rules alone decide for that message: a busy embedder
/// must not turn every chat request into a 500. Counted and logged.
#[derive(Debug)]
struct RulesOnFailure<C>(C);

impl<C: Classifier> Classifier for RulesOnFailure<C> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn classify(&self, text: &str) -> Result<sovra_guard::Scores, GuardError> {
        match self.0.classify(text) {
            Ok(s) => Ok(s),
            Err(e) => {
                metrics::counter!("sovra_safety_classifier_errors_total").increment(1);
                tracing::warn!(error = %e, "the safety classifier failed; the rules alone decide this message");
                Ok(sovra_guard::Scores::default())
            }
        }
    }
}

/// The async embedder, called from the guard's blocking threads.
struct BlockingEmbed {
    embedder: Arc<dyn Embedder>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for BlockingEmbed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockingEmbed")
    }
}

impl Embed for BlockingEmbed {
    fn embed(&self, text: &str) -> Result<Vec<f32>, GuardError> {
        // The model takes no NUL and at most 512 tokens: a longer message is
        // classified by its beginning (the rules still read all of it).
        let mut text: String = text.replace('\0', " ");
        let out = loop {
            // The guard runs on `spawn_blocking` threads, where blocking on
            // the runtime is allowed.
            match self
                .runtime
                .block_on(self.embedder.embed(vec![EmbedInput::Text(text.clone())]))
            {
                Err(sovra_embeddings::EmbedError::TooLong { .. }) if text.len() > 16 => {
                    let mut cut = text.len() / 2;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                other => {
                    break other.map_err(|e| GuardError::Classifier {
                        name: "exemplars".into(),
                        message: e.to_string(),
                    })?;
                }
            }
        };
        out.vectors
            .into_iter()
            .next()
            .ok_or_else(|| GuardError::Classifier {
                name: "exemplars".into(),
                message: "the embedder returned no vector".into(),
            })
    }
}

/// Flushes request counts to the store every `every`, and once more when
/// `stop` fires.
pub async fn run_tally_flush(
    safety: Arc<Safety>,
    store: Arc<dyn Store>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let stopping = tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(every) => false,
        };
        let counts = safety.take_tally();
        if !counts.is_empty() {
            let day = time::OffsetDateTime::now_utc().date().to_string();
            if let Err(e) = store.add_request_counts(&day, &counts).await {
                tracing::warn!(error = %e, "could not flush request counts; kept for the next try");
                safety.restore_tally(counts);
            }
        }
        if stopping {
            return;
        }
    }
}

/// `sovra eval safety`: the report over labelled case files, for one
/// classifier or several side by side; or, with `--train-head`, the
/// logistic head trained and written.
pub async fn eval(args: crate::cli::EvalSafetyArgs) -> Result<()> {
    use crate::cli::ClassifierArg;
    use std::io::Write as _;
    let profile = match &args.profile {
        Some(p) => sovra_profile::load(p).context("invalid country profile")?,
        None => sovra_profile::neutral().context("the built-in neutral profile is invalid")?,
    };
    let needs_embeddings =
        args.train_head.is_some() || args.classifier.iter().any(|c| *c != ClassifierArg::Rules);
    let embedder = if needs_embeddings {
        let settings = Settings::default();
        let embedder: Arc<dyn Embedder> = crate::setup::load_embeddings(&settings)
            .await?
            .context("the embedding model is not available")?;
        Some(embedder)
    } else {
        None
    };
    let cache_dir = sovra_models::default_cache_dir();
    if let Some(path) = &args.train_head {
        let embedder = embedder.context("the embedding model is not available")?;
        let started = std::time::Instant::now();
        let head = train_head(embedder, &cache_dir).await?;
        let json = serde_json::to_string_pretty(&head.ship()?)?;
        write_atomically(path, format!("{json}\n").as_bytes())
            .with_context(|| format!("could not write {}", path.display()))?;
        tracing::info!(
            path = %path.display(),
            categories = head.categories.len(),
            seconds = started.elapsed().as_secs_f32(),
            "safety head trained"
        );
        return Ok(());
    }
    let mut sets = Vec::new();
    for path in &args.cases {
        let cases = sovra_guard::eval::load_cases(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        sets.push((path.display().to_string(), cases));
    }
    // Texts the classifiers learnt from: a case whose text is one of them
    // is scored again on the unseen rest too.
    let known: std::collections::HashSet<String> = labelled()?
        .into_iter()
        .map(|(t, _)| t.trim().to_lowercase())
        .collect();
    let mut rows = Vec::new();
    let single = args.classifier.len() == 1 && sets.len() == 1;
    let mut out = std::io::stdout().lock();
    let mut all_missed = Vec::new();
    for which in &args.classifier {
        let guard = Guard::new(profile.clone()).context("could not build the safety pipeline")?;
        let choice = match which {
            ClassifierArg::Rules => None,
            ClassifierArg::Vote => Some(Choice::Vote {
                k: args.k,
                scale: args.scale,
                abstention: None,
            }),
            ClassifierArg::AbstainingVote => Some(Choice::Vote {
                k: args.k,
                scale: args.scale,
                abstention: Some(Abstention {
                    floor: args.floor,
                    margin: args.margin,
                }),
            }),
            ClassifierArg::Logistic => Some(Choice::Logistic),
        };
        let moderator = match (choice, &embedder) {
            (Some(choice), Some(embedder)) => guard
                .moderator
                .with_classifier(build_classifier(choice, embedder.clone(), &cache_dir).await?),
            _ => guard.moderator,
        };
        let moderator = Arc::new(moderator);
        let languages = Arc::new(guard.languages);
        let name = choice.map_or("rules", |c| c.name());
        for (file, cases) in &sets {
            let (m, l, p, c) = (
                moderator.clone(),
                languages.clone(),
                profile.clone(),
                cases.clone(),
            );
            let started = std::time::Instant::now();
            let report =
                tokio::task::spawn_blocking(move || sovra_guard::eval::run(&c, &p, &m, &l))
                    .await
                    .context("the evaluation crashed")?
                    .context("the evaluation failed")?;
            let took = started.elapsed();
            let missed = report.missed_targets(&profile, 0.9, 0.05);
            all_missed.extend(missed.iter().map(|m| format!("{name} on {file}: {m}")));
            if single {
                if args.json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
                } else {
                    writeln!(
                        out,
                        "{} cases from {}, profile {} {}, {}, {:.1} ms per case\n",
                        cases.len(),
                        file,
                        profile.country.as_str(),
                        profile.version,
                        name,
                        took.as_secs_f64() * 1000.0 / cases.len().max(1) as f64
                    )?;
                    writeln!(out, "{}", report.render())?;
                    if missed.is_empty() {
                        writeln!(
                            out,
                            "targets (recall >= 0.9 on blocked categories, benign FPR <= 0.05): met"
                        )?;
                    } else {
                        writeln!(out, "targets missed: {}", missed.join("; "))?;
                    }
                }
            } else {
                rows.push(CompareRow::of(name, file, cases, &report, &known));
            }
        }
    }
    if !single {
        if args.json {
            writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        } else {
            writeln!(out, "{}", CompareRow::render(&rows, &profile))?;
        }
    }
    if args.check && !all_missed.is_empty() {
        anyhow::bail!("safety targets missed: {}", all_missed.join("; "));
    }
    Ok(())
}

/// One line of a side-by-side comparison: a classifier on a case file.
#[derive(Debug, serde::Serialize)]
struct CompareRow {
    classifier: String,
    cases: String,
    block: (usize, usize),
    safe_completion: (usize, usize),
    /// Benign cases not allowed (refused or answered with help lines).
    benign_not_allowed: (usize, usize),
    /// The same over the cases whose text is not one of the exemplars.
    unseen_benign_not_allowed: (usize, usize),
    /// The language with the highest share of benign cases not allowed.
    worst_language: Option<(String, usize, usize)>,
    latency_p50_ms: f64,
    latency_p99_ms: f64,
}

impl CompareRow {
    fn of(
        classifier: &str,
        file: &str,
        cases: &[sovra_guard::eval::Case],
        report: &sovra_guard::eval::Report,
        known: &std::collections::HashSet<String>,
    ) -> Self {
        use sovra_profile::Action;
        let unseen: std::collections::HashSet<&str> = cases
            .iter()
            .filter(|c| !known.contains(&c.text.trim().to_lowercase()))
            .map(|c| c.id.as_str())
            .collect();
        let mut unseen_benign = (0, 0);
        for o in &report.outcomes {
            if o.expected == Action::Allow && unseen.contains(o.id.as_str()) {
                unseen_benign.1 += 1;
                if o.decided != Action::Allow {
                    unseen_benign.0 += 1;
                }
            }
        }
        let worst_language = report
            .languages
            .iter()
            .filter(|(_, l)| l.benign > 0)
            .max_by(|a, b| {
                let r = |l: &sovra_guard::eval::LanguageReport| {
                    l.benign_not_allowed as f64 / l.benign as f64
                };
                r(a.1).total_cmp(&r(b.1)).then(b.0.cmp(a.0))
            })
            .map(|(lang, l)| (lang.clone(), l.benign_not_allowed, l.benign));
        CompareRow {
            classifier: classifier.to_owned(),
            cases: file.rsplit('/').next().unwrap_or(file).to_owned(),
            block: report.block,
            safe_completion: report.safe_completion,
            benign_not_allowed: report.benign,
            unseen_benign_not_allowed: unseen_benign,
            worst_language,
            latency_p50_ms: report.latency_p50_us as f64 / 1000.0,
            latency_p99_ms: report.latency_p99_us as f64 / 1000.0,
        }
    }

    fn render(rows: &[CompareRow], profile: &sovra_profile::Profile) -> String {
        use std::fmt::Write as _;
        let frac = |(a, b): (usize, usize)| {
            if b == 0 {
                "-".to_owned()
            } else {
                format!("{a}/{b} = {:.3}", a as f64 / b as f64)
            }
        };
        let mut s = format!(
            "profile {} {}\n\n| classifier | cases | blocked when labelled block | safe completion when labelled so | benign not allowed | same, texts not among the exemplars | worst language (benign not allowed) | p50 / p99 ms |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
            profile.country.as_str(),
            profile.version
        );
        for r in rows {
            let worst = r
                .worst_language
                .as_ref()
                .map_or("-".to_owned(), |(l, a, b)| format!("{l} {a}/{b}"));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} / {:.1} |",
                r.classifier,
                r.cases,
                frac(r.block),
                frac(r.safe_completion),
                frac(r.benign_not_allowed),
                frac(r.unseen_benign_not_allowed),
                worst,
                r.latency_p50_ms,
                r.latency_p99_ms
            );
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Editing an exemplar file without retraining would silently fall back
    /// to training at every fresh start: the shipped head must be the one
    /// trained from the exemplars this build compiles in.
    #[test]
    fn shipped_head_fits_the_compiled_in_exemplars() {
        let labelled = labelled().unwrap();
        let digest = exemplar_digest(&labelled);
        let head = ShippedHead::verify(SHIPPED_HEAD, "multilingual-e5-small", 384, &digest)
            .unwrap_or_else(|e| {
                panic!("{e}: run `sovra eval safety --train-head eval/safety/head.json`")
            });
        assert_eq!(head.params, TrainParams::default());
        let trained: Vec<&str> = head
            .categories
            .iter()
            .map(|c| c.category.as_str())
            .collect();
        assert_eq!(trained, head_categories(&labelled));
    }

    #[test]
    fn every_web_chat_language_has_everyday_exemplars() {
        let everyday = EXEMPLAR_SETS
            .iter()
            .find(|(name, _)| name.ends_with("everyday-exemplars.jsonl"))
            .unwrap();
        let cases = sovra_guard::eval::parse_cases(everyday.1, everyday.0).unwrap();
        for lang in [
            "en", "et", "ru", "uk", "fr", "de", "it", "es", "pt", "fi", "sw", "ar",
        ] {
            let n = cases.iter().filter(|c| c.language == lang).count();
            assert!(n >= 50, "{lang}: {n} everyday exemplars");
        }
    }
}
