//! Errors of [`crate::layers`]: each names the layer and, where there is one,
//! the tar entry.

use std::path::PathBuf;

/// Errors of layer extraction and the layer store.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A tar entry that would write outside the destination, or is otherwise
    /// unacceptable (absolute path, `..` escape, write through a symlink that
    /// leaves the layer, hardlink outside...).
    #[error("layer {layer}: refusing entry {entry:?}: {reason}")]
    UnsafeEntry {
        layer: String,
        entry: PathBuf,
        reason: String,
    },

    /// Creating or updating one entry failed.
    /// An owner the user namespace does not map (rootless: outside the
    /// user's subordinate ranges); Podman's wording.
    #[error("layer {layer}: potentially insufficient UIDs or GIDs available in user namespace (requested {uid}:{gid} for {entry:?}): Check /etc/subuid and /etc/subgid if configured locally and run podman-rs system migrate: lchown {entry:?}: invalid argument")]
    UnmappedOwner {
        layer: String,
        entry: std::path::PathBuf,
        uid: u32,
        gid: u32,
    },

    #[error("layer {layer}: entry {entry:?}: {op}: {source}")]
    Entry {
        layer: String,
        entry: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The entry type is not supported (GNU sparse files...).
    #[error("layer {layer}: entry {entry:?}: unsupported tar entry type {kind}")]
    Unsupported {
        layer: String,
        entry: PathBuf,
        kind: String,
    },

    /// The blob could not be read or decompressed, or the tar is malformed.
    #[error("layer {layer}: reading archive{}: {source}", after.as_ref().map(|e| format!(" after entry {e:?}")).unwrap_or_default())]
    Archive {
        layer: String,
        after: Option<PathBuf>,
        #[source]
        source: std::io::Error,
    },

    /// A digest did not match (`what` is "compressed digest" or "diff ID").
    #[error("layer {layer}: {what} mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        layer: String,
        what: &'static str,
        expected: String,
        actual: String,
    },

    /// A digest or chain ID string is malformed or uses an unsupported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },

    /// The media type names no layer format this module can unpack.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedMediaType(String),

    /// A file system operation outside any single entry failed.
    #[error("layer {layer}: {op} {path}: {source}")]
    Io {
        layer: String,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A layer of a chain is not in the store.
    #[error("layer {0} is not in the store")]
    NotFound(String),

    /// An error of the rest of this crate (whiteout, opaque marker...).
    #[error("layer {layer}: entry {entry:?}: {source}")]
    Rootfs {
        layer: String,
        entry: PathBuf,
        #[source]
        source: Box<crate::Error>,
    },
}

/// Result alias of [`crate::layers`].
pub type LayerResult<T> = std::result::Result<T, LayerError>;
