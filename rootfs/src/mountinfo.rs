//! /proc/self/mountinfo parsing, mount-point checks and unmounting.
//!
//! Line format (proc(5)):
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
//! mount id, parent id, major:minor, root, mount point, mount options, zero or
//! more optional fields, a `-` separator, fs type, source, super options.
//! Paths escape space, tab, newline and backslash as `\ooo` octal.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MntFlags;

use crate::error::{Error, Result};
use crate::sys::{RealSyscalls, Syscalls};

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfoEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem that is mounted (bind mounts: not `/`).
    pub root: PathBuf,
    /// Where it is mounted, relative to the process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub mount_options: String,
    /// Optional fields such as `shared:1`, `master:2`.
    pub optional_fields: Vec<String>,
    pub fs_type: String,
    /// The source (device, or e.g. `overlay`), unescaped.
    pub source: String,
    /// Superblock options as the kernel printed them (still escaped).
    pub super_options: String,
}

impl MountInfoEntry {
    /// Whether the superblock options contain `option` (`userxattr`, `metacopy=on`...).
    pub fn has_super_option(&self, option: &str) -> bool {
        self.super_options.split(',').any(|o| o == option)
    }
}

/// Decodes the `\ooo` octal escapes of a mountinfo field.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while let Some(&b) = field.get(i) {
        if b == b'\\' {
            if let Some(digits) = field.get(i + 1..i + 4) {
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
        out.push(b);
        i += 1;
    }
    out
}

fn path_field(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field)))
}

fn text_field(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

fn parse_line(line: &[u8], line_no: usize) -> Result<MountInfoEntry> {
    let err = |reason: String| Error::MountInfo {
        line: line_no,
        reason,
    };
    let fields: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
    let number = |idx: usize, what: &str| -> Result<u32> {
        let raw = fields
            .get(idx)
            .ok_or_else(|| err(format!("missing {what}")))?;
        std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(format!("bad {what} {:?}", text_field(raw))))
    };
    let mount_id = number(0, "mount id")?;
    let parent_id = number(1, "parent id")?;
    let dev = fields
        .get(2)
        .map(|f| text_field(f))
        .ok_or_else(|| err("missing major:minor".into()))?;
    let (major, minor) = dev
        .split_once(':')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| err(format!("bad major:minor {dev:?}")))?;
    let root = fields.get(3).ok_or_else(|| err("missing root".into()))?;
    let mount_point = fields
        .get(4)
        .ok_or_else(|| err("missing mount point".into()))?;
    let mount_options = fields
        .get(5)
        .ok_or_else(|| err("missing mount options".into()))?;
    let rest = fields.get(6..).unwrap_or(&[]);
    let sep = rest
        .iter()
        .position(|f| *f == b"-")
        .ok_or_else(|| err("no '-' separator".into()))?;
    let optional_fields = rest
        .get(..sep)
        .unwrap_or(&[])
        .iter()
        .filter(|f| !f.is_empty())
        .map(|f| text_field(f))
        .collect();
    let after = rest.get(sep + 1..).unwrap_or(&[]);
    let fs_type = after.first().ok_or_else(|| err("missing fs type".into()))?;
    let source = after.get(1).ok_or_else(|| err("missing source".into()))?;
    let super_options = after.get(2).copied().unwrap_or(b"");
    Ok(MountInfoEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root: path_field(root),
        mount_point: path_field(mount_point),
        mount_options: text_field(mount_options),
        optional_fields,
        fs_type: text_field(fs_type),
        source: text_field(&unescape(source)),
        super_options: text_field(super_options),
    })
}

/// Parses the text of a mountinfo file. Empty lines are skipped; any other
/// malformed line is an error naming its (1-based) line number.
pub fn parse_mountinfo(text: &[u8]) -> Result<Vec<MountInfoEntry>> {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.is_empty())
        .map(|(i, line)| parse_line(line, i + 1))
        .collect()
}

fn read_with(sys: &dyn Syscalls) -> Result<Vec<MountInfoEntry>> {
    let text = sys
        .mountinfo()
        .map_err(|e| Error::io("reading", "/proc/self/mountinfo", e))?;
    parse_mountinfo(&text)
}

/// Reads and parses /proc/self/mountinfo.
pub fn read_mountinfo() -> Result<Vec<MountInfoEntry>> {
    read_with(&RealSyscalls)
}

/// The absolute, symlink-free form of `path` when it exists, else `path` as given.
fn normalize(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Whether something is mounted exactly at `path`.
pub fn is_mounted(path: &Path) -> Result<bool> {
    is_mounted_with(&RealSyscalls, path)
}

/// [`is_mounted`] with a given syscall implementation.
pub fn is_mounted_with(sys: &dyn Syscalls, path: &Path) -> Result<bool> {
    let path = normalize(path);
    Ok(read_with(sys)?.iter().any(|m| m.mount_point == path))
}

/// The mounts at `path` or below it, in mountinfo order (parents before children).
pub fn mounts_under(path: &Path) -> Result<Vec<MountInfoEntry>> {
    mounts_under_with(&RealSyscalls, path)
}

/// [`mounts_under`] with a given syscall implementation.
pub fn mounts_under_with(sys: &dyn Syscalls, path: &Path) -> Result<Vec<MountInfoEntry>> {
    let path = normalize(path);
    Ok(read_with(sys)?
        .into_iter()
        .filter(|m| m.mount_point.starts_with(&path))
        .collect())
}

/// How [`unmount`] got rid of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmounted {
    /// A plain umount2(2) succeeded.
    Clean,
    /// The mount was busy and was lazily detached (MNT_DETACH): it disappears
    /// from the tree now and is freed when its last user goes.
    Detached,
}

/// Unmounts `target`; if it is busy (EBUSY), detaches it lazily instead.
/// Returns [`Error::NotMounted`] if nothing is mounted there.
pub fn unmount(target: &Path) -> Result<Unmounted> {
    unmount_with(&RealSyscalls, target)
}

/// [`unmount`] with a given syscall implementation.
pub fn unmount_with(sys: &dyn Syscalls, target: &Path) -> Result<Unmounted> {
    let map = |source: Errno| match source {
        Errno::EINVAL => Error::NotMounted {
            target: target.to_path_buf(),
        },
        source => Error::Unmount {
            target: target.to_path_buf(),
            source,
        },
    };
    match sys.umount(target, MntFlags::empty()) {
        Ok(()) => Ok(Unmounted::Clean),
        Err(Errno::EBUSY) => {
            tracing::warn!(target = %target.display(), "mount busy, detaching lazily");
            sys.umount(target, MntFlags::MNT_DETACH).map_err(map)?;
            Ok(Unmounted::Detached)
        }
        Err(e) => Err(map(e)),
    }
}

/// Unmounts everything mounted at or below `root`, deepest first (lazily
/// detaching busy mounts). Returns the mount points unmounted, in order.
pub fn unmount_all_under(root: &Path) -> Result<Vec<PathBuf>> {
    unmount_all_under_with(&RealSyscalls, root)
}

/// [`unmount_all_under`] with a given syscall implementation.
pub fn unmount_all_under_with(sys: &dyn Syscalls, root: &Path) -> Result<Vec<PathBuf>> {
    const MAX_PASSES: usize = 16;
    let mut done = Vec::new();
    let mut first_error: Option<Error> = None;
    let mut previous = usize::MAX;
    for _ in 0..MAX_PASSES {
        let mut mounts = mounts_under_with(sys, root)?;
        if mounts.is_empty() {
            return Ok(done);
        }
        if mounts.len() >= previous {
            // No progress since the last pass: give up.
            break;
        }
        previous = mounts.len();
        // Deepest mount points first; for the same point, the newest (on top) first.
        mounts.sort_by(|a, b| {
            let depth = |m: &MountInfoEntry| m.mount_point.components().count();
            depth(b)
                .cmp(&depth(a))
                .then_with(|| b.mount_id.cmp(&a.mount_id))
        });
        for m in &mounts {
            match unmount_with(sys, &m.mount_point) {
                Ok(_) => done.push(m.mount_point.clone()),
                // Already gone, e.g. detached together with a parent.
                Err(Error::NotMounted { .. }) => {}
                Err(e) => {
                    tracing::warn!(mount_point = %m.mount_point.display(), error = %e, "unmount failed");
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    let remaining: Vec<PathBuf> = mounts_under_with(sys, root)?
        .into_iter()
        .map(|m| m.mount_point)
        .collect();
    if remaining.is_empty() {
        return Ok(done);
    }
    Err(Error::StillMounted {
        root: root.to_path_buf(),
        remaining,
        first_error: first_error.map(Box::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
28 27 0:25 / /mnt/with\\040space ro,nosuid,nodev,relatime shared:7 master:3 - tmpfs my\\040tmpfs ro,size=4k,mode=755
90 27 0:60 / /var/lib/c/merged rw,relatime - overlay overlay rw,lowerdir=/l1:/l2,upperdir=/u,workdir=/w,userxattr
91 90 0:61 /sub /var/lib/c/merged/proc rw - proc proc rw
95 27 254:0 /data/x /var/lib/c2 rw - ext4 /dev/vda rw

";

    #[test]
    fn parses_fixture() {
        let entries = parse_mountinfo(FIXTURE.as_bytes()).expect("parse");
        assert_eq!(entries.len(), 6);

        let first = &entries[0];
        assert_eq!(first.mount_id, 22);
        assert_eq!(first.parent_id, 27);
        assert_eq!((first.major, first.minor), (0, 21));
        assert_eq!(first.mount_point, Path::new("/proc"));
        assert!(first.optional_fields.is_empty());
        assert_eq!(first.fs_type, "proc");

        let spaced = &entries[2];
        assert_eq!(spaced.mount_point, Path::new("/mnt/with space"));
        assert_eq!(spaced.optional_fields, vec!["shared:7", "master:3"]);
        assert_eq!(spaced.source, "my tmpfs");
        assert_eq!(spaced.mount_options, "ro,nosuid,nodev,relatime");
        assert_eq!(spaced.super_options, "ro,size=4k,mode=755");

        let ovl = &entries[3];
        assert_eq!(ovl.fs_type, "overlay");
        assert!(ovl.has_super_option("userxattr"));
        assert!(ovl.has_super_option("upperdir=/u"));
        assert!(!ovl.has_super_option("metacopy=on"));

        assert_eq!(entries[4].root, Path::new("/sub"));
        assert_eq!(entries[5].root, Path::new("/data/x"));
    }

    #[test]
    fn unescape_handles_edge_cases() {
        assert_eq!(unescape(b"a\\134b"), b"a\\b");
        assert_eq!(unescape(b"tab\\011nl\\012"), b"tab\tnl\n");
        // Not an escape: kept literally.
        assert_eq!(unescape(b"x\\9yz"), b"x\\9yz");
        assert_eq!(unescape(b"end\\"), b"end\\");
        assert_eq!(unescape(b"end\\04"), b"end\\04");
        // Out of byte range: kept literally.
        assert_eq!(unescape(b"\\777"), b"\\777");
    }

    #[test]
    fn malformed_lines_name_their_number() {
        for (text, want) in [
            ("22 27 0:21 / /proc rw proc proc rw\n", "separator"),
            ("x 27 0:21 / /proc rw - proc proc rw\n", "mount id"),
            ("22 27 021 / /proc rw - proc proc rw\n", "major:minor"),
            ("22 27 0:21 / /proc rw -\n", "fs type"),
            ("22 27 0:21 / /proc rw - proc\n", "source"),
            ("22 27\n", "major:minor"),
        ] {
            let text = format!("27 1 254:0 / / rw - ext4 /dev/vda rw\n{text}");
            match parse_mountinfo(text.as_bytes()) {
                Err(Error::MountInfo { line, reason }) => {
                    assert_eq!(line, 2, "{text}");
                    assert!(reason.contains(want), "{reason} for {text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_super_options_are_empty() {
        let entries = parse_mountinfo(b"1 0 0:1 / / rw - rootfs rootfs").expect("parse");
        assert_eq!(entries[0].super_options, "");
    }

    mod fake_table {
        use super::*;
        use crate::sys::fake::{Call, FakeSys};

        fn table(points: &[(u32, &str)]) -> FakeSys {
            let fake = FakeSys::default();
            *fake.mounts.borrow_mut() = points
                .iter()
                .map(|(id, p)| (*id, PathBuf::from(p)))
                .collect();
            fake
        }

        #[test]
        fn unmounts_deepest_and_newest_first() {
            let fake = FakeSys {
                busy: vec![PathBuf::from("/fake/r/a/b")],
                ..table(&[
                    (10, "/fake/r"),
                    (11, "/fake/r/a"),
                    (12, "/fake/r/a/b"),
                    (13, "/fake/r/a"),
                    (14, "/fake/other"),
                    (15, "/fake/rx"),
                ])
            };
            let done = unmount_all_under_with(&fake, Path::new("/fake/r")).expect("unmount");
            assert_eq!(
                done,
                ["/fake/r/a/b", "/fake/r/a", "/fake/r/a", "/fake/r"]
                    .iter()
                    .map(PathBuf::from)
                    .collect::<Vec<_>>()
            );
            let left: Vec<u32> = fake.mounts.borrow().iter().map(|(id, _)| *id).collect();
            assert_eq!(left, vec![14, 15]);
            // The busy one was detached lazily.
            assert!(fake.calls().contains(&Call::Umount {
                target: "/fake/r/a/b".into(),
                flags: MntFlags::MNT_DETACH
            }));
            assert!(!is_mounted_with(&fake, Path::new("/fake/r")).expect("mountinfo"));
            assert!(is_mounted_with(&fake, Path::new("/fake/rx")).expect("mountinfo"));
        }

        #[test]
        fn nothing_to_unmount_is_fine() {
            let fake = table(&[(14, "/fake/other")]);
            assert!(unmount_all_under_with(&fake, Path::new("/fake/r"))
                .expect("unmount")
                .is_empty());
            assert!(fake.calls().is_empty());
        }

        #[test]
        fn reports_what_stays_mounted() {
            let fake = FakeSys {
                umount_errno: Some(Errno::EPERM),
                ..table(&[(10, "/fake/r"), (11, "/fake/r/with space")])
            };
            match unmount_all_under_with(&fake, Path::new("/fake/r")) {
                Err(Error::StillMounted {
                    root,
                    remaining,
                    first_error,
                }) => {
                    assert_eq!(root, Path::new("/fake/r"));
                    assert_eq!(
                        remaining,
                        vec![
                            PathBuf::from("/fake/r"),
                            PathBuf::from("/fake/r/with space")
                        ]
                    );
                    assert!(matches!(
                        first_error.as_deref(),
                        Some(Error::Unmount {
                            source: Errno::EPERM,
                            ..
                        })
                    ));
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
