//! `LayerStore`: extracted layers under `<root>/layers/<chain-id hex>/diff`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::FlockOperation;
use sha2::{Digest, Sha256};

use super::error::{LayerError, LayerResult};
use super::extract::{extract_layer, parse_sha256, Compression, ExtractOptions, LayerInfo};

/// The chain ID of a layer per the OCI image spec: the diff ID itself for
/// the base layer, else `sha256(parent_chain_id + " " + diff_id)`.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(parent) => {
            let mut h = Sha256::new();
            h.update(parent.as_bytes());
            h.update(b" ");
            h.update(diff_id.as_bytes());
            format!("sha256:{}", hex::encode(h.finalize()))
        }
    }
}

/// The outcome of [`LayerStore::put_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutLayer {
    /// `<root>/layers/<hex>/diff`.
    pub diff_dir: PathBuf,
    pub diff_id: String,
    /// False when the layer was already there (the reader was not read).
    pub created: bool,
    /// Set when this call extracted the layer.
    pub info: Option<LayerInfo>,
}

/// Extracted layers, one directory per chain ID:
///
/// ```text
/// <root>/layers/<hex>/diff      the layer contents (overlay lowerdir)
/// <root>/layers/<hex>/diff-id   its diff ID
/// <root>/layers/.tmp-<hex>-...  extractions in progress
/// <root>/locks/<hex>.lock       flock serializing put/remove of one layer
/// ```
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

const TMP_PREFIX: &str = ".tmp-";
const RM_PREFIX: &str = ".rm-";

impl LayerStore {
    /// A store under `root` (its directories are created if absent).
    pub fn new(root: impl Into<PathBuf>) -> LayerResult<Self> {
        let store = LayerStore { root: root.into() };
        for dir in [store.layers_dir(), store.locks_dir()] {
            fs::create_dir_all(&dir).map_err(|e| store.io("", "creating", &dir, e))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }

    fn io(&self, layer: &str, op: &'static str, path: &Path, source: io::Error) -> LayerError {
        LayerError::Io {
            layer: layer.to_string(),
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// `<root>/layers/<hex>` of a valid `sha256:<hex>` chain ID.
    fn layer_dir(&self, chain_id: &str) -> LayerResult<PathBuf> {
        Ok(self.layers_dir().join(parse_sha256(chain_id)?))
    }

    /// `<root>/layers/<hex>/diff` (whether or not the layer is present).
    pub fn diff_dir(&self, chain_id: &str) -> LayerResult<PathBuf> {
        Ok(self.layer_dir(chain_id)?.join("diff"))
    }

    /// Whether the layer is fully present (a half-extracted one never is).
    pub fn has_layer(&self, chain_id: &str) -> bool {
        self.layer_dir(chain_id)
            .map(|d| d.join("diff").is_dir())
            .unwrap_or(false)
    }

    /// The diff ID recorded for a present layer.
    pub fn diff_id(&self, chain_id: &str) -> LayerResult<String> {
        let path = self.layer_dir(chain_id)?.join("diff-id");
        match fs::read_to_string(&path) {
            Ok(s) => Ok(s.trim().to_string()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(LayerError::NotFound(chain_id.to_string()))
            }
            Err(e) => Err(self.io(chain_id, "reading", &path, e)),
        }
    }

    /// Takes the per-layer lock (blocking); released when the file is dropped.
    fn lock(&self, chain_id: &str, hex: &str, blocking: bool) -> LayerResult<Option<File>> {
        let path = self.locks_dir().join(format!("{hex}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| self.io(chain_id, "opening lock", &path, e))?;
        let op = if blocking {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) if !blocking => Ok(None),
            Err(e) => Err(self.io(chain_id, "locking", &path, e.into())),
        }
    }

    /// Extracts layer blob `reader` as `chain_id` (whose parent chain ID is
    /// `parent`, `None` for a base layer), unless it is already present.
    ///
    /// The layer is unpacked into `layers/.tmp-*` and renamed into place
    /// after a `syncfs`, so a crash leaves at most a temp dir, never a half
    /// layer. Concurrent puts of one layer (threads or processes) serialize
    /// on a flock: the first extracts, the others find it present. The
    /// computed chain ID must match `chain_id`, and `opts.expected_digest`
    /// the blob; on any mismatch nothing is added.
    pub fn put_layer<R: Read>(
        &self,
        chain_id: &str,
        parent: Option<&str>,
        reader: R,
        compression: Compression,
        opts: &ExtractOptions,
    ) -> LayerResult<PutLayer> {
        let hex = parse_sha256(chain_id)?.to_string();
        if let Some(p) = parent {
            parse_sha256(p)?;
        }
        let final_dir = self.layers_dir().join(&hex);
        let _lock = self.lock(chain_id, &hex, true)?;
        if final_dir.join("diff").is_dir() {
            return Ok(PutLayer {
                diff_dir: final_dir.join("diff"),
                diff_id: self.diff_id(chain_id)?,
                created: false,
                info: None,
            });
        }
        let tmp = self.layers_dir().join(format!(
            "{TMP_PREFIX}{hex}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self.put_locked(
            chain_id,
            parent,
            reader,
            compression,
            opts,
            &tmp,
            &final_dir,
        );
        if result.is_err() {
            if let Err(e) = fs::remove_dir_all(&tmp) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(layer = chain_id, tmp = %tmp.display(), "removing temp dir: {e}");
                }
            }
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn put_locked<R: Read>(
        &self,
        chain_id: &str,
        parent: Option<&str>,
        reader: R,
        compression: Compression,
        opts: &ExtractOptions,
        tmp: &Path,
        final_dir: &Path,
    ) -> LayerResult<PutLayer> {
        // Each layer is extracted into a subdirectory of its own: start it in
        // a fresh block group (set here, where layers are written, rather
        // than on every store open).
        crate::spread::spread_subdirectories(&self.layers_dir());
        fs::create_dir(tmp).map_err(|e| self.io(chain_id, "creating", tmp, e))?;
        let mut opts = opts.clone();
        if opts.label.is_none() {
            opts.label = Some(chain_id.to_string());
        }
        let info = extract_layer(reader, compression, &tmp.join("diff"), &opts)?;
        let computed = self::chain_id(parent, &info.diff_id);
        if computed != chain_id {
            return Err(LayerError::DigestMismatch {
                layer: chain_id.to_string(),
                what: "chain ID",
                expected: chain_id.to_string(),
                actual: computed,
            });
        }
        let id_path = tmp.join("diff-id");
        let mut f =
            File::create(&id_path).map_err(|e| self.io(chain_id, "creating", &id_path, e))?;
        writeln!(f, "{}", info.diff_id).map_err(|e| self.io(chain_id, "writing", &id_path, e))?;
        // One syncfs flushes every file of the layer (cheaper than fsyncing
        // each), so the rename below never publishes unwritten data.
        rustix::fs::syncfs(&f).map_err(|e| self.io(chain_id, "syncfs", tmp, e.into()))?;
        drop(f);
        fs::rename(tmp, final_dir)
            .map_err(|e| self.io(chain_id, "renaming into place", final_dir, e))?;
        self.sync_layers_dir(chain_id)?;
        Ok(PutLayer {
            diff_dir: final_dir.join("diff"),
            diff_id: info.diff_id.clone(),
            created: true,
            info: Some(info),
        })
    }

    fn sync_layers_dir(&self, chain_id: &str) -> LayerResult<()> {
        let dir = self.layers_dir();
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.io(chain_id, "fsync", &dir, e))
    }

    /// Removes a layer; returns whether it was present. It disappears at
    /// once (renamed aside), the files are deleted after.
    pub fn remove_layer(&self, chain_id: &str) -> LayerResult<bool> {
        let hex = parse_sha256(chain_id)?.to_string();
        let final_dir = self.layers_dir().join(&hex);
        let aside = self.layers_dir().join(format!(
            "{RM_PREFIX}{hex}-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        {
            let _lock = self.lock(chain_id, &hex, true)?;
            match fs::rename(&final_dir, &aside) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(self.io(chain_id, "renaming aside", &final_dir, e)),
            }
            self.sync_layers_dir(chain_id)?;
        }
        fs::remove_dir_all(&aside).map_err(|e| self.io(chain_id, "removing", &aside, e))?;
        Ok(true)
    }

    /// The diff dirs of a layer chain given base first (as in an image's
    /// `rootfs.diff_ids` order), returned top-most first: overlay lowerdir
    /// order, ready for [`crate::OverlayMount::new`]. Fails if one is absent.
    pub fn layer_dirs(&self, chain: &[String]) -> LayerResult<Vec<PathBuf>> {
        chain
            .iter()
            .rev()
            .map(|id| {
                let dir = self.diff_dir(id)?;
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(LayerError::NotFound(id.clone()))
                }
            })
            .collect()
    }

    /// Deletes leftovers of crashed puts and removals: `.tmp-*` dirs whose
    /// layer lock is free (no put is running) and `.rm-*` dirs. Returns how
    /// many were removed.
    pub fn cleanup_incomplete(&self) -> LayerResult<usize> {
        let dir = self.layers_dir();
        let mut removed = 0;
        let entries = fs::read_dir(&dir).map_err(|e| self.io("", "reading", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| self.io("", "reading", &dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let (rest, is_tmp) = if let Some(r) = name.strip_prefix(TMP_PREFIX) {
                (r, true)
            } else if let Some(r) = name.strip_prefix(RM_PREFIX) {
                (r, false)
            } else {
                continue;
            };
            let Some(hex) = rest.get(..64) else { continue };
            let id = format!("sha256:{hex}");
            if parse_sha256(&id).is_err() {
                continue;
            }
            // A put in progress holds its layer's lock for as long as its temp dir lives.
            let _lock = if is_tmp {
                match self.lock(&id, hex, false)? {
                    Some(l) => Some(l),
                    None => continue,
                }
            } else {
                None
            };
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io(&id, "removing", &entry.path(), e)),
            }
        }
        Ok(removed)
    }
}
