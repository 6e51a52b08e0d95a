//! Image archives: save → load round trips in all three formats, several
//! images in one docker-archive, hostile and corrupted archives, and
//! interoperability with the real podman (when installed).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use podman_rs_engine::image::archive::{load, save, ArchiveError, ArchiveFormat, LoadedImage};
use podman_rs_engine::store::Store;
use podman_rs_integration_tests::images::{
    layered_entries, write_image, write_index_json, LayerEntry, MEDIA_TYPE_MANIFEST,
};
use tempfile::TempDir;

const FORMATS: [ArchiveFormat; 3] = [
    ArchiveFormat::DockerArchive,
    ArchiveFormat::OciArchive,
    ArchiveFormat::OciDir,
];

/// An OCI layout dir with one image per (layers, name).
fn layout(images: &[(&[Vec<LayerEntry>], &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut manifests = Vec::new();
    for (layers, name) in images {
        let info = write_image(dir.path(), layers, "amd64", &["sh"]).unwrap();
        manifests.push((info.manifest_digest, info.manifest_size, name.to_string()));
    }
    // write_index_json names one descriptor; merge the others by hand.
    let mut descs = Vec::new();
    for (digest, size, name) in &manifests {
        write_index_json(dir.path(), MEDIA_TYPE_MANIFEST, digest, *size, name).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        descs.push(index["manifests"][0].clone());
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": descs});
    fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    dir
}

fn small_entries() -> Vec<Vec<LayerEntry>> {
    vec![vec![
        LayerEntry::dir("etc"),
        LayerEntry::file("etc/one", "one\n"),
    ]]
}

fn new_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    (dir, store)
}

/// A store holding the layered image as `localhost/layered:1`.
fn store_with_layered() -> (TempDir, Store, String) {
    let (dir, store) = new_store();
    let entries = layered_entries();
    let src = layout(&[(&entries, "localhost/layered:1")]);
    let loaded = load(&store, src.path()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].names, vec!["localhost/layered:1".to_string()]);
    let id = loaded[0].id.clone();
    (dir, store, id)
}

fn dest_for(dir: &Path, format: ArchiveFormat) -> PathBuf {
    match format {
        ArchiveFormat::OciDir => dir.join("layout"),
        _ => dir.join(format!("{format}.tar")),
    }
}

#[test]
fn save_load_round_trip_all_formats() {
    let (tmp, a, id) = store_with_layered();
    let orig = a.get_image(&id).unwrap();
    assert_eq!(orig.layers.len(), 2);
    for format in FORMATS {
        let dest = dest_for(tmp.path(), format);
        save(&a, &["localhost/layered:1"], &[], format, &dest).unwrap();
        let (_b_dir, b) = new_store();
        let loaded = load(&b, &dest).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(
            loaded,
            vec![LoadedImage {
                id: id.clone(),
                names: vec!["localhost/layered:1".into()]
            }],
            "{format}"
        );
        let img = b.get_image("localhost/layered:1").unwrap();
        assert_eq!(img.id, id, "{format}");
        assert_eq!(img.layers, orig.layers, "{format}");
        assert_eq!(img.config, orig.config, "{format}");
        if format != ArchiveFormat::DockerArchive {
            // OCI formats keep the blobs and manifest as they are.
            assert_eq!(img.digest, orig.digest, "{format}");
            assert_eq!(img.blobs, orig.blobs, "{format}");
        }
        // The layers are extracted, whiteout and opaque dir included.
        let top = b.layers().diff_dir(&img.layers[1]).unwrap();
        assert_eq!(fs::read(top.join("dir/z")).unwrap(), b"z\n", "{format}");
        let base = b.layers().diff_dir(&img.layers[0]).unwrap();
        assert_eq!(fs::read(base.join("etc/a")).unwrap(), b"a\n", "{format}");
        // And saving again from the second store round trips too.
        let dest2 = tmp.path().join(format!("again-{format}"));
        save(&b, &[id.as_str()], &[], format, &dest2).unwrap();
        let (_c_dir, c) = new_store();
        let again = load(&c, &dest2).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, id);
        // Saved by ID: no name, as Podman.
        assert!(again[0].names.is_empty(), "{format}: {:?}", again[0].names);
        assert!(c.get_image(&id).unwrap().names.is_empty());
    }
}

#[test]
fn docker_archive_layout_matches_podman() {
    let (tmp, a, id) = store_with_layered();
    let dest = tmp.path().join("x.tar");
    save(
        &a,
        &["localhost/layered:1"],
        &[],
        ArchiveFormat::DockerArchive,
        &dest,
    )
    .unwrap();
    let mut ar = tar::Archive::new(fs::File::open(&dest).unwrap());
    let mut names = Vec::new();
    let mut manifest = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "manifest.json" {
            std::io::Read::read_to_end(&mut e, &mut manifest).unwrap();
        }
        names.push(name);
    }
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let img = a.get_image(&id).unwrap();
    let config: serde_json::Value = serde_json::from_str(&img.config).unwrap();
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap()[7..].to_string() + ".tar")
        .collect();
    assert_eq!(m[0]["Config"], format!("{id}.json"));
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["localhost/layered:1"]));
    assert_eq!(m[0]["Layers"], serde_json::json!(diff_ids));
    for l in &diff_ids {
        assert!(names.contains(l), "{names:?}");
    }
    for chain in &img.layers {
        let hex = &chain[7..];
        for f in ["layer.tar", "VERSION", "json"] {
            assert!(names.contains(&format!("{hex}/{f}")), "{names:?}");
        }
    }
    assert!(names.contains(&"repositories".to_string()));
}

#[test]
fn two_images_in_one_docker_archive() {
    let (tmp, a) = new_store();
    let layered = layered_entries();
    let small = small_entries();
    let src = layout(&[
        (&layered, "localhost/layered:1"),
        (&small, "quay.io/example/small:2"),
    ]);
    let loaded = load(&a, src.path()).unwrap();
    assert_eq!(loaded.len(), 2);
    let dest = tmp.path().join("two.tar");
    save(
        &a,
        &["localhost/layered:1", "quay.io/example/small:2"],
        &[],
        ArchiveFormat::DockerArchive,
        &dest,
    )
    .unwrap();
    let (_b_dir, b) = new_store();
    let got = load(&b, &dest).unwrap();
    assert_eq!(got, loaded);
    assert_eq!(b.list_images().unwrap().len(), 2);
    assert_eq!(
        b.get_image("quay.io/example/small:2").unwrap().id,
        loaded[1].id
    );
    // Short names are looked up as Podman does, and saved with the full name.
    let dest = tmp.path().join("short.tar");
    save(&a, &["layered:1"], &[], ArchiveFormat::DockerArchive, &dest).unwrap();
    let (_c_dir, c) = new_store();
    assert_eq!(
        load(&c, &dest).unwrap()[0].names,
        vec!["localhost/layered:1".to_string()]
    );
}

#[test]
fn unknown_image_and_format() {
    let (tmp, a) = new_store();
    let err = save(
        &a,
        &["nope:1"],
        &[],
        ArchiveFormat::OciArchive,
        &tmp.path().join("x"),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::Image { .. }), "{err}");
    assert!(err.to_string().contains("nope:1"), "{err}");
    assert!("tarball".parse::<ArchiveFormat>().is_err());
    assert_eq!(
        "oci-dir".parse::<ArchiveFormat>().unwrap(),
        ArchiveFormat::OciDir
    );
}

/// name, type, link target, data.
type RawEntry = (&'static str, tar::EntryType, &'static str, Vec<u8>);

/// Appends an entry with a raw (unchecked) name.
fn raw_entry<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    kind: tar::EntryType,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn hostile_archive_entries_are_never_written() {
    let (tmp, a) = new_store();
    let victim = tmp.path().join("victim");
    fs::create_dir(&victim).unwrap();
    let work = victim.join("work");
    fs::create_dir(&work).unwrap();
    let canary = tmp.path().join("outside");
    fs::write(&canary, "secret").unwrap();
    let cases: Vec<(&str, Vec<RawEntry>)> = vec![
        (
            "config above the root",
            vec![(
                "manifest.json",
                tar::EntryType::Regular,
                "",
                br#"[{"Config":"../outside","RepoTags":[],"Layers":[]}]"#.to_vec(),
            )],
        ),
        (
            "config symlink leaving the archive",
            vec![
                ("c.json", tar::EntryType::Symlink, "../../outside", vec![]),
                (
                    "manifest.json",
                    tar::EntryType::Regular,
                    "",
                    br#"[{"Config":"c.json","RepoTags":[],"Layers":[]}]"#.to_vec(),
                ),
            ],
        ),
        (
            "symlink loop",
            vec![
                ("a", tar::EntryType::Symlink, "b", vec![]),
                ("b", tar::EntryType::Symlink, "a", vec![]),
                (
                    "manifest.json",
                    tar::EntryType::Regular,
                    "",
                    br#"[{"Config":"a","RepoTags":[],"Layers":[]}]"#.to_vec(),
                ),
            ],
        ),
        (
            "dot-dot entries and absolute symlinks",
            vec![
                ("../../evil", tar::EntryType::Regular, "", b"evil".to_vec()),
                (
                    "/tmp/evil-abs",
                    tar::EntryType::Regular,
                    "",
                    b"evil".to_vec(),
                ),
                ("l", tar::EntryType::Symlink, "/etc/passwd", vec![]),
                (
                    "manifest.json",
                    tar::EntryType::Regular,
                    "",
                    br#"[{"Config":"l","RepoTags":[],"Layers":[]}]"#.to_vec(),
                ),
            ],
        ),
    ];
    for (what, entries) in cases {
        let path = work.join("hostile.tar");
        let mut b = tar::Builder::new(fs::File::create(&path).unwrap());
        for (name, kind, link, data) in &entries {
            raw_entry(&mut b, name, *kind, link, data);
        }
        b.finish().unwrap();
        drop(b);
        let err = load(&a, &path).unwrap_err();
        assert!(
            matches!(err, ArchiveError::Invalid { .. }),
            "{what}: {err:?}"
        );
        let msg = err.to_string();
        eprintln!("{what}: {msg}");
        assert!(msg.contains("hostile.tar"), "{what}: {msg}");
        assert_eq!(fs::read_to_string(&canary).unwrap(), "secret");
        assert!(!victim.join("evil").exists() && !tmp.path().join("evil").exists());
        assert!(!Path::new("/tmp/evil-abs").exists());
        let mut left: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("hostile.tar")],
            "{what}"
        );
    }
    assert!(a.list_images().unwrap().is_empty());
}

#[test]
fn corrupted_layer_is_refused_naming_the_entry() {
    let (tmp, a, _id) = store_with_layered();
    let dest = tmp.path().join("x.tar");
    save(
        &a,
        &["localhost/layered:1"],
        &[],
        ArchiveFormat::DockerArchive,
        &dest,
    )
    .unwrap();
    // Rewrite the archive with one byte of the first layer changed.
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(fs::File::open(&dest).unwrap());
    let mut victim = String::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if victim.is_empty() && name.ends_with(".tar") && !name.contains('/') {
            // Change file content inside the tar (after the first header).
            data[600] ^= 0xff;
            victim = name.clone();
        }
        if h.entry_type() == tar::EntryType::Symlink {
            let link = e.link_name().unwrap().unwrap().into_owned();
            out.append_link(&mut h, &name, link).unwrap();
        } else {
            out.append_data(&mut h, &name, data.as_slice()).unwrap();
        }
    }
    let bad = tmp.path().join("bad.tar");
    fs::write(&bad, out.into_inner().unwrap()).unwrap();
    let (_b_dir, b) = new_store();
    let err = load(&b, &bad).unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(msg.contains("bad.tar") && msg.contains(&victim), "{msg}");
    assert!(b.list_images().unwrap().is_empty());
}

// ---- real podman ----

fn podman_available() -> bool {
    Command::new("podman")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Podman {
    dir: TempDir,
}

impl Podman {
    fn new() -> Podman {
        Podman {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let root = self.dir.path().join("root");
        let runroot = self.dir.path().join("run");
        let out = Command::new("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `ID NAME` lines of `podman images`.
    fn images(&self) -> String {
        self.run(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ])
    }
}

#[test]
fn archives_saved_by_podman_rs_load_in_podman() {
    if !podman_available() {
        eprintln!("podman not installed: skipped");
        return;
    }
    let (tmp, a, id) = store_with_layered();
    for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
        let dest = dest_for(tmp.path(), format);
        save(&a, &["localhost/layered:1"], &[], format, &dest).unwrap();
        let p = Podman::new();
        p.run(&["load", "-i", dest.to_str().unwrap()]);
        let images = p.images();
        assert!(
            images.contains(&format!("sha256:{id} localhost/layered:1")),
            "{format}: {images}"
        );
    }
}

#[test]
fn archives_saved_by_podman_load_in_podman_rs() {
    if !podman_available() {
        eprintln!("podman not installed: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // An image podman made itself: `podman import` of a small tar.
    let p = Podman::new();
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::write(rootfs.join("etc/hello"), "hello\n").unwrap();
    let small = tmp.path().join("small.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&small)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    let out = p.run(&[
        "import",
        "-q",
        small.to_str().unwrap(),
        "localhost/small:v1",
    ]);
    let id = out.trim().trim_start_matches("sha256:").to_string();
    assert_eq!(id.len(), 64, "{out}");
    // And our layered image (whiteouts, opaque dir), given to podman as an
    // oci-archive.
    let (_x_dir, x, layered_id) = store_with_layered();
    let ours = tmp.path().join("ours.tar");
    save(
        &x,
        &["localhost/layered:1"],
        &[],
        ArchiveFormat::OciArchive,
        &ours,
    )
    .unwrap();
    p.run(&["load", "-i", ours.to_str().unwrap()]);

    for format in ["docker-archive", "oci-archive"] {
        let dest = tmp.path().join(format!("{format}.tar"));
        p.run(&[
            "save",
            "-q",
            "--format",
            format,
            "-o",
            dest.to_str().unwrap(),
            "localhost/small:v1",
        ]);
        let (_b_dir, b) = new_store();
        let loaded = load(&b, &dest).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(
            loaded,
            vec![LoadedImage {
                id: id.clone(),
                names: vec!["localhost/small:v1".into()]
            }],
            "{format}"
        );
        let img = b.get_image("localhost/small:v1").unwrap();
        let diff = b.layers().diff_dir(&img.layers[0]).unwrap();
        assert_eq!(fs::read(diff.join("etc/hello")).unwrap(), b"hello\n");

        // The two-layer one (whiteouts) too.
        let dest = tmp.path().join(format!("layered-{format}.tar"));
        p.run(&[
            "save",
            "-q",
            "--format",
            format,
            "-o",
            dest.to_str().unwrap(),
            "localhost/layered:1",
        ]);
        let loaded = load(&b, &dest).unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(loaded[0].id, layered_id, "{format}");
        assert_eq!(
            b.get_image(&layered_id).unwrap().layers,
            x.get_image(&layered_id).unwrap().layers
        );
    }
    // Several images in one podman docker-archive.
    let dest = tmp.path().join("multi.tar");
    p.run(&[
        "save",
        "-q",
        "--multi-image-archive",
        "-o",
        dest.to_str().unwrap(),
        "localhost/small:v1",
        "localhost/layered:1",
    ]);
    let (_c_dir, c) = new_store();
    let mut ids: Vec<String> = load(&c, &dest).unwrap().into_iter().map(|i| i.id).collect();
    ids.sort();
    let mut want = vec![id, layered_id];
    want.sort();
    assert_eq!(ids, want);
}

/// Rewrites the tar `src` into `dst`, passing each regular file's data
/// through `f(name, data)`.
fn rewrite_tar(src: &Path, dst: &Path, mut f: impl FnMut(&str, Vec<u8>) -> Vec<u8>) {
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(fs::File::open(src).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut h = e.header().clone();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if h.entry_type() == tar::EntryType::Symlink {
            let link = e.link_name().unwrap().unwrap().into_owned();
            out.append_link(&mut h, &name, link).unwrap();
            continue;
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        let data = f(&name, data);
        h.set_size(data.len() as u64);
        out.append_data(&mut h, &name, data.as_slice()).unwrap();
    }
    fs::write(dst, out.into_inner().unwrap()).unwrap();
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn compressed_archives_and_compressed_layers_load() {
    let (tmp, a, id) = store_with_layered();
    let layers = a.get_image(&id).unwrap().layers;
    let dest = tmp.path().join("x.tar");
    save(
        &a,
        &["localhost/layered:1"],
        &[],
        ArchiveFormat::DockerArchive,
        &dest,
    )
    .unwrap();

    // `podman save | gzip`.
    let gz = tmp.path().join("x.tar.gz");
    fs::write(&gz, gzip(&fs::read(&dest).unwrap())).unwrap();
    let (_b_dir, b) = new_store();
    assert_eq!(load(&b, &gz).unwrap()[0].id, id);
    assert_eq!(b.get_image(&id).unwrap().layers, layers);

    // Layers stored gzip-compressed inside the archive (older writers).
    let gz_layers = tmp.path().join("gz-layers.tar");
    rewrite_tar(&dest, &gz_layers, |name, data| {
        if name.ends_with(".tar") && !name.contains('/') {
            gzip(&data)
        } else {
            data
        }
    });
    let (_c_dir, c) = new_store();
    let loaded = load(&c, &gz_layers).unwrap();
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].names, vec!["localhost/layered:1".to_string()]);
    let img = c.get_image(&id).unwrap();
    assert_eq!(img.layers, layers);
    let top = c.layers().diff_dir(&layers[1]).unwrap();
    assert_eq!(fs::read(top.join("dir/z")).unwrap(), b"z\n");
    // And it saves again (decompressing the gzip blobs).
    let again = tmp.path().join("again.tar");
    save(
        &c,
        &[id.as_str()],
        &[],
        ArchiveFormat::DockerArchive,
        &again,
    )
    .unwrap();
    let (_d_dir, d) = new_store();
    assert_eq!(load(&d, &again).unwrap()[0].id, id);
}

#[test]
fn oci_ref_names_as_podman() {
    let (_tmp, a) = new_store();
    let small = small_entries();
    // A bare tag: Podman 4.3.1 names it localhost/latest:latest.
    let src = layout(&[(&small, "latest")]);
    let loaded = load(&a, src.path()).unwrap();
    assert_eq!(loaded[0].names, vec!["localhost/latest:latest".to_string()]);
    // Docker 25+: the full name in io.containerd.image.name, the tag in ref.name.
    let index_path = src.path().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]["annotations"]["io.containerd.image.name"] =
        serde_json::json!("docker.io/library/small:latest");
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let (_tmp3, c) = new_store();
    let loaded = load(&c, src.path()).unwrap();
    assert_eq!(
        loaded[0].names,
        vec!["docker.io/library/small:latest".to_string()]
    );
    // No annotations: an unnamed image.
    let (_tmp2, b) = new_store();
    let index_path = src.path().join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let loaded = load(&b, src.path()).unwrap();
    assert!(loaded[0].names.is_empty());
    assert!(b.get_image(&loaded[0].id).unwrap().names.is_empty());
}

#[test]
fn failed_save_leaves_no_file() {
    let (tmp, a, id) = store_with_layered();
    // Lose a layer blob: saving must fail and remove the partial archive.
    let img = a.get_image(&id).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&a.blobs().read_blob(&img.digest).unwrap()).unwrap();
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = a.blobs().blob_path(&layer).unwrap();
    fs::write(&path, b"garbage").unwrap();
    let dest = tmp.path().join("x.tar");
    let err = save(&a, &[id.as_str()], &[], ArchiveFormat::DockerArchive, &dest).unwrap_err();
    assert!(err.to_string().contains(&id), "{err}");
    assert!(!dest.exists());
}
