//! Directories the container's user namespace cannot search.
//!
//! libcontainer's init reaches the rootfs, the bind-mount sources and the
//! namespace files by name *after* it has entered the container's user
//! namespace. Its root there is an id of the caller's subordinate range, which
//! has no rights over a directory whose owner that namespace does not map: a
//! rootless user's `$XDG_RUNTIME_DIR` (mode 0700) under `--userns=nomap`, or any
//! 0700 directory whose group is unmapped. crun opens such paths before it
//! enters the namespace; libcontainer cannot be asked to.
//!
//! So, for a spec with a user namespace, the runtime finds the first ancestor
//! of each such path that the namespace's root cannot search and, in a mount
//! namespace of its own used only while libcontainer creates the container,
//! covers that directory with a tmpfs of mode 0711 holding the same entries
//! (each bound back in from the original, symlinks copied). Every path below
//! resolves to the same files as before; only the covered directory's own
//! mode differs, and only for this process and the container's setup (the
//! container pivots away from this view). The caller's mount namespace is
//! given back by [`Opened::finish`].

use std::ffi::OsString;
use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};
use rustix::mount::{move_mount, open_tree, MoveMountFlags, OpenTreeFlags};

use crate::{Result, RuntimeError};

/// The container namespace's view of ids: `(inside, outside, count)` ranges,
/// `outside` in the caller's namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Maps {
    uid: Vec<(u32, u32, u32)>,
    gid: Vec<(u32, u32, u32)>,
}

/// The id stat shows for an owner the caller's namespace does not map
/// (/proc/sys/kernel/overflow{u,g}id, 65534 unless changed).
const OVERFLOW: u32 = 65534;

fn mapped(map: &[(u32, u32, u32)], outside: u32) -> bool {
    map.iter()
        .any(|&(_, o, n)| outside >= o && u64::from(outside) < u64::from(o) + u64::from(n))
}

fn outside_of(map: &[(u32, u32, u32)], inside: u32) -> Option<u32> {
    map.iter().find_map(|&(i, o, n)| {
        (inside >= i && u64::from(inside) < u64::from(i) + u64::from(n)).then(|| o + (inside - i))
    })
}

fn parse_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|x| x.parse::<u32>());
            match (f.next(), f.next(), f.next()) {
                (Some(Ok(i)), Some(Ok(o)), Some(Ok(n))) => Some((i, o, n)),
                _ => None,
            }
        })
        .collect()
}

fn from_spec(m: &[LinuxIdMapping]) -> Vec<(u32, u32, u32)> {
    m.iter()
        .map(|m| (m.container_id(), m.host_id(), m.size()))
        .collect()
}

impl Maps {
    /// Whether root of the namespace can search directory `meta`.
    fn can_search(&self, meta: &fs::Metadata) -> bool {
        let mode = meta.mode();
        if mode & 0o001 != 0 {
            return true;
        }
        // Capabilities count only over inodes whose owner and group it maps.
        // An owner our own namespace does not map shows as the overflow id
        // (65534): taken as unmapped, which at worst covers a directory that
        // did not need it.
        if meta.uid() != OVERFLOW
            && meta.gid() != OVERFLOW
            && mapped(&self.uid, meta.uid())
            && mapped(&self.gid, meta.gid())
        {
            return true;
        }
        (outside_of(&self.uid, 0) == Some(meta.uid()) && mode & 0o100 != 0)
            || (outside_of(&self.gid, 0) == Some(meta.gid()) && mode & 0o010 != 0)
    }
}

/// The id maps of the spec's user namespace, as seen from this process:
/// the spec's mappings for a new one, `/proc/PID/{uid,gid}_map` for one
/// joined as `/proc/PID/ns/user`. `None` without a user namespace (or one
/// joined through a path whose maps cannot be read).
pub(crate) fn maps(spec: &Spec) -> Option<Maps> {
    let linux = spec.linux().as_ref()?;
    let userns = linux
        .namespaces()
        .as_ref()?
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::User)?;
    match userns.path() {
        None => Some(Maps {
            uid: from_spec(linux.uid_mappings().as_deref().unwrap_or_default()),
            gid: from_spec(linux.gid_mappings().as_deref().unwrap_or_default()),
        }),
        Some(p) => {
            let pid = p
                .strip_prefix("/proc")
                .ok()?
                .parent()?
                .parent()?
                .to_str()?
                .parse::<u32>()
                .ok()?;
            let read = |f: &str| fs::read_to_string(format!("/proc/{pid}/{f}")).ok();
            Some(Maps {
                uid: parse_map(&read("uid_map")?),
                gid: parse_map(&read("gid_map")?),
            })
        }
    }
}

/// Paths the init reaches by name inside the namespace: the rootfs, bind
/// sources and namespace files.
fn container_paths(spec: &Spec, bundle: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(root) = spec.root() {
        let p = root.path();
        out.push(if p.is_absolute() {
            p.clone()
        } else {
            bundle.join(p)
        });
    }
    for m in spec.mounts().iter().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if let (true, Some(src)) = (bind, m.source()) {
            if src.is_absolute() {
                out.push(src.clone());
            }
        }
    }
    for n in spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
    {
        if n.typ() != LinuxNamespaceType::User {
            if let Some(p) = n.path() {
                out.push(p.clone());
            }
        }
    }
    out
}

/// The first ancestor of `path` the namespace's root cannot search.
fn blocked_ancestor(path: &Path, maps: &Maps) -> Option<PathBuf> {
    let mut dir = PathBuf::from("/");
    let comps: Vec<Component> = path.components().collect();
    // Ancestors only: the last component itself need not be searchable.
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        match c {
            Component::RootDir => continue,
            Component::Normal(n) => dir.push(n),
            // Not a plain path: leave it to libcontainer's own error.
            _ => return None,
        }
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {
                if !maps.can_search(&m) {
                    return Some(dir);
                }
            }
            _ => return None,
        }
    }
    None
}

/// The directories to cover for `spec`, shallowest first, none inside
/// another.
pub(crate) fn plan(spec: &Spec, bundle: &Path) -> Vec<PathBuf> {
    let Some(maps) = maps(spec) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = container_paths(spec, bundle)
        .iter()
        .filter_map(|p| blocked_ancestor(p, &maps))
        .filter(|d| d != Path::new("/"))
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut out: Vec<PathBuf> = Vec::new();
    for d in dirs {
        if !out.iter().any(|o| d.starts_with(o)) {
            out.push(d);
        }
    }
    out
}

/// The caller's mount namespace, to go back to.
#[derive(Debug)]
pub(crate) struct Opened {
    restore: OwnedFd,
}

impl Opened {
    /// Returns to the caller's mount namespace.
    pub(crate) fn finish(self) -> Result<()> {
        setns(&self.restore, CloneFlags::CLONE_NEWNS)
            .map_err(|e| RuntimeError::sys("returning to the caller's mount namespace", e))
    }
}

/// Covers, in a new mount namespace of the calling thread, every directory
/// on the way to `spec`'s paths that the container's user namespace could
/// not search (a covered directory's entries keep their own modes, so one
/// below it may need covering in turn). `None` when there is nothing to do.
pub(crate) fn open_up(spec: &Spec, bundle: &Path) -> Result<Option<Opened>> {
    let mut dirs = plan(spec, bundle);
    if dirs.is_empty() {
        return Ok(None);
    }
    let saved: OwnedFd = File::open("/proc/thread-self/ns/mnt")
        .map_err(|e| RuntimeError::io("open", "/proc/thread-self/ns/mnt", e))?
        .into();
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| RuntimeError::sys("unshare(mount)", e))?;
    let opened = Opened { restore: saved };
    let covered = (|| -> Result<()> {
        crate::rootless::make_mounts_private()?;
        let mut done: Vec<PathBuf> = Vec::new();
        while !dirs.is_empty() {
            for d in &dirs {
                if done.contains(d) {
                    // Covered and still not searchable: give up here and
                    // let libcontainer name the path it cannot reach.
                    return Ok(());
                }
                cover(d)?;
                done.push(d.clone());
            }
            dirs = plan(spec, bundle);
        }
        Ok(())
    })();
    match covered {
        Ok(()) => Ok(Some(opened)),
        Err(e) => {
            let _ = opened.finish();
            Err(e)
        }
    }
}

/// One entry of a covered directory, taken before the tmpfs hides it.
enum Entry {
    Tree(OsString, OwnedFd, bool),
    Symlink(OsString, PathBuf),
}

fn cover(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| RuntimeError::io("stat", dir, e))?;
    let mut entries = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| RuntimeError::io("read", dir, e))? {
        let e = e.map_err(|e| RuntimeError::io("read", dir, e))?;
        let (name, path) = (e.file_name(), e.path());
        let ft = match e.file_type() {
            Ok(t) => t,
            Err(_) => continue,
        };
        if ft.is_symlink() {
            if let Ok(target) = fs::read_link(&path) {
                entries.push(Entry::Symlink(name, target));
            }
            continue;
        }
        match open_tree(
            rustix::fs::CWD,
            &path,
            OpenTreeFlags::OPEN_TREE_CLONE
                | OpenTreeFlags::OPEN_TREE_CLOEXEC
                | OpenTreeFlags::AT_RECURSIVE,
        ) {
            Ok(fd) => entries.push(Entry::Tree(name, fd, ft.is_dir())),
            // Something we could not take (another user's mount, say) is
            // left out of the view; libcontainer reports it if it is needed.
            Err(err) => tracing::debug!("{}: not mirrored: {err}", path.display()),
        }
    }
    let opts = format!(
        "mode=0711,uid={},gid={},size=64k,nr_inodes={}",
        meta.uid(),
        meta.gid(),
        entries.len() + 16
    );
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )
    .map_err(|e| {
        RuntimeError::sys(
            format!(
                "covering {} for the container's user namespace",
                dir.display()
            ),
            e,
        )
    })?;
    for e in entries {
        match e {
            Entry::Symlink(name, target) => {
                let at = dir.join(&name);
                std::os::unix::fs::symlink(&target, &at)
                    .map_err(|e| RuntimeError::io("symlink", &at, e))?;
            }
            Entry::Tree(name, fd, is_dir) => {
                let at = dir.join(&name);
                let made = if is_dir {
                    fs::create_dir(&at)
                } else {
                    File::create(&at).map(drop)
                };
                made.map_err(|e| RuntimeError::io("create", &at, e))?;
                move_mount(
                    fd.as_fd(),
                    "",
                    rustix::fs::CWD,
                    &at,
                    MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
                )
                .map_err(|e| RuntimeError::io("move_mount", &at, e.into()))?;
            }
        }
    }
    tracing::debug!(
        "{}: covered for the container's user namespace",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn maps(uid: &[(u32, u32, u32)]) -> Maps {
        Maps {
            uid: uid.to_vec(),
            gid: uid.to_vec(),
        }
    }

    #[test]
    fn parses_proc_maps() {
        assert_eq!(
            parse_map("         0       1000          1\n         1     100000      65536\n"),
            vec![(0, 1000, 1), (1, 100000, 65536)]
        );
    }

    #[test]
    fn search_rights_follow_mode_and_mapped_owners() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        let m = fs::metadata(&d).unwrap();
        // Owner unmapped: no capability over it, no "other" bit.
        let nomap = maps(&[(0, me.wrapping_add(1), 10)]);
        assert!(!nomap.can_search(&m));
        // Owner and group mapped: capabilities apply.
        let keep = maps(&[(0, me, 1)]);
        assert!(keep.can_search(&m));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o711)).unwrap();
        assert!(nomap.can_search(&fs::metadata(&d).unwrap()));
    }

    #[test]
    fn the_first_blocked_ancestor_is_found() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("a");
        let b = a.join("b");
        fs::create_dir_all(&b).unwrap();
        fs::set_permissions(t.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&a, fs::Permissions::from_mode(0o700)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let nomap = maps(&[(0, me.wrapping_add(1), 10)]);
        assert_eq!(blocked_ancestor(&b.join("file"), &nomap), Some(a.clone()));
        // The path's own last component is not an ancestor.
        assert_eq!(blocked_ancestor(&a, &nomap), None);
        let keep = maps(&[(0, me, 1)]);
        assert_eq!(blocked_ancestor(&b.join("file"), &keep), None);
    }
}
