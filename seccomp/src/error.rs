//! Error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading, parsing or resolving a seccomp profile.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile file could not be read.
    #[error("cannot read seccomp profile {path}: {source}")]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The profile is not valid JSON or a field has a wrong type or value
    /// (for example an unknown `action`).
    #[error("invalid seccomp profile {origin}: {}{message}", field_prefix(.field))]
    Parse {
        /// Where the profile came from (file path or `<string>`).
        origin: String,
        /// The JSON path of the offending field, e.g. `syscalls[3].action`;
        /// empty when the error is not tied to a field (e.g. a syntax error at top level).
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// The profile parsed, but its content is contradictory or incomplete
    /// (e.g. both `name` and `names`, both `architectures` and `archMap`).
    #[error("invalid seccomp profile {origin}: {}{message}", field_prefix(.field))]
    Invalid {
        /// Where the profile came from (file path or `<string>`).
        origin: String,
        /// The JSON path of the offending field, e.g. `syscalls[3].args[0].index`.
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// A kernel version string could not be parsed.
    #[error("invalid kernel version {value:?}: expected \"<kernel>.<major>\"")]
    InvalidKernelVersion {
        /// The offending text.
        value: String,
    },

    /// The profile has `minKernel` conditions but the host kernel version is unknown.
    #[error("cannot determine the host kernel version needed by minKernel conditions: {reason}")]
    HostKernel {
        /// Why the version could not be determined.
        reason: String,
    },

    /// An architecture name that this crate does not know.
    #[error("unknown architecture {0:?}")]
    UnknownArch(String),
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("field `{field}`: ")
    }
}

/// Compiling a profile to BPF failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// libseccomp refused a step (e.g. `adding architecture SCMP_ARCH_X32`).
    #[error("compiling the seccomp profile to BPF: {what}: {source}")]
    Libseccomp {
        /// The step that failed.
        what: String,
        /// libseccomp's error.
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// The scratch file the program is exported to.
    #[error("compiling the seccomp profile to BPF: {what}: {source}")]
    Io {
        /// The step that failed.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}
