//! `--network slirp4netns`: the container's network namespace gets a `tap0`
//! device served by a slirp4netns process (user-mode TCP/IP: outbound
//! connections work without privileges, which is why rootless Podman uses
//! it), and `-p` ports are forwarded through slirp4netns's API socket.
//!
//! As Podman runs it: `--disable-host-loopback --mtu=65520 --enable-sandbox
//! --enable-seccomp --enable-ipv6 -c -e FD -r FD --netns-type=path NETNS tap0`.
//! slirp4netns exits when the exit pipe (`-e`) is closed; it writes to the
//! ready pipe (`-r`) once tap0 is configured. The container is 10.0.2.100,
//! the gateway (the host) 10.0.2.2, the DNS forwarder 10.0.2.3.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::config::PortMapping;
use super::error::ContainerError;

/// The container's address on slirp4netns's default network.
pub const CONTAINER_IP: &str = "10.0.2.100";
/// slirp4netns's DNS forwarder.
pub const DNS_IP: &str = "10.0.2.3";

/// How long slirp4netns may take to configure tap0.
const READY_TIMEOUT: Duration = Duration::from_secs(5);

/// `slirp4netns:` options, as Podman takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlirpOptions {
    pub allow_host_loopback: bool,
    pub enable_ipv6: bool,
    pub cidr: Option<String>,
    pub mtu: u32,
    pub outbound_addr: Option<String>,
}

impl Default for SlirpOptions {
    fn default() -> Self {
        SlirpOptions {
            allow_host_loopback: false,
            enable_ipv6: true,
            cidr: None,
            mtu: 65520,
            outbound_addr: None,
        }
    }
}

/// Parses the comma-separated `slirp4netns:` options (already split).
pub fn parse_options(opts: &[String]) -> Result<SlirpOptions, String> {
    let mut o = SlirpOptions::default();
    let flag = |k: &str, v: &str| match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("slirp4netns option {k}: {v:?} is not a boolean")),
    };
    for opt in opts {
        let (k, v) = opt
            .split_once('=')
            .ok_or_else(|| format!("unknown option for slirp4netns: {opt:?}"))?;
        match k {
            "allow_host_loopback" => o.allow_host_loopback = flag(k, v)?,
            "enable_ipv6" => o.enable_ipv6 = flag(k, v)?,
            "cidr" => o.cidr = Some(v.to_string()),
            "mtu" => {
                o.mtu = v
                    .parse()
                    .map_err(|_| format!("slirp4netns option mtu: {v:?} is not a number"))?
            }
            "outbound_addr" => o.outbound_addr = Some(v.to_string()),
            // Podman's port_handler choice: forwarding here is always
            // slirp4netns's own API.
            "port_handler" if v == "slirp4netns" || v == "rootlesskit" => {}
            _ => return Err(format!("unknown option for slirp4netns: {opt:?}")),
        }
    }
    Ok(o)
}

/// A running slirp4netns serving one container.
#[derive(Debug)]
pub struct Slirp {
    child: Child,
    /// Closing it tells slirp4netns to exit.
    exit_pipe: Option<OwnedFd>,
}

/// A network helper program (`name`) on PATH, or Podman's error naming it
/// (`hint` says which package has it).
pub(super) fn find_helper(name: &str, hint: &str) -> Result<PathBuf, ContainerError> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    podman_rs_namespaces::syscall::find_in_path(name, &path).ok_or_else(|| {
        ContainerError::Other(format!(
            "could not find {name}, the network namespace can't be configured: \
             exec: \"{name}\": executable file not found in $PATH{hint}"
        ))
    })
}

fn inheritable(fd: &OwnedFd) -> nix::Result<()> {
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty())).map(|_| ())
}

fn failed(binary: &Path, detail: &str) -> ContainerError {
    // Podman quotes slirp4netns's output Go-style (%q).
    ContainerError::Other(format!("{} failed: {detail:?}", binary.display()))
}

/// A network helper could not open /dev/net/tun: exit 126 as Podman, with
/// `prefix` (the helper's own error) and what to change.
pub(super) fn tun_denied(prefix: String) -> ContainerError {
    ContainerError::Failed {
        code: 126,
        msg: format!(
            "{prefix}/dev/net/tun is not readable and writable by this user (it is often mode \
             0600): as root run `chmod 0666 /dev/net/tun` (or a udev rule doing the same), or \
             use --network none or host"
        ),
    }
}

/// Starts slirp4netns for the network namespace at `netns`, waits until
/// tap0 is up, and forwards `ports`. `run_dir` holds its log; `api_socket`
/// (a path under 108 bytes) is its API socket when ports are published.
pub fn start(
    netns: &Path,
    opts: &SlirpOptions,
    ports: &[PortMapping],
    run_dir: &Path,
    api_socket: &Path,
) -> Result<Slirp, ContainerError> {
    let binary = find_helper("slirp4netns", "")?;
    let sys = |what: &str| {
        let what = what.to_string();
        move |e: nix::Error| ContainerError::Other(format!("slirp4netns: {what}: {e}"))
    };
    let (exit_r, exit_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("exit pipe"))?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("ready pipe"))?;
    // Only slirp4netns's ends are inherited (by number, as -e/-r say).
    inheritable(&exit_r).map_err(sys("exit pipe"))?;
    inheritable(&ready_w).map_err(sys("ready pipe"))?;
    let log_path = run_dir.join("slirp4netns.log");
    let log = File::create(&log_path)
        .map_err(|e| ContainerError::Other(format!("slirp4netns: {}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| ContainerError::Other(format!("slirp4netns: log: {e}")))?;
    let _ = std::fs::remove_file(api_socket);
    let mut cmd = Command::new(&binary);
    if !opts.allow_host_loopback {
        cmd.arg("--disable-host-loopback");
    }
    cmd.arg(format!("--mtu={}", opts.mtu))
        .args(["--enable-sandbox", "--enable-seccomp"]);
    if opts.enable_ipv6 {
        cmd.arg("--enable-ipv6");
    }
    cmd.arg("-c")
        .arg("-e")
        .arg(exit_r.as_raw_fd().to_string())
        .arg("-r")
        .arg(ready_w.as_raw_fd().to_string());
    if let Some(cidr) = &opts.cidr {
        cmd.arg(format!("--cidr={cidr}"));
    }
    if let Some(addr) = &opts.outbound_addr {
        cmd.arg(format!("--outbound-addr={addr}"));
    }
    if !ports.is_empty() {
        cmd.arg("--api-socket").arg(api_socket);
    }
    cmd.arg("--netns-type=path").arg(netns).arg("tap0");
    podman_rs_namespaces::netns::spawn_in_private_mount_ns(&mut cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| ContainerError::Other(format!("starting {}: {e}", binary.display())))?;
    drop(exit_r);
    drop(ready_w);
    let mut slirp = Slirp {
        child,
        exit_pipe: Some(exit_w),
    };
    let fail = |slirp: &mut Slirp, why: &str| {
        slirp.stop();
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let err = failed(&binary, if log.is_empty() { why } else { &log });
        if log.contains("open(\"/dev/net/tun\"): Permission denied") {
            // Podman stops at slirp4netns's text (exit 126); say what to change.
            return tun_denied(format!("{err}: "));
        }
        err
    };
    if !wait_ready(&ready_r) {
        return Err(fail(&mut slirp, "it did not configure tap0"));
    }
    for p in ports {
        if let Err(e) = add_hostfwd(api_socket, p) {
            slirp.stop();
            return Err(ContainerError::Other(format!(
                "from slirp4netns while setting up port redirection: {e}"
            )));
        }
    }
    Ok(slirp)
}

/// Whether slirp4netns reported ready before the timeout or its exit.
fn wait_ready(ready: &OwnedFd) -> bool {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
        let ms =
            PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(0) => return false,
            Ok(_) => {
                let mut b = [0u8; 1];
                return matches!(nix::unistd::read(ready.as_raw_fd(), &mut b), Ok(1));
            }
            Err(nix::Error::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// One `add_hostfwd` request on the API socket.
fn add_hostfwd(socket: &Path, p: &PortMapping) -> Result<(), String> {
    let host_addr = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        p.host_ip.as_str()
    };
    let req = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": p.protocol,
            "host_addr": host_addr,
            "host_port": p.host_port,
            "guest_port": p.container_port,
        }
    });
    let mut s = UnixStream::connect(socket).map_err(|e| format!("{}: {e}", socket.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    s.write_all(req.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(&reply).map_err(|e| format!("reply {reply:?}: {e}"))?;
    match v.get("error") {
        Some(e) => Err(e
            .get("desc")
            .and_then(|d| d.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string())),
        None => Ok(()),
    }
}

impl Slirp {
    /// Tells slirp4netns to exit and waits for it (killed after a second).
    pub fn stop(&mut self) {
        self.exit_pipe = None;
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                // Reaped here, or already by the monitor's reaper (ECHILD).
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl Drop for Slirp {
    fn drop(&mut self) {
        if self.exit_pipe.is_some() {
            self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_podman_takes_them() {
        let o = parse_options(&[]).expect("none");
        assert_eq!(o, SlirpOptions::default());
        let o = parse_options(&[
            "allow_host_loopback=true".into(),
            "enable_ipv6=false".into(),
            "mtu=1500".into(),
            "cidr=10.5.0.0/24".into(),
        ])
        .expect("parse");
        assert!(o.allow_host_loopback && !o.enable_ipv6);
        assert_eq!((o.mtu, o.cidr.as_deref()), (1500, Some("10.5.0.0/24")));
        assert!(parse_options(&["bogus=1".into()]).is_err());
        assert!(parse_options(&["mtu=big".into()]).is_err());
        assert!(parse_options(&["enable_ipv6".into()]).is_err());
    }
}
