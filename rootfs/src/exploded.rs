//! `--rootfs PATH` and `--rootfs PATH:O`: a container running on an existing
//! ("exploded") directory. With `:O` the directory must stay unmodified, so
//! the container gets an overlay with that directory as the only lower layer
//! and its upper/work dirs in the container's own directory.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::overlay::OverlayMount;
use crate::util::{create_dir, resolve_planned};

/// Subdirectory of the container directory that receives the writes.
pub const UPPER_DIR: &str = "upper";
/// overlayfs work dir inside the container directory.
pub const WORK_DIR: &str = "work";
/// Mount point of the merged root inside the container directory.
pub const MERGED_DIR: &str = "merged";

/// A parsed `--rootfs` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsSpec {
    /// The directory.
    pub path: PathBuf,
    /// `:O` was given: mount an overlay so that `path` is not modified.
    pub overlay: bool,
}

impl RootfsSpec {
    /// Parses `PATH` or `PATH:O`. Only a trailing `:O` is an option, so paths
    /// containing `:` elsewhere are kept whole.
    pub fn parse(spec: &str) -> Result<Self> {
        let (path, overlay) = match spec.strip_suffix(":O") {
            Some(path) => (path, true),
            None => (spec, false),
        };
        if path.is_empty() {
            return Err(Error::invalid(spec, "--rootfs needs a directory"));
        }
        Ok(RootfsSpec {
            path: PathBuf::from(path),
            overlay,
        })
    }
}

/// Prepares (does not mount) the overlay of `source` for `--rootfs source:O`:
/// lower = `source`, upper/work = `container_dir/upper`, `container_dir/work`,
/// target = `container_dir/merged`. Writes then land in `container_dir`.
/// Call [`OverlayMount::mount`] on the result, and point the OCI
/// `root.path` at its `target`.
pub fn exploded_rootfs_overlay(source: &Path, container_dir: &Path) -> Result<OverlayMount> {
    let src = std::fs::canonicalize(source).map_err(|e| Error::io("resolving", source, e))?;
    let meta = std::fs::metadata(&src).map_err(|e| Error::io("stat", &src, e))?;
    if !meta.is_dir() {
        return Err(Error::invalid(source, "rootfs is not a directory"));
    }
    // Check before creating anything, so that a bad request leaves `source` untouched.
    let planned = resolve_planned(container_dir)?;
    if planned.starts_with(&src) || src.starts_with(&planned) {
        return Err(Error::invalid(
            container_dir,
            format!(
                "container directory and rootfs {} must not contain one another",
                src.display()
            ),
        ));
    }
    create_dir(container_dir, 0o700)?;
    let dir = std::fs::canonicalize(container_dir)
        .map_err(|e| Error::io("resolving", container_dir, e))?;
    Ok(OverlayMount::new(vec![src], dir.join(MERGED_DIR))
        .with_upper(dir.join(UPPER_DIR), dir.join(WORK_DIR)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            RootfsSpec::parse("/srv/root:O").expect("parse"),
            RootfsSpec {
                path: "/srv/root".into(),
                overlay: true
            }
        );
        assert_eq!(
            RootfsSpec::parse("/srv/a:b").expect("parse"),
            RootfsSpec {
                path: "/srv/a:b".into(),
                overlay: false
            }
        );
        assert!(RootfsSpec::parse(":O").is_err());
        assert!(RootfsSpec::parse("").is_err());
    }

    #[test]
    fn lays_out_container_dir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("rootfs");
        std::fs::create_dir(&src).expect("mkdir");
        let ctr = tmp.path().join("ctr");
        let m = exploded_rootfs_overlay(&src, &ctr).expect("prepare");
        let ctr = std::fs::canonicalize(&ctr).expect("canon");
        assert_eq!(m.lower, vec![std::fs::canonicalize(&src).expect("canon")]);
        assert_eq!(m.upper, Some(ctr.join("upper")));
        assert_eq!(m.work, Some(ctr.join("work")));
        assert_eq!(m.target, ctr.join("merged"));
    }

    #[test]
    fn rejects_nested_dirs_and_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let src = tmp.path().join("rootfs");
        std::fs::create_dir(&src).expect("mkdir");
        assert!(matches!(
            exploded_rootfs_overlay(&src, &src.join("ctr/x")),
            Err(Error::Invalid { .. })
        ));
        // Nothing was created in the source.
        assert!(!src.join("ctr").exists());
        assert!(matches!(
            exploded_rootfs_overlay(&src, tmp.path()),
            Err(Error::Invalid { .. })
        ));
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").expect("write");
        assert!(matches!(
            exploded_rootfs_overlay(&file, &tmp.path().join("c")),
            Err(Error::Invalid { .. })
        ));
        assert!(matches!(
            exploded_rootfs_overlay(&tmp.path().join("absent"), &tmp.path().join("c")),
            Err(Error::Io { .. })
        ));
    }
}
