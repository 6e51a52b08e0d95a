//! The vfs driver: copies preserving metadata, and flattening of layer stacks
//! checked against a real overlay of the same layers (root only).

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use common::{read, snapshot, write, Scratch};
use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};
use podman_rs_rootfs::whiteout::{create_whiteout, is_whiteout, set_opaque};
use podman_rs_rootfs::{copy_tree, flatten_layers, xattr, OverlayMount};

fn chown(path: &Path, uid: u32, gid: u32) {
    fchownat(
        None,
        path,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .expect("chown");
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn copy_tree_preserves_metadata() {
    require_root!();
    let s = Scratch::new();
    let src = s.mkdir("src");
    let dst = s.path().join("dst");

    write(&src.join("bin/suid"), "binary");
    chown(&src.join("bin/suid"), 1234, 5678);
    chmod(&src.join("bin/suid"), 0o4755);
    fs::create_dir(src.join("private")).expect("mkdir");
    chown(&src.join("private"), 42, 43);
    chmod(&src.join("private"), 0o711);
    std::os::unix::fs::symlink("../nowhere", src.join("dangling")).expect("symlink");
    chown(&src.join("dangling"), 7, 8);
    write(&src.join("hard1"), "shared inode");
    fs::hard_link(src.join("hard1"), src.join("private/hard2")).expect("link");
    mknod(
        &src.join("fifo"),
        SFlag::S_IFIFO,
        Mode::from_bits_truncate(0o640),
        0,
    )
    .expect("fifo");
    mknod(
        &src.join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        makedev(1, 3),
    )
    .expect("chr");
    create_whiteout(&src.join("wh")).expect("whiteout");
    xattr::set(&src.join("hard1"), OsStr::new("user.note"), b"hello").expect("user xattr");
    xattr::set(&src.join("private"), OsStr::new("trusted.marker"), b"t").expect("trusted xattr");
    let old = TimeSpec::new(1_000_000_000, 0);
    utimensat(
        None,
        &src.join("bin/suid"),
        &old,
        &old,
        UtimensatFlags::NoFollowSymlink,
    )
    .expect("utimensat");

    let stats = copy_tree(&src, &dst).expect("copy");
    assert_eq!(stats.files, 2);
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(stats.symlinks, 1);
    assert_eq!(stats.specials, 3);

    assert_eq!(snapshot(&src), snapshot(&dst));
    let suid = fs::metadata(dst.join("bin/suid")).expect("stat");
    assert_eq!(suid.mode() & 0o7777, 0o4755);
    assert_eq!((suid.uid(), suid.gid()), (1234, 5678));
    assert_eq!(suid.mtime(), 1_000_000_000);
    let link = fs::symlink_metadata(dst.join("dangling")).expect("lstat");
    assert_eq!((link.uid(), link.gid()), (7, 8));
    assert_eq!(
        fs::read_link(dst.join("dangling")).expect("readlink"),
        Path::new("../nowhere")
    );
    let h1 = fs::metadata(dst.join("hard1")).expect("stat");
    let h2 = fs::metadata(dst.join("private/hard2")).expect("stat");
    assert_eq!(h1.ino(), h2.ino());
    assert!(fs::symlink_metadata(dst.join("fifo"))
        .expect("lstat")
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::symlink_metadata(dst.join("null"))
            .expect("lstat")
            .rdev(),
        makedev(1, 3)
    );
    // copy_tree keeps whiteouts as they are.
    assert!(is_whiteout(
        &fs::symlink_metadata(dst.join("wh")).expect("lstat")
    ));
    assert_eq!(
        xattr::get(&dst.join("hard1"), OsStr::new("user.note")).expect("getxattr"),
        Some(b"hello".to_vec())
    );
    assert_eq!(
        xattr::get(&dst.join("private"), OsStr::new("trusted.marker")).expect("getxattr"),
        Some(b"t".to_vec())
    );
    // The source is intact.
    assert_eq!(read(&src.join("hard1")), "shared inode");
}

#[test]
fn copy_tree_refuses_target_inside_source() {
    let s = Scratch::new();
    let src = s.mkdir("src");
    assert!(copy_tree(&src, &src.join("inner")).is_err());
}

#[test]
fn flatten_matches_overlay_view() {
    require_root!();
    let s = Scratch::new();
    let top = s.mkdir("top");
    let mid = s.mkdir("mid");
    let bottom = s.mkdir("bottom");
    write(&bottom.join("etc/os-release"), "bottom");
    write(&bottom.join("etc/removed"), "x");
    write(&bottom.join("opaque/old1"), "1");
    write(&bottom.join("opaque/sub/old2"), "2");
    write(&bottom.join("becomes-dir"), "file");
    write(&bottom.join("keep/k"), "k");
    write(&mid.join("etc/os-release"), "mid");
    create_whiteout(&mid.join("etc/removed")).expect("whiteout");
    write(&mid.join("opaque/new"), "n");
    set_opaque(&mid.join("opaque"), false).expect("opaque");
    write(&mid.join("becomes-dir/inside"), "i");
    write(&top.join("etc/os-release"), "top");
    write(&top.join("keep/t"), "t");
    chmod(&top.join("keep"), 0o700);

    let layers = vec![top, mid, bottom];
    let flat = s.path().join("flat");
    let stats = flatten_layers(&layers, &flat).expect("flatten");
    assert_eq!(stats.whiteouts, 1);
    assert_eq!(stats.opaque_dirs, 1);
    assert_eq!(read(&flat.join("etc/os-release")), "top");
    assert!(!flat.join("etc/removed").exists());
    let mut opaque: Vec<_> = fs::read_dir(flat.join("opaque"))
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    opaque.sort();
    assert_eq!(opaque, vec!["new"]);
    assert_eq!(
        xattr::get(&flat.join("opaque"), OsStr::new("trusted.overlay.opaque")).expect("get"),
        None
    );

    // The same layers through overlayfs give the same tree.
    let merged = s.path().join("merged");
    let m = OverlayMount::new(layers, &merged);
    m.mount().expect("mount");
    let via_overlay = snapshot(&merged);
    m.unmount().expect("unmount");
    assert_eq!(snapshot(&flat), via_overlay);
}
