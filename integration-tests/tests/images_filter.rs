//! `images --filter/--sort/REFERENCE`, `image prune` and storage.conf,
//! end to end against a docker-registry on 127.0.0.1, compared with Podman
//! 4.3.1 (the stock `podman`, own temporary root) where it has an answer.
//! Needs root, docker-registry, skopeo.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use podman_rs_integration_tests::images::{
    busybox_image, labeled_image_layout, push_layout, LayerEntry, OciLayout,
};
use podman_rs_integration_tests::registry::Registry;
use podman_rs_integration_tests::side_by_side::{Podman, PodmanRs};
use podman_rs_integration_tests::{binary, capture, require_root, text};

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn layer(name: &str, content: &str) -> Vec<LayerEntry> {
    vec![
        LayerEntry::dir("etc"),
        LayerEntry::file(&format!("etc/{name}"), content),
    ]
}

fn labeled(layers: &[Vec<LayerEntry>], created: &str, labels: &[(&str, &str)]) -> OciLayout {
    labeled_image_layout(layers, created, labels).expect("test image")
}

/// Pulls `name` (on the registry) into both engines.
fn pull_both(p: &PodmanRs, podman: &Podman, reg: &Registry, name: &str) {
    let image = format!("{}/{name}", reg.addr());
    p.ok(&["pull", "-q", "--tls-verify=false", &image]);
    podman.ok(&["pull", "-q", "--tls-verify=false", &image]);
}

const NAMES: &str = "{{.Repository}}:{{.Tag}} {{.ID}}";

#[test]
fn filters_sort_and_reference_argument_like_podman() {
    require_root();
    let reg = Registry::start();
    let alpha = busybox_image();
    let beta = labeled(
        &[layer("beta", "b\n")],
        "2024-02-01T00:00:00Z",
        &[("foo", "bar"), ("x", "y")],
    );
    let gamma = labeled(
        &[layer("gamma", "gamma gamma\n")],
        "2024-03-01T00:00:00Z",
        &[("foo", "baz"), ("org.example/ver", "1")],
    );
    push_layout(alpha.path(), &reg.addr(), "alpha:1").expect("push");
    push_layout(beta.path(), &reg.addr(), "ns/beta:2").expect("push");
    push_layout(gamma.path(), &reg.addr(), "gamma:latest").expect("push");
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    // Pulled by digest: no tag, yet not dangling (a repo@digest name).
    let pinned = labeled(&[layer("pinned", "p\n")], "2023-06-01T00:00:00Z", &[]);
    push_layout(pinned.path(), &reg.addr(), "pinned:1").expect("push");
    let pinned_ref = format!("pinned@{}", pinned.digest);
    for n in ["alpha:1", "ns/beta:2", "gamma:latest", &pinned_ref] {
        pull_both(&p, &podman, &reg, n);
    }
    let a = reg.addr();
    let (alpha_ref, gamma_ref) = (format!("{a}/alpha:1"), format!("{a}/gamma:latest"));
    let beta_id = hex(&beta.images[0].config_digest).to_string();
    let f = |s: &str| format!("--filter={s}");
    let cases: Vec<Vec<String>> = vec![
        vec![f("label=foo")],
        vec![f("label=foo=bar")],
        vec![f("label!=foo")],
        vec![f("label=foo=b*")],
        vec![f("label=org.*/ver*=1")],
        vec![f("label=foo=bar"), f("label=org.example/ver")],
        vec![f("label=foo"), f("reference=gamma")],
        vec![f("reference=alpha")],
        vec![f("reference=alpha"), f("reference=gamma")],
        vec![f("reference=*beta*")],
        vec![f("reference=ns/beta:2")],
        vec![f("reference=gamma:latest")],
        vec![f("reference=latest")],
        vec![f("reference=pinned")],
        vec![f(&format!("reference=*@{}", pinned.digest))],
        vec![f(&format!("reference={a}/*"))],
        vec![f(&format!("since={alpha_ref}"))],
        vec![f(&format!("after={alpha_ref}"))],
        vec![f(&format!("before={gamma_ref}"))],
        vec![f("until=2024-02-15T00:00:00Z")],
        vec![f("until=1h")],
        vec![f("until=1704067200")],
        vec![f(&format!("id={beta_id}"))],
        vec![f(&format!("id={}", &beta_id[..12]))],
        vec![f("dangling=false")],
        vec![f("dangling=true")],
        vec![f("containers=false")],
        vec![f("containers=true")],
        vec![f("readonly=false")],
        vec![f("intermediate=false")],
        vec!["--filter=label=foo,reference=gamma".into()],
        vec!["alpha".into()],
        vec![format!("{a}/ns/beta")],
        vec!["--sort=repository".into()],
        vec!["--sort=tag".into()],
        vec!["--sort=size".into()],
        vec!["--sort=id".into()],
        vec!["--sort=created".into()],
    ];
    for case in &cases {
        let mut args: Vec<&str> = vec!["images", "--format", NAMES];
        args.extend(case.iter().map(String::as_str));
        let ours = p.ok(&args);
        assert_eq!(ours, podman.ok(&args), "{case:?}");
        // The table and -q agree too.
        args.drain(1..3);
        assert_eq!(p.ok(&args), podman.ok(&args), "table {case:?}");
        args.push("-q");
        assert_eq!(p.ok(&args), podman.ok(&args), "-q {case:?}");
    }
    assert_eq!(
        p.ok(&["images", "--filter=label=foo", "--format", NAMES])
            .lines()
            .count(),
        2,
        "the comparison saw filtered output"
    );
    // Errors: Podman's text, 125.
    for args in [
        &["images", "--filter", "foo=bar"][..],
        &["images", "--filter", "foo"],
        &["images", "--filter", "dangling=maybe"],
        &[
            "images",
            "--filter",
            "dangling=1",
            "--filter",
            "dangling=true",
        ],
        &["images", "--filter", "intermediate=true"],
        &["images", "--filter", "containers=maybe"],
        &["images", "--filter", "after=nosuch"],
        &["images", "--filter", "digest=sha256:00"],
        &["images", "--filter", "until=nonsense"],
        &["images", "--filter", "reference=x", "alpha"],
    ] {
        let (ours, theirs) = (p.run(args), podman.run(args));
        assert_eq!(ours.status.code(), Some(125), "{args:?}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(text(&ours), text(&theirs), "{args:?}");
    }
    // --sort: Podman lists the keys in a random order; the start matches.
    let (ours, theirs) = (
        p.run(&["images", "--sort", "bogus"]),
        podman.run(&["images", "--sort", "bogus"]),
    );
    assert_eq!(ours.status.code(), theirs.status.code());
    let prefix = "Error: \"bogus\" is not a valid field for sorting. Choose from: ";
    assert!(text(&ours).1.starts_with(prefix), "{:?}", text(&ours));
    assert!(text(&theirs).1.starts_with(prefix), "{:?}", text(&theirs));
}

/// `image prune` output and what it leaves, `image prune -a`, prompts.
#[test]
fn prune_dangling_and_all_like_podman() {
    require_root();
    let reg = Registry::start();
    let base = layer("base", "shared base\n");
    let old = labeled(
        &[base.clone(), layer("top", "old\n")],
        "2024-01-01T00:00:00Z",
        &[],
    );
    let new = labeled(
        &[base.clone(), layer("top", "new\n")],
        "2024-02-01T00:00:00Z",
        &[],
    );
    let other = labeled(
        &[layer("other", "o\n")],
        "2024-03-01T00:00:00Z",
        &[("keep", "no")],
    );
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    // app:latest is `old`, then `new`: `old` is left without a name.
    push_layout(old.path(), &reg.addr(), "app:latest").expect("push");
    pull_both(&p, &podman, &reg, "app:latest");
    push_layout(new.path(), &reg.addr(), "app:latest").expect("push");
    pull_both(&p, &podman, &reg, "app:latest");
    push_layout(other.path(), &reg.addr(), "other:1").expect("push");
    pull_both(&p, &podman, &reg, "other:1");
    let old_id = hex(&old.images[0].config_digest).to_string();
    let new_id = hex(&new.images[0].config_digest).to_string();
    let other_id = hex(&other.images[0].config_digest).to_string();

    let dangling = ["images", "--filter", "dangling=true", "-q", "--no-trunc"];
    assert_eq!(p.ok(&dangling), format!("sha256:{old_id}\n"));
    assert_eq!(p.ok(&dangling), podman.ok(&dangling));

    // Without -f: the prompt on stdout; no answer is an error, "n" keeps all.
    let (ours, theirs) = (p.run(&["image", "prune"]), podman.run(&["image", "prune"]));
    assert_eq!(text(&ours), text(&theirs));
    assert_eq!(ours.status.code(), Some(125));
    assert_eq!(ours.status.code(), theirs.status.code());
    let mut cmd = p.cmd(&["image", "prune"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"n\n")
        .expect("answer");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(
        text(&out).0,
        "WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(p.ok(&dangling), format!("sha256:{old_id}\n"), "kept");

    // A filter no dangling image passes removes nothing.
    let args = ["image", "prune", "-f", "--filter", "label=nosuch"];
    assert_eq!(p.ok(&args), "");
    assert_eq!(p.ok(&args), podman.ok(&args));

    // prune -f: the dangling image goes, its own layer with it; the shared
    // base layer stays (the new image uses it).
    let (_, layers_before) = p.stored();
    let args = ["image", "prune", "-f"];
    let ours = p.ok(&args);
    assert_eq!(ours, format!("{old_id}\n"));
    assert_eq!(ours, podman.ok(&args));
    assert_eq!(p.ok(&dangling), "");
    let (blobs, layers_after) = p.stored();
    assert_eq!(
        layers_after.len(),
        layers_before.len() - 1,
        "one layer removed"
    );
    for l in &layers_after {
        assert!(layers_before.contains(l));
    }
    assert!(!blobs.contains(&old_id), "old config blob removed");
    assert_eq!(p.ok(&args), "", "nothing left to prune");

    // -a with a filter, then -a.
    let args = ["image", "prune", "-a", "-f", "--filter", "label=keep"];
    let ours = p.ok(&args);
    assert_eq!(ours, format!("{other_id}\n"));
    assert_eq!(ours, podman.ok(&args));
    for filter in ["foo=bar", "foo"] {
        let args = ["image", "prune", "-a", "-f", "--filter", filter];
        let (ours, theirs) = (p.run(&args), podman.run(&args));
        assert_eq!(text(&ours), text(&theirs), "{filter}");
        assert_eq!(ours.status.code(), Some(125), "{filter}");
        assert_eq!(ours.status.code(), theirs.status.code(), "{filter}");
    }
    // --external: no external containers, nothing more to remove here.
    let args = ["image", "prune", "-f", "--external"];
    assert_eq!(p.ok(&args), podman.ok(&args));
    // One round removing two images: oldest stored first, as Podman.
    let extra = labeled(&[layer("extra", "e\n")], "2020-01-01T00:00:00Z", &[]);
    push_layout(extra.path(), &reg.addr(), "extra:1").expect("push");
    pull_both(&p, &podman, &reg, "extra:1");
    let extra_id = hex(&extra.images[0].config_digest).to_string();
    let args = ["image", "prune", "-a", "-f"];
    let ours = p.ok(&args);
    assert_eq!(ours, format!("{new_id}\n{extra_id}\n"));
    assert_eq!(ours, podman.ok(&args));
    assert_eq!(p.ok(&["images", "-q"]), "");
    let (blobs, layers) = p.stored();
    assert!(blobs.is_empty(), "blobs left: {blobs:?}");
    assert!(layers.is_empty(), "layers left: {layers:?}");
}

fn podman_rs_env(conf: &Path, registries: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(binary());
    c.args(args)
        .env("CONTAINERS_STORAGE_CONF", conf)
        .env("CONTAINERS_REGISTRIES_CONF", registries)
        .stdin(Stdio::null());
    c
}

/// storage.conf's graphroot/runroot (with a podman-rs subdirectory) and
/// driver; a store keeps the driver it was created with.
#[test]
fn storage_conf_paths_and_driver() {
    require_root();
    let reg = Registry::start();
    let bb = busybox_image();
    push_layout(bb.path(), &reg.addr(), "busybox:latest").expect("push");
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let registries = d.join("registries.conf");
    std::fs::write(
        &registries,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.addr()
        ),
    )
    .expect("registries.conf");
    let conf = d.join("storage.conf");
    std::fs::write(
        &conf,
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/graph\"\nrunroot = \"{0}/run\"\n\n[storage.options]\npull_options = {{enable_partial_images = \"false\"}}\n",
            d.display()
        ),
    )
    .expect("storage.conf");
    let image = format!("{}/busybox:latest", reg.addr());
    let out = capture(podman_rs_env(&conf, &registries, &["pull", "-q", &image]));
    assert!(out.status.success(), "{:?}", text(&out));
    // Our files go under <graphroot>/podman-rs only.
    assert!(d.join("graph/podman-rs/db.sqlite").is_file());
    let top: Vec<String> = std::fs::read_dir(d.join("graph"))
        .expect("graphroot")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(top, vec!["podman-rs".to_string()]);
    let out = capture(podman_rs_env(
        &conf,
        &registries,
        &[
            "image",
            "inspect",
            "--format",
            "{{.GraphDriver.Name}}",
            &image,
        ],
    ));
    assert_eq!(text(&out), ("vfs\n".to_string(), String::new()));

    // Another driver on the same store: Podman's error, 125.
    let out = capture(podman_rs_env(
        &conf,
        &registries,
        &["--storage-driver", "overlay", "images"],
    ));
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out).1,
        "Error: database storage graph driver \"vfs\" does not match our storage graph driver \"overlay\": database configuration mismatch\n"
    );
    // --root wins over graphroot (a new, empty store).
    let root = d.join("flag-root");
    let out = capture(podman_rs_env(
        &conf,
        &registries,
        &["--root", &root.to_string_lossy(), "images", "-q"],
    ));
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(text(&out).0, "");
    assert!(root.join("db.sqlite").is_file());

    // A driver podman-rs does not have, and a broken file: 125.
    std::fs::write(&conf, "[storage]\ndriver = \"btrfs\"\n").expect("write");
    let out = capture(podman_rs_env(&conf, &registries, &["images"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out)
            .1
            .contains("unsupported storage driver \"btrfs\""),
        "{:?}",
        text(&out)
    );
    std::fs::write(&conf, "[storage\n").expect("write");
    let out = capture(podman_rs_env(&conf, &registries, &["images"]));
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out)
            .1
            .starts_with("Error: parsing storage configuration"),
        "{:?}",
        text(&out)
    );
}

/// An untagged image another image is built on is intermediate: hidden
/// without -a, not dangling, kept by prune until its child goes.
#[test]
fn intermediate_images_like_podman() {
    require_root();
    let reg = Registry::start();
    let created = "2024-01-01T00:00:00Z";
    let parent = labeled(&[layer("p", "parent\n")], created, &[]);
    let child = labeled(
        &[layer("p", "parent\n"), layer("c", "child\n")],
        created,
        &[],
    );
    push_layout(parent.path(), &reg.addr(), "parent:1").expect("push");
    push_layout(child.path(), &reg.addr(), "child:1").expect("push");
    let p = PodmanRs::new(&reg);
    let podman = Podman::new();
    for n in ["parent:1", "child:1"] {
        pull_both(&p, &podman, &reg, n);
    }
    let parent_id = hex(&parent.images[0].config_digest).to_string();
    let child_id = hex(&child.images[0].config_digest).to_string();
    for engine_untag in [
        p.run(&["untag", &format!("{}/parent:1", reg.addr())]),
        podman.run(&["untag", &format!("{}/parent:1", reg.addr())]),
    ] {
        assert!(engine_untag.status.success(), "{:?}", text(&engine_untag));
    }
    let cases: [&[&str]; 6] = [
        &["images", "-q", "--no-trunc"],
        &["images", "-a", "-q", "--no-trunc"],
        &[
            "images",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "intermediate=true",
        ],
        &[
            "images",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "dangling=true",
        ],
        &[
            "images",
            "-a",
            "-q",
            "--no-trunc",
            "--filter",
            "dangling=false",
        ],
        &["images", "-a"],
    ];
    for args in cases {
        assert_eq!(p.ok(args), podman.ok(args), "{args:?}");
    }
    assert_eq!(
        p.ok(cases[0]),
        format!("sha256:{child_id}\n"),
        "parent hidden"
    );
    assert_eq!(
        p.ok(cases[2]),
        format!("sha256:{parent_id}\n"),
        "parent intermediate"
    );
    // Nothing dangling yet.
    assert_eq!(p.ok(&["image", "prune", "-f"]), "");
    assert_eq!(podman.ok(&["image", "prune", "-f"]), "");
    // Untag the child: it is dangling, goes, and then its parent is
    // dangling too and goes in the next round.
    for out in [
        p.run(&["untag", &format!("{}/child:1", reg.addr())]),
        podman.run(&["untag", &format!("{}/child:1", reg.addr())]),
    ] {
        assert!(out.status.success(), "{:?}", text(&out));
    }
    let ours = p.ok(&["image", "prune", "-f"]);
    assert_eq!(ours, format!("{child_id}\n{parent_id}\n"));
    assert_eq!(ours, podman.ok(&["image", "prune", "-f"]));
    let (blobs, layers) = p.stored();
    assert!(
        blobs.is_empty() && layers.is_empty(),
        "{blobs:?} {layers:?}"
    );
}
