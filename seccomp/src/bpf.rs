//! An OCI `linux.seccomp` section compiled to the classic BPF program the
//! kernel runs, with libseccomp, from the same rules the OCI runtimes give
//! it (runc, crun and youki's libcontainer: rules whose action is the default
//! one are left out, syscall names this libseccomp does not know are skipped,
//! conditions on one argument index are split into separate rules).
//!
//! Compiling Podman's default profile (about 440 names on three x86
//! architectures) costs about 20 ms of libseccomp time, paid by every
//! container start of every OCI runtime. The program depends only on the
//! section, the libseccomp version and the host architecture, so the runtime
//! keeps it in a cache under [`cache_key`] and loads it with seccomp(2).

use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

use crate::error::CompileError;

/// seccomp(2) filter flags (linux/seccomp.h).
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// Whether the section can be compiled ahead of time and loaded as a plain
/// filter. A user-notification action (`SCMP_ACT_NOTIFY`) or a listener
/// needs the runtime's notify-fd handshake, so those go through the runtime's
/// own loading.
pub fn precompilable(seccomp: &LinuxSeccomp) -> bool {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    seccomp.listener_path().is_none()
        && !notify(seccomp.default_action())
        && !seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| notify(s.action()))
}

/// The seccomp(2) `flags` the section asks for.
pub fn filter_flags(seccomp: &LinuxSeccomp) -> u32 {
    seccomp.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        }
    })
}

/// A name for the compiled program: SHA-256 of the section's JSON, the
/// libseccomp version and the host architecture (hex).
pub fn cache_key(seccomp: &LinuxSeccomp) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(seccomp).unwrap_or_default());
    match ScmpVersion::current() {
        Ok(v) => h.update(format!("\0libseccomp {}.{}.{}", v.major, v.minor, v.micro)),
        Err(_) => h.update("\0libseccomp ?"),
    }
    h.update(format!("\0{}", std::env::consts::ARCH));
    h.finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
}

fn fail(what: impl Into<String>) -> impl FnOnce(libseccomp::error::SeccompError) -> CompileError {
    let what = what.into();
    move |source| CompileError::Libseccomp { what, source }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    // EPERM when the profile gives no errno, as the OCI runtimes do.
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    }
}

fn compare_op(op: LinuxSeccompOperator, mask: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(mask.unwrap_or(0)),
    }
}

/// Builds libseccomp's filter for the section.
fn filter(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext, CompileError> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret());
    let mut ctx = ScmpFilterContext::new(default).map_err(fail("creating the filter"))?;
    for arch in seccomp.architectures().iter().flatten() {
        // The OCI names are libseccomp's (SCMP_ARCH_X86_64, ...).
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let parsed = ScmpArch::from_str(&name).map_err(fail(format!("architecture {name:?}")))?;
        ctx.add_arch(parsed)
            .map_err(fail(format!("adding architecture {name}")))?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret());
        if act == default {
            continue;
        }
        let conds: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                ScmpArgCompare::new(
                    a.index() as u32,
                    compare_op(a.op(), a.value_two()),
                    a.value(),
                )
            })
            .collect();
        let mut indexes: Vec<usize> = rule.args().iter().flatten().map(|a| a.index()).collect();
        indexes.sort_unstable();
        indexes.dedup();
        // libseccomp compares each argument once per rule: several conditions
        // on one index become one rule each.
        let split = indexes.len() < conds.len();
        for name in rule.names() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: syscall {name:?} unknown to libseccomp, skipped");
                continue;
            };
            let what = || format!("rule for {name}");
            if conds.is_empty() {
                ctx.add_rule(act, nr).map_err(fail(what()))?;
            } else if split {
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map_err(fail(what()))?;
                }
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
                    .map_err(fail(what()))?;
            }
        }
    }
    Ok(ctx)
}

/// The BPF program for the section: `struct sock_filter` entries in the
/// host's byte order, 8 bytes each.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, CompileError> {
    let ctx = filter(seccomp)?;
    let io = |what: &'static str, source: std::io::Error| CompileError::Io { what, source };
    let mut out = tempfile::tempfile().map_err(|e| io("creating a scratch file", e))?;
    ctx.export_bpf(&out)
        .map_err(fail("exporting the program"))?;
    out.seek(SeekFrom::Start(0))
        .map_err(|e| io("reading the program back", e))?;
    let mut prog = Vec::new();
    out.read_to_end(&mut prog)
        .map_err(|e| io("reading the program back", e))?;
    Ok(prog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles_to_whole_instructions() {
        let p = compile(&crate::default_profile()).expect("compile");
        assert!(!p.is_empty());
        assert!(p.len().is_multiple_of(8), "sock_filter entries are 8 bytes");
        // seccomp(2) refuses programs over BPF_MAXINSNS.
        assert!(p.len() / 8 <= 4096, "{} instructions", p.len() / 8);
    }

    #[test]
    fn key_follows_the_section() {
        let a = crate::default_profile();
        let b = crate::default_profile_for(
            &["CAP_SYS_ADMIN"],
            crate::TargetArch::native().expect("arch"),
        );
        assert_eq!(cache_key(&a), cache_key(&a.clone()));
        assert_ne!(cache_key(&a), cache_key(&b));
        assert_eq!(cache_key(&a).len(), 64);
    }

    #[test]
    fn notify_is_not_precompiled() {
        let mut s = crate::default_profile();
        assert!(precompilable(&s));
        s.set_default_action(LinuxSeccompAction::ScmpActNotify);
        assert!(!precompilable(&s));
    }

    #[test]
    fn flags_map_to_the_kernel_bits() {
        let mut s = crate::default_profile();
        assert_eq!(filter_flags(&s), 0);
        s.set_flags(Some(vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagLog,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
        ]));
        assert_eq!(filter_flags(&s), FLAG_LOG | FLAG_SPEC_ALLOW);
    }
}
