//! Errors of the rootfs crate. Each names the mount target or path it is about.

use std::fmt;
use std::path::PathBuf;

use nix::errno::Errno;

/// Which directory of an overlay a [`Error::Layer`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerRole {
    /// A lowerdir, by its index in [`crate::OverlayMount::lower`] (0 = top-most).
    Lower(usize),
    /// The upperdir.
    Upper,
    /// The workdir.
    Work,
}

impl fmt::Display for LayerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerRole::Lower(i) => write!(f, "lowerdir #{i}"),
            LayerRole::Upper => f.write_str("upperdir"),
            LayerRole::Work => f.write_str("workdir"),
        }
    }
}

/// Messages the kernel left in an fs context (`fsopen` fd), shown after an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelLog(pub Vec<String>);

impl fmt::Display for KernelLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, " (kernel: {})", self.0.join("; "))
        }
    }
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is wrong (bad layer list, overlapping dirs, bad option...).
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },

    /// One layer of an overlay could not be used: names the mount target and the layer.
    #[error("overlay on {target}: {role} {layer}: {source}{kernel_log}")]
    Layer {
        target: PathBuf,
        layer: PathBuf,
        role: LayerRole,
        #[source]
        source: Errno,
        kernel_log: KernelLog,
    },

    /// The legacy mount(2) data string does not fit in one page and the kernel
    /// has no `lowerdir+` (new mount API) to pass layers one at a time.
    #[error(
        "overlay on {target}: mount option string is {len} bytes, over the {limit}-byte limit of \
         mount(2) data (and the kernel lacks fsconfig \"lowerdir+\")"
    )]
    OptionsTooLong {
        target: PathBuf,
        len: usize,
        limit: usize,
    },

    /// upperdir and workdir must be on the same filesystem.
    #[error(
        "overlay on {target}: workdir {work} is not on the same filesystem as upperdir {upper}"
    )]
    WorkdirDevice {
        target: PathBuf,
        upper: PathBuf,
        work: PathBuf,
    },

    /// A mount step failed (`step` names the syscall).
    #[error("mounting {target} failed at {step}: {source}{kernel_log}")]
    Mount {
        target: PathBuf,
        step: &'static str,
        #[source]
        source: Errno,
        kernel_log: KernelLog,
    },

    /// umount2 failed, also with MNT_DETACH where that was tried.
    #[error("unmounting {target} failed: {source}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: Errno,
    },

    /// The path is not a mount point (umount2 returned EINVAL).
    #[error("{target} is not a mount point")]
    NotMounted { target: PathBuf },

    /// Some mounts under a directory stayed mounted after [`crate::unmount_all_under`].
    #[error("{root}: {} mount(s) could not be unmounted: {}", .remaining.len(), display_paths(.remaining))]
    StillMounted {
        root: PathBuf,
        remaining: Vec<PathBuf>,
        #[source]
        first_error: Option<Box<Error>>,
    },

    /// A filesystem operation on `path` failed (`op` says which).
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An overlay mount program (fuse-overlayfs) failed or could not run.
    #[error("overlay on {target}: {program}: {reason}")]
    Program {
        target: PathBuf,
        program: PathBuf,
        reason: String,
    },

    /// /proc/self/mountinfo could not be parsed.
    #[error("mountinfo line {line}: {reason}")]
    MountInfo { line: usize, reason: String },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
