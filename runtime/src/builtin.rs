//! The built-in runtime: containers run in-process through youki's `libcontainer`.

use std::fs;
use std::path::{Path, PathBuf};

use libcontainer::config::YoukiConfig;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::state::State;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::{Hook, LinuxNamespaceType, Spec};

use crate::seccomp_load::SeccompLoad;
use crate::state::{ContainerState, Status};
use crate::{
    check_id, rlimits, rootless, validate, CreateOptions, ExecOptions, ExitCode, Result, Runtime,
    RuntimeError,
};

/// The hooks the runtime runs itself rather than through libcontainer, which
/// stops at the first failing hook: the OCI spec wants a warning for a failing
/// poststart/poststop hook, and the remaining hooks run all the same.
#[derive(Clone, Copy)]
enum HookPoint {
    Poststart,
    Poststop,
}

/// Runs `hooks` one at a time; a failure is logged as a warning and the rest still run.
fn run_each(id: &str, point: &str, hooks: &[Hook], c: &Container, cwd: Option<&Path>) {
    for hook in hooks {
        let one = vec![hook.clone()];
        if let Err(e) = libcontainer::hooks::run_hooks(Some(&one), Some(&c.state), cwd, None, None)
        {
            tracing::warn!(
                "container {id:?}: {point} hook {}: {e}",
                hook.path().display()
            );
        }
    }
}

/// Where a container's private bundle (see `Builtin::private_bundle`) stays
/// after create: in its state directory.
const PRIVATE_BUNDLE: &str = "private-bundle";

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

    fn load(&self, id: &str) -> Result<Container> {
        check_id(id)?;
        let dir = self.dir(id);
        if !dir.join("state.json").exists() {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let mut c = Container::load(dir).map_err(|e| lc(id, e))?;
        // While create runs there is no pid yet, which libcontainer reads as
        // "stopped": report the saved "creating" instead.
        if c.pid().is_none() && c.status() == ContainerStatus::Stopped {
            if let Ok(saved) = State::load(&c.root) {
                if saved.status == ContainerStatus::Creating {
                    c.set_status(ContainerStatus::Creating);
                }
            }
        }
        Ok(c)
    }

    fn cgroup(&self, id: &str, c: &Container) -> Result<podman_rs_cgroups::Cgroup> {
        let config = c.spec().map_err(|e| lc(id, e))?;
        podman_rs_cgroups::Cgroup::open(&config.cgroup_path)
            .map_err(|e| RuntimeError::Libcontainer(format!("container {id:?}: {e}")))
    }

    /// A stopped container's delete without libcontainer: what its delete
    /// does then (remove the cgroup, then the state directory), with one
    /// mountinfo read instead of libcgroups' reads per controller through a
    /// fresh procfs mount (~700 system calls). Returns false, having done
    /// nothing, when libcontainer has to do it (running, systemd cgroups,
    /// Intel RDT, an unreadable config).
    fn delete_stopped(&self, id: &str, c: &Container) -> bool {
        if c.status() != ContainerStatus::Stopped || c.systemd() || c.intel_rdt_dir().is_some() {
            return false;
        }
        let Ok(cg) = self.cgroup(id, c) else {
            return false;
        };
        if let Err(e) = cg.remove() {
            // libcontainer retries, and reports what is left.
            tracing::debug!("container {id:?}: removing its cgroup: {e}");
            return false;
        }
        match fs::remove_dir_all(self.dir(id)) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(_) => false,
        }
    }

    /// Whether the container has cgroups of its own. A rootless container on
    /// cgroup v1 has none: signalling "all" processes then means its init,
    /// whose death takes the pid namespace with it.
    fn has_cgroup(&self, id: &str, c: &Container) -> bool {
        self.cgroup(id, c).is_ok_and(|cg| cg.exists())
    }

    /// Kills the init process with SIGKILL and waits (up to 5 s) until it is gone.
    fn kill_init_and_wait(&self, id: &str, c: &mut Container) -> Result<()> {
        if let Some(pid) = c.pid() {
            match nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => return Err(RuntimeError::sys(format!("killing container {id:?}"), e)),
            }
        }
        for _ in 0..500 {
            c.refresh_status().map_err(|e| lc(id, e))?;
            if c.status() == ContainerStatus::Stopped {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(RuntimeError::Libcontainer(format!(
            "container {id:?}: init did not exit after SIGKILL"
        )))
    }

    /// Takes the poststart or poststop hooks out of the container's saved
    /// config, so that libcontainer skips them and `run_each` runs them.
    fn take_hooks(&self, id: &str, c: &Container, point: HookPoint) -> Result<Vec<Hook>> {
        let cfg_err = |e: libcontainer::config::ConfigError| {
            RuntimeError::Libcontainer(format!("container {id:?}: saved config: {e}"))
        };
        let mut cfg = YoukiConfig::load(&c.root).map_err(cfg_err)?;
        let Some(hooks) = cfg.hooks.as_mut() else {
            return Ok(Vec::new());
        };
        let taken = match point {
            HookPoint::Poststart => hooks.poststart().clone(),
            HookPoint::Poststop => hooks.poststop().clone(),
        };
        let taken = taken.unwrap_or_default();
        if taken.is_empty() {
            return Ok(taken);
        }
        match point {
            HookPoint::Poststart => hooks.set_poststart(None),
            HookPoint::Poststop => hooks.set_poststop(None),
        };
        cfg.save(&c.root).map_err(cfg_err)?;
        Ok(taken)
    }

    fn ensure_root(&self) -> Result<()> {
        fs::create_dir_all(&self.root).map_err(|e| RuntimeError::io("create", &self.root, e))
    }

    /// Fills in what the bundle leaves to the runtime. Returns the adjusted
    /// spec, or None when the bundle can be used as it is.
    fn adjust(&self, id: &str, spec: &Spec) -> Option<Spec> {
        let mut spec = spec.clone();
        let mut changed = false;
        if !validate::selinux_enabled() {
            // SELinux is off: a label means no label (libcontainer would pass
            // it on as a mount option, which the kernel then refuses).
            if let Some(p) = spec.process_mut() {
                if p.selinux_label().is_some() {
                    p.set_selinux_label(None);
                    changed = true;
                }
            }
            if let Some(l) = spec.linux_mut() {
                if l.mount_label().is_some() {
                    l.set_mount_label(None);
                    changed = true;
                }
            }
        }
        let linux = spec.linux_mut().as_mut()?;
        if linux.cgroups_path().is_none() {
            // Without a path libcontainer would create cgroups named ":youki:<id>".
            linux.set_cgroups_path(Some(PathBuf::from(format!("/podman-rs/{id}"))));
            changed = true;
        }
        changed.then_some(spec)
    }

    /// Shows `spec` as `bundle/config.json` to this process only: a bind mount
    /// in the private mount namespace `rootless::prepare` gave us. The user's
    /// file is untouched, and hooks still see the user's bundle path.
    fn overlay_config(&self, id: &str, bundle: &Path, spec: &Spec) -> Result<()> {
        let tmp = self.root.join(format!(".{id}.config.json"));
        let json = serde_json::to_vec(spec)
            .map_err(|e| RuntimeError::InvalidSpec(format!("serialising effective config: {e}")))?;
        fs::write(&tmp, json).map_err(|e| RuntimeError::io("write", &tmp, e))?;
        let target = bundle.join("config.json");
        let mounted = nix::mount::mount(
            Some(&tmp),
            &target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        );
        let _ = fs::remove_file(&tmp);
        mounted.map_err(|e| {
            RuntimeError::sys(
                format!(
                    "bind-mounting the effective config over {}",
                    target.display()
                ),
                e,
            )
        })
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
        tracing::debug!("create {id}: loading bundle");
        let spec = validate::load_bundle(&bundle)?;
        if let Some(rl) = spec.process().as_ref().and_then(|p| p.rlimits().as_ref()) {
            rlimits::check(rl)?;
        }
        let adjusted = self.adjust(id, &spec);
        // The seccomp filter compiled once and loaded by our executor.
        let (adjusted, seccomp) =
            match crate::seccomp_load::prepare(&self.root, adjusted.as_ref().unwrap_or(&spec))? {
                Some((lent, load)) => (Some(lent), Some(load)),
                None => (adjusted, None),
            };
        // The config can be shown in place only when the container gets its own
        // mount namespace: one that shares ours must share the caller's.
        let own_mount_ns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|nss| {
                nss.iter()
                    .any(|n| n.typ() == LinuxNamespaceType::Mount && n.path().is_none())
            });
        // Hooks run during create see the bundle path; only they need the
        // in-place view. Without them a private bundle is cheaper: a mount
        // namespace of our own costs a teardown (an RCU grace period) at exit.
        let create_hooks = spec.hooks().as_ref().is_some_and(|h| {
            [
                h.prestart(),
                h.create_runtime(),
                h.create_container(),
                h.start_container(),
            ]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
        });
        let in_place = adjusted.is_some() && own_mount_ns && create_hooks;
        tracing::debug!("create {id}: bundle checked");
        let prepared = rootless::prepare(&spec, in_place)?;
        self.ensure_root()?;
        let mut read_from = bundle.clone();
        if let Some(adjusted) = &adjusted {
            if in_place {
                self.overlay_config(id, &bundle, adjusted)?;
            } else {
                read_from = self.private_bundle(id, &bundle, adjusted)?;
            }
        }
        // Directories the container's user namespace could not search.
        let opened = match crate::reach::open_up(&spec, &bundle) {
            Ok(o) => o,
            Err(e) => {
                let _ = prepared.finish();
                return Err(e);
            }
        };
        tracing::debug!("create {id}: handing over to libcontainer");
        let built = self.build_with(id, opts, detach, &read_from, seccomp);
        let reopened = opened.map(|o| o.finish()).unwrap_or(Ok(()));
        let restored = prepared.finish().and(reopened);
        if read_from != bundle {
            // Into the state directory, removed with it at delete: removing a
            // directory may wait for the disk (a discard), not on create's path.
            let keep = self.dir(id).join(PRIVATE_BUNDLE);
            if built.is_err() || fs::rename(&read_from, &keep).is_err() {
                let _ = fs::remove_dir_all(&read_from);
            }
        }
        let mut container = built.inspect_err(|_| {
            // libcontainer cleans up what it made; make sure nothing is left.
            let _ = fs::remove_dir_all(self.dir(id));
        })?;
        restored?;
        if read_from != bundle {
            container.state.bundle = bundle;
            container.save().map_err(|e| lc(id, e))?;
        }
        self.apply_extra_resources(id, &container, &spec)?;
        Ok(container)
    }

    /// Writes the adjusted config to a bundle of our own (root path made
    /// absolute), for a container that shares our mount namespace or has no
    /// create-time hooks. Hooks run during create would see this bundle's
    /// path; the saved state has the user's.
    fn private_bundle(&self, id: &str, bundle: &Path, spec: &Spec) -> Result<PathBuf> {
        let mut spec = spec.clone();
        if let Some(root) = spec.root_mut() {
            if root.path().is_relative() {
                let abs = bundle.join(root.path());
                root.set_path(abs);
            }
        }
        let dir = self.root.join(format!(".{id}.bundle"));
        fs::create_dir_all(&dir).map_err(|e| RuntimeError::io("create", &dir, e))?;
        let path = dir.join("config.json");
        let json = serde_json::to_vec(&spec)
            .map_err(|e| RuntimeError::InvalidSpec(format!("serialising effective config: {e}")))?;
        fs::write(&path, json).map_err(|e| RuntimeError::io("write", &path, e))?;
        Ok(dir)
    }

    /// Resources libcontainer leaves out: `memory.disableOOMKiller` (cgroup v1's
    /// memory.oom_control; cgroup v2 has no such switch, so it is refused there).
    fn apply_extra_resources(&self, id: &str, c: &Container, spec: &Spec) -> Result<()> {
        let disable_oom = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.disable_oom_killer())
            .unwrap_or(false);
        if !disable_oom {
            return Ok(());
        }
        let cg = self.cgroup(id, c)?;
        let Some(dir) = cg.controller_dir("memory") else {
            let _ = self.delete(id, true);
            return Err(RuntimeError::InvalidSpec(
                "linux.resources.memory.disableOOMKiller: needs the cgroup v1 memory controller"
                    .into(),
            ));
        };
        let file = dir.join("memory.oom_control");
        fs::write(&file, "1").map_err(|e| {
            let _ = self.delete(id, true);
            RuntimeError::io("write", &file, e)
        })
    }

    /// libcontainer's builder with what create and exec share.
    fn builder(
        &self,
        id: &str,
        console_socket: Option<&PathBuf>,
        pid_file: Option<&PathBuf>,
        preserve_fds: i32,
        seccomp: Option<SeccompLoad>,
        join: Option<crate::userns_join::Join>,
    ) -> Result<ContainerBuilder> {
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_root_path(&self.root)
            .map_err(|e| lc(id, e))?
            .with_console_socket(console_socket)
            .with_preserved_fds(preserve_fds)
            .with_executor(ResetSignals { seccomp, join });
        if let Some(pid_file) = pid_file {
            builder = builder
                .with_pid_file(Some(pid_file))
                .map_err(|e| lc(id, e))?;
        }
        builder.validate_id().map_err(|e| lc(id, e))
    }

    fn build_with(
        &self,
        id: &str,
        opts: &CreateOptions,
        detach: bool,
        bundle: &Path,
        seccomp: Option<SeccompLoad>,
    ) -> Result<Container> {
        self.builder(
            id,
            opts.console_socket.as_ref(),
            opts.pid_file.as_ref(),
            opts.preserve_fds,
            seccomp,
            None,
        )?
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
        tracing::debug!("run {id}: process exited");
        let deleted = self.cleanup_exited(id);
        tracing::debug!("run {id}: cleaned up");
        let code = code?;
        deleted?;
        Ok(Some(code))
    }

    /// Removes a container whose init we have just reaped. Without poststop
    /// hooks this needs no more than removing its cgroup and state directory,
    /// which is much cheaper than libcontainer's delete (that re-reads the
    /// mount table once per cgroup controller); with hooks, or if anything
    /// looks unusual, it is the full delete.
    fn cleanup_exited(&self, id: &str) -> Result<()> {
        let c = self.load(id)?;
        let has_poststop = c
            .spec()
            .ok()
            .and_then(|cfg| cfg.hooks)
            .is_some_and(|h| h.poststop().as_ref().is_some_and(|p| !p.is_empty()));
        if has_poststop || c.status() != ContainerStatus::Stopped {
            return self.delete(id, true);
        }
        let cg = self.cgroup(id, &c)?;
        if cg.remove().is_err() {
            return self.delete(id, true);
        }
        fs::remove_dir_all(self.dir(id)).map_err(|e| RuntimeError::io("remove", self.dir(id), e))
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
        let poststart = self.take_hooks(id, &c, HookPoint::Poststart)?;
        c.start().map_err(|e| lc(id, e))?;
        run_each(id, "poststart", &poststart, &c, Some(&c.root));
        Ok(())
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
        let all = all && self.has_cgroup(id, &c);
        c.kill(sig, all).map_err(|e| lc(id, e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut c = match self.load(id) {
            Ok(c) => c,
            Err(RuntimeError::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        // Like runc and crun, a created container may be deleted without --force.
        let deletable = matches!(
            c.status(),
            ContainerStatus::Stopped | ContainerStatus::Created
        );
        if !force && !deletable {
            return Err(RuntimeError::WrongState {
                id: id.to_string(),
                status: status_of(c.status()),
                op: "delete",
                needed: "stopped or created (or --force)",
            });
        }
        let mut force = force;
        if force && !deletable && !self.has_cgroup(id, &c) {
            self.kill_init_and_wait(id, &mut c)?;
            force = false;
        }
        let poststop = self
            .take_hooks(id, &c, HookPoint::Poststop)
            .unwrap_or_default();
        if !self.delete_stopped(id, &c) {
            c.delete(force).map_err(|e| lc(id, e))?;
        }
        run_each(id, "poststop", &poststop, &c, None);
        // libcontainer leaves the state directory when the process died under it.
        let _ = fs::remove_dir_all(self.dir(id));
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
        // The container's config (its process, its seccomp filter); an
        // engine may have removed the bundle already.
        let bundle_spec = Spec::load(c.bundle().join("config.json")).ok();
        // Without --process, the container's own process with the request laid
        // over it (as runc does), handed to libcontainer as a process file.
        let mut process = match &opts.process {
            Some(p) => validate::check_process_file(p)?,
            None if opts.args.is_empty() => {
                return Err(RuntimeError::InvalidSpec(
                    "exec: give a command or --process".into(),
                ))
            }
            None => crate::exec_process::exec_process(
                &crate::exec_process::base_process(bundle_spec.as_ref()),
                opts,
            ),
        };
        // The container's seccomp filter, which libcontainer leaves out of exec.
        let seccomp = match &bundle_spec {
            Some(spec) => crate::seccomp_load::prepare_exec(&self.root, spec, &mut process)?,
            None => None,
        };
        // A container with a user namespace of its own: joined by our
        // executor (libcontainer's exec does not).
        let (held, join) = match c.pid() {
            Some(pid) => crate::userns_join::for_exec(pid.as_raw(), &mut process)?,
            None => None,
        }
        .unzip();
        let path = self
            .root
            .join(format!(".{id}.exec-{}.json", std::process::id()));
        let json = serde_json::to_vec(&process)
            .map_err(|e| RuntimeError::InvalidSpec(format!("exec process: {e}")))?;
        fs::write(&path, json).map_err(|e| RuntimeError::io("write", &path, e))?;
        let tenant = self
            .builder(
                id,
                opts.console_socket.as_ref(),
                opts.pid_file.as_ref(),
                opts.preserve_fds,
                seccomp,
                join,
            )?
            .as_tenant()
            // libcontainer takes a console socket only when detaching; the
            // process is our child either way, so a foreground exec with a
            // terminal is a "detached" one we wait for.
            .with_detach(opts.detach || (opts.tty && opts.console_socket.is_some()))
            .with_process(Some(&path));
        // Rootless on cgroup v1: the same private cgroup view as create, so
        // libcontainer does not try to join cgroups the container never had.
        let prepared = match &bundle_spec {
            Some(spec) => rootless::prepare_exec(spec)?,
            None => rootless::Prepared::default(),
        };
        let built = tenant.build();
        let restored = prepared.finish();
        // libcontainer's process has its own copy of the namespace fd.
        drop(held);
        let _ = fs::remove_file(&path);
        let pid = built.map_err(|e| lc(id, e))?;
        restored?;
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
        let cg = self.cgroup(id, &c)?;
        cg.pids()
            .map_err(|e| RuntimeError::Libcontainer(format!("container {id:?}: {e}")))
    }
}

/// libcontainer's default executor, run after giving the process the signal
/// state of a fresh process, as crun and runc do: signals blocked or ignored
/// by the caller would otherwise pass into the container through exec (Rust
/// ignores SIGPIPE; the engine's monitor blocks the signals it reads from a
/// signalfd, so a container's `trap … TERM` never ran). For a container's
/// init it also loads the precompiled seccomp filter (see `seccomp_load`).
#[derive(Clone)]
struct ResetSignals {
    seccomp: Option<SeccompLoad>,
    /// For an exec into a container with its own user namespace.
    join: Option<crate::userns_join::Join>,
}

impl libcontainer::workload::Executor for ResetSignals {
    fn exec(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> std::result::Result<(), libcontainer::workload::ExecutorError> {
        reset_signals();
        if let Some(join) = &self.join {
            join.enter()
                .map_err(libcontainer::workload::ExecutorError::Other)?;
        }
        if let Some(load) = &self.seccomp {
            load.apply()
                .map_err(libcontainer::workload::ExecutorError::Other)?;
        }
        libcontainer::workload::default::DefaultExecutor {}.exec(spec)
    }

    fn validate(
        &self,
        spec: &oci_spec::runtime::Spec,
    ) -> std::result::Result<(), libcontainer::workload::ExecutorValidationError> {
        libcontainer::workload::default::DefaultExecutor {}.validate(spec)
    }
}

/// Default disposition for every signal (only ignored ones survive exec,
/// handlers do not) and an empty signal mask, in the calling thread.
fn reset_signals() {
    // The kernel's `struct sigaction` (x86_64, aarch64): libc's sigaction
    // refuses the signals the C library reserves for itself (32, 33), which
    // a caller may still have ignored.
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let dfl = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid kernel sigaction installing
        // SIG_DFL and no old-action pointer; errors (invalid numbers) are
        // harmless and ignored.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &dfl as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
    let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
}
