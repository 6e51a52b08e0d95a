//! Rootless entry: which commands run inside the rootless user namespace
//! (see `podman_rs_namespaces::pause`), and printing the messages of its
//! creation the way Podman does (logrus lines on stderr).
//!
//! Called from `main` after parsing and before logging or anything else
//! that could start a thread: setns(2) into a user namespace needs a
//! single-threaded process.

use std::path::Path;

use podman_rs_engine::rootless::{current_paths, RootlessEnv};
use podman_rs_namespaces::pause::{self, Entered, Notice};

/// What a command does about the rootless namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Stay where we are (runtime verbs, the monitor, root).
    Stay,
    /// Join the pause process if there is one, never create it (`system migrate`).
    JoinExisting,
    /// Join, creating the namespace and the pause process when needed.
    JoinOrCreate,
}

/// Errors entering the namespace.
#[derive(Debug)]
pub struct EnterError(String);

impl std::fmt::Display for EnterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid internal status, try resetting the pause process with \"podman-rs system migrate\": {}",
            self.0
        )
    }
}

/// Moves this process into the rootless namespace as `policy` says (a
/// no-op for root and for processes already inside). Returns the messages
/// to show (only when the namespace was just created).
pub fn enter(policy: Policy) -> Result<Vec<Notice>, EnterError> {
    let env = RootlessEnv::from_env();
    if policy == Policy::Stay || !env.is_rootless() || env.in_namespace() {
        return Ok(Vec::new());
    }
    let paths = current_paths()
        .map_err(|e| EnterError(e.to_string()))?
        .ok_or_else(|| EnterError("not rootless".into()))?;
    let pid_file = &paths.pause_pid_file;
    match policy {
        Policy::Stay => Ok(Vec::new()),
        Policy::JoinExisting => pause::try_join(pid_file)
            .map(|_| Vec::new())
            .map_err(|e| EnterError(e.to_string())),
        Policy::JoinOrCreate => {
            match pause::join_or_create(pid_file, Path::new("/proc/self/exe")) {
                Ok(Entered::Joined) => Ok(Vec::new()),
                Ok(Entered::Created(notices)) => Ok(notices),
                Err(e) => Err(EnterError(e.to_string())),
            }
        }
    }
}

/// One logrus-style line: `time="…" level=warning msg="…"`.
pub fn logrus_line(level: &str, msg: &str) -> String {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!(
        "time={} level={level} msg={}",
        crate::logging::logrus_value(&time),
        crate::logging::logrus_value(msg)
    )
}

/// Prints `notices` on stderr unless `log_level` hides them.
pub fn print_notices(notices: &[Notice], log_level: &str) {
    let show_warnings = !matches!(log_level, "error" | "fatal" | "panic");
    for n in notices {
        match n {
            Notice::Error(m) => eprintln!("{}", logrus_line("error", m)),
            Notice::Warning(m) if show_warnings => eprintln!("{}", logrus_line("warning", m)),
            Notice::Warning(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logrus_quoting() {
        let l = logrus_line("warning", pause::ROOT_NOT_SHARED);
        assert!(l.starts_with("time=\""), "{l}");
        assert!(
            l.ends_with(
                " level=warning msg=\"\\\"/\\\" is not a shared mount, this could cause issues or missing mounts with rootless containers\""
            ),
            "{l}"
        );
    }
}
