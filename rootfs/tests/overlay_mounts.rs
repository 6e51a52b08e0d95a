//! Real overlay mounts in a temporary directory (root only).

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{read, snapshot, write, Scratch};
use podman_rs_rootfs::whiteout::{create_whiteout, is_whiteout, set_opaque};
use podman_rs_rootfs::{
    exploded_rootfs_overlay, is_mounted, mounts_under, unmount_all_under, xattr, Error, LayerRole,
    MountApi, MountMethod, OverlayMount, OverlayOptions, Unmounted,
};

fn options(api: MountApi) -> OverlayOptions {
    OverlayOptions {
        api,
        ..Default::default()
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn overlay_entry(target: &Path) -> podman_rs_rootfs::MountInfoEntry {
    let target = fs::canonicalize(target).expect("canonicalize");
    mounts_under(&target)
        .expect("mountinfo")
        .into_iter()
        .rfind(|m| m.mount_point == target)
        .expect("mount entry")
}

/// Two lowers + upper: shadowing, copy-up, whiteouts and opaque dirs.
fn two_lowers_and_upper(api: MountApi) {
    let s = Scratch::new();
    let top = s.mkdir("top");
    let bottom = s.mkdir("bottom");
    fs::set_permissions(&top, fs::Permissions::from_mode(0o751)).expect("chmod");
    write(&bottom.join("shared.txt"), "bottom");
    write(&top.join("shared.txt"), "top");
    write(&bottom.join("only-bottom.txt"), "b");
    write(&bottom.join("hidden.txt"), "should be hidden");
    create_whiteout(&top.join("hidden.txt")).expect("whiteout");
    write(&bottom.join("dir/a"), "a");
    write(&bottom.join("dir/b"), "b");
    write(&top.join("dir/c"), "c");
    set_opaque(&top.join("dir"), false).expect("opaque");
    write(&bottom.join("plain/x"), "x");
    write(&top.join("plain/y"), "y");

    let merged = s.path().join("merged");
    let upper = s.path().join("upper");
    let work = s.path().join("work");
    let m = OverlayMount::new(vec![top.clone(), bottom.clone()], &merged)
        .with_upper(&upper, &work)
        .with_options(options(api));
    let method = m.mount().unwrap_or_else(|e| panic!("{api:?}: {e}"));
    match api {
        MountApi::Legacy => assert_eq!(method, MountMethod::Legacy),
        MountApi::NewApiPaths => assert_eq!(method, MountMethod::NewApiPaths),
        MountApi::NewApiFds => assert_eq!(method, MountMethod::NewApiFds),
        MountApi::Auto => assert_ne!(method, MountMethod::Bind),
    }
    assert!(is_mounted(&merged).expect("mountinfo"));
    assert_eq!(overlay_entry(&merged).fs_type, "overlay");

    // The top layer wins; whiteout and opaque dir hide the bottom's entries.
    assert_eq!(read(&merged.join("shared.txt")), "top");
    assert_eq!(read(&merged.join("only-bottom.txt")), "b");
    assert!(!merged.join("hidden.txt").exists());
    assert_eq!(names(&merged.join("dir")), vec!["c"]);
    assert_eq!(names(&merged.join("plain")), vec!["x", "y"]);
    // A new upper dir takes the top layer's mode, so the merged root has it.
    assert_eq!(fs::metadata(&merged).expect("stat").mode() & 0o7777, 0o751);

    // Writes land in upper, never in a lower.
    write(&merged.join("new.txt"), "new");
    assert_eq!(read(&upper.join("new.txt")), "new");
    assert!(!top.join("new.txt").exists() && !bottom.join("new.txt").exists());

    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(merged.join("only-bottom.txt"))
        .expect("open");
    f.write_all(b"+").expect("append");
    drop(f);
    assert_eq!(read(&merged.join("only-bottom.txt")), "b+");
    assert_eq!(read(&upper.join("only-bottom.txt")), "b+");
    assert_eq!(read(&bottom.join("only-bottom.txt")), "b");

    fs::remove_file(merged.join("shared.txt")).expect("rm");
    assert!(!merged.join("shared.txt").exists());
    let wh = fs::symlink_metadata(upper.join("shared.txt")).expect("whiteout in upper");
    assert!(is_whiteout(&wh));
    assert_eq!(read(&top.join("shared.txt")), "top");
    assert_eq!(read(&bottom.join("shared.txt")), "bottom");

    assert_eq!(m.unmount().expect("unmount"), Unmounted::Clean);
    assert!(!is_mounted(&merged).expect("mountinfo"));
    assert!(mounts_under(s.path()).expect("mountinfo").is_empty());
}

#[test]
fn two_lowers_and_upper_auto() {
    require_root!();
    two_lowers_and_upper(MountApi::Auto);
}

#[test]
fn two_lowers_and_upper_legacy() {
    require_root!();
    two_lowers_and_upper(MountApi::Legacy);
}

#[test]
fn two_lowers_and_upper_new_api_paths() {
    require_root!();
    two_lowers_and_upper(MountApi::NewApiPaths);
}

#[test]
fn two_lowers_and_upper_new_api_fds() {
    require_root!();
    two_lowers_and_upper(MountApi::NewApiFds);
}

#[test]
fn read_only_overlay_of_two_lowers() {
    require_root!();
    let s = Scratch::new();
    let top = s.mkdir("top");
    let bottom = s.mkdir("bottom");
    write(&top.join("t"), "t");
    write(&bottom.join("b"), "b");
    let merged = s.path().join("merged");
    let m = OverlayMount::new(vec![top, bottom], &merged);
    assert_ne!(m.mount().expect("mount"), MountMethod::Bind);
    assert_eq!(names(&merged), vec!["b", "t"]);
    let err = fs::write(merged.join("new"), "x").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    m.unmount().expect("unmount");
    assert!(!is_mounted(&merged).expect("mountinfo"));
}

#[test]
fn single_lower_is_a_read_only_bind() {
    require_root!();
    let s = Scratch::new();
    let only = s.mkdir("only");
    write(&only.join("f"), "f");
    let merged = s.path().join("merged");
    let m = OverlayMount::new(vec![only.clone()], &merged);
    assert_eq!(m.mount().expect("mount"), MountMethod::Bind);
    assert_eq!(read(&merged.join("f")), "f");
    let err = fs::write(merged.join("f"), "changed").expect_err("read-only");
    assert_eq!(err.raw_os_error(), Some(libc::EROFS));
    assert!(overlay_entry(&merged)
        .mount_options
        .split(',')
        .any(|o| o == "ro"));
    assert_eq!(read(&only.join("f")), "f");
    m.unmount().expect("unmount");
    assert!(!is_mounted(&merged).expect("mountinfo"));
}

/// 200 layers whose paths are each longer than fsconfig's 255-byte string
/// limit and together far over the 4096-byte mount(2) data limit.
fn many_long_layers(s: &Scratch) -> Vec<PathBuf> {
    let base = s.path().join("p".repeat(200)).join("q".repeat(100));
    (0..200)
        .map(|i| {
            let layer = base.join(format!("layer-{i:03}"));
            write(&layer.join(format!("f{i:03}")), &i.to_string());
            write(&layer.join("common"), &i.to_string());
            assert!(layer.as_os_str().len() > 300);
            layer
        })
        .collect()
}

fn mount_many(api: MountApi, writable: bool) {
    let s = Scratch::new();
    let lower = many_long_layers(&s);
    let merged = s.path().join("merged");
    let mut m = OverlayMount::new(lower, &merged).with_options(options(api));
    if writable {
        m = m.with_upper(s.path().join("upper"), s.path().join("work"));
    }
    assert!(m.legacy_options().len() > 4096 * 10);
    m.mount().unwrap_or_else(|e| panic!("{api:?}: {e}"));
    let entries = names(&merged);
    assert_eq!(entries.len(), 201, "200 files + common");
    assert!(entries.contains(&"f000".to_string()) && entries.contains(&"f199".to_string()));
    assert_eq!(read(&merged.join("common")), "0", "top-most layer wins");
    if writable {
        write(&merged.join("f150"), "changed");
        assert_eq!(read(&s.path().join("upper/f150")), "changed");
    }
    m.unmount().expect("unmount");
    assert!(mounts_under(s.path()).expect("mountinfo").is_empty());
}

#[test]
fn two_hundred_long_lowerdirs_auto() {
    require_root!();
    mount_many(MountApi::Auto, false);
}

#[test]
fn two_hundred_long_lowerdirs_writable_fds() {
    require_root!();
    mount_many(MountApi::NewApiFds, true);
}

#[test]
fn two_hundred_long_lowerdirs_paths() {
    require_root!();
    mount_many(MountApi::NewApiPaths, true);
}

#[test]
fn two_hundred_long_lowerdirs_legacy_is_refused() {
    require_root!();
    let s = Scratch::new();
    let lower = many_long_layers(&s);
    let merged = s.path().join("merged");
    let m = OverlayMount::new(lower, &merged).with_options(options(MountApi::Legacy));
    match m.mount() {
        Err(Error::OptionsTooLong { len, limit, .. }) => assert!(len > limit),
        other => panic!("{other:?}"),
    }
    assert!(!is_mounted(&merged).expect("mountinfo"));
}

#[test]
fn missing_layer_is_named() {
    require_root!();
    for api in [MountApi::Auto, MountApi::Legacy, MountApi::NewApiPaths] {
        let s = Scratch::new();
        let a = s.mkdir("a");
        let b = s.mkdir("b");
        let missing = s.path().join("missing");
        let merged = s.path().join("merged");
        let m = OverlayMount::new(vec![a, missing.clone(), b], &merged).with_options(options(api));
        let err = m.mount().expect_err("must fail");
        match &err {
            Error::Layer {
                target,
                layer,
                role,
                source,
                ..
            } => {
                assert_eq!(target, &merged);
                assert_eq!(layer, &missing);
                assert_eq!(*role, LayerRole::Lower(1));
                assert_eq!(*source, nix::errno::Errno::ENOENT);
            }
            other => panic!("{api:?}: {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains(&merged.display().to_string())
                && text.contains(&missing.display().to_string()),
            "{text}"
        );
        assert!(!is_mounted(&merged).expect("mountinfo"));
    }
}

#[test]
fn kernel_rejections_are_reported_with_target() {
    require_root!();
    let s = Scratch::new();
    let a = s.mkdir("a");
    let b = s.mkdir("b");
    let merged = s.path().join("merged");
    let bogus = OverlayOptions {
        extra: vec!["no_such_overlay_option".into()],
        ..Default::default()
    };
    // The kernel refuses both; metacopy is not allowed with userxattr.
    let conflicting = OverlayOptions {
        userxattr: true,
        metacopy: Some(true),
        ..Default::default()
    };
    // Only the new API gets overlayfs' own words for a parameter it rejects
    // (option conflicts it reports to dmesg only).
    for (opts, api, expect_log) in [
        (bogus.clone(), MountApi::Auto, true),
        (bogus, MountApi::Legacy, false),
        (conflicting.clone(), MountApi::Auto, false),
        (conflicting, MountApi::Legacy, false),
    ] {
        let m = OverlayMount::new(vec![a.clone(), b.clone()], &merged)
            .with_upper(s.path().join("u"), s.path().join("w"))
            .with_options(OverlayOptions { api, ..opts });
        let err = m.mount().expect_err("must fail");
        let text = err.to_string();
        eprintln!("{api:?}: {text}");
        match &err {
            Error::Mount {
                target, kernel_log, ..
            } => {
                assert_eq!(target, &merged);
                if expect_log {
                    assert!(
                        kernel_log
                            .0
                            .iter()
                            .any(|l| l.contains("no_such_overlay_option")),
                        "{text}"
                    );
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(text.contains(&merged.display().to_string()), "{text}");
        assert!(!is_mounted(&merged).expect("mountinfo"));
    }
}

#[test]
fn userxattr_and_metacopy_pass_through() {
    require_root!();
    let s = Scratch::new();
    let top = s.mkdir("top");
    let bottom = s.mkdir("bottom");
    write(&bottom.join("file"), "content");
    let merged = s.path().join("merged");

    let m = OverlayMount::new(vec![top.clone(), bottom.clone()], &merged)
        .with_upper(s.path().join("u1"), s.path().join("w1"))
        .with_options(OverlayOptions {
            userxattr: true,
            ..Default::default()
        });
    m.mount().expect("mount userxattr");
    assert!(overlay_entry(&merged).has_super_option("userxattr"));
    m.unmount().expect("unmount");

    let m = OverlayMount::new(vec![top, bottom.clone()], &merged)
        .with_upper(s.path().join("u2"), s.path().join("w2"))
        .with_options(OverlayOptions {
            metacopy: Some(true),
            ..Default::default()
        });
    m.mount().expect("mount metacopy");
    assert!(overlay_entry(&merged).has_super_option("metacopy=on"));
    // A chmod copies up metadata only: the upper file is marked metacopy.
    fs::set_permissions(merged.join("file"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let marker = xattr::get(
        &s.path().join("u2/file"),
        std::ffi::OsStr::new("trusted.overlay.metacopy"),
    )
    .expect("getxattr");
    assert!(marker.is_some(), "metacopy copy-up expected");
    assert_eq!(read(&merged.join("file")), "content");
    assert_eq!(
        fs::metadata(bottom.join("file")).expect("stat").mode() & 0o777,
        0o644
    );
    m.unmount().expect("unmount");
}

#[test]
fn busy_mount_is_detached_lazily() {
    require_root!();
    let s = Scratch::new();
    let a = s.mkdir("a");
    let b = s.mkdir("b");
    write(&a.join("f"), "f");
    let merged = s.path().join("merged");
    let m = OverlayMount::new(vec![a, b], &merged);
    m.mount().expect("mount");
    let open = fs::File::open(merged.join("f")).expect("open");
    assert_eq!(m.unmount().expect("unmount"), Unmounted::Detached);
    assert!(!is_mounted(&merged).expect("mountinfo"));
    drop(open);
    assert!(matches!(m.unmount(), Err(Error::NotMounted { .. })));
}

#[test]
fn unmount_all_under_cleans_nested_mounts() {
    require_root!();
    let s = Scratch::new();
    let a = s.mkdir("a");
    let b = s.mkdir("b");
    let m1 = s.path().join("m1");
    OverlayMount::new(vec![a.clone(), b.clone()], &m1)
        .with_upper(s.path().join("u"), s.path().join("w"))
        .mount()
        .expect("mount overlay");
    // A tmpfs on top of a directory of the overlay, and a second overlay.
    fs::create_dir(m1.join("tmp")).expect("mkdir in overlay");
    nix::mount::mount(
        Some("tmpfs"),
        &m1.join("tmp"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("tmpfs");
    let m2 = s.path().join("deeper/m2");
    OverlayMount::new(vec![a, b], &m2).mount().expect("mount 2");
    let busy = fs::File::open(m1.join("tmp")).expect("open");
    assert_eq!(mounts_under(s.path()).expect("mountinfo").len(), 3);

    let done = unmount_all_under(s.path()).expect("unmount all");
    assert_eq!(done.len(), 3, "{done:?}");
    // Children before their parents.
    let pos = |suffix: &str| done.iter().position(|p| p.ends_with(suffix));
    assert!(pos("m1/tmp") < pos("m1"), "{done:?}");
    assert!(mounts_under(s.path()).expect("mountinfo").is_empty());
    drop(busy);
}

#[test]
fn exploded_rootfs_with_o_leaves_source_untouched() {
    require_root!();
    let s = Scratch::new();
    let src = s.mkdir("rootfs");
    fs::set_permissions(&src, fs::Permissions::from_mode(0o755)).expect("chmod");
    write(&src.join("etc/hostname"), "original");
    write(&src.join("bin/tool"), "#!/bin/sh\n");
    write(&src.join("data/remove-me"), "x");
    std::os::unix::fs::symlink("bin/tool", src.join("link")).expect("symlink");
    let before = snapshot(&src);

    let ctr = s.path().join("containers/c1");
    let m = exploded_rootfs_overlay(&src, &ctr).expect("prepare");
    m.mount().expect("mount");
    let root = &m.target;
    assert_eq!(fs::metadata(root).expect("stat").mode() & 0o7777, 0o755);
    assert_eq!(read(&root.join("etc/hostname")), "original");

    write(&root.join("etc/hostname"), "changed");
    write(&root.join("new/file"), "new");
    fs::remove_file(root.join("data/remove-me")).expect("rm");
    fs::remove_file(root.join("link")).expect("rm link");
    fs::set_permissions(root.join("bin/tool"), fs::Permissions::from_mode(0o700)).expect("chmod");
    assert_eq!(read(&root.join("etc/hostname")), "changed");

    assert_eq!(snapshot(&src), before, "source changed while mounted");
    m.unmount().expect("unmount");
    assert_eq!(snapshot(&src), before, "source changed");
    let upper = m.upper.as_ref().expect("upper");
    assert_eq!(read(&upper.join("etc/hostname")), "changed");
    assert_eq!(read(&upper.join("new/file")), "new");
}
