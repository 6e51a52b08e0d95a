//! Image archives as Podman 4.3.1 writes and reads them (`podman save` /
//! `podman load`), over the local [`Store`](crate::store::Store):
//!
//! * `docker-archive`: a tar with `manifest.json`
//!   (`[{"Config","RepoTags","Layers"}]`), the config as `<id>.json`, each
//!   layer as an uncompressed `<diff-id hex>.tar`, plus the legacy
//!   `<v1 id>/{layer.tar -> ../<diff-id>.tar, VERSION, json}` dirs and the
//!   `repositories` file, as containers-image writes them.
//! * `oci-archive`: a tar of an OCI image layout (`oci-layout`,
//!   `index.json` with `org.opencontainers.image.ref.name` annotations,
//!   `blobs/sha256/<hex>`); the stored blobs are written as they are.
//! * `oci-dir`: the same layout as a directory.
//!
//! [`save`] writes them; [`load`] detects the format, verifies every blob
//! and layer against its digest, extracts the layers through the layer
//! store and records the images with the names found in the archive.
//!
//! Archives are never extracted: [`load`] indexes the tar entries (name,
//! type, data offset) and reads the entries it needs by name, so hostile
//! entry names (`../x`, absolute paths, symlinks leading out) cannot write
//! anything; symlinks inside the archive are resolved lexically among its
//! own entries.

mod load;
mod save;
mod tarindex;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use load::{load, LoadedImage};
pub use save::save;

use crate::store::StoreError;
use podman_rs_rootfs::layers::LayerError;

pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TYPE_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_TYPE_DOCKER_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// The index.json annotation naming an image of an OCI layout.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The archive formats of `podman save --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
}

impl ArchiveFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveFormat::DockerArchive => "docker-archive",
            ArchiveFormat::OciArchive => "oci-archive",
            ArchiveFormat::OciDir => "oci-dir",
        }
    }
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArchiveFormat {
    type Err = ArchiveError;

    fn from_str(s: &str) -> Result<Self, ArchiveError> {
        match s {
            "docker-archive" => Ok(ArchiveFormat::DockerArchive),
            "oci-archive" => Ok(ArchiveFormat::OciArchive),
            "oci-dir" => Ok(ArchiveFormat::OciDir),
            other => Err(ArchiveError::UnknownFormat(other.to_string())),
        }
    }
}

/// Errors of [`save`] and [`load`]: each names the archive and, where
/// there is one, the entry or image involved.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("unsupported archive format {0:?} (docker-archive, oci-archive, oci-dir)")]
    UnknownFormat(String),

    /// A file system operation on the archive (or its entry) failed.
    #[error("{archive}: {op} {entry}: {source}")]
    Io {
        archive: PathBuf,
        op: &'static str,
        entry: String,
        #[source]
        source: std::io::Error,
    },

    /// The archive is not one of the formats, or an entry is malformed.
    #[error("{archive}: {entry}: {reason}")]
    Invalid {
        archive: PathBuf,
        entry: String,
        reason: String,
    },

    /// The image store refused an entry (digest mismatch, bad record...).
    #[error("{archive}: {entry}: {source}")]
    Store {
        archive: PathBuf,
        entry: String,
        #[source]
        source: Box<StoreError>,
    },

    /// A layer failed to extract or verify.
    #[error("{archive}: layer {entry}: {source}")]
    Layer {
        archive: PathBuf,
        entry: String,
        #[source]
        source: Box<LayerError>,
    },

    /// An additional tag of `podman save` (without `-m`) that is a digest
    /// reference.
    #[error("invalid additional tag {tag:?}: normalized to untagged {normalized:?}")]
    InvalidTag { tag: String, normalized: String },

    /// No images were given to save.
    #[error("no images to save")]
    NoImages,

    /// An image to save cannot be read from the store.
    #[error("saving image {image}: {source}")]
    Image {
        image: String,
        #[source]
        source: Box<StoreError>,
    },

    /// `oci-archive`/`oci-dir` take one name per image and `docker-archive`
    /// cannot hold an image twice under different layer sets, etc.
    #[error("saving image {image}: {reason}")]
    Unsupported { image: String, reason: String },
}

pub type ArchiveResult<T> = Result<T, ArchiveError>;

pub(crate) fn io_err(
    archive: &std::path::Path,
    op: &'static str,
    entry: impl Into<String>,
) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let archive = archive.to_path_buf();
    let entry = entry.into();
    move |source| ArchiveError::Io {
        archive,
        op,
        entry,
        source,
    }
}

pub(crate) fn invalid(
    archive: &std::path::Path,
    entry: impl Into<String>,
    reason: impl Into<String>,
) -> ArchiveError {
    ArchiveError::Invalid {
        archive: archive.to_path_buf(),
        entry: entry.into(),
        reason: reason.into(),
    }
}

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// A reader that hashes what goes through it and counts bytes.
pub(crate) struct HashingReader<R> {
    pub inner: R,
    pub hasher: sha2::Sha256,
    pub count: u64,
}

impl<R: std::io::Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        use sha2::Digest;
        HashingReader {
            inner,
            hasher: sha2::Sha256::new(),
            count: 0,
        }
    }

    pub fn finish(self) -> (String, u64) {
        use sha2::Digest;
        (
            format!("sha256:{}", hex::encode(self.hasher.finalize())),
            self.count,
        )
    }
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
