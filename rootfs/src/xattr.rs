//! Extended attributes of a path, not following symlinks (l*xattr), through
//! rustix's safe wrappers (nix 0.29 has no xattr API).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::XattrFlags;
use rustix::io::Errno;

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Returns the names of the extended attributes of `path`.
pub fn list(path: &Path) -> io::Result<Vec<OsString>> {
    loop {
        let size = rustix::fs::llistxattr_query(path).map_err(io_err)?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|name| !name.is_empty())
                    .map(|name| OsStr::from_bytes(name).to_os_string())
                    .collect());
            }
            // The list grew between the two calls: ask again.
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(io_err(e)),
        }
    }
}

/// Returns the value of attribute `name` of `path`, or `None` if it has none.
pub fn get(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    loop {
        let size = match rustix::fs::lgetxattr_query(path, name) {
            Ok(s) => s,
            Err(Errno::NODATA) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut buf = vec![0u8; size];
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(Errno::RANGE) => continue,
            Err(Errno::NODATA) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        }
    }
}

/// Sets attribute `name` of `path` to `value` (creating or replacing it).
pub fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    rustix::fs::lsetxattr(path, name, value, XattrFlags::empty()).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_xattr_roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").expect("write");
        match set(&file, OsStr::new("user.podman_rs_test"), b"value") {
            Ok(()) => {}
            // Filesystems without user xattrs: nothing to test here.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            Err(e) => panic!("setxattr: {e}"),
        }
        let names = list(&file).expect("list");
        assert!(
            names.iter().any(|n| n == "user.podman_rs_test"),
            "{names:?}"
        );
        assert_eq!(
            get(&file, OsStr::new("user.podman_rs_test")).expect("get"),
            Some(b"value".to_vec())
        );
        assert_eq!(get(&file, OsStr::new("user.absent")).expect("get"), None);
    }
}
