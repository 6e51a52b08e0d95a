//! `--network pasta[:OPTIONS]`: the container's network namespace is
//! connected by pasta (Debian's `passt` package), which copies the host's
//! addresses and routes into the namespace (`--config-net`) and forwards
//! `-p` ports with its own `-t`/`-u` options. Podman 4.4 added this mode;
//! 4.3.1 (the oracle here) has none, so the arguments follow Podman 4.4+:
//! `--config-net`, no port forwarding unless `-p` asked for it (`-t none -u
//! none -T none -U none`), the user's OPTIONS appended as given.
//!
//! pasta forks into the background once the namespace is configured; its
//! parent's exit status says whether that worked. The daemon's pid (from
//! `--pid`) is kept so that the container's release stops it (pasta would
//! also quit on its own when the namespace file goes away).

use std::path::Path;
use std::process::{Command, Stdio};

use super::config::PortMapping;
use super::error::ContainerError;

/// A running pasta serving one container.
#[derive(Debug)]
pub struct Pasta {
    pid: Option<nix::unistd::Pid>,
}

/// pasta's arguments for `netns`, the container's `ports` and the user's
/// `opts` (Podman's order: ours first, the user's last).
pub fn arguments(
    netns: &Path,
    ports: &[PortMapping],
    opts: &[String],
    pid_file: &Path,
) -> Vec<String> {
    let mut args = vec!["--config-net".to_string(), "--quiet".into()];
    let mut tcp = false;
    let mut udp = false;
    for p in ports {
        let flag = if p.protocol == "udp" { "-u" } else { "-t" };
        if p.protocol == "udp" {
            udp = true;
        } else {
            tcp = true;
        }
        let addr = if p.host_ip.is_empty() {
            String::new()
        } else {
            format!("{}/", p.host_ip)
        };
        args.push(flag.into());
        args.push(format!("{addr}{}:{}", p.host_port, p.container_port));
    }
    let user_has = |f: &[&str]| opts.iter().any(|o| f.contains(&o.as_str()));
    for (used, flags) in [
        (tcp, ["-t", "--tcp-ports"]),
        (udp, ["-u", "--udp-ports"]),
        (false, ["-T", "--tcp-ns"]),
        (false, ["-U", "--udp-ns"]),
    ] {
        if !used && !user_has(&flags) {
            args.push(flags[0].into());
            args.push("none".into());
        }
    }
    args.extend(opts.iter().cloned());
    args.push("--pid".into());
    args.push(pid_file.to_string_lossy().into_owned());
    args.push("--netns".into());
    args.push(netns.to_string_lossy().into_owned());
    args
}

/// Starts pasta for the namespace at `netns`; returns once it is configured.
pub fn start(
    netns: &Path,
    opts: &[String],
    ports: &[PortMapping],
    run_dir: &Path,
) -> Result<Pasta, ContainerError> {
    let binary = super::slirp::find_helper("pasta", " (install the passt package)")?;
    std::fs::create_dir_all(run_dir)
        .map_err(|e| ContainerError::Other(format!("pasta: {}: {e}", run_dir.display())))?;
    let pid_file = run_dir.join("pasta.pid");
    let _ = std::fs::remove_file(&pid_file);
    let mut cmd = Command::new(&binary);
    cmd.args(arguments(netns, ports, opts, &pid_file));
    podman_rs_namespaces::netns::spawn_in_private_mount_ns(&mut cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ContainerError::Other(format!("starting {}: {e}", binary.display())))?;
    let pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(nix::unistd::Pid::from_raw);
    if !out.status.success() {
        let mut pasta = Pasta { pid };
        pasta.stop();
        let text = pasta_output(&out.stderr, &out.stdout);
        let code = out.status.code().unwrap_or(-1);
        let msg = format!("pasta failed with exit code {code}:\n{text}");
        if text.contains("Failed to open tun socket")
            || (text.contains("/dev/net/tun") && text.contains("ermission denied"))
        {
            return Err(super::slirp::tun_denied(format!("{msg}\n")));
        }
        return Err(ContainerError::Other(msg));
    }
    Ok(Pasta { pid })
}

/// pasta's messages without its complaints about a missing syslog (it
/// logs to both; a container host often has no /dev/log).
fn pasta_output(stderr: &[u8], stdout: &[u8]) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(stderr),
        String::from_utf8_lossy(stdout)
    );
    let mut out = Vec::new();
    for line in text.lines() {
        let mut l = line;
        // "Failed to send N bytes to syslog" may share a line with the message.
        while let Some(i) = l.find("Failed to send ") {
            let rest = &l[i..];
            match rest.find(" bytes to syslog") {
                Some(j) => {
                    out.push(l[..i].trim().to_string());
                    l = rest[j + " bytes to syslog".len()..].trim_start();
                }
                None => break,
            }
        }
        out.push(l.trim().to_string());
    }
    out.retain(|l| !l.is_empty());
    out.join("\n")
}

impl Pasta {
    /// Stops the pasta daemon (it is not our child: its parent exited).
    pub fn stop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

impl Drop for Pasta {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(proto: &str, host_ip: &str, host: u16, ctr: u16) -> PortMapping {
        PortMapping {
            protocol: proto.into(),
            host_ip: host_ip.into(),
            host_port: host,
            container_port: ctr,
        }
    }

    #[test]
    fn syslog_complaints_are_left_out() {
        assert_eq!(
            pasta_output(
                b"Failed to send 45 bytes to syslog Failed to open tun socket in namespace\n",
                b""
            ),
            "Failed to open tun socket in namespace"
        );
        assert_eq!(pasta_output(b"a\nb\n", b"c"), "a\nb\nc");
    }

    #[test]
    fn arguments_forward_only_what_was_published() {
        let a = arguments(Path::new("/ns"), &[], &[], Path::new("/p"));
        assert_eq!(
            a.join(" "),
            "--config-net --quiet -t none -u none -T none -U none --pid /p --netns /ns"
        );
        let a = arguments(
            Path::new("/ns"),
            &[
                port("tcp", "", 8080, 80),
                port("udp", "127.0.0.1", 53, 5353),
            ],
            &["--mtu".into(), "1500".into()],
            Path::new("/p"),
        );
        assert_eq!(
            a.join(" "),
            "--config-net --quiet -t 8080:80 -u 127.0.0.1/53:5353 -T none -U none --mtu 1500 --pid /p --netns /ns"
        );
        // The user's own -T wins over ours.
        let a = arguments(
            Path::new("/ns"),
            &[],
            &["-T".into(), "8000".into()],
            Path::new("/p"),
        );
        assert!(!a.join(" ").contains("-T none"), "{a:?}");
    }
}
