//! Extended attributes of a path, not following symlinks (l*xattr).
//! nix 0.29 has no xattr API, hence these small libc wrappers.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in name"))
}

/// Returns the names of the extended attributes of `path`.
pub fn list(path: &Path) -> io::Result<Vec<OsString>> {
    let c_path = cstr(path.as_os_str().as_bytes())?;
    loop {
        // SAFETY: c_path is NUL-terminated; a NULL buffer of size 0 only asks for the size.
        let size = unsafe { libc::llistxattr(c_path.as_ptr(), std::ptr::null_mut(), 0) };
        let size = usize::try_from(size).map_err(|_| io::Error::last_os_error())?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        // SAFETY: buf is valid for writes of buf.len() bytes, the most the kernel writes.
        let n = unsafe { libc::llistxattr(c_path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf
                    .split(|b| *b == 0)
                    .filter(|name| !name.is_empty())
                    .map(|name| OsStr::from_bytes(name).to_os_string())
                    .collect());
            }
            Err(_) => {
                let err = io::Error::last_os_error();
                // The list grew between the two calls: ask again.
                if err.raw_os_error() != Some(libc::ERANGE) {
                    return Err(err);
                }
            }
        }
    }
}

/// Returns the value of attribute `name` of `path`, or `None` if it has none.
pub fn get(path: &Path, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
    let c_path = cstr(path.as_os_str().as_bytes())?;
    let c_name = cstr(name.as_bytes())?;
    loop {
        // SAFETY: both strings are NUL-terminated; NULL/0 only asks for the size.
        let size =
            unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), std::ptr::null_mut(), 0) };
        let size = match usize::try_from(size) {
            Ok(s) => s,
            Err(_) => {
                let err = io::Error::last_os_error();
                return if err.raw_os_error() == Some(libc::ENODATA) {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let mut buf = vec![0u8; size];
        // SAFETY: buf is valid for writes of buf.len() bytes, the most the kernel writes.
        let n = unsafe {
            libc::lgetxattr(
                c_path.as_ptr(),
                c_name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        match usize::try_from(n) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(_) => {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::ERANGE) => continue,
                    Some(libc::ENODATA) => return Ok(None),
                    _ => return Err(err),
                }
            }
        }
    }
}

/// Sets attribute `name` of `path` to `value` (creating or replacing it).
pub fn set(path: &Path, name: &OsStr, value: &[u8]) -> io::Result<()> {
    let c_path = cstr(path.as_os_str().as_bytes())?;
    let c_name = cstr(name.as_bytes())?;
    // SAFETY: both strings are NUL-terminated; value is readable for value.len() bytes.
    let ret = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
