//! [`ContainerEngine`] in-process over the local store (Podman's ABI engine
//! and libpod): records in SQLite, one flock per container around each
//! lifecycle step, and the monitor process for everything that outlives a
//! command.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::attach;
use super::config::{ContainerConfig, ImageRuntimeConfig, NetworkMode, RootfsSource};
use super::create::{build_config, check_name, random_id, random_name};
use super::engine::{ContainerEngine, ContainerResult, ExecEnd};
use super::error::ContainerError;
use super::layout::Layout;
use super::logs::{self, ReadOptions};
use super::monitor::{self, now_ns, process_alive, runtime_for};
use super::options::{
    AttachEnd, AttachStreams, CreateOptions, CreateReport, ExecOptions, ListContainer, ListOptions,
    LogsOptions, RemoveOptions, WaitOptions,
};
use super::rootfs;
use crate::interface::{ImageEngine, LocalEngine, PullOptions};
use crate::store::{ContainerRecord, ContainerState, ContainerStatus, StoreError};

/// How often waiting commands look at the state.
const POLL: Duration = Duration::from_millis(10);

fn store_err(e: StoreError) -> ContainerError {
    ContainerError::Store(e)
}

fn parse_config(rec: &ContainerRecord) -> ContainerResult<ContainerConfig> {
    serde_json::from_str(&rec.config)
        .map_err(|e| ContainerError::Other(format!("container {}: bad config: {e}", rec.id)))
}

impl LocalEngine {
    /// Paths of container files.
    pub fn layout(&self) -> Layout {
        Layout::new(&self.storage().root, &self.storage().runroot)
    }

    fn record(&self, name: &str) -> ContainerResult<ContainerRecord> {
        self.store().lookup_container(name).map_err(store_err)
    }

    /// `pause` (freeze a running container) or `unpause` (thaw a paused one),
    /// with Podman's messages.
    fn pause_or_resume(&self, name: &str, pause: bool) -> ContainerResult<String> {
        let rec = self.effective(self.record(name)?);
        if rootless_cgroup_v1() {
            return Err(ContainerError::Other(if pause {
                "can not pause containers on rootless containers with cgroup V1: this container does not have a cgroup".into()
            } else {
                "unpause is not supported for cgroupv1 rootless containers".into()
            }));
        }
        let lock = self.layout().lock(&rec.id)?;
        let (needed, now, what) = if pause {
            (
                ContainerStatus::Running,
                ContainerStatus::Paused,
                "running, can't pause",
            )
        } else {
            (
                ContainerStatus::Paused,
                ContainerStatus::Running,
                "paused, can't unpause",
            )
        };
        if rec.state.status != needed {
            return Err(ContainerError::Other(format!(
                "\"{}\" is not {what}: container state improper",
                rec.id
            )));
        }
        let cfg = parse_config(&rec)?;
        let runtime = runtime_for(&self.layout(), &cfg);
        if pause {
            runtime.pause(&rec.id)
        } else {
            runtime.resume(&rec.id)
        }
        .map_err(|e| ContainerError::Runtime(e.to_string()))?;
        self.set_state(&rec.id, |st| st.status = now)?;
        drop(lock);
        Ok(rec.id)
    }

    /// The record with its liveness checked: an active container whose
    /// monitor is gone is shown as exited (a crashed monitor or a reboot).
    fn effective(&self, mut rec: ContainerRecord) -> ContainerRecord {
        if rec.state.status.is_active()
            && !process_alive(rec.state.monitor_pid, rec.state.monitor_start)
        {
            rec.state.status = ContainerStatus::Exited;
            rec.state.pid = 0;
        }
        rec
    }

    fn set_state(&self, id: &str, f: impl FnOnce(&mut ContainerState)) -> ContainerResult<()> {
        self.store()
            .update_container_state(id, f)
            .map_err(store_err)
    }

    /// Image config for a container: pulls per the policy.
    fn resolve_image(
        &self,
        opts: &CreateOptions,
    ) -> ContainerResult<(String, String, ImageRuntimeConfig)> {
        let policy = opts.pull.as_deref().unwrap_or("missing");
        if !matches!(policy, "always" | "missing" | "never" | "newer") {
            return Err(ContainerError::InvalidArgument(format!(
                "unsupported pull policy {policy:?}"
            )));
        }
        let local = self.lookup(&opts.image);
        let image = match (policy, local) {
            ("never", Ok(i)) | ("missing", Ok(i)) => i,
            ("never", Err(e)) => return Err(ContainerError::Other(e.to_string())),
            (_, local) => {
                let pulled = self.pull(&PullOptions {
                    name: opts.image.clone(),
                    tls_verify: opts.tls_verify,
                    authfile: opts.authfile.clone(),
                    creds: opts.creds.clone(),
                    quiet: opts.quiet_pull,
                    ..Default::default()
                });
                match (pulled, local) {
                    (Ok(_), _) => self
                        .lookup(&opts.image)
                        .map_err(|e| ContainerError::Other(e.to_string()))?,
                    // `newer`: a failed check keeps the local image.
                    (Err(_), Ok(i)) if policy == "newer" => i,
                    (Err(e), _) => return Err(ContainerError::Other(e.to_string())),
                }
            }
        };
        let config: Value = serde_json::from_str(&image.config).unwrap_or(Value::Null);
        let rc: ImageRuntimeConfig = config
            .get("config")
            .cloned()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| ContainerError::Other(format!("image {}: config: {e}", image.id)))?
            .unwrap_or_default();
        // The name as resolved: the first name that matches, else the id.
        let name = image
            .names
            .iter()
            .find(|n| {
                n.as_str() == opts.image
                    || n.ends_with(&format!("/{}", opts.image))
                    || n.ends_with(&format!("/{}:latest", opts.image))
            })
            .or(image.names.first())
            .cloned()
            .unwrap_or_else(|| image.id.clone());
        Ok((image.id.clone(), name, rc))
    }

    /// Spawns the monitor for container `id` (the caller holds its lock).
    /// With `attach`, connects to it before it starts the container; with
    /// `init_only`, returns once the container is created (initialized).
    fn spawn_monitor(
        &self,
        cfg: &ContainerConfig,
        attach: Option<AttachStreams>,
        init_only: bool,
    ) -> ContainerResult<Option<AttachEnd>> {
        let id = cfg.id.as_str();
        let layout = self.layout();
        let run_dir = layout.run_dir(id);
        std::fs::create_dir_all(&run_dir).map_err(ContainerError::io(id, "creating", &run_dir))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run_dir.join("monitor.log"))
            .map_err(ContainerError::io(
                id,
                "opening",
                run_dir.join("monitor.log"),
            ))?;
        let exe = std::env::current_exe()
            .map_err(|e| ContainerError::Other(format!("finding our own binary: {e}")))?;
        let storage = self.storage();
        // Started from a read-only view of our binary, the monitor needs no
        // re-exec of its own to protect it (runtime::exe_guard): one exec
        // less per start. The fd stays open until the spawn returned.
        let view = podman_rs_runtime::exe_guard::readonly_view().ok();
        let mut cmd = match &view {
            Some(fd) => {
                let mut cmd = Command::new(format!("/proc/self/fd/{}", fd.as_raw_fd()));
                cmd.arg0(&exe);
                cmd
            }
            None => Command::new(&exe),
        };
        cmd.arg("--root")
            .arg(&storage.root)
            .arg("--runroot")
            .arg(&storage.runroot)
            .arg("--storage-driver")
            .arg(&storage.driver)
            .arg("container-monitor")
            .arg(id);
        if init_only {
            cmd.arg("--init-only");
        } else if attach.is_some() {
            cmd.arg("--wait-start");
        }
        // The caller's --log-level (exported by the CLI) reaches the
        // monitor's log (monitor.log in the container's run directory).
        if let Ok(level) = std::env::var("PODMAN_RS_LOG_LEVEL") {
            cmd.arg("--log-level").arg(level);
        }
        // The runtime moves the container into its cgroups a few ms from
        // now: the kernel's wait for that (an RCU grace period) starts here.
        podman_rs_cgroups::prime_migration();
        tracing::debug!("container {id}: starting the monitor");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| ContainerError::Monitor {
                id: id.to_string(),
                msg: format!("starting the monitor: {e}"),
            })?;
        let mut stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| ContainerError::Monitor {
            id: id.to_string(),
            msg: "no handshake pipe".into(),
        })?;
        let mut lines = BufReader::new(stdout);
        let mut conn = None;
        loop {
            let mut line = String::new();
            let n = lines.read_line(&mut line).unwrap_or(0);
            // The monitor detaches from us (setsid) and outlives us; its
            // exit status is not ours to collect beyond this handshake.
            if n == 0 {
                let _ = child.try_wait();
                return Err(ContainerError::Monitor {
                    id: id.to_string(),
                    msg: format!(
                        "the monitor exited during start (see {})",
                        run_dir.join("monitor.log").display()
                    ),
                });
            }
            let line = line.trim_end();
            tracing::debug!("container {id}: monitor says {line:?}");
            if line == "listening" {
                conn = Some(attach::connect(&layout.attach_socket(id)).map_err(|e| {
                    ContainerError::Monitor {
                        id: id.to_string(),
                        msg: format!("attaching: {e}"),
                    }
                })?);
                if let Some(mut w) = stdin.take() {
                    let _ = w.write_all(b"start\n");
                }
            } else if line.starts_with("started") || line.starts_with("initialized") {
                break;
            } else if let Some(rest) = line.strip_prefix("error ") {
                let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
                // The monitor sends the final text; the code stays its own.
                let msg = msg.to_string();
                return Err(match code.parse::<u8>() {
                    Ok(code @ (126 | 127)) => ContainerError::Failed { code, msg },
                    _ => ContainerError::Runtime(msg),
                });
            }
        }
        drop(stdin);
        // Reap the monitor later if it exits before us; do not wait for it.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        match (attach, conn) {
            (Some(streams), Some(conn)) => attach::run_client(conn, streams)
                .map(Some)
                .map_err(|e| ContainerError::Other(format!("container {id}: attach: {e}"))),
            _ => Ok(None),
        }
    }

    /// Starts a container `init` created: its monitor waits for a start
    /// request on the attach socket (the caller holds the lock).
    fn start_initialized(
        &self,
        id: &str,
        attach: Option<AttachStreams>,
    ) -> ContainerResult<Option<AttachEnd>> {
        let sock = self.layout().attach_socket(id);
        let fail = |e: std::io::Error| ContainerError::Monitor {
            id: id.to_string(),
            msg: format!("asking the monitor to start the container: {e}"),
        };
        let mut conn = attach::connect(&sock).map_err(fail)?;
        match attach::request_start(&mut conn).map_err(fail)? {
            attach::StartReply::Started(pid) => {
                tracing::debug!("container {id}: started, pid {pid}");
            }
            attach::StartReply::Failed(code, msg) => {
                return Err(match code {
                    126 | 127 => ContainerError::Failed { code, msg },
                    _ => ContainerError::Runtime(msg),
                })
            }
        }
        match attach {
            Some(streams) => attach::run_client(conn, streams)
                .map(Some)
                .map_err(|e| ContainerError::Other(format!("container {id}: attach: {e}"))),
            None => Ok(None),
        }
    }

    /// Whether container `id` has stopped (or is gone): a followed log ends.
    fn exited_or_gone(&self, id: &str) -> bool {
        match self.store().container(id) {
            Ok(Some(r)) => !self.effective(r).state.status.is_active(),
            _ => true,
        }
    }

    /// `logs -f` of several containers: one reader thread per log, their
    /// records written here as they come (each record is one write, so
    /// lines never mix); this thread also tells each reader when its
    /// container has stopped (the store is not shared across threads).
    fn follow_logs(
        &self,
        jobs: &[(String, PathBuf, ReadOptions)],
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> ContainerResult<()> {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::mpsc;
        let flags: Vec<AtomicBool> = jobs.iter().map(|_| AtomicBool::new(false)).collect();
        let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for ((_, path, read), flag) in jobs.iter().zip(&flags) {
                let tx = tx.clone();
                handles.push(scope.spawn(move || {
                    let mut out = ChannelWriter {
                        tx: tx.clone(),
                        stderr: false,
                    };
                    let mut err = ChannelWriter { tx, stderr: true };
                    let mut exited = || flag.load(Ordering::SeqCst);
                    logs::read_logs(path, read, &mut out, &mut err, &mut exited)
                }));
            }
            drop(tx);
            let mut failure = None;
            loop {
                match rx.recv_timeout(POLL * 5) {
                    Ok((is_err, data)) => {
                        let w: &mut dyn Write = if is_err { &mut *stderr } else { &mut *stdout };
                        if let Err(e) = w.write_all(&data).and_then(|_| w.flush()) {
                            failure = Some(ContainerError::Other(format!("writing logs: {e}")));
                            // Readers stop at their next write.
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                for ((id, _, _), flag) in jobs.iter().zip(&flags) {
                    if !flag.load(Ordering::SeqCst) && self.exited_or_gone(id) {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
            }
            if failure.is_some() {
                for f in &flags {
                    f.store(true, Ordering::SeqCst);
                }
                drop(rx);
            }
            for h in handles {
                match h.join() {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        failure.get_or_insert(ContainerError::Other(e.to_string()));
                    }
                    Err(_) => {
                        failure.get_or_insert(ContainerError::Other("a log reader failed".into()));
                    }
                }
            }
            match failure {
                Some(e) => Err(e),
                None => Ok(()),
            }
        })
    }

    /// Waits until the container is no longer active (or gone). Returns
    /// false on timeout.
    fn wait_inactive(&self, id: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.store().container(id) {
                Ok(Some(rec)) => {
                    let rec = self.effective(rec);
                    if !rec.state.status.is_active() {
                        return true;
                    }
                }
                _ => return true,
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the monitor of `id` has finished (exit recorded and, for
    /// `--rm`, the container removed).
    fn wait_monitor_gone(&self, id: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.store().container(id) {
                Ok(Some(rec)) => {
                    if !process_alive(rec.state.monitor_pid, rec.state.monitor_start) {
                        return;
                    }
                }
                _ => return,
            }
            std::thread::sleep(POLL);
        }
    }

    /// Releases what an active container holds when its monitor is gone.
    fn cleanup_dead(&self, rec: &ContainerRecord, cfg: &ContainerConfig) -> ContainerResult<()> {
        let layout = self.layout();
        let rt = runtime_for(&layout, cfg);
        let _ = rt.kill(&rec.id, "KILL", true);
        let _ = rt.delete(&rec.id, true);
        let ns = layout.netns_dir().join(&rec.id);
        let _ = podman_rs_namespaces::remove_netns(ns);
        rootfs::unmount(&layout, cfg)?;
        let _ = std::fs::remove_dir_all(layout.bundle(&rec.id));
        Ok(())
    }

    fn stop_locked(&self, rec: &ContainerRecord, timeout: Option<u32>) -> ContainerResult<()> {
        let cfg = parse_config(rec)?;
        let id = rec.id.as_str();
        let rec = self.effective(rec.clone());
        if !rec.state.status.is_active() {
            // Podman: stopping a stopped container succeeds; clean up what a
            // dead monitor left.
            if rec.state.mounted || rec.state.monitor_pid != 0 {
                self.cleanup_dead(&rec, &cfg)?;
                let _ = self.set_state(id, |st| {
                    if st.status.is_active() {
                        st.status = ContainerStatus::Exited;
                        st.finished_at = now_ns();
                    }
                    st.pid = 0;
                    st.monitor_pid = 0;
                    st.mounted = false;
                });
            }
            return Ok(());
        }
        self.set_state(id, |st| {
            st.stopped_by_user = true;
            if st.status == ContainerStatus::Running {
                st.status = ContainerStatus::Stopping;
            }
        })?;
        let rt = runtime_for(&self.layout(), &cfg);
        let timeout = timeout.unwrap_or(cfg.stop_timeout);
        if rec.state.status == ContainerStatus::Paused {
            let _ = rt.resume(id);
        }
        // An initialized container's process has not run its command: it is
        // killed (Podman 4.3.1 records 137 for it too).
        if timeout > 0 && rec.state.status != ContainerStatus::Initialized {
            let _ = rt.kill(id, &cfg.stop_signal.to_string(), false);
            if self.wait_inactive(id, Duration::from_secs(timeout as u64)) {
                self.wait_monitor_gone(id, Duration::from_secs(5));
                return Ok(());
            }
            tracing::warn!(
                "StopSignal {} failed to stop container {} in {timeout} seconds, resorting to SIGKILL",
                signal_name(cfg.stop_signal),
                cfg.name
            );
        }
        let _ = rt.kill(id, "KILL", true);
        if !self.wait_inactive(id, Duration::from_secs(10)) {
            return Err(ContainerError::Other(format!(
                "container {id}: did not exit after SIGKILL"
            )));
        }
        self.wait_monitor_gone(id, Duration::from_secs(5));
        Ok(())
    }

    fn remove_locked(&self, rec: &ContainerRecord, opts: &RemoveOptions) -> ContainerResult<()> {
        let id = rec.id.as_str();
        let cfg = parse_config(rec)?;
        let live = self.effective(rec.clone());
        if live.state.status.is_active() {
            // Podman removes an initialized container without --force.
            if !opts.force && live.state.status != ContainerStatus::Initialized {
                return Err(ContainerError::Other(format!(
                    "cannot remove container {id} as it is {} - running or paused containers cannot be removed without force: container state improper",
                    live.state.status.as_str()
                )));
            }
            self.stop_locked(rec, Some(opts.timeout.unwrap_or(0)))?;
        }
        let _ = self.set_state(id, |st| st.status = ContainerStatus::Removing);
        self.cleanup_dead(rec, &cfg)?;
        let layout = self.layout();
        rootfs::remove_files(&layout, id)?;
        self.store()
            .remove_container_record(id)
            .map_err(store_err)?;
        Ok(())
    }

    fn list_entry(&self, rec: &ContainerRecord, size: bool) -> ListContainer {
        let rec = self.effective(rec.clone());
        let cfg: ContainerConfig = serde_json::from_str(&rec.config).unwrap_or_default();
        let st = &rec.state;
        let (image, image_id) = match &cfg.rootfs {
            RootfsSource::Image { id, name } => (name.clone(), id.clone()),
            RootfsSource::Path { .. } | RootfsSource::None => (String::new(), String::new()),
        };
        let created_secs = rec.created / 1_000_000_000;
        let exited = st.status == ContainerStatus::Exited;
        ListContainer {
            auto_remove: cfg.auto_remove,
            command: cfg.command.clone(),
            created_at: human_ago(created_secs),
            exited,
            exited_at: unix_or_zero(st.finished_at),
            exit_code: st.exit_code.unwrap_or(0),
            id: rec.id.clone(),
            image,
            image_id,
            is_infra: false,
            labels: (!cfg.labels.is_empty()).then(|| cfg.labels.clone()),
            mounts: cfg
                .mounts
                .iter()
                .map(|m| m.destination.display().to_string())
                .collect(),
            names: vec![rec.name.clone()],
            namespaces: json!({}),
            networks: Vec::new(),
            pid: st.pid,
            pod: String::new(),
            pod_name: String::new(),
            ports: None,
            size: size.then(|| super::options::ContainerSize {
                root_fs_size: 0,
                rw_size: rootfs::rw_size(&self.layout(), &rec.id),
            }),
            started_at: unix_or_zero(st.started_at),
            state: st.status.as_str().to_string(),
            status: status_text(st),
            created: created_secs,
            created_ns: rec.created,
        }
    }
}

fn unix_or_zero(ns: i64) -> i64 {
    if ns == 0 {
        super::options::GO_ZERO_UNIX
    } else {
        ns / 1_000_000_000
    }
}

/// Podman's STATUS column: "Up 3 seconds ago", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(st: &ContainerState) -> String {
    match st.status {
        ContainerStatus::Running => format!("Up {}", human_ago(st.started_at / 1_000_000_000)),
        ContainerStatus::Paused => "Paused".into(),
        ContainerStatus::Exited => format!(
            "Exited ({}) {}",
            st.exit_code.unwrap_or(0),
            human_ago(st.finished_at / 1_000_000_000)
        ),
        ContainerStatus::Stopping => "Stopping".into(),
        ContainerStatus::Removing => "Removing".into(),
        ContainerStatus::Initialized => "Initialized".into(),
        ContainerStatus::Created => "Created".into(),
    }
}

/// Go's units.HumanDuration + " ago", as Podman prints times.
pub fn human_ago(secs: i64) -> String {
    let now = now_ns() / 1_000_000_000;
    let d = (now - secs).max(0);
    let text = if d < 1 {
        "Less than a second".to_string()
    } else if d == 1 {
        "1 second".to_string()
    } else if d < 60 {
        format!("{d} seconds")
    } else if d / 60 == 1 {
        "About a minute".to_string()
    } else if d < 3600 {
        format!("{} minutes", d / 60)
    } else if (d as f64 / 3600.0).round() as i64 == 1 {
        "About an hour".to_string()
    } else if d < 48 * 3600 {
        format!("{} hours", (d as f64 / 3600.0).round() as i64)
    } else if d < 7 * 24 * 3600 * 2 {
        format!("{} days", d / 86400)
    } else if d < 30 * 24 * 3600 * 3 {
        format!("{} weeks", d / (7 * 86400))
    } else if d < 365 * 24 * 3600 * 2 {
        format!("{} months", d / (30 * 86400))
    } else {
        format!("{} years", d / (365 * 86400))
    };
    format!("{text} ago")
}

/// RFC 3339 with nanoseconds in local time, as Go prints a time.Time.
pub fn rfc3339_ns(ns: i64) -> String {
    if ns == 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    let t = chrono::DateTime::from_timestamp(ns / 1_000_000_000, (ns % 1_000_000_000) as u32)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn signal_name(n: i32) -> String {
    nix::sys::signal::Signal::try_from(n)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| n.to_string())
}

impl ContainerEngine for LocalEngine {
    fn container_create(&self, opts: &CreateOptions) -> ContainerResult<CreateReport> {
        if let Some(c) = &opts.cidfile {
            if c.exists() {
                return Err(ContainerError::InvalidArgument(format!(
                    "container id file exists. Ensure another container is not using it or delete {}",
                    c.display()
                )));
            }
        }
        let name = match &opts.name {
            Some(n) => {
                check_name(n)?;
                n.clone()
            }
            None => loop {
                let n = random_name();
                if self.store().lookup_container(&n).is_err() {
                    break n;
                }
            },
        };
        if opts.replace {
            if let Ok(old) = self.store().lookup_container(&name) {
                if old.name == name {
                    self.container_remove(
                        &old.id,
                        &RemoveOptions {
                            force: true,
                            ..Default::default()
                        },
                    )?;
                }
            }
        }
        let (rootfs, image_id, image_cfg) = if opts.rootfs {
            let spec = podman_rs_rootfs::RootfsSpec::parse(&opts.image)
                .map_err(|e| ContainerError::InvalidArgument(e.to_string()))?;
            if !spec.path.is_dir() {
                return Err(ContainerError::InvalidArgument(format!(
                    "rootfs {}: not a directory",
                    spec.path.display()
                )));
            }
            let path = std::fs::canonicalize(&spec.path)
                .map_err(|e| ContainerError::InvalidArgument(format!("rootfs: {e}")))?;
            (
                RootfsSource::Path {
                    path,
                    overlay: spec.overlay,
                },
                None,
                ImageRuntimeConfig::default(),
            )
        } else {
            let (id, name, cfg) = self.resolve_image(opts)?;
            (
                RootfsSource::Image {
                    id: id.clone(),
                    name,
                },
                Some(id),
                cfg,
            )
        };
        tracing::debug!("create: image resolved");
        let mut cfg = build_config(opts, &image_cfg)?;
        let mut warnings = Vec::new();
        if rootless_cgroup_v1() && cfg.resources != Default::default() {
            // Podman drops them with this warning (a normal user cannot
            // create v1 cgroups) and runs the container.
            cfg.resources = Default::default();
            warnings.push(
                "Resource limits are not supported and ignored on cgroups V1 rootless systems"
                    .to_string(),
            );
        }
        if !cfg.ports.is_empty() {
            match cfg.network {
                NetworkMode::Slirp4netns(_) | NetworkMode::Pasta(_) => {}
                NetworkMode::Private => {
                    cfg.ports.clear();
                    warnings.push(
                        "Port mappings have been discarded: the default network is a private \
                         namespace with loopback only until bridge networking exists; use \
                         --network slirp4netns to publish ports"
                            .to_string(),
                    );
                }
                _ => {
                    cfg.ports.clear();
                    warnings.push(
                        "Port mappings have been discarded as one of the Host, Container, Pod, \
                         and None network modes are in use"
                            .to_string(),
                    );
                }
            }
        }
        cfg.id = random_id()?;
        cfg.name = name;
        cfg.rootfs = rootfs;
        cfg.runtime = match &opts.runtime {
            None => None,
            Some(r) if r.contains('/') => Some(PathBuf::from(r)),
            Some(r) => Some(find_in_path(r).ok_or_else(|| {
                ContainerError::InvalidArgument(format!(
                    "cannot find OCI runtime {r:?}: not in $PATH"
                ))
            })?),
        };
        cfg.created_ns = now_ns();
        if let Some(n) =
            super::userns::prepare_shifted_layers(self.store(), &cfg, &self.storage().driver)?
        {
            warnings.push(n);
        }
        // A generated name can be taken by a concurrent create between the
        // lookup above and the insert: draw another (as Podman retries).
        let mut attempts = 0;
        loop {
            let config = serde_json::to_string(&cfg)
                .map_err(|e| ContainerError::Other(format!("serializing config: {e}")))?;
            let rec = ContainerRecord {
                id: cfg.id.clone(),
                name: cfg.name.clone(),
                image_id: image_id.clone(),
                config,
                created: cfg.created_ns,
                state: ContainerState::default(),
            };
            // A --rm container's record goes with it: no fsync for it.
            match self.store().add_container_as(&rec, !cfg.auto_remove) {
                Ok(()) => break,
                Err(StoreError::NameInUse { .. }) if opts.name.is_none() && attempts < 100 => {
                    attempts += 1;
                    cfg.name = random_name();
                }
                Err(e @ StoreError::NameInUse { .. }) => {
                    return Err(ContainerError::Other(format!(
                        "creating container storage: {e}"
                    )))
                }
                Err(other) => return Err(store_err(other)),
            }
        }
        tracing::debug!("create {}: recorded", cfg.id);
        if let Some(c) = &opts.cidfile {
            if let Err(e) = std::fs::write(c, &cfg.id) {
                let _ = self.store().remove_container_record(&cfg.id);
                return Err(ContainerError::Other(format!(
                    "writing cidfile {}: {e}",
                    c.display()
                )));
            }
        }
        Ok(CreateReport {
            id: cfg.id,
            warnings,
        })
    }

    fn container_start(
        &self,
        name: &str,
        attach: Option<AttachStreams>,
    ) -> ContainerResult<Option<AttachEnd>> {
        let rec = self.record(name)?;
        let layout = self.layout();
        let lock = layout.lock(&rec.id)?;
        // Re-read under the lock.
        let rec = self.effective(self.record(&rec.id)?);
        let cfg = parse_config(&rec)?;
        match rec.state.status {
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Stopping => {
                drop(lock);
                // Podman: starting a running container is a no-op (attach if asked).
                return match attach {
                    Some(streams) => self.container_attach(&rec.id, streams).map(Some),
                    None => Ok(None),
                };
            }
            ContainerStatus::Removing => {
                return Err(ContainerError::BadState {
                    id: rec.id.clone(),
                    state: "being removed".into(),
                    what: "cannot start it".into(),
                })
            }
            ContainerStatus::Initialized => {
                let r = self.start_initialized(&rec.id, attach);
                drop(lock);
                return r;
            }
            _ => {}
        }
        // What a dead monitor left behind.
        if rec.state.mounted || rec.state.monitor_pid != 0 {
            self.cleanup_dead(&rec, &cfg)?;
        }
        // (Nothing to write for a container that never ran: `run`.)
        if rec.state.stopped_by_user || rec.state.mounted {
            self.set_state(&rec.id, |st| {
                st.stopped_by_user = false;
                st.mounted = false;
            })?;
        }
        let streams_given = attach.is_some();
        let r = self.spawn_monitor(&cfg, attach, false);
        drop(lock);
        match r {
            Ok(end) if streams_given => Ok(end),
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn container_init(&self, name: &str) -> ContainerResult<String> {
        let rec = self.record(name)?;
        let lock = self.layout().lock(&rec.id)?;
        let rec = self.effective(self.record(&rec.id)?);
        let cfg = parse_config(&rec)?;
        match rec.state.status {
            ContainerStatus::Created | ContainerStatus::Exited => {}
            ContainerStatus::Removing => {
                return Err(ContainerError::BadState {
                    id: rec.id.clone(),
                    state: "being removed".into(),
                    what: "cannot initialize it".into(),
                })
            }
            _ => return Err(ContainerError::AlreadyCreated(rec.id.clone())),
        }
        if rec.state.mounted || rec.state.monitor_pid != 0 {
            self.cleanup_dead(&rec, &cfg)?;
        }
        self.set_state(&rec.id, |st| {
            st.stopped_by_user = false;
            st.mounted = false;
        })?;
        let r = self.spawn_monitor(&cfg, None, true);
        drop(lock);
        r.map(|_| rec.id)
    }

    fn container_attach(&self, name: &str, streams: AttachStreams) -> ContainerResult<AttachEnd> {
        let rec = self.effective(self.record(name)?);
        if !matches!(
            rec.state.status,
            ContainerStatus::Running | ContainerStatus::Paused
        ) {
            return Err(ContainerError::Other(
                "you can only attach to running containers: container state improper".into(),
            ));
        }
        let sock = self.layout().attach_socket(&rec.id);
        let conn = attach::connect(&sock)
            .map_err(|e| ContainerError::Other(format!("container {}: attaching: {e}", rec.id)))?;
        attach::run_client(conn, streams)
            .map_err(|e| ContainerError::Other(format!("container {}: attach: {e}", rec.id)))
    }

    fn container_stop(&self, name: &str, timeout: Option<u32>) -> ContainerResult<String> {
        let rec = self.record(name)?;
        let lock = self.layout().lock(&rec.id)?;
        let rec = match self.store().container(&rec.id).map_err(store_err)? {
            Some(r) => r,
            None => return Ok(rec.id),
        };
        self.stop_locked(&rec, timeout)?;
        drop(lock);
        Ok(rec.id)
    }

    fn container_kill(&self, name: &str, signal: &str) -> ContainerResult<String> {
        let sig = super::create::parse_signal(signal)?;
        let rec = self.effective(self.record(name)?);
        if !matches!(
            rec.state.status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Stopping
        ) {
            return Err(ContainerError::Other(format!(
                "can only kill running containers. {} is in state {}: container state improper",
                rec.id,
                rec.state.status.as_str()
            )));
        }
        let cfg = parse_config(&rec)?;
        runtime_for(&self.layout(), &cfg)
            .kill(&rec.id, &sig.to_string(), false)
            .map_err(|e| ContainerError::Runtime(e.to_string()))?;
        Ok(rec.id)
    }

    fn container_restart(&self, name: &str, timeout: Option<u32>) -> ContainerResult<String> {
        let id = self.container_stop(name, timeout)?;
        self.container_start(&id, None)?;
        Ok(id)
    }

    fn container_pause(&self, name: &str) -> ContainerResult<String> {
        self.pause_or_resume(name, true)
    }

    fn container_unpause(&self, name: &str) -> ContainerResult<String> {
        self.pause_or_resume(name, false)
    }

    fn container_remove(&self, name: &str, opts: &RemoveOptions) -> ContainerResult<String> {
        let rec = self.record(name)?;
        let layout = self.layout();
        let lock = layout.lock(&rec.id)?;
        let rec = match self.store().container(&rec.id).map_err(store_err)? {
            Some(r) => r,
            // Removed meanwhile (by its own --rm, or another rm).
            None => return Ok(rec.id),
        };
        self.remove_locked(&rec, opts)?;
        lock.remove();
        Ok(rec.id)
    }

    fn container_list(&self, opts: &ListOptions) -> ContainerResult<Vec<ListContainer>> {
        let recs = self.store().containers().map_err(store_err)?;
        let mut out: Vec<ListContainer> = recs
            .iter()
            .map(|r| self.list_entry(r, opts.size))
            .filter(|c| {
                opts.all || opts.last.is_some() || c.state == "running" || c.state == "paused"
            })
            .collect();
        // Newest first, as Podman lists.
        out.sort_by_key(|c| std::cmp::Reverse(c.created_ns));
        if let Some(n) = opts.last {
            out.truncate(n);
        }
        Ok(out)
    }

    fn container_inspect(&self, name: &str, size: bool) -> ContainerResult<Value> {
        let rec = self.effective(self.record(name)?);
        let cfg = parse_config(&rec)?;
        Ok(super::inspect::inspect_json(self, &rec, &cfg, size))
    }

    fn container_wait(&self, name: &str, opts: &WaitOptions) -> ContainerResult<i32> {
        let rec = self.record(name)?;
        let interval = opts.interval.unwrap_or(POLL);
        let conditions: Vec<String> = if opts.conditions.is_empty() {
            vec!["stopped".into()]
        } else {
            opts.conditions.clone()
        };
        for c in &conditions {
            if !matches!(
                c.as_str(),
                "configured"
                    | "created"
                    | "exited"
                    | "paused"
                    | "running"
                    | "stopped"
                    | "initialized"
                    | "removing"
                    | "stopping"
            ) {
                return Err(ContainerError::InvalidArgument(format!(
                    "unknown condition {c:?}"
                )));
            }
        }
        loop {
            let cur = match self.store().container(&rec.id).map_err(store_err)? {
                Some(r) => self.effective(r),
                // Removed (--rm): its exit code is gone with it.
                None => return Ok(rec.state.exit_code.unwrap_or(0)),
            };
            let state = cur.state.status.as_str();
            let hit = conditions.iter().any(|c| match c.as_str() {
                // Podman 4.3.1 returns at once for a container that is not
                // running (a created one included: exit code 0); an
                // initialized one is waited for.
                "stopped" | "exited" => matches!(
                    cur.state.status,
                    ContainerStatus::Exited | ContainerStatus::Created
                ),
                "configured" => state == "created",
                other => other == state,
            });
            if hit {
                let not_run = if cur.state.status == ContainerStatus::Created {
                    0
                } else {
                    -1
                };
                return Ok(cur.state.exit_code.unwrap_or(not_run));
            }
            std::thread::sleep(interval);
        }
    }

    fn container_logs(
        &self,
        names: &[String],
        opts: &LogsOptions,
        stdout: &mut dyn Write,
        stderr: &mut dyn Write,
    ) -> ContainerResult<()> {
        let now = chrono::Utc::now();
        let parse = |v: &Option<String>, since: bool| {
            v.as_deref()
                .map(|s| logs::parse_time_arg(s, since, now))
                .transpose()
                .map_err(|e| ContainerError::InvalidArgument(e.to_string()))
        };
        let since = parse(&opts.since, true)?;
        let until = parse(&opts.until, false)?;
        let recs = names
            .iter()
            .map(|n| self.record(n))
            .collect::<ContainerResult<Vec<_>>>()?;
        for rec in &recs {
            let cfg = parse_config(rec)?;
            if cfg.log.driver == "none" || cfg.log.driver == "passthrough" {
                return Err(ContainerError::Other(format!(
                    "this container is using the '{}' log driver, cannot read logs: this container is not logging output",
                    cfg.log.driver
                )));
            }
        }
        // Podman prefixes each line with the container's short id (its name
        // with --names) only when it shows several containers.
        let mut jobs = Vec::new();
        for rec in &recs {
            let cfg = parse_config(rec)?;
            let path = cfg
                .log
                .path
                .clone()
                .unwrap_or_else(|| self.layout().log_path(&rec.id));
            let prefix = match (recs.len() > 1, opts.names) {
                (false, _) => Vec::new(),
                (true, true) => format!("{} ", rec.name).into_bytes(),
                (true, false) => format!("{} ", &rec.id[..12]).into_bytes(),
            };
            let read = ReadOptions {
                since,
                until,
                tail: opts.tail.and_then(|t| (t >= 0).then_some(t as u64)),
                timestamps: opts.timestamps,
                follow: opts.follow,
                prefix,
                ..Default::default()
            };
            jobs.push((rec.id.clone(), path, read));
        }
        if opts.follow && jobs.len() > 1 {
            return self.follow_logs(&jobs, stdout, stderr);
        }
        for (id, path, read) in &jobs {
            let mut exited = || self.exited_or_gone(id);
            logs::read_logs(path, read, stdout, stderr, &mut exited)
                .map_err(|e| ContainerError::Other(e.to_string()))?;
        }
        Ok(())
    }

    fn container_exec(&self, name: &str, opts: &ExecOptions) -> ContainerResult<ExecEnd> {
        super::exec::exec(self, name, opts)
    }

    fn container_rename(&self, name: &str, new_name: &str) -> ContainerResult<()> {
        check_name(new_name)?;
        let rec = self.record(name)?;
        let lock = self.layout().lock(&rec.id)?;
        self.store()
            .rename_container(&rec.id, new_name)
            .map_err(store_err)?;
        drop(lock);
        Ok(())
    }

    fn container_exists(&self, name: &str) -> ContainerResult<bool> {
        match self.store().lookup_container(name) {
            Ok(_) => Ok(true),
            Err(StoreError::ContainerNotFound(_)) => Ok(false),
            Err(e) => Err(store_err(e)),
        }
    }

    fn container_prune(&self) -> ContainerResult<Vec<String>> {
        let mut removed = Vec::new();
        for rec in self.store().containers().map_err(store_err)? {
            let rec = self.effective(rec);
            if rec.state.status == ContainerStatus::Exited
                || rec.state.status == ContainerStatus::Created
            {
                // Podman prunes exited and created containers.
                if self
                    .container_remove(&rec.id, &RemoveOptions::default())
                    .is_ok()
                {
                    removed.push(rec.id);
                }
            }
        }
        Ok(removed)
    }

    fn container_cleanup(&self, name: &str) -> ContainerResult<String> {
        let rec = self.record(name)?;
        let lock = self.layout().lock(&rec.id)?;
        let live = self.effective(rec.clone());
        if live.state.status.is_active() {
            return Err(ContainerError::Other(format!(
                "container {} is running or paused, refusing to clean up: container state improper",
                rec.id
            )));
        }
        let cfg = parse_config(&rec)?;
        self.cleanup_dead(&rec, &cfg)?;
        self.set_state(&rec.id, |st| {
            if st.status.is_active() {
                st.status = ContainerStatus::Exited;
            }
            st.mounted = false;
            st.pid = 0;
            st.monitor_pid = 0;
        })?;
        drop(lock);
        Ok(rec.id)
    }

    fn container_id(&self, name: &str) -> ContainerResult<String> {
        Ok(self.record(name)?.id)
    }
}

/// A log reader's output, sent to the thread that writes it.
struct ChannelWriter {
    tx: std::sync::mpsc::Sender<(bool, Vec<u8>)>,
    stderr: bool,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .send((self.stderr, buf.to_vec()))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    podman_rs_namespaces::syscall::find_in_path(name, &std::env::var_os("PATH")?)
}

/// Runs the monitor for container `id` (the hidden `container-monitor` verb).
pub fn run_monitor(engine: &LocalEngine, id: &str, wait_start: bool, init_only: bool) -> i32 {
    let layout = engine.layout();
    monitor::run(
        engine.store(),
        &layout,
        &monitor::MonitorOptions {
            id: id.to_string(),
            wait_start,
            init_only,
            driver: engine.storage().driver.clone(),
        },
    )
}

/// Rootless on a cgroup v1 (or hybrid) host: containers get no cgroup of
/// their own, so resource limits, pause and unpause are unavailable.
fn rootless_cgroup_v1() -> bool {
    podman_rs_namespaces::rootless()
        && !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}
