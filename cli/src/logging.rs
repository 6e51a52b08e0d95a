//! Log setup: `tracing` to stderr, or to a file in text or JSON form (the
//! runtime's `--log`/`--log-format`, which engines read back on failure).

use std::fs::OpenOptions;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Errors opening the file fall back to stderr.
/// `level` is one of trace, debug, info, warn, error (anything else means warn).
pub fn init(level: &str, file: Option<&Path>, format: LogFormat) {
    init_with(level, file, format, false);
}

/// The engine verbs' logging (stderr): as [`init`], but libcontainer's own
/// error lines are kept for debug (the engine reports the failure itself,
/// as Podman shows only the runtime's last error), and colours only on a
/// terminal.
pub fn init_engine(level: &str) {
    init_with(level, None, LogFormat::Text, true);
}

/// The container monitor's logging: its stderr (monitor.log) through a
/// duplicate descriptor. The runtime's container processes are forked from
/// the monitor and point fds 0-2 at the container's stdio before they log:
/// through fd 2 their debug lines ended up in the container's output and log.
pub fn init_monitor(level: &str) {
    use std::os::fd::AsFd;
    match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => install(level, Some(std::fs::File::from(fd)), LogFormat::Text, true),
        Err(_) => init_engine(level),
    }
}

fn init_with(level: &str, file: Option<&Path>, format: LogFormat, engine: bool) {
    let file = file.and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok());
    install(level, file, format, engine);
}

fn install(level: &str, file: Option<std::fs::File>, format: LogFormat, engine: bool) {
    let _ = START.get_or_init(Instant::now);
    let level: LevelFilter = level.parse().unwrap_or(LevelFilter::WARN);
    // libcgroups warns about every v1 controller the host lacks: keep that for debug.
    let lib_level = if level >= LevelFilter::DEBUG {
        level
    } else {
        LevelFilter::ERROR
    };
    let mut filter = Targets::new()
        .with_default(level)
        .with_target("libcgroups", lib_level);
    if engine && level < LevelFilter::DEBUG {
        filter = filter.with_target("libcontainer", LevelFilter::OFF);
    }
    let registry = tracing_subscriber::registry().with(filter);
    let result = match (file, format) {
        (Some(f), LogFormat::Json) => registry
            .with(fmt::layer().json().with_writer(std::sync::Mutex::new(f)))
            .try_init(),
        (Some(f), LogFormat::Text) => registry
            .with(
                fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Mutex::new(f)),
            )
            .try_init(),
        (None, _) if engine => registry
            .with(
                fmt::layer()
                    .event_format(Logrus {
                        tty: std::io::stderr().is_terminal(),
                    })
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        (None, _) => registry
            .with(fmt::layer().with_ansi(true).with_writer(std::io::stderr))
            .try_init(),
    };
    let _ = result;
}

/// When the command started: logrus' base for `WARN[0001]`.
static START: OnceLock<Instant> = OnceLock::new();

/// The engine's stderr lines as Podman's logrus prints them: on a terminal
/// `WARN[0001] message ` (coloured level, seconds since the command
/// started, message padded to 44 columns), elsewhere
/// `time="2006-01-02T15:04:05Z07:00" level=warning msg="message"`.
struct Logrus {
    tty: bool,
}

/// The message and the fields of an event.
#[derive(Default)]
struct EventText {
    msg: String,
    fields: Vec<(String, String)>,
}

impl tracing::field::Visit for EventText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_string();
        } else {
            self.fields
                .push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.msg = format!("{value:?}");
        } else {
            self.fields
                .push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

/// logrus quotes a value unless it is only letters, digits and `-._/@^+`.
pub(crate) fn logrus_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/@^+".contains(c));
    if plain {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

impl<S, N> fmt::FormatEvent<S, N> for Logrus
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &fmt::FmtContext<'_, S, N>,
        mut w: fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        use tracing::Level;
        let mut text = EventText::default();
        event.record(&mut text);
        let level = *event.metadata().level();
        if self.tty {
            let (name, colour) = match level {
                Level::ERROR => ("ERRO", 31),
                Level::WARN => ("WARN", 33),
                Level::INFO => ("INFO", 36),
                Level::DEBUG => ("DEBU", 37),
                Level::TRACE => ("TRAC", 37),
            };
            let secs = START.get().map(|t| t.elapsed().as_secs()).unwrap_or(0);
            write!(
                w,
                "\x1b[{colour}m{name}\x1b[0m[{secs:04}] {:<44} ",
                text.msg
            )?;
            for (k, v) in &text.fields {
                write!(w, " \x1b[{colour}m{k}\x1b[0m={v}")?;
            }
        } else {
            let name = match level {
                Level::ERROR => "error",
                Level::WARN => "warning",
                Level::INFO => "info",
                Level::DEBUG => "debug",
                Level::TRACE => "trace",
            };
            let time = chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            write!(
                w,
                "time={} level={name} msg={}",
                logrus_value(&time),
                logrus_value(&text.msg)
            )?;
            for (k, v) in &text.fields {
                write!(w, " {k}={}", logrus_value(v))?;
            }
        }
        writeln!(w)
    }
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
