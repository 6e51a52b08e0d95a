//! `podman-rs runtime …`: the OCI runtime command line that runc and crun speak,
//! so Podman, containerd or a test harness can use podman-rs as their runtime.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use podman_rs_runtime::{
    exe_guard, features, spec, Builtin, ContainerState, CreateOptions, ExecOptions, Runtime,
};

use crate::logging::{self, LogFormat};

#[derive(Args, Debug)]
pub struct RuntimeCli {
    /// Directory for the containers' runtime state
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Write logs to this file instead of stderr
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of the log file
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Debug logging
    #[arg(long)]
    debug: bool,
    /// Accepted for compatibility; cgroups are always managed through cgroupfs
    #[arg(long)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Args, Debug)]
struct CreateArgs {
    /// Container id
    id: String,
    /// Path to the OCI bundle (directory with config.json)
    #[arg(short = 'b', long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's process id to this file
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (for process.terminal)
    #[arg(long, value_name = "SOCKET")]
    console_socket: Option<PathBuf>,
    /// Do not use pivot_root to enter the root filesystem
    #[arg(long)]
    no_pivot: bool,
    /// Pass this many extra file descriptors (3…) to the container
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
    /// Accepted for compatibility (no session keyring is created)
    #[arg(long)]
    no_new_keyring: bool,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// Create a container from a bundle; its process waits for `start`
    Create(CreateArgs),
    /// Start the process of a created container
    Start { id: String },
    /// Print the OCI state of a container as JSON
    State { id: String },
    /// Send a signal (default TERM) to the container's init process
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Send the signal to every process of the container
        #[arg(short, long)]
        all: bool,
    },
    /// Delete a container's runtime state
    Delete {
        id: String,
        /// Kill the container first if it is still running
        #[arg(short, long)]
        force: bool,
    },
    /// Create, start and wait for a container; exits with its exit code
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started
        #[arg(short, long)]
        detach: bool,
    },
    /// Run an extra process in a running container
    Exec {
        id: String,
        /// process.json describing the process (instead of a command)
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Allocate a pty (sent over --console-socket when detached)
        #[arg(short, long)]
        tty: bool,
        /// Do not wait for the process
        #[arg(short, long)]
        detach: bool,
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Working directory of the process
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Environment variable KEY=VALUE (repeatable)
        #[arg(short, long)]
        env: Vec<String>,
        /// UID[:GID] to run as
        #[arg(short, long)]
        user: Option<String>,
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        /// The command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// List containers
    List {
        #[arg(short, long, default_value = "table")]
        format: ListFormat,
        /// Only print ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the processes of a container
    Ps {
        id: String,
        #[arg(short, long, default_value = "table")]
        format: ListFormat,
        /// Arguments passed to ps(1) for the table form
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Freeze every process of the container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Write a default config.json
    Spec {
        /// Make a spec for a normal user (user namespace, no cgroup limits)
        #[arg(long)]
        rootless: bool,
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// Print what this runtime implements (OCI features JSON)
    Features,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

impl CreateArgs {
    fn options(&self) -> CreateOptions {
        CreateOptions {
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
        }
    }
}

/// Entry point of the runtime noun: runs the verb, logs and prints any error,
/// and maps it to an exit code (1 for a runtime error, as runc does; the
/// container's own code for `run` and `exec`).
pub fn main(cli: RuntimeCli, log_level: &str) -> ExitCode {
    let level = if cli.debug { "debug" } else { log_level };
    logging::init(level, cli.log.as_deref(), cli.log_format);
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = format!("{e:#}");
            logging::log_error(cli.log.as_deref(), cli.log_format, &msg);
            eprintln!("podman-rs runtime: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Verbs that put this binary's code into a container protect it first.
fn needs_protected_exe(v: &Verb) -> bool {
    matches!(v, Verb::Create(_) | Verb::Run { .. } | Verb::Exec { .. })
}

fn dispatch(cli: &RuntimeCli) -> Result<u8> {
    if needs_protected_exe(&cli.verb) {
        exe_guard::ensure_protected().context("protecting the runtime binary")?;
    }
    let rt = Builtin::new(
        cli.root
            .clone()
            .unwrap_or_else(podman_rs_runtime::default_root),
    );
    match &cli.verb {
        Verb::Create(a) => create(&rt, a),
        Verb::Start { id } => start(&rt, id),
        Verb::State { id } => state(&rt, id),
        Verb::Kill { id, signal, all } => kill(&rt, id, signal, *all),
        Verb::Delete { id, force } => delete(&rt, id, *force),
        Verb::Run { create, detach } => run(&rt, create, *detach),
        Verb::Exec {
            id,
            process,
            tty,
            detach,
            console_socket,
            pid_file,
            cwd,
            env,
            user,
            preserve_fds,
            command,
        } => {
            let opts = ExecOptions {
                process: process.clone(),
                args: command.clone(),
                env: env.clone(),
                cwd: cwd.clone(),
                user: user.as_deref().map(parse_user).transpose()?,
                tty: *tty,
                detach: *detach,
                console_socket: console_socket.clone(),
                pid_file: pid_file.clone(),
                preserve_fds: *preserve_fds,
                privileged: false,
            };
            exec(&rt, id, &opts)
        }
        Verb::List { format, quiet } => list(&rt, *format, *quiet),
        Verb::Ps {
            id,
            format,
            ps_args,
        } => ps(&rt, id, *format, ps_args),
        Verb::Pause { id } => pause(&rt, id),
        Verb::Resume { id } => resume(&rt, id),
        Verb::Spec { rootless, bundle } => spec_cmd(bundle, *rootless),
        Verb::Features => features_cmd(),
    }
}

fn parse_user(s: &str) -> Result<(u32, u32)> {
    let (u, g) = s.split_once(':').unwrap_or((s, "0"));
    let uid = u
        .parse()
        .with_context(|| format!("--user {s:?}: uid must be a number"))?;
    let gid = g
        .parse()
        .with_context(|| format!("--user {s:?}: gid must be a number"))?;
    Ok((uid, gid))
}

fn create(rt: &Builtin, a: &CreateArgs) -> Result<u8> {
    rt.create(&a.id, &a.options())?;
    Ok(0)
}

fn start(rt: &Builtin, id: &str) -> Result<u8> {
    rt.start(id)?;
    Ok(0)
}

fn state(rt: &Builtin, id: &str) -> Result<u8> {
    let st = rt.state(id)?;
    println!("{}", serde_json::to_string_pretty(&st)?);
    Ok(0)
}

fn kill(rt: &Builtin, id: &str, signal: &str, all: bool) -> Result<u8> {
    rt.kill(id, signal, all)?;
    Ok(0)
}

fn delete(rt: &Builtin, id: &str, force: bool) -> Result<u8> {
    rt.delete(id, force)?;
    Ok(0)
}

fn code_byte(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(255)
}

fn run(rt: &Builtin, a: &CreateArgs, detach: bool) -> Result<u8> {
    Ok(rt.run(&a.id, &a.options(), detach)?.map_or(0, code_byte))
}

fn exec(rt: &Builtin, id: &str, opts: &ExecOptions) -> Result<u8> {
    Ok(rt.exec(id, opts)?.map_or(0, code_byte))
}

fn list(rt: &Builtin, format: ListFormat, quiet: bool) -> Result<u8> {
    let all = rt.list()?;
    if quiet {
        for c in &all {
            println!("{}", c.id);
        }
        return Ok(0);
    }
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&all)?),
        ListFormat::Table => print!("{}", list_table(&all)),
    }
    Ok(0)
}

fn list_table(all: &[ContainerState]) -> String {
    let rows: Vec<[String; 6]> = all
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                c.pid.to_string(),
                c.status.to_string(),
                c.bundle.display().to_string(),
                c.created.clone().unwrap_or_default(),
                c.owner.clone(),
            ]
        })
        .collect();
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{:<w$}   ", c, w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn ps(rt: &Builtin, id: &str, format: ListFormat, ps_args: &[String]) -> Result<u8> {
    let pids = rt.pids(id)?;
    if format == ListFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    // Like runc: run ps(1) and keep the header and the container's rows.
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(pid_col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(0)
}

fn pause(rt: &Builtin, id: &str) -> Result<u8> {
    rt.pause(id)?;
    Ok(0)
}

fn resume(rt: &Builtin, id: &str) -> Result<u8> {
    rt.resume(id)?;
    Ok(0)
}

fn spec_cmd(bundle: &Path, rootless: bool) -> Result<u8> {
    spec::write_default(bundle, rootless)?;
    Ok(0)
}

fn features_cmd() -> Result<u8> {
    println!("{}", serde_json::to_string_pretty(&features::features())?);
    Ok(0)
}
