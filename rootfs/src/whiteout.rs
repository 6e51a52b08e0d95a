//! overlayfs markers in layer directories: whiteouts (char device 0/0, which
//! hide a lower file) and opaque directories (xattr `overlay.opaque=y`, which
//! hide a lower directory's contents).

use std::ffi::OsStr;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{Error, Result};
use crate::xattr;

/// The opaque xattr overlayfs reads as root (or without `userxattr`).
pub const OPAQUE_XATTR_TRUSTED: &str = "trusted.overlay.opaque";
/// The opaque xattr overlayfs reads when mounted with `userxattr`.
pub const OPAQUE_XATTR_USER: &str = "user.overlay.opaque";

/// Creates a whiteout at `path` (a character device with device number 0/0).
pub fn create_whiteout(path: &Path) -> Result<()> {
    mknod(path, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
        .map_err(|e| Error::io("creating whiteout", path, e.into()))
}

/// Whether `meta` (from `symlink_metadata`) describes a whiteout.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Marks directory `dir` opaque: `trusted.overlay.opaque=y`, or
/// `user.overlay.opaque=y` for overlays mounted with `userxattr`.
pub fn set_opaque(dir: &Path, userxattr: bool) -> Result<()> {
    let name = if userxattr {
        OPAQUE_XATTR_USER
    } else {
        OPAQUE_XATTR_TRUSTED
    };
    xattr::set(dir, OsStr::new(name), b"y").map_err(|e| Error::io("marking opaque", dir, e))
}

/// Whether directory `dir` carries an opaque marker (trusted or user namespace).
pub fn is_opaque(dir: &Path) -> Result<bool> {
    for name in [OPAQUE_XATTR_TRUSTED, OPAQUE_XATTR_USER] {
        match xattr::get(dir, OsStr::new(name)) {
            Ok(Some(value)) if value == b"y" => return Ok(true),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EPERM) | Some(libc::EACCES)
                ) => {}
            Err(e) => return Err(Error::io("reading opaque xattr of", dir, e)),
        }
    }
    Ok(false)
}
