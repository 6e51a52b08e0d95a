//! Errors of [`crate::store`]: each names the image, blob or path involved.

use std::path::PathBuf;

/// Errors of the local image store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system operation failed.
    #[error("image store: {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The database at `path` failed (open, migration, query).
    #[error("image store database {path}: {context}: {source}")]
    Db {
        path: PathBuf,
        context: String,
        #[source]
        source: rusqlite::Error,
    },

    /// The database was written by a newer podman-rs.
    #[error("image store database {path}: schema version {found} is newer than this podman-rs supports ({supported})")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A digest string is not `sha256:` + 64 lowercase hex characters.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        digest: String,
        reason: &'static str,
    },

    /// The content written does not hash to the expected digest (nothing was kept).
    #[error("blob {expected}: digest mismatch: got {actual}")]
    DigestMismatch { expected: String, actual: String },

    /// A blob is not in the store.
    #[error("blob {0} is not in the store")]
    BlobNotFound(String),

    /// An image record refers to a blob that is not in the store.
    #[error("image {image}: blob {blob} is not in the store")]
    MissingBlob { image: String, blob: String },

    /// An image record refers to a layer that is not in the layer store.
    #[error("image {image}: layer {layer} is not in the layer store")]
    MissingLayer { image: String, layer: String },

    /// No image matches the name or ID (Podman: "image not known").
    #[error("{0}: image not known")]
    ImageNotFound(String),

    /// An ID prefix or short name matches several images.
    #[error("{name}: ambiguous image name or ID prefix, matches {candidates:?}")]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },

    /// `untag` of a name the image does not have.
    #[error("image {image}: {name}: tag not known")]
    TagNotKnown { image: String, name: String },

    /// A name that is not a valid image reference.
    #[error("image name {name:?}: {source}")]
    InvalidName {
        name: String,
        #[source]
        source: crate::image::reference::ReferenceError,
    },

    /// An image record is malformed (bad ID, layers inconsistent...).
    #[error("image {image}: {reason}")]
    InvalidRecord { image: String, reason: String },

    /// No container has this name, id or id prefix (Podman: "no such container").
    #[error("no container with name or ID \"{0}\" found: no such container")]
    ContainerNotFound(String),

    /// An id prefix matches several containers.
    #[error("more than one result for container ID {name}: {count} containers match")]
    AmbiguousContainer { name: String, count: usize },

    /// The container name is taken.
    #[error("the container name \"{name}\" is already in use by {id}. You have to remove that container to be able to reuse that name: that name is already in use")]
    NameInUse { name: String, id: String },

    /// The store was created with another storage driver (Podman's words).
    #[error("database storage graph driver {db:?} does not match our storage graph driver {ours:?}: database configuration mismatch")]
    DriverMismatch { db: String, ours: String },

    /// The layer store failed.
    #[error(transparent)]
    Layer(#[from] podman_rs_rootfs::layers::LayerError),
}

/// Result alias of [`crate::store`].
pub type StoreResult<T> = std::result::Result<T, StoreError>;

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.into();
    move |source| StoreError::Io { op, path, source }
}
