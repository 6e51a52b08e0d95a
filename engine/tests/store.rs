//! The local image store on real files and a real SQLite database in a tempdir.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use podman_rs_engine::store::{ImageRecord, Store, StoreError};
use podman_rs_rootfs::layers::{chain_id, Compression, ExtractOptions};
use sha2::{Digest, Sha256};

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// An uncompressed layer tar with the given regular files.
fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, content.as_bytes())
            .expect("append tar entry");
    }
    b.into_inner().expect("finish tar")
}

/// Stores the layer blobs, extracts the layers through the LayerStore,
/// stores config and manifest, and returns the record to put.
fn build_image(store: &Store, layers: &[Vec<u8>], names: &[&str]) -> ImageRecord {
    let mut chain: Vec<String> = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_blobs = Vec::new();
    for tar in layers {
        let blob = digest(tar);
        store.put_blob(&blob, &tar[..]).expect("put layer blob");
        let diff_id = blob.clone(); // uncompressed: blob digest = diff ID
        let parent = chain.last().cloned();
        let id = chain_id(parent.as_deref(), &diff_id);
        let opts = ExtractOptions {
            expected_digest: Some(blob.clone()),
            ..Default::default()
        };
        let reader = store.open_blob(&blob).expect("open layer blob");
        let put = store
            .layers()
            .put_layer(&id, parent.as_deref(), reader, Compression::None, &opts)
            .expect("put layer");
        assert_eq!(put.diff_id, diff_id);
        chain.push(id);
        diff_ids.push(diff_id);
        layer_blobs.push(blob);
    }
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_digest = digest(config.as_bytes());
    store
        .put_blob(&config_digest, config.as_bytes())
        .expect("put config");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": layers.iter().zip(&layer_blobs).map(|(t, d)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": t.len()
        })).collect::<Vec<_>>(),
    })
    .to_string();
    let manifest_digest = digest(manifest.as_bytes());
    store
        .put_blob(&manifest_digest, manifest.as_bytes())
        .expect("put manifest");
    ImageRecord {
        id: config_digest,
        digest: manifest_digest,
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        config,
        created: Some("2024-01-02T03:04:05Z".into()),
        size: 0,
        layers: chain,
        layer_blobs,
        manifest_blobs: vec![],
        names: names.iter().map(|s| s.to_string()).collect(),
        digests: vec![],
    }
}

fn base_layer() -> Vec<u8> {
    layer_tar(&[("etc/os-release", "ID=test\n"), ("bin/sh", "#!fake\n")])
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|d| d.filter(|e| e.is_ok()).count())
        .unwrap_or(0)
}

fn layer_dirs(root: &Path) -> usize {
    fs::read_dir(root.join("layers"))
        .expect("layers dir")
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .count()
}

#[test]
fn blobs_put_has_open_remove() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    assert!(tmp.path().join("db.sqlite").is_file());
    let data = b"hello blob";
    let d = digest(data);
    assert!(!store.has_blob(&d));
    let path = store.put_blob(&d, &data[..]).expect("put");
    assert_eq!(path, tmp.path().join("blobs/sha256").join(&d[7..]));
    assert!(store.has_blob(&d));
    // Idempotent.
    assert_eq!(store.put_blob(&d, &data[..]).expect("put again"), path);
    let mut back = Vec::new();
    store
        .open_blob(&d)
        .expect("open")
        .read_to_end(&mut back)
        .expect("read");
    assert_eq!(back, data);
    assert_eq!(
        store.blobs().blob_size(&d).expect("size"),
        data.len() as u64
    );
    assert!(store.remove_blob(&d).expect("remove"));
    assert!(!store.remove_blob(&d).expect("remove again"));
    assert!(matches!(
        store.open_blob(&d),
        Err(StoreError::BlobNotFound(_))
    ));
    // Malformed digests are refused before touching the disk.
    for bad in ["sha256:abc", "md5:0000", "sha256:ZZ", "nodigest"] {
        assert!(matches!(
            store.put_blob(bad, &b"x"[..]),
            Err(StoreError::InvalidDigest { .. })
        ));
    }
}

#[test]
fn tampered_blob_is_refused_and_nothing_kept() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let d = digest(b"the real content");
    let err = store.put_blob(&d, &b"tampered content"[..]).unwrap_err();
    match &err {
        StoreError::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &d);
            assert_eq!(actual, &digest(b"tampered content"));
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains(&d), "{err}");
    assert!(!store.has_blob(&d));
    assert_eq!(
        count_files(&tmp.path().join("blobs/sha256")),
        0,
        "temp file left"
    );
}

#[test]
fn put_and_look_up_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let top = layer_tar(&[("app/hello", "hi\n")]);
    let rec = build_image(
        &store,
        &[base_layer(), top],
        &["quay.io/test/app:1.0", "myapp"],
    );
    let img = store.put_image(&rec).expect("put image");
    let id = rec.id.trim_start_matches("sha256:").to_string();
    assert_eq!(img.id, id);
    assert_eq!(img.layers, rec.layers);
    assert_eq!(img.top_layer.as_ref(), rec.layers.last());
    assert_eq!(
        img.names,
        vec![
            "quay.io/test/app:1.0".to_string(),
            "localhost/myapp:latest".to_string()
        ]
    );
    assert!(img
        .digests
        .contains(&format!("quay.io/test/app@{}", rec.digest)));
    assert!(img.size > 0);
    assert_eq!(img.blobs.len(), 4);
    assert_eq!(img.created.as_deref(), Some("2024-01-02T03:04:05Z"));
    // Idempotent.
    assert_eq!(store.put_image(&rec).expect("put again"), img);
    assert_eq!(store.list_images().expect("list").len(), 1);

    for key in [
        id.as_str(),
        &format!("sha256:{id}"),
        &id[..12],
        &id[..3],
        &format!("sha256:{}", &id[..8]),
        "quay.io/test/app:1.0",
        "myapp",
        "myapp:latest",
        "localhost/myapp",
        "localhost/myapp:latest",
        "app:1.0",      // repository suffix match
        "test/app:1.0", // idem
        &format!("quay.io/test/app@{}", rec.digest),
    ] {
        let found = store
            .get_image(key)
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(found.id, id, "{key}");
    }
    for key in [
        "quay.io/test/app",
        "app:2.0",
        "other",
        "ffffff",
        "sha256:zz",
        "",
    ] {
        assert!(
            matches!(store.get_image(key), Err(StoreError::ImageNotFound(_))),
            "{key} should not be found"
        );
    }
    assert_eq!(store.image_size(&id).expect("size"), img.size);

    // The layers are there, as the LayerStore extracted them.
    let dirs = store.layers().layer_dirs(&img.layers).expect("layer dirs");
    assert!(dirs[0].join("app/hello").is_file());
    assert!(dirs[1].join("etc/os-release").is_file());
}

#[test]
fn missing_blob_or_layer_or_bad_config_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let rec = build_image(&store, &[base_layer()], &["a"]);
    let mut bad = rec.clone();
    bad.config.push(' ');
    assert!(matches!(
        store.put_image(&bad),
        Err(StoreError::InvalidRecord { .. })
    ));
    let mut bad = rec.clone();
    bad.layers = vec![digest(b"not a layer")];
    assert!(matches!(
        store.put_image(&bad),
        Err(StoreError::InvalidRecord { .. })
    ));
    store.remove_blob(&rec.digest).expect("remove manifest");
    let err = store.put_image(&rec).unwrap_err();
    assert!(
        matches!(&err, StoreError::MissingBlob { blob, .. } if blob == &rec.digest),
        "{err}"
    );
    assert!(store.list_images().expect("list").is_empty());
}

#[test]
fn tag_untag_and_name_moving() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let a = build_image(
        &store,
        &[base_layer()],
        &["docker.io/library/busybox:latest"],
    );
    let b = build_image(
        &store,
        &[base_layer(), layer_tar(&[("b", "b\n")])],
        &["example.com/b:1"],
    );
    let a = store.put_image(&a).expect("put a");
    let b = store.put_image(&b).expect("put b");
    // Docker Hub short name.
    assert_eq!(store.get_image("busybox").expect("busybox").id, a.id);

    let a2 = store.tag(&a.id[..10], "mine:v1").expect("tag");
    assert!(a2.names.contains(&"localhost/mine:v1".to_string()));
    assert_eq!(store.get_image("mine:v1").expect("by tag").id, a.id);

    // The name moves from a to b.
    let b2 = store.tag("example.com/b:1", "mine:v1").expect("move tag");
    assert!(b2.names.contains(&"localhost/mine:v1".to_string()));
    assert_eq!(store.get_image("mine:v1").expect("moved").id, b.id);
    let a3 = store.get_image(&a.id).expect("a");
    assert_eq!(
        a3.names,
        vec!["docker.io/library/busybox:latest".to_string()]
    );

    // A name moves on put_image as well.
    let mut again = build_image(&store, &[base_layer()], &["example.com/b:1"]);
    again.names = vec!["example.com/b:1".into()];
    let a4 = store.put_image(&again).expect("re-put a with b's name");
    assert!(a4.names.contains(&"example.com/b:1".to_string()));
    assert_eq!(store.get_image("example.com/b:1").expect("b:1").id, a.id);
    assert_eq!(
        store.get_image(&b.id).expect("b").names,
        vec!["localhost/mine:v1".to_string()]
    );

    // Untag.
    let b3 = store.untag(&b.id, "mine:v1").expect("untag");
    assert!(b3.names.is_empty(), "{:?}", b3.names);
    assert!(matches!(
        store.untag(&b.id, "mine:v1"),
        Err(StoreError::TagNotKnown { .. })
    ));
    assert!(matches!(
        store.get_image("mine:v1"),
        Err(StoreError::ImageNotFound(_))
    ));
    // Dangling b is still there by ID.
    assert_eq!(store.get_image(&b.id).expect("dangling").id, b.id);
    assert!(matches!(
        store.tag(&a.id, "Bad/Name"),
        Err(StoreError::InvalidName { .. })
    ));
}

#[test]
fn ambiguous_short_name() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let a = build_image(&store, &[base_layer()], &["quay.io/x/tool:latest"]);
    let b = build_image(
        &store,
        &[layer_tar(&[("t", "t\n")])],
        &["example.com/y/tool:latest"],
    );
    store.put_image(&a).expect("a");
    store.put_image(&b).expect("b");
    assert!(matches!(
        store.get_image("tool"),
        Err(StoreError::Ambiguous { .. })
    ));
    assert_eq!(
        store.lookup_image("y/tool", &[]).expect("unique suffix").id,
        b.id.trim_start_matches("sha256:")
    );
    // A search registry candidate wins before suffix matching.
    assert_eq!(
        store
            .lookup_image("x/tool", &["quay.io".to_string()])
            .expect("search registry")
            .id,
        a.id.trim_start_matches("sha256:")
    );
}

#[test]
fn remove_images_with_shared_base_layer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let store = Store::open(root).expect("open");
    let base = base_layer();
    let a = build_image(&store, &[base.clone(), layer_tar(&[("a", "a\n")])], &["a"]);
    let b = build_image(&store, &[base.clone(), layer_tar(&[("b", "b\n")])], &["b"]);
    let a = store.put_image(&a).expect("a");
    let b = store.put_image(&b).expect("b");
    assert_eq!(a.layers[0], b.layers[0]);
    assert_eq!(layer_dirs(root), 3);
    // 1 shared base blob + 2 top blobs + 2 configs + 2 manifests.
    assert_eq!(count_files(&root.join("blobs/sha256")), 7);

    let removed = store.remove_image("a").expect("remove a");
    assert_eq!(removed.id, a.id);
    assert_eq!(removed.names, vec!["localhost/a:latest".to_string()]);
    assert_eq!(removed.layers, vec![a.layers[1].clone()]);
    let base_blob = digest(&base);
    assert!(!removed.blobs.contains(&base_blob));
    assert_eq!(removed.blobs.len(), 3); // top layer, config, manifest of a
    assert!(store.layers().has_layer(&a.layers[0]));
    assert!(!store.layers().has_layer(&a.layers[1]));
    assert!(store.has_blob(&base_blob));
    for blob in &removed.blobs {
        assert!(!store.has_blob(blob), "{blob}");
    }
    for blob in &b.blobs {
        assert!(store.has_blob(blob), "{blob}");
    }
    assert!(matches!(
        store.get_image(&a.id),
        Err(StoreError::ImageNotFound(_))
    ));
    assert_eq!(layer_dirs(root), 2);
    assert_eq!(count_files(&root.join("blobs/sha256")), 4);

    // Removing the last image removes everything.
    let removed = store.remove_image(&b.id).expect("remove b");
    assert_eq!(removed.layers.len(), 2);
    assert_eq!(removed.blobs.len(), 4);
    assert_eq!(layer_dirs(root), 0);
    assert_eq!(count_files(&root.join("blobs/sha256")), 0);
    assert!(store.list_images().expect("list").is_empty());
    assert!(matches!(
        store.remove_image(&b.id),
        Err(StoreError::ImageNotFound(_))
    ));
}

#[test]
fn reopen_sees_the_data() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = Store::open(tmp.path()).expect("open");
        let rec = build_image(&store, &[base_layer()], &["persisted:1"]);
        store.put_image(&rec).expect("put").id
    };
    let store = Store::open(tmp.path()).expect("reopen");
    let img = store.get_image("persisted:1").expect("after reopen");
    assert_eq!(img.id, id);
    assert!(store.layers().has_layer(&img.layers[0]));
    assert!(img.blobs.iter().all(|b| store.has_blob(b)));
    // A second Store on the same root at the same time (as another process would).
    let other = Store::open(tmp.path()).expect("second handle");
    assert_eq!(other.list_images().expect("list").len(), 1);
}

fn concurrent_layers() -> Vec<Vec<u8>> {
    vec![
        base_layer(),
        layer_tar(&[("usr/share/doc/concurrent", "same content in every puller\n")]),
    ]
}

fn assert_single_copy(root: &Path) {
    let store = Store::open(root).expect("open");
    let images = store.list_images().expect("list");
    assert_eq!(images.len(), 1, "{images:?}");
    assert_eq!(images[0].names, vec!["example.com/race:latest".to_string()]);
    assert_eq!(layer_dirs(root), 2);
    assert_eq!(
        count_files(&root.join("blobs/sha256")),
        4,
        "blobs: one copy each, no temp files"
    );
    for entry in fs::read_dir(root.join("layers")).expect("layers").flatten() {
        assert!(
            !entry.file_name().to_string_lossy().starts_with(".tmp-"),
            "left over {:?}",
            entry.file_name()
        );
    }
}

#[test]
fn two_threads_put_the_same_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    Store::open(&root).expect("init");
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let root = root.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Each thread has its own Store, as two processes would.
                let store = Store::open(&root).expect("open");
                barrier.wait();
                let _guard = store.write_lock().expect("write lock");
                let rec = build_image(&store, &concurrent_layers(), &["example.com/race"]);
                store.put_image(&rec).map(|i| i.id)
            })
        })
        .collect();
    let ids: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("put_image"))
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_single_copy(&root);

    // And two threads sharing one Store.
    let tmp2 = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(tmp2.path()).expect("open"));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                let rec = build_image(&store, &concurrent_layers(), &["example.com/race"]);
                store.put_image(&rec).map(|i| i.id)
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("put_image");
    }
    assert_single_copy(tmp2.path());
}

const CHILD_ENV: &str = "PODMAN_RS_STORE_TEST_CHILD_ROOT";

/// Run by `two_processes_put_the_same_image` in child processes (a no-op
/// when run directly).
#[test]
fn child_put_image() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(&root).expect("child open");
    let _guard = store.write_lock().expect("write lock");
    let rec = build_image(&store, &concurrent_layers(), &["example.com/race"]);
    store.put_image(&rec).expect("child put_image");
}

#[test]
fn two_processes_put_the_same_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_put_image", "--test-threads=1"])
                .env(CHILD_ENV, tmp.path())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait child");
        assert!(
            out.status.success(),
            "child failed: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_single_copy(tmp.path());
}

#[test]
fn concurrent_put_and_remove_never_lose_files_of_a_record() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().to_path_buf();
    let store = Store::open(&root).expect("open");
    // A second image shares the base layer throughout.
    let keep = build_image(&store, &[base_layer()], &["keep"]);
    store.put_image(&keep).expect("keep");
    let barrier = Arc::new(Barrier::new(2));
    let putter = {
        let root = root.clone();
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            let store = Store::open(&root).expect("open");
            barrier.wait();
            for _ in 0..15 {
                let _guard = store.write_lock().expect("write lock");
                let rec = build_image(&store, &concurrent_layers(), &["example.com/race"]);
                store.put_image(&rec).expect("put while removing");
            }
        })
    };
    let remover = {
        let root = root.clone();
        std::thread::spawn(move || {
            let store = Store::open(&root).expect("open");
            barrier.wait();
            for _ in 0..15 {
                match store.remove_image("example.com/race") {
                    Ok(_) | Err(StoreError::ImageNotFound(_)) => {}
                    Err(e) => panic!("remove: {e}"),
                }
            }
        })
    };
    putter.join().expect("putter");
    remover.join().expect("remover");
    // Whatever the interleaving: every record's files are on disk.
    for img in store.list_images().expect("list") {
        for blob in &img.blobs {
            assert!(store.has_blob(blob), "image {} lost blob {blob}", img.id);
        }
        store
            .layers()
            .layer_dirs(&img.layers)
            .unwrap_or_else(|e| panic!("image {} lost a layer: {e}", img.id));
    }
    // And removing everything leaves nothing behind.
    for img in store.list_images().expect("list") {
        store.remove_image(&img.id).expect("remove");
    }
    assert_eq!(layer_dirs(&root), 0);
    assert_eq!(count_files(&root.join("blobs/sha256")), 0);
    assert_eq!(store.cleanup_incomplete().expect("cleanup"), 0);
}

#[test]
fn cleanup_removes_temp_files_of_dead_writers() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = Store::open(tmp.path()).expect("open");
    let dir = tmp.path().join("blobs/sha256");
    let hex = "0".repeat(64);
    // pid 0x7fffffff never exists; our own pid does.
    fs::write(dir.join(format!(".tmp-{hex}-2147483647-0")), b"partial").expect("write");
    let mine = dir.join(format!(".tmp-{hex}-{}-0", std::process::id()));
    fs::write(&mine, b"in progress").expect("write");
    assert_eq!(store.cleanup_incomplete().expect("cleanup"), 1);
    assert!(mine.exists());
}

#[test]
fn remove_unreferenced_drops_leftovers_of_failed_pulls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let store = Store::open(root).expect("open");
    let kept = build_image(&store, &[base_layer()], &["kept"]);
    let kept = store.put_image(&kept).expect("put");
    // A pull that wrote its blobs and layers but never its record.
    let orphan = build_image(
        &store,
        &[base_layer(), layer_tar(&[("o", "o\n")])],
        &["orphan"],
    );
    let removed = store.remove_unreferenced().expect("gc");
    assert_eq!(removed.layers, vec![orphan.layers[1].clone()]);
    let mut expected = vec![
        orphan.digest.clone(),
        orphan.id.clone(),
        orphan.layer_blobs[1].clone(),
    ];
    expected.sort();
    let mut got = removed.blobs.clone();
    got.sort();
    assert_eq!(got, expected);
    for blob in &kept.blobs {
        assert!(store.has_blob(blob));
    }
    assert!(store.layers().has_layer(&kept.layers[0]));
    assert_eq!(
        store.remove_unreferenced().expect("gc again"),
        Default::default()
    );
}

#[test]
fn extra_manifest_blobs_are_kept_with_their_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    let mut record = build_image(&store, &[base_layer()], &["listed:1"]);
    // The per-platform manifest of an image pulled through a manifest list.
    let instance = br#"{"schemaVersion":2,"note":"platform manifest"}"#;
    let instance_digest = digest(instance);
    store
        .put_blob(&instance_digest, &instance[..])
        .expect("put instance manifest");
    record.manifest_blobs = vec![instance_digest.clone()];
    let image = store.put_image(&record).expect("put image");
    assert!(image.blobs.contains(&instance_digest));
    store.remove_unreferenced().expect("cleanup");
    assert!(
        store.has_blob(&instance_digest),
        "a referenced manifest was collected"
    );
    store.remove_image("listed:1").expect("remove");
    assert!(
        !store.has_blob(&instance_digest),
        "left behind after the image went"
    );
}

/// `image prune -a` and the `containers` filter through
/// `LocalEngine::containers_using`: a `containers` table (the containers
/// issue owns its real schema) with one row keeps that image.
#[test]
fn prune_all_keeps_images_containers_use() {
    use podman_rs_engine::interface::{
        ImageEngine, ListOptions, LocalEngine, PruneOptions, StorageOptions,
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("root");
    let engine = LocalEngine::open(StorageOptions {
        root: root.clone(),
        runroot: tmp.path().join("run"),
        driver: "vfs".into(),
        mount_program: None,
    })
    .expect("open engine");
    let store = engine.store();
    let base = base_layer();
    let used = build_image(
        store,
        &[base.clone(), layer_tar(&[("u", "u\n")])],
        &["used"],
    );
    let unused = build_image(
        store,
        &[base.clone(), layer_tar(&[("n", "n\n")])],
        &["unused"],
    );
    let dangling = build_image(store, &[layer_tar(&[("d", "d\n")])], &[]);
    // Pulled by digest: no tag, but a repo@digest name, so not dangling.
    let mut pinned = build_image(store, &[layer_tar(&[("p", "p\n")])], &[]);
    pinned.names = vec![format!("quay.io/x/pinned@{}", pinned.digest)];
    let used = store.put_image(&used).expect("used");
    let unused = store.put_image(&unused).expect("unused");
    let dangling = store.put_image(&dangling).expect("dangling");
    let pinned = store.put_image(&pinned).expect("pinned");
    assert!(pinned.names.is_empty());
    assert_eq!(pinned.digest_names, pinned.digests);
    assert!(used.digest_names.is_empty(), "{:?}", used.digests);
    assert!(engine
        .containers_using(&used.id)
        .expect("no containers")
        .is_empty());

    let ctr = "c1".repeat(32);
    store
        .add_container(&podman_rs_engine::store::ContainerRecord {
            id: ctr.clone(),
            name: "ctr1".into(),
            image_id: Some(used.id.clone()),
            config: "{}".into(),
            created: 1,
            state: Default::default(),
        })
        .expect("container record");
    assert_eq!(
        engine.containers_using(&used.id).expect("containers"),
        vec![ctr.clone()]
    );

    let list = |filters: &[&str]| -> Vec<(String, u64)> {
        let opts = ListOptions {
            all: false,
            filters: filters.iter().map(|s| s.to_string()).collect(),
        };
        let mut v: Vec<(String, u64)> = engine
            .list(&opts)
            .expect("list")
            .into_iter()
            .map(|s| (s.id, s.containers))
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&["containers=true"]), vec![(used.id.clone(), 1)]);
    assert_eq!(
        list(&["containers=false", "dangling=true"]),
        vec![(dangling.id.clone(), 0)]
    );

    // prune: only the dangling image.
    let removed = engine
        .prune(&PruneOptions {
            all: false,
            filters: vec![],
            external: false,
        })
        .expect("prune");
    assert_eq!(removed, vec![dangling.id.clone()]);
    assert_eq!(list(&["reference=pinned"]), vec![(pinned.id.clone(), 0)]);
    // prune -a: every image but the one the container uses; the shared base
    // layer stays with it.
    let removed = engine
        .prune(&PruneOptions {
            all: true,
            filters: vec![],
            external: false,
        })
        .expect("prune -a");
    assert_eq!(
        removed,
        vec![unused.id.clone(), pinned.id.clone()],
        "oldest stored first"
    );
    let left: Vec<String> = store
        .list_images()
        .expect("list")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(left, vec![used.id.clone()]);
    assert_eq!(layer_dirs(&root), 2);
    for l in &used.layers {
        assert!(store.layers().has_layer(l), "{l}");
    }
    for l in &unused.layers[1..] {
        assert!(!store.layers().has_layer(l), "{l}");
    }
    // Once the container is gone, prune -a takes it too.
    store.remove_container_record(&ctr).expect("delete");
    let removed = engine
        .prune(&PruneOptions {
            all: true,
            filters: vec![],
            external: false,
        })
        .expect("prune -a");
    assert_eq!(removed, vec![used.id.clone()]);
    assert_eq!(layer_dirs(&root), 0);
}
