//! Podman's default seccomp profile (containers/common 0.50, shipped with Podman 4.3),
//! written as Rust data.
//!
//! Unknown syscalls fail with `ENOSYS` so that programs fall back to older
//! interfaces; the syscalls listed in [`EPERM_SYSCALLS`] fail with `EPERM`.
//! Capability-guarded syscalls are allowed when the container holds the capability
//! and fail with `EPERM` otherwise.

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompOperator};

use crate::profile::{ArchMapEntry, Filter, Profile, SyscallArg, SyscallRule};
use crate::TargetArch;

const EPERM: u32 = 1;
const EINVAL: u32 = 22;

/// Syscalls that are obsolete, dangerous or need privileges a container never has:
/// they fail with `EPERM` (rather than the default `ENOSYS`).
pub const EPERM_SYSCALLS: &[&str] = &[
    "bdflush",
    "io_pgetevents",
    "kexec_file_load",
    "kexec_load",
    "migrate_pages",
    "move_pages",
    "nfsservctl",
    "nice",
    "oldfstat",
    "oldlstat",
    "oldolduname",
    "oldstat",
    "olduname",
    "pciconfig_iobase",
    "pciconfig_read",
    "pciconfig_write",
    "sgetmask",
    "ssetmask",
    "swapcontext",
    "swapoff",
    "swapon",
    "sysfs",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "vmsplice",
];

/// Syscalls allowed unconditionally.
pub const ALLOWED_SYSCALLS: &[&str] = &[
    "_llseek",
    "_newselect",
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "clone",
    "clone3",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsconfig",
    "fsetxattr",
    "fsmount",
    "fsopen",
    "fspick",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futimesat",
    "get_mempolicy",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "ipc",
    "keyctl",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "mbind",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mount",
    "mount_setattr",
    "move_mount",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "open",
    "open_tree",
    "openat",
    "openat2",
    "pause",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pivot_root",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "process_vm_readv",
    "process_vm_writev",
    "pselect6",
    "pselect6_time64",
    "ptrace",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readdir",
    "readlink",
    "readlinkat",
    "readv",
    "reboot",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "set_mempolicy",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setns",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setsockopt",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaction",
    "sigaltstack",
    "signal",
    "signalfd",
    "signalfd4",
    "sigpending",
    "sigprocmask",
    "sigreturn",
    "sigsuspend",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "syscall",
    "sysinfo",
    "syslog",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "umount",
    "umount2",
    "uname",
    "unlink",
    "unlinkat",
    "unshare",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

const ALLOW: LinuxSeccompAction = LinuxSeccompAction::ScmpActAllow;
const ERRNO: LinuxSeccompAction = LinuxSeccompAction::ScmpActErrno;
const EQ: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpEq;
const NE: LinuxSeccompOperator = LinuxSeccompOperator::ScmpCmpNe;

/// `personality(2)` personas: PER_LINUX, PER_LINUX32, UNAME26, PER_LINUX32|UNAME26
/// and 0xffffffff (query the current persona).
const PER_LINUX: u64 = 0x0;
const PER_LINUX32: u64 = 0x8;
const UNAME26: u64 = 0x0002_0000;
const PERSONALITY_QUERY: u64 = 0xffff_ffff;
pub(crate) const ALLOWED_PERSONAS: [u64; 5] = [
    PER_LINUX,
    PER_LINUX32,
    UNAME26,
    PER_LINUX32 | UNAME26,
    PERSONALITY_QUERY,
];

/// `socket(AF_NETLINK, _, NETLINK_AUDIT)` is refused without CAP_AUDIT_WRITE.
const AF_NETLINK: u64 = 16;
const NETLINK_AUDIT: u64 = 9;

/// Syscalls allowed only on some architectures (libseccomp-golang names).
const ARCH_SPECIFIC: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "breakpoint",
            "cacheflush",
            "set_tls",
            "sync_file_range2",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
];

/// Syscalls allowed with a capability and refused with `EPERM` without it.
const CAP_GUARDED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "fanotify_init",
            "lookup_dcookie",
            "perf_event_open",
            "quotactl",
            "setdomainname",
            "sethostname",
            "setns",
        ],
    ),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &[
            "delete_module",
            "finit_module",
            "init_module",
            "query_module",
        ],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "process_madvise"]),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    (
        "CAP_SYS_TIME",
        &["clock_settime", "clock_settime64", "settimeofday", "stime"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
];

/// Architectures a filter covers, keyed by the native one.
const ARCH_MAP: &[(Arch, &[Arch])] = &[
    (
        Arch::ScmpArchX86_64,
        &[Arch::ScmpArchX86, Arch::ScmpArchX32],
    ),
    (Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
    (
        Arch::ScmpArchMips64,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
    ),
    (
        Arch::ScmpArchMips64n32,
        &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
    ),
    (
        Arch::ScmpArchMipsel64,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
    ),
    (
        Arch::ScmpArchMipsel64n32,
        &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
    ),
    (Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
];

fn rule(names: &[&str], action: LinuxSeccompAction) -> SyscallRule {
    SyscallRule {
        name: None,
        names: names.iter().map(|n| n.to_string()).collect(),
        action,
        errno_ret: None,
        errno: None,
        args: Vec::new(),
        comment: String::new(),
        includes: Filter::default(),
        excludes: Filter::default(),
    }
}

fn errno(names: &[&str], errno_ret: u32, errno_name: &str) -> SyscallRule {
    SyscallRule {
        errno_ret: Some(errno_ret),
        errno: Some(errno_name.to_string()),
        ..rule(names, ERRNO)
    }
}

fn arg(index: usize, value: u64, op: LinuxSeccompOperator) -> SyscallArg {
    SyscallArg {
        index,
        value,
        value_two: 0,
        op,
    }
}

fn caps(cap: &str) -> Filter {
    Filter {
        caps: vec![cap.to_string()],
        ..Filter::default()
    }
}

/// Podman's default profile in Podman/Docker format, before capabilities and
/// architecture are applied. Its `defaultErrnoRet` is `ENOSYS` of the
/// architecture this crate was built for (as Podman's built-in Go profile does).
pub fn default_template() -> Profile {
    let enosys = TargetArch::native().map_or(38, TargetArch::enosys);
    let mut syscalls = vec![
        errno(EPERM_SYSCALLS, EPERM, "EPERM"),
        rule(ALLOWED_SYSCALLS, ALLOW),
    ];

    syscalls.extend(ALLOWED_PERSONAS.iter().map(|&persona| SyscallRule {
        args: vec![arg(0, persona, EQ)],
        ..rule(&["personality"], ALLOW)
    }));

    syscalls.extend(ARCH_SPECIFIC.iter().map(|(arches, names)| SyscallRule {
        includes: Filter {
            arches: arches.iter().map(|a| a.to_string()).collect(),
            ..Filter::default()
        },
        ..rule(names, ALLOW)
    }));

    for (cap, names) in CAP_GUARDED {
        syscalls.push(SyscallRule {
            includes: caps(cap),
            ..rule(names, ALLOW)
        });
        syscalls.push(SyscallRule {
            excludes: caps(cap),
            ..errno(names, EPERM, "EPERM")
        });
    }

    // Without CAP_AUDIT_WRITE, audit netlink sockets fail with EINVAL (as on a
    // kernel without audit) and every other socket is allowed.
    let no_audit = caps("CAP_AUDIT_WRITE");
    syscalls.push(SyscallRule {
        args: vec![arg(0, AF_NETLINK, EQ), arg(2, NETLINK_AUDIT, EQ)],
        excludes: no_audit.clone(),
        ..errno(&["socket"], EINVAL, "EINVAL")
    });
    // containers/common lists the protocol condition twice; kept for fidelity.
    for condition in [
        arg(2, NETLINK_AUDIT, NE),
        arg(0, AF_NETLINK, NE),
        arg(2, NETLINK_AUDIT, NE),
    ] {
        syscalls.push(SyscallRule {
            args: vec![condition],
            excludes: no_audit.clone(),
            ..rule(&["socket"], ALLOW)
        });
    }
    syscalls.push(SyscallRule {
        includes: caps("CAP_AUDIT_WRITE"),
        ..rule(&["socket"], ALLOW)
    });

    Profile {
        default_action: ERRNO,
        default_errno_ret: Some(enosys),
        default_errno: Some("ENOSYS".to_string()),
        architectures: Vec::new(),
        arch_map: ARCH_MAP
            .iter()
            .map(|(architecture, subs)| ArchMapEntry {
                architecture: *architecture,
                sub_architectures: subs.to_vec(),
            })
            .collect(),
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
        syscalls,
    }
}
