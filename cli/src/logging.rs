//! Log setup: `tracing` to stderr, or to a file in text or JSON form (the
//! runtime's `--log`/`--log-format`, which engines read back on failure).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Errors opening the file fall back to stderr.
pub fn init(level: &str, file: Option<&Path>, format: LogFormat) {
    // libcgroups warns about every v1 controller the host lacks: keep that at debug.
    let quiet = |f: EnvFilter| match "libcgroups=error".parse() {
        Ok(d) if !level.contains("debug") && !level.contains("trace") => f.add_directive(d),
        _ => f,
    };
    let filter = quiet(EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let file = file.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
    let result = match (file, format) {
        (Some(f), LogFormat::Json) => builder
            .json()
            .with_writer(std::sync::Mutex::new(f))
            .try_init(),
        (Some(f), LogFormat::Text) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .try_init(),
        (None, _) => builder.with_writer(std::io::stderr).try_init(),
    };
    let _ = result;
}

/// Appends an error line to the log file in the form runc writes (engines such
/// as Podman show the last error line of the runtime's log).
pub fn log_error(file: Option<&Path>, format: LogFormat, msg: &str) {
    let Some(path) = file else { return };
    let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) else {
        return;
    };
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let line = match format {
        LogFormat::Json => {
            serde_json::json!({"level": "error", "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => format!("time={time:?} level=error msg={msg:?}"),
    };
    let _ = writeln!(f, "{line}");
}
