//! End-to-end tests of `import`, `pull --all-tags` and multi-image `save`,
//! compared with Podman 4.3.1 (the stock `podman`, with its own temporary
//! root) where it behaves the same: the same tarball file imported by both
//! gives the same image (config and manifest byte for byte), archives go
//! both ways. Needs root, docker-registry, skopeo and podman.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, UNIX_EPOCH};

use podman_rs_integration_tests::images::{busybox_image, layered_image, push_layout};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::side_by_side::{Podman, PodmanRs};
use podman_rs_integration_tests::{capture, require_root, text};
use serde_json::Value;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A small root filesystem as a tar stream.
fn rootfs_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, path, data).expect("tar entry");
    };
    add("etc/", tar::EntryType::Directory, b"");
    add("etc/hello", tar::EntryType::Regular, b"hello from import\n");
    add("bin/", tar::EntryType::Directory, b"");
    add(
        "bin/tool",
        tar::EntryType::Regular,
        b"#!/bin/sh\necho tool\n",
    );
    b.into_inner().expect("tar")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).expect("zstd")
}

/// Writes `data` to `path` with a fixed modification time (the image's
/// creation time), so both engines see the same file.
fn write_file(path: &Path, data: &[u8]) -> PathBuf {
    write_file_at(path, data, 1_700_000_000)
}

/// [`write_file`] with the modification time `secs` (+ 123456 µs).
fn write_file_at(path: &Path, data: &[u8], secs: u64) -> PathBuf {
    std::fs::write(path, data).expect("write tarball");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open tarball");
    f.set_modified(UNIX_EPOCH + Duration::new(secs, 123_456_000))
        .expect("set mtime");
    path.to_path_buf()
}

/// The stock podman on `podman`'s private storage (as `Podman::run`), for
/// what that helper cannot do (stdin).
fn podman_cmd(podman: &Podman, args: &[&str]) -> std::process::Command {
    let _ = std::fs::create_dir_all(podman.path("xdg"));
    let mut c = std::process::Command::new("podman");
    c.arg("--root")
        .arg(podman.path("root"))
        .arg("--runroot")
        .arg(podman.path("runroot"))
        .arg("--tmpdir")
        .arg(podman.path("tmp"))
        .args([
            "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ])
        .args(args)
        .env("XDG_RUNTIME_DIR", podman.path("xdg"))
        .env("XDG_CONFIG_HOME", podman.path("config"))
        .stdin(Stdio::null());
    c
}

fn inspect(out: &str) -> Value {
    let v: Value = serde_json::from_str(out).expect("inspect JSON");
    v[0].clone()
}

const CHANGES: &[&str] = &[
    "-c",
    "CMD echo hi there",
    "-c",
    r#"ENTRYPOINT ["/bin/tool", "--flag"]"#,
    "-c",
    "ENV A=1",
    "-c",
    r#"ENV B="two words""#,
    "-c",
    "EXPOSE 8080",
    "-c",
    "EXPOSE 53/udp",
    "-c",
    "LABEL org.example=yes",
    "-c",
    "STOPSIGNAL SIGINT",
    "-c",
    "USER 1000:1000",
    "-c",
    "VOLUME /data /cache",
    "-c",
    "WORKDIR /srv",
    "-c",
    "WORKDIR app",
    "-c",
    "ONBUILD RUN true",
];

#[test]
fn import_gives_podmans_image_for_plain_and_gzip_tarballs() {
    require_root();
    let reg = Registry::start();
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    let tar = rootfs_tar();
    // Different times: the same content at the same time is one image
    // (same config) with two manifests.
    for (kind, data, secs) in [
        ("plain", tar.clone(), 1_700_000_000),
        ("gzip", gzip(&tar), 1_700_000_100),
    ] {
        let file = write_file_at(&p.path(&format!("{kind}.tar")), &data, secs);
        let name = format!("imported/{kind}:1");
        let mut args = vec!["import", "-m", "from a test"];
        args.extend_from_slice(CHANGES);
        args.extend_from_slice(&["--arch", "arm", "--variant", "v7"]);
        let file_arg = s(&file);
        args.push(&file_arg);
        args.push(&name);
        let ours = p.ok_both(&args);
        let theirs = podman.ok_both(&args);
        // Same image ID on stdout, same progress lines on stderr.
        assert_eq!(ours, theirs, "{kind}");
        assert!(ours.0.starts_with("sha256:"), "{kind}: {ours:?}");

        let mine = inspect(&p.ok(&["image", "inspect", &name]));
        let real = inspect(&podman.ok(&["image", "inspect", &name]));
        for field in [
            "Id",
            "Digest",
            "RepoTags",
            "RepoDigests",
            "Comment",
            "Created",
            "Config",
            "Architecture",
            "Os",
            "RootFS",
            "Labels",
            "ManifestType",
            "User",
            "History",
        ] {
            assert_eq!(mine[field], real[field], "{kind}: {field}");
        }
        assert_eq!(mine["Config"]["StopSignal"], "2");
        assert_eq!(mine["Config"]["WorkingDir"], "/srv/app");
        // The layer is extracted once, under its chain ID (= diff ID).
        let diff_id = mine["RootFS"]["Layers"][0].as_str().expect("diff ID");
        let layer = p.root().join("layers").join(&diff_id[7..]).join("diff");
        assert_eq!(
            std::fs::read_to_string(layer.join("etc/hello")).expect("extracted file"),
            "hello from import\n"
        );

        // -q: only the ID.
        let (o, e) = p.ok_both(&["import", "-q", &file_arg, "again:1"]);
        assert_eq!(e, "", "{kind}");
        assert!(o.starts_with("sha256:") && o.lines().count() == 1, "{o}");
    }

    // Without a name: a dangling image, as podman.
    let file = write_file(&p.path("unnamed.tar"), &tar);
    let id = p.ok(&["import", "-q", &s(&file)]);
    let podman_id = podman.ok(&["import", "-q", &s(&file)]);
    assert_eq!(id, podman_id);
    let mine = inspect(&p.ok(&["image", "inspect", id.trim()]));
    assert_eq!(mine["RepoTags"], serde_json::json!([]));
    assert_eq!(mine["Comment"], "imported from tarball");
}

#[test]
fn import_zstd_and_stdin() {
    require_root();
    let reg = Registry::start();
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    let tar = rootfs_tar();

    // zstd: stored compressed, the diff ID is the uncompressed tar's.
    let file = write_file(&p.path("rootfs.tar.zst"), &zstd(&tar));
    let id = p.ok(&[
        "import",
        "-q",
        "-c",
        "CMD [\"/bin/tool\"]",
        &s(&file),
        "zst:1",
    ]);
    let mine = inspect(&p.ok(&["image", "inspect", "zst:1"]));
    assert_eq!(
        format!("sha256:{}\n", mine["Id"].as_str().unwrap_or("")),
        id
    );
    let plain_digest = podman_rs_integration_tests::images::sha256_digest(&tar);
    assert_eq!(mine["RootFS"]["Layers"][0], plain_digest.as_str());
    assert_eq!(mine["Config"]["Cmd"], serde_json::json!(["/bin/tool"]));
    let layer = p
        .root()
        .join("layers")
        .join(&plain_digest[7..])
        .join("diff");
    assert!(layer.join("bin/tool").is_file());
    // podman stores the same Config for it.
    podman.ok(&[
        "import",
        "-q",
        "-c",
        "CMD [\"/bin/tool\"]",
        &s(&file),
        "zst:1",
    ]);
    let real = inspect(&podman.ok(&["image", "inspect", "zst:1"]));
    assert_eq!(mine["Config"], real["Config"]);
    assert_eq!(mine["Comment"], real["Comment"]);

    // stdin (gzip): spooled, created now.
    let gz = write_file(&p.path("rootfs.tgz"), &gzip(&tar));
    let before = chrono::Utc::now() - chrono::Duration::seconds(5);
    let out = capture({
        let mut c = p.cmd(&["import", "-c", "ENV FROM=stdin", "-", "from-stdin:1"]);
        c.stdin(std::fs::File::open(&gz).expect("open"));
        c
    });
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}{e}");
    assert!(e.starts_with("Getting image source signatures\n"), "{e}");
    assert!(e.ends_with("Writing manifest to image destination\nStoring signatures\n"));
    let mine = inspect(&p.ok(&["image", "inspect", "from-stdin:1"]));
    assert_eq!(
        o.trim(),
        format!("sha256:{}", mine["Id"].as_str().unwrap_or(""))
    );
    assert_eq!(mine["Config"]["Env"], serde_json::json!(["FROM=stdin"]));
    let created = chrono::DateTime::parse_from_rfc3339(mine["Created"].as_str().unwrap_or(""))
        .expect("Created is RFC 3339");
    assert!(created > before, "created {created} is the import time");
    let out = capture({
        let mut c = podman_cmd(
            &podman,
            &["import", "-q", "-c", "ENV FROM=stdin", "-", "from-stdin:1"],
        );
        c.stdin(std::fs::File::open(&gz).expect("open"));
        c
    });
    assert!(out.status.success(), "{:?}", text(&out));
    let out = capture(podman_cmd(&podman, &["image", "inspect", "from-stdin:1"]));
    let real = inspect(&text(&out).0);
    assert_eq!(mine["Config"], real["Config"]);
    assert_eq!(mine["RootFS"], real["RootFS"]);
}

#[test]
fn import_errors_match_podman() {
    require_root();
    let reg = Registry::start();
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    let file = write_file(&p.path("rootfs.tar"), &rootfs_tar());
    let f = s(&file);
    let missing = s(&p.path("nosuch.tar"));
    for args in [
        vec!["import", "-c", "RUN ls", &f],
        vec!["import", "-c", "EXPOSE 80 443/udp", &f],
        vec!["import", "-c", "LABEL x y", &f],
        vec!["import", "-c", "STOPSIGNAL FOO", &f],
        vec!["import", "-c", "bogus", &f],
        vec!["import", &missing],
    ] {
        let ours = p.run(&args);
        let theirs = podman.run(&args);
        assert_eq!(
            (ours.status.code(), text(&ours)),
            (theirs.status.code(), text(&theirs)),
            "{args:?}"
        );
    }
    // A bad name fails with podman's message (podman prints it after
    // copying; podman-rs checks it first and stores nothing).
    let out = p.run(&["import", &f, "BAD:Name"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out).1,
        "Error: normalizing name \"BAD:Name\": normalizing name \"BAD:Name\": repository name must be lowercase\n"
    );
    assert_eq!(p.ok(&["images", "-q"]), "");
}

/// A tar with one hostile entry after a harmless one.
fn hostile_tar(kind: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(3);
    b.append_data(&mut h, "ok.txt", &b"ok\n"[..])
        .expect("entry");
    let mut raw = |name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]| {
        // Names set through the raw header: the tar crate refuses `..`.
        let mut h = tar::Header::new_old();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        let bytes = h.as_old_mut();
        bytes.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            bytes.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        b.append(&h, data).expect("entry");
    };
    match kind {
        "dotdot" => raw(
            "../../../../../tmp/podman-rs-import-escaped",
            tar::EntryType::Regular,
            None,
            b"escaped\n",
        ),
        "symlink" => {
            raw("link", tar::EntryType::Symlink, Some("/tmp"), b"");
            raw(
                "link/podman-rs-import-escaped",
                tar::EntryType::Regular,
                None,
                b"escaped\n",
            );
        }
        _ => raw(
            "hard",
            tar::EntryType::Link,
            Some("../../../../../etc/passwd"),
            b"",
        ),
    }
    b.into_inner().expect("tar")
}

#[test]
fn hostile_tarballs_are_refused_and_leave_the_store_unchanged() {
    require_root();
    let reg = Registry::start();
    let p = PodmanRs::new(&reg);
    // Something in the store first, so "unchanged" means something.
    let ok = write_file(&p.path("ok.tar"), &rootfs_tar());
    p.ok(&["import", "-q", &s(&ok), "fine:1"]);
    let before = p.stored();
    let escaped = Path::new("/tmp/podman-rs-import-escaped");
    let _ = std::fs::remove_file(escaped);
    for kind in ["dotdot", "symlink", "hardlink"] {
        let file = write_file(&p.path(&format!("{kind}.tar")), &hostile_tar(kind));
        let out = p.run(&["import", &s(&file), &format!("hostile-{kind}:1")]);
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(125), "{kind}: {o}{e}");
        assert!(
            e.contains("Error: writing blob: adding layer with blob \"sha256:"),
            "{kind}: {e}"
        );
        assert!(!escaped.exists(), "{kind}: wrote outside the layer");
        assert_eq!(p.stored(), before, "{kind}: store changed");
        assert_eq!(
            p.ok(&["images", "--format", "{{.Repository}}"]),
            "localhost/fine\n"
        );
    }
}

fn manifest_json(archive: &Path) -> Value {
    let mut a = tar::Archive::new(std::fs::File::open(archive).expect("open archive"));
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy() == "manifest.json" {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut buf).expect("read");
            return serde_json::from_slice(&buf).expect("manifest.json");
        }
    }
    panic!("no manifest.json in {}", archive.display());
}

#[test]
fn save_several_images_as_podman_and_load_them_back() {
    require_root();
    let reg = Registry::start();
    push_layout(busybox_image().path(), &reg.addr(), "busybox:latest").expect("push busybox");
    push_layout(layered_image().path(), &reg.addr(), "layered:1").expect("push layered");
    let bb = format!("{}/busybox:latest", reg.addr());
    let layered = format!("{}/layered:1", reg.addr());
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    for img in [&bb, &layered] {
        p.ok(&["pull", "-q", img]);
        podman.ok(&["pull", "-q", "--tls-verify=false", img]);
    }
    p.ok(&["tag", &bb, "second:name"]);
    podman.ok(&["tag", &bb, "second:name"]);

    let cases: Vec<(&str, Vec<&str>)> = vec![
        // Without -m: the first is the image, the others are more tags
        // (not looked up; a bad name is skipped).
        ("tags", vec![&bb, "extra:1", &layered, "BAD:x", "extra:1"]),
        // -m: every name an image; two names of one image, one entry.
        ("multi", vec!["-m", &bb, &layered, "second:name"]),
    ];
    for (label, names) in &cases {
        let ours = s(&p.path(&format!("{label}.tar")));
        let theirs = s(&podman.path(&format!("{label}.tar")));
        let mut a = vec!["save", "-o", ours.as_str()];
        a.extend(names.iter().copied());
        let mut b = a.clone();
        b[2] = &theirs;
        let (o, e) = p.ok_both(&a);
        let (po, pe) = podman.ok_both(&b);
        assert_eq!((o, e), (po, pe), "{label}: output");
        assert_eq!(
            manifest_json(Path::new(&ours)),
            manifest_json(Path::new(&theirs)),
            "{label}: manifest.json"
        );
    }

    // The multi-image archive loads back in podman-rs and in podman.
    let multi = p.path("multi.tar");
    let fresh = PodmanRs::new(&reg);
    let (o, _) = fresh.ok_both(&["load", "-q", "-i", &s(&multi)]);
    let mut loaded: Vec<&str> = o.lines().collect();
    loaded.sort();
    let mut want = vec![
        format!("Loaded image: {bb}"),
        format!("Loaded image: {layered}"),
        "Loaded image: localhost/second:name".to_string(),
    ];
    want.sort();
    assert_eq!(loaded, want);
    let names = |out: String| {
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    let fmt = "{{.Repository}}:{{.Tag}} {{.ID}}";
    assert_eq!(
        names(fresh.ok(&["images", "--format", fmt])),
        names(p.ok(&["images", "--format", fmt]))
    );
    let podman2 = Podman::new();
    podman2.ok(&["load", "-q", "-i", &s(&multi)]);
    assert_eq!(
        names(podman2.ok(&["images", "--format", fmt])),
        names(p.ok(&["images", "--format", fmt]))
    );

    // OCI formats: extra names ignored without -m, refused with it.
    let oci = p.path("two.oci.tar");
    p.ok(&[
        "save",
        "-q",
        "--format",
        "oci-archive",
        "-o",
        &s(&oci),
        &bb,
        &layered,
    ]);
    let fresh = PodmanRs::new(&reg);
    assert_eq!(
        fresh.ok(&["load", "-q", "-i", &s(&oci)]),
        format!("Loaded image: {bb}\n")
    );
    for format in ["oci-archive", "oci-dir"] {
        let args = [
            "save",
            "-m",
            "--format",
            format,
            "-o",
            "/nonexistent/x",
            &bb,
            &layered,
        ];
        let ours = p.run(&args);
        let theirs = podman.run(&args);
        assert_eq!(
            (ours.status.code(), text(&ours)),
            (theirs.status.code(), text(&theirs)),
            "{format}"
        );
    }
}

#[test]
fn pull_all_tags_pulls_every_tag() {
    require_root();
    let reg = Registry::start();
    let bb = busybox_image();
    let lay = layered_image();
    push_layout(bb.path(), &reg.addr(), "multi:one").expect("push");
    push_layout(bb.path(), &reg.addr(), "multi:two").expect("push");
    push_layout(lay.path(), &reg.addr(), "multi:three").expect("push");
    let listed: Vec<String> = reg
        .get("/v2/multi/tags/list", &[])
        .expect("tags/list")
        .json()
        .expect("json")["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert_eq!(listed.len(), 3);
    let repo = format!("{}/multi", reg.addr());
    let p = PodmanRs::new(&reg);
    let (o, e) = p.ok_both(&["pull", "--all-tags", &repo]);
    let id_of = |tag: &str| {
        let layout = if tag == "three" { &lay } else { &bb };
        layout.images[0]
            .config_digest
            .trim_start_matches("sha256:")
            .to_string()
    };
    // One ID per tag, in the registry's order; progress per tag.
    let want: Vec<String> = listed.iter().map(|t| id_of(t)).collect();
    assert_eq!(o.lines().collect::<Vec<_>>(), want);
    let trying: Vec<&str> = e.lines().filter(|l| l.starts_with("Trying")).collect();
    let want_trying: Vec<String> = listed
        .iter()
        .map(|t| format!("Trying to pull {repo}:{t}..."))
        .collect();
    assert_eq!(trying, want_trying);
    let mut names: Vec<String> = p
        .ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    let mut want_names: Vec<String> = listed.iter().map(|t| format!("{repo}:{t}")).collect();
    want_names.sort();
    assert_eq!(names, want_names);

    // As podman 4.3.1: a tag given with -a is ignored (every tag again), -q
    // prints only the IDs.
    let (o, e) = p.ok_both(&["pull", "-a", "-q", &format!("{repo}:one")]);
    assert_eq!(o.lines().count(), 3, "{o}");
    assert_eq!(e, "");
    // A repository the registry does not know.
    let out = p.run(&["pull", "-a", &format!("{}/nosuch", reg.addr())]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out).1.starts_with("Error: fetching tags list"),
        "{:?}",
        text(&out)
    );
}
