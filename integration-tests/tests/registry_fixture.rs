//! Checks the registry and test-image fixtures themselves: a real
//! docker-registry on 127.0.0.1 (plain, and TLS + basic auth), the offline
//! OCI images pushed to it with skopeo, and the stock podman pulling and
//! running from it. Needs Debian's docker-registry, skopeo, openssl and
//! podman (make deps installs them) and root for `podman run`.

use std::process::{Command, Stdio};

use podman_rs_integration_tests::images::{
    self, busybox_image, layered_image, multiarch_index, push_layout, push_layout_to, LayerEntry,
    OciLayout, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::{capture, require_root, text};
use serde_json::Value;

/// Fetches the manifest/index of `layout` from `reg` by digest and by tag,
/// and checks it is byte-identical to what the layout holds (skopeo
/// --preserve-digests), with all referenced blobs present.
fn check_pushed(reg: &Registry, repo: &str, tag: &str, layout: &OciLayout) {
    let tags = reg.tags(repo).expect("tags/list");
    assert!(
        tags.contains(&tag.to_owned()),
        "{repo}: tags {tags:?} lack {tag}"
    );

    let local = std::fs::read(layout.blob_path(&layout.digest)).expect("local manifest");
    for reference in [layout.digest.as_str(), tag] {
        let resp = reg.manifest(repo, reference).expect("GET manifest");
        assert_eq!(
            resp.status,
            200,
            "GET /v2/{repo}/manifests/{reference}: {}",
            resp.text()
        );
        assert_eq!(resp.digest.as_deref(), Some(layout.digest.as_str()));
        assert_eq!(
            resp.content_type.as_deref(),
            Some(layout.media_type.as_str())
        );
        assert_eq!(
            resp.body, local,
            "{repo}@{reference}: manifest bytes differ"
        );
        assert_eq!(images::sha256_digest(&resp.body), layout.digest);
    }

    let top = reg
        .manifest(repo, &layout.digest)
        .expect("GET manifest")
        .json()
        .expect("manifest json");
    if layout.is_index() {
        let listed: Vec<(String, String)> = top["manifests"]
            .as_array()
            .expect("index manifests")
            .iter()
            .map(|m| {
                (
                    m["digest"].as_str().unwrap_or_default().to_owned(),
                    m["platform"]["architecture"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = layout
            .images
            .iter()
            .map(|i| (i.manifest_digest.clone(), i.architecture.clone()))
            .collect();
        assert_eq!(listed, want);
    }
    for img in &layout.images {
        let resp = reg
            .manifest(repo, &img.manifest_digest)
            .expect("GET image manifest");
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.content_type.as_deref(), Some(MEDIA_TYPE_MANIFEST));
        let m: Value = resp.json().expect("manifest json");
        assert_eq!(m["config"]["digest"], img.config_digest.as_str());
        let layers: Vec<&str> = m["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .filter_map(|l| l["digest"].as_str())
            .collect();
        assert_eq!(layers, img.layer_digests);

        let cfg = reg.blob(repo, &img.config_digest).expect("GET config");
        assert_eq!(cfg.status, 200, "{}", cfg.text());
        assert_eq!(images::sha256_digest(&cfg.body), img.config_digest);
        let cfg = cfg.json().expect("config json");
        assert_eq!(cfg["architecture"], img.architecture.as_str());
        assert_eq!(cfg["os"], "linux");
        assert_eq!(cfg["created"], images::CREATED);
        assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(cfg["config"]["Env"], serde_json::json!([images::PATH_ENV]));
        assert_eq!(cfg["rootfs"]["diff_ids"], serde_json::json!(img.diff_ids));
        assert_eq!(
            cfg["history"].as_array().map(Vec::len),
            Some(img.layer_digests.len())
        );
        for d in &img.layer_digests {
            let blob = reg.blob(repo, d).expect("GET layer");
            assert_eq!(blob.status, 200, "layer {d}");
            assert_eq!(&images::sha256_digest(&blob.body), d);
        }
    }
}

/// The names in a layer tar (from the layout's blob), to check whiteouts.
fn tar_names(layout: &OciLayout, digest: &str) -> Vec<String> {
    let f = std::fs::File::open(layout.blob_path(digest)).expect("layer blob");
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    ar.entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn layouts_are_well_formed() {
    let bb = busybox_image();
    assert_eq!(bb.images.len(), 1);
    assert_eq!(bb.images[0].layer_digests.len(), 1);
    let names = tar_names(&bb, &bb.images[0].layer_digests[0]);
    for want in ["bin/busybox", "bin/sh", "etc/passwd", "tmp/"] {
        assert!(
            names.iter().any(|n| n == want),
            "busybox layer lacks {want}"
        );
    }

    let layered = layered_image();
    let img = &layered.images[0];
    assert_eq!(img.layer_digests.len(), 2);
    assert_eq!(img.diff_ids.len(), 2);
    let top = tar_names(&layered, &img.layer_digests[1]);
    assert!(top.iter().any(|n| n == "etc/.wh.b"), "{top:?}");
    assert!(top.iter().any(|n| n == "dir/.wh..wh..opq"), "{top:?}");
    assert!(top.iter().any(|n| n == "dir/z"), "{top:?}");
    let base = tar_names(&layered, &img.layer_digests[0]);
    for want in ["etc/a", "etc/b", "dir/x", "dir/y"] {
        assert!(base.iter().any(|n| n == want), "{base:?}");
    }
    assert_eq!(
        img.layers[1][1],
        LayerEntry::file("etc/.wh.b", Vec::<u8>::new())
    );

    let idx = multiarch_index();
    assert_eq!(idx.media_type, MEDIA_TYPE_INDEX);
    let archs: Vec<&str> = idx.images.iter().map(|i| i.architecture.as_str()).collect();
    assert_eq!(archs, ["amd64", "arm64"]);
    let arm = idx.image("arm64").expect("arm64");
    assert!(tar_names(&idx, &arm.layer_digests[0])
        .iter()
        .any(|n| n == images::ARM64_MARKER.0));

    // Deterministic: the same image twice has the same digest.
    assert_eq!(layered_image().digest, layered.digest);
    assert_eq!(busybox_image().digest, bb.digest);
}

#[test]
fn plain_registry_push_and_fetch() {
    let reg = Registry::start();
    let root = reg.get("/v2/", &[]).expect("GET /v2/");
    assert_eq!(root.status, 200, "{}", root.text());

    let bb = busybox_image();
    let layered = layered_image();
    let idx = multiarch_index();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    push_layout(bb.path(), &reg.addr(), "busybox:v1").expect("push busybox:v1");
    push_layout(layered.path(), &reg.addr(), "test/layered:2layers").expect("push layered");
    push_layout(idx.path(), &reg.addr(), "multi:latest").expect("push index");

    assert_eq!(
        reg.tags("busybox").expect("tags"),
        ["latest".to_owned(), "v1".to_owned()]
    );
    check_pushed(&reg, "busybox", "latest", &bb);
    check_pushed(&reg, "test/layered", "2layers", &layered);
    check_pushed(&reg, "multi", "latest", &idx);

    let catalog = reg
        .get("/v2/_catalog", &[])
        .expect("catalog")
        .json()
        .expect("catalog json");
    let repos = catalog["repositories"].as_array().expect("repositories");
    for r in ["busybox", "multi", "test/layered"] {
        assert!(repos.iter().any(|x| x == r), "catalog {catalog}");
    }

    // Unknown things are 404s, and deletes are enabled.
    let missing = reg.manifest("busybox", "nope").expect("GET");
    assert_eq!(missing.status, 404);
    let del = reg
        .delete(&format!("/v2/busybox/manifests/{}", bb.digest))
        .expect("DELETE");
    assert_eq!(del.status, 202, "{}", del.text());
    assert_eq!(
        reg.manifest("busybox", &bb.digest).expect("GET").status,
        404
    );
}

#[test]
fn tls_auth_registry() {
    let reg = Registry::start_tls_auth("tester", "s3cret pass");
    assert!(reg.is_tls());
    assert!(reg.url("/v2/").starts_with("https://127.0.0.1:"));
    let ca = reg.ca_cert().expect("ca cert");
    assert!(std::fs::read_to_string(ca)
        .expect("ca")
        .contains("BEGIN CERTIFICATE"));

    let anon = reg.get_unauthenticated("/v2/").expect("GET /v2/");
    assert_eq!(anon.status, 401, "{}", anon.text());
    assert!(
        anon.www_authenticate
            .as_deref()
            .is_some_and(|h| h.starts_with("Basic")),
        "{anon:?}"
    );
    let authed = reg.get("/v2/", &[]).expect("GET /v2/");
    assert_eq!(authed.status, 200, "{}", authed.text());
    let wrong = reg.get_as("/v2/", "tester", "wrong").expect("GET /v2/");
    assert_eq!(wrong.status, 401);

    let bb = busybox_image();
    // Without credentials skopeo is refused…
    let err = push_layout(bb.path(), &reg.addr(), "busybox:latest")
        .expect_err("push without creds must fail");
    assert!(
        err.to_string().contains("unauthorized") || err.to_string().contains("401"),
        "{err}"
    );
    // …with them (and the test CA, TLS verified) it works.
    push_layout_to(bb.path(), &reg, "busybox:latest").expect("push with creds");
    check_pushed(&reg, "busybox", "latest", &bb);
    let anon = reg
        .get_unauthenticated("/v2/busybox/tags/list")
        .expect("GET");
    assert_eq!(anon.status, 401);
}

/// podman with private storage, a cgroupfs manager and file events, so it
/// needs neither systemd nor the host's containers.
struct Podman {
    dir: tempfile::TempDir,
}

impl Podman {
    fn new() -> Podman {
        Podman {
            dir: tempfile::Builder::new()
                .prefix("podman-rs-podman-")
                .tempdir()
                .expect("tempdir"),
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let d = self.dir.path();
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args([
                "--storage-driver=vfs",
                "--cgroup-manager=cgroupfs",
                "--events-backend=file",
            ])
            .args(args)
            .env("XDG_RUNTIME_DIR", d.join("xdg"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .stdin(Stdio::null());
        let out = capture(c);
        let (o, e) = text(&out);
        (out.status.success(), o, e)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force"]);
        let _ = self.run(&["rmi", "--all", "--force"]);
    }
}

#[test]
fn podman_pulls_and_runs_from_plain_registry() {
    require_root();
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");

    let p = Podman::new();
    let image = format!("{}/busybox:latest", reg.addr());
    let (ok, out, err) = p.run(&["pull", "--tls-verify=false", &image]);
    assert!(
        ok,
        "podman pull failed: {out}{err}\nregistry log: {}",
        reg.log()
    );
    let (ok, out, err) = p.run(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), bb.digest);

    let (ok, out, err) = p.run(&[
        "run",
        "--rm",
        "--network=none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        &image,
        "echo",
        "hi",
    ]);
    assert!(ok, "podman run failed: {out}{err}");
    assert_eq!(out.trim(), "hi", "stderr: {err}");
}

#[test]
fn podman_pulls_from_tls_auth_registry() {
    require_root();
    let reg = Registry::start_tls_auth("puller", "pw");
    let bb = busybox_image();
    push_layout_to(bb.path(), &reg, "busybox:latest").expect("push busybox");

    let p = Podman::new();
    let image = format!("{}/busybox:latest", reg.addr());
    let cert_dir = reg.cert_dir().expect("cert dir").display().to_string();
    let (ok, out, err) = p.run(&["pull", "--cert-dir", &cert_dir, &image]);
    assert!(!ok, "pull without creds must fail: {out}");
    let creds = reg.creds_arg().expect("creds");
    let (ok, out, err2) = p.run(&["pull", "--cert-dir", &cert_dir, "--creds", &creds, &image]);
    assert!(
        ok,
        "podman pull with creds failed: {out}{err2}\n(without: {err})"
    );
    let (ok, out, err) = p.run(&["image", "inspect", "--format", "{{.Digest}}", &image]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), bb.digest);
}

impl Podman {
    /// The paths in the filesystem of a container created from `image`
    /// (`podman create` + `podman export`), without leading "./" or "/".
    fn rootfs_names(&self, image: &str) -> Vec<String> {
        let (ok, id, err) = self.run(&["create", image]);
        assert!(ok, "podman create {image}: {err}");
        let tar_path = self.dir.path().join("export.tar");
        let dest = tar_path.display().to_string();
        let (ok, _, err) = self.run(&["export", "-o", &dest, id.trim()]);
        assert!(ok, "podman export: {err}");
        let f = std::fs::File::open(&tar_path).expect("export tar");
        let mut names: Vec<String> = tar::Archive::new(f)
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                let p = e.path().expect("path").to_string_lossy().into_owned();
                p.trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/')
                    .to_owned()
            })
            .collect();
        names.sort();
        let _ = self.run(&["rm", "--force", id.trim()]);
        names
    }
}

#[test]
fn podman_applies_whiteouts_and_picks_platforms() {
    require_root();
    let reg = Registry::start();
    let layered = layered_image();
    let idx = multiarch_index();
    push_layout(layered.path(), &reg.addr(), "layered:latest").expect("push layered");
    push_layout(idx.path(), &reg.addr(), "multi:latest").expect("push index");
    let p = Podman::new();

    // The whiteout removes /etc/b; the opaque marker hides /dir/{x,y}.
    let image = format!("{}/layered:latest", reg.addr());
    let (ok, out, err) = p.run(&["pull", "--tls-verify=false", &image]);
    assert!(ok, "podman pull layered: {out}{err}");
    let names = p.rootfs_names(&image);
    for want in ["etc/a", "dir/z"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    for gone in ["etc/b", "dir/x", "dir/y"] {
        assert!(
            !names.iter().any(|n| n == gone),
            "{gone} present: {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");

    // Each platform of the index resolves to its own image.
    let multi = format!("{}/multi:latest", reg.addr());
    for (arch, img) in [("amd64", &idx.images[0]), ("arm64", &idx.images[1])] {
        let (ok, out, err) = p.run(&[
            "pull",
            "--tls-verify=false",
            "--os=linux",
            "--arch",
            arch,
            &multi,
        ]);
        assert!(ok, "podman pull --arch {arch}: {out}{err}");
        let (ok, out, err) = p.run(&[
            "image",
            "inspect",
            "--format",
            "{{.Architecture}} {{.Id}}",
            &multi,
        ]);
        assert!(ok, "{err}");
        // The image ID is the config digest's hex.
        let id = img.config_digest.trim_start_matches("sha256:");
        assert_eq!(out.trim(), format!("{arch} {id}"));
        let names = p.rootfs_names(&multi);
        let has_marker = names.iter().any(|n| n == images::ARM64_MARKER.0);
        assert_eq!(has_marker, arch == "arm64", "{arch}: {names:?}");
    }
}
