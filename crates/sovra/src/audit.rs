//! `sovra audit`: check the audit trail's hash chain (against the store's
//! head record and, optionally, an archive exported earlier), and export it
//! as JSON Lines for an external archive, incrementally.

use std::fs::OpenOptions;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::Path;

use anyhow::{Context, Result, bail};
use figment::providers::Serialized;
use serde_json::json;
use sovra_audit::{Archive, AuditEntry};
use sovra_config::Settings;
use sovra_store::Store;

use crate::cli::{AuditArgs, AuditCommand};

/// The audit trail did not verify: the binary exits with status 1 (2 means
/// the check could not run at all).
#[derive(Debug, thiserror::Error)]
#[error("the audit trail does not verify: {0}")]
pub struct Unverified(pub sovra_audit::ChainError);

/// Entries read from the store per page.
const PAGE: u32 = 1000;

pub async fn run(args: AuditArgs) -> Result<()> {
    let mut overrides = serde_json::Map::new();
    if let Some(d) = &args.data_dir {
        overrides.insert("data_dir".into(), json!(d));
    }
    let settings = Settings::load(
        args.config.as_deref(),
        Serialized::defaults(serde_json::Value::Object(overrides)),
    )
    .context("invalid configuration")?;
    let store = crate::setup::open_store(&settings).await?;
    match args.command {
        AuditCommand::Verify { archive } => verify(&*store, archive.as_deref()).await,
        AuditCommand::Export { out, after } => export(&*store, out.as_deref(), after).await,
    }
}

/// Check the chain; print what was covered as JSON, or fail naming the entry.
pub async fn verify(store: &dyn Store, archive: Option<&Path>) -> Result<()> {
    let archive = archive.map(read_archive).transpose()?;
    match sovra_store::verify_audit_against(store, archive.as_ref()).await? {
        Ok(report) => {
            let mut out = serde_json::to_value(&report)?;
            if let Some(map) = out.as_object_mut() {
                map.insert("verified".into(), json!(true));
            }
            crate::setup::emit(&out)?;
            Ok(())
        }
        Err(e) => {
            crate::setup::emit(&json!({
                "verified": false,
                "seq": e.seq(),
                "kind": e.kind(),
                "error": e.to_string(),
            }))?;
            Err(Unverified(e).into())
        }
    }
}

/// An archive written by `sovra audit export`, checked to be a chain itself.
fn read_archive(path: &Path) -> Result<Archive> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("could not open the archive {}", path.display()))?;
    let mut archive = Archive::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("could not read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: AuditEntry = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an audit entry", path.display(), i + 1))?;
        archive
            .push(&entry)
            .with_context(|| format!("{}:{}: the archive is not a chain", path.display(), i + 1))?;
    }
    Ok(archive)
}

/// The newest entry of an existing archive file, if it has one.
fn archive_tail(path: &Path) -> Result<Option<AuditEntry>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not open {}", path.display())),
    };
    let mut last = None;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("could not read {}", path.display()))?;
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    last.map(|l| {
        serde_json::from_str(&l)
            .with_context(|| format!("{}: its last line is not an audit entry", path.display()))
    })
    .transpose()
}

/// Write entries after `after` as JSON Lines. With `--out` and an existing
/// file, resume after its newest entry, once the store's copy of that entry
/// is found unchanged (so an archive never continues a rewritten chain).
pub async fn export(store: &dyn Store, out: Option<&Path>, after: Option<i64>) -> Result<()> {
    let mut from = after.unwrap_or(i64::MIN);
    if let Some(path) = out
        && let Some(tail) = archive_tail(path)?
    {
        if after.is_some() {
            bail!(
                "{} already holds entries up to {}: leave out --after to continue it",
                path.display(),
                tail.seq
            );
        }
        let live = store.audit_entries(tail.seq - 1, 1).await?;
        if let Some(e) = live.first()
            && e.seq == tail.seq
            && *e != tail
        {
            bail!(
                "audit entry {}: the database's copy differs from the archived one in {}; run `sovra audit verify --archive {}`",
                tail.seq,
                path.display(),
                path.display()
            );
        }
        from = tail.seq;
    }
    let mut sink: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(BufWriter::new(
            {
                // The trail names people (actors, subjects): owner-only.
                let mut o = OpenOptions::new();
                o.create(true).append(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, sovra_store::private::FILE_MODE);
                o.open(path)
            }
            .with_context(|| format!("could not open {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut written = 0u64;
    let mut last_seq = None;
    loop {
        let page = store.audit_entries(from, PAGE).await?;
        let Some(last) = page.last() else { break };
        from = last.seq;
        last_seq = Some(last.seq);
        for e in &page {
            serde_json::to_writer(&mut sink, e)?;
            sink.write_all(b"\n")?;
            written += 1;
        }
    }
    sink.flush()?;
    drop(sink);
    if let Some(path) = out {
        // Durable before we say so: an archive is only worth what reached the disk.
        std::fs::File::open(path)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("could not sync {}", path.display()))?;
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "{written} entries appended to {}{}",
            path.display(),
            last_seq
                .map(|s| format!(" (up to {s})"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}
