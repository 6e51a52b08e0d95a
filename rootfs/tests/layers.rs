//! Layer extraction and the layer store, on real files (most need root).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{read, Scratch};
use podman_rs_rootfs::layers::{
    chain_id, extract_layer, Compression, ExtractOptions, LayerError, LayerStore,
};
use podman_rs_rootfs::whiteout::{is_opaque, is_whiteout};
use podman_rs_rootfs::{xattr, OverlayMount};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

// ---- tar building (raw headers, so hostile names get through) ----

struct Tar {
    b: tar::Builder<Vec<u8>>,
}

struct E<'a> {
    path: &'a str,
    kind: EntryType,
    mode: u32,
    data: &'a [u8],
    link: Option<&'a str>,
    uid: u64,
    gid: u64,
    mtime: u64,
    dev: (u32, u32),
    pax: Vec<(String, Vec<u8>)>,
}

fn e(path: &str, kind: EntryType) -> E<'_> {
    E {
        path,
        kind,
        mode: if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        },
        data: b"",
        link: None,
        uid: 0,
        gid: 0,
        mtime: 1_600_000_000,
        dev: (0, 0),
        pax: Vec::new(),
    }
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = 1 + key.len() + 1 + value.len() + 1;
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}

impl Tar {
    fn new() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn add(&mut self, e: E<'_>) -> &mut Self {
        if !e.pax.is_empty() {
            let data: Vec<u8> = e.pax.iter().flat_map(|(k, v)| pax_record(k, v)).collect();
            let mut h = Header::new_ustar();
            set_name(&mut h, "PaxHeaders/x");
            h.set_entry_type(EntryType::XHeader);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            self.b.append(&h, data.as_slice()).expect("append pax");
        }
        let mut h = Header::new_ustar();
        set_name(&mut h, e.path);
        h.set_entry_type(e.kind);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(e.data.len() as u64);
        if let Some(l) = e.link {
            h.set_link_name_literal(l).expect("link name");
        }
        if matches!(e.kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).expect("major");
            h.set_device_minor(e.dev.1).expect("minor");
        }
        h.set_cksum();
        self.b.append(&h, e.data).expect("append");
        self
    }

    fn file(&mut self, path: &str, data: &'static [u8]) -> &mut Self {
        self.add(E {
            data,
            ..e(path, EntryType::Regular)
        })
    }

    fn dir(&mut self, path: &str) -> &mut Self {
        self.add(e(path, EntryType::Directory))
    }

    fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            link: Some(target),
            mode: 0o777,
            ..e(path, EntryType::Symlink)
        })
    }

    fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.add(E {
            link: Some(target),
            ..e(path, EntryType::Link)
        })
    }

    fn bytes(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()));
        b.into_inner().expect("finish tar")
    }
}

fn set_name(h: &mut Header, name: &str) {
    let field = &mut h.as_old_mut().name;
    assert!(
        name.len() < field.len(),
        "test names must fit the ustar field"
    );
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).expect("zstd")
}

fn extract(tar: &[u8], dest: &Path) -> Result<podman_rs_rootfs::LayerInfo, LayerError> {
    extract_layer(tar, Compression::None, dest, &ExtractOptions::default())
}

/// Lists everything under `dir` (relative paths), for "nothing written" checks.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for ent in rd {
            let p = ent.expect("entry").path();
            out.push(p.strip_prefix(root).expect("prefix").to_path_buf());
            if fs::symlink_metadata(&p).expect("lstat").is_dir() {
                walk(root, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

// ---- extraction ----

#[test]
fn preserves_files_dirs_links_modes_owners_times_xattrs() {
    require_root!();
    let s = Scratch::new();
    let mut t = Tar::new();
    t.dir("usr/")
        .add(E {
            mode: 0o750,
            mtime: 1_000_000,
            uid: 1234,
            gid: 5678,
            ..e("usr/bin/", EntryType::Directory)
        })
        .add(E {
            data: b"#!/bin/sh\n",
            mode: 0o4755,
            uid: 0,
            gid: 0,
            mtime: 1_234_567,
            ..e("usr/bin/su", EntryType::Regular)
        })
        .add(E {
            data: b"shared",
            mode: 0o2640,
            uid: 1000,
            gid: 100,
            ..e("usr/bin/group", EntryType::Regular)
        })
        .add(E {
            mode: 0o1777,
            ..e("tmp", EntryType::Directory)
        })
        .symlink("usr/bin/sh", "su")
        .symlink("bin", "usr/bin")
        .hardlink("usr/bin/su-link", "usr/bin/su")
        .add(E {
            data: b"x",
            pax: vec![
                ("SCHILY.xattr.user.podman".into(), b"yes".to_vec()),
                ("SCHILY.xattr.trusted.podman".into(), b"t".to_vec()),
            ],
            ..e("with-xattr", EntryType::Regular)
        })
        .add(E {
            dev: (1, 3),
            mode: 0o666,
            ..e("dev/null", EntryType::Char)
        })
        .add(E {
            mode: 0o600,
            ..e("fifo", EntryType::Fifo)
        })
        // implicit parent directory
        .file("deep/implicit/file", b"deep")
        // written through an in-layer symlink (relative, stays inside)
        .file("bin/through-link", b"ok");
    let bytes = t.bytes();
    let dest = s.path().join("layer");
    let info = extract(&bytes, &dest).expect("extract");
    assert_eq!(info.diff_id, sha256(&bytes));
    assert_eq!(info.compressed_digest, sha256(&bytes));
    assert_eq!(info.uncompressed_size, bytes.len() as u64);
    assert!(info.skipped.is_empty(), "{:?}", info.skipped);

    let su = fs::symlink_metadata(dest.join("usr/bin/su")).expect("su");
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!(su.mtime(), 1_234_567);
    assert_eq!(read(&dest.join("usr/bin/su")), "#!/bin/sh\n");
    let group = fs::symlink_metadata(dest.join("usr/bin/group")).expect("group");
    assert_eq!(group.mode() & 0o7777, 0o2640);
    assert_eq!((group.uid(), group.gid()), (1000, 100));
    let tmp = fs::symlink_metadata(dest.join("tmp")).expect("tmp");
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    let bindir = fs::symlink_metadata(dest.join("usr/bin")).expect("usr/bin");
    assert_eq!(bindir.mode() & 0o7777, 0o750);
    assert_eq!((bindir.uid(), bindir.gid()), (1234, 5678));
    // Set after its contents were written.
    assert_eq!(bindir.mtime(), 1_000_000);
    assert_eq!(
        fs::read_link(dest.join("usr/bin/sh")).expect("readlink"),
        Path::new("su")
    );
    assert_eq!(
        fs::read_link(dest.join("bin")).expect("readlink"),
        Path::new("usr/bin")
    );
    let link = fs::symlink_metadata(dest.join("usr/bin/su-link")).expect("su-link");
    assert_eq!(link.ino(), su.ino());
    assert_eq!(su.nlink(), 2);
    assert_eq!(read(&dest.join("usr/bin/through-link")), "ok");
    assert_eq!(read(&dest.join("deep/implicit/file")), "deep");
    let null = fs::symlink_metadata(dest.join("dev/null")).expect("dev/null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert!(fs::symlink_metadata(dest.join("fifo"))
        .expect("fifo")
        .file_type()
        .is_fifo());
    let x = dest.join("with-xattr");
    assert_eq!(
        xattr::get(&x, "trusted.podman".as_ref()).expect("getxattr"),
        Some(b"t".to_vec())
    );
    // user.* xattrs depend on the filesystem (tmpfs before 6.6 lacks them).
    if let Ok(v) = xattr::get(&x, "user.podman".as_ref()) {
        assert!(v.is_none() || v == Some(b"yes".to_vec()));
    }
}

#[test]
fn gzip_zstd_and_plain_give_the_same_diff_id() {
    let s = Scratch::new();
    let mut t = Tar::new();
    t.dir("etc/").file("etc/os-release", b"ID=test\n");
    let plain = t.bytes();
    let diff_id = sha256(&plain);
    for (name, blob, kind) in [
        ("plain", plain.clone(), Compression::None),
        ("gzip", gzip(&plain), Compression::Gzip),
        ("zstd", zstd(&plain), Compression::Zstd),
        ("gzip-auto", gzip(&plain), Compression::Auto),
        ("zstd-auto", zstd(&plain), Compression::Auto),
        ("plain-auto", plain.clone(), Compression::Auto),
    ] {
        let dest = s.path().join(name);
        let opts = ExtractOptions {
            expected_digest: Some(sha256(&blob)),
            expected_diff_id: Some(diff_id.clone()),
            ..Default::default()
        };
        let info = extract_layer(blob.as_slice(), kind, &dest, &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.diff_id, diff_id, "{name}");
        assert_eq!(info.compressed_digest, sha256(&blob), "{name}");
        assert_eq!(info.compressed_size, blob.len() as u64, "{name}");
        assert_eq!(read(&dest.join("etc/os-release")), "ID=test\n", "{name}");
    }
    assert_eq!(
        Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd").expect("mt"),
        Compression::Zstd
    );
    assert_eq!(
        Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip")
            .expect("mt"),
        Compression::Gzip
    );
    assert!(Compression::from_media_type("application/json").is_err());
}

#[test]
fn digest_mismatch_fails_and_leaves_nothing() {
    let s = Scratch::new();
    let mut t = Tar::new();
    t.file("a", b"a");
    let blob = gzip(&t.bytes());
    let dest = s.path().join("layer");
    let opts = ExtractOptions {
        expected_digest: Some(sha256(b"something else")),
        ..Default::default()
    };
    let err =
        extract_layer(blob.as_slice(), Compression::Gzip, &dest, &opts).expect_err("mismatch");
    assert!(
        matches!(
            err,
            LayerError::DigestMismatch {
                what: "compressed digest",
                ..
            }
        ),
        "{err}"
    );
    assert!(!dest.exists(), "dest left behind");
    // A truncated blob is an archive error, also cleaned up.
    let err = extract_layer(
        &blob[..blob.len() / 2],
        Compression::Gzip,
        &dest,
        &ExtractOptions::default(),
    )
    .expect_err("truncated");
    assert!(matches!(err, LayerError::Archive { .. }), "{err}");
    assert!(!dest.exists());
}

// ---- hostile input ----

/// Extracts `tar` into `<scratch>/box/dest` and checks it fails with
/// UnsafeEntry naming `entry`, and nothing was written beside dest.
fn refused(tar: Vec<u8>, entry: &str) {
    let s = Scratch::new();
    let boxdir = s.mkdir("box");
    let dest = boxdir.join("dest");
    let err = extract(&tar, &dest).expect_err("hostile tar accepted");
    eprintln!("refused as expected: {err}");
    match &err {
        LayerError::UnsafeEntry {
            entry: e, layer, ..
        } => {
            assert_eq!(e, Path::new(entry), "{err}");
            assert!(layer.contains("dest"), "{err}");
        }
        other => panic!("expected UnsafeEntry for {entry}, got {other}"),
    }
    assert!(err.to_string().contains(entry), "{err}");
    assert_eq!(tree(&boxdir), Vec::<PathBuf>::new(), "{err}");
    assert!(!Path::new("/etc/podman-rs-evil").exists());
    assert!(!Path::new("/podman-rs-evil").exists());
}

#[test]
fn refuses_dotdot() {
    refused(
        Tar::new().file("../podman-rs-evil", b"x").bytes(),
        "../podman-rs-evil",
    );
    refused(
        Tar::new().file("a/../../podman-rs-evil", b"x").bytes(),
        "a/../../podman-rs-evil",
    );
}

#[test]
fn refuses_absolute() {
    refused(
        Tar::new().file("/etc/podman-rs-evil", b"x").bytes(),
        "/etc/podman-rs-evil",
    );
}

#[test]
fn refuses_write_through_escaping_symlink() {
    refused(
        Tar::new()
            .symlink("evil", "/")
            .file("evil/etc/podman-rs-evil", b"x")
            .bytes(),
        "evil/etc/podman-rs-evil",
    );
    refused(
        Tar::new()
            .symlink("up", "..")
            .file("up/podman-rs-evil", b"x")
            .bytes(),
        "up/podman-rs-evil",
    );
}

#[test]
fn refuses_symlink_chain_escape() {
    refused(
        Tar::new()
            .dir("a/")
            .symlink("a/b", "../c")
            .symlink("c", "d/../..")
            .dir("d/")
            .file("a/b/podman-rs-evil", b"x")
            .bytes(),
        "a/b/podman-rs-evil",
    );
}

#[test]
fn refuses_hardlinks_outside() {
    refused(
        Tar::new().hardlink("passwd", "/etc/passwd").bytes(),
        "passwd",
    );
    refused(
        Tar::new()
            .hardlink("passwd", "../../../../etc/passwd")
            .bytes(),
        "passwd",
    );
    refused(
        Tar::new()
            .symlink("root", "/")
            .hardlink("passwd", "root/etc/passwd")
            .bytes(),
        "passwd",
    );
}

#[test]
fn symlink_targets_are_stored_not_followed() {
    // An absolute symlink is fine as an entry (it means / of the container);
    // only writing through it is refused.
    let s = Scratch::new();
    let dest = s.path().join("l");
    let tar = Tar::new()
        .symlink("etc-link", "/etc")
        .symlink("dangling", "../../x")
        .bytes();
    extract(&tar, &dest).expect("extract");
    assert_eq!(
        fs::read_link(dest.join("etc-link")).expect("link"),
        Path::new("/etc")
    );
    // A later file entry replaces a symlink instead of writing through it.
    let dest2 = s.path().join("l2");
    let tar = Tar::new()
        .symlink("f", "/etc/podman-rs-evil")
        .file("f", b"replaced")
        .bytes();
    extract(&tar, &dest2).expect("extract");
    assert!(!Path::new("/etc/podman-rs-evil").exists());
    assert_eq!(read(&dest2.join("f")), "replaced");
}

#[test]
fn devices_skipped_when_not_allowed() {
    let s = Scratch::new();
    let dest = s.path().join("l");
    let tar = Tar::new()
        .add(E {
            dev: (1, 3),
            ..e("dev/null", EntryType::Char)
        })
        .file("dev/keep", b"k")
        .bytes();
    let opts = ExtractOptions {
        devices: false,
        chown: false,
        ..Default::default()
    };
    let info = extract_layer(tar.as_slice(), Compression::None, &dest, &opts).expect("extract");
    assert_eq!(info.skipped, vec![PathBuf::from("dev/null")]);
    assert!(!dest.join("dev/null").exists());
    assert_eq!(read(&dest.join("dev/keep")), "k");
}

#[test]
fn id_map_is_applied() {
    require_root!();
    let s = Scratch::new();
    let dest = s.path().join("l");
    let tar = Tar::new()
        .add(E {
            uid: 5,
            gid: 7,
            data: b"x",
            ..e("f", EntryType::Regular)
        })
        .bytes();
    let big = Tar::new()
        .add(E {
            pax: vec![
                ("uid".into(), b"3000000".to_vec()),
                ("gid".into(), b"3000001".to_vec()),
                ("mtime".into(), b"1700000000.25".to_vec()),
            ],
            data: b"y",
            ..e("big", EntryType::Regular)
        })
        .bytes();
    let big_dest = s.path().join("big");
    extract(&big, &big_dest).expect("extract pax ids");
    let m = fs::metadata(big_dest.join("big")).expect("stat");
    assert_eq!(
        (m.uid(), m.gid(), m.mtime()),
        (3_000_000, 3_000_001, 1_700_000_000)
    );

    let opts = ExtractOptions {
        id_map: Some(podman_rs_rootfs::IdMap {
            uid: Arc::new(|u| u + 100_000),
            gid: Arc::new(|g| g + 200_000),
        }),
        ..Default::default()
    };
    extract_layer(tar.as_slice(), Compression::None, &dest, &opts).expect("extract");
    let m = fs::metadata(dest.join("f")).expect("stat");
    assert_eq!((m.uid(), m.gid()), (100_005, 200_007));
}

// ---- whiteouts ----

#[test]
fn whiteouts_and_opaque_dirs_work_in_an_overlay() {
    require_root!();
    let s = Scratch::new();
    let lower_tar = Tar::new()
        .file("keep.txt", b"keep")
        .file("gone.txt", b"gone")
        .dir("opq/")
        .file("opq/old", b"old")
        .dir("plain/")
        .file("plain/old", b"old")
        .bytes();
    let upper_tar = Tar::new()
        .file(".wh.gone.txt", b"")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"new")
        .file("plain/new", b"new")
        .file(".wh..wh.plnk", b"")
        .bytes();
    let lower = s.path().join("lower");
    let upper = s.path().join("upper");
    extract(&lower_tar, &lower).expect("lower");
    extract(&upper_tar, &upper).expect("upper");

    let wh = fs::symlink_metadata(upper.join("gone.txt")).expect("whiteout");
    assert!(is_whiteout(&wh));
    assert!(!upper.join(".wh.gone.txt").exists());
    assert!(is_opaque(&upper.join("opq")).expect("opaque"));
    assert!(!is_opaque(&upper.join("plain")).expect("opaque"));
    assert!(!upper.join(".wh..wh.plnk").exists());

    let merged = s.path().join("merged");
    let m = OverlayMount::new(vec![upper.clone(), lower.clone()], &merged);
    m.mount().expect("mount");
    let names = |d: &Path| {
        let mut v: Vec<String> = fs::read_dir(d)
            .expect("read_dir")
            .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(read(&merged.join("keep.txt")), "keep");
    assert!(!merged.join("gone.txt").exists());
    assert_eq!(names(&merged.join("opq")), vec!["new"]);
    assert_eq!(names(&merged.join("plain")), vec!["new", "old"]);
    m.unmount().expect("unmount");
}

// ---- store ----

#[test]
fn chain_ids_follow_the_oci_spec() {
    let a = sha256(b"a");
    let b = sha256(b"b");
    assert_eq!(chain_id(None, &a), a);
    let ab = chain_id(Some(&a), &b);
    assert_eq!(ab, sha256(format!("{a} {b}").as_bytes()));
}

#[test]
fn store_put_has_remove_and_layer_dirs() {
    let s = Scratch::new();
    let store = LayerStore::new(s.path().join("store")).expect("store");
    let base = Tar::new().file("base", b"1").bytes();
    let top = Tar::new().file("top", b"2").bytes();
    let base_id = chain_id(None, &sha256(&base));
    let top_id = chain_id(Some(&base_id), &sha256(&top));
    let opts = ExtractOptions::default();

    assert!(!store.has_layer(&base_id));
    let put = store
        .put_layer(
            &base_id,
            None,
            gzip(&base).as_slice(),
            Compression::Auto,
            &opts,
        )
        .expect("put base");
    assert!(put.created);
    assert_eq!(put.diff_id, sha256(&base));
    assert!(store.has_layer(&base_id));
    let again = store
        .put_layer(&base_id, None, &b"not read"[..], Compression::Auto, &opts)
        .expect("put again");
    assert!(!again.created);
    assert_eq!(again.diff_id, sha256(&base));
    store
        .put_layer(
            &top_id,
            Some(&base_id),
            top.as_slice(),
            Compression::None,
            &opts,
        )
        .expect("put top");

    let dirs = store
        .layer_dirs(&[base_id.clone(), top_id.clone()])
        .expect("dirs");
    assert_eq!(
        dirs,
        vec![
            store.diff_dir(&top_id).expect("d"),
            store.diff_dir(&base_id).expect("d")
        ]
    );
    assert_eq!(read(&dirs[0].join("top")), "2");
    assert_eq!(read(&dirs[1].join("base")), "1");

    assert!(store.remove_layer(&top_id).expect("remove"));
    assert!(!store.remove_layer(&top_id).expect("remove twice"));
    assert!(!store.has_layer(&top_id));
    assert!(matches!(
        store.layer_dirs(&[base_id.clone(), top_id.clone()]),
        Err(LayerError::NotFound(_))
    ));
    // Bad IDs never become paths.
    assert!(!store.has_layer("sha256:../../etc"));
    assert!(store.diff_dir("sha256:../../../../etc").is_err());
}

fn layer_entries(store: &LayerStore) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(store.root().join("layers"))
        .expect("read_dir")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn store_mismatches_leave_it_unchanged() {
    let s = Scratch::new();
    let store = LayerStore::new(s.path().join("store")).expect("store");
    let tar = Tar::new().file("a", b"a").bytes();
    let id = chain_id(None, &sha256(&tar));
    let blob = zstd(&tar);
    let bad_digest = ExtractOptions {
        expected_digest: Some(sha256(b"other")),
        ..Default::default()
    };
    let err = store
        .put_layer(&id, None, blob.as_slice(), Compression::Zstd, &bad_digest)
        .expect_err("digest mismatch");
    assert!(matches!(err, LayerError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&id), "{err}");
    assert!(!store.has_layer(&id));
    assert_eq!(layer_entries(&store), Vec::<String>::new());

    // Chain ID that does not match the content.
    let wrong = chain_id(None, &sha256(b"other"));
    let err = store
        .put_layer(
            &wrong,
            None,
            blob.as_slice(),
            Compression::Zstd,
            &ExtractOptions::default(),
        )
        .expect_err("chain mismatch");
    assert!(
        matches!(
            err,
            LayerError::DigestMismatch {
                what: "chain ID",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(layer_entries(&store), Vec::<String>::new());

    // A hostile layer too.
    let evil = Tar::new().file("../x", b"x").bytes();
    let evil_id = chain_id(None, &sha256(&evil));
    let err = store
        .put_layer(
            &evil_id,
            None,
            evil.as_slice(),
            Compression::None,
            &ExtractOptions::default(),
        )
        .expect_err("hostile");
    assert!(matches!(err, LayerError::UnsafeEntry { .. }), "{err}");
    assert_eq!(layer_entries(&store), Vec::<String>::new());
    assert!(!store.root().join("x").exists() && !store.root().join("layers/x").exists());
}

/// A reader that yields slowly, so concurrent puts overlap.
struct Slow<'a>(&'a [u8]);

impl Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(std::time::Duration::from_millis(2));
        let n = buf.len().min(512).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn concurrent_puts_of_one_layer_both_succeed_once() {
    let s = Scratch::new();
    let root = s.path().join("store");
    let mut t = Tar::new();
    for i in 0..20 {
        t.add(E {
            data: b"0123456789abcdef0123456789abcdef0123456789abcdef",
            ..e(
                Box::leak(format!("f{i}").into_boxed_str()),
                EntryType::Regular,
            )
        });
    }
    let tar = Arc::new(t.bytes());
    let id = chain_id(None, &sha256(&tar));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let root = root.clone();
            let tar = Arc::clone(&tar);
            let id = id.clone();
            std::thread::spawn(move || {
                // Each thread its own store handle, as separate processes would.
                let store = LayerStore::new(root).expect("store");
                store.put_layer(
                    &id,
                    None,
                    Slow(&tar),
                    Compression::None,
                    &ExtractOptions::default(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("put"))
        .collect();
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    let store = LayerStore::new(&root).expect("store");
    assert_eq!(
        layer_entries(&store),
        vec![id.trim_start_matches("sha256:").to_string()]
    );
    assert_eq!(tree(&store.diff_dir(&id).expect("d")).len(), 20);
    assert_eq!(store.cleanup_incomplete().expect("cleanup"), 0);
}

#[test]
fn cleanup_removes_stale_temp_dirs() {
    let s = Scratch::new();
    let store = LayerStore::new(s.path().join("store")).expect("store");
    let hex = "ab".repeat(32);
    let stale = store.root().join(format!("layers/.tmp-{hex}-1-0/diff"));
    fs::create_dir_all(&stale).expect("mkdir");
    fs::write(stale.join("half"), b"x").expect("write");
    assert!(!store.has_layer(&format!("sha256:{hex}")));
    assert_eq!(store.cleanup_incomplete().expect("cleanup"), 1);
    assert_eq!(layer_entries(&store), Vec::<String>::new());
}

const HELPER_ENV: &str = "PODMAN_RS_LAYERS_PUT_HELPER";

fn process_tar() -> Vec<u8> {
    let mut t = Tar::new();
    for i in 0..20 {
        t.add(E {
            data: b"process-shared-layer-content-0123456789",
            ..e(
                Box::leak(format!("p{i}").into_boxed_str()),
                EntryType::Regular,
            )
        });
    }
    t.bytes()
}

/// Not a test by itself: the body of each child process of
/// `concurrent_puts_from_two_processes` (does nothing without the env var).
#[test]
fn put_helper_process() {
    let Ok(root) = std::env::var(HELPER_ENV) else {
        return;
    };
    let tar = process_tar();
    let id = chain_id(None, &sha256(&tar));
    let store = LayerStore::new(root).expect("store");
    let put = store
        .put_layer(
            &id,
            None,
            Slow(&tar),
            Compression::None,
            &ExtractOptions::default(),
        )
        .expect("put in child");
    println!("CREATED={}", put.created);
}

#[test]
fn concurrent_puts_from_two_processes() {
    let s = Scratch::new();
    let root = s.path().join("store");
    let exe = std::env::current_exe().expect("current_exe");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "put_helper_process",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(HELPER_ENV, &root)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut created = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "child failed: {stdout}");
        created.push(stdout.contains("CREATED=true"));
        assert!(stdout.contains("CREATED="), "{stdout}");
    }
    assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
    let store = LayerStore::new(&root).expect("store");
    let id = chain_id(None, &sha256(&process_tar()));
    assert_eq!(
        layer_entries(&store),
        vec![id.trim_start_matches("sha256:").to_string()]
    );
    assert_eq!(tree(&store.diff_dir(&id).expect("d")).len(), 20);
}
