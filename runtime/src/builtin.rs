//! The built-in runtime: containers run in-process through youki's `libcontainer`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::state::{ContainerState, Status};
use crate::{
    check_id, rlimits, rootless, validate, CreateOptions, ExecOptions, ExitCode, Result, Runtime,
    RuntimeError,
};

/// Directory (under the root) holding the effective config of containers whose
/// bundle needed adjusting (a default cgroups path); named `.bundles` so that it
/// can never clash with a container id.
const BUNDLES_DIR: &str = ".bundles";

/// Runs containers in this process with libcontainer. State lives under `root`.
#[derive(Debug, Clone)]
pub struct Builtin {
    root: PathBuf,
}

fn lc(id: &str, err: LibcontainerError) -> RuntimeError {
    match err {
        LibcontainerError::Exist => RuntimeError::AlreadyExists(id.to_string()),
        other => RuntimeError::Libcontainer(format!("container {id:?}: {other}")),
    }
}

fn status_of(s: ContainerStatus) -> Status {
    match s {
        ContainerStatus::Creating => Status::Creating,
        ContainerStatus::Created => Status::Created,
        ContainerStatus::Running => Status::Running,
        ContainerStatus::Stopped => Status::Stopped,
        ContainerStatus::Paused => Status::Paused,
    }
}

/// Parses a signal given as a name ("TERM", "SIGTERM", any case) or a number.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || RuntimeError::BadSignal(s.to_string());
    match s.parse::<i32>() {
        Ok(n) => Signal::try_from(n).map_err(|_| bad()),
        Err(_) => Signal::try_from(s).map_err(|_| bad()),
    }
}

/// Turns a wait status into a shell-style exit code.
pub(crate) fn exit_code(status: WaitStatus) -> Option<ExitCode> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

/// Waits for a child process, retrying on EINTR, until it exits.
pub(crate) fn wait_for(pid: Pid) -> Result<ExitCode> {
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    return Ok(code);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(RuntimeError::sys(format!("waiting for process {pid}"), e)),
        }
    }
}

impl Builtin {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Builtin { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    fn private_bundle(&self, id: &str) -> PathBuf {
        self.root.join(BUNDLES_DIR).join(id)
    }

    fn load(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.dir(id);
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        Container::load(dir).map_err(|e| lc(id, e))
    }

    fn ensure_root(&self) -> Result<()> {
        fs::create_dir_all(&self.root).map_err(|e| RuntimeError::io("create", &self.root, e))
    }

    /// Adjusts the spec where the bundle leaves a choice to the runtime, writing
    /// the result to a private bundle. Returns the bundle libcontainer should read.
    fn effective_bundle(&self, id: &str, bundle: &Path, mut spec: Spec) -> Result<Option<PathBuf>> {
        let mut changed = false;
        if let Some(linux) = spec.linux_mut() {
            if linux.cgroups_path().is_none() {
                // Without a path libcontainer would create cgroups named ":youki:<id>".
                linux.set_cgroups_path(Some(PathBuf::from(format!("/podman-rs/{id}"))));
                changed = true;
            }
        }
        if !changed {
            return Ok(None);
        }
        if let Some(root) = spec.root_mut() {
            if root.path().is_relative() {
                let abs = bundle.join(root.path());
                root.set_path(abs);
            }
        }
        let dir = self.private_bundle(id);
        fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, e))?;
        let path = dir.join("config.json");
        let json = serde_json::to_vec(&spec)
            .map_err(|e| RuntimeError::InvalidSpec(format!("serialising effective config: {e}")))?;
        fs::write(&path, json).map_err(|e| RuntimeError::io("write", &path, e))?;
        Ok(Some(dir))
    }

    fn build(&self, id: &str, opts: &CreateOptions, detach: bool) -> Result<Container> {
        check_id(id)?;
        if self.dir(id).exists() {
            return Err(RuntimeError::AlreadyExists(id.to_string()));
        }
        let bundle = fs::canonicalize(&opts.bundle).map_err(|e| RuntimeError::Bundle {
            path: opts.bundle.clone(),
            msg: e.to_string(),
        })?;
        let spec = validate::load_bundle(&bundle)?;
        if let Some(rl) = spec.process().as_ref().and_then(|p| p.rlimits().as_ref()) {
            rlimits::check(rl)?;
        }
        rootless::prepare(&spec)?;
        self.ensure_root()?;
        let private = self.effective_bundle(id, &bundle, spec)?;
        let result = self.build_with(id, opts, detach, private.as_deref().unwrap_or(&bundle));
        match result {
            Ok(mut container) => {
                if private.is_some() {
                    container.state.bundle = bundle;
                    container.save().map_err(|e| lc(id, e))?;
                }
                Ok(container)
            }
            Err(e) => {
                // libcontainer cleans up what it made; make sure nothing is left.
                let _ = fs::remove_dir_all(self.private_bundle(id));
                let _ = fs::remove_dir_all(self.dir(id));
                Err(e)
            }
        }
    }

    fn build_with(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        bundle: &Path,
    ) -> Result<Container> {
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.root)
            .map_err(|e| lc(id, e))?
            .with_console_socket(opts.console_socket.as_ref())
            .with_preserved_fds(opts.preserve_fds);
        if let Some(pid_file) = &opts.pid_file {
            builder = builder
                .with_pid_file(Some(pid_file))
                .map_err(|e| lc(id, e))?;
        }
        builder
            .validate_id()
            .map_err(|e| lc(id, e))?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(detach)
            .with_no_pivot(opts.no_pivot)
            .build()
            .map_err(|e| lc(id, e))
    }

    /// `run`: create, start, and unless detached wait for the process, delete the
    /// container and return the process's exit code.
    pub fn run(&self, id: &str, opts: &CreateOptions, detach: bool) -> Result<Option<ExitCode>> {
        let mut container = self.build(id, opts, detach)?;
        if let Err(e) = container.start() {
            let _ = self.delete(id, true);
            return Err(lc(id, e));
        }
        if detach {
            return Ok(None);
        }
        let pid = container
            .pid()
            .ok_or_else(|| RuntimeError::Libcontainer(format!("container {id:?}: no pid")))?;
        let _forward = crate::signals::forward_to(pid);
        let code = wait_for(pid);
        let deleted = self.delete(id, true);
        let code = code?;
        deleted?;
        Ok(Some(code))
    }

    fn to_state(&self, c: &Container) -> ContainerState {
        let status = status_of(c.status());
        let pid = match status {
            Status::Stopped => 0,
            _ => c.pid().map(|p| p.as_raw()).unwrap_or(0),
        };
        ContainerState {
            oci_version: "1.2.0".to_string(),
            id: c.id().to_string(),
            status,
            pid,
            bundle: c.bundle().clone(),
            rootfs: None,
            created: c.created().map(|t| t.to_rfc3339()),
            owner: c
                .creator()
                .map(|o| o.to_string_lossy().into_owned())
                .unwrap_or_default(),
            annotations: c.state.annotations.clone().unwrap_or_default(),
        }
    }
}

impl Runtime for Builtin {
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<()> {
        self.build(id, opts, true).map(|_| ())
    }

    fn start(&self, id: &str) -> Result<()> {
        let mut c = self.load(id)?;
        if c.status() != ContainerStatus::Created {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: status_of(c.status()),
                op: "start",
                needed: "created",
            });
        }
        c.start().map_err(|e| lc(id, e))
    }

    fn state(&self, id: &str) -> Result<ContainerState> {
        let c = self.load(id)?;
        Ok(self.to_state(&c))
    }

    fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()> {
        let sig = parse_signal(signal)?;
        let mut c = self.load(id)?;
        if !all && !c.can_kill() {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: status_of(c.status()),
                op: "kill",
                needed: "created, running or paused",
            });
        }
        c.kill(sig, all).map_err(|e| lc(id, e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut c = match self.load(id) {
            Ok(c) => c,
            Err(RuntimeError::NotFound(_)) if force => {
                let _ = fs::remove_dir_all(self.private_bundle(id));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if !force && !c.can_delete() {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: status_of(c.status()),
                op: "delete",
                needed: "stopped or created (or --force)",
            });
        }
        c.delete(force).map_err(|e| lc(id, e))?;
        // libcontainer leaves the state directory when the process died under it.
        let _ = fs::remove_dir_all(self.dir(id));
        let _ = fs::remove_dir_all(self.private_bundle(id));
        Ok(())
    }

    fn exec(&self, id: &str, opts: &ExecOptions) -> Result<Option<ExitCode>> {
        let c = self.load(id)?;
        if c.status() != ContainerStatus::Running {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: status_of(c.status()),
                op: "exec",
                needed: "running",
            });
        }
        if let Some(p) = &opts.process {
            validate::check_process_file(p)?;
        } else if opts.args.is_empty() {
            return Err(RuntimeError::InvalidSpec(
                "exec: give a command or --process".into(),
            ));
        }
        let env: HashMap<String, String> = opts
            .env
            .iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.root)
            .map_err(|e| lc(id, e))?
            .with_console_socket(opts.console_socket.as_ref())
            .with_preserved_fds(opts.preserve_fds);
        if let Some(pid_file) = &opts.pid_file {
            builder = builder
                .with_pid_file(Some(pid_file))
                .map_err(|e| lc(id, e))?;
        }
        let mut tenant = builder
            .validate_id()
            .map_err(|e| lc(id, e))?
            .as_tenant()
            .with_detach(opts.detach)
            .with_cwd(opts.cwd.as_ref())
            .with_env(env)
            .with_process(opts.process.as_ref())
            .with_container_args(opts.args.clone());
        if let Some((uid, gid)) = opts.user {
            tenant = tenant.with_user(Some(uid)).with_group(Some(gid));
        }
        let pid = tenant.build().map_err(|e| lc(id, e))?;
        if opts.detach {
            return Ok(None);
        }
        let _forward = crate::signals::forward_to(pid);
        wait_for(pid).map(Some)
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.load(id)?.pause().map_err(|e| lc(id, e))
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.load(id)?.resume().map_err(|e| lc(id, e))
    }

    fn list(&self) -> Result<Vec<ContainerState>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io("read", &self.root, e)),
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().join("state.json").exists() {
                continue;
            }
            match self.load(&name) {
                Ok(c) => out.push(self.to_state(&c)),
                Err(e) => tracing::warn!("skipping {name}: {e}"),
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let c = self.load(id)?;
        let config = c.spec().map_err(|e| lc(id, e))?;
        let manager = libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
            cgroup_path: config.cgroup_path,
            systemd_cgroup: false,
            container_name: id.to_string(),
        })
        .map_err(|e| RuntimeError::Libcontainer(format!("container {id:?}: cgroup: {e}")))?;
        use libcgroups::common::CgroupManager;
        let pids = manager.get_all_pids().map_err(|e| {
            RuntimeError::Libcontainer(format!("container {id:?}: cgroup pids: {e}"))
        })?;
        let mut pids: Vec<i32> = pids.into_iter().map(|p| p.as_raw()).collect();
        pids.sort_unstable();
        Ok(pids)
    }
}
