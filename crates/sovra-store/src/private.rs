//! Files that hold people's data, owner-only on disk.
//!
//! The data dir holds password hashes, sealed conversations, the knowledge
//! base and backups: nobody but the account Sovra runs as has any business
//! reading them. A dir Sovra creates is `0700` and a file `0600`, set when
//! it is created (never widened by the umask, never a window in which it is
//! readable); a dir or file that is wider already (made by an older
//! version, or by hand) is tightened when Sovra opens it, with a warning in
//! the log naming the path and both modes. On other platforms these are
//! plain creates.

use std::io;
use std::path::Path;

/// What a dir holding data may be: the owner's only.
pub const DIR_MODE: u32 = 0o700;
/// What a file holding data may be: the owner's, read and write.
pub const FILE_MODE: u32 = 0o600;

/// Create `dir` (and missing parents) owner-only; tighten `dir` and the
/// files directly in it if any is open to others.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(DIR_MODE);
        }
        b.create(dir)?;
    }
    tighten(dir, DIR_MODE)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// Make sure `path` exists as an owner-only file: created empty with
/// [`FILE_MODE`] when missing, tightened when wider. For files another
/// library then opens (SQLite), so that they are never born readable.
pub fn private_file(path: &Path) -> io::Result<()> {
    match open_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path, FILE_MODE).map(|_| ()),
        Err(e) => Err(e),
    }
}

/// Create `path` for writing with [`FILE_MODE`]; fails if it exists.
pub fn open_new(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Write `bytes` to `path` (created or truncated), owner-only.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(FILE_MODE);
    }
    let mut f = options.open(path)?;
    // An existing file keeps its mode on open: tighten it too.
    tighten(path, FILE_MODE)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Take the group's and others' bits off `path` when it has any beyond
/// `mode` (which allows none); whether it changed anything. The owner's
/// own bits stay as they are: a program the operator keeps in the data dir
/// stays executable, it only stops being readable by other accounts.
pub fn tighten(path: &Path, mode: u32) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let now = std::fs::metadata(path)?.permissions().mode() & 0o7777;
        let others = 0o7077 & !mode;
        if now & others == 0 {
            return Ok(false);
        }
        let new = now & !others;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(new))?;
        tracing::warn!(
            path = %path.display(),
            was = %format!("{now:o}"),
            now = %format!("{new:o}"),
            "tightened the permissions of a data path: it was open to other accounts"
        );
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(false)
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn made_private_and_tightened_when_wider() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/data");
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("sovra.db");
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
        let out = dir.join("export.json");
        std::fs::write(&out, "x").unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&out, b"y").unwrap();
        assert_eq!(mode(&out), 0o600);
        assert!(!tighten(&out, FILE_MODE).unwrap(), "nothing left to take");
        // A program kept in the data dir loses the others' bits, not its own.
        let tool = dir.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&tool), 0o700);
    }
}
