//! End-to-end tests of the image verbs (`pull`, `images`, `image inspect`,
//! `tag`, `untag`, `rmi`, `image exists`) against a docker-registry on
//! 127.0.0.1 holding the offline test images, compared with Podman 4.3.1
//! (the stock `podman`, with its own temporary root) where it has an
//! answer. Needs root (overlay mounts, podman), docker-registry, skopeo.

use std::path::Path;
use std::process::{Command, Stdio};

use podman_rs_integration_tests::images::{
    busybox_image, layered_image, multiarch_index, push_layout, ARM64_MARKER,
};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::side_by_side::{Podman, PodmanRs};
use podman_rs_integration_tests::{require_root, text};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn registry_with_busybox() -> (Registry, podman_rs_integration_tests::images::OciLayout) {
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    (reg, bb)
}

#[test]
fn pull_by_tag_lists_and_inspects_like_podman() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let config = &bb.images[0].config_digest;

    let p = PodmanRs::new(&reg);
    let out = p.run(&["pull", "--tls-verify=false", &image]);
    let (o, e) = text(&out);
    assert!(out.status.success(), "pull failed: {o}{e}\n{}", reg.log());
    assert_eq!(o.trim(), hex(config), "pull prints the image ID");

    let podman = Podman::new();
    let pm = podman.run(&["pull", "--tls-verify=false", &image]);
    let (po, pe) = text(&pm);
    assert!(pm.status.success(), "podman pull: {pe}");
    assert_eq!(o, po, "same image ID as podman");
    assert_eq!(e, pe, "same progress lines as podman (non-TTY)");

    // -q: only the ID.
    let out = p.run(&["pull", "-q", "--tls-verify=false", &image]);
    assert_eq!(text(&out), (format!("{}\n", hex(config)), String::new()));

    // images: table, -q, --no-trunc --digests, templates, json.
    for args in [
        &["images"][..],
        &["images", "--digests", "--no-trunc"],
        &["image", "ls", "--noheading"],
    ] {
        assert_eq!(p.ok(args), podman.ok(args), "{args:?}");
    }
    for args in [
        &["images", "-q"][..],
        &["images", "-q", "--no-trunc"],
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
        &["images", "--format", "{{.ID}} {{.Digest}} {{.CreatedAt}}"],
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{.Digest}} {{.Architecture}}",
            &image,
        ],
    ] {
        assert_eq!(p.ok(args), podman.ok(args), "{args:?}");
    }
    let ours = json(&p.ok(&["images", "--format", "json"]));
    let theirs = json(&podman.ok(&["images", "--format", "json"]));
    for k in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Names",
        "Digest",
        "Created",
        "CreatedAt",
        "History",
        "Size",
    ] {
        assert_eq!(ours[0][k], theirs[0][k], "images json {k}");
    }

    // image inspect: the main fields equal podman's.
    let ours = json(&p.ok(&["image", "inspect", &image]));
    let theirs = json(&podman.ok(&["image", "inspect", &image]));
    for k in [
        "Id",
        "Digest",
        "RepoTags",
        "RepoDigests",
        "Created",
        "Config",
        "Architecture",
        "Os",
        "RootFS",
        "Size",
        "History",
        "Author",
        "Comment",
        "ManifestType",
        "NamesHistory",
    ] {
        assert_eq!(ours[0][k], theirs[0][k], "inspect {k}");
    }
    // Short names resolve through registries.conf and local lookup.
    assert_eq!(
        json(&p.ok(&["image", "inspect", "busybox"]))[0]["Id"],
        hex(config)
    );

    // Pulling again (here through a short name, resolved by the
    // unqualified-search registry of registries.conf) stores nothing new.
    push_layout(bb.path(), &reg.addr(), "rs-test/bbox:latest").expect("push");
    let before = p.stored();
    let out = p.run(&["pull", "rs-test/bbox"]);
    let (o, e) = text(&out);
    assert_eq!(o.trim(), hex(config), "{e}");
    assert!(
        e.starts_with(&format!(
            "Trying to pull {}/rs-test/bbox:latest...\n",
            reg.addr()
        )) && e.contains("skipped: already exists"),
        "{e}"
    );
    assert_eq!(p.stored(), before);
    assert_eq!(before.1.len(), 1, "one layer: {before:?}");
    // manifest, config, one layer blob
    assert_eq!(before.0.len(), 3, "blobs: {before:?}");
}

#[test]
fn pull_by_digest() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox@{}", reg.addr(), bb.digest);
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    let ours = p.ok(&["pull", "-q", "--tls-verify=false", &image]);
    let theirs = podman.ok(&["pull", "-q", "--tls-verify=false", &image]);
    assert_eq!(ours, theirs);
    assert_eq!(ours.trim(), hex(&bb.images[0].config_digest));
    let ours = json(&p.ok(&["image", "inspect", &image]));
    let theirs = json(&podman.ok(&["image", "inspect", &image]));
    for k in ["Id", "Digest", "RepoDigests"] {
        assert_eq!(ours[0][k], theirs[0][k], "inspect {k}");
    }
    assert_eq!(ours[0]["Digest"], bb.digest.as_str());
    p.ok(&["image", "exists", &image]);
}

/// chain ID of a layer over its parent (OCI image spec).
fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(p) => format!("sha256:{}", hex::encode(Sha256::digest(format!("{p} {d}")))),
        };
        out.push(next);
    }
    out
}

mod hex {
    pub fn encode(b: impl AsRef<[u8]>) -> String {
        b.as_ref().iter().map(|x| format!("{x:02x}")).collect()
    }
}

/// Mounts the layer dirs (base first) as a read-only overlay, as
/// rootfs's OverlayMount does (two lowerdirs, top-most first), and lists it.
fn overlay_names(root: &Path, chain: &[String]) -> Vec<String> {
    let target = tempfile::tempdir().expect("target");
    let lower: Vec<String> = chain
        .iter()
        .rev()
        .map(|c| {
            root.join("layers")
                .join(hex_of(c))
                .join("diff")
                .display()
                .to_string()
        })
        .collect();
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!("ro,lowerdir={}", lower.join(":")))
        .arg(target.path())
        .status()
        .expect("mount");
    assert!(st.success(), "mounting the overlay");
    let mut names = Vec::new();
    for d in ["etc", "dir"] {
        let mut v: Vec<String> = std::fs::read_dir(target.path().join(d))
            .expect("read_dir")
            .flatten()
            .map(|e| format!("{d}/{}", e.file_name().to_string_lossy()))
            .collect();
        v.sort();
        names.extend(v);
    }
    let _ = Command::new("umount").arg(target.path()).status();
    names
}

fn hex_of(d: &str) -> &str {
    hex(d)
}

#[test]
fn layered_pull_stacks_with_whiteouts() {
    require_root();
    let reg = Registry::start();
    let layout = layered_image();
    push_layout(layout.path(), &reg.addr(), "layered:v1").expect("push");
    let p = PodmanRs::new(&reg);
    let id = p.ok(&["pull", "-q", &format!("{}/layered:v1", reg.addr())]);
    assert_eq!(id.trim(), hex(&layout.images[0].config_digest));
    let inspect = json(&p.ok(&["image", "inspect", &id.trim()[..12]]));
    let diff_ids: Vec<String> = inspect[0]["RootFS"]["Layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(diff_ids, layout.images[0].diff_ids);
    let chain = chain_ids(&diff_ids);
    assert_eq!(p.stored().1.len(), 2);
    assert_eq!(overlay_names(&p.root(), &chain), ["etc/a", "dir/z"]);
}

#[test]
fn multiarch_pull_picks_the_requested_platform() {
    require_root();
    let reg = Registry::start();
    let index = multiarch_index();
    push_layout(index.path(), &reg.addr(), "multi:latest").expect("push");
    let image = format!("{}/multi:latest", reg.addr());
    let arm64 = index.image("arm64").expect("arm64 image");

    let p = PodmanRs::new(&reg);
    let id = p.ok(&["pull", "-q", "--arch", "arm64", &image]);
    assert_eq!(id.trim(), hex(&arm64.config_digest));
    let podman = Podman::new();
    assert_eq!(
        id,
        podman.ok(&[
            "pull",
            "-q",
            "--tls-verify=false",
            "--arch",
            "arm64",
            &image
        ])
    );
    let ours = json(&p.ok(&["image", "inspect", &image]));
    assert_eq!(ours[0]["Architecture"], "arm64");
    // Podman records an image pulled through an index under the index digest.
    assert_eq!(ours[0]["Digest"], index.digest.as_str());
    let theirs = json(&podman.ok(&["image", "inspect", &image]));
    for k in ["Id", "Digest", "RepoDigests", "Architecture", "Size"] {
        assert_eq!(ours[0][k], theirs[0][k], "inspect {k}");
    }
    // The arm64 layer holds the marker.
    let layers = p.stored().1;
    assert_eq!(layers.len(), 1);
    let marker = p
        .root()
        .join("layers")
        .join(&layers[0])
        .join("diff")
        .join(ARM64_MARKER.0);
    assert_eq!(
        std::fs::read_to_string(marker).expect("marker"),
        ARM64_MARKER.1
    );

    // --platform linux/arm64 is the same; the host default is amd64 (or arm64).
    let host = podman_rs_integration_tests::images::host_arch();
    let p2 = PodmanRs::new(&reg);
    let id = p2.ok(&["pull", "-q", &image]);
    assert_eq!(
        id.trim(),
        hex(&index.image(host).expect("host image").config_digest)
    );
    let p3 = PodmanRs::new(&reg);
    let id = p3.ok(&["pull", "-q", "--platform", "linux/arm64", &image]);
    assert_eq!(id.trim(), hex(&arm64.config_digest));
    // No such platform: 125 naming what is available.
    let out = p3.run(&["pull", "-q", "--arch", "s390x", &image]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{e}");
    assert!(e.starts_with("Error: ") && e.contains("s390x"), "{e}");
}

#[test]
fn tampered_blob_fails_and_stores_nothing() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let layer = &bb.images[0].layer_digests[0];
    let h = hex(layer);
    let data = reg
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&h[..2])
        .join(h)
        .join("data");
    let mut bytes = std::fs::read(&data).expect("registry blob");
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&data, &bytes).expect("tamper");

    let p = PodmanRs::new(&reg);
    let out = p.run(&["pull", &format!("{}/busybox:latest", reg.addr())]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{o}{e}");
    assert!(o.is_empty(), "{o}");
    assert!(
        e.contains("Error: ") && e.contains("digest mismatch"),
        "{e}"
    );
    assert_eq!(p.ok(&["images", "-q"]), "");
    assert_eq!(p.stored(), (vec![], vec![]), "nothing stored");

    // A bad reference and a missing image are 125 as well, with Podman's text.
    let out = p.run(&["pull", "bad::ref"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out).1.starts_with("Error: invalid reference format"),
        "{:?}",
        text(&out)
    );
    let missing = format!("{}/nosuch:latest", reg.addr());
    let out = p.run(&["pull", &missing]);
    let podman = Podman::new();
    let pm = podman.run(&["pull", "--tls-verify=false", &missing]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(pm.status.code(), Some(125));
    let (_, e) = text(&out);
    assert!(e.contains(&format!("Trying to pull {missing}...")), "{e}");
    assert!(e.contains(&format!("Error: initializing source docker://{missing}: reading manifest latest in {}/nosuch: manifest unknown", reg.addr())), "{e}");
}

#[test]
fn tag_untag_rmi_exists_round_trip() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let id = hex(&bb.images[0].config_digest).to_string();
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    p.ok(&["pull", "-q", &image]);
    podman.ok(&["pull", "-q", "--tls-verify=false", &image]);

    // Same exit codes and stderr as podman, step by step.
    let steps: &[&[&str]] = &[
        &["image", "exists", &image],
        &["image", "exists", "nosuch"],
        &["image", "inspect", "nosuch"],
        &["tag", "nosuch", "x"],
        &["tag", &image, "foo", "quay.io/x/y:z"],
        &["image", "exists", "foo"],
        &["image", "exists", "localhost/foo:latest"],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &["untag", &image, "foo:bar"],
        &["untag", &image, "foo"],
        &["image", "exists", "foo"],
        &["rmi", "nosuch"],
        &["rmi", "quay.io/x/y:z"],
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
        &["tag", &image, "again"],
        &["rmi", &id[..12]],
        &["rmi", "-f", &id[..12]],
        &["images", "-q"],
        &["image", "exists", &id],
    ];
    for args in steps {
        let ours = p.run(args);
        let theirs = podman.run(args);
        assert_eq!(
            (ours.status.code(), text(&ours)),
            (theirs.status.code(), text(&theirs)),
            "{args:?}"
        );
    }
    assert_eq!(p.stored(), (vec![], vec![]), "rmi removed blobs and layers");
}

#[test]
fn concurrent_pulls_both_succeed_with_one_copy() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let p = PodmanRs::new(&reg);
    let children: Vec<_> = (0..2)
        .map(|_| {
            p.cmd(&["pull", "-q", &image])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        let (o, e) = text(&out);
        assert!(out.status.success(), "{o}{e}");
        assert_eq!(o.trim(), hex(&bb.images[0].config_digest));
    }
    assert_eq!(p.ok(&["images", "-q"]).lines().count(), 1);
    let (blobs, layers) = p.stored();
    assert_eq!((blobs.len(), layers.len()), (3, 1), "{blobs:?} {layers:?}");
}

#[test]
fn pull_with_creds_and_cert_dir_from_tls_registry() {
    require_root();
    let reg = Registry::start_tls_auth("puller", "s3cret pass");
    let bb = busybox_image();
    podman_rs_integration_tests::images::push_layout_to(bb.path(), &reg, "private/bb:1")
        .expect("push");
    let image = format!("{}/private/bb:1", reg.addr());
    let cert_dir = reg.cert_dir().expect("cert dir").display().to_string();
    let p = PodmanRs::new(&reg);
    // Without credentials: refused, nothing stored.
    let out = p.run(&[
        "pull",
        "-q",
        "--tls-verify=true",
        "--cert-dir",
        &cert_dir,
        &image,
    ]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{e}");
    assert!(e.contains("unauthorized"), "{e}");
    assert_eq!(p.stored(), (vec![], vec![]));
    let creds = reg.creds_arg().expect("creds");
    let id = p.ok(&[
        "pull",
        "-q",
        "--tls-verify=true",
        "--cert-dir",
        &cert_dir,
        "--creds",
        &creds,
        &image,
    ]);
    assert_eq!(id.trim(), hex(&bb.images[0].config_digest));
    // --all-tags is refused for now (no tags/list in the client yet).
    let out = p.run(&["pull", "--all-tags", &format!("{}/private/bb", reg.addr())]);
    assert_eq!(out.status.code(), Some(125));
}
