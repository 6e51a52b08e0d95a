//! The `vfs` driver: root filesystems as plain copies, for hosts where
//! overlayfs cannot be used.
//!
//! [`copy_tree`] copies a directory tree preserving file types, modes
//! (setuid/setgid/sticky included), owners, timestamps, xattrs, symlinks,
//! device nodes, FIFOs and hard links (re-linked within the copy).
//! [`flatten_layers`] builds the merged view of an overlay layer stack by
//! copying the layers bottom-up and applying their overlay markers.
//!
//! Owners and device nodes need root (CAP_CHOWN, CAP_MKNOD).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fchmodat, mknod, utimensat, FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};

use crate::error::{Error, Result};
use crate::util::{create_dir, resolve_planned};
use crate::whiteout::{is_opaque, is_whiteout};
use crate::xattr;

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyStats {
    pub dirs: u64,
    pub files: u64,
    pub symlinks: u64,
    /// Hard links re-created as links to an already copied file.
    pub hardlinks: u64,
    /// Device nodes, FIFOs and sockets.
    pub specials: u64,
    /// Bytes of regular file content copied.
    pub bytes: u64,
    /// Whiteouts applied (paths removed) by [`flatten_layers`].
    pub whiteouts: u64,
    /// Opaque directories applied (contents cleared) by [`flatten_layers`].
    pub opaque_dirs: u64,
}

impl CopyStats {
    fn add(&mut self, other: &CopyStats) {
        self.dirs += other.dirs;
        self.files += other.files;
        self.symlinks += other.symlinks;
        self.hardlinks += other.hardlinks;
        self.specials += other.specials;
        self.bytes += other.bytes;
        self.whiteouts += other.whiteouts;
        self.opaque_dirs += other.opaque_dirs;
    }
}

/// Copies the tree at `src` into directory `dst` (created if absent).
/// Entries already in `dst` are replaced; directories are merged. Whiteouts
/// and opaque markers are copied as they are (not interpreted).
pub fn copy_tree(src: &Path, dst: &Path) -> Result<CopyStats> {
    let mut copier = Copier::new(false);
    copier.copy_root(src, dst)?;
    Ok(copier.stats)
}

/// Writes the merged view of an overlay layer stack (`layers` top-most
/// first, like [`crate::OverlayMount::lower`]) into `target`: each layer is
/// copied over the previous, a whiteout removes the path below it, an opaque
/// directory drops the lower contents of that directory, and the
/// `*.overlay.*` xattrs themselves are not copied.
pub fn flatten_layers(layers: &[PathBuf], target: &Path) -> Result<CopyStats> {
    let mut total = CopyStats::default();
    for layer in layers.iter().rev() {
        let mut copier = Copier::new(true);
        copier.copy_root(layer, target)?;
        total.add(&copier.stats);
    }
    Ok(total)
}

struct Copier {
    /// Interpret whiteouts and opaque dirs, and drop overlay xattrs.
    overlay_markers: bool,
    /// (dev, ino) of a multiply-linked source file -> its first copy.
    links: HashMap<(u64, u64), PathBuf>,
    stats: CopyStats,
}

fn is_overlay_xattr(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

pub(crate) fn errno_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Copies the content of regular file `src` into the new file `dst`
/// (created 0600, never through a symlink); returns the bytes copied.
/// std uses copy_file_range/sendfile where it can.
pub(crate) fn copy_file_data(src: &Path, dst: &Path) -> Result<u64> {
    let mut input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(|e| Error::io("opening", src, e))?;
    let mut output = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dst)
        .map_err(|e| Error::io("creating", dst, e))?;
    io::copy(&mut input, &mut output).map_err(|e| Error::io("copying", src, e))
}

/// Owner, then mode (chown clears setuid bits); a symlink keeps its mode.
pub(crate) fn set_owner_mode(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: u32,
    symlink: bool,
) -> Result<()> {
    fchownat(
        None,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io("chown", path, errno_io(e)))?;
    if !symlink {
        fchmodat(
            None,
            path,
            Mode::from_bits_truncate(mode & 0o7777),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(|e| Error::io("chmod", path, errno_io(e)))?;
    }
    Ok(())
}

/// `meta`'s access and modification times on `path` (not following it).
pub(crate) fn set_times(path: &Path, meta: &Metadata) -> Result<()> {
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, path, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::io("setting times of", path, errno_io(e)))
}

/// Copies the xattrs of `src` to `dst`, but those `skip` names; a target
/// without xattr support is tolerated. Call it after chown, which drops
/// security.capability.
pub(crate) fn copy_xattrs(src: &Path, dst: &Path, skip: fn(&OsStr) -> bool) -> Result<()> {
    let unsupported = |e: &io::Error| e.raw_os_error() == Some(libc::EOPNOTSUPP);
    let names = match xattr::list(src) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) => return Err(Error::io("listing xattrs of", src, e)),
    };
    for name in names {
        if skip(&name) {
            continue;
        }
        let value = match xattr::get(src, &name) {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(e) => return Err(Error::io("reading xattr of", src, e)),
        };
        match xattr::set(dst, &name, &value) {
            Ok(()) => {}
            Err(e) if unsupported(&e) => {
                tracing::debug!(path = %dst.display(), name = %name.to_string_lossy(), "xattr not supported on target");
            }
            Err(e) => return Err(Error::io("setting xattr of", dst, e)),
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (nothing there is fine).
fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            fs::remove_dir_all(path).map_err(|e| Error::io("removing", path, e))
        }
        Ok(_) => fs::remove_file(path).map_err(|e| Error::io("removing", path, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

fn clear_dir(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("reading directory", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("reading directory", dir, e))?;
        remove_any(&entry.path())?;
    }
    Ok(())
}

impl Copier {
    fn new(overlay_markers: bool) -> Self {
        Copier {
            overlay_markers,
            links: HashMap::new(),
            stats: CopyStats::default(),
        }
    }

    fn copy_root(&mut self, src: &Path, dst: &Path) -> Result<()> {
        let meta = fs::metadata(src).map_err(|e| Error::io("stat", src, e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(src, "not a directory"));
        }
        let src_resolved = fs::canonicalize(src).map_err(|e| Error::io("resolving", src, e))?;
        if resolve_planned(dst)?.starts_with(&src_resolved) {
            return Err(Error::invalid(
                dst,
                format!("copy target is inside the source {}", src.display()),
            ));
        }
        create_dir(dst, 0o700)?;
        self.copy_dir(src, dst, &meta)
    }

    fn copy_dir(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        if self.overlay_markers && is_opaque(src)? {
            clear_dir(dst)?;
            self.stats.opaque_dirs += 1;
        }
        let mut entries: Vec<_> = fs::read_dir(src)
            .map_err(|e| Error::io("reading directory", src, e))?
            .collect::<io::Result<_>>()
            .map_err(|e| Error::io("reading directory", src, e))?;
        // A stable order makes hard link handling and errors reproducible.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(|e| Error::io("stat", &from, e))?;
            self.copy_entry(&from, &to, &meta)?;
        }
        self.apply_metadata(src, dst, meta)
    }

    fn copy_entry(&mut self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        let ft = meta.file_type();
        if self.overlay_markers && is_whiteout(meta) {
            remove_any(dst)?;
            self.stats.whiteouts += 1;
            return Ok(());
        }
        let existing = fs::symlink_metadata(dst).ok();
        if ft.is_dir() {
            match existing {
                Some(e) if e.is_dir() => {}
                Some(_) => {
                    remove_any(dst)?;
                    self.make_dir(dst)?;
                }
                None => self.make_dir(dst)?,
            }
            return self.copy_dir(src, dst, meta);
        }
        if existing.is_some() {
            remove_any(dst)?;
        }

        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                match fs::hard_link(first, dst) {
                    Ok(()) => {
                        self.stats.hardlinks += 1;
                        return Ok(());
                    }
                    // The first copy is gone (replaced later in this tree): copy again.
                    Err(e) => {
                        tracing::debug!(path = %dst.display(), error = %e, "hard link failed, copying")
                    }
                }
            }
            self.links.insert(key, dst.to_path_buf());
        }

        if ft.is_file() {
            self.copy_file(src, dst)?;
            self.stats.files += 1;
        } else if ft.is_symlink() {
            let target = fs::read_link(src).map_err(|e| Error::io("reading link", src, e))?;
            std::os::unix::fs::symlink(&target, dst)
                .map_err(|e| Error::io("creating symlink", dst, e))?;
            self.stats.symlinks += 1;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() || ft.is_socket() {
            let kind = SFlag::from_bits_truncate(meta.mode() & SFlag::S_IFMT.bits());
            mknod(dst, kind, Mode::from_bits_truncate(0o600), meta.rdev())
                .map_err(|e| Error::io("mknod", dst, errno_io(e)))?;
            self.stats.specials += 1;
        } else {
            return Err(Error::invalid(src, "unknown file type"));
        }
        self.apply_metadata(src, dst, meta)
    }

    fn make_dir(&mut self, dst: &Path) -> Result<()> {
        fs::DirBuilder::new()
            .create(dst)
            .map_err(|e| Error::io("creating directory", dst, e))?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn copy_file(&mut self, src: &Path, dst: &Path) -> Result<()> {
        self.stats.bytes += copy_file_data(src, dst)?;
        Ok(())
    }

    /// Owner, then mode (chown clears setuid bits), then xattrs (chown clears
    /// security.capability), then timestamps.
    fn apply_metadata(&self, src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
        let symlink = meta.file_type().is_symlink();
        set_owner_mode(dst, meta.uid(), meta.gid(), meta.mode(), symlink)?;
        let skip: fn(&OsStr) -> bool = if self.overlay_markers {
            is_overlay_xattr
        } else {
            |_| false
        };
        copy_xattrs(src, dst, skip)?;
        set_times(dst, meta)
    }
}
