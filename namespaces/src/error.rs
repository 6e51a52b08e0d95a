//! The error type of this crate: every variant names the file, process or
//! operation it is about.

use std::io;
use std::path::PathBuf;

use crate::idmap::{IdKind, IdMap};
use crate::nstype::NamespaceType;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of the namespaces crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line of /etc/subuid or /etc/subgid could not be parsed.
    #[error("{}:{line}: {reason}", path.display())]
    SubIdSyntax {
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        reason: String,
    },

    /// A file could not be read.
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A file could not be written.
    #[error("failed to write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Text that should describe an id mapping (`container:host[:size]` or a
    /// line of /proc/PID/uid_map) is malformed.
    #[error("invalid id mapping {input:?}: {reason}")]
    IdMapSyntax { input: String, reason: String },

    /// A list of mappings the kernel would refuse (empty, overlapping,
    /// overflowing, too many lines...).
    #[error("invalid {kind} mappings: {reason}")]
    InvalidIdMap { kind: IdKind, reason: String },

    /// A mapping uses host ids the user is not allowed to map.
    #[error("{kind} mapping {map} is not allowed: {reason}")]
    IdMapNotAllowed {
        kind: IdKind,
        map: IdMap,
        reason: String,
    },

    /// The name of a uid could not be looked up in the user database.
    #[error("failed to look up the user name of uid {uid}: {source}")]
    UserLookup {
        uid: u32,
        #[source]
        source: io::Error,
    },

    /// newuidmap/newgidmap is needed but not installed.
    #[error(
        "{program} not found in PATH: it is needed to write {kind} mappings for process {pid} \
         (install the `uidmap` package)"
    )]
    MapHelperNotFound {
        program: String,
        kind: IdKind,
        pid: i32,
    },

    /// newuidmap/newgidmap could not be started.
    #[error("failed to run {}: {source}", program.display())]
    MapHelperSpawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    /// newuidmap/newgidmap ran and refused the mapping.
    #[error("{} refused to write {kind} mappings {maps} for process {pid} ({status}): {stderr}", program.display())]
    MapHelperFailed {
        program: PathBuf,
        kind: IdKind,
        pid: i32,
        /// The mappings, formatted as `c:h:s,c:h:s`.
        maps: String,
        status: String,
        stderr: String,
    },

    /// A namespace file could not be opened.
    #[error("failed to open namespace file {}: {source}", path.display())]
    OpenNamespace {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not a namespace (NS_GET_NSTYPE refused it).
    #[error("{} is not a namespace file{}: {source}", path.display(), expected_suffix(expected))]
    NotANamespace {
        path: PathBuf,
        expected: Option<NamespaceType>,
        #[source]
        source: io::Error,
    },

    /// The kernel reported a namespace type this crate does not know.
    #[error("{} has unknown namespace type {value:#x}", path.display())]
    UnknownNamespaceType { path: PathBuf, value: i32 },

    /// The namespace file is of another kind than the caller expected.
    #[error("{} is a {actual} namespace, expected a {expected} namespace", path.display())]
    WrongNamespaceType {
        path: PathBuf,
        expected: NamespaceType,
        actual: NamespaceType,
    },

    /// setns(2) failed.
    #[error("failed to join {typ} namespace {}: {source}", path.display())]
    Setns {
        path: PathBuf,
        typ: NamespaceType,
        #[source]
        source: io::Error,
    },

    /// fstat/stat of a namespace file failed.
    #[error("failed to stat namespace file {}: {source}", path.display())]
    StatNamespace {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A persistent network namespace name is unusable as a file name.
    #[error("invalid network namespace name {name:?}: {reason}")]
    InvalidNetnsName { name: String, reason: String },

    /// The persistent network namespace file already exists.
    #[error("network namespace file {} already exists", path.display())]
    NetnsExists { path: PathBuf },

    /// A step of creating/removing a persistent namespace failed.
    #[error("{op} {}: {source}", path.display())]
    Netns {
        /// What was being done, e.g. "failed to bind-mount the new network namespace onto".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The process holding a container's user namespace failed.
    #[error("user namespace holder: {step}: {source}")]
    Holder {
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

fn expected_suffix(expected: &Option<NamespaceType>) -> String {
    match expected {
        Some(t) => format!(" (expected a {t} namespace)"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn netns(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Netns {
            op,
            path: path.into(),
            source,
        }
    }
}
