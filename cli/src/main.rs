//! `podman-rs`: a daemonless container engine with a built-in OCI runtime.
//!
//! One module per noun, one function per verb, as Podman lays out cmd/podman.

mod container;
mod format;
mod image;
mod init;
mod logging;
mod rootless;
mod runtime;
mod system;

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
    /// Path to the root directory in which data, including images, is stored
    #[arg(long, value_name = "DIR")]
    root: Option<std::path::PathBuf>,
    /// Path to the 'run directory' where all state information is stored
    #[arg(long, value_name = "DIR")]
    runroot: Option<std::path::PathBuf>,
    /// Select which storage driver is used to manage storage of images and containers
    #[arg(long, value_name = "DRIVER", value_parser = ["overlay", "vfs"])]
    storage_driver: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The OCI runtime (runc/crun-compatible command line)
    Runtime(runtime::RuntimeCli),
    /// Manage images
    Image(image::ImageCli),
    /// List images in local storage
    Images(image::ListArgs),
    /// Pull an image from a registry
    Pull(image::PullArgs),
    /// Add an additional name to a local image
    Tag(image::TagArgs),
    /// Remove a name from a local image
    Untag(image::UntagArgs),
    /// Remove one or more images from local storage
    Rmi(image::RmiArgs),
    /// Push an image to a specified destination
    Push(image::PushArgs),
    /// Save image(s) to an archive
    Save(image::SaveArgs),
    /// Load image(s) from a tar archive
    Load(image::LoadArgs),
    /// Show history of a specified image
    History(image::HistoryArgs),
    /// Import a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Log in to a container registry
    Login(system::LoginArgs),
    /// Log out of a container registry
    Logout(system::LogoutArgs),
    /// Manage containers
    Container(container::ContainerCli),
    /// Create but do not start a container
    Create(container::CreateArgs),
    /// Run a command in a new container
    Run(container::RunArgs),
    /// Start one or more containers
    Start(container::StartArgs),
    /// Initialize one or more containers
    Init(container::InitArgs),
    /// Stop one or more containers
    Stop(container::StopArgs),
    /// Kill one or more running containers with a specific signal
    Kill(container::KillArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// List containers
    Ps(container::PsArgs),
    /// Display the configuration of object denoted by ID
    Inspect(container::InspectArgs),
    /// Fetch the logs of one or more containers
    Logs(container::LogsArgs),
    /// Block on one or more containers
    Wait(container::WaitArgs),
    /// Attach to a running container
    Attach(container::AttachArgs),
    /// Run a process in a running container
    Exec(container::ExecArgs),
    /// Pause all the processes in one or more containers
    Pause(container::NamesArgs),
    /// Unpause the processes in one or more containers
    Unpause(container::NamesArgs),
    /// Rename an existing container
    Rename(container::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::NamesArgs),
    /// Run a command in a modified user namespace
    Unshare(system::UnshareArgs),
    /// Manage podman-rs
    System(system::SystemCli),
    /// The per-container monitor (started by start/run; not for direct use)
    #[command(hide = true, name = "container-monitor")]
    ContainerMonitor(container::MonitorArgs),
}

/// Whether `command` runs inside the rootless user namespace.
fn rootless_policy(command: &Command) -> rootless::Policy {
    match command {
        // The runtime verbs work on their own (`runtime --rootless`); the
        // monitor is started from inside the namespace already.
        Command::Runtime(_) | Command::ContainerMonitor(_) => rootless::Policy::Stay,
        // migrate resets the namespace: it may use one, never creates one.
        Command::System(system::SystemCli {
            verb: system::SystemVerb::Migrate(_),
        }) => rootless::Policy::JoinExisting,
        _ => rootless::Policy::JoinOrCreate,
    }
}

fn main() -> ExitCode {
    // The rootless pause process is this binary started with a marker
    // variable: it only holds the namespaces open.
    if podman_rs_namespaces::pause::is_pause_process() {
        podman_rs_namespaces::pause::run_pause_process();
    }
    // Invoked through a link named like a runtime binary (`podman-rs-runtime`),
    // speak the runc command line directly, so engines can use us as their
    // OCI runtime path.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Bind-mounted as a container's /run/podman-init (`--init`): be its pid 1.
    if invoked_as == "podman-init" {
        return init::main(args.split_off(1));
    }
    if invoked_as.ends_with("-runtime") {
        args.insert(1, "runtime".into());
    }
    // Verbs that put this binary's code into a container re-execute it from a
    // write-protected view first (see runtime::exe_guard). Doing it before
    // any parsing or log setup keeps the re-exec cheap. A false match (say a
    // container named "run") only costs that re-exec.
    // The monitor runs the built-in runtime in-process, and `exec` runs it
    // from the CLI process: both put this binary's code into containers.
    let protect = (args.get(1).is_some_and(|a| a == "runtime")
        && args
            .iter()
            .any(|a| a == "create" || a == "run" || a == "exec"))
        || args.iter().any(|a| a == "container-monitor" || a == "exec");
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
    let is_runtime = matches!(cli.command, Command::Runtime(_));
    // Rootless: into the user namespace while still single-threaded
    // (--help/--version and parse errors returned above, before this).
    let notices = match rootless::enter(rootless_policy(&cli.command)) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    rootless::print_notices(&notices, &cli.log_level);
    if matches!(cli.command, Command::ContainerMonitor(_)) {
        logging::init_monitor(&cli.log_level);
    } else if !is_runtime {
        logging::init_engine(&cli.log_level);
        // Container monitors are started by the engine from this binary:
        // they log at the caller's level (set before any thread exists).
        std::env::set_var("PODMAN_RS_LOG_LEVEL", &cli.log_level);
    }
    // Flags > storage.conf > defaults (the runtime verbs have their own --root).
    let flags = podman_rs_engine::config::storage::StorageFlags {
        root: cli.root,
        runroot: cli.runroot,
        driver: cli.storage_driver,
    };
    let storage = if is_runtime {
        podman_rs_engine::interface::StorageOptions::default()
    } else if matches!(cli.command, Command::ContainerMonitor(_)) {
        // The engine starts monitors with --root, --runroot and
        // --storage-driver: nothing to look up on this start path.
        match podman_rs_engine::config::storage::resolve(
            &flags,
            None,
            &podman_rs_engine::interface::StorageOptions::default(),
        ) {
            Ok(s) => s,
            Err(e) => return image::fail(e),
        }
    } else {
        match podman_rs_engine::config::storage::storage_options(&flags) {
            Ok(s) => s,
            Err(e) => return image::fail(e),
        }
    };
    match cli.command {
        Command::Runtime(rt) => runtime::main(rt, &cli.log_level),
        Command::Image(c) => image::main(c, &storage),
        Command::Images(a) => image::list(a, &storage),
        Command::Pull(a) => image::pull(a, &storage),
        Command::Tag(a) => image::tag(a, &storage),
        Command::Untag(a) => image::untag(a, &storage),
        Command::Rmi(a) => image::rmi(a, &storage),
        Command::Push(a) => image::push(a, &storage),
        Command::Save(a) => image::save(a, &storage),
        Command::Load(a) => image::load(a, &storage),
        Command::History(a) => image::history(a, &storage),
        Command::Import(a) => image::import(a, &storage),
        Command::Login(a) => system::login(a, &storage),
        Command::Logout(a) => system::logout(a, &storage),
        Command::Container(c) => container::main(c, &storage),
        Command::Create(a) => container::create(a, &storage),
        Command::Run(a) => container::run(a, &storage),
        Command::Start(a) => container::start(a, &storage),
        Command::Init(a) => container::init(a, &storage),
        Command::Stop(a) => container::stop(a, &storage),
        Command::Kill(a) => container::kill(a, &storage),
        Command::Restart(a) => container::restart(a, &storage),
        Command::Rm(a) => container::rm(a, &storage),
        Command::Ps(a) => container::ps(a, &storage),
        Command::Inspect(a) => container::inspect(a, &storage),
        Command::Logs(a) => container::logs(a, &storage),
        Command::Wait(a) => container::wait(a, &storage),
        Command::Attach(a) => container::attach(a, &storage),
        Command::Exec(a) => container::exec(a, &storage),
        Command::Pause(a) => container::pause(a, &storage),
        Command::Unpause(a) => container::unpause(a, &storage),
        Command::Rename(a) => container::rename(a, &storage),
        Command::Port(a) => container::port(a, &storage),
        Command::Unshare(a) => system::unshare(a, &storage),
        Command::System(c) => system::main(c, &storage),
        Command::ContainerMonitor(a) => container::monitor(a, &storage),
    }
}
