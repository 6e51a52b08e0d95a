//! Ownership-shifted copies of image layers, for a container whose user
//! namespace maps ids differently from the image's stored ownership when
//! idmapped mounts are not available (rootless on ext4, see
//! docs/rootless-design.md 3.4). Podman's storage does the same
//! (`imageTopLayerForMapping`).
//!
//! [`mapped_layers`] builds, once per (image, mapping), a copy of each
//! layer under `<mapped root>/<hash of the maps>/<n>/` (bottom layer 0),
//! with every owner `id` replaced by the map's image of `id`, and returns
//! the copied layer dirs; later calls with the same maps reuse them. The
//! copy is built in a temporary directory under a lock and renamed into
//! place, so a crash never leaves a half copy that would be reused.
//!
//! Speed: files whose owner does not change are hard links to the
//! original layer (layers are immutable), file data is copied in the
//! kernel (copy_file_range), and the entries are spread over all CPUs.
//! Modes, xattrs (overlay opaque markers included), symlinks, whiteouts
//! (char 0/0), device nodes, FIFOs, hard links and timestamps are kept.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use nix::sys::stat::{mknod, Mode, SFlag};
use podman_rs_namespaces::idmap::{display_id_maps, map_to_host};
use podman_rs_namespaces::IdMap;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::vfs::{self, errno_io, set_times};

/// How owners change: a stored owner `id` becomes `map_to_host(map, id)`
/// (ids outside the map keep their number and show as unmapped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerShift {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
}

impl OwnerShift {
    fn uid(&self, id: u32) -> u32 {
        map_to_host(&self.uid, id).unwrap_or(id)
    }

    fn gid(&self, id: u32) -> u32 {
        map_to_host(&self.gid, id).unwrap_or(id)
    }

    /// The directory name of copies made with this shift.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "uid={};gid={}",
            display_id_maps(&self.uid),
            display_id_maps(&self.gid)
        ));
        hex::encode(&h.finalize()[..16])
    }
}

/// What [`mapped_layers`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedLayers {
    /// The copied layers, bottom first (the order `layers` was given in).
    pub layers: Vec<PathBuf>,
    /// The copy directory (`<mapped root>/<key>`).
    pub dir: PathBuf,
    /// Whether this call built it (false: reused).
    pub created: bool,
    pub stats: ShiftStats,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShiftStats {
    pub dirs: u64,
    /// Regular files copied (owner changed).
    pub copied: u64,
    /// Regular files hard-linked to the original (owner unchanged).
    pub linked: u64,
    pub symlinks: u64,
    /// Device nodes, whiteouts, FIFOs, sockets.
    pub specials: u64,
    /// Hard links within a layer, re-created in the copy.
    pub hardlinks: u64,
    pub bytes: u64,
}

/// The copied layers for `shift` under `mapped_root` when
/// [`mapped_layers`] has already built them (nothing is created).
pub fn existing_mapped_layers(
    layers: &[PathBuf],
    shift: &OwnerShift,
    mapped_root: &Path,
) -> Option<Vec<PathBuf>> {
    let dir = mapped_root.join(shift.key());
    dir.is_dir().then(|| copy_dirs(&dir, layers.len()))
}

/// `<dir>/0` … `<dir>/<n-1>`: the copied layers, bottom first.
fn copy_dirs(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| dir.join(i.to_string())).collect()
}

/// The shifted copy of `layers` (bottom first) under `mapped_root`, built
/// if absent. See the module documentation.
pub fn mapped_layers(
    layers: &[PathBuf],
    shift: &OwnerShift,
    mapped_root: &Path,
) -> Result<MappedLayers> {
    let key = shift.key();
    let dir = mapped_root.join(&key);
    let names = |d: &Path| copy_dirs(d, layers.len());
    if dir.is_dir() {
        return Ok(MappedLayers {
            layers: names(&dir),
            dir,
            created: false,
            stats: ShiftStats::default(),
        });
    }
    fs::create_dir_all(mapped_root).map_err(|e| Error::io("creating", mapped_root, e))?;
    crate::spread::spread_subdirectories(mapped_root);
    let lock_path = mapped_root.join(format!("{key}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| Error::io("opening lock", &lock_path, e))?;
    rustix::fs::flock(lock.as_fd(), rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io("locking", &lock_path, e.into()))?;
    // Someone else may have built it while we waited.
    if dir.is_dir() {
        return Ok(MappedLayers {
            layers: names(&dir),
            dir,
            created: false,
            stats: ShiftStats::default(),
        });
    }
    // Leftovers of a builder that crashed (we hold the lock: none is running).
    let tmp_prefix = format!("{key}.tmp-");
    if let Ok(entries) = fs::read_dir(mapped_root) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&tmp_prefix) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    let tmp = mapped_root.join(format!("{tmp_prefix}{}", std::process::id()));
    fs::create_dir(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    let mut stats = ShiftStats::default();
    let built = (|| -> Result<()> {
        for (i, layer) in layers.iter().enumerate() {
            let s = shift_tree(layer, &tmp.join(i.to_string()), shift)?;
            stats.add(&s);
        }
        // The data must be on disk before the rename publishes it.
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("syncing", &tmp, e))?;
        fs::rename(&tmp, &dir).map_err(|e| Error::io("renaming into place", &dir, e))
    })();
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    tracing::debug!(dir = %dir.display(), ?stats, "built an ownership-shifted copy of the image layers");
    Ok(MappedLayers {
        layers: names(&dir),
        dir,
        created: true,
        stats,
    })
}

impl ShiftStats {
    fn add(&mut self, o: &ShiftStats) {
        self.dirs += o.dirs;
        self.copied += o.copied;
        self.linked += o.linked;
        self.symlinks += o.symlinks;
        self.specials += o.specials;
        self.hardlinks += o.hardlinks;
        self.bytes += o.bytes;
    }
}

/// One non-directory entry to create.
struct Job {
    src: PathBuf,
    dst: PathBuf,
    meta: Metadata,
}

/// Copies the tree `src` to `dst` (which must not exist) with owners shifted.
pub fn shift_tree(src: &Path, dst: &Path, shift: &OwnerShift) -> Result<ShiftStats> {
    let mut stats = ShiftStats::default();
    let mut dirs: Vec<(PathBuf, PathBuf, Metadata)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    // Hard links within the layer: the first path of an inode is created,
    // the others link to it afterwards.
    let mut first_of: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();

    let root_meta = fs::symlink_metadata(src).map_err(|e| Error::io("stat", src, e))?;
    let mut stack = vec![(src.to_path_buf(), dst.to_path_buf(), root_meta)];
    while let Some((s, d, meta)) = stack.pop() {
        fs::create_dir(&d).map_err(|e| Error::io("creating directory", &d, e))?;
        stats.dirs += 1;
        let entries = fs::read_dir(&s).map_err(|e| Error::io("reading directory", &s, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("reading directory", &s, e))?;
            let name: OsString = entry.file_name();
            let (cs, cd) = (s.join(&name), d.join(&name));
            let m = fs::symlink_metadata(&cs).map_err(|e| Error::io("stat", &cs, e))?;
            if m.is_dir() {
                stack.push((cs, cd, m));
                continue;
            }
            if m.is_file() && m.nlink() > 1 {
                if let Some(first) = first_of.get(&(m.dev(), m.ino())) {
                    links.push((first.clone(), cd));
                    continue;
                }
                first_of.insert((m.dev(), m.ino()), cd.clone());
            }
            jobs.push(Job {
                src: cs,
                dst: cd,
                meta: m,
            });
        }
        dirs.push((s, d, meta));
    }

    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let totals: Mutex<ShiftStats> = Mutex::new(ShiftStats::default());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut local = ShiftStats::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if let Err(e) = create_entry(job, shift, &mut local) {
                        if let Ok(mut f) = failure.lock() {
                            f.get_or_insert(e);
                        }
                        // Make the others stop too.
                        next.store(usize::MAX / 2, Ordering::Relaxed);
                        break;
                    }
                }
                if let Ok(mut t) = totals.lock() {
                    t.add(&local);
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if let Ok(t) = totals.into_inner() {
        stats.add(&t);
    }
    for (first, other) in links {
        fs::hard_link(&first, &other).map_err(|e| Error::io("linking", &other, e))?;
        stats.hardlinks += 1;
    }
    // Directories last, deepest first: their times must not move again.
    for (s, d, meta) in dirs.iter().rev() {
        set_owner_mode(d, &meta_owner(meta, shift), meta.mode(), false)?;
        copy_xattrs(s, d)?;
        set_times(d, meta)?;
    }
    Ok(stats)
}

fn meta_owner(meta: &Metadata, shift: &OwnerShift) -> (u32, u32) {
    (shift.uid(meta.uid()), shift.gid(meta.gid()))
}

fn create_entry(job: &Job, shift: &OwnerShift, stats: &mut ShiftStats) -> Result<()> {
    let Job { src, dst, meta } = job;
    let owner = meta_owner(meta, shift);
    let ft = meta.file_type();
    if ft.is_file() {
        if owner == (meta.uid(), meta.gid()) {
            match fs::hard_link(src, dst) {
                Ok(()) => {
                    stats.linked += 1;
                    return Ok(());
                }
                // Another filesystem, or too many links: copy instead.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV) | Some(libc::EMLINK)) => {}
                Err(e) => return Err(Error::io("linking", dst, e)),
            }
        }
        stats.bytes += vfs::copy_file_data(src, dst)?;
        stats.copied += 1;
        set_owner_mode(dst, &owner, meta.mode(), false)?;
        copy_xattrs(src, dst)?;
        return set_times(dst, meta);
    }
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(|e| Error::io("reading link", src, e))?;
        std::os::unix::fs::symlink(&target, dst)
            .map_err(|e| Error::io("creating symlink", dst, e))?;
        stats.symlinks += 1;
        set_owner_mode(dst, &owner, meta.mode(), true)?;
        return set_times(dst, meta);
    }
    // Whiteouts (char 0/0), device nodes, FIFOs, sockets.
    let kind = if ft.is_char_device() {
        SFlag::S_IFCHR
    } else if ft.is_block_device() {
        SFlag::S_IFBLK
    } else if ft.is_fifo() {
        SFlag::S_IFIFO
    } else {
        SFlag::S_IFSOCK
    };
    mknod(
        dst.as_path(),
        kind,
        Mode::from_bits_truncate(meta.mode() & 0o7777),
        meta.rdev(),
    )
    .map_err(|e| Error::io("creating node", dst, errno_io(e)))?;
    stats.specials += 1;
    set_owner_mode(dst, &owner, meta.mode(), false)?;
    copy_xattrs(src, dst)?;
    set_times(dst, meta)
}

/// Owner and mode of `path` from the shifted `owner`.
fn set_owner_mode(path: &Path, owner: &(u32, u32), mode: u32, symlink: bool) -> Result<()> {
    vfs::set_owner_mode(path, owner.0, owner.1, mode, symlink)
}

/// Every xattr, overlay markers included.
fn copy_xattrs(src: &Path, dst: &Path) -> Result<()> {
    vfs::copy_xattrs(src, dst, |_| false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xattr;
    use nix::fcntl::AtFlags;
    use nix::unistd::{fchownat, Gid, Uid};
    use std::ffi::OsStr;
    use std::os::unix::fs::PermissionsExt;

    fn root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn shift() -> OwnerShift {
        // 0 → 100000 (64 ids), 1000 stays 1000.
        OwnerShift {
            uid: vec![IdMap::new(0, 100000, 64), IdMap::new(1000, 1000, 1)],
            gid: vec![IdMap::new(0, 200000, 64), IdMap::new(1000, 1000, 1)],
        }
    }

    /// A layer with a root file, a 1000-owned file, a symlink, a hard link,
    /// a whiteout, an opaque dir and a setuid file.
    fn layer(dir: &Path) -> PathBuf {
        let l = dir.join("layer");
        fs::create_dir_all(l.join("etc/opaque")).expect("mkdir");
        fs::write(l.join("etc/root-file"), b"root data").expect("write");
        fs::write(l.join("user-file"), b"user data").expect("write");
        fchownat(
            None,
            &l.join("user-file"),
            Some(Uid::from_raw(1000)),
            Some(Gid::from_raw(1000)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("chown");
        fs::hard_link(l.join("etc/root-file"), l.join("etc/root-link")).expect("link");
        std::os::unix::fs::symlink("etc/root-file", l.join("sym")).expect("symlink");
        crate::whiteout::create_whiteout(&l.join("gone")).expect("whiteout");
        crate::whiteout::set_opaque(&l.join("etc/opaque"), true).expect("opaque");
        fs::write(l.join("suid"), b"x").expect("write");
        fs::set_permissions(l.join("suid"), fs::Permissions::from_mode(0o4755)).expect("chmod");
        l
    }

    #[test]
    fn shifts_owners_links_unchanged_keeps_markers() {
        if !root() {
            eprintln!("skipped: needs root (chown, mknod)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let l = layer(dir.path());
        let mapped = dir.path().join("mapped");
        let out = mapped_layers(std::slice::from_ref(&l), &shift(), &mapped).expect("copy");
        assert!(out.created);
        assert_eq!(out.layers, vec![out.dir.join("0")]);
        let c = &out.layers[0];
        let m = |p: &str| fs::symlink_metadata(c.join(p)).expect(p);
        // Root-owned: shifted copy, content kept.
        assert_eq!(
            (m("etc/root-file").uid(), m("etc/root-file").gid()),
            (100000, 200000)
        );
        assert_eq!(
            fs::read(c.join("etc/root-file")).expect("read"),
            b"root data"
        );
        assert_ne!(
            m("etc/root-file").ino(),
            fs::metadata(l.join("etc/root-file")).expect("stat").ino()
        );
        // Hard link inside the layer kept as a hard link.
        assert_eq!(m("etc/root-link").ino(), m("etc/root-file").ino());
        // Unchanged owner: a hard link to the original.
        assert_eq!(
            m("user-file").ino(),
            fs::metadata(l.join("user-file")).expect("stat").ino()
        );
        assert_eq!(out.stats.linked, 1);
        // Symlink, whiteout, opaque marker, setuid, directories.
        assert_eq!(
            fs::read_link(c.join("sym")).expect("link"),
            Path::new("etc/root-file")
        );
        assert_eq!(m("sym").uid(), 100000);
        assert!(crate::whiteout::is_whiteout(&m("gone")));
        assert_eq!(m("gone").uid(), 100000);
        assert_eq!(
            xattr::get(&c.join("etc/opaque"), OsStr::new("user.overlay.opaque")).expect("xattr"),
            Some(b"y".to_vec())
        );
        assert_eq!(m("suid").mode() & 0o7777, 0o4755);
        assert_eq!(m("etc").uid(), 100000);
        assert_eq!(fs::metadata(c).expect("root").uid(), 100000);
        assert_eq!(
            m("etc/root-file").mtime(),
            fs::metadata(l.join("etc/root-file")).expect("stat").mtime()
        );
    }

    #[test]
    fn reused_on_the_second_call_and_per_mapping() {
        if !root() {
            eprintln!("skipped: needs root (chown, mknod)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let l = layer(dir.path());
        let mapped = dir.path().join("mapped");
        let first = mapped_layers(std::slice::from_ref(&l), &shift(), &mapped).expect("copy");
        let ino = fs::metadata(&first.dir).expect("stat").ino();
        let second = mapped_layers(std::slice::from_ref(&l), &shift(), &mapped).expect("again");
        assert!(!second.created);
        assert_eq!(second.dir, first.dir);
        assert_eq!(fs::metadata(&second.dir).expect("stat").ino(), ino);
        let mut other = shift();
        other.uid[0] = IdMap::new(0, 300000, 64);
        let third = mapped_layers(&[l], &other, &mapped).expect("other map");
        assert!(third.created);
        assert_ne!(third.dir, first.dir);
    }

    #[test]
    fn a_crashed_build_is_never_reused() {
        if !root() {
            eprintln!("skipped: needs root (chown, mknod)");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let l = layer(dir.path());
        let mapped = dir.path().join("mapped");
        // What a builder killed half-way leaves: a temp dir, no final dir.
        let key = shift().key();
        let stale = mapped.join(format!("{key}.tmp-999999"));
        fs::create_dir_all(stale.join("0/half")).expect("mkdir");
        let out = mapped_layers(std::slice::from_ref(&l), &shift(), &mapped).expect("copy");
        assert!(out.created);
        assert!(!stale.exists());
        assert!(!out.layers[0].join("half").exists());
        // A failing build leaves nothing behind either.
        let missing = dir.path().join("missing");
        let mut other = shift();
        other.gid[0] = IdMap::new(0, 400000, 64);
        assert!(mapped_layers(&[missing], &other, &mapped).is_err());
        assert!(!mapped.join(other.key()).exists());
        let leftovers: Vec<_> = fs::read_dir(&mapped)
            .expect("read")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn key_depends_on_both_maps() {
        let a = shift();
        let mut b = shift();
        b.gid.pop();
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key(), shift().key());
        assert_eq!(a.key().len(), 32);
    }
}
