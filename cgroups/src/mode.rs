//! Detection of the cgroup setup (v1 legacy / hybrid, or unified v2) and of
//! the mounted hierarchies.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use libcgroups::common::{get_cgroup_setup_with_root, CgroupSetup, GetCgroupSetupError};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where cgroup hierarchies are mounted on every supported distribution.
pub const DEFAULT_CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where the kernel lists this process' mounts.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The cgroup v1 controllers the kernel knows of (see /proc/cgroups). Any
/// other option in a cgroup mount's super options is a mount flag, except
/// `name=...` which names a controller-less hierarchy.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "debug",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// How cgroups are set up on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Pure cgroup v1: one hierarchy per controller (or group of controllers).
    Legacy,
    /// cgroup v1 controllers, plus a controller-less cgroup2 hierarchy at
    /// `<root>/unified`. Resource control is done through v1.
    Hybrid,
    /// Pure cgroup v2: a single hierarchy mounted at the root.
    Unified,
}

impl CgroupMode {
    /// Detects the setup of the default root, `/sys/fs/cgroup`.
    pub fn detect() -> Result<Self> {
        Self::detect_at(Path::new(DEFAULT_CGROUP_ROOT))
    }

    /// Detects the setup of cgroups mounted at `root`.
    pub fn detect_at(root: &Path) -> Result<Self> {
        let detect_err = |reason: String| Error::Detect {
            path: root.to_path_buf(),
            reason,
        };
        match get_cgroup_setup_with_root(root) {
            Ok(CgroupSetup::Legacy) => Ok(CgroupMode::Legacy),
            Ok(CgroupSetup::Hybrid) => Ok(CgroupMode::Hybrid),
            Ok(CgroupSetup::Unified) => Ok(CgroupMode::Unified),
            Err(GetCgroupSetupError::NonDefault) => Err(detect_err("path does not exist".into())),
            Err(err) => Err(detect_err(err.to_string())),
        }
    }

    /// True for pure cgroup v2.
    pub fn is_unified(self) -> bool {
        self == CgroupMode::Unified
    }

    /// The cgroup version used for resource control: 2 for unified, 1 otherwise.
    pub fn version(self) -> CgroupVersion {
        match self {
            CgroupMode::Unified => CgroupVersion::V2,
            CgroupMode::Legacy | CgroupMode::Hybrid => CgroupVersion::V1,
        }
    }
}

impl std::fmt::Display for CgroupMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupMode::Legacy => "legacy",
            CgroupMode::Hybrid => "hybrid",
            CgroupMode::Unified => "unified",
        })
    }
}

/// The version of one cgroup hierarchy (filesystem type `cgroup` or `cgroup2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// `cgroup` filesystem.
    V1,
    /// `cgroup2` filesystem.
    V2,
}

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where the hierarchy is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub version: CgroupVersion,
    /// v1: the controllers bound to the hierarchy, sorted, plus `name=...`
    /// for a named hierarchy (e.g. `name=systemd`). Empty for v2.
    pub controllers: Vec<String>,
}

impl Hierarchy {
    /// A v1 hierarchy with the given controllers.
    pub fn v1(mount_point: impl Into<PathBuf>, controllers: &[&str]) -> Self {
        let mut controllers: Vec<String> = controllers.iter().map(|c| c.to_string()).collect();
        controllers.sort();
        Hierarchy {
            mount_point: mount_point.into(),
            version: CgroupVersion::V1,
            controllers,
        }
    }

    /// A cgroup2 hierarchy.
    pub fn v2(mount_point: impl Into<PathBuf>) -> Self {
        Hierarchy {
            mount_point: mount_point.into(),
            version: CgroupVersion::V2,
            controllers: Vec::new(),
        }
    }

    /// Whether the v1 controller `name` is bound to this hierarchy.
    pub fn has_controller(&self, name: &str) -> bool {
        self.controllers.iter().any(|c| c == name)
    }

    /// Whether this is a v1 hierarchy with at least one real controller (not
    /// only a `name=...` hierarchy).
    pub fn has_v1_controllers(&self) -> bool {
        self.version == CgroupVersion::V1 && self.controllers.iter().any(|c| !c.contains('='))
    }
}

/// Lists the cgroup hierarchies mounted in this process' mount namespace.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    // Cgroup mount points are plain ASCII; a non-UTF-8 path elsewhere in the
    // table must not make the whole listing fail.
    let content = fs::read(MOUNTINFO).map_err(|e| Error::io("read", MOUNTINFO, e))?;
    Ok(parse_mountinfo(&String::from_utf8_lossy(&content)))
}

/// Extracts the cgroup hierarchies from the content of a
/// `/proc/<pid>/mountinfo` file. v1 hierarchies mounted more than once are
/// reported once (first mount wins, as libcgroups does); lines that are not
/// cgroup mounts or that cannot be parsed are skipped.
pub fn parse_mountinfo(content: &str) -> Vec<Hierarchy> {
    let mut seen_v1: HashSet<Vec<String>> = HashSet::new();
    let mut seen_v2: HashSet<PathBuf> = HashSet::new();
    let mut out = Vec::new();
    for line in content.lines() {
        let Some((mount_point, fs_type, super_opts)) = parse_mountinfo_line(line) else {
            continue;
        };
        match fs_type {
            "cgroup" => {
                let mut controllers: Vec<String> = super_opts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                controllers.sort();
                if controllers.is_empty() || !seen_v1.insert(controllers.clone()) {
                    continue;
                }
                out.push(Hierarchy {
                    mount_point,
                    version: CgroupVersion::V1,
                    controllers,
                });
            }
            "cgroup2" if seen_v2.insert(mount_point.clone()) => {
                out.push(Hierarchy::v2(mount_point));
            }
            _ => {}
        }
    }
    out
}

/// Returns (mount point, filesystem type, super options) of one mountinfo
/// line: `id parent maj:min root mount_point opts [optional...] - fstype source super_opts`.
fn parse_mountinfo_line(line: &str) -> Option<(PathBuf, &str, &str)> {
    let fields: Vec<&str> = line.split(' ').collect();
    let mount_point = fields.get(4)?;
    let sep = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let fs_type = fields.get(sep + 1)?;
    let super_opts = fields.get(sep + 3).copied().unwrap_or("");
    Some((
        PathBuf::from(unescape_octal(mount_point)),
        fs_type,
        super_opts,
    ))
}

/// Decodes the `\ooo` escapes the kernel uses for space, tab, newline and
/// backslash in mountinfo paths.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            if let Some(digits) = bytes.get(i + 1..i + 4) {
                if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                    let value = digits
                        .iter()
                        .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                    if let Ok(byte) = u8::try_from(value) {
                        out.push(byte);
                        i += 4;
                        continue;
                    }
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset,clone_children
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 23 0:32 / /run/other\\040mem rw,relatime - cgroup cgroup rw,memory
100 23 0:50 / /mnt/weird\\040dir rw - cgroup2 cgroup2 rw
bogus line
";

    #[test]
    fn parses_v1_and_v2_mounts() {
        let h = parse_mountinfo(HYBRID);
        assert_eq!(
            h,
            vec![
                Hierarchy::v1("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"]),
                Hierarchy::v1("/sys/fs/cgroup/cpuset", &["cpuset"]),
                Hierarchy::v1("/sys/fs/cgroup/memory", &["memory"]),
                Hierarchy::v1("/sys/fs/cgroup/systemd", &["name=systemd"]),
                Hierarchy::v2("/sys/fs/cgroup/unified"),
                Hierarchy::v2("/mnt/weird dir"),
            ]
        );
        assert!(h[0].has_controller("cpuacct"));
        assert!(h[0].has_v1_controllers());
        assert!(!h[3].has_v1_controllers());
        assert!(!h[4].has_v1_controllers());
    }

    #[test]
    fn unescapes_paths() {
        assert_eq!(unescape_octal("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape_octal("trailing\\04"), "trailing\\04");
        assert_eq!(unescape_octal("bad\\09x"), "bad\\09x");
    }

    #[test]
    fn detects_this_machine() {
        // Whatever the machine runs, detection must succeed on /sys/fs/cgroup.
        let mode = CgroupMode::detect().expect("detect cgroup mode");
        let h = hierarchies().expect("list hierarchies");
        match mode {
            CgroupMode::Unified => assert!(h.iter().any(|h| h.version == CgroupVersion::V2)),
            _ => assert!(h.iter().any(Hierarchy::has_v1_controllers)),
        }
    }

    #[test]
    fn detect_fails_on_missing_root() {
        let err = CgroupMode::detect_at(Path::new("/nonexistent/cgroup/root")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/cgroup/root"),
            "{err}"
        );
    }

    #[test]
    fn detect_on_plain_directory_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A tempdir is neither tmpfs-with-unified nor cgroup2 unless /tmp is a
        // tmpfs, in which case it is reported as legacy.
        match CgroupMode::detect_at(dir.path()) {
            Ok(mode) => assert_eq!(mode, CgroupMode::Legacy),
            Err(err) => assert!(err.to_string().contains("detect"), "{err}"),
        }
    }
}
