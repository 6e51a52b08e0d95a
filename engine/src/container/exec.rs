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
    let rec = engine.store().lookup_container(name)?;
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
    let mut rt_opts = RtExec {
        args: opts.command.clone(),
        env,
        cwd: opts.workdir.as_ref().map(Into::into),
        user,
        tty: opts.tty,
        detach: opts.detach,
        privileged: opts.privileged,
        ..Default::default()
    };
    let rt = runtime_for(&layout, &cfg);
    let mut exec_cfg = cfg.clone();
    exec_cfg.command = opts.command.clone();
    // A terminal: the runtime sends the pty master over a console socket;
    // a thread relays it to our stdio while the process runs.
    let relay = if opts.tty {
        let sock = layout.exec_console_socket(&rec.id, std::process::id());
        if let Some(dir) = sock.parent() {
            std::fs::create_dir_all(dir).map_err(ContainerError::io(&rec.id, "creating", dir))?;
        }
        let _ = std::fs::remove_file(&sock);
        let listener = std::os::unix::net::UnixListener::bind(&sock)
            .map_err(ContainerError::io(&rec.id, "binding", &sock))?;
        rt_opts.console_socket = Some(sock.clone());
        let interactive = opts.interactive;
        let size = opts.tty_size;
        Some((
            sock,
            std::thread::spawn(move || relay_pty(listener, interactive, size)),
        ))
    } else {
        None
    };
    let result = rt.exec(&rec.id, &rt_opts);
    if let Some((sock, handle)) = relay {
        let _ = std::fs::remove_file(&sock);
        if result.is_ok() && !opts.detach {
            let _ = handle.join();
        }
    }
    match result {
        Ok(Some(code)) => Ok(ExecEnd::Exited(code)),
        Ok(None) => Ok(ExecEnd::Detached(super::create::random_id()?)),
        Err(e) => Err(runtime_error(&exec_cfg, &e.to_string())),
    }
}

/// Receives the exec's pty master and copies it to stdout (and stdin to
/// it with `-i`) until the process closes it.
fn relay_pty(
    listener: std::os::unix::net::UnixListener,
    interactive: bool,
    size: Option<(u16, u16)>,
) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::{Read, Write};
    let Ok((stream, _)) = listener.accept() else {
        return;
    };
    let mut buf = [0u8; 4096];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    if rustix::net::recvmsg(
        &stream,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .is_err()
    {
        return;
    }
    let mut master = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            for fd in fds {
                master.get_or_insert(fd);
            }
        }
    }
    let Some(master) = master else {
        return;
    };
    if let Some((rows, cols)) = size {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let _ = rustix::termios::tcsetwinsize(&master, ws);
    }
    let mut out = std::fs::File::from(master);
    if interactive {
        if let Ok(mut input) = out.try_clone() {
            std::thread::spawn(move || {
                let mut stdin = std::io::stdin();
                let mut b = [0u8; 4096];
                while let Ok(n) = stdin.read(&mut b) {
                    if n == 0 || input.write_all(&b[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    }
    let mut stdout = std::io::stdout();
    let mut b = [0u8; 8192];
    // EIO once the process side is closed.
    while let Ok(n) = out.read(&mut b) {
        if n == 0 || stdout.write_all(&b[..n]).is_err() {
            break;
        }
        let _ = stdout.flush();
    }
}
