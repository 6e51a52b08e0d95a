//! Idmapped lower layers: a container whose user namespace maps ids
//! differently from the image's stored ownership sees the layers through
//! idmapped mounts (open_tree + mount_setattr MOUNT_ATTR_IDMAP) instead of
//! a chowned copy. [`crate::OverlayOptions::idmap_userns`] makes
//! [`crate::OverlayMount`] pass every lower layer that way.
//!
//! The kernel allows it only with CAP_SYS_ADMIN in the user namespace that
//! owns the layer's filesystem: real root for ext4/xfs layer dirs, never
//! rootless (docs/rootless-design.md 3.4). [`probe_idmapped_lower`] asks
//! the kernel once for a layer dir; the callers fall back to
//! [`crate::mapped_copy`] when it refuses.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;

use crate::sys::{RealSyscalls, Syscalls};

/// Whether `dir` can be idmapped through the user namespace file `userns`
/// (`/proc/PID/ns/user`): `Ok(())`, or the kernel's refusal (EPERM, EINVAL,
/// ENOSYS...). Nothing stays mounted.
pub fn probe_idmapped_lower(dir: &Path, userns: &Path) -> Result<(), Errno> {
    probe_idmapped_lower_with(&RealSyscalls, dir, userns)
}

/// [`probe_idmapped_lower`] with a given syscall implementation.
pub fn probe_idmapped_lower_with(
    sys: &dyn Syscalls,
    dir: &Path,
    userns: &Path,
) -> Result<(), Errno> {
    let ns =
        File::open(userns).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    // The detached clone goes away with its fd.
    sys.open_tree_idmapped(dir, ns.as_fd()).map(drop)
}

/// Whether an idmapping refusal means "not supported here" (fall back to a
/// copy) rather than a broken request.
pub fn is_unsupported(e: Errno) -> bool {
    matches!(
        e,
        Errno::EPERM | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EACCES
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::{Call, FakeSys};
    use crate::{OverlayMount, OverlayOptions};

    #[test]
    fn probe_reports_the_kernels_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ns = dir.path().join("ns");
        std::fs::write(&ns, b"").expect("ns stand-in");
        let ok = FakeSys::default();
        assert_eq!(probe_idmapped_lower_with(&ok, dir.path(), &ns), Ok(()));
        let refused = FakeSys {
            idmap_errno: Some(Errno::EPERM),
            ..Default::default()
        };
        let e = probe_idmapped_lower_with(&refused, dir.path(), &ns).expect_err("EPERM");
        assert!(is_unsupported(e));
        assert_eq!(
            probe_idmapped_lower_with(&ok, dir.path(), &dir.path().join("absent")),
            Err(Errno::ENOENT)
        );
    }

    #[test]
    fn overlay_passes_idmapped_lowers_as_fds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ns = dir.path().join("ns");
        std::fs::write(&ns, b"").expect("ns stand-in");
        let lower: Vec<_> = ["l1", "l2"]
            .iter()
            .map(|n| {
                let p = dir.path().join(n);
                std::fs::create_dir_all(&p).expect("mkdir");
                p
            })
            .collect();
        let m = OverlayMount::new(lower.clone(), dir.path().join("m"))
            .with_upper(dir.path().join("u"), dir.path().join("w"))
            .with_options(OverlayOptions {
                idmap_userns: Some(ns.clone()),
                ..Default::default()
            });
        let fake = FakeSys::default();
        m.mount_with(&fake).expect("mount");
        let idmapped: Vec<_> = fake
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::OpenTreeIdmapped { path } => Some(path),
                _ => None,
            })
            .collect();
        assert_eq!(idmapped, lower);

        // Without an upper dir it is refused before anything happens.
        let ro = OverlayMount::new(lower, dir.path().join("m2")).with_options(OverlayOptions {
            idmap_userns: Some(ns),
            ..Default::default()
        });
        let fake = FakeSys::default();
        assert!(ro.mount_with(&fake).is_err());
        assert!(fake.calls().is_empty());
    }
}
