//! The built-in default profile against the `seccomp.json` Podman ships
//! (`/usr/share/containers/seccomp.json`, from golang-github-containers-common or podman).

mod common;

use std::path::Path;

use common::{canonical, entries_for, strings};
use podman_rs_seccomp::{
    default_profile, default_profile_for, default_template, load_profile, load_profile_for,
    Profile, TargetArch, DEFAULT_PROFILE_PATH, PODMAN_DEFAULT_CAPS,
};

const ALL_CAPS: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_BLOCK_SUSPEND",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MAC_ADMIN",
    "CAP_MAC_OVERRIDE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_PERFMON",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYSLOG",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_MODULE",
    "CAP_SYS_NICE",
    "CAP_SYS_PACCT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_WAKE_ALARM",
];

fn shipped_profile() -> Option<&'static Path> {
    let path = Path::new(DEFAULT_PROFILE_PATH);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("{DEFAULT_PROFILE_PATH} not installed: skipping the comparison");
        None
    }
}

#[test]
fn loaded_shipped_profile_equals_default_for_podman_caps() {
    let Some(path) = shipped_profile() else {
        return;
    };
    let loaded = load_profile(path, &PODMAN_DEFAULT_CAPS);
    assert!(loaded.is_ok(), "{loaded:?}");
    let loaded = loaded.unwrap_or_default();
    assert_eq!(canonical(&loaded), canonical(&default_profile()));
}

#[test]
fn shipped_profile_matches_for_every_arch_and_cap_set() {
    let Some(path) = shipped_profile() else {
        return;
    };
    let podman = strings(&PODMAN_DEFAULT_CAPS);
    let cap_sets: Vec<Vec<String>> = vec![
        Vec::new(),
        podman.clone(),
        strings(ALL_CAPS),
        strings(&["CAP_SYS_ADMIN"]),
        strings(&["CAP_SYS_PTRACE", "CAP_AUDIT_WRITE", "CAP_DAC_READ_SEARCH"]),
    ];
    for arch in TargetArch::ALL {
        for caps in &cap_sets {
            let loaded = load_profile_for(path, caps, arch);
            assert!(loaded.is_ok(), "{loaded:?}");
            let loaded = canonical(&loaded.unwrap_or_default());
            let mut ours = canonical(&default_profile_for(caps, arch));
            // The shipped file was generated on amd64 and says ENOSYS = 38 everywhere;
            // the built-in profile uses the target's ENOSYS (89 on MIPS).
            ours.default_errno_ret = loaded.default_errno_ret;
            assert_eq!(loaded, ours, "arch {arch}, caps {caps:?}");
        }
    }
}

#[test]
fn template_equals_shipped_profile_rule_by_rule() {
    let Some(path) = shipped_profile() else {
        return;
    };
    let shipped = Profile::from_file(path);
    assert!(shipped.is_ok(), "{shipped:?}");
    let shipped = shipped.unwrap_or_else(|_| default_template());
    let mut ours = default_template();
    ours.default_errno_ret = shipped.default_errno_ret;
    assert_eq!(ours.default_action, shipped.default_action);
    assert_eq!(ours.arch_map, shipped.arch_map);
    assert_eq!(ours.syscalls.len(), shipped.syscalls.len());
    for (i, (a, b)) in ours.syscalls.iter().zip(&shipped.syscalls).enumerate() {
        assert_eq!(a, b, "rule {i}");
    }
    assert_eq!(ours, shipped);
}

#[test]
fn default_profile_behaviour() {
    let c = canonical(&default_profile_for(
        &PODMAN_DEFAULT_CAPS,
        TargetArch::Amd64,
    ));
    assert_eq!(c.default_action, "SCMP_ACT_ERRNO");
    assert_eq!(c.default_errno_ret, Some(38));
    assert_eq!(
        c.architectures,
        strings(&["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"])
    );

    let allow = |name: &str| (name.to_string(), "SCMP_ACT_ALLOW".to_string(), None, vec![]);
    let eperm = |name: &str| {
        (
            name.to_string(),
            "SCMP_ACT_ERRNO".to_string(),
            Some(1),
            vec![],
        )
    };

    // Podman allows these unconditionally (the kernel checks the capabilities).
    for name in [
        "read",
        "clone",
        "clone3",
        "mount",
        "umount2",
        "unshare",
        "ptrace",
        "pivot_root",
    ] {
        assert_eq!(entries_for(&c, name), vec![&allow(name)], "{name}");
    }
    assert!(entries_for(&c, "arch_prctl").contains(&&allow("arch_prctl")));
    assert!(entries_for(&c, "modify_ldt").contains(&&allow("modify_ldt")));
    // Not an arm64 syscall on amd64.
    assert!(entries_for(&c, "set_tls").is_empty());
    // Obsolete syscalls fail with EPERM; unknown ones hit the ENOSYS default.
    assert_eq!(entries_for(&c, "kexec_load"), vec![&eperm("kexec_load")]);
    assert!(entries_for(&c, "no_such_syscall").is_empty());
    // CAP_SYS_CHROOT is a default capability, CAP_SYS_ADMIN is not.
    assert_eq!(entries_for(&c, "chroot"), vec![&allow("chroot")]);
    assert_eq!(entries_for(&c, "bpf"), vec![&eperm("bpf")]);
    assert_eq!(entries_for(&c, "kcmp"), vec![&eperm("kcmp")]);
    // personality: only the listed personas.
    let personas: Vec<u64> = entries_for(&c, "personality")
        .iter()
        .map(|e| e.3[0].1)
        .collect();
    assert_eq!(personas, vec![0, 8, 0x20000, 0x20008, 0xffff_ffff]);
    // socket: audit netlink refused with EINVAL without CAP_AUDIT_WRITE.
    let socket = entries_for(&c, "socket");
    assert_eq!(socket.len(), 4);
    assert!(socket.iter().any(|e| e.1 == "SCMP_ACT_ERRNO"
        && e.2 == Some(22)
        && e.3
            == vec![
                (0, 16, 0, "SCMP_CMP_EQ".to_string()),
                (2, 9, 0, "SCMP_CMP_EQ".to_string())
            ]));
}

#[test]
fn capabilities_unlock_syscalls() {
    let caps = ["SYS_ADMIN", "sys_ptrace", "CAP_AUDIT_WRITE"];
    let c = canonical(&default_profile_for(&caps, TargetArch::Arm64));
    let allow = |name: &str| (name.to_string(), "SCMP_ACT_ALLOW".to_string(), None, vec![]);
    for name in [
        "bpf",
        "setns",
        "sethostname",
        "kcmp",
        "process_madvise",
        "set_tls",
    ] {
        assert!(entries_for(&c, name).contains(&&allow(name)), "{name}");
    }
    assert_eq!(entries_for(&c, "socket"), vec![&allow("socket")]);
    // No CAP_SYS_CHROOT in this set.
    assert_eq!(entries_for(&c, "chroot")[0].1, "SCMP_ACT_ERRNO");
    assert!(entries_for(&c, "arch_prctl").is_empty());
    assert_eq!(
        c.architectures,
        strings(&["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    );
}

#[test]
fn mips_uses_its_own_enosys_and_ppc64le_has_no_arch_map_entry() {
    let mips = default_profile_for(&PODMAN_DEFAULT_CAPS, TargetArch::Mipsel64);
    assert_eq!(mips.default_errno_ret(), Some(89));
    let ppc = default_profile_for(&PODMAN_DEFAULT_CAPS, TargetArch::Ppc64Le);
    assert_eq!(ppc.architectures(), &None);
    assert!(!entries_for(&canonical(&ppc), "sync_file_range2").is_empty());
}
