//! `podman-rs container …` and the top-level container verbs (`run`, `ps`,
//! `logs`, …): one function per verb, as Podman's cmd/podman/containers.
//! Everything goes through the engine's [`ContainerEngine`] interface.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use podman_rs_engine::container::{
    AttachEnd, AttachStreams, ContainerEngine, ContainerError, CreateOptions, ExecEnd, ExecOptions,
    ListOptions, LogsOptions, RemoveOptions, WaitOptions,
};
use podman_rs_engine::interface::{LocalEngine, StorageOptions};
use serde_json::Value;

use crate::format::{render, render_list, to_json_indent};
use crate::image::open;

/// `podman-rs container VERB`
#[derive(Args, Debug)]
pub struct ContainerCli {
    #[command(subcommand)]
    pub verb: ContainerVerb,
}

#[derive(Subcommand, Debug)]
pub enum ContainerVerb {
    /// Create but do not start a container
    Create(CreateArgs),
    /// Run a command in a new container
    Run(RunArgs),
    /// Start one or more containers
    Start(StartArgs),
    /// Initialize one or more containers
    Init(InitArgs),
    /// Stop one or more containers
    Stop(StopArgs),
    /// Kill one or more running containers with a specific signal
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    #[command(alias = "ls", alias = "ps")]
    List(PsArgs),
    /// Display the configuration of a container
    Inspect(InspectArgs),
    /// Fetch the logs of one or more containers
    Logs(LogsArgs),
    /// Block on one or more containers
    Wait(WaitArgs),
    /// Attach to a running container
    Attach(AttachArgs),
    /// Run a process in a running container
    Exec(ExecArgs),
    /// Pause all the processes in one or more containers
    Pause(NamesArgs),
    /// Unpause the processes in one or more containers
    Unpause(NamesArgs),
    /// Rename an existing container
    Rename(RenameArgs),
    /// Check if a container exists in local storage
    Exists(ExistsArgs),
    /// Remove all non running containers
    Prune(PruneArgs),
    /// List port mappings or a specific mapping for the container
    Port(NamesArgs),
    /// Clean up network and mountpoints of one or more containers
    Cleanup(NamesArgs),
}

/// Flags shared by `create` and `run` (Podman's names and help).
#[derive(Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables in container
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Use all current host environment variables in container
    #[arg(long = "env-host")]
    pub env_host: bool,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Add additional groups to the primary container process
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Set container hostname
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set metadata on container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<PathBuf>,
    /// Add annotations to container (key=value)
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Run an init binary inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Signal to stop a container. Default is SIGTERM
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) that containers stopped by user command have to exit. If exceeded, the container will be forcibly stopped via SIGKILL
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    /// Restart policy to apply when a container exits ("always"|"no"|"on-failure"|"unless-stopped")
    #[arg(long)]
    pub restart: Option<String>,
    /// Remove container (and pod if created) after exit
    #[arg(long)]
    pub rm: bool,
    /// Allocate a pseudo-TTY for container
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Logging driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Connect a container to a network: none, host, private (default: a
    /// private network namespace with only loopback, until bridge
    /// networking exists), slirp4netns[:OPTIONS], container:ID, ns:PATH
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// User namespace to use: "" (default), host, keep-id[:uid=U,gid=G],
    /// nomap, ns:PATH, private
    #[arg(long)]
    pub userns: Option<String>,
    /// UID map for the user namespace, CONTAINER:HOST:SIZE (repeatable)
    #[arg(long)]
    pub uidmap: Vec<String>,
    /// GID map for the user namespace, CONTAINER:HOST:SIZE (repeatable)
    #[arg(long)]
    pub gidmap: Vec<String>,
    /// Publish a container's port to the host, [[IP:][HOSTPORT]:]PORT[/PROTO]
    /// (forwarded with --network slirp4netns)
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set custom DNS options
    #[arg(long = "dns-option", alias = "dns-opt")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Do not create /etc/hosts within the container
    #[arg(long = "no-hosts")]
    pub no_hosts: bool,
    /// Bind mount a volume into the container
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a temporary filesystem (tmpfs) into a container
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Give extended privileges to container
    #[arg(long)]
    pub privileged: bool,
    /// Add capabilities to the container
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop capabilities from the container
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Make containers root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Size of /dev/shm (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Memory limit (format: <number>[<unit>], where unit = b (bytes), k (kibibytes), m (mebibytes), or g (gibibytes))
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Number of CPUs. The default is 0.000 which means no limit
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune the host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Pull image policy
    /// (checked by the engine, for Podman's "unsupported pull policy" error)
    #[arg(long, num_args = 0..=1, default_missing_value = "always")]
    pub pull: Option<String>,
    /// Suppress output information when pulling images
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tls_verify: Option<bool>,
    /// Path of the authentication file
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<PathBuf>,
    /// If a container with the same name exists, replace it
    #[arg(long)]
    pub replace: bool,
    /// Override the key sequence for detaching a container. Format is a single character [a-Z] or a comma separated sequence of `ctrl-<value>`, where `<value>` is one of: `a-cf`, `@`, `^`, `[`, `\\`, `]`, `^` or `_`
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Path to the OCI-compatible binary used to run containers (default: the built-in runtime)
    #[arg(long)]
    pub runtime: Option<String>,
    /// The first argument is not an image but the rootfs to the exploded container
    #[arg(long)]
    pub rootfs: bool,
    /// Image (or rootfs path with --rootfs)
    pub image: String,
    /// Command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print help (`-h` is --hostname, as in Podman)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    pub flags: CreateFlags,
}

#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help (`-h` is --hostname, as in Podman)
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long)]
    pub attach: Vec<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub flags: CreateFlags,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach container's STDOUT and STDERR
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: Option<bool>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait for stop before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u32>,
    /// Stop all running containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short = 'i', long)]
    pub ignore: bool,
    /// Act on the latest container podman is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Signal all running containers
    #[arg(short = 'a', long)]
    pub all: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force removal of a running or unusable container
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove all containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove container and all containers that depend on it
    #[arg(long)]
    pub depend: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short = 'i', long)]
    pub ignore: bool,
    /// Seconds to wait for stop before killing the container
    #[arg(short = 't', long = "time")]
    pub time: Option<u32>,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Display only the container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Act on the latest container podman is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Print the n last created containers (all states)
    #[arg(short = 'n', long)]
    pub last: Option<i64>,
    /// Filter output based on conditions given
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Display the extended information
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Display the total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Sort output by: command, created, id, image, names, runningfor, size, status
    #[arg(long, default_value = "created")]
    pub sort: String,
    /// Show containers in storage not controlled by Podman
    #[arg(long)]
    pub external: bool,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output to a Go template or json
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file size
    #[arg(short = 's', long)]
    pub size: bool,
    /// Act on the latest container podman is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Specify inspect-object type ("image", "container" or "all")
    #[arg(short = 't', long = "type", default_value = "all")]
    pub kind: String,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since TIMESTAMP
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs until TIMESTAMP
    #[arg(long)]
    pub until: Option<String>,
    /// Output the specified number of LINES at the end of the logs
    #[arg(long, allow_hyphen_values = true)]
    pub tail: Option<i64>,
    /// Output the timestamps in the log
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Output the container name in the log
    #[arg(short = 'n', long)]
    pub names: bool,
    /// Act on the latest container podman is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    pub containers: Vec<String>,
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Condition to wait on
    #[arg(long)]
    pub condition: Vec<String>,
    /// Time Interval to wait before polling for completion
    #[arg(short = 'i', long)]
    pub interval: Option<String>,
    /// Ignore if a container does not exist
    #[arg(long)]
    pub ignore: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Select the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN. The default is false
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    pub sig_proxy: bool,
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Run the exec session in detached mode (backgrounded)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY. The default is false
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Sets the username or UID used and optionally the groupname or GID for the specified command
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Give the process extended Linux capabilities inside the container
    #[arg(long)]
    pub privileged: bool,
    /// Select the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    pub name: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Act on all containers
    #[arg(short = 'a', long)]
    pub all: bool,
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RenameArgs {
    pub name: String,
    pub new_name: String,
}

#[derive(Args, Debug)]
pub struct ExistsArgs {
    pub name: String,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation.  The default is false
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// The hidden monitor verb's arguments.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    pub id: String,
    #[arg(long = "wait-start")]
    pub wait_start: bool,
    /// Create the container, then wait for a start request (`init`).
    #[arg(long = "init-only")]
    pub init_only: bool,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Initialize all containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Act on the latest container podman is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    pub names: Vec<String>,
}

/// Prints `Error: …` and gives Podman's exit code for the error.
fn fail_container(e: &ContainerError) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(e.exit_code())
}

fn exit_i32(code: i32) -> ExitCode {
    ExitCode::from(code.clamp(0, 255) as u8)
}

/// `podman-rs container VERB`
pub fn main(cli: ContainerCli, storage: &StorageOptions) -> ExitCode {
    match cli.verb {
        ContainerVerb::Create(a) => create(a, storage),
        ContainerVerb::Run(a) => run(a, storage),
        ContainerVerb::Start(a) => start(a, storage),
        ContainerVerb::Init(a) => init(a, storage),
        ContainerVerb::Stop(a) => stop(a, storage),
        ContainerVerb::Kill(a) => kill(a, storage),
        ContainerVerb::Restart(a) => restart(a, storage),
        ContainerVerb::Rm(a) => rm(a, storage),
        ContainerVerb::List(a) => ps(a, storage),
        ContainerVerb::Inspect(mut a) => {
            a.kind = "container".into();
            inspect(a, storage)
        }
        ContainerVerb::Logs(a) => logs(a, storage),
        ContainerVerb::Wait(a) => wait(a, storage),
        ContainerVerb::Attach(a) => attach(a, storage),
        ContainerVerb::Exec(a) => exec(a, storage),
        ContainerVerb::Pause(a) => pause(a, storage),
        ContainerVerb::Unpause(a) => unpause(a, storage),
        ContainerVerb::Rename(a) => rename(a, storage),
        ContainerVerb::Exists(a) => exists(a, storage),
        ContainerVerb::Prune(a) => prune(a, storage),
        ContainerVerb::Port(a) => port(a, storage),
        ContainerVerb::Cleanup(a) => cleanup(a, storage),
    }
}

fn caller_env() -> Vec<(String, String)> {
    std::env::vars().collect()
}

fn create_options(f: &CreateFlags) -> CreateOptions {
    CreateOptions {
        image: f.image.clone(),
        rootfs: f.rootfs,
        command: f.command.clone(),
        entrypoint: f.entrypoint.clone(),
        name: f.name.clone(),
        env: f.env.clone(),
        env_file: f.env_file.clone(),
        env_host: f.env_host,
        caller_env: caller_env(),
        workdir: f.workdir.clone(),
        user: f.user.clone(),
        group_add: f.group_add.clone(),
        hostname: f.hostname.clone(),
        labels: f.label.clone(),
        label_files: f.label_file.clone(),
        annotations: f.annotation.clone(),
        init: f.init,
        stop_signal: f.stop_signal.clone(),
        stop_timeout: f.stop_timeout,
        restart: f.restart.clone(),
        rm: f.rm,
        tty: f.tty,
        interactive: f.interactive,
        log_driver: f.log_driver.clone(),
        log_opts: f.log_opt.clone(),
        network: f.network.clone(),
        userns: f.userns.clone(),
        uidmap: f.uidmap.clone(),
        gidmap: f.gidmap.clone(),
        publish: f.publish.clone(),
        dns: f.dns.clone(),
        dns_search: f.dns_search.clone(),
        dns_option: f.dns_option.clone(),
        add_host: f.add_host.clone(),
        no_hosts: f.no_hosts,
        volumes: f.volume.clone(),
        tmpfs: f.tmpfs.clone(),
        privileged: f.privileged,
        cap_add: f.cap_add.clone(),
        cap_drop: f.cap_drop.clone(),
        security_opt: f.security_opt.clone(),
        read_only: f.read_only,
        ulimits: f.ulimit.clone(),
        shm_size: f.shm_size.clone(),
        sysctls: f.sysctl.clone(),
        memory: f.memory.clone(),
        pids_limit: f.pids_limit,
        cpus: f.cpus,
        cpu_shares: f.cpu_shares,
        cpuset_cpus: f.cpuset_cpus.clone(),
        oom_score_adj: f.oom_score_adj,
        pull: f.pull.clone(),
        tls_verify: f.tls_verify,
        authfile: f.authfile.clone(),
        creds: None,
        quiet_pull: f.quiet,
        cidfile: f.cidfile.clone(),
        replace: f.replace,
        detach_keys: f.detach_keys.clone(),
        runtime: f.runtime.clone(),
        create_command: std::env::args().collect(),
    }
}

/// `podman-rs create`
pub fn create(a: CreateArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.container_create(&create_options(&a.flags)) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("{w}");
            }
            println!("{}", r.id);
            ExitCode::SUCCESS
        }
        Err(e) => fail_container(&e),
    }
}

/// The terminal's size (rows, cols), when stdin is one.
fn terminal_size() -> Option<(u16, u16)> {
    let ws = rustix::termios::tcgetwinsize(std::io::stdin()).ok()?;
    Some((ws.ws_row, ws.ws_col))
}

/// Puts the terminal in raw mode for a `-t` session; restores it on drop.
struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    fn enter() -> RawTerminal {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(&stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        RawTerminal { saved: Some(saved) }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                t,
            );
        }
    }
}

/// Signal forwarding for a foreground container (`--sig-proxy`) and
/// SIGWINCH → resize for a tty one, on a thread reading a signalfd.
fn forward_signals(
    storage: &StorageOptions,
    id: &str,
    proxy: bool,
    tty: bool,
) -> Option<std::sync::mpsc::Receiver<(u16, u16)>> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    let proxied = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ];
    if proxy {
        for s in proxied {
            set.add(s);
        }
    }
    if tty {
        set.add(Signal::SIGWINCH);
    }
    // Nothing to forward or watch.
    set.iter().next()?;
    // Block in this thread (inherited by threads spawned after) so the
    // signalfd sees them.
    if set.thread_block().is_err() {
        return None;
    }
    let Ok(sfd) = nix::sys::signalfd::SignalFd::new(&set) else {
        return None;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let storage = storage.clone();
    let id = id.to_string();
    std::thread::spawn(move || {
        // Opened on the first signal to forward: most runs get none.
        let mut engine: Option<LocalEngine> = None;
        while let Ok(Some(info)) = sfd.read_signal() {
            let signo = info.ssi_signo as i32;
            if signo == Signal::SIGWINCH as i32 {
                if let Some(sz) = terminal_size() {
                    let _ = tx.send(sz);
                }
            } else {
                if engine.is_none() {
                    engine = LocalEngine::open(storage.clone()).ok();
                }
                if let Some(engine) = &engine {
                    let _ = engine.container_kill(&id, &signo.to_string());
                }
            }
        }
    });
    tty.then_some(rx)
}

fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, ContainerError> {
    podman_rs_engine::container::attach::parse_detach_keys(spec.unwrap_or("ctrl-p,ctrl-q"))
        .map_err(ContainerError::InvalidArgument)
}

/// Runs an attached session and turns its end into our exit code.
fn attached_exit(end: AttachEnd) -> ExitCode {
    match end {
        AttachEnd::Exited(code) => exit_i32(code),
        AttachEnd::Detached => ExitCode::SUCCESS,
        AttachEnd::Lost => {
            eprintln!("Error: the container's monitor went away without an exit code");
            ExitCode::from(crate::EXIT_ENGINE)
        }
    }
}

/// `podman-rs run`
pub fn run(a: RunArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let opts = create_options(&a.flags);
    let keys = match detach_keys(a.flags.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => return fail_container(&e),
    };
    let id = match engine.container_create(&opts) {
        Ok(r) => {
            for w in &r.warnings {
                eprintln!("{w}");
            }
            r.id
        }
        Err(e) => return fail_container(&e),
    };
    if a.detach {
        return match engine.container_start(&id, None) {
            Ok(_) => {
                println!("{id}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                if a.flags.rm {
                    let _ = engine.container_remove(
                        &id,
                        &RemoveOptions {
                            force: true,
                            ..Default::default()
                        },
                    );
                }
                fail_container(&e)
            }
        };
    }
    let want = |s: &str| a.attach.is_empty() || a.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    let stdin_attached = a.flags.interactive && want("stdin");
    // Podman puts the terminal in raw mode for any -t session.
    let _raw = a.flags.tty.then(RawTerminal::enter);
    let resize = forward_signals(storage, &id, a.sig_proxy && !a.flags.tty, a.flags.tty);
    let streams = AttachStreams {
        stdin: stdin_attached.then(|| Box::new(std::io::stdin()) as Box<dyn std::io::Read + Send>),
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
        attach_stdout: want("stdout"),
        attach_stderr: want("stderr"),
        detach_keys: if stdin_attached { keys } else { Vec::new() },
        resize,
        initial_size: if a.flags.tty { terminal_size() } else { None },
    };
    match engine.container_start(&id, Some(streams)) {
        Ok(Some(end)) => {
            drop(_raw);
            attached_exit(end)
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            drop(_raw);
            if a.flags.rm {
                let _ = engine.container_remove(
                    &id,
                    &RemoveOptions {
                        force: true,
                        ..Default::default()
                    },
                );
            }
            fail_container(&e)
        }
    }
}

/// `podman-rs start`
pub fn start(a: StartArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    if a.names.is_empty() {
        eprintln!("Error: start requires at least one argument");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    if a.attach {
        if a.names.len() > 1 {
            eprintln!("Error: you cannot start and attach multiple containers at once");
            return ExitCode::from(crate::EXIT_ENGINE);
        }
        let keys = match detach_keys(a.detach_keys.as_deref()) {
            Ok(k) => k,
            Err(e) => return fail_container(&e),
        };
        let id = match engine.container_id(&a.names[0]) {
            Ok(id) => id,
            Err(e) => return fail_container(&e),
        };
        let resize = forward_signals(storage, &id, a.sig_proxy.unwrap_or(true), false);
        let streams = AttachStreams {
            stdin: a
                .interactive
                .then(|| Box::new(std::io::stdin()) as Box<dyn std::io::Read + Send>),
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
            attach_stdout: true,
            attach_stderr: true,
            detach_keys: if a.interactive { keys } else { Vec::new() },
            resize,
            initial_size: None,
        };
        // Podman 4.3.1 wraps start failures and exits 125 (even for a
        // command that cannot be run; only `run` gives 126/127).
        return match engine.container_start(&id, Some(streams)) {
            Ok(Some(end)) => attached_exit(end),
            Ok(None) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: unable to start container {id}: {e}");
                ExitCode::from(crate::EXIT_ENGINE)
            }
        };
    }
    let mut code = ExitCode::SUCCESS;
    for n in &a.names {
        match engine.container_start(n, None) {
            Ok(_) => println!("{n}"),
            Err(e) => {
                if e.is_no_such_container() {
                    eprintln!("Error: {e}");
                } else {
                    let id = engine.container_id(n).unwrap_or_else(|_| n.clone());
                    eprintln!("Error: unable to start container {id:?}: {e}");
                }
                code = ExitCode::from(crate::EXIT_ENGINE);
            }
        }
    }
    code
}

/// `podman-rs init`: creates containers in the runtime without starting
/// them. Prints each name as given (ids with `--all`/`--latest`), then the
/// errors, as Podman 4.3.1; with `--all`, containers already created in the
/// runtime (initialized, running) are not errors.
pub fn init(a: InitArgs, storage: &StorageOptions) -> ExitCode {
    if a.all && !a.names.is_empty() {
        eprintln!("Error: no arguments are needed with --all");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    if a.latest && !a.names.is_empty() {
        eprintln!("Error: --latest and containers cannot be used together");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    if a.all && a.latest {
        eprintln!("Error: --all and --latest cannot be used together");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    let (engine, t) = match open_targets(storage, &a.names, a.all, a.latest, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let mut errors = Vec::new();
    for n in &t {
        match engine.container_init(n) {
            Ok(_) => println!("{n}"),
            Err(e) if a.all && e.is_already_created() => println!("{n}"),
            Err(e) => errors.push(e),
        }
    }
    // Podman prints the errors after the names and exits 125 for any.
    for e in &errors {
        eprintln!("Error: {e}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_ENGINE)
    }
}

/// Names of the verbs' targets: given ones, or all (`--all`) running ones.
fn targets(
    engine: &LocalEngine,
    names: &[String],
    all: bool,
    latest: bool,
    running_only: bool,
) -> Result<Vec<String>, ExitCode> {
    if all || latest {
        let list = engine
            .container_list(&ListOptions {
                all: !running_only,
                last: latest.then_some(1),
                ..Default::default()
            })
            .map_err(|e| fail_container(&e))?;
        return Ok(list.into_iter().map(|c| c.id).collect());
    }
    if names.is_empty() {
        eprintln!("Error: you must provide at least one name or id");
        return Err(ExitCode::from(crate::EXIT_ENGINE));
    }
    Ok(names.to_vec())
}

/// `--latest` for verbs that also take names: the newest container's id.
fn latest_id(engine: &LocalEngine) -> Option<String> {
    targets(engine, &[], false, true, false)
        .ok()?
        .into_iter()
        .next()
}

/// Opens the engine and resolves a verb's targets (see [`targets`]).
fn open_targets(
    storage: &StorageOptions,
    names: &[String],
    all: bool,
    latest: bool,
    running_only: bool,
) -> Result<(LocalEngine, Vec<String>), ExitCode> {
    let engine = open(storage)?;
    let t = targets(&engine, names, all, latest, running_only)?;
    Ok((engine, t))
}

/// Runs `f` on every target; prints each name as Podman does; the last
/// error's code wins.
fn each(
    targets: &[String],
    ignore_missing: bool,
    mut f: impl FnMut(&str) -> Result<(), ContainerError>,
) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    for t in targets {
        match f(t) {
            Ok(()) => println!("{t}"),
            Err(e) if ignore_missing && e.is_no_such_container() => {}
            Err(e) => {
                eprintln!("Error: {e}");
                code = ExitCode::from(e.exit_code());
            }
        }
    }
    code
}

/// `podman-rs stop`
pub fn stop(a: StopArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, a.latest, true) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, a.ignore, |n| {
        engine.container_stop(n, a.time).map(|_| ())
    })
}

/// `podman-rs kill`
pub fn kill(a: KillArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, false, true) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, false, |n| {
        engine.container_kill(n, &a.signal).map(|_| ())
    })
}

/// `podman-rs restart`
pub fn restart(a: StopArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, a.latest, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, a.ignore, |n| {
        engine.container_restart(n, a.time).map(|_| ())
    })
}

/// `podman-rs rm`
pub fn rm(a: RmArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, false, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let opts = RemoveOptions {
        force: a.force,
        volumes: a.volumes,
        depend: a.depend,
        ignore: a.ignore,
        timeout: a.time,
    };
    let mut code = ExitCode::SUCCESS;
    for n in &t {
        match engine.container_remove(n, &opts) {
            Ok(_) => println!("{n}"),
            Err(e) if a.ignore && e.is_no_such_container() => {}
            Err(e) => {
                eprintln!("Error: {e}");
                // Podman: a missing container is exit code 1.
                code = if e.is_no_such_container() {
                    ExitCode::from(1)
                } else {
                    ExitCode::from(e.exit_code())
                };
            }
        }
    }
    code
}

/// `ps` row values for Go templates (Podman's `psReporter` fields).
fn ps_value(c: &podman_rs_engine::container::ListContainer, no_trunc: bool) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.id.chars().take(12).collect()
    };
    let command = c.command.join(" ");
    let command_short = if !no_trunc && command.chars().count() > 20 {
        command.chars().take(17).collect::<String>() + "..."
    } else {
        command.clone()
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("ID".into(), Value::String(id));
        o.insert("Command".into(), Value::String(command_short));
        o.insert("Names".into(), Value::String(c.names.join(",")));
        o.insert("CreatedHuman".into(), Value::String(c.created_at.clone()));
        o.insert("RunningFor".into(), Value::String(c.created_at.clone()));
        o.insert("CreatedAt".into(), Value::String(c.created_at.clone()));
        o.insert("Ports".into(), Value::String(String::new()));
        o.insert("Status".into(), Value::String(c.status.clone()));
        // Podman 4.3's psReporter.State() is the human status, as Status.
        o.insert("State".into(), Value::String(c.status.clone()));
        o.insert(
            "Labels".into(),
            Value::String(
                c.labels
                    .as_ref()
                    .map(|l| {
                        l.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default(),
            ),
        );
        o.insert(
            "Size".into(),
            Value::String(
                c.size
                    .map(|s| {
                        format!(
                            "{} (virtual {})",
                            crate::image::human_size(s.rw_size),
                            crate::image::human_size(s.root_fs_size + s.rw_size)
                        )
                    })
                    .unwrap_or_default(),
            ),
        );
        o.insert("Networks".into(), Value::String(c.networks.join(",")));
        o.insert("Mounts".into(), Value::String(c.mounts.join(",")));
        o.insert("Pod".into(), Value::String(c.pod.clone()));
        o.insert("PodName".into(), Value::String(c.pod_name.clone()));
    }
    v
}

/// `ps`'s default table (the cells its default template gives).
fn default_ps_table(values: &[Value], size: bool) -> String {
    let mut fields = vec![
        "ID",
        "Image",
        "Command",
        "CreatedHuman",
        "Status",
        "Ports",
        "Names",
    ];
    if size {
        fields.push("Size");
    }
    let mut rows: Vec<Vec<String>> = vec![fields.iter().map(|f| ps_header(f)).collect()];
    for v in values {
        rows.push(
            fields
                .iter()
                .map(|f| {
                    v.get(*f)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
        );
    }
    crate::format::table(&rows)
}

fn ps_header(field: &str) -> String {
    match field {
        "ID" | "Id" => "CONTAINER ID".into(),
        "CreatedHuman" | "RunningFor" | "CreatedAt" | "Created" => "CREATED".into(),
        "Names" => "NAMES".into(),
        "PodName" => "POD NAME".into(),
        "ExitCode" => "EXIT CODE".into(),
        other => other.to_uppercase(),
    }
}

/// Applies `ps --filter` (id, name, status, label, exited, ancestor).
fn ps_filter(
    list: Vec<podman_rs_engine::container::ListContainer>,
    filters: &[String],
) -> Result<Vec<podman_rs_engine::container::ListContainer>, String> {
    let mut parsed: Vec<(String, String)> = Vec::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| format!("invalid filter {f:?}"))?;
        if !matches!(
            k,
            "id" | "name" | "status" | "label" | "exited" | "ancestor" | "before" | "since"
        ) {
            return Err(format!("{k} is an invalid filter"));
        }
        parsed.push((k.to_string(), v.to_string()));
    }
    let matches_one = |c: &podman_rs_engine::container::ListContainer, k: &str, v: &str| -> bool {
        match k {
            "id" => c.id.starts_with(v),
            "name" => c.names.iter().any(|n| n.contains(v)),
            "status" => c.state == v,
            "exited" => c.exited && v.parse::<i32>().is_ok_and(|n| n == c.exit_code),
            "label" => {
                let labels = c.labels.clone().unwrap_or_default();
                match v.split_once('=') {
                    Some((lk, lv)) => labels.get(lk).is_some_and(|x| x == lv),
                    None => labels.contains_key(v),
                }
            }
            "ancestor" => c.image.contains(v) || c.image_id.starts_with(v),
            _ => true,
        }
    };
    // Same key repeated: OR; different keys: AND (as Podman).
    Ok(list
        .into_iter()
        .filter(|c| {
            let keys: std::collections::BTreeSet<&str> =
                parsed.iter().map(|(k, _)| k.as_str()).collect();
            keys.iter().all(|k| {
                parsed
                    .iter()
                    .filter(|(pk, _)| pk == k)
                    .any(|(_, v)| matches_one(c, k, v))
            })
        })
        .collect())
}

/// `podman-rs ps`
pub fn ps(a: PsArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let last = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0).map(|n| n as usize)
    };
    let list = match engine.container_list(&ListOptions {
        all: a.all,
        last,
        filters: a.filter.clone(),
        size: a.size,
        external: a.external,
    }) {
        Ok(l) => l,
        Err(e) => return fail_container(&e),
    };
    let mut list = match ps_filter(list, &a.filter) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(crate::EXIT_ENGINE);
        }
    };
    match a.sort.as_str() {
        // Podman 4.3 lists oldest first (the engine returns newest first).
        "created" => list.sort_by_key(|c| c.created_ns),
        "runningfor" => {}
        "id" => list.sort_by(|x, y| x.id.cmp(&y.id)),
        "names" => list.sort_by(|x, y| x.names.cmp(&y.names)),
        "image" => list.sort_by(|x, y| x.image.cmp(&y.image)),
        "command" => list.sort_by(|x, y| x.command.cmp(&y.command)),
        "status" => list.sort_by(|x, y| x.status.cmp(&y.status)),
        "size" => list.sort_by_key(|c| c.size.map(|s| s.rw_size).unwrap_or(0)),
        other => {
            eprintln!("Error: invalid option for --sort, options are: command, created, id, image, names, runningfor, size, or status: {other}");
            return ExitCode::from(crate::EXIT_ENGINE);
        }
    }
    let out = if a.quiet {
        list.iter()
            .map(|c| {
                if a.no_trunc {
                    c.id.clone()
                } else {
                    c.id.chars().take(12).collect()
                }
            })
            .map(|s| s + "\n")
            .collect::<String>()
    } else if a.format.as_deref() == Some("json") {
        match to_json_indent(&list, "  ") {
            Ok(s) => s + "\n",
            Err(e) => return crate::image::fail(e),
        }
    } else {
        let default = if a.size {
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}"
        } else {
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
        };
        let format = a.format.clone().unwrap_or_else(|| default.into());
        let values: Vec<Value> = list.iter().map(|c| ps_value(c, a.no_trunc)).collect();
        let rendered = if a.format.is_none() {
            // The default table without the template engine: same cells,
            // ~10x cheaper with a thousand containers.
            Ok(default_ps_table(&values, a.size))
        } else {
            render_list(&format, &values, &ps_header)
        };
        match rendered {
            Ok(s) if a.noheading && format.starts_with("table") => s
                .split_once('\n')
                .map(|(_, rest)| rest.to_string())
                .unwrap_or_default(),
            Ok(s) => s,
            Err(e) => return crate::image::fail(e),
        }
    };
    crate::format::emit(&out);
    ExitCode::SUCCESS
}

/// Fields of container inspect that Go holds as maps or slices: JSON has
/// `null` for an empty one, but a template prints a nil map as `map[]`
/// and a nil slice as `[]` (checked with Podman 4.3.1; `<nil>` is only for
/// pointers and interfaces such as `Config.OnBuild`).
const GO_NIL_MAPS: &[&[&str]] = &[
    &["Config", "Labels"],
    &["Config", "Volumes"],
    &["HostConfig", "LogConfig", "Config"],
];
const GO_NIL_SLICES: &[&[&str]] = &[&["HostConfig", "Links"]];

fn go_typed_nils(v: &mut Value) {
    let set = |v: &mut Value, path: &[&str], empty: Value| {
        let mut cur = v;
        for k in path {
            match cur.get_mut(*k) {
                Some(next) => cur = next,
                None => return,
            }
        }
        if cur.is_null() {
            *cur = empty;
        }
    };
    for p in GO_NIL_MAPS {
        set(v, p, Value::Object(Default::default()));
    }
    for p in GO_NIL_SLICES {
        set(v, p, Value::Array(Vec::new()));
    }
}

/// `podman-rs inspect` (containers and images) / `container inspect`.
pub fn inspect(a: InspectArgs, storage: &StorageOptions) -> ExitCode {
    use podman_rs_engine::interface::ImageEngine;
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut names = a.names.clone();
    if a.latest {
        names.extend(latest_id(&engine));
    }
    if names.is_empty() {
        eprintln!("Error: no names or ids specified");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    let mut values = Vec::new();
    let mut code = ExitCode::SUCCESS;
    let mut errors = Vec::new();
    for n in &names {
        let as_container = if a.kind == "image" {
            None
        } else {
            engine.container_inspect(n, a.size).ok()
        };
        if let Some(mut v) = as_container {
            if a.format.as_deref().is_some_and(|f| f != "json") {
                go_typed_nils(&mut v);
            }
            values.push(v);
            continue;
        }
        if a.kind != "container" {
            if let Some(Ok(img)) = engine.inspect(std::slice::from_ref(n)).into_iter().next() {
                values.push(serde_json::to_value(img).unwrap_or(Value::Null));
                continue;
            }
        }
        let what = match a.kind.as_str() {
            "container" => format!("no such container {n}"),
            "image" => format!("no such image {n}"),
            _ => format!("no such object: \"{n}\""),
        };
        errors.push(what);
        code = ExitCode::from(crate::EXIT_ENGINE);
    }
    let out = match a.format.as_deref() {
        None | Some("json") => to_json_indent(&values, "    ").map(|s| s + "\n"),
        Some(t) => values
            .iter()
            .map(|v| render(t, v))
            .collect::<Result<String>>(),
    };
    match out {
        Ok(s) => {
            if !(values.is_empty() && a.format.is_some()) {
                crate::format::emit(&s);
            }
        }
        Err(e) => return crate::image::fail(e),
    }
    for e in errors {
        eprintln!("Error: {e}");
    }
    code
}

/// `podman-rs logs`
pub fn logs(a: LogsArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut names = a.containers.clone();
    if a.latest {
        names.extend(latest_id(&engine));
    }
    if names.is_empty() {
        eprintln!("Error: specify at least one container name or ID to log");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    let opts = LogsOptions {
        follow: a.follow,
        since: a.since,
        until: a.until,
        tail: a.tail,
        timestamps: a.timestamps,
        names: a.names,
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let r = engine.container_logs(&names, &opts, &mut out, &mut err);
    let _ = out.flush();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_container(&e),
    }
}

/// Parses `--interval` (Go duration or milliseconds).
fn parse_interval(s: &str) -> Option<std::time::Duration> {
    if let Ok(ms) = s.parse::<u64>() {
        return Some(std::time::Duration::from_millis(ms));
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(std::time::Duration::from_secs_f64(secs))
}

/// `podman-rs wait`
pub fn wait(a: WaitArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    if a.names.is_empty() {
        eprintln!("Error: you must provide at least one container name or id");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    let interval = match a.interval.as_deref().map(parse_interval) {
        Some(None) => {
            eprintln!(
                "Error: invalid interval {:?}",
                a.interval.unwrap_or_default()
            );
            return ExitCode::from(crate::EXIT_ENGINE);
        }
        Some(Some(d)) => Some(d),
        None => None,
    };
    let opts = WaitOptions {
        conditions: a.condition.clone(),
        interval,
        ignore: a.ignore,
    };
    let mut code = ExitCode::SUCCESS;
    for n in &a.names {
        match engine.container_wait(n, &opts) {
            Ok(c) => println!("{c}"),
            Err(e) if a.ignore && e.is_no_such_container() => {
                println!("-1")
            }
            Err(e) => {
                eprintln!("Error: {e}");
                code = ExitCode::from(e.exit_code());
            }
        }
    }
    code
}

/// `podman-rs attach`
pub fn attach(a: AttachArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let keys = match detach_keys(a.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => return fail_container(&e),
    };
    let id = match engine.container_id(&a.name) {
        Ok(id) => id,
        Err(e) => return fail_container(&e),
    };
    let tty = engine
        .container_inspect(&id, false)
        .ok()
        .and_then(|v| v.pointer("/Config/Tty").and_then(Value::as_bool))
        .unwrap_or(false);
    let stdin = !a.no_stdin;
    let _raw = (tty && stdin).then(RawTerminal::enter);
    let resize = forward_signals(storage, &id, a.sig_proxy && !tty, tty);
    let streams = AttachStreams {
        stdin: stdin.then(|| Box::new(std::io::stdin()) as Box<dyn std::io::Read + Send>),
        stdout: Box::new(std::io::stdout()),
        stderr: Box::new(std::io::stderr()),
        attach_stdout: true,
        attach_stderr: true,
        detach_keys: keys,
        resize,
        initial_size: if tty { terminal_size() } else { None },
    };
    match engine.container_attach(&id, streams) {
        Ok(end) => {
            drop(_raw);
            attached_exit(end)
        }
        Err(e) => fail_container(&e),
    }
}

/// `podman-rs exec`
pub fn exec(a: ExecArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let opts = ExecOptions {
        command: a.command.clone(),
        interactive: a.interactive,
        tty: a.tty,
        detach: a.detach,
        env: a.env.clone(),
        env_file: a.env_file.clone(),
        caller_env: caller_env(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        privileged: a.privileged,
        detach_keys: a.detach_keys.clone(),
        preserve_fds: 0,
        tty_size: if a.tty { terminal_size() } else { None },
    };
    let _raw = a.tty.then(RawTerminal::enter);
    match engine.container_exec(&a.name, &opts) {
        Ok(ExecEnd::Exited(code)) => {
            drop(_raw);
            exit_i32(code)
        }
        Ok(ExecEnd::Detached(id)) => {
            println!("{id}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            drop(_raw);
            fail_container(&e)
        }
    }
}

/// `podman-rs pause`
pub fn pause(a: NamesArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, false, true) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, false, |n| engine.container_pause(n).map(|_| ()))
}

/// `podman-rs unpause`
pub fn unpause(a: NamesArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, false, true) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, false, |n| engine.container_unpause(n).map(|_| ()))
}

/// `podman-rs rename`
pub fn rename(a: RenameArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.container_rename(&a.name, &a.new_name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_container(&e),
    }
}

/// `podman-rs container exists`: 0 if it exists, 1 if not.
pub fn exists(a: ExistsArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.container_exists(&a.name) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => fail_container(&e),
    }
}

/// `podman-rs container prune`
pub fn prune(a: PruneArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    if !a.force {
        // Podman reads the answer from stdin, terminal or not; none is no.
        print!("WARNING! This will remove all non running containers.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return ExitCode::SUCCESS;
        }
    }
    match engine.container_prune() {
        Ok(ids) => {
            for id in ids {
                println!("{id}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail_container(&e),
    }
}

/// `podman-rs port CONTAINER [PRIVATE_PORT[/PROTO]]` / `port --all`: the
/// published ports as Podman prints them (`80/tcp -> 0.0.0.0:8080`; with
/// a port given, only `0.0.0.0:8080`; with --all, each container's id first).
pub fn port(a: NamesArgs, storage: &StorageOptions) -> ExitCode {
    let (names, filter) = if !a.all && a.names.len() == 2 {
        (vec![a.names[0].clone()], Some(a.names[1].clone()))
    } else {
        (a.names.clone(), None)
    };
    let filter = filter.map(|f| {
        if f.contains('/') {
            f
        } else {
            format!("{f}/tcp")
        }
    });
    let (engine, t) = match open_targets(storage, &names, a.all, false, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    for n in &t {
        let v = match engine.container_inspect(n, false) {
            Ok(v) => v,
            Err(e) => return fail_container(&e),
        };
        let ports = v["HostConfig"]["PortBindings"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        // --all prefixes each line with the short id and a tab.
        let prefix = if a.all {
            let id = v["Id"].as_str().unwrap_or_default();
            format!("{}\t", &id[..id.len().min(12)])
        } else {
            String::new()
        };
        for (key, binds) in &ports {
            if filter.as_ref().is_some_and(|f| f != key) {
                continue;
            }
            for b in binds.as_array().into_iter().flatten() {
                let ip = match b["HostIp"].as_str().unwrap_or_default() {
                    "" => "0.0.0.0",
                    ip => ip,
                };
                let host = format!("{ip}:{}", b["HostPort"].as_str().unwrap_or_default());
                if filter.is_some() {
                    println!("{prefix}{host}");
                } else {
                    println!("{prefix}{key} -> {host}");
                }
            }
        }
    }
    ExitCode::SUCCESS
}

/// `podman-rs container cleanup`
pub fn cleanup(a: NamesArgs, storage: &StorageOptions) -> ExitCode {
    let (engine, t) = match open_targets(storage, &a.names, a.all, false, false) {
        Ok(x) => x,
        Err(c) => return c,
    };
    each(&t, false, |n| engine.container_cleanup(n).map(|_| ()))
}

/// The hidden `container-monitor` verb.
pub fn monitor(a: MonitorArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match LocalEngine::open(storage.clone()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("monitor: {e}");
            return ExitCode::from(1);
        }
    };
    exit_i32(podman_rs_engine::container::local::run_monitor(
        &engine,
        &a.id,
        a.wait_start,
        a.init_only,
    ))
}
