//! Errors of the registry client.

use std::io;
use std::path::PathBuf;

use crate::image::RegistriesError;

/// What went wrong talking to a registry. Messages name the registry, the
/// repository and, where there is one, the digest or tag, and give the HTTP
/// status for failures the registry reported.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401/403 from the registry or its token server.
    #[error("{action} in {registry}/{repository}: unauthorized: {message} (HTTP {status})")]
    Unauthorized {
        action: String,
        registry: String,
        repository: String,
        /// The registry's message, e.g. "authentication required".
        message: String,
        status: u16,
    },
    /// The tag or digest does not exist in the repository.
    #[error("reading manifest {reference} in {registry}/{repository}: manifest unknown: {message} (HTTP {status})")]
    ManifestUnknown {
        registry: String,
        repository: String,
        /// Tag or digest asked for.
        reference: String,
        message: String,
        status: u16,
    },
    /// The blob does not exist in the repository.
    #[error("fetching blob {digest} from {registry}/{repository}: blob unknown: {message} (HTTP {status})")]
    BlobUnknown {
        registry: String,
        repository: String,
        digest: String,
        message: String,
        status: u16,
    },
    /// Any other unexpected HTTP status.
    #[error("{action} in {registry}/{repository}: {message} (HTTP {status})")]
    Http {
        action: String,
        registry: String,
        repository: String,
        /// The registry's error text ("code: message"), or the status line.
        message: String,
        status: u16,
    },
    /// Connection, TLS or protocol failure.
    #[error("{action} in {registry}: {message}")]
    Transport {
        action: String,
        registry: String,
        message: String,
    },
    /// Downloaded content does not hash to its digest. Nothing was kept.
    #[error("{what} {expected} from {registry}/{repository}: digest mismatch: content hashes to {actual}")]
    DigestMismatch {
        /// "blob" or "manifest".
        what: &'static str,
        registry: String,
        repository: String,
        expected: String,
        actual: String,
    },
    /// Downloaded content does not have the size its descriptor gives.
    #[error("blob {digest} from {registry}/{repository}: size mismatch: expected {expected} bytes, got {actual}{}", if *.truncated { " (or more)" } else { "" })]
    SizeMismatch {
        registry: String,
        repository: String,
        digest: String,
        expected: u64,
        actual: u64,
        /// Reading stopped early because the registry sent more than expected.
        truncated: bool,
    },
    /// A digest string that is not `algorithm:hex` with a supported algorithm.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    /// The manifest list / index has no image for the wanted platform.
    #[error("choosing an image from manifest list {registry}/{repository}:{reference}: no image found in manifest list for platform {wanted} (available: {})", .available.join(", "))]
    NoMatchingPlatform {
        registry: String,
        repository: String,
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    /// A manifest that cannot be parsed or is not an image manifest.
    #[error("invalid manifest {reference} in {registry}/{repository}: {reason}")]
    InvalidManifest {
        registry: String,
        repository: String,
        reference: String,
        reason: String,
    },
    /// A manifest media type this client does not handle (e.g. schema 1).
    #[error(
        "unsupported manifest media type {media_type:?} for {reference} in {registry}/{repository}"
    )]
    UnsupportedMediaType {
        registry: String,
        repository: String,
        reference: String,
        media_type: String,
    },
    /// The reference has no registry: resolve it with registries.conf first.
    #[error("{reference} is a short name: resolve it through registries.conf first")]
    ShortName { reference: String },
    /// A certificate directory that cannot be used.
    #[error("loading certificates from {}: {message}", .path.display())]
    Certificates { path: PathBuf, message: String },
    /// A local file operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Writing downloaded data to the caller's writer failed.
    #[error("writing blob {digest}: {source}")]
    Write {
        digest: String,
        #[source]
        source: io::Error,
    },
    /// registries.conf refused the reference (blocked, bad rewrite).
    #[error(transparent)]
    Registries(#[from] RegistriesError),
    /// Every pull source (mirrors, then the primary location) failed.
    #[error("pulling {reference}: {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllSourcesFailed {
        reference: String,
        errors: Vec<RegistryError>,
    },
}

impl RegistryError {
    /// The HTTP status the registry answered with, if the error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Unauthorized { status, .. }
            | RegistryError::ManifestUnknown { status, .. }
            | RegistryError::BlobUnknown { status, .. }
            | RegistryError::Http { status, .. } => Some(*status),
            RegistryError::AllSourcesFailed { errors, .. } => {
                errors.last().and_then(RegistryError::status)
            }
            _ => None,
        }
    }

    /// True for authentication/authorization failures.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            RegistryError::Unauthorized { .. } => true,
            RegistryError::AllSourcesFailed { errors, .. } => {
                errors.last().is_some_and(RegistryError::is_unauthorized)
            }
            _ => false,
        }
    }

    /// True when the manifest or blob does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            RegistryError::ManifestUnknown { .. } | RegistryError::BlobUnknown { .. } => true,
            RegistryError::AllSourcesFailed { errors, .. } => {
                errors.iter().all(RegistryError::is_not_found)
            }
            _ => false,
        }
    }
}

/// Result of registry operations.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
