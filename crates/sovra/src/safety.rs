//! The safety pipeline `sovra serve` runs: the country profile (or the
//! built-in neutral one), the guard built from it, the audit record of the
//! policy in force, the in-country classifier (nearest neighbours over the
//! embedding model, built in the background so start-up does not wait),
//! and the task that flushes per-language request counts to the store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use sha2::{Digest, Sha256};
use sovra_config::{ClassifierKind, Settings};
use sovra_embeddings::{EmbedInput, Embedder};
use sovra_guard::{Classifier, Embed, Exemplar, ExemplarClassifier, Guard, GuardError};
use sovra_server::safety::Safety;
use sovra_store::Store;
use tokio_util::sync::CancellationToken;

/// The labelled exemplars the classifier compares messages with: the team's
/// evaluation set and the exemplar bank (see eval/safety/).
const EXEMPLAR_SETS: [(&str, &str); 2] = [
    (
        "eval/safety/cases.jsonl",
        include_str!("../../../eval/safety/cases.jsonl"),
    ),
    (
        "eval/safety/exemplars.jsonl",
        include_str!("../../../eval/safety/exemplars.jsonl"),
    ),
];

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
    let history = sovra_server::transparency::record_policy(store, &profile, &source)
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

/// Whether the classifier runs, given what is served.
pub fn classifier_wanted(settings: &Settings, have_embeddings: bool) -> Result<bool> {
    match settings.safety.classifier {
        ClassifierKind::Rules => Ok(false),
        ClassifierKind::Auto => Ok(have_embeddings),
        ClassifierKind::Exemplars if have_embeddings => Ok(true),
        ClassifierKind::Exemplars => anyhow::bail!(
            "setting `safety.classifier = \"exemplars\"` needs the embedding model (`embeddings.enabled`)"
        ),
    }
}

/// Builds the classifier in the background and swaps it into `safety`
/// when ready; until then the rules alone moderate.
pub fn spawn_classifier(
    safety: Arc<Safety>,
    settings: &Settings,
    embedder: Arc<dyn Embedder>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let k = settings.safety.knn_k;
    let scale = settings.safety.knn_scale;
    let cache_dir = settings
        .engine
        .model_cache
        .clone()
        .unwrap_or_else(sovra_models::default_cache_dir);
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let built = tokio::select! {
            _ = stop.cancelled() => return,
            built = exemplars(embedder.clone(), &cache_dir) => built,
        };
        let exemplars = match built {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the safety classifier could not be built; rules alone moderate");
                return;
            }
        };
        let n = exemplars.len();
        let profile = safety.profile();
        let guard = match Guard::new(profile) {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "the safety classifier could not be built");
                return;
            }
        };
        let embed = BlockingEmbed {
            embedder,
            runtime: tokio::runtime::Handle::current(),
        };
        let knn = ExemplarClassifier::new(embed, exemplars, k).with_scale(scale);
        let guard = Guard {
            moderator: guard
                .moderator
                .with_classifier(Box::new(RulesOnFailure(knn))),
            ..guard
        };
        safety.replace_guard(guard);
        tracing::info!(
            exemplars = n,
            k,
            scale,
            seconds = started.elapsed().as_secs_f32(),
            "safety classifier ready (rules + nearest neighbours)"
        );
    })
}

/// The exemplar vectors, from the cache or embedded now (and cached).
async fn exemplars(embedder: Arc<dyn Embedder>, cache_dir: &Path) -> Result<Vec<Exemplar>> {
    let mut labelled: Vec<(String, Vec<String>)> = Vec::new();
    let mut hasher = Sha256::new();
    hasher.update(embedder.model_id().as_bytes());
    for (name, src) in EXEMPLAR_SETS {
        hasher.update(src.as_bytes());
        for case in sovra_guard::eval::parse_cases(src, name)? {
            labelled.push((case.text, case.categories));
        }
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
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

/// `sovra eval safety`: the report over a labelled case file.
pub async fn eval(args: crate::cli::EvalSafetyArgs) -> Result<()> {
    let profile = match &args.profile {
        Some(p) => sovra_profile::load(p).context("invalid country profile")?,
        None => sovra_profile::neutral().context("the built-in neutral profile is invalid")?,
    };
    let cases = sovra_guard::eval::load_cases(&args.cases)
        .with_context(|| format!("could not read {}", args.cases.display()))?;
    let guard = Guard::new(profile.clone()).context("could not build the safety pipeline")?;
    let moderator = match args.classifier {
        crate::cli::ClassifierArg::Rules => guard.moderator,
        crate::cli::ClassifierArg::Exemplars => {
            let settings = Settings::default();
            let service = crate::serve::build_embeddings(&settings)
                .await?
                .context("the embedding model is not available")?;
            let cache_dir = sovra_models::default_cache_dir();
            let exemplars = exemplars(service.embedder.clone(), &cache_dir).await?;
            let embed = BlockingEmbed {
                embedder: service.embedder,
                runtime: tokio::runtime::Handle::current(),
            };
            let knn = ExemplarClassifier::new(embed, exemplars, args.k).with_scale(args.scale);
            guard.moderator.with_classifier(Box::new(knn))
        }
    };
    let languages = guard.languages;
    let report = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let report = sovra_guard::eval::run(&cases, &profile, &moderator, &languages);
        (report, started.elapsed(), cases.len(), profile)
    })
    .await
    .context("the evaluation crashed")?;
    let (report, took, n, profile) = report;
    let report = report.context("the evaluation failed")?;
    let missed = report.missed_targets(&profile, 0.9, 0.05);
    let mut out = std::io::stdout().lock();
    use std::io::Write as _;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        writeln!(
            out,
            "{} cases from {}, profile {} {}, {:.1} ms per case\n",
            n,
            args.cases.display(),
            profile.country.as_str(),
            profile.version,
            took.as_secs_f64() * 1000.0 / n.max(1) as f64
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
    if args.check && !missed.is_empty() {
        anyhow::bail!("safety targets missed: {}", missed.join("; "));
    }
    Ok(())
}
