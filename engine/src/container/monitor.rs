//! The per-container monitor: the job conmon does for Podman.
//!
//! `podman-rs container-monitor ID` (a hidden verb of the same binary) is
//! spawned by `start`/`run`. It leaves the caller's session, becomes the
//! child subreaper, prepares the container (root filesystem, generated
//! files, network namespace, OCI bundle), creates and starts it with the
//! runtime — so the container's init is its child — then holds the
//! container's stdio (pipes, or the pty master with `-t`): it writes the
//! log, serves attach clients on a Unix socket, reaps the init, records the
//! exit code / finish time / OOM kill, applies the restart policy, and with
//! `--rm` removes the container.
//!
//! Handshake with the spawning command, over the monitor's stdin/stdout:
//! with `--wait-start` the monitor writes `listening\n` once its attach
//! socket listens, before the runtime creates the container; the caller
//! connects to it, then writes `start\n` (EOF: start anyway), which the
//! monitor reads once the container is created — so the caller sees all
//! output, and no round trip waits on create. Then `started PID\n` or
//! `error CODE MESSAGE\n`.
//!
//! With `--init-only` (`podman-rs init`) the monitor prepares and creates
//! the container, records it `initialized` with the init's pid, answers
//! `initialized PID\n` and closes the handshake; it then waits, serving the
//! attach socket, until a client sends a start request (`start`, see
//! [`super::attach::request_start`]) or the created process is killed
//! (`stop`/`rm` of an initialized container).
//!
//! The monitor never takes the container lock: the command that spawned it
//! holds it, and every state change it makes is one atomic DB update.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use podman_rs_runtime::{Builtin, CreateOptions as RtCreate, External, Runtime};

use super::attach;
use super::config::{ContainerConfig, ContainerPaths, NetworkMode};
use super::error::ContainerError;
use super::layout::Layout;
use super::logs::{local_now, LogWriter, Stream};
use super::rootfs;
use crate::store::{ContainerStatus, Store};

/// How the monitor was asked to run.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    pub id: String,
    /// Wait for `start\n` on stdin after creating (an attaching caller).
    pub wait_start: bool,
    /// Create, then wait for a start request on the attach socket (`init`).
    pub init_only: bool,
    /// The storage driver of the store.
    pub driver: String,
}

/// Unix nanoseconds now.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// The runtime a container uses.
pub fn runtime_for(layout: &Layout, cfg: &ContainerConfig) -> Box<dyn Runtime> {
    match &cfg.runtime {
        None => Box::new(Builtin::new(layout.runtime_root())),
        Some(bin) => {
            let name = bin
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "external".into());
            Box::new(External::new(
                bin.clone(),
                Some(layout.runroot().join(format!("runtime-{name}"))),
            ))
        }
    }
}

/// Start time of a process (clock ticks after boot), to tell a recycled
/// pid from the process recorded.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start
    // after the last ')'. starttime is field 22, the 20th after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process recorded as (pid, start time) is still alive.
pub fn process_alive(pid: i32, start: u64) -> bool {
    pid > 0 && process_start_time(pid).is_some_and(|s| start == 0 || s == start)
}

/// The `--init` binary: catatonit where installed (what Podman uses),
/// else our own binary (it acts as init when called `podman-init`) if it
/// is statically linked — a dynamic one could not run in most images.
fn own_binary() -> Option<PathBuf> {
    for p in ["/usr/libexec/podman/catatonit", "/usr/bin/catatonit"] {
        let p = Path::new(p);
        if p.is_file() {
            return Some(p.to_path_buf());
        }
    }
    let arg0 = std::env::args_os().next()?;
    let ours = fs::canonicalize(arg0).ok()?;
    is_static_elf(&ours).then_some(ours)
}

/// Whether an ELF file has no program interpreter (PT_INTERP).
fn is_static_elf(path: &Path) -> bool {
    let Ok(data) = fs::read(path) else {
        return false;
    };
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        data.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        data.get(o..o + 8).map(|b| {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            u64::from_le_bytes(a)
        })
    };
    // 64-bit little-endian ELF only (the hosts we build for).
    if data.get(0..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..phnum as usize).all(|i| {
        let off = phoff as usize + i * phentsize as usize;
        u32_at(off) != Some(3) // PT_INTERP
    })
}

/// The monitor's `main`: returns the monitor process's exit code.
pub fn run(store: &Store, layout: &Layout, opts: &MonitorOptions) -> i32 {
    // Leave the caller's session and process group: a Ctrl-C or hangup of
    // the caller's terminal must not reach us.
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let mut sync = Sync::take();
    let signals = match block_signals() {
        Ok(s) => s,
        Err(e) => {
            sync.error(125, &format!("monitor: blocking signals: {e}"));
            return 1;
        }
    };
    let mut first = true;
    loop {
        let rec = match store.container(&opts.id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                sync.error(125, &format!("no container with ID {} found", opts.id));
                return 1;
            }
            Err(e) => {
                sync.error(125, &e.to_string());
                return 1;
            }
        };
        let cfg: ContainerConfig = match serde_json::from_str(&rec.config) {
            Ok(c) => c,
            Err(e) => {
                sync.error(125, &format!("container {}: bad config: {e}", opts.id));
                return 1;
            }
        };
        let mut mon = Monitor {
            store,
            layout,
            cfg,
            driver: opts.driver.clone(),
            runtime: None,
            netns: None,
            slirp: None,
            pasta: None,
            holder: None,
            clients: Vec::new(),
            listener: None,
            log: None,
            pid: 0,
            requester: None,
            cgroup_path: None,
        };
        let mode = match (first, opts.init_only, opts.wait_start) {
            (true, true, _) => StartMode::Init,
            (true, false, true) => StartMode::Attach,
            _ => StartMode::Now,
        };
        let started = mon.start(&mut sync, mode, &signals);
        let outcome = match started {
            Ok(Begin::Running(io)) => mon.supervise(io, &signals),
            Ok(Begin::Ended(outcome)) => outcome,
            Err(e) => {
                let code = e.exit_code();
                mon.record_failure(&e);
                // The spawning command (or the one asking an initialized
                // container to start) gets the final text and the code.
                let text = e.to_string();
                sync.error(code, &text);
                mon.reply_start_error(code, &text);
                return 1;
            }
        };
        first = false;
        let restart = mon.finish(outcome);
        if !restart {
            return 0;
        }
        // Podman waits a little between restarts (backoff); a short fixed
        // delay keeps a crash loop from spinning.
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The handshake channel to the spawning command (stdin/stdout of the
/// monitor, moved off fds 0 and 1 so the container cannot inherit them).
struct Sync {
    out: Option<File>,
    input: Option<io::BufReader<File>>,
}

impl Sync {
    fn take() -> Sync {
        let out = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(File::from);
        let input = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| io::BufReader::new(File::from(fd)));
        // 0 and 1 become /dev/null until the container's stdio replaces
        // them; 2 stays the monitor's log.
        if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
            for fd in 0..2 {
                let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
            }
        }
        Sync { out, input }
    }

    fn send(&mut self, line: &str) {
        if let Some(out) = &mut self.out {
            if out.write_all(line.as_bytes()).is_err() {
                self.out = None;
            }
        }
    }

    fn error(&mut self, code: u8, msg: &str) {
        let msg = msg.replace('\n', " ");
        self.send(&format!("error {code} {msg}\n"));
        self.out = None;
    }

    /// Waits for `start\n` (or EOF: the caller went away; start anyway).
    fn wait_start(&mut self) {
        if let Some(input) = &mut self.input {
            let mut line = String::new();
            let _ = input.read_line(&mut line);
        }
    }

    fn started(&mut self, pid: i32) {
        self.send(&format!("started {pid}\n"));
        self.close();
    }

    /// Ends the handshake (the caller stops reading).
    fn close(&mut self) {
        self.out = None;
        self.input = None;
    }
}

/// When the monitor starts the container it created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartMode {
    /// At once.
    Now,
    /// After `start\n` on stdin (the caller attaches in between).
    Attach,
    /// On a start request from an attach client (`init`, later `start`).
    Init,
}

/// How [`Monitor::start`] ended.
enum Begin {
    Running(ContainerIo),
    /// The created process died before anyone started it.
    Ended(Outcome),
}

/// The signals the monitor handles through its signalfd.
fn monitor_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        set.add(s);
    }
    set
}

/// Blocks [`monitor_signals`] and returns a signalfd reading them. (The
/// container's init cannot exit before `start`, so a SIGCHLD is never
/// lost while they are unblocked around the runtime's create.)
fn block_signals() -> nix::Result<SignalFd> {
    let set = monitor_signals();
    // Exactly these: whatever the spawning command had blocked is not ours.
    set.thread_set_mask()?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
}

/// The container's stdio as the monitor holds it.
enum ContainerIo {
    Pipes {
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        stdin: Option<OwnedFd>,
    },
    Pty {
        master: Option<OwnedFd>,
        /// The master is also the container's stdin (`-i -t`).
        stdin: bool,
    },
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: VecDeque<u8>,
    closed: bool,
}

/// How the container's init ended.
struct Outcome {
    exit_code: i32,
    oom_killed: bool,
}

struct Monitor<'a> {
    store: &'a Store,
    layout: &'a Layout,
    cfg: ContainerConfig,
    driver: String,
    runtime: Option<Box<dyn Runtime>>,
    netns: Option<PathBuf>,
    /// slirp4netns serving the container's network namespace.
    slirp: Option<super::slirp::Slirp>,
    /// pasta serving the container's network namespace.
    pasta: Option<super::pasta::Pasta>,
    /// Holds the container's own user namespace (`--uidmap`, keep-id…).
    holder: Option<podman_rs_namespaces::UsernsHolder>,
    clients: Vec<Client>,
    listener: Option<UnixListener>,
    log: Option<LogWriter>,
    pid: i32,
    /// The attach client that asked to start the container (init mode).
    requester: Option<usize>,
    /// The container's cgroup, as the spec gave it to the runtime.
    cgroup_path: Option<PathBuf>,
}

/// Output buffered for a slow attach client beyond this is dropped (the
/// log has it all).
const CLIENT_BUFFER_LIMIT: usize = 4 << 20;

impl Monitor<'_> {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    fn update(&self, f: impl FnOnce(&mut crate::store::ContainerState)) {
        let id = self.id();
        match self.store.update_container_state(id, f) {
            // Removed meanwhile (rm -f): nothing to record.
            Ok(()) | Err(crate::store::StoreError::ContainerNotFound(_)) => {}
            Err(e) => tracing::warn!("container {id}: recording state: {e}"),
        }
    }

    fn record_failure(&mut self, e: &ContainerError) {
        self.release();
        let msg = e.to_string();
        // Podman 4.3.1 leaves a container whose start failed (a command
        // that cannot be run included) "created", exit code 0, no times:
        // nothing ran. The error goes to the caller, not the record.
        tracing::debug!("container {}: start failed: {msg}", self.cfg.id);
        self.update(|st| {
            st.status = ContainerStatus::Created;
            st.pid = 0;
            st.monitor_pid = 0;
            st.mounted = false;
        });
    }

    /// Sends `frame` to attach client `i` and waits (a little) until it is
    /// written.
    fn send_to(&mut self, i: usize, kind: u8, data: &[u8]) {
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        c.outbuf.extend(attach::frame(kind, data));
        let deadline = Instant::now() + Duration::from_secs(2);
        while !c.closed && !c.outbuf.is_empty() && Instant::now() < deadline {
            flush_client(c);
            if !c.outbuf.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Tells the client that asked for the start why it failed.
    fn reply_start_error(&mut self, code: u8, msg: &str) {
        if let Some(i) = self.requester.take() {
            let mut data = vec![code];
            data.extend_from_slice(msg.as_bytes());
            self.send_to(i, attach::START_ERROR, &data);
        }
    }

    /// Init mode: serves attach clients until one asks for the start
    /// (returns true), or the created process dies (false, with its exit
    /// code in `exit`).
    fn wait_start_request(
        &mut self,
        io: &mut ContainerIo,
        signals: &SignalFd,
        exit: &mut Option<i32>,
    ) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(ready) = self.wait_ready(io, signals, false) else {
                continue;
            };
            for (src, revents) in ready {
                match src {
                    Source::Signal => {
                        while let Ok(Some(info)) = signals.read_signal() {
                            if info.ssi_signo == Signal::SIGCHLD as u32 {
                                if let Some(code) = self.reap() {
                                    *exit = Some(code);
                                }
                            }
                        }
                        if exit.is_some() {
                            return false;
                        }
                    }
                    Source::Listener => self.accept_clients(),
                    Source::Out(stream) => self.pump(io, stream, &mut buf),
                    Source::Client(i) => {
                        if self.client_event(i, revents, io) {
                            self.requester = Some(i);
                        }
                    }
                }
            }
            if self.requester.is_some() {
                return true;
            }
            // Indices stay valid while no start was asked for.
            self.clients.retain(|c| !c.closed);
        }
    }

    /// Prepares, creates and starts the container.
    fn start(
        &mut self,
        sync: &mut Sync,
        mode: StartMode,
        signals: &SignalFd,
    ) -> Result<Begin, ContainerError> {
        let id = self.cfg.id.clone();
        let me = std::process::id() as i32;
        let my_start = process_start_time(me).unwrap_or(0);
        self.update(|st| {
            st.status = ContainerStatus::Initialized;
            st.monitor_pid = me;
            st.monitor_start = my_start;
            st.error.clear();
        });
        // Keeps the cgroup migration lock warm until the runtime's create
        // (see podman_rs_cgroups::prime_migration).
        podman_rs_cgroups::prime_migration();
        tracing::debug!("monitor {id}: preparing");
        let own_netns = matches!(
            self.cfg.network,
            NetworkMode::Private
                | NetworkMode::None
                | NetworkMode::Slirp4netns(_)
                | NetworkMode::Pasta(_)
        );
        if self.cfg.userns.has_mappings() {
            // The engine creates the user namespace (and a network namespace
            // owned by it): the runtime joins both.
            let maps = podman_rs_namespaces::IdMappings {
                uid: self.cfg.userns.uid_map.clone(),
                gid: self.cfg.userns.gid_map.clone(),
            };
            self.holder = Some(
                podman_rs_namespaces::UsernsHolder::spawn(&maps, own_netns)
                    .map_err(|e| ContainerError::Other(format!("container {id}: {e}")))?,
            );
        }
        let userns_path = self.holder.as_ref().map(|h| h.userns_path());
        let holder_netns = self.holder.as_ref().and_then(|h| h.netns_path());
        // A network namespace of its own is made (a few ms of kernel work)
        // on a thread while the root filesystem is mounted.
        let netns_dir = self.layout.netns_dir();
        let make_netns = || {
            // A leftover of a crashed monitor is reused if still mounted.
            let _ = podman_rs_namespaces::remove_netns(netns_dir.join(&id));
            let made = match &holder_netns {
                Some(src) => podman_rs_namespaces::persist_netns(&netns_dir, &id, src),
                None => podman_rs_namespaces::create_netns_with_loopback(&netns_dir, &id),
            };
            made.map_err(|e| ContainerError::Other(format!("container {id}: {e}")))
        };
        let (rootfs, made_netns) = std::thread::scope(|s| {
            let job = own_netns.then(|| std::thread::Builder::new().spawn_scoped(s, make_netns));
            let rootfs = rootfs::mount(
                self.layout,
                self.store,
                &self.driver,
                &self.cfg,
                userns_path.as_deref(),
            );
            let made = match job {
                None => None,
                Some(Ok(h)) => Some(h.join().unwrap_or_else(|_| {
                    Err(ContainerError::Other(format!(
                        "container {id}: network namespace thread panicked"
                    )))
                })),
                Some(Err(_)) => Some(make_netns()),
            };
            (rootfs, made)
        });
        // Recorded before any error returns: release() removes it.
        let netns_err = match made_netns {
            Some(Ok(ns)) => {
                self.netns = Some(ns);
                None
            }
            Some(Err(e)) => Some(e),
            None => None,
        };
        let rootfs = rootfs?;
        if let Some(e) = netns_err {
            return Err(e);
        }
        // No `mounted` write: the monitor_pid recorded above already tells
        // cleanup that this start may have left a mount.
        tracing::debug!("monitor {id}: rootfs mounted");
        self.netns = match &self.cfg.network {
            NetworkMode::Private
            | NetworkMode::None
            | NetworkMode::Slirp4netns(_)
            | NetworkMode::Pasta(_) => self.netns.take(),
            NetworkMode::Host => None,
            NetworkMode::Path(p) => Some(p.clone()),
            NetworkMode::Container(other) => {
                let rec = self.store.lookup_container(other)?;
                if rec.state.pid <= 0 || rec.state.status != ContainerStatus::Running {
                    return Err(ContainerError::Other(format!(
                        "container {other} is not running: cannot join its network namespace"
                    )));
                }
                Some(PathBuf::from(format!("/proc/{}/ns/net", rec.state.pid)))
            }
        };
        let paths = ContainerPaths {
            rootfs: rootfs.clone(),
            bundle: self.layout.bundle(&id),
            userdata: self.layout.userdata(&id),
            netns: self.netns.clone(),
            // Our own binary, by the path we were started from (the
            // running image may be a detached read-only view of it, see
            // runtime::exe_guard); the spec binds it read-only.
            init_binary: self.cfg.init.then(own_binary).flatten(),
            userns: match &self.cfg.userns.mode {
                super::config::UsernsMode::Path(p) => Some(p.clone()),
                _ => userns_path.clone(),
            },
        };
        if let (NetworkMode::Slirp4netns(opts), Some(ns)) = (&self.cfg.network, &self.netns) {
            let opts = super::slirp::parse_options(opts).map_err(ContainerError::Other)?;
            self.slirp = Some(super::slirp::start(
                ns,
                &opts,
                &self.cfg.ports,
                &self.layout.run_dir(&id),
                &self.layout.slirp_socket(&id),
            )?);
        }
        if let (NetworkMode::Pasta(opts), Some(ns)) = (&self.cfg.network, &self.netns) {
            self.pasta = Some(super::pasta::start(
                ns,
                opts,
                &self.cfg.ports,
                &self.layout.run_dir(&id),
            )?);
        }
        tracing::debug!("monitor {id}: network namespace ready");
        // Again, closer to the runtime's create: keeps the lock warm when
        // the preparation took longer than a grace period.
        podman_rs_cgroups::prime_migration();
        let host = super::spec::HostInfo::detect();
        super::files::write_container_files(&self.cfg, &paths, &host)
            .map_err(|e| ContainerError::Other(format!("container {id}: {e}")))?;
        super::userns::chown_userdata_files(&self.cfg, &paths.userdata)?;
        let spec = super::spec::generate(&self.cfg, &paths, &host)
            .map_err(|e| ContainerError::Other(format!("container {id}: {e}")))?;
        self.cgroup_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
        fs::create_dir_all(&paths.bundle).map_err(ContainerError::io(
            &id,
            "creating",
            &paths.bundle,
        ))?;
        let config = paths.bundle.join("config.json");
        let json = serde_json::to_vec(&spec)
            .map_err(|e| ContainerError::Other(format!("container {id}: spec: {e}")))?;
        fs::write(&config, &json).map_err(ContainerError::io(&id, "writing", &config))?;
        // Kept after the bundle goes, for inspect (Podman's bundle is userdata).
        let _ = fs::write(self.layout.userdata(&id).join("config.json"), &json);

        tracing::debug!("monitor {id}: bundle written");
        if self.cfg.log.driver != "none" && self.cfg.log.driver != "passthrough" {
            self.log = Some(
                LogWriter::open(&self.cfg.log, &self.layout.log_path(&id))
                    .map_err(|e| ContainerError::Other(format!("container {id}: {e}")))?,
            );
        }
        self.listen()?;
        if mode == StartMode::Attach {
            // The caller connects while the runtime creates the container:
            // its connection and `start\n` are waiting when create is done.
            sync.send("listening\n");
        }

        let runtime = runtime_for(self.layout, &self.cfg);
        // A leftover runtime container of a crashed monitor is in the way.
        let _ = runtime.delete(&id, true);
        // The container's processes are forked during create and inherit
        // our signal mask: they must not start with SIGTERM & co blocked.
        let _ = SigSet::empty().thread_set_mask();
        let created = self.create_with_stdio(runtime.as_ref(), &paths.bundle);
        let _ = monitor_signals().thread_set_mask();
        let (io, console) = created?;
        let mut io = match console {
            Some(listener) => self.receive_pty(listener)?,
            None => io,
        };
        self.runtime = Some(runtime);
        tracing::debug!("monitor {id}: runtime created the container");
        let runtime = self.runtime.as_ref().map(|r| r.as_ref());
        let Some(runtime) = runtime else {
            return Err(ContainerError::Other("no runtime".into()));
        };
        // The pid is read while the init waits for start: once started, a
        // quick command may be gone before the runtime is asked, and its
        // exit would then never be matched (the monitor hung, "Up").
        let pid = runtime
            .state(&id)
            .map(|s| s.pid)
            .map_err(|e| ContainerError::Runtime(e.to_string()))?;
        if pid <= 0 {
            return Err(ContainerError::Runtime(format!(
                "container {id}: the runtime reports no process after create"
            )));
        }
        self.pid = pid;
        match mode {
            StartMode::Now => {}
            StartMode::Attach => {
                // The caller connected before writing `start\n` (see
                // "listening" above): accept it before starting.
                sync.wait_start();
                self.accept_clients();
            }
            StartMode::Init => {
                self.update(|st| {
                    st.status = ContainerStatus::Initialized;
                    st.pid = pid;
                });
                sync.send(&format!("initialized {pid}\n"));
                sync.close();
                tracing::debug!("monitor {id}: initialized, waiting for a start request");
                let mut exit = None;
                if !self.wait_start_request(&mut io, signals, &mut exit) {
                    return Ok(Begin::Ended(Outcome {
                        exit_code: exit.unwrap_or(137),
                        oom_killed: false,
                    }));
                }
            }
        }
        let Some(runtime) = self.runtime.as_ref().map(|r| r.as_ref()) else {
            return Err(ContainerError::Other("no runtime".into()));
        };
        runtime
            .start(&id)
            .map_err(|e| runtime_error(&self.cfg, &e.to_string()))?;
        self.update(|st| {
            st.status = ContainerStatus::Running;
            st.pid = pid;
            st.started_at = now_ns();
            st.exit_code = None;
            st.oom_killed = false;
        });
        tracing::debug!("monitor {id}: started, pid {pid}");
        sync.started(pid);
        if let Some(i) = self.requester.take() {
            self.send_to(i, attach::STARTED, &pid.to_be_bytes());
        }
        Ok(Begin::Running(io))
    }

    fn listen(&mut self) -> Result<(), ContainerError> {
        let id = self.cfg.id.clone();
        let sock = self.layout.attach_socket(&id);
        if let Some(dir) = sock.parent() {
            fs::create_dir_all(dir).map_err(ContainerError::io(&id, "creating", dir))?;
        }
        let _ = fs::remove_file(&sock);
        let listener =
            UnixListener::bind(&sock).map_err(ContainerError::io(&id, "binding", &sock))?;
        listener
            .set_nonblocking(true)
            .map_err(ContainerError::io(&id, "configuring", &sock))?;
        self.listener = Some(listener);
        Ok(())
    }

    /// Runs the runtime's create with the container's stdio on fds 0-2.
    fn create_with_stdio(
        &self,
        runtime: &dyn Runtime,
        bundle: &Path,
    ) -> Result<(ContainerIo, Option<UnixListener>), ContainerError> {
        let id = self.id().to_string();
        let ioerr = |what: &'static str| {
            let id = id.clone();
            move |e: nix::Error| ContainerError::Other(format!("container {id}: {what}: {e}"))
        };
        let mut opts = RtCreate {
            bundle: bundle.to_path_buf(),
            ..Default::default()
        };
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(ContainerError::io(&id, "opening", "/dev/null"))?;
        if self.cfg.tty {
            let path = self.layout.console_socket(&id);
            let _ = fs::remove_file(&path);
            let listener =
                UnixListener::bind(&path).map_err(ContainerError::io(&id, "binding", &path))?;
            opts.console_socket = Some(path);
            for fd in 0..2 {
                nix::unistd::dup2(null.as_raw_fd(), fd).map_err(ioerr("dup2"))?;
            }
            let created = runtime.create(&id, &opts);
            if created.is_err() {
                let _ = fs::remove_file(self.layout.console_socket(&id));
            }
            created.map_err(|e| runtime_error(&self.cfg, &e.to_string()))?;
            return Ok((
                ContainerIo::Pty {
                    master: None,
                    stdin: self.cfg.stdin,
                },
                Some(listener),
            ));
        }
        let (out_r, out_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ioerr("pipe"))?;
        let (err_r, err_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ioerr("pipe"))?;
        let stdin = if self.cfg.stdin {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ioerr("pipe"))?;
            nix::unistd::dup2(r.as_raw_fd(), 0).map_err(ioerr("dup2"))?;
            Some(w)
        } else {
            nix::unistd::dup2(null.as_raw_fd(), 0).map_err(ioerr("dup2"))?;
            None
        };
        let log = io::stderr().as_fd().try_clone_to_owned().ok();
        nix::unistd::dup2(out_w.as_raw_fd(), 1).map_err(ioerr("dup2"))?;
        nix::unistd::dup2(err_w.as_raw_fd(), 2).map_err(ioerr("dup2"))?;
        let created = runtime.create(&id, &opts);
        // Our own 0 and 1 go back to /dev/null and 2 to our log: only the
        // container holds the write ends now, so its exit gives us EOF.
        for fd in 0..2 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
        match &log {
            Some(l) => {
                let _ = nix::unistd::dup2(l.as_raw_fd(), 2);
            }
            None => {
                let _ = nix::unistd::dup2(null.as_raw_fd(), 2);
            }
        }
        drop(out_w);
        drop(err_w);
        created.map_err(|e| runtime_error(&self.cfg, &e.to_string()))?;
        for fd in [&out_r, &err_r] {
            set_nonblocking(fd.as_fd());
        }
        if let Some(w) = &stdin {
            set_nonblocking(w.as_fd());
        }
        Ok((
            ContainerIo::Pipes {
                stdout: Some(out_r),
                stderr: Some(err_r),
                stdin,
            },
            None,
        ))
    }

    /// Receives the pty master the runtime sent over the console socket.
    fn receive_pty(&self, listener: UnixListener) -> Result<ContainerIo, ContainerError> {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
        let id = self.id().to_string();
        let fail = |msg: String| ContainerError::Other(format!("container {id}: console: {msg}"));
        listener
            .set_nonblocking(true)
            .map_err(|e| fail(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(fail(format!("no connection from the runtime: {e}"))),
            }
        };
        stream
            .set_nonblocking(false)
            .map_err(|e| fail(e.to_string()))?;
        let mut buf = [0u8; 4096];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        rustix::net::recvmsg(
            &stream,
            &mut [io::IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .map_err(|e| fail(e.to_string()))?;
        let mut master: Option<OwnedFd> = None;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                for fd in fds {
                    if master.is_none() {
                        master = Some(fd);
                    }
                }
            }
        }
        let _ = fs::remove_file(self.layout.console_socket(&id));
        let master = master.ok_or_else(|| fail("the runtime sent no terminal".into()))?;
        set_nonblocking(master.as_fd());
        Ok(ContainerIo::Pty {
            master: Some(master),
            stdin: self.cfg.stdin,
        })
    }

    fn accept_clients(&mut self) {
        let Some(listener) = &self.listener else {
            return;
        };
        while let Ok((stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(true);
            self.clients.push(Client {
                stream,
                inbuf: Vec::new(),
                outbuf: VecDeque::new(),
                closed: false,
            });
        }
    }

    /// Queues a frame to every client.
    fn broadcast(&mut self, kind: u8, data: &[u8]) {
        let frame = attach::frame(kind, data);
        for c in &mut self.clients {
            if c.closed {
                continue;
            }
            if c.outbuf.len() + frame.len() > CLIENT_BUFFER_LIMIT {
                continue;
            }
            c.outbuf.extend(frame.iter().copied());
            flush_client(c);
        }
    }

    fn output(&mut self, stream: Stream, data: &[u8]) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(stream, data, local_now()) {
                tracing::warn!("container {}: log: {e}", self.cfg.id);
            }
        }
        let kind = match stream {
            Stream::Stdout => attach::STDOUT,
            Stream::Stderr => attach::STDERR,
        };
        self.broadcast(kind, data);
    }

    /// The event loop: until the container's init exits.
    fn supervise(&mut self, mut io: ContainerIo, signals: &SignalFd) -> Outcome {
        let mut exit: Option<i32> = None;
        let mut buf = vec![0u8; 64 * 1024];
        let mut exited_at: Option<Instant> = None;
        loop {
            // After the init exited, give its output a moment to drain
            // (processes that escaped the pid namespace could hold the
            // pipes forever).
            let outputs_open = match &io {
                ContainerIo::Pipes { stdout, stderr, .. } => stdout.is_some() || stderr.is_some(),
                ContainerIo::Pty { master, .. } => master.is_some(),
            };
            if let Some(code) = exit {
                let drained = !outputs_open
                    || exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(2));
                if drained {
                    return Outcome {
                        exit_code: code,
                        oom_killed: false,
                    };
                }
            }
            let ready = match self.wait_ready(&io, signals, exit.is_some()) {
                Some(r) => r,
                None => continue,
            };
            for (src, revents) in ready {
                match src {
                    Source::Signal => {
                        while let Ok(Some(info)) = signals.read_signal() {
                            if info.ssi_signo == Signal::SIGCHLD as u32 {
                                if let Some(code) = self.reap() {
                                    exit = Some(code);
                                    exited_at = Some(Instant::now());
                                }
                            }
                            // SIGTERM/SIGINT/SIGHUP/SIGQUIT: the monitor
                            // stays with its container (`stop` is the way).
                        }
                    }
                    Source::Listener => self.accept_clients(),
                    Source::Out(stream) => self.pump(&mut io, stream, &mut buf),
                    Source::Client(i) => {
                        // A start request for a running container: done.
                        if self.client_event(i, revents, &mut io) {
                            let pid = self.pid;
                            self.send_to(i, attach::STARTED, &pid.to_be_bytes());
                        }
                    }
                }
            }
            self.clients.retain(|c| !c.closed);
        }
    }

    /// Moves what the container wrote on `stream` to the log and clients.
    fn pump(&mut self, io: &mut ContainerIo, stream: Stream, buf: &mut [u8]) {
        let fd = match (&*io, stream) {
            (
                ContainerIo::Pipes {
                    stdout: Some(f), ..
                },
                Stream::Stdout,
            ) => f.as_raw_fd(),
            (
                ContainerIo::Pipes {
                    stderr: Some(f), ..
                },
                Stream::Stderr,
            ) => f.as_raw_fd(),
            (
                ContainerIo::Pty {
                    master: Some(f), ..
                },
                _,
            ) => f.as_raw_fd(),
            _ => return,
        };
        match nix::unistd::read(fd, buf) {
            Ok(0) => close_output(io, stream),
            Ok(n) => {
                let data = buf[..n].to_vec();
                self.output(stream, &data);
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => {}
            // EIO: the pty's other side is gone.
            Err(_) => close_output(io, stream),
        }
    }

    /// Polls the signalfd, the attach listener and clients, and the
    /// container's outputs; returns what is ready (`None`: interrupted).
    fn wait_ready(
        &self,
        io: &ContainerIo,
        signals: &SignalFd,
        draining: bool,
    ) -> Option<Vec<(Source, PollFlags)>> {
        let mut srcs: Vec<(Source, BorrowedFd<'_>, PollFlags)> =
            vec![(Source::Signal, signals.as_fd(), PollFlags::POLLIN)];
        if let Some(l) = &self.listener {
            srcs.push((Source::Listener, l.as_fd(), PollFlags::POLLIN));
        }
        match io {
            ContainerIo::Pipes { stdout, stderr, .. } => {
                if let Some(f) = stdout {
                    srcs.push((Source::Out(Stream::Stdout), f.as_fd(), PollFlags::POLLIN));
                }
                if let Some(f) = stderr {
                    srcs.push((Source::Out(Stream::Stderr), f.as_fd(), PollFlags::POLLIN));
                }
            }
            ContainerIo::Pty { master, .. } => {
                if let Some(f) = master {
                    srcs.push((Source::Out(Stream::Stdout), f.as_fd(), PollFlags::POLLIN));
                }
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            if !c.closed {
                let mut flags = PollFlags::POLLIN;
                if !c.outbuf.is_empty() {
                    flags |= PollFlags::POLLOUT;
                }
                srcs.push((Source::Client(i), c.stream.as_fd(), flags));
            }
        }
        let mut pollfds: Vec<PollFd<'_>> = srcs
            .iter()
            .map(|(_, fd, flags)| PollFd::new(*fd, *flags))
            .collect();
        let timeout = if draining {
            PollTimeout::from(100u16)
        } else {
            PollTimeout::NONE
        };
        match poll(&mut pollfds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return None,
            Err(e) => {
                tracing::error!("container {}: poll: {e}", self.cfg.id);
                std::thread::sleep(Duration::from_millis(50));
                return None;
            }
        }
        Some(
            srcs.iter()
                .zip(pollfds.iter())
                .filter_map(|((src, _, _), p)| {
                    let r = p.revents().unwrap_or(PollFlags::empty());
                    (!r.is_empty()).then_some((*src, r))
                })
                .collect(),
        )
    }

    /// Handles input from attach client `i`; returns whether it asked for
    /// the start.
    fn client_event(&mut self, i: usize, revents: PollFlags, io: &mut ContainerIo) -> bool {
        let mut start = false;
        if revents.contains(PollFlags::POLLOUT) {
            flush_client(&mut self.clients[i]);
        }
        if !revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return start;
        }
        let mut tmp = [0u8; 16 * 1024];
        match self.clients[i].stream.read(&mut tmp) {
            Ok(0) => {
                self.clients[i].closed = true;
                return start;
            }
            Ok(n) => self.clients[i].inbuf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return start,
            Err(_) => {
                self.clients[i].closed = true;
                return start;
            }
        }
        loop {
            let frame = match attach::take_frame(&mut self.clients[i].inbuf) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => {
                    self.clients[i].closed = true;
                    break;
                }
            };
            match frame {
                (attach::STDIN, data) => write_stdin(&*io, &data),
                (attach::STDIN_EOF, _) => close_stdin(io),
                (attach::START, _) => start = true,
                (attach::RESIZE, data) if data.len() == 4 => {
                    if let ContainerIo::Pty {
                        master: Some(m), ..
                    } = io
                    {
                        let rows = u16::from_be_bytes([data[0], data[1]]);
                        let cols = u16::from_be_bytes([data[2], data[3]]);
                        let ws = rustix::termios::Winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let _ = rustix::termios::tcsetwinsize(&*m, ws);
                    }
                }
                _ => {}
            }
        }
        start
    }

    /// Reaps exited children; returns the init's exit code once it is reaped.
    fn reap(&mut self) -> Option<i32> {
        let mut code = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, c)) if pid.as_raw() == self.pid => code = Some(c),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid.as_raw() == self.pid => {
                    code = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        code
    }

    /// Records the exit, cleans up; returns whether to restart.
    fn finish(&mut self, mut outcome: Outcome) -> bool {
        let id = self.cfg.id.clone();
        tracing::debug!("monitor {id}: exited with {}", outcome.exit_code);
        if outcome.exit_code == 137 {
            outcome.oom_killed = self.oom_killed();
        }
        // Durable logs as conmon keeps them; an --rm container's go away now.
        if let Some(log) = self.log.as_mut().filter(|_| !self.cfg.auto_remove) {
            let _ = log.flush();
        }
        self.release();
        let now = now_ns();
        // Read what `stop` may have recorded meanwhile.
        let state = self.store.container(&id).ok().flatten().map(|r| r.state);
        let stopped_by_user = state.as_ref().is_some_and(|s| s.stopped_by_user);
        let restart_count = state.as_ref().map(|s| s.restart_count).unwrap_or(0);
        let policy = self.cfg.restart.name.as_str();
        let restart = !stopped_by_user
            && state.is_some()
            && match policy {
                "always" | "unless-stopped" => true,
                "on-failure" => {
                    outcome.exit_code != 0
                        && (self.cfg.restart.max_retries == 0
                            || restart_count < self.cfg.restart.max_retries)
                }
                _ => false,
            };
        self.update(|st| {
            st.status = ContainerStatus::Exited;
            st.pid = 0;
            st.exit_code = Some(outcome.exit_code);
            st.oom_killed = outcome.oom_killed;
            st.finished_at = now;
            st.mounted = false;
            if restart {
                st.restart_count += 1;
            } else {
                st.monitor_pid = 0;
            }
        });
        if !restart && self.cfg.auto_remove {
            if let Err(e) = rootfs::remove_files(self.layout, &id) {
                tracing::warn!("container {id}: --rm: {e}");
            }
            let _ = self.store.remove_container_record(&id);
            let _ = fs::remove_file(self.layout.lock_path(&id));
        }
        tracing::debug!("monitor {id}: cleaned up");
        self.broadcast(attach::EXIT, &outcome.exit_code.to_be_bytes());
        // Give clients the exit frame before the socket goes.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self
            .clients
            .iter()
            .any(|c| !c.closed && !c.outbuf.is_empty())
            && Instant::now() < deadline
        {
            for c in &mut self.clients {
                flush_client(c);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.clients.clear();
        self.listener = None;
        let _ = fs::remove_file(self.layout.attach_socket(&id));
        restart
    }

    /// Releases what a run holds: the runtime container, the netns, the
    /// mounted root filesystem.
    fn release(&mut self) {
        let id = self.cfg.id.clone();
        if let Some(mut slirp) = self.slirp.take() {
            slirp.stop();
            let _ = fs::remove_file(self.layout.slirp_socket(&id));
        }
        if let Some(mut pasta) = self.pasta.take() {
            pasta.stop();
        }
        let netns = self.netns.take().filter(|_| {
            matches!(
                self.cfg.network,
                NetworkMode::Private
                    | NetworkMode::None
                    | NetworkMode::Slirp4netns(_)
                    | NetworkMode::Pasta(_)
            )
        });
        let (layout, cfg) = (self.layout, &self.cfg);
        // The unmounts and the bundle's removal run next to the runtime's
        // delete (cgroups, state): each waits on the kernel or the disk.
        let unmount = || {
            if let Some(ns) = &netns {
                if let Err(e) = podman_rs_namespaces::remove_netns(ns) {
                    tracing::warn!("container {id}: removing netns: {e}");
                }
            }
            if let Err(e) = rootfs::unmount(layout, cfg) {
                tracing::warn!("container {id}: {e}");
            }
            let _ = fs::remove_dir_all(layout.bundle(&id));
        };
        let runtime = self.runtime.take();
        std::thread::scope(|s| {
            let side = std::thread::Builder::new().spawn_scoped(s, unmount);
            match runtime {
                Some(rt) => {
                    if let Err(e) = rt.delete(&id, true) {
                        tracing::warn!("container {id}: runtime delete: {e}");
                    }
                }
                None => {
                    let _ = runtime_for(layout, cfg).delete(&id, true);
                }
            }
            if let Err(e) = side {
                tracing::debug!("container {id}: no thread for the unmounts ({e})");
                unmount();
            }
        });
        // The container's user namespace outlives its processes only until
        // the runtime has deleted it.
        if let Some(mut holder) = self.holder.take() {
            holder.stop();
        }
        reap_adopted();
    }

    fn oom_killed(&self) -> bool {
        let Some(path) = self.cgroup_path.as_deref().and_then(Path::to_str) else {
            return false;
        };
        podman_rs_cgroups::Cgroup::open(path)
            .ok()
            .and_then(|cg| cg.oom_kill_count().ok().flatten())
            .is_some_and(|n| n > 0)
    }
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Signal,
    Listener,
    Out(Stream),
    Client(usize),
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        let _ = fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags));
    }
}

fn flush_client(c: &mut Client) {
    while !c.outbuf.is_empty() {
        let (a, _) = c.outbuf.as_slices();
        match c.stream.write(a) {
            Ok(0) => {
                c.closed = true;
                return;
            }
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                c.closed = true;
                return;
            }
        }
    }
}

fn close_output(io: &mut ContainerIo, stream: Stream) {
    match (io, stream) {
        (ContainerIo::Pipes { stdout, .. }, Stream::Stdout) => *stdout = None,
        (ContainerIo::Pipes { stderr, .. }, Stream::Stderr) => *stderr = None,
        (ContainerIo::Pty { master, .. }, _) => *master = None,
    }
}

fn write_stdin(io: &ContainerIo, data: &[u8]) {
    let fd = match io {
        ContainerIo::Pipes { stdin: Some(w), .. } => w.as_fd(),
        ContainerIo::Pty {
            master: Some(m),
            stdin: true,
        } => m.as_fd(),
        _ => return,
    };
    let mut off = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while off < data.len() {
        match nix::unistd::write(fd, &data[off..]) {
            Ok(n) => off += n,
            Err(nix::errno::Errno::EAGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
    }
}

fn close_stdin(io: &mut ContainerIo) {
    if let ContainerIo::Pipes { stdin, .. } = io {
        *stdin = None;
    }
}

/// Maps a runtime failure to Podman's wording and exit code: a command
/// that does not exist is 127, one that cannot be executed is 126.
pub fn runtime_error(cfg: &ContainerConfig, msg: &str) -> ContainerError {
    let lower = msg.to_lowercase();
    let cmd = cfg.command.first().cloned().unwrap_or_default();
    let missing = lower.contains("no such file or directory")
        || lower.contains("not found")
        || lower.contains("enoent");
    let about_command = lower.contains("exec")
        || lower.contains("executable")
        || lower.contains(&cmd.to_lowercase());
    if missing && about_command {
        return ContainerError::CommandNotFound(format!(
            "{cmd}: executable file `{cmd}` not found in $PATH: No such file or directory"
        ));
    }
    // libcontainer checks the command before exec: a file without the
    // execute bit (or a directory) is Podman's "open executable" EACCES.
    if lower.contains("does not have correct permissions") {
        return ContainerError::CannotInvoke(format!("{cmd}: open executable: Permission denied"));
    }
    if lower.contains("permission denied") || lower.contains("eacces") {
        return ContainerError::CannotInvoke(format!("{cmd}: {msg}"));
    }
    ContainerError::Runtime(msg.to_string())
}

/// Waits (up to a second) for the processes this monitor adopted as child
/// subreaper, such as a fuse-overlayfs daemon that exits once its mount is
/// gone: left behind, they would become zombies of a PID 1 that may never
/// reap them (no init system in a container or a bare VM).
fn reap_adopted() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                if std::time::Instant::now() >= deadline {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(_) => {}
            // ECHILD: none left.
            Err(_) => return,
        }
    }
}
