//! [`Cgroup`]: one container cgroup, seen through every mounted hierarchy.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use libcgroups::common::{CgroupManager, ControllerOpt};
use nix::errno::Errno;
use nix::unistd::{AccessFlags, Pid};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{keyed_u64, read_opt, write};
use crate::mode::{hierarchies, CgroupMode, CgroupVersion, Hierarchy, DEFAULT_CGROUP_ROOT};
use crate::stats::{self, Limits, Stats, V1Dirs};

const CGROUP_PROCS: &str = "cgroup.procs";

/// How long [`Cgroup::remove`] keeps retrying `rmdir` on `EBUSY` (a cgroup
/// stays busy for a moment after its last process has been reaped).
pub const DEFAULT_REMOVE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long [`Cgroup::freeze`] / [`Cgroup::thaw`] wait for the state change.
pub const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// State of the freezer of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    /// Tasks run normally.
    Thawed,
    /// A freeze was requested and is in progress.
    Freezing,
    /// All tasks are frozen.
    Frozen,
}

/// The directory of the cgroup in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupDir {
    /// The hierarchy.
    pub hierarchy: Hierarchy,
    /// `<mount point>/<cgroups path>`.
    pub dir: PathBuf,
}

/// A container's cgroup, identified by its OCI `cgroupsPath` (an explicit
/// path, never a systemd slice), in every mounted hierarchy.
///
/// Opening does not create anything; the cgroup is created by libcgroups
/// (through libcontainer, or [`Cgroup::add_task`]).
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// Normalized path relative to the hierarchy roots (no leading `/`).
    path: PathBuf,
    mode: CgroupMode,
    /// v2 root (unified mode) or none.
    v2_root: Option<PathBuf>,
    dirs: Vec<CgroupDir>,
}

impl V1Dirs for Cgroup {
    fn controller_dir(&self, controller: &str) -> Option<&Path> {
        self.controller_dir(controller)
    }
}

/// Validates a cgroupsPath and makes it relative: `/a/b` and `a/b` both give
/// `a/b` (libcgroups joins both onto the hierarchy roots). `..` and the root
/// cgroup itself are refused.
fn normalize(path: &Path) -> Result<PathBuf> {
    let invalid = |reason| Error::InvalidPath {
        path: path.to_path_buf(),
        reason,
    };
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => out.push(p),
            Component::ParentDir => return Err(invalid("\"..\" is not allowed")),
            Component::Prefix(_) => return Err(invalid("unsupported path prefix")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(invalid("the root cgroup cannot be managed"));
    }
    Ok(out)
}

impl Cgroup {
    /// Opens the cgroup at `cgroups_path` on this machine: detects the mode
    /// of `/sys/fs/cgroup` and, for v1, the mounted hierarchies.
    pub fn open(cgroups_path: impl AsRef<Path>) -> Result<Self> {
        let root = Path::new(DEFAULT_CGROUP_ROOT);
        match CgroupMode::detect_at(root)? {
            CgroupMode::Unified => Self::open_v2(root, cgroups_path),
            mode => {
                let mut hs: Vec<Hierarchy> = hierarchies()?
                    .into_iter()
                    .filter(|h| h.version == CgroupVersion::V1)
                    .collect();
                if mode == CgroupMode::Hybrid {
                    hs.push(Hierarchy::v2(root.join("unified")));
                }
                Self::open_v1(hs, cgroups_path)
            }
        }
    }

    /// Opens the cgroup in the cgroup2 hierarchy mounted at `root` (pure v2).
    pub fn open_v2(root: impl AsRef<Path>, cgroups_path: impl AsRef<Path>) -> Result<Self> {
        let path = normalize(cgroups_path.as_ref())?;
        let root = root.as_ref().to_path_buf();
        Ok(Cgroup {
            dirs: vec![CgroupDir {
                hierarchy: Hierarchy::v2(&root),
                dir: root.join(&path),
            }],
            v2_root: Some(root),
            mode: CgroupMode::Unified,
            path,
        })
    }

    /// Opens the cgroup in the given v1 hierarchies. A v2 hierarchy among
    /// them makes the mode hybrid (it is then used for `pids`/`remove`/
    /// `exists` only, never for resource control).
    pub fn open_v1(hierarchies: Vec<Hierarchy>, cgroups_path: impl AsRef<Path>) -> Result<Self> {
        let path = normalize(cgroups_path.as_ref())?;
        let hybrid = hierarchies.iter().any(|h| h.version == CgroupVersion::V2);
        Ok(Cgroup {
            dirs: hierarchies
                .into_iter()
                .map(|h| CgroupDir {
                    dir: h.mount_point.join(&path),
                    hierarchy: h,
                })
                .collect(),
            v2_root: None,
            mode: if hybrid {
                CgroupMode::Hybrid
            } else {
                CgroupMode::Legacy
            },
            path,
        })
    }

    /// The cgroups path, relative to the hierarchy roots.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode the cgroup was opened in.
    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The cgroup's directory in every hierarchy (whether it exists or not).
    pub fn dirs(&self) -> &[CgroupDir] {
        &self.dirs
    }

    /// The directory holding the files of `controller` (v1: that
    /// controller's hierarchy; v2: the single cgroup directory). `None` if
    /// the controller is not mounted (v1).
    pub fn controller_dir(&self, controller: &str) -> Option<&Path> {
        match self.mode {
            CgroupMode::Unified => self.dirs.first().map(|d| d.dir.as_path()),
            CgroupMode::Legacy | CgroupMode::Hybrid => self
                .dirs
                .iter()
                .find(|d| {
                    d.hierarchy.version == CgroupVersion::V1
                        && d.hierarchy.has_controller(controller)
                })
                .map(|d| d.dir.as_path()),
        }
    }

    /// Whether the cgroup directory exists in at least one hierarchy.
    pub fn exists(&self) -> bool {
        self.dirs.iter().any(|d| d.dir.is_dir())
    }

    fn ensure_exists(&self, op: &'static str) -> Result<()> {
        if self.exists() {
            Ok(())
        } else {
            Err(Error::NotFound {
                op,
                path: self.display_path(),
            })
        }
    }

    fn display_path(&self) -> PathBuf {
        Path::new("/").join(&self.path)
    }

    /// All processes (thread group ids) in the cgroup and its descendants,
    /// in every hierarchy, sorted and de-duplicated. Empty if the cgroup does
    /// not exist.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = BTreeSet::new();
        for d in &self.dirs {
            collect_pids(&d.dir, &mut pids)?;
        }
        Ok(pids.into_iter().collect())
    }

    /// Resource usage of the cgroup.
    pub fn stats(&self) -> Result<Stats> {
        self.ensure_exists("read stats of")?;
        match self.mode {
            CgroupMode::Unified => stats::v2_stats(self.v2_dir()?),
            CgroupMode::Legacy | CgroupMode::Hybrid => stats::v1_stats(self),
        }
    }

    /// The limits configured on the cgroup.
    pub fn limits(&self) -> Result<Limits> {
        self.ensure_exists("read limits of")?;
        match self.mode {
            CgroupMode::Unified => stats::v2_limits(self.v2_dir()?),
            CgroupMode::Legacy | CgroupMode::Hybrid => stats::v1_limits(self),
        }
    }

    /// Number of processes the OOM killer killed in the cgroup (v1
    /// `oom_kill` of memory.oom_control, v2 `oom_kill` of memory.events).
    /// `None` if not reported (no memory controller, or a kernel older than
    /// 4.13 without the field).
    pub fn oom_kill_count(&self) -> Result<Option<u64>> {
        self.ensure_exists("read the OOM kill count of")?;
        let file = match self.mode {
            CgroupMode::Unified => self.v2_dir()?.join("memory.events"),
            CgroupMode::Legacy | CgroupMode::Hybrid => match self.controller_dir("memory") {
                Some(dir) => dir.join("memory.oom_control"),
                None => return Ok(None),
            },
        };
        match read_opt(&file)? {
            Some(content) => keyed_u64(&file, &content, "oom_kill"),
            None => Ok(None),
        }
    }

    fn v2_dir(&self) -> Result<&Path> {
        self.dirs
            .first()
            .map(|d| d.dir.as_path())
            .ok_or_else(|| Error::Unsupported {
                op: "find the cgroup2 directory of",
                path: self.display_path(),
                reason: "no cgroup2 hierarchy",
            })
    }

    fn freezer_dir(&self, op: &'static str) -> Result<&Path> {
        let dir = match self.mode {
            CgroupMode::Unified => self.v2_dir()?,
            CgroupMode::Legacy | CgroupMode::Hybrid => {
                self.controller_dir("freezer")
                    .ok_or_else(|| Error::Unsupported {
                        op,
                        path: self.display_path(),
                        reason: "the freezer controller is not mounted",
                    })?
            }
        };
        if !dir.is_dir() {
            return Err(Error::NotFound {
                op,
                path: dir.to_path_buf(),
            });
        }
        Ok(dir)
    }

    /// The freezer state of the cgroup.
    pub fn freezer_state(&self) -> Result<FreezerState> {
        let dir = self.freezer_dir("read the freezer state of")?;
        match self.mode {
            CgroupMode::Unified => v2_freezer_state(dir),
            CgroupMode::Legacy | CgroupMode::Hybrid => v1_freezer_state(dir),
        }
    }

    /// Freezes every process of the cgroup and waits until they are frozen
    /// (at most [`FREEZE_TIMEOUT`]; on timeout the cgroup is thawed again).
    pub fn freeze(&self) -> Result<()> {
        let dir = self.freezer_dir("freeze")?;
        match self.mode {
            CgroupMode::Unified => v2_set_frozen(dir, true),
            CgroupMode::Legacy | CgroupMode::Hybrid => v1_freeze(dir),
        }
    }

    /// Thaws the cgroup and waits until it is thawed.
    pub fn thaw(&self) -> Result<()> {
        let dir = self.freezer_dir("thaw")?;
        match self.mode {
            CgroupMode::Unified => v2_set_frozen(dir, false),
            CgroupMode::Legacy | CgroupMode::Hybrid => v1_thaw(dir),
        }
    }

    /// Removes the cgroup (and any child cgroups) from every hierarchy,
    /// retrying `rmdir` on `EBUSY` for up to [`DEFAULT_REMOVE_TIMEOUT`].
    /// Kills nothing: a cgroup that still holds processes makes this fail
    /// with `EBUSY`. Removing a cgroup that does not exist succeeds.
    pub fn remove(&self) -> Result<()> {
        self.remove_with_timeout(DEFAULT_REMOVE_TIMEOUT)
    }

    /// [`Cgroup::remove`] with an explicit retry budget, shared by all
    /// hierarchies. Every hierarchy is attempted; the first error is returned.
    pub fn remove_with_timeout(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut first_err = None;
        for d in &self.dirs {
            if let Err(e) = remove_tree(&d.dir, deadline) {
                tracing::debug!("removing {}: {e}", d.dir.display());
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether the caller can create this cgroup (or, if it exists, create
    /// children in it and move processes into it) in every hierarchy used
    /// for resource control. See [`Cgroup::check_manage`].
    pub fn can_manage(&self) -> bool {
        self.check_manage().is_ok()
    }

    /// Like [`Cgroup::can_manage`], but says which directory is not
    /// writable. For a cgroup that does not exist yet, the nearest existing
    /// ancestor must be writable and searchable; for an existing one, the
    /// directory and its `cgroup.procs`. Checked with the effective ids
    /// (`eaccess`), so a rootless user on cgroup v1 (root-owned hierarchies)
    /// is refused, as is anyone on a read-only cgroupfs.
    pub fn check_manage(&self) -> Result<()> {
        let required: Vec<&CgroupDir> = match self.mode {
            CgroupMode::Unified => self.dirs.iter().collect(),
            CgroupMode::Legacy | CgroupMode::Hybrid => self
                .dirs
                .iter()
                .filter(|d| d.hierarchy.has_v1_controllers())
                .collect(),
        };
        if required.is_empty() {
            return Err(Error::Unsupported {
                op: "manage",
                path: self.display_path(),
                reason: "no cgroup hierarchy with controllers is mounted",
            });
        }
        for d in required {
            check_writable(&d.dir, &d.hierarchy.mount_point)?;
        }
        Ok(())
    }

    /// Moves process `pid` into the cgroup, creating it where needed, through
    /// libcgroups (the same code libcontainer uses). Always acts on the
    /// system's hierarchies under `/sys/fs/cgroup` (v1) or the v2 root the
    /// cgroup was opened with.
    pub fn add_task(&self, pid: i32) -> Result<()> {
        let wrap = |e: Box<dyn std::error::Error + Send + Sync>| Error::Libcgroups {
            op: "add a task to",
            path: self.display_path(),
            source: e,
        };
        match &self.v2_root {
            Some(root) => self
                .v2_manager(root)
                .map_err(wrap)?
                .add_task(Pid::from_raw(pid))
                .map_err(|e| wrap(e.into())),
            None => self
                .v1_manager()
                .map_err(wrap)?
                .add_task(Pid::from_raw(pid))
                .map_err(|e| wrap(e.into())),
        }
    }

    /// Applies OCI resource limits to the cgroup through libcgroups.
    pub fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let opt = ControllerOpt {
            resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        };
        let wrap = |e: Box<dyn std::error::Error + Send + Sync>| Error::Libcgroups {
            op: "apply resources to",
            path: self.display_path(),
            source: e,
        };
        match &self.v2_root {
            Some(root) => self
                .v2_manager(root)
                .map_err(wrap)?
                .apply(&opt)
                .map_err(|e| wrap(e.into())),
            None => self
                .v1_manager()
                .map_err(wrap)?
                .apply(&opt)
                .map_err(|e| wrap(e.into())),
        }
    }

    fn v1_manager(
        &self,
    ) -> std::result::Result<
        libcgroups::v1::manager::Manager,
        Box<dyn std::error::Error + Send + Sync>,
    > {
        Ok(libcgroups::v1::manager::Manager::new(&self.display_path())?)
    }

    fn v2_manager(
        &self,
        root: &Path,
    ) -> std::result::Result<
        libcgroups::v2::manager::Manager,
        Box<dyn std::error::Error + Send + Sync>,
    > {
        Ok(libcgroups::v2::manager::Manager::new(
            root.to_path_buf(),
            self.display_path(),
        )?)
    }
}

/// Whether the caller can create cgroups at `cgroups_path` on this machine
/// (see [`Cgroup::check_manage`]). `false` also when the setup cannot be
/// detected. A runtime should skip cgroup setup when this is false, as crun
/// and runc do for rootless containers on cgroup v1.
pub fn can_manage(cgroups_path: impl AsRef<Path>) -> bool {
    check_manage(cgroups_path).is_ok()
}

/// [`can_manage`], with the reason when the answer is no.
pub fn check_manage(cgroups_path: impl AsRef<Path>) -> Result<()> {
    Cgroup::open(cgroups_path)?.check_manage()
}

fn eaccess(path: &Path, flags: AccessFlags, op: &'static str) -> Result<()> {
    nix::unistd::eaccess(path, flags)
        .map_err(|errno| Error::io(op, path, std::io::Error::from_raw_os_error(errno as i32)))
}

fn check_writable(dir: &Path, mount_point: &Path) -> Result<()> {
    if dir.is_dir() {
        eaccess(
            dir,
            AccessFlags::W_OK | AccessFlags::X_OK,
            "create cgroups in",
        )?;
        return eaccess(
            &dir.join(CGROUP_PROCS),
            AccessFlags::W_OK,
            "move processes into",
        );
    }
    let mut ancestor = dir.parent();
    while let Some(a) = ancestor {
        if a.is_dir() {
            return eaccess(
                a,
                AccessFlags::W_OK | AccessFlags::X_OK,
                "create cgroups in",
            );
        }
        if a == mount_point {
            break;
        }
        ancestor = a.parent();
    }
    Err(Error::io(
        "find the hierarchy root of",
        dir,
        std::io::Error::from(ErrorKind::NotFound),
    ))
}

/// Adds the pids of `dir/cgroup.procs` and of every descendant cgroup.
/// Directories vanishing meanwhile are ignored.
fn collect_pids(dir: &Path, pids: &mut BTreeSet<i32>) -> Result<()> {
    let procs = dir.join(CGROUP_PROCS);
    if let Some(content) = read_opt(&procs)? {
        for line in content.lines() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let pid = line
                .parse::<i32>()
                .map_err(|_| Error::parse(&procs, line))?;
            pids.insert(pid);
        }
    }
    for child in subdirs(dir)? {
        collect_pids(&child, pids)?;
    }
    Ok(())
}

/// Child directories (= child cgroups) of `dir`; empty if `dir` is gone.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => out.push(entry.path()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("stat", entry.path(), e)),
        }
    }
    Ok(out)
}

/// Removes `dir` and its child cgroups, deepest first.
fn remove_tree(dir: &Path, deadline: Instant) -> Result<()> {
    for child in subdirs(dir)? {
        remove_tree(&child, deadline)?;
    }
    rmdir_retry(dir, deadline)
}

fn rmdir_retry(dir: &Path, deadline: Instant) -> Result<()> {
    let mut delay = Duration::from_millis(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(Errno::EBUSY as i32) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::io("remove cgroup", dir, e));
                }
                thread::sleep(delay.min(deadline - now));
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(Error::io("remove cgroup", dir, e)),
        }
    }
}

const V1_FREEZER_STATE: &str = "freezer.state";

fn v1_freezer_state(dir: &Path) -> Result<FreezerState> {
    let path = dir.join(V1_FREEZER_STATE);
    let content = fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
    match content.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(Error::parse(&path, other)),
    }
}

fn v1_freeze(dir: &Path) -> Result<()> {
    let path = dir.join(V1_FREEZER_STATE);
    let start = Instant::now();
    let result = (|| {
        // As runc: keep asking; a task stuck in FREEZING sometimes needs a
        // thaw/freeze cycle to make progress.
        let mut i: u32 = 0;
        loop {
            write(&path, "FROZEN")?;
            match v1_freezer_state(dir)? {
                FreezerState::Frozen => return Ok(()),
                FreezerState::Thawed | FreezerState::Freezing => {}
            }
            if start.elapsed() >= FREEZE_TIMEOUT {
                return Err(Error::Timeout {
                    op: "freeze",
                    path: dir.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
            i = i.wrapping_add(1);
            if i % 50 == 49 {
                write(&path, "THAWED")?;
            }
            thread::sleep(Duration::from_millis(if i < 10 { 1 } else { 10 }));
        }
    })();
    if result.is_err() {
        // Never leave a half-frozen container behind.
        let _ = write(&path, "THAWED");
    }
    result
}

fn v1_thaw(dir: &Path) -> Result<()> {
    let path = dir.join(V1_FREEZER_STATE);
    let start = Instant::now();
    loop {
        write(&path, "THAWED")?;
        if v1_freezer_state(dir)? == FreezerState::Thawed {
            return Ok(());
        }
        if start.elapsed() >= FREEZE_TIMEOUT {
            return Err(Error::Timeout {
                op: "thaw",
                path: dir.to_path_buf(),
                waited: start.elapsed(),
            });
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn v2_freezer_state(dir: &Path) -> Result<FreezerState> {
    let freeze = dir.join("cgroup.freeze");
    let wanted = match read_opt(&freeze)? {
        None => {
            return Err(Error::Unsupported {
                op: "read the freezer state of",
                path: dir.to_path_buf(),
                reason: "cgroup.freeze is missing (kernel older than 5.2)",
            })
        }
        Some(s) => match s.trim() {
            "0" => false,
            "1" => true,
            other => return Err(Error::parse(&freeze, other)),
        },
    };
    if !wanted {
        return Ok(FreezerState::Thawed);
    }
    let events = dir.join("cgroup.events");
    let content = fs::read_to_string(&events).map_err(|e| Error::io("read", &events, e))?;
    match keyed_u64(&events, &content, "frozen")? {
        Some(1) => Ok(FreezerState::Frozen),
        Some(0) => Ok(FreezerState::Freezing),
        _ => Err(Error::parse(&events, content.trim())),
    }
}

fn v2_set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let freeze = dir.join("cgroup.freeze");
    let op = if frozen { "freeze" } else { "thaw" };
    if !freeze.exists() {
        return Err(Error::Unsupported {
            op,
            path: dir.to_path_buf(),
            reason: "cgroup.freeze is missing (kernel older than 5.2)",
        });
    }
    write(&freeze, if frozen { "1" } else { "0" })?;
    let events = dir.join("cgroup.events");
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    let result = loop {
        let content = fs::read_to_string(&events).map_err(|e| Error::io("read", &events, e))?;
        match keyed_u64(&events, &content, "frozen")? {
            Some(v) if (v == 1) == frozen => break Ok(()),
            Some(0 | 1) => {}
            _ => break Err(Error::parse(&events, content.trim())),
        }
        if start.elapsed() >= FREEZE_TIMEOUT {
            break Err(Error::Timeout {
                op,
                path: dir.to_path_buf(),
                waited: start.elapsed(),
            });
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    };
    if frozen && result.is_err() {
        let _ = write(&freeze, "0");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize(Path::new("/a/b")).unwrap(), PathBuf::from("a/b"));
        assert_eq!(
            normalize(Path::new("a/./b/")).unwrap(),
            PathBuf::from("a/b")
        );
        assert!(normalize(Path::new("/a/../b")).is_err());
        assert!(normalize(Path::new("/")).is_err());
        assert!(normalize(Path::new("")).is_err());
        let err = normalize(Path::new("/x/..")).unwrap_err();
        assert!(err.to_string().contains("/x/.."), "{err}");
    }

    fn fixture_v1(root: &Path) -> Cgroup {
        let hs = vec![
            Hierarchy::v1(root.join("cpu,cpuacct"), &["cpu", "cpuacct"]),
            Hierarchy::v1(root.join("memory"), &["memory"]),
            Hierarchy::v1(root.join("freezer"), &["freezer"]),
            Hierarchy::v1(root.join("systemd"), &["name=systemd"]),
            Hierarchy::v2(root.join("unified")),
        ];
        Cgroup::open_v1(hs, "/ctr").unwrap()
    }

    #[test]
    fn v1_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fixture_v1(tmp.path());
        assert_eq!(cg.mode(), CgroupMode::Hybrid);
        assert_eq!(cg.path(), Path::new("ctr"));
        assert_eq!(
            cg.controller_dir("cpuacct").unwrap(),
            tmp.path().join("cpu,cpuacct/ctr")
        );
        assert_eq!(cg.controller_dir("pids"), None);
        assert_eq!(cg.dirs().len(), 5);
        assert!(!cg.exists());
        assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
        assert!(matches!(cg.stats(), Err(Error::NotFound { .. })));
        assert!(matches!(cg.freeze(), Err(Error::NotFound { .. })));
        cg.remove().unwrap();
    }

    #[test]
    fn pids_union_and_recursion_on_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fixture_v1(tmp.path());
        let mem = tmp.path().join("memory/ctr");
        fs::create_dir_all(mem.join("sub/deeper")).unwrap();
        fs::write(mem.join(CGROUP_PROCS), "10\n20\n").unwrap();
        fs::write(mem.join("sub/deeper").join(CGROUP_PROCS), "30\n").unwrap();
        let uni = tmp.path().join("unified/ctr");
        fs::create_dir_all(&uni).unwrap();
        fs::write(uni.join(CGROUP_PROCS), "20\n40\n").unwrap();
        assert!(cg.exists());
        assert_eq!(cg.pids().unwrap(), vec![10, 20, 30, 40]);

        fs::write(uni.join(CGROUP_PROCS), "20\nforty\n").unwrap();
        let err = cg.pids().unwrap_err();
        assert!(
            err.to_string().contains("unified/ctr/cgroup.procs"),
            "{err}"
        );
    }

    #[test]
    fn v1_freezer_on_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fixture_v1(tmp.path());
        let dir = tmp.path().join("freezer/ctr");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(V1_FREEZER_STATE), "THAWED\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
        // A plain file keeps whatever is written, so freeze succeeds at once.
        cg.freeze().unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
        cg.thaw().unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
        fs::write(dir.join(V1_FREEZER_STATE), "MELTING\n").unwrap();
        assert!(matches!(cg.freezer_state(), Err(Error::Parse { .. })));
    }

    #[test]
    fn v1_oom_on_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = fixture_v1(tmp.path());
        let dir = tmp.path().join("memory/ctr");
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), None);
        fs::write(
            dir.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), Some(3));
        fs::write(
            dir.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), None);
    }

    #[test]
    fn v2_on_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::open_v2(tmp.path(), "/pod/ctr").unwrap();
        assert_eq!(cg.mode(), CgroupMode::Unified);
        let dir = tmp.path().join("pod/ctr");
        assert_eq!(cg.controller_dir("memory").unwrap(), dir);
        assert!(!cg.exists());
        assert!(matches!(cg.limits(), Err(Error::NotFound { .. })));

        fs::create_dir_all(&dir).unwrap();
        assert!(cg.exists());
        assert!(matches!(cg.freeze(), Err(Error::Unsupported { .. })));
        fs::write(dir.join("cgroup.freeze"), "0\n").unwrap();
        fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
        fs::write(dir.join("cgroup.freeze"), "1\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Freezing);
        fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
        // thaw on a fixture: cgroup.events says frozen 1 forever -> would
        // time out, so only check the fast path.
        fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        cg.thaw().unwrap();
        assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);

        fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n",
        )
        .unwrap();
        assert_eq!(cg.oom_kill_count().unwrap(), Some(2));
        fs::write(dir.join("pids.max"), "max\n").unwrap();
        assert_eq!(cg.limits().unwrap().pids, None);
        fs::write(dir.join("memory.current"), "4096\n").unwrap();
        assert_eq!(cg.stats().unwrap().memory.usage, Some(4096));
    }

    #[test]
    fn v2_remove_fixture_without_cgroupfs() {
        // On a plain filesystem rmdir fails with ENOTEMPTY (files inside):
        // the error names the directory and the operation, and no retry
        // loop is entered (only EBUSY is retried).
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::open_v2(tmp.path(), "ctr").unwrap();
        let dir = tmp.path().join("ctr");
        fs::create_dir_all(dir.join("child")).unwrap();
        fs::write(dir.join("cgroup.procs"), "").unwrap();
        let start = Instant::now();
        let err = cg.remove().unwrap_err();
        assert!(start.elapsed() < DEFAULT_REMOVE_TIMEOUT);
        let msg = err.to_string();
        assert!(
            msg.contains("remove cgroup") && msg.contains("ctr"),
            "{msg}"
        );
        // The child (empty) was removed first.
        assert!(!dir.join("child").exists());
    }

    #[test]
    fn check_manage_on_fixture() {
        let tmp = tempfile::tempdir().unwrap();
        let cg = Cgroup::open_v2(tmp.path(), "a/b/c").unwrap();
        // Nearest existing ancestor is the root: writable by the owner.
        cg.check_manage().unwrap();
        let only_named = Cgroup::open_v1(
            vec![Hierarchy::v1(tmp.path().join("systemd"), &["name=systemd"])],
            "x",
        )
        .unwrap();
        assert!(matches!(
            only_named.check_manage(),
            Err(Error::Unsupported { .. })
        ));
        let missing_root = Cgroup::open_v2(tmp.path().join("nope"), "x").unwrap();
        // The mount point itself does not exist: never look above it.
        let err = missing_root.check_manage().unwrap_err();
        assert!(err.to_string().contains("nope/x"), "{err}");
    }
}
