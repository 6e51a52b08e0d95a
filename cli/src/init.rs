//! `--init`: the binary bind-mounted at /run/podman-init runs as the
//! container's pid 1 (catatonit's job for Podman): it starts the command,
//! forwards the signals it receives to it, reaps every orphan that is
//! re-parented to it, and exits with the command's exit code (128+N when
//! the command dies of signal N).

use std::ffi::OsString;
use std::process::{Command, ExitCode};

use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals passed on to the command.
const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCONT,
    Signal::SIGALRM,
];

/// Runs `args` (an optional leading `--`, then the command).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut args = args.into_iter().skip_while(|a| a == "--").peekable();
    let Some(program) = args.next() else {
        eprintln!("podman-init: no command given");
        return ExitCode::from(125);
    };
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in FORWARDED {
        set.add(*s);
    }
    // Blocked here and read from a signalfd; the command starts with an
    // empty mask (std resets it in the child).
    if let Err(e) = set.thread_block() {
        eprintln!("podman-init: blocking signals: {e}");
        return ExitCode::from(125);
    }
    let sfd = match SignalFd::new(&set) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("podman-init: signalfd: {e}");
            return ExitCode::from(125);
        }
    };
    let child = match Command::new(&program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("podman-init: {}: {e}", program.to_string_lossy());
            let code = match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            };
            return ExitCode::from(code);
        }
    };
    let child = Pid::from_raw(child.id() as i32);
    loop {
        let info = match sfd.read_signal() {
            Ok(Some(i)) => i,
            Ok(None) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                eprintln!("podman-init: reading signals: {e}");
                return ExitCode::from(125);
            }
        };
        if info.ssi_signo != Signal::SIGCHLD as u32 {
            if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                let _ = kill(child, sig);
            }
            continue;
        }
        let mut code = None;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, c)) if pid == child => code = Some(c),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => code = Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(c) = code {
            return ExitCode::from(c.clamp(0, 255) as u8);
        }
    }
}
