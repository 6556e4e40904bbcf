//! Envelope encryption of what citizens wrote.
//!
//! Three layers of 256-bit XChaCha20-Poly1305 keys: the **master key** comes
//! from outside the database (a file, an environment variable or a KMS
//! command, see [`MasterKeySource`]) and wraps one **tenant key** per tenant;
//! the tenant key wraps one **subject key** per data subject; the subject key
//! seals that subject's titles and messages. Only wrapped keys are stored.
//! Deleting a subject key makes that person's leftovers (free pages, WAL,
//! backups) unreadable; deleting a tenant key does the same for a whole tenant
//! (crypto-shredding). Rotating the master key or a tenant key only rewraps
//! the layer below, so it is fast and needs no downtime.
//!
//! A sealed value is `0x01 ‖ 24-byte nonce ‖ ciphertext+tag`, with the row it
//! belongs to as associated data so a value cannot be moved to another row.

use std::path::PathBuf;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{AeadCore, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

use crate::StoreError;

const SEALED_V1: u8 = 1;
/// Rows written before encryption existed (migrated from plaintext).
const LEGACY_PLAIN: u8 = 0;
const NONCE: usize = 24;

/// A 256-bit key in memory.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn generate() -> Self {
        let k = XChaCha20Poly1305::generate_key(&mut OsRng);
        Self(k.into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Key(format!("a key has 32 bytes, not {}", bytes.len())))?;
        Ok(Self(arr))
    }

    /// Parse 64 hex digits or base64 of 32 bytes (surrounding space ignored).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let t = text.trim();
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes: Vec<u8> = (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect();
            return Self::from_bytes(&bytes);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|_| {
                StoreError::Key("a master key is 64 hex digits or base64 of 32 bytes".into())
            })?;
        Self::from_bytes(&bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short public name for the key (which master key wrapped a tenant key).
    pub fn fingerprint(&self) -> String {
        let d = Sha256::digest([b"sovra-key-id:".as_slice(), &self.0].concat());
        hex::encode(&d[..8])
    }

    /// Seal `plain`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| StoreError::Key("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE + ct.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Open what [`Key::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        match sealed.first() {
            Some(&SEALED_V1) if sealed.len() > 1 + NONCE => {
                let cipher = XChaCha20Poly1305::new((&self.0).into());
                let nonce = XNonce::from_slice(&sealed[1..1 + NONCE]);
                cipher
                    .decrypt(
                        nonce,
                        Payload {
                            msg: &sealed[1 + NONCE..],
                            aad,
                        },
                    )
                    .map_err(|_| StoreError::Key("a sealed value does not open with its key (wrong key or tampered data)".into()))
            }
            Some(&LEGACY_PLAIN) => Ok(sealed[1..].to_vec()),
            _ => Err(StoreError::Corrupt(
                "a sealed value has an unknown format".into(),
            )),
        }
    }

    /// [`Key::open`] of a value that must be sealed (no legacy plaintext).
    pub fn open_sealed(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        if sealed.first() != Some(&SEALED_V1) {
            return Err(StoreError::Corrupt("a value is not sealed".into()));
        }
        self.open(aad, sealed)
    }

    pub fn open_string(&self, aad: &[u8], sealed: &[u8]) -> Result<String, StoreError> {
        String::from_utf8(self.open(aad, sealed)?)
            .map_err(|_| StoreError::Corrupt("sealed text is not UTF-8".into()))
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// A file holding the key (hex or base64). Keep it off the data disk.
    File(PathBuf),
    /// An environment variable holding the key.
    Env(String),
    /// A command (run with `sh -c`) that prints the key: the hook for an external KMS/HSM.
    Command(String),
    /// The key itself (tests).
    Literal(String),
}

impl MasterKeySource {
    /// `file:PATH`, `env:VAR` or `command:CMD` (as the settings spell it).
    pub fn parse(spec: &str) -> Result<Self, StoreError> {
        let bad = || StoreError::Invalid {
            what: "master key source",
            problem: format!("`{spec}` is not file:PATH, env:VAR or command:CMD"),
        };
        let (kind, rest) = spec.split_once(':').ok_or_else(bad)?;
        if rest.trim().is_empty() {
            return Err(bad());
        }
        match kind {
            "file" => Ok(Self::File(PathBuf::from(rest))),
            "env" => Ok(Self::Env(rest.to_owned())),
            "command" => Ok(Self::Command(rest.to_owned())),
            _ => Err(bad()),
        }
    }

    /// Fetch the key.
    pub fn load(&self) -> Result<Key, StoreError> {
        match self {
            Self::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StoreError::Key(format!(
                        "could not read the master key file {}: {e}",
                        path.display()
                    ))
                })?;
                Key::parse(&text)
            }
            Self::Env(var) => {
                let text = std::env::var(var).map_err(|_| {
                    StoreError::Key(format!("the master key variable {var} is not set"))
                })?;
                Key::parse(&text)
            }
            Self::Command(cmd) => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| {
                        StoreError::Key(format!("could not run the master key command: {e}"))
                    })?;
                if !out.status.success() {
                    return Err(StoreError::Key(format!(
                        "the master key command failed ({})",
                        out.status
                    )));
                }
                Key::parse(&String::from_utf8_lossy(&out.stdout))
            }
            Self::Literal(text) => Key::parse(text),
        }
    }
}

/// The master key in use, and the ones it replaces (rotation).
#[derive(Debug, Clone)]
pub struct Keyring {
    pub current: Key,
    /// Keys tenant keys may still be wrapped with; they are rewrapped with
    /// `current` when the store opens.
    pub previous: Vec<Key>,
}

impl Keyring {
    pub fn new(current: Key) -> Self {
        Self {
            current,
            previous: Vec::new(),
        }
    }

    /// The master key with this fingerprint.
    pub fn by_id(&self, id: &str) -> Option<&Key> {
        std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.fingerprint() == id)
    }
}

/// The file the master key lives in when none is configured.
pub const DEFAULT_KEY_FILE: &str = "master.key";

/// The keyring the settings describe. With no `master` source, the key is
/// `data_dir/master.key`, created on first use; that protects backups and
/// database dumps but not a stolen data disk, so production sets a source.
pub fn load_keyring(
    master: Option<&str>,
    previous: &[String],
    data_dir: &std::path::Path,
) -> Result<Keyring, StoreError> {
    let current = match master {
        Some(spec) => MasterKeySource::parse(spec)?.load()?,
        None => {
            let path = data_dir.join(DEFAULT_KEY_FILE);
            if !path.exists() {
                let key = Key::generate();
                write_private(&path, &key.to_hex())?;
                tracing::warn!(file = %path.display(), "created a master key beside the data; set storage.master_key to keep it off the data disk");
            }
            MasterKeySource::File(path).load()?
        }
    };
    let previous = previous
        .iter()
        .map(|spec| MasterKeySource::parse(spec)?.load())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Keyring { current, previous })
}

fn write_private(path: &std::path::Path, text: &str) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()).map(|()| f));
    match &mut f {
        Ok(file) => file
            .sync_all()
            .map_err(|e| StoreError::Key(format!("could not write {}: {e}", path.display()))),
        Err(e) => Err(StoreError::Key(format!(
            "could not write {}: {e}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let k = Key::generate();
        let s = k.seal(b"msg:1", b"hello").unwrap();
        assert_eq!(k.open(b"msg:1", &s).unwrap(), b"hello");
        assert!(k.open(b"msg:2", &s).is_err(), "bound to its row");
        assert!(
            Key::generate().open(b"msg:1", &s).is_err(),
            "other keys fail"
        );
        assert!(!s.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn keys_parse_from_hex_and_base64() {
        let k = Key::generate();
        let hex = k.to_hex();
        assert_eq!(Key::parse(&format!(" {hex}\n")).unwrap().to_hex(), hex);
        let b64 = base64::engine::general_purpose::STANDARD.encode(k.0);
        assert_eq!(Key::parse(&b64).unwrap().to_hex(), hex);
        assert!(Key::parse("short").is_err());
    }

    #[test]
    fn sources_parse_and_a_default_key_is_made_once() {
        assert_eq!(
            MasterKeySource::parse("env:SOVRA_KEY").unwrap(),
            MasterKeySource::Env("SOVRA_KEY".into())
        );
        assert!(MasterKeySource::parse("vault").is_err());
        let dir = tempfile::tempdir().unwrap();
        let a = load_keyring(None, &[], dir.path()).unwrap();
        let b = load_keyring(None, &[], dir.path()).unwrap();
        assert_eq!(a.current.fingerprint(), b.current.fingerprint());
    }

    #[test]
    fn command_source_runs_the_kms_hook() {
        let k = Key::generate();
        let src = MasterKeySource::Command(format!("echo {}", k.to_hex()));
        assert_eq!(src.load().unwrap().fingerprint(), k.fingerprint());
    }
}
