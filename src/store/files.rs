//! Attachment files, content-addressed under `<data_dir>/attachments/ab/abcdef…` (SHA-256).
//! A file is written and synced before the row that names it is committed, so a committed
//! attachment always has its file; the same content is stored once. Small attachments are kept
//! in the database instead; on PostgreSQL, which several nodes may share, every one is, so no
//! node lacks a file another stored.

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot store attachment: {0}")]
    Io(#[from] std::io::Error),
    #[error("'{0}' is not an attachment id")]
    BadId(String),
}

#[derive(Debug, Clone)]
pub struct AttachmentFiles {
    root: PathBuf,
    inline_max: usize,
}

/// Attachments up to this size are kept in the database, larger ones in files.
pub const INLINE_MAX_BYTES: usize = 256 * 1024;

impl AttachmentFiles {
    pub fn new(data_dir: &Path) -> AttachmentFiles {
        AttachmentFiles { root: data_dir.join("attachments"), inline_max: INLINE_MAX_BYTES }
    }

    /// Every attachment in the database, whatever its size (a database several nodes share).
    pub fn all_in_database(self) -> AttachmentFiles {
        AttachmentFiles { inline_max: usize::MAX, ..self }
    }

    /// Whether an attachment of `size` bytes is kept in the database rather than a file.
    pub fn inline(&self, size: usize) -> bool {
        size <= self.inline_max
    }

    /// Stores `bytes` durably and returns their SHA-256 in hex.
    pub fn put(&self, bytes: &[u8]) -> Result<String, FileError> {
        let sha = sha256_hex(bytes);
        self.write(&sha, bytes)?;
        Ok(sha)
    }

    /// Stores `bytes`, whose SHA-256 is `sha`, durably; true when the file did not exist before.
    pub fn write(&self, sha: &str, bytes: &[u8]) -> Result<bool, FileError> {
        let path = self.path(sha)?;
        if path.exists() {
            return Ok(false);
        }
        let dir = path.parent().expect("attachment paths have a parent");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile_in(dir)?;
        tmp.1.write_all(bytes)?;
        tmp.1.sync_all()?;
        std::fs::rename(&tmp.0, &path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(true)
    }

    /// Removes a file no attachment names (one written for a contact that was not stored).
    pub fn remove(&self, sha256: &str) -> Result<(), FileError> {
        match std::fs::remove_file(self.path(sha256)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    pub fn path(&self, sha256: &str) -> Result<PathBuf, FileError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Err(FileError::BadId(sha256.chars().take(70).collect()));
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }

    pub fn read(&self, sha256: &str) -> Result<Vec<u8>, FileError> {
        Ok(std::fs::read(self.path(sha256)?)?)
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = format!(".tmp-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
    Ok((path, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_content_is_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let files = AttachmentFiles::new(dir.path());
        let a = files.put(b"fax page 1").unwrap();
        let b = files.put(b"fax page 1").unwrap();
        assert_eq!(a, b);
        assert_eq!(files.read(&a).unwrap(), b"fax page 1");
        let stored: Vec<_> = std::fs::read_dir(dir.path().join("attachments").join(&a[..2])).unwrap().collect();
        assert_eq!(stored.len(), 1);
    }

    #[test]
    fn ids_cannot_escape_the_directory() {
        let files = AttachmentFiles::new(Path::new("/data"));
        assert!(files.path("../../etc/passwd").is_err());
        assert!(files.path(&"A".repeat(64)).is_err());
    }
}
