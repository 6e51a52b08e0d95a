//! `exec`: a new process in a running container, run by the container's
//! runtime from the calling process (its stdio is the caller's), as the
//! container's process with the request laid over it (env, user, workdir).

use podman_rs_runtime::ExecOptions as RtExec;

use super::config::ContainerConfig;
use super::create::{merge_env, read_env_file};
use super::engine::{ContainerResult, ExecEnd};
use super::error::ContainerError;
use super::monitor::{process_alive, runtime_error, runtime_for};
use super::options::ExecOptions;
use crate::interface::LocalEngine;
use crate::store::ContainerStatus;

/// Runs `opts.command` in container `name`.
pub fn exec(engine: &LocalEngine, name: &str, opts: &ExecOptions) -> ContainerResult<ExecEnd> {
    let rec = engine
        .store()
        .lookup_container(name)
        .map_err(|e| ContainerError::Other(e.to_string()))?;
    let alive = process_alive(rec.state.monitor_pid, rec.state.monitor_start);
    if rec.state.status != ContainerStatus::Running || !alive {
        return Err(ContainerError::Other(
            "can only create exec sessions on running containers: container state improper".into(),
        ));
    }
    if opts.command.is_empty() {
        return Err(ContainerError::InvalidArgument(
            "must provide a non-empty command to start an exec session: invalid argument".into(),
        ));
    }
    let cfg: ContainerConfig = serde_json::from_str(&rec.config)
        .map_err(|e| ContainerError::Other(format!("container {}: bad config: {e}", rec.id)))?;
    let mut env: Vec<String> = Vec::new();
    for f in &opts.env_file {
        merge_env(&mut env, read_env_file(f, &opts.caller_env)?);
    }
    let user_env: Vec<String> = opts
        .env
        .iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                opts.caller_env
                    .iter()
                    .find(|(k, _)| k == e)
                    .map(|(k, v)| format!("{k}={v}"))
            }
        })
        .collect();
    merge_env(&mut env, user_env);
    let layout = engine.layout();
    let user = match &opts.user {
        Some(u) => {
            let rootfs = match &cfg.rootfs {
                super::config::RootfsSource::Path {
                    path,
                    overlay: false,
                } => path.clone(),
                super::config::RootfsSource::Path { overlay: true, .. } => layout
                    .container_dir(&rec.id)
                    .join(podman_rs_rootfs::exploded::MERGED_DIR),
                _ if engine.storage().driver == "vfs" => layout.vfs_rootfs(&rec.id),
                _ => layout.merged(&rec.id),
            };
            let eu = super::files::resolve_user(&rootfs, u, &[])
                .map_err(|e| ContainerError::Other(e.to_string()))?;
            Some((eu.uid, eu.gid))
        }
        None => None,
    };
    let rt_opts = RtExec {
        args: opts.command.clone(),
        env,
        cwd: opts.workdir.as_ref().map(Into::into),
        user,
        tty: opts.tty,
        detach: opts.detach,
        ..Default::default()
    };
    let rt = runtime_for(&layout, &cfg);
    let mut exec_cfg = cfg.clone();
    exec_cfg.command = opts.command.clone();
    match rt.exec(&rec.id, &rt_opts) {
        Ok(Some(code)) => Ok(ExecEnd::Exited(code)),
        Ok(None) => Ok(ExecEnd::Detached(super::create::random_id()?)),
        Err(e) => Err(runtime_error(&exec_cfg, &e.to_string())),
    }
}
