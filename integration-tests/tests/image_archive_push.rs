//! End-to-end tests of `save`, `load`, `push` and `history` against a docker-registry
//! on 127.0.0.1 holding the offline busybox test image, compared with
//! Podman 4.3.1 (the stock `podman`, with its own temporary root): archives
//! go both ways between the two, and what podman-rs pushes podman pulls.
//! Needs root, docker-registry, skopeo and podman.

use std::path::Path;

use podman_rs_integration_tests::images::{
    busybox_image, layered_image, multiarch_index, push_layout, OciLayout,
};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::side_by_side::{Podman, PodmanRs};
use podman_rs_integration_tests::{capture, require_root, text};

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn registry_with_busybox() -> (Registry, OciLayout) {
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push busybox");
    (reg, bb)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn save_and_load_round_trip_in_every_format() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let id = hex(&bb.images[0].config_digest).to_string();
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    p.ok_both(&["pull", "-q", &image]);
    podman.ok_both(&["pull", "-q", "--tls-verify=false", &image]);

    for format in ["docker-archive", "oci-archive", "oci-dir"] {
        let dest = p.path(&format!("saved-{format}"));
        let (o, e) = p.ok_both(&["save", "--format", format, "-o", &s(&dest), &image]);
        assert_eq!(o, "", "{format}: nothing on stdout");
        // Same progress lines as podman saving the same image.
        let theirs = podman.path(&format!("saved-{format}"));
        let (po, pe) = podman.ok_both(&["save", "--format", format, "-o", &s(&theirs), &image]);
        assert_eq!(
            (o.as_str(), e.as_str()),
            (po.as_str(), pe.as_str()),
            "{format}"
        );
        // -q: silent.
        let quiet = p.path(&format!("quiet-{format}"));
        assert_eq!(
            p.ok_both(&["save", "-q", "--format", format, "-o", &s(&quiet), &image]),
            (String::new(), String::new())
        );

        p.ok_both(&["rmi", &image]);
        assert_eq!(p.ok_both(&["images", "-q"]).0, "");
        let (o, e) = p.ok_both(&["load", "-i", &s(&dest)]);
        assert_eq!(o, format!("Loaded image: {image}\n"), "{format}: {e}");
        assert!(
            e.starts_with("Getting image source signatures\n")
                && e.ends_with("Writing manifest to image destination\nStoring signatures\n"),
            "{format}: {e}"
        );
        assert_eq!(
            p.ok_both(&["images", "-q", "--no-trunc"]).0,
            format!("sha256:{id}\n")
        );
        // Loading again (quietly) stores nothing new.
        assert_eq!(
            p.ok_both(&["load", "-q", "-i", &s(&dest)]),
            (format!("Loaded image: {image}\n"), String::new())
        );
    }

    // Without -o: the archive goes to stdout; load reads stdin.
    let piped = p.path("piped.tar");
    let st = p
        .cmd(&["save", &image])
        .stdout(std::fs::File::create(&piped).expect("create"))
        .status()
        .expect("save");
    assert!(st.success());
    p.ok_both(&["rmi", &image]);
    let out = capture({
        let mut c = p.cmd(&["load", "-q"]);
        c.stdin(std::fs::File::open(&piped).expect("open"));
        c
    });
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0, format!("Loaded image: {image}\n"));

    // Saved by ID: loaded without a name, reported by ID (as podman).
    let by_id = p.path("by-id.tar");
    p.ok_both(&["save", "-q", "-o", &s(&by_id), &id[..12]]);
    p.ok_both(&["rmi", &image]);
    assert_eq!(
        p.ok_both(&["load", "-q", "-i", &s(&by_id)]).0,
        format!("Loaded image: sha256:{id}\n")
    );

    // Errors: same exit codes and messages as podman.
    let missing = p.path("nosuch.tar");
    for args in [
        vec!["save", "-o", &s(&by_id), "nosuch"],
        vec!["save", "--format", "bogus", "-o", &s(&by_id), &id[..12]],
        vec!["load", "-i", &s(&missing)],
    ] {
        let ours = p.run(&args);
        let theirs = podman.run(&args);
        assert_eq!(
            (ours.status.code(), text(&ours)),
            (theirs.status.code(), text(&theirs)),
            "{args:?}"
        );
    }
}

#[test]
fn archives_cross_load_with_podman() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let id = hex(&bb.images[0].config_digest).to_string();
    let podman = Podman::new();
    podman.ok_both(&["pull", "-q", "--tls-verify=false", &image]);

    for format in ["docker-archive", "oci-archive"] {
        // podman's archive into podman-rs.
        let theirs = podman.path(&format!("saved-{format}"));
        podman.ok_both(&["save", "-q", "--format", format, "-o", &s(&theirs), &image]);
        let p = PodmanRs::new(&reg);
        let (o, e) = p.ok_both(&["load", "-i", &s(&theirs)]);
        assert_eq!(o, format!("Loaded image: {image}\n"), "{format}: {e}");
        assert_eq!(
            p.ok_both(&["images", "-q", "--no-trunc"]).0,
            format!("sha256:{id}\n"),
            "{format}"
        );

        // podman-rs's archive (of an image it pulled) into podman.
        let q = PodmanRs::new(&reg);
        q.ok_both(&["pull", "-q", &image]);
        let ours = q.path(&format!("ours-{format}"));
        q.ok_both(&["save", "-q", "--format", format, "-o", &s(&ours), &image]);
        let fresh = Podman::new();
        let (o, e) = fresh.ok_both(&["load", "-i", &s(&ours)]);
        assert_eq!(o, format!("Loaded image: {image}\n"), "{format}: {e}");
        assert_eq!(
            fresh.ok_both(&["images", "-q", "--no-trunc"]).0,
            format!("sha256:{id}\n"),
            "{format}"
        );
        // The same load output as podman's own archive gives.
        let own = Podman::new();
        assert_eq!(
            own.ok_both(&["load", "-q", "-i", &s(&theirs)]).0,
            fresh.ok_both(&["load", "-q", "-i", &s(&ours)]).0
        );
    }
}

#[test]
fn push_to_another_repository_and_pull_back_with_podman() {
    require_root();
    let (reg, bb) = registry_with_busybox();
    let image = format!("{}/busybox:latest", reg.addr());
    let id = hex(&bb.images[0].config_digest).to_string();
    let diff_id = &bb.images[0].diff_ids[0];
    let p = PodmanRs::new(&reg);
    p.ok_both(&["pull", "-q", &image]);

    // A new repository: every blob is uploaded.
    let dest = format!("{}/copies/bb:v2", reg.addr());
    let (o, e) = p.ok_both(&["push", "--tls-verify=false", &image, &dest]);
    assert_eq!(o, "");
    assert_eq!(
        e,
        format!(
            "Getting image source signatures\nCopying blob {diff_id}\nCopying config sha256:{id}\nWriting manifest to image destination\nStoring signatures\n"
        )
    );
    assert_eq!(reg.tags("copies/bb").expect("tags"), vec!["v2".to_string()]);

    // Again, as docker://: the registry has the blobs now.
    let (o, e) = p.ok_both(&["push", &image, &format!("docker://{dest}")]);
    assert_eq!(o, "");
    assert!(
        e.contains(&format!("Copying blob {diff_id} skipped: already exists\n")),
        "{e}"
    );
    // -q: silent; no destination: the image's own name.
    assert_eq!(
        p.ok_both(&["push", "-q", &image]),
        (String::new(), String::new())
    );

    // podman pulls what podman-rs pushed: the same image.
    let podman = Podman::new();
    let (o, _) = podman.ok_both(&["pull", "-q", "--tls-verify=false", &dest]);
    assert_eq!(o, format!("{id}\n"));

    // An unknown image: 125, as podman.
    let out = p.run(&["push", "nosuch", &dest]);
    let theirs = podman.run(&["push", "--tls-verify=false", "nosuch", &dest]);
    assert_eq!(out.status.code(), Some(125), "{:?}", text(&out));
    assert_eq!(theirs.status.code(), Some(125));
    assert_eq!(text(&out).1, "Error: nosuch: image not known\n");

    // An image pulled through an index: its platform's manifest is pushed.
    let index = multiarch_index();
    push_layout(index.path(), &reg.addr(), "multi:latest").expect("push index");
    let arm64 = hex(&index.image("arm64").expect("arm64").config_digest).to_string();
    p.ok_both(&[
        "pull",
        "-q",
        "--arch",
        "arm64",
        &format!("{}/multi:latest", reg.addr()),
    ]);
    let single = format!("{}/copies/arm64:1", reg.addr());
    p.ok_both(&["push", "-q", &arm64[..12], &single]);
    let q = PodmanRs::new(&reg);
    assert_eq!(q.ok_both(&["pull", "-q", &single]).0, format!("{arm64}\n"));
}

#[test]
fn history_reads_like_podmans() {
    require_root();
    let (reg, _bb) = registry_with_busybox();
    let layout = layered_image();
    push_layout(layout.path(), &reg.addr(), "layered:v1").expect("push");
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    for image in [
        format!("{}/busybox:latest", reg.addr()),
        format!("{}/layered:v1", reg.addr()),
    ] {
        p.ok_both(&["pull", "-q", &image]);
        podman.ok_both(&["pull", "-q", "--tls-verify=false", &image]);
        for args in [
            vec!["history", &image],
            vec!["history", "--no-trunc", &image],
            vec!["history", "-q", &image],
            vec![
                "history",
                "--format",
                "{{.ID}} {{.Size}} {{.CreatedBy}}",
                &image,
            ],
            vec![
                "history",
                "--format",
                "table {{.ID}}\t{{.CreatedBy}}",
                &image,
            ],
            vec!["image", "history", "nosuch"],
        ] {
            let ours = p.run(&args);
            let theirs = podman.run(&args);
            assert_eq!(
                (ours.status.code(), text(&ours)),
                (theirs.status.code(), text(&theirs)),
                "{args:?}"
            );
            assert_eq!(
                ours.status.success(),
                args.last() != Some(&"nosuch"),
                "{args:?}"
            );
        }
    }
    // Two layers: the older entry is <missing>.
    let q = p
        .ok_both(&["history", "-q", &format!("{}/layered:v1", reg.addr())])
        .0;
    assert_eq!(q.lines().nth(1), Some("<missing>"), "{q}");
}

#[test]
fn multi_image_archive_holds_several_images() {
    require_root();
    let (reg, _bb) = registry_with_busybox();
    let layout = layered_image();
    push_layout(layout.path(), &reg.addr(), "layered:v1").expect("push");
    let busybox = format!("{}/busybox:latest", reg.addr());
    let layered = format!("{}/layered:v1", reg.addr());
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    for i in [&busybox, &layered] {
        p.ok_both(&["pull", "-q", i]);
        podman.ok_both(&["pull", "-q", "--tls-verify=false", i]);
    }
    let archive = p.path("multi.tar");
    p.ok_both(&["save", "-q", "-m", "-o", &s(&archive), &busybox, &layered]);
    let expected = format!("Loaded image: {busybox}\nLoaded image: {layered}\n");
    // podman loads both.
    let fresh = Podman::new();
    assert_eq!(
        fresh.ok_both(&["load", "-q", "-i", &s(&archive)]).0,
        expected
    );
    // And so does podman-rs, after removing them.
    p.ok_both(&["rmi", &busybox, &layered]);
    assert_eq!(p.ok_both(&["load", "-q", "-i", &s(&archive)]).0, expected);
    assert_eq!(p.ok_both(&["images", "-q"]).0.lines().count(), 2);

    // Several images in an OCI archive: refused, as podman does.
    let oci = p.path("multi-oci.tar");
    let args = [
        "save",
        "-q",
        "-m",
        "--format",
        "oci-archive",
        "-o",
        &s(&oci),
        &busybox,
        &layered,
    ];
    let ours = p.run(&args);
    let theirs = podman.run(&args);
    assert_eq!(
        (ours.status.code(), text(&ours)),
        (theirs.status.code(), text(&theirs))
    );
    // Without -m an OCI archive holds the first image only (podman ignores
    // the other names).
    let first = p.path("first-oci.tar");
    p.ok_both(&[
        "save",
        "-q",
        "--format",
        "oci-archive",
        "-o",
        &s(&first),
        &busybox,
        &layered,
    ]);
    let fresh = Podman::new();
    assert_eq!(
        fresh.ok_both(&["load", "-q", "-i", &s(&first)]).0,
        format!("Loaded image: {busybox}\n")
    );
}

#[test]
fn push_with_creds_and_cert_dir_to_tls_registry() {
    require_root();
    let reg = Registry::start_tls_auth("pusher", "s3cret pass");
    let bb = busybox_image();
    podman_rs_integration_tests::images::push_layout_to(bb.path(), &reg, "private/bb:1")
        .expect("push");
    let image = format!("{}/private/bb:1", reg.addr());
    let dest = format!("{}/private/copy:2", reg.addr());
    let cert_dir = s(reg.cert_dir().expect("cert dir"));
    let creds = reg.creds_arg().expect("creds");
    let p = PodmanRs::new(&reg);
    p.ok_both(&[
        "pull",
        "-q",
        "--cert-dir",
        &cert_dir,
        "--creds",
        &creds,
        "--tls-verify=true",
        &image,
    ]);
    // Without credentials: refused.
    let out = p.run(&[
        "push",
        "-q",
        "--tls-verify=true",
        "--cert-dir",
        &cert_dir,
        &image,
        &dest,
    ]);
    let (_, e) = text(&out);
    assert_eq!(out.status.code(), Some(125), "{e}");
    assert!(
        e.starts_with("Error: ") && e.contains("unauthorized"),
        "{e}"
    );
    p.ok_both(&[
        "push",
        "-q",
        "--tls-verify=true",
        "--cert-dir",
        &cert_dir,
        "--creds",
        &creds,
        &image,
        &dest,
    ]);
    assert_eq!(
        reg.tags("private/copy").expect("tags"),
        vec!["2".to_string()]
    );
    let q = PodmanRs::new(&reg);
    let (o, _) = q.ok_both(&[
        "pull",
        "-q",
        "--cert-dir",
        &cert_dir,
        "--creds",
        &creds,
        &dest,
    ]);
    assert_eq!(o.trim(), hex(&bb.images[0].config_digest));
}
