//! Helpers shared by the integration tests.

use oci_spec::runtime::{LinuxSeccomp, LinuxSyscall};

/// One (syscall name → action/errno/args) entry of a resolved profile.
pub type Entry = (String, String, Option<u32>, Vec<(usize, u64, u64, String)>);

/// A resolved profile reduced to what the kernel filter depends on, independent
/// of rule order and of how names are grouped into rules.
#[derive(Debug, PartialEq, Eq)]
pub struct Canonical {
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    pub architectures: Vec<String>,
    pub entries: Vec<Entry>,
}

pub fn canonical(seccomp: &LinuxSeccomp) -> Canonical {
    let mut architectures: Vec<String> = seccomp
        .architectures()
        .iter()
        .flatten()
        .map(|a| a.to_string())
        .collect();
    architectures.sort();
    let mut entries: Vec<Entry> = seccomp
        .syscalls()
        .iter()
        .flatten()
        .flat_map(expand)
        .collect();
    entries.sort();
    Canonical {
        default_action: seccomp.default_action().to_string(),
        default_errno_ret: seccomp.default_errno_ret(),
        architectures,
        entries,
    }
}

fn expand(rule: &LinuxSyscall) -> Vec<Entry> {
    let mut args: Vec<(usize, u64, u64, String)> = rule
        .args()
        .iter()
        .flatten()
        .map(|a| {
            (
                a.index(),
                a.value(),
                a.value_two().unwrap_or(0),
                a.op().to_string(),
            )
        })
        .collect();
    args.sort();
    rule.names()
        .iter()
        .map(|name| {
            (
                name.clone(),
                rule.action().to_string(),
                rule.errno_ret(),
                args.clone(),
            )
        })
        .collect()
}

/// The entries of `syscall` in a resolved profile.
pub fn entries_for<'a>(c: &'a Canonical, syscall: &str) -> Vec<&'a Entry> {
    c.entries.iter().filter(|e| e.0 == syscall).collect()
}

pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}
