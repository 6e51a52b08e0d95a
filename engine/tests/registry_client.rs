//! The registry client against a real docker-registry on 127.0.0.1 (Debian's
//! `docker-registry`, images pushed with skopeo by the integration-tests
//! fixtures).

use std::path::{Path, PathBuf};

use podman_rs_engine::image::registry::{
    sha256_digest, ClientOptions, Descriptor, Platform, PushImage, RegistryClient, RegistryError,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};
use podman_rs_engine::image::{Reference, RegistriesConf};
use podman_rs_integration_tests::images::{
    busybox_image, layered_image, multiarch_index, push_layout, push_layout_to, OciLayout,
};
use podman_rs_integration_tests::registry::Registry;

fn insecure_client() -> RegistryClient {
    RegistryClient::new(ClientOptions {
        tls_verify: Some(false),
        ..ClientOptions::default()
    })
    .expect("client")
}

fn client_for(platform: Platform) -> RegistryClient {
    RegistryClient::new(ClientOptions {
        tls_verify: Some(false),
        platform,
        ..ClientOptions::default()
    })
    .expect("client")
}

fn reference(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("parse {s}: {e}"))
}

fn push(layout: &OciLayout, reg: &Registry, dest: &str) {
    push_layout(layout.path(), &reg.addr(), dest).unwrap_or_else(|e| panic!("push {dest}: {e}"));
}

fn blob_bytes(layout: &OciLayout, digest: &str) -> Vec<u8> {
    std::fs::read(layout.blob_path(digest)).expect("layout blob")
}

/// The registry's storage file of blob `digest`.
fn registry_blob(reg: &Registry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    reg.storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn resolve_tag_and_digest() {
    let reg = Registry::start();
    let layout = busybox_image();
    push(&layout, &reg, "test/busybox:1.0");
    let client = insecure_client();
    let img = &layout.images[0];

    let by_tag = client
        .resolve(&reference(&format!("{}/test/busybox:1.0", reg.addr())))
        .expect("resolve tag");
    assert_eq!(by_tag.top.digest, layout.digest);
    assert_eq!(by_tag.top.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_eq!(sha256_digest(&by_tag.top.raw), layout.digest);
    assert!(by_tag.instance.is_none());
    assert_eq!(by_tag.manifest.config.digest, img.config_digest);
    assert_eq!(by_tag.config, blob_bytes(&layout, &img.config_digest));
    let layer_digests: Vec<&str> = by_tag.layers().iter().map(|d| d.digest.as_str()).collect();
    assert_eq!(
        layer_digests,
        img.layer_digests
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert!(by_tag.endpoint.location == reg.addr());

    let by_digest = client
        .resolve(&reference(&format!(
            "{}/test/busybox@{}",
            reg.addr(),
            layout.digest
        )))
        .expect("resolve digest");
    assert_eq!(by_digest.top, by_tag.top);
    assert_eq!(by_digest.config, by_tag.config);

    // No tag and no digest means latest, which does not exist.
    let err = client
        .resolve(&reference(&format!("{}/test/busybox", reg.addr())))
        .expect_err("latest is absent");
    assert!(
        matches!(err, RegistryError::ManifestUnknown { ref reference, .. } if reference == "latest"),
        "{err}"
    );
}

#[test]
fn unknown_tag_and_repository() {
    let reg = Registry::start();
    let layout = busybox_image();
    push(&layout, &reg, "test/busybox:1.0");
    let client = insecure_client();

    let err = client
        .resolve(&reference(&format!("{}/test/busybox:nope", reg.addr())))
        .expect_err("unknown tag");
    let msg = err.to_string();
    assert!(err.is_not_found(), "{msg}");
    assert_eq!(err.status(), Some(404));
    assert!(msg.contains("manifest unknown"), "{msg}");
    assert!(msg.contains("nope"), "{msg}");
    assert!(
        msg.contains(&format!("{}/test/busybox", reg.addr())),
        "{msg}"
    );
    assert!(msg.contains("HTTP 404"), "{msg}");

    let err = client
        .resolve(&reference(&format!("{}/test/absent:1.0", reg.addr())))
        .expect_err("unknown repository");
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("test/absent"), "{err}");

    let absent = "sha256:".to_string() + &"0".repeat(64);
    let mut sink = Vec::new();
    let err = client
        .fetch_blob_to(
            &reference(&format!("{}/test/busybox", reg.addr())),
            &absent,
            &mut sink,
        )
        .expect_err("unknown blob");
    assert!(
        matches!(err, RegistryError::BlobUnknown { ref digest, status: 404, .. } if *digest == absent),
        "{err}"
    );
    assert!(sink.is_empty());
}

#[test]
fn platform_selection_from_index() {
    let reg = Registry::start();
    let layout = multiarch_index();
    push(&layout, &reg, "test/multi:latest");
    let r = reference(&format!("{}/test/multi:latest", reg.addr()));

    for (arch, img) in [("amd64", &layout.images[0]), ("arm64", &layout.images[1])] {
        let client = client_for(Platform::new("linux", arch, None));
        let res = client
            .resolve(&r)
            .unwrap_or_else(|e| panic!("resolve {arch}: {e}"));
        assert_eq!(res.top.digest, layout.digest);
        assert_eq!(res.top.media_type, MEDIA_TYPE_OCI_INDEX);
        let inst = res.instance.as_ref().expect("instance");
        assert_eq!(inst.digest, img.manifest_digest, "{arch}");
        assert_eq!(res.image_manifest().digest, img.manifest_digest);
        assert_eq!(
            res.instance_platform
                .as_ref()
                .map(|p| p.architecture.as_str()),
            Some(arch)
        );
        assert_eq!(res.manifest.config.digest, img.config_digest);
        let config: serde_json::Value = serde_json::from_slice(&res.config).expect("config json");
        assert_eq!(config["architecture"], arch);
    }

    // A wanted variant matches entries without one (arm64 defaults to v8).
    let client = client_for(Platform::parse("linux/arm64/v8").expect("platform"));
    let res = client.resolve(&r).expect("resolve arm64/v8");
    assert_eq!(
        res.image_manifest().digest,
        layout.images[1].manifest_digest
    );

    let client = client_for(Platform::new("linux", "s390x", None));
    let err = client.resolve(&r).expect_err("absent platform");
    match &err {
        RegistryError::NoMatchingPlatform {
            wanted, available, ..
        } => {
            assert_eq!(wanted, "linux/s390x");
            assert_eq!(
                available,
                &["linux/amd64".to_string(), "linux/arm64".to_string()]
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/amd64, linux/arm64"),
        "{msg}"
    );
}

#[test]
fn pull_layers_in_parallel_and_verify() {
    let reg = Registry::start();
    let layered = layered_image();
    let multi = multiarch_index();
    push(&layered, &reg, "test/layered:1");
    push(&multi, &reg, "test/multi:1");
    let client = RegistryClient::new(ClientOptions {
        tls_verify: Some(false),
        max_concurrent_downloads: 4,
        ..ClientOptions::default()
    })
    .expect("client");
    let r = reference(&format!("{}/test/layered:1", reg.addr()));
    let res = client.resolve(&r).expect("resolve");
    assert_eq!(res.layers().len(), 2);
    let dest = tempfile::tempdir().expect("tempdir");
    let paths = client
        .pull_layers(&res.reference, res.layers(), dest.path())
        .expect("pull layers");
    assert_eq!(paths.len(), 2);
    for (desc, path) in res.layers().iter().zip(&paths) {
        let data = std::fs::read(path).expect("layer file");
        assert_eq!(sha256_digest(&data), desc.digest);
        assert_eq!(data.len() as u64, desc.size);
        assert_eq!(data, blob_bytes(&layered, &desc.digest));
    }
    assert_eq!(
        files_in(dest.path()).len(),
        2,
        "only the layer files are left"
    );

    // Every blob of both images of the index: config + layers, 4 at a time.
    let multi_ref = reference(&format!("{}/test/multi:1", reg.addr()));
    let mut all: Vec<Descriptor> = Vec::new();
    for arch in ["amd64", "arm64"] {
        let c = client_for(Platform::new("linux", arch, None));
        let res = c.resolve(&multi_ref).expect("resolve multi");
        all.push(res.manifest.config.clone());
        all.extend(res.layers().iter().cloned());
    }
    let dest2 = tempfile::tempdir().expect("tempdir");
    let paths = client
        .pull_layers(&multi_ref, &all, dest2.path())
        .expect("pull all");
    for (desc, path) in all.iter().zip(&paths) {
        assert_eq!(
            sha256_digest(&std::fs::read(path).expect("blob")),
            desc.digest
        );
    }
    // Pulling again reuses verified files.
    let again = client
        .pull_layers(&multi_ref, &all, dest2.path())
        .expect("pull again");
    assert_eq!(again, paths);

    // fetch_blob_to streams into any writer and returns the size.
    let mut buf = Vec::new();
    let n = client
        .fetch_blob_to(&r, &res.layers()[0].digest, &mut buf)
        .expect("fetch_blob_to");
    assert_eq!(n, res.layers()[0].size);
    assert_eq!(sha256_digest(&buf), res.layers()[0].digest);
}

#[test]
fn tampered_blob_is_rejected_and_not_kept() {
    let reg = Registry::start();
    let layout = layered_image();
    push(&layout, &reg, "test/tamper:1");
    let client = insecure_client();
    let r = reference(&format!("{}/test/tamper:1", reg.addr()));
    let res = client.resolve(&r).expect("resolve");
    let bad = res.layers()[1].clone();

    // Same length, different content: only the digest check can catch it.
    let storage = registry_blob(&reg, &bad.digest);
    let mut data = std::fs::read(&storage).expect("registry blob");
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&storage, &data).expect("tamper");

    let dest = tempfile::tempdir().expect("tempdir");
    let err = client
        .pull_layers(&r, res.layers(), dest.path())
        .expect_err("tampered layer must fail");
    match &err {
        RegistryError::DigestMismatch {
            expected,
            actual,
            registry,
            repository,
            ..
        } => {
            assert_eq!(expected, &bad.digest);
            assert_eq!(actual, &sha256_digest(&data));
            assert_eq!(registry, &reg.addr());
            assert_eq!(repository, "test/tamper");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("digest mismatch"), "{err}");
    let bad_hex = bad.digest.trim_start_matches("sha256:");
    let left = files_in(dest.path());
    assert!(
        !left
            .iter()
            .any(|f| f.contains(bad_hex) || f.contains("partial")),
        "left: {left:?}"
    );

    // The single-file API leaves nothing either.
    let target = dest.path().join("single");
    let err = client
        .fetch_blob_to_file(&r, &bad, &target)
        .expect_err("tampered blob");
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert!(!target.exists());
    assert!(!files_in(dest.path()).iter().any(|f| f.contains("partial")));

    // A longer blob is cut off one byte past the expected size.
    let good = res.layers()[0].clone();
    let storage = registry_blob(&reg, &good.digest);
    let mut longer = std::fs::read(&storage).expect("registry blob");
    longer.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&storage, &longer).expect("tamper");
    let err = client
        .fetch_blob_to_file(&r, &good, &target)
        .expect_err("longer blob");
    match &err {
        RegistryError::SizeMismatch {
            expected,
            truncated,
            ..
        } => {
            assert_eq!(*expected, good.size);
            assert!(*truncated);
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(!target.exists());
    assert!(!files_in(dest.path()).iter().any(|f| f.contains("partial")));
}

#[test]
fn tls_basic_auth_with_cert_dir() {
    let reg = Registry::start_tls_auth("alice", "s3cret");
    let layout = busybox_image();
    push_layout_to(layout.path(), &reg, "test/secure:1").expect("push with skopeo");
    let r = reference(&format!("{}/test/secure:1", reg.addr()));
    let cert_dir = reg.cert_dir().expect("cert dir").to_path_buf();
    let with = |auth: Option<(&str, &str)>, cert_dir: Option<PathBuf>, tls_verify: Option<bool>| {
        RegistryClient::new(ClientOptions {
            tls_verify,
            cert_dir,
            auth: auth.map(|(u, p)| (u.to_string(), p.to_string())),
            ..ClientOptions::default()
        })
        .expect("client")
    };

    let client = with(Some(("alice", "s3cret")), Some(cert_dir.clone()), None);
    let res = client.resolve(&r).expect("resolve over TLS with auth");
    assert_eq!(res.top.digest, layout.digest);
    let dest = tempfile::tempdir().expect("tempdir");
    let paths = client
        .pull_layers(&r, res.layers(), dest.path())
        .expect("pull over TLS");
    assert_eq!(paths.len(), 1);

    let err = with(Some(("alice", "wrong")), Some(cert_dir.clone()), None)
        .resolve(&r)
        .expect_err("wrong password");
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.status(), Some(401));
    let msg = err.to_string();
    assert!(
        msg.contains("unauthorized: authentication required"),
        "{msg}"
    );
    assert!(msg.contains("test/secure"), "{msg}");

    let err = with(None, Some(cert_dir.clone()), None)
        .resolve(&r)
        .expect_err("no credentials");
    assert!(err.is_unauthorized(), "{err}");

    // Without the test CA the certificate is not trusted...
    let err = with(Some(("alice", "s3cret")), None, None)
        .resolve(&r)
        .expect_err("unknown CA");
    assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
    // ...unless verification is off.
    with(Some(("alice", "s3cret")), None, Some(false))
        .resolve(&r)
        .expect("tls_verify=false");

    // A cert dir without usable certificates is refused up front.
    let empty = tempfile::tempdir().expect("tempdir");
    std::fs::write(empty.path().join("bad.crt"), "not a cert").expect("write");
    let err = RegistryClient::new(ClientOptions {
        cert_dir: Some(empty.path().to_path_buf()),
        ..ClientOptions::default()
    })
    .err()
    .expect("bad cert dir");
    assert!(matches!(err, RegistryError::Certificates { .. }), "{err}");
}

#[test]
fn registries_conf_mirrors_and_insecure() {
    let reg = Registry::start();
    let layout = busybox_image();
    push(&layout, &reg, "mirror/busybox:1.0");
    // The first mirror refuses connections; the second is the test registry
    // (plain HTTP, so it must be insecure); the primary does not exist.
    let conf = format!(
        r#"
[[registry]]
prefix = "example.test/lib"
location = "primary.invalid/lib"

[[registry.mirror]]
location = "127.0.0.1:1/mirror"
insecure = true

[[registry.mirror]]
location = "{}/mirror"
insecure = true
"#,
        reg.addr()
    );
    let conf = RegistriesConf::from_str_with_origin(&conf, Path::new("/test/registries.conf"))
        .expect("registries.conf");
    let client = RegistryClient::new(ClientOptions {
        registries: Some(conf.clone()),
        ..ClientOptions::default()
    })
    .expect("client");
    let res = client
        .resolve(&reference("example.test/lib/busybox:1.0"))
        .expect("resolve through mirror");
    assert_eq!(res.top.digest, layout.digest);
    assert_eq!(
        res.reference.to_string(),
        format!("{}/mirror/busybox:1.0", reg.addr())
    );
    assert!(res.endpoint.insecure);
    let dest = tempfile::tempdir().expect("tempdir");
    client
        .pull_layers(&res.reference, res.layers(), dest.path())
        .expect("pull from mirror");

    // tls_verify=true overrides `insecure`: HTTPS only, so everything fails.
    let strict = RegistryClient::new(ClientOptions {
        registries: Some(conf),
        tls_verify: Some(true),
        ..ClientOptions::default()
    })
    .expect("client");
    let err = strict
        .resolve(&reference("example.test/lib/busybox:1.0"))
        .expect_err("no TLS anywhere");
    match &err {
        RegistryError::AllSourcesFailed { errors, .. } => assert_eq!(errors.len(), 3, "{err}"),
        other => panic!("unexpected error: {other}"),
    }

    let err = client
        .resolve(&reference("busybox"))
        .expect_err("short name");
    assert!(matches!(err, RegistryError::ShortName { .. }), "{err}");
}

/// The manifest and blobs of the single image of `layout`, as a PushImage.
fn push_image_of(layout: &OciLayout, mount_from: Option<&str>) -> PushImage {
    let img = &layout.images[0];
    let manifest = blob_bytes(layout, &img.manifest_digest);
    let parsed: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest json");
    let mut descs = vec![parsed["config"].clone()];
    descs.extend(parsed["layers"].as_array().expect("layers").iter().cloned());
    let blobs = descs
        .into_iter()
        .map(|d| {
            let d: Descriptor = serde_json::from_value(d).expect("descriptor");
            let path = layout.blob_path(&d.digest);
            (d, path)
        })
        .collect();
    PushImage {
        manifest,
        media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
        blobs,
        mount_from: mount_from.map(str::to_string),
    }
}

#[test]
fn push_skips_existing_and_mounts() {
    let reg = Registry::start();
    let layout = layered_image();
    let client = insecure_client();
    let image = push_image_of(&layout, None);
    let r = reference(&format!("{}/pushed/layered:v1", reg.addr()));

    let report = client.push(&r, &image).expect("push");
    assert_eq!(report.manifest_digest, layout.digest);
    assert_eq!(report.uploaded.len(), 3, "{report:?}");
    assert!(report.skipped.is_empty() && report.mounted.is_empty());
    assert_eq!(reg.tags("pushed/layered").expect("tags"), vec!["v1"]);
    let res = client.resolve(&r).expect("resolve pushed");
    assert_eq!(res.top.digest, layout.digest);
    let dest = tempfile::tempdir().expect("tempdir");
    client
        .pull_layers(&r, res.layers(), dest.path())
        .expect("pull pushed layers");

    // Again, with another tag: every blob is already there.
    let r2 = reference(&format!("{}/pushed/layered:v2", reg.addr()));
    let report = client.push(&r2, &image).expect("push again");
    assert_eq!(report.skipped.len(), 3, "{report:?}");
    assert!(report.uploaded.is_empty());

    // To another repository, mounting from the first.
    let mounted = push_image_of(&layout, Some("pushed/layered"));
    let r3 = reference(&format!("{}/other/copy@{}", reg.addr(), layout.digest));
    let report = client.push(&r3, &mounted).expect("push with mount");
    assert_eq!(report.mounted.len(), 3, "{report:?}");
    assert!(report.uploaded.is_empty());
    assert_eq!(
        client.resolve(&r3).expect("resolve copy").top.digest,
        layout.digest
    );
    assert_eq!(
        client
            .blob_exists(&r3, &layout.images[0].config_digest)
            .expect("HEAD"),
        Some(blob_bytes(&layout, &layout.images[0].config_digest).len() as u64)
    );

    // A blob whose file does not match its digest is refused by the registry.
    let busybox = busybox_image();
    let mut broken = push_image_of(&busybox, None);
    let wrong = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(wrong.path(), b"not the layer").expect("write");
    broken.blobs[1].1 = wrong.path().to_path_buf();
    let err = client
        .push(
            &reference(&format!("{}/pushed/broken:1", reg.addr())),
            &broken,
        )
        .expect_err("bad blob");
    assert!(err.status().is_some_and(|s| s >= 400), "{err}");
}

#[test]
fn push_over_tls_with_auth() {
    let reg = Registry::start_tls_auth("bob", "pw");
    let layout = busybox_image();
    let image = push_image_of(&layout, None);
    let cert_dir = reg.cert_dir().expect("cert dir").to_path_buf();
    let r = reference(&format!("{}/pushed/busybox:1", reg.addr()));
    let client = |pass: &str| {
        RegistryClient::new(ClientOptions {
            cert_dir: Some(cert_dir.clone()),
            auth: Some(("bob".to_string(), pass.to_string())),
            ..ClientOptions::default()
        })
        .expect("client")
    };
    let err = client("bad").push(&r, &image).expect_err("wrong password");
    assert!(err.is_unauthorized(), "{err}");
    let report = client("pw").push(&r, &image).expect("push");
    assert_eq!(report.manifest_digest, layout.digest);
    assert_eq!(reg.tags("pushed/busybox").expect("tags"), vec!["1"]);
}

/// A tiny plain-HTTP registry with a bearer token server, serving a Docker
/// schema 2 manifest list: the token flow and the Docker media types, which
/// docker-registry with htpasswd and skopeo's OCI pushes do not exercise.
mod fake_bearer {
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    /// Query string and `Authorization` header of each token request.
    pub type TokenLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

    pub struct Fake {
        pub addr: String,
        /// The query strings of the token requests and whether they had creds.
        pub token_requests: TokenLog,
    }

    pub struct Content {
        pub list: Vec<u8>,
        pub manifest: Vec<u8>,
        pub manifest_digest: String,
        pub config: Vec<u8>,
        pub config_digest: String,
    }

    pub const LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    const AUTH: &str = "Basic Y2Fyb2w6dG9wc2VjcmV0"; // carol:topsecret

    pub fn content() -> Content {
        let config =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
                .to_vec();
        let config_digest = super::sha256_digest(&config);
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[]}}"#,
            config.len()
        )
        .into_bytes();
        let manifest_digest = super::sha256_digest(&manifest);
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{LIST}","manifests":[{{"mediaType":"{MANIFEST}","size":{},"digest":"{manifest_digest}","platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{MANIFEST}","size":1,"digest":"sha256:{}","platform":{{"architecture":"arm","os":"linux","variant":"v7"}}}}]}}"#,
            manifest.len(),
            "1".repeat(64)
        )
        .into_bytes();
        Content {
            list,
            manifest,
            manifest_digest,
            config,
            config_digest,
        }
    }

    pub fn start() -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = token_requests.clone();
        let a = addr.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let reqs = reqs.clone();
                let a = a.clone();
                std::thread::spawn(move || handle(stream, &a, &reqs));
            }
        });
        Fake {
            addr,
            token_requests,
        }
    }

    fn handle(stream: TcpStream, addr: &str, reqs: &Mutex<Vec<(String, Option<String>)>>) {
        let mut reader = BufReader::new(match stream.try_clone() {
            Ok(s) => s,
            Err(_) => return,
        });
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(_method), Some(target)) = (parts.next(), parts.next()) else {
            return; // e.g. a TLS ClientHello: just close
        };
        let mut auth = None;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("authorization") {
                    auth = Some(v.trim().to_string());
                }
            }
        }
        let c = content();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let challenge = format!("Bearer realm=\"http://{addr}/token\",service=\"fake-registry\"");
        let unauthorized = (401, "application/json", br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#.to_vec());
        let authed = auth.as_deref() == Some("Bearer good-token");
        let (status, ctype, body) = match path {
            "/token" => {
                reqs.lock().unwrap().push((query.to_string(), auth.clone()));
                if auth.as_deref() == Some(AUTH) {
                    (
                        200,
                        "application/json",
                        br#"{"token":"good-token","expires_in":300}"#.to_vec(),
                    )
                } else {
                    unauthorized.clone()
                }
            }
            _ if !authed => unauthorized.clone(),
            "/v2/lib/img/manifests/v1" => (200, LIST, c.list),
            p if p == format!("/v2/lib/img/manifests/{}", c.manifest_digest) => {
                (200, MANIFEST, c.manifest)
            }
            p if p == format!("/v2/lib/img/blobs/{}", c.config_digest) => {
                (200, "application/octet-stream", c.config)
            }
            _ => (
                404,
                "application/json",
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                    .to_vec(),
            ),
        };
        let mut out = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if status == 401 && path != "/token" {
            out.push_str(&format!("WWW-Authenticate: {challenge}\r\n"));
        }
        out.push_str("\r\n");
        let mut s = stream;
        let _ = s.write_all(out.as_bytes());
        let _ = s.write_all(&body);
        let _ = s.flush();
    }
}

#[test]
fn bearer_token_and_docker_manifest_list() {
    let fake = fake_bearer::start();
    let c = fake_bearer::content();
    let r = reference(&format!("{}/lib/img:v1", fake.addr));
    let client = |pass: &str, platform: Platform| {
        RegistryClient::new(ClientOptions {
            tls_verify: Some(false),
            auth: Some(("carol".to_string(), pass.to_string())),
            platform,
            ..ClientOptions::default()
        })
        .expect("client")
    };
    let res = client("topsecret", Platform::new("linux", "amd64", None))
        .resolve(&r)
        .expect("resolve with bearer token");
    assert_eq!(res.top.media_type, fake_bearer::LIST);
    assert_eq!(res.top.raw, c.list);
    assert_eq!(res.top.digest, sha256_digest(&c.list));
    let inst = res.instance.as_ref().expect("instance");
    assert_eq!(inst.media_type, fake_bearer::MANIFEST);
    assert_eq!(inst.digest, c.manifest_digest);
    assert_eq!(res.config, c.config);
    {
        let reqs = fake.token_requests.lock().unwrap();
        // One token for the repository's pull scope, reused for every request.
        assert_eq!(reqs.len(), 1, "{reqs:?}");
        assert_eq!(
            reqs[0].0,
            "service=fake-registry&scope=repository%3Alib%2Fimg%3Apull"
        );
        assert!(reqs[0]
            .1
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")));
    }

    let err = client(
        "topsecret",
        Platform::parse("linux/arm/v6").expect("platform"),
    )
    .resolve(&r)
    .expect_err("arm/v6 is absent");
    assert!(
        err.to_string().contains("linux/amd64, linux/arm/v7"),
        "{err}"
    );

    let err = client("nope", Platform::host())
        .resolve(&r)
        .expect_err("wrong password");
    assert!(err.is_unauthorized(), "{err}");
    assert!(
        err.to_string()
            .contains("unauthorized: authentication required"),
        "{err}"
    );

    let err = client("topsecret", Platform::host())
        .resolve(&reference(&format!("{}/lib/img:v2", fake.addr)))
        .expect_err("unknown tag");
    assert!(err.is_not_found(), "{err}");
}
