//! `sovra data`: the data subject's rights, keys, retention and backups,
//! against the same store and keys `sovra serve` uses (it may be running).

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use figment::providers::Serialized;
use serde_json::json;
use sovra_config::Settings;
use sovra_store::{LegalHold, Subject};

use crate::cli::{DataArgs, DataCommand};
use crate::setup::{actor, emit, open_store, retention_rules};

/// The audit entry of an operator's export (counts, no content; with
/// `[audit] content = "digest"`, the SHA-256 of the document written).
fn sovra_audit_entry(
    s: &Subject,
    conversations: usize,
    digest: Option<String>,
) -> sovra_store::NewAuditEntry {
    let mut details = json!({"conversations": conversations});
    if let Some(d) = digest {
        details["sha256"] = json!(d);
    }
    sovra_store::NewAuditEntry {
        actor: actor(),
        action: "data.export".into(),
        tenant: s.tenant.clone(),
        subject: Some(s.user.clone()),
        details,
    }
}

pub async fn run(args: DataArgs) -> Result<()> {
    let mut overrides = serde_json::Map::new();
    if let Some(d) = &args.data_dir {
        overrides.insert("data_dir".into(), json!(d));
    }
    let settings = Settings::load(
        args.config.as_deref(),
        Serialized::defaults(serde_json::Value::Object(overrides)),
    )
    .context("invalid configuration")?;
    if let DataCommand::Restore { from, force } = &args.command {
        return restore(&settings, from, *force).await;
    }
    let store = open_store(&settings).await?;
    match args.command {
        DataCommand::Export { subject, out } => {
            let s = Subject::new(&subject.tenant, &subject.user)?;
            let export = store.export_subject(&s).await?;
            let text = serde_json::to_string_pretty(&export)?;
            let digest =
                (settings.audit.content == sovra_config::AuditContent::Digest).then(|| {
                    use sha2::Digest as _;
                    hex::encode(sha2::Sha256::digest(text.as_bytes()))
                });
            // An operator reading a person's data is itself on the record.
            store
                .append_audit(sovra_audit_entry(&s, export.conversations.len(), digest))
                .await?;
            match out {
                // A person's data: owner-only, like the store it came from.
                Some(path) => sovra_store::private::write(&path, text.as_bytes())
                    .with_context(|| format!("could not write {}", path.display()))?,
                None => {
                    let mut o = std::io::stdout().lock();
                    writeln!(o, "{text}")?;
                }
            }
        }
        DataCommand::Erase { subject } => {
            let s = Subject::new(&subject.tenant, &subject.user)?;
            // The store first: it refuses under a legal hold, and then
            // nothing else goes either.
            let report = store.erase_subject(&s, &actor()).await?;
            let knowledge = erase_knowledge(&settings, &s).await?;
            let mut out = json!({"erased": s, "report": report});
            if let Some(k) = knowledge {
                out["knowledge"] = json!(k);
            }
            emit(&out)?;
        }
        DataCommand::ShredTenant { tenant, yes } => {
            if !yes {
                bail!("shredding tenant {tenant} deletes all its data for good; add --yes");
            }
            let report = store.shred_tenant(&tenant, &actor()).await?;
            emit(&json!({"shredded": tenant, "report": report}))?;
        }
        DataCommand::RotateKey { tenant } => {
            let version = store.rotate_tenant_key(&tenant, &actor()).await?;
            emit(&json!({"tenant": tenant, "key_version": version}))?;
        }
        DataCommand::Hold {
            tenant,
            user,
            reason,
        } => {
            let hold = LegalHold {
                tenant,
                user,
                reason,
                created_at_ms: 0,
            };
            store.set_legal_hold(&hold, &actor()).await?;
            emit(&json!({"hold": hold}))?;
        }
        DataCommand::Release { tenant, user } => {
            let released = store
                .release_legal_hold(&tenant, user.as_deref(), &actor())
                .await?;
            emit(&json!({"released": released}))?;
        }
        DataCommand::Holds => emit(&json!(store.legal_holds().await?))?,
        DataCommand::Purge => {
            let report = store.purge_expired(&retention_rules(&settings)).await?;
            emit(&json!(report))?;
        }
        // The same check as `sovra audit verify` (kept for scripts that use it).
        DataCommand::VerifyAudit => crate::audit::verify(&*store, None).await?,
        DataCommand::Backup { out } => {
            store
                .backup(&out)
                .await
                .with_context(|| format!("could not back up to {}", out.display()))?;
            // Uploads and private collections are a person's data too: the
            // knowledge base goes beside it (SQLite; PostgreSQL's is in the
            // database's own backups).
            let mut done = json!({"backup": out});
            if settings.data_dir.join("knowledge.db").exists() {
                let k = knowledge_backup(&out);
                let config = crate::setup::knowledge_config(&settings);
                if sovra_knowledge::Knowledge::backup_offline(&config, &k)
                    .await
                    .with_context(|| {
                        format!("could not back up the knowledge base to {}", k.display())
                    })?
                {
                    done["knowledge"] = json!(k);
                }
            }
            emit(&done)?;
        }
        DataCommand::Restore { .. } => {}
    }
    Ok(())
}

/// Where `sovra data backup --out OUT` puts the knowledge base:
/// `OUT`'s stem with `.knowledge.db` (`b.db` → `b.knowledge.db`).
pub(crate) fn knowledge_backup(out: &Path) -> std::path::PathBuf {
    out.with_extension("knowledge.db")
}

/// A person's uploads and private collections, as `DELETE /api/me/data`
/// erases them; None when this node keeps no knowledge base.
async fn erase_knowledge(
    settings: &Settings,
    s: &Subject,
) -> Result<Option<sovra_knowledge::Removed>> {
    let config = crate::setup::knowledge_config(settings);
    let kept = match &config.storage {
        sovra_knowledge::Storage::Sqlite => settings.data_dir.join("knowledge.db").exists(),
        sovra_knowledge::Storage::Postgres { .. } => settings.knowledge.enabled != Some(false),
    };
    if !kept {
        return Ok(None);
    }
    let removed = sovra_knowledge::Knowledge::erase_subject_offline(&config, &s.tenant, &s.user)
        .await
        .context("could not erase the person's files and private collections")?;
    Ok(Some(removed))
}

async fn restore(settings: &Settings, from: &Path, force: bool) -> Result<()> {
    if !from.is_file() {
        bail!("backup {} does not exist", from.display());
    }
    match settings.storage.url.as_deref() {
        Some(url) if url.starts_with("postgres") => {
            sovra_store::restore_postgres(url, from).await?;
        }
        other => {
            let db = match other {
                Some(url) => Path::new(
                    url.trim_start_matches("sqlite://")
                        .trim_start_matches("sqlite:"),
                )
                .to_path_buf(),
                None => settings.data_dir.join("sovra.db"),
            };
            if db.exists() && !force {
                bail!(
                    "{} exists; stop Sovra and add --force to replace it",
                    db.display()
                );
            }
            if let Some(dir) = db.parent() {
                sovra_store::private::private_dir(dir)?;
            }
            restore_file(from, &db)?;
            // The knowledge base, when the backup has it beside (the vector
            // index is rebuilt from it at start).
            let k = knowledge_backup(from);
            if k.is_file() {
                restore_file(&k, &settings.data_dir.join("knowledge.db"))?;
                let _ = std::fs::remove_file(settings.data_dir.join("knowledge.vec"));
                return emit(&json!({"restored": from, "knowledge": k}));
            }
        }
    }
    emit(&json!({"restored": from}))
}

/// Copy the SQLite file `from` over `db` (owner-only, staged, synced, and
/// the old write-ahead log dropped).
fn restore_file(from: &Path, db: &Path) -> Result<()> {
    let staging = db.with_extension("db.restoring");
    let _ = std::fs::remove_file(&staging);
    let mut copy = sovra_store::private::open_new(&staging)?;
    std::io::copy(&mut std::fs::File::open(from)?, &mut copy)
        .with_context(|| format!("could not copy {}", from.display()))?;
    drop(copy);
    std::fs::File::open(&staging)?.sync_all()?;
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(db.with_extension(ext));
    }
    std::fs::rename(&staging, db)?;
    Ok(())
}
