//! `podman-rs`: a daemonless container engine with a built-in OCI runtime.
//!
//! One module per noun, one function per verb, as Podman lays out cmd/podman.

mod logging;
mod runtime;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for an error of podman-rs itself (Podman's 125).
pub const EXIT_ENGINE: u8 = 125;

#[derive(Parser, Debug)]
#[command(name = "podman-rs", version, about = "Manage containers, images and OCI bundles without a daemon", long_about = None)]
struct Cli {
    /// Log messages at and above this level: trace, debug, info, warn, error.
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The OCI runtime (runc/crun-compatible command line)
    Runtime(runtime::RuntimeCli),
}

fn main() -> ExitCode {
    // Invoked through a link named like a runtime binary (`podman-rs-runtime`),
    // speak the runc command line directly, so engines can use us as their
    // OCI runtime path.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if invoked_as.ends_with("-runtime") {
        args.insert(1, "runtime".into());
    }
    // Verbs that put this binary's code into a container re-execute it from a
    // write-protected view first (see runtime::exe_guard). Doing it before
    // any parsing or log setup keeps the re-exec cheap. A false match (say a
    // container named "run") only costs that re-exec.
    let protect = args.get(1).is_some_and(|a| a == "runtime")
        && args
            .iter()
            .any(|a| a == "create" || a == "run" || a == "exec");
    if protect {
        if let Err(e) = podman_rs_runtime::exe_guard::ensure_protected() {
            eprintln!("podman-rs runtime: protecting the runtime binary: {e}");
            return ExitCode::from(1);
        }
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ENGINE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Runtime(rt) => runtime::main(rt, &cli.log_level),
    }
}
