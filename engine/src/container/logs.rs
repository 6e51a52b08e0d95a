//! Container logs: the k8s-file log the monitor writes (conmon's format, as
//! Podman 4.3 writes it) and the reader behind `podman-rs logs`.
//!
//! One record per line of container output:
//!
//! ```text
//! 2026-11-23T08:29:20.059193581+00:00 stdout F hello
//! 2026-11-23T08:29:20.059193581+00:00 stdout P part
//! ```
//!
//! The timestamp is RFC 3339 with nine fractional digits and the local
//! offset (`+00:00`, never `Z`); the stream is `stdout` or `stderr`; `F` marks
//! a full line, `P` a piece of output that did not end in a newline (the line
//! goes on in a later record of the same stream). The content is written as
//! read, without escaping. `json-file` is written in the same format (Podman
//! 4.3 does so); `none` and `passthrough` write nothing.

mod reader;
mod time;
mod writer;

use std::fmt;
use std::path::PathBuf;

pub use reader::{
    parse_line, read_logs, LogEntry, LogLine, LogReadStats, ParseError, ReadOptions,
    DEFAULT_POLL_INTERVAL,
};
pub use time::{format_k8s_timestamp, format_podman_timestamp, local_now, parse_time_arg};
pub use writer::LogWriter;

/// Which output of the container a chunk or record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name written in the log: `stdout` or `stderr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Errors writing or reading a container log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log driver {0:?} is not supported (k8s-file, json-file, none, passthrough are)")]
    UnsupportedDriver(String),
    /// An operation on the log file failed; `action` says which.
    #[error("{action} log file {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Rotating the file at `max-size` failed; logging goes on in the old file.
    #[error("rotating log file {path} at max-size {max_size} bytes: {source}")]
    Rotate {
        path: PathBuf,
        max_size: u64,
        #[source]
        source: std::io::Error,
    },
    /// Writing the log's lines to the caller's stdout or stderr failed.
    #[error("writing logs of {path} to {stream}: {source}")]
    Output {
        path: PathBuf,
        stream: Stream,
        #[source]
        source: std::io::Error,
    },
    /// A `--since`/`--until` value none of Podman's forms accepts.
    #[error("parsing {flag} {value:?}: unable to interpret time value (expected RFC 3339, YYYY-MM-DD[THH:MM:SS], unix seconds or a duration such as 10m)")]
    Time { flag: &'static str, value: String },
}

impl LogError {
    fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        LogError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests;
