//! Signal forwarding for a foreground `run`/`exec`: signals sent to podman-rs
//! go to the container process, as runc and crun do.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::unistd::Pid;

static TARGET: AtomicI32 = AtomicI32::new(0);

const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

extern "C" fn forward(sig: libc::c_int) {
    let pid = TARGET.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe and takes plain integers.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Restores the previous dispositions when dropped.
pub(crate) struct Forwarding {
    old: Vec<(Signal, SigAction)>,
}

/// Forwards the usual terminal/termination signals to `pid` until the guard drops.
pub(crate) fn forward_to(pid: Pid) -> Forwarding {
    TARGET.store(pid.as_raw(), Ordering::Relaxed);
    let action = SigAction::new(
        SigHandler::Handler(forward),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    let mut old = Vec::new();
    for &sig in FORWARDED {
        // SAFETY: the handler only reads an atomic and calls kill(2), both
        // async-signal-safe.
        if let Ok(prev) = unsafe { sigaction(sig, &action) } {
            old.push((sig, prev));
        }
    }
    Forwarding { old }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        for (sig, prev) in self.old.drain(..) {
            // SAFETY: restores the disposition that was in place before.
            let _ = unsafe { sigaction(sig, &prev) };
        }
        TARGET.store(0, Ordering::Relaxed);
    }
}
