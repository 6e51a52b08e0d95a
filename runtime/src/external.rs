//! An external OCI runtime binary (crun, runc, …) behind the same interface:
//! the engine hands it the same bundle through the runc command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::state::ContainerState;
use crate::{CreateOptions, ExecOptions, ExitCode, Result, Runtime, RuntimeError};

#[derive(Debug, Clone)]
pub struct External {
    binary: PathBuf,
    root: Option<PathBuf>,
}

impl External {
    /// `binary` is a path or a name looked up in $PATH; `root` is passed as `--root`.
    pub fn new(binary: impl Into<PathBuf>, root: Option<PathBuf>) -> Self {
        External {
            binary: binary.into(),
            root,
        }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        if let Some(root) = &self.root {
            c.arg("--root").arg(root);
        }
        c
    }

    fn err(&self, msg: impl Into<String>) -> RuntimeError {
        RuntimeError::External {
            binary: self.binary.clone(),
            msg: msg.into(),
        }
    }

    /// Runs with inherited stdio; returns the exit code.
    fn status(&self, mut c: Command) -> Result<ExitCode> {
        let st = c
            .status()
            .map_err(|e| self.err(format!("cannot run: {e}")))?;
        Ok(st
            .code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)))
    }

    /// Runs capturing stdout and stderr; fails with the runtime's own message.
    fn output(&self, mut c: Command) -> Result<Vec<u8>> {
        let out = c
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.err(format!("cannot run: {e}")))?;
        if !out.status.success() {
            return Err(self.err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        Ok(out.stdout)
    }

    fn ok(&self, c: Command) -> Result<()> {
        self.output(c).map(|_| ())
    }

    fn create_args(c: &mut Command, opts: &CreateOptions) {
        c.arg("--bundle").arg(&opts.bundle);
        if let Some(p) = &opts.pid_file {
            c.arg("--pid-file").arg(p);
        }
        if let Some(s) = &opts.console_socket {
            c.arg("--console-socket").arg(s);
        }
        if opts.no_pivot {
            c.arg("--no-pivot");
        }
        if opts.preserve_fds > 0 {
            c.arg("--preserve-fds").arg(opts.preserve_fds.to_string());
        }
    }

    /// `run`: create + start + wait, with the runtime's own stdio handling.
    pub fn run(&self, id: &str, opts: &CreateOptions, detach: bool) -> Result<Option<ExitCode>> {
        let mut c = self.cmd();
        c.arg("run");
        Self::create_args(&mut c, opts);
        if detach {
            c.arg("--detach");
        }
        c.arg(id);
        let code = self.status(c)?;
        Ok(if detach { None } else { Some(code) })
    }
}

impl Runtime for External {
    fn create(&self, id: &str, opts: &CreateOptions) -> Result<()> {
        let mut c = self.cmd();
        c.arg("create");
        Self::create_args(&mut c, opts);
        c.arg(id);
        // The container's stdio is ours: do not capture it.
        match self.status(c)? {
            0 => Ok(()),
            n => Err(self.err(format!("create {id} exited with {n}"))),
        }
    }

    fn start(&self, id: &str) -> Result<()> {
        let mut c = self.cmd();
        c.arg("start").arg(id);
        self.ok(c)
    }

    fn state(&self, id: &str) -> Result<ContainerState> {
        let mut c = self.cmd();
        c.arg("state").arg(id);
        let out = self.output(c)?;
        serde_json::from_slice(&out).map_err(|e| self.err(format!("state {id}: bad JSON: {e}")))
    }

    fn kill(&self, id: &str, signal: &str, all: bool) -> Result<()> {
        let mut c = self.cmd();
        c.arg("kill");
        if all {
            c.arg("--all");
        }
        c.arg(id).arg(signal);
        self.ok(c)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        let mut c = self.cmd();
        c.arg("delete");
        if force {
            c.arg("--force");
        }
        c.arg(id);
        self.ok(c)
    }

    fn exec(&self, id: &str, opts: &ExecOptions) -> Result<Option<ExitCode>> {
        let mut c = self.cmd();
        c.arg("exec");
        if opts.detach {
            c.arg("--detach");
        }
        if opts.tty {
            c.arg("--tty");
        }
        if let Some(s) = &opts.console_socket {
            c.arg("--console-socket").arg(s);
        }
        if let Some(p) = &opts.pid_file {
            c.arg("--pid-file").arg(p);
        }
        if let Some(cwd) = &opts.cwd {
            c.arg("--cwd").arg(cwd);
        }
        for e in &opts.env {
            c.arg("--env").arg(e);
        }
        if let Some((uid, gid)) = opts.user {
            c.arg("--user").arg(format!("{uid}:{gid}"));
        }
        if let Some(p) = &opts.process {
            c.arg("--process").arg(p).arg(id);
        } else {
            c.arg(id).args(&opts.args);
        }
        let code = self.status(c)?;
        Ok(if opts.detach { None } else { Some(code) })
    }

    fn pause(&self, id: &str) -> Result<()> {
        let mut c = self.cmd();
        c.arg("pause").arg(id);
        self.ok(c)
    }

    fn resume(&self, id: &str) -> Result<()> {
        let mut c = self.cmd();
        c.arg("resume").arg(id);
        self.ok(c)
    }

    fn list(&self) -> Result<Vec<ContainerState>> {
        let mut c = self.cmd();
        c.args(["list", "--format", "json"]);
        let out = self.output(c)?;
        if out.iter().all(u8::is_ascii_whitespace) || out.as_slice() == b"null\n" {
            return Ok(Vec::new());
        }
        serde_json::from_slice::<Option<Vec<ContainerState>>>(&out)
            .map(Option::unwrap_or_default)
            .map_err(|e| self.err(format!("list: bad JSON: {e}")))
    }

    fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let mut c = self.cmd();
        c.args(["ps", "--format", "json", id]);
        let out = self.output(c)?;
        serde_json::from_slice(&out).map_err(|e| self.err(format!("ps {id}: bad JSON: {e}")))
    }
}
