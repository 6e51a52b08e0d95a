//! `BlobStore`: content-addressed files under `<root>/blobs/sha256/<hex>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use super::error::{io_err, StoreError, StoreResult};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
const TMP_PREFIX: &str = ".tmp-";

/// Checks that `digest` is `sha256:` + 64 lowercase hex and returns the hex.
pub fn parse_digest(digest: &str) -> StoreResult<&str> {
    let bad = |reason| StoreError::InvalidDigest {
        digest: digest.to_string(),
        reason,
    };
    let Some((algo, hex)) = digest.split_once(':') else {
        return Err(bad("missing algorithm prefix"));
    };
    if algo != "sha256" {
        return Err(bad("unsupported digest algorithm (only sha256 is stored)"));
    }
    if hex.len() != 64 {
        return Err(bad("invalid checksum digest length"));
    }
    if !hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("invalid checksum digest format"));
    }
    Ok(hex)
}

/// Manifests, configs and compressed layers as pulled, one file per digest.
///
/// Writes go to `blobs/sha256/.tmp-*`, are hashed while copied, fsynced and
/// renamed into place (then the directory is fsynced), so a blob is either
/// absent or complete and verified. Two writers of one blob both succeed:
/// rename over an identical file is atomic, and a blob already present is
/// not written again.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// The blob store under `<root>/blobs` (created if absent).
    pub fn new(root: &Path) -> StoreResult<Self> {
        let dir = root.join("blobs").join("sha256");
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        Ok(BlobStore { dir })
    }

    /// `blobs/sha256/<hex>` of a valid digest (whether or not present).
    pub fn blob_path(&self, digest: &str) -> StoreResult<PathBuf> {
        Ok(self.dir.join(parse_digest(digest)?))
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// The size in bytes of a present blob.
    pub fn blob_size(&self, digest: &str) -> StoreResult<u64> {
        let path = self.blob_path(digest)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.to_string()))
            }
            Err(e) => Err(io_err("stat", path)(e)),
        }
    }

    /// Opens a present blob for reading.
    pub fn open_blob(&self, digest: &str) -> StoreResult<File> {
        let path = self.blob_path(digest)?;
        match File::open(&path) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobNotFound(digest.to_string()))
            }
            Err(e) => Err(io_err("opening", path)(e)),
        }
    }

    /// Reads a whole (small) blob: a manifest or a config.
    pub fn read_blob(&self, digest: &str) -> StoreResult<Vec<u8>> {
        let mut buf = Vec::new();
        let path = self.blob_path(digest)?;
        self.open_blob(digest)?
            .read_to_end(&mut buf)
            .map_err(io_err("reading", path))?;
        Ok(buf)
    }

    /// Stores the content of `reader`, which must hash to `expected_digest`,
    /// and returns its path. If the blob is already present the reader is
    /// not read. On a mismatch or any error nothing is kept.
    pub fn put_blob<R: Read>(&self, expected_digest: &str, mut reader: R) -> StoreResult<PathBuf> {
        let hex = parse_digest(expected_digest)?;
        let final_path = self.dir.join(hex);
        if final_path.is_file() {
            return Ok(final_path);
        }
        let tmp = self.dir.join(format!(
            "{TMP_PREFIX}{hex}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self.write_tmp(expected_digest, &mut reader, &tmp, &final_path);
        if result.is_err() {
            if let Err(e) = fs::remove_file(&tmp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(blob = expected_digest, tmp = %tmp.display(), "removing temp file: {e}");
                }
            }
        }
        result.map(|()| final_path)
    }

    fn write_tmp(
        &self,
        expected: &str,
        reader: &mut dyn Read,
        tmp: &Path,
        final_path: &Path,
    ) -> StoreResult<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp)
            .map_err(io_err("creating", tmp))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(StoreError::Io {
                        op: "reading content of blob",
                        path: PathBuf::from(expected),
                        source: e,
                    })
                }
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n]).map_err(io_err("writing", tmp))?;
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.to_string(),
                actual,
            });
        }
        file.sync_all().map_err(io_err("fsync", tmp))?;
        drop(file);
        fs::rename(tmp, final_path).map_err(io_err("renaming into place", final_path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync", &self.dir))
    }

    /// Removes a blob; returns whether it was present.
    pub fn remove_blob(&self, digest: &str) -> StoreResult<bool> {
        let path = self.blob_path(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("removing", path)(e)),
        }
    }

    /// Deletes `.tmp-*` files left by puts whose process is gone (the temp
    /// name carries the writer's pid). Returns how many were removed.
    pub fn cleanup_incomplete(&self) -> StoreResult<usize> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.dir).map_err(io_err("reading", &self.dir))? {
            let entry = entry.map_err(io_err("reading", &self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(rest) = name.strip_prefix(TMP_PREFIX) else {
                continue;
            };
            // .tmp-<hex>-<pid>-<n>
            let mut parts = rest.rsplitn(3, '-');
            let (Some(_n), Some(pid)) = (parts.next(), parts.next()) else {
                continue;
            };
            let alive = pid
                .parse::<u32>()
                .is_ok_and(|pid| Path::new("/proc").join(pid.to_string()).exists());
            if alive {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err("removing", entry.path())(e)),
            }
        }
        Ok(removed)
    }

    /// The digests of all blobs present.
    pub fn list_blobs(&self) -> StoreResult<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("reading", &self.dir))? {
            let entry = entry.map_err(io_err("reading", &self.dir))?;
            let name = entry.file_name();
            let digest = format!("sha256:{}", name.to_string_lossy());
            if parse_digest(&digest).is_ok() {
                out.push(digest);
            }
        }
        out.sort();
        Ok(out)
    }
}
