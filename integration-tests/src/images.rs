//! Test images built offline, from scratch, as OCI image layouts in temporary
//! directories, and pushed to a [`crate::registry::Registry`] with skopeo.
//!
//! Everything is deterministic (fixed mtimes, uid/gid 0, sorted entries, fixed
//! `created`), so the same image always has the same digests. Layers are
//! gzip-compressed tars (`application/vnd.oci.image.layer.v1.tar+gzip`); each
//! image config carries `rootfs.diff_ids`, one `history` entry per layer,
//! `created`, `architecture`/`os` and `config.Env`/`config.Cmd`.
//!
//! - [`busybox_image`]: one layer, the busybox rootfs of [`crate::make_rootfs`].
//! - [`layered_image`]: two layers, the second with a whiteout and an opaque dir.
//! - [`multiarch_index`]: an image index for linux/amd64 and linux/arm64.
//! - [`push_layout`] / [`push_layout_to`]: `skopeo copy oci:DIR:TAG docker://…`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The annotation naming a tag in an OCI layout's index.json.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The `created` time of every test image and history entry.
pub const CREATED: &str = "2024-01-01T00:00:00Z";
/// The mtime of every entry of every test layer (2024-01-01T00:00:00Z).
pub const MTIME: u64 = 1_704_067_200;
/// `PATH` in every test image's config.
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The tag every layout built here uses in its index.json.
pub const LAYOUT_TAG: &str = "latest";

/// The file in the arm64 image of [`multiarch_index`], and its content.
pub const ARM64_MARKER: (&str, &str) = ("etc/arch-marker", "arm64\n");

/// One entry of a layer tar. Paths are relative ("etc/a"); parents are not
/// added implicitly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerEntry {
    Dir {
        path: String,
        mode: u32,
    },
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
}

impl LayerEntry {
    pub fn dir(path: &str) -> LayerEntry {
        LayerEntry::Dir {
            path: path.to_owned(),
            mode: 0o755,
        }
    }

    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> LayerEntry {
        LayerEntry::File {
            path: path.to_owned(),
            data: data.into(),
            mode: 0o644,
        }
    }

    pub fn symlink(path: &str, target: &str) -> LayerEntry {
        LayerEntry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        }
    }

    /// The whiteout deleting `dir/name` from lower layers: `dir/.wh.name`.
    pub fn whiteout(dir: &str, name: &str) -> LayerEntry {
        Self::file(&join(dir, &format!(".wh.{name}")), Vec::new())
    }

    /// The marker making `dir` opaque (hiding lower layers' content):
    /// `dir/.wh..wh..opq`.
    pub fn opaque(dir: &str) -> LayerEntry {
        Self::file(&join(dir, ".wh..wh..opq"), Vec::new())
    }

    pub fn path(&self) -> &str {
        match self {
            LayerEntry::Dir { path, .. }
            | LayerEntry::File { path, .. }
            | LayerEntry::Symlink { path, .. } => path,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// What was written for one image (manifest + config + layers).
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub manifest_digest: String,
    pub manifest_size: u64,
    pub config_digest: String,
    pub architecture: String,
    pub os: String,
    /// Digests of the compressed layer blobs, bottom first.
    pub layer_digests: Vec<String>,
    /// Digests of the uncompressed layer tars (the config's diff_ids).
    pub diff_ids: Vec<String>,
    /// The entries of each layer, bottom first.
    pub layers: Vec<Vec<LayerEntry>>,
    /// The image config as written.
    pub config: Value,
}

/// An OCI image layout in a temporary directory whose index.json names one
/// manifest or image index as [`LAYOUT_TAG`].
#[derive(Debug)]
pub struct OciLayout {
    pub dir: tempfile::TempDir,
    /// The ref name in index.json ([`LAYOUT_TAG`]).
    pub tag: String,
    /// [`MEDIA_TYPE_MANIFEST`] or [`MEDIA_TYPE_INDEX`].
    pub media_type: String,
    /// Digest of the top manifest or index.
    pub digest: String,
    pub size: u64,
    /// The images: one for a manifest, one per platform for an index.
    pub images: Vec<ImageInfo>,
}

impl OciLayout {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the top object is an image index.
    pub fn is_index(&self) -> bool {
        self.media_type == MEDIA_TYPE_INDEX
    }

    /// "oci:DIR:TAG", for skopeo and podman.
    pub fn oci_ref(&self) -> String {
        format!("oci:{}:{}", self.path().display(), self.tag)
    }

    /// The image for `arch` (of an index), or the only image.
    pub fn image(&self, arch: &str) -> Option<&ImageInfo> {
        self.images.iter().find(|i| i.architecture == arch)
    }

    /// The path of the blob `digest` ("sha256:…").
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        blob_path(self.path(), digest)
    }
}

/// "sha256:<hex>" of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in hash {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    layout.join("blobs").join(alg).join(hex)
}

/// Writes `data` as a blob of `layout`; returns its digest and size.
pub fn write_blob(layout: &Path, data: &[u8]) -> io::Result<(String, u64)> {
    let digest = sha256_digest(data);
    let path = blob_path(layout, &digest);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, data)?;
    Ok((digest, data.len() as u64))
}

/// An uncompressed tar of `entries`, deterministic (uid/gid 0, [`MTIME`]).
pub fn layer_tar(entries: &[LayerEntry]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        match e {
            LayerEntry::Dir { path, mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                let p = format!("{}/", path.trim_end_matches('/'));
                b.append_data(&mut h, p, io::empty())?;
            }
            LayerEntry::File { path, data, mode } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, data.as_slice())?;
            }
            LayerEntry::Symlink { path, target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target)?;
            }
        }
    }
    b.into_inner()
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)?;
    e.finish()
}

/// The entries of the directory tree at `root` (not following symlinks),
/// parents before children, sorted; ownership is not kept (all root).
pub fn dir_entries(root: &Path) -> io::Result<Vec<LayerEntry>> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, rel: &str, out: &mut Vec<LayerEntry>) -> io::Result<()> {
        let dir = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        let mut names: Vec<String> = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            let r = join(rel, &name);
            let p = root.join(&r);
            let md = std::fs::symlink_metadata(&p)?;
            let mode = md.permissions().mode() & 0o7777;
            if md.file_type().is_symlink() {
                let target = std::fs::read_link(&p)?;
                out.push(LayerEntry::symlink(&r, &target.to_string_lossy()));
            } else if md.is_dir() {
                out.push(LayerEntry::Dir {
                    path: r.clone(),
                    mode,
                });
                walk(root, &r, out)?;
            } else if md.is_file() {
                out.push(LayerEntry::File {
                    path: r,
                    data: std::fs::read(&p)?,
                    mode,
                });
            } else {
                return Err(io::Error::other(format!(
                    "{}: only dirs, files and symlinks go into test layers",
                    p.display()
                )));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, "", &mut out)?;
    Ok(out)
}

/// Writes an image with `layers` (bottom first) into the OCI layout
/// `layout` (blobs only: index.json is written by [`write_index_json`]).
pub fn write_image(
    layout: &Path,
    layers: &[Vec<LayerEntry>],
    architecture: &str,
    cmd: &[&str],
) -> io::Result<ImageInfo> {
    write_image_with(layout, layers, architecture, cmd, CREATED, &[])
}

/// [`write_image`] with a `created` time (RFC 3339, also each history
/// entry's) and `Labels` in the config.
pub fn write_image_with(
    layout: &Path,
    layers: &[Vec<LayerEntry>],
    architecture: &str,
    cmd: &[&str],
    created: &str,
    labels: &[(&str, &str)],
) -> io::Result<ImageInfo> {
    let mut layer_descs = Vec::new();
    let mut layer_digests = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (i, entries) in layers.iter().enumerate() {
        let tar = layer_tar(entries)?;
        diff_ids.push(sha256_digest(&tar));
        let (digest, size) = write_blob(layout, &gzip(&tar)?)?;
        layer_descs.push(json!({
            "mediaType": MEDIA_TYPE_LAYER_GZIP,
            "digest": digest,
            "size": size,
        }));
        layer_digests.push(digest);
        history.push(json!({
            "created": created,
            "created_by": format!("podman-rs integration-tests: layer {i}"),
            "comment": "built by podman-rs-integration-tests",
        }));
    }
    let mut image_config = json!({
        "Env": [PATH_ENV],
        "Cmd": cmd,
        "WorkingDir": "/",
    });
    if !labels.is_empty() {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        image_config["Labels"] = Value::Object(labels);
    }
    let config = json!({
        "created": created,
        "author": "podman-rs integration tests",
        "architecture": architecture,
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    let config_bytes = serde_json::to_vec(&config).map_err(io::Error::other)?;
    let (config_digest, config_size) = write_blob(layout, &config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {
            "mediaType": MEDIA_TYPE_CONFIG,
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    let (manifest_digest, manifest_size) = write_blob(layout, &manifest_bytes)?;
    Ok(ImageInfo {
        manifest_digest,
        manifest_size,
        config_digest,
        architecture: architecture.to_owned(),
        os: "linux".to_owned(),
        layer_digests,
        diff_ids,
        layers: layers.to_vec(),
        config,
    })
}

/// Writes `oci-layout` and an index.json naming one descriptor as `tag`.
pub fn write_index_json(
    layout: &Path,
    media_type: &str,
    digest: &str,
    size: u64,
    tag: &str,
) -> io::Result<()> {
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {REF_NAME: tag},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).map_err(io::Error::other)?,
    )
}

fn new_layout_dir() -> io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix("podman-rs-oci-layout-")
        .tempdir()
}

/// A layout holding one image with `layers`.
pub fn single_image_layout(
    layers: &[Vec<LayerEntry>],
    architecture: &str,
    cmd: &[&str],
) -> io::Result<OciLayout> {
    let dir = new_layout_dir()?;
    let img = write_image(dir.path(), layers, architecture, cmd)?;
    write_index_json(
        dir.path(),
        MEDIA_TYPE_MANIFEST,
        &img.manifest_digest,
        img.manifest_size,
        LAYOUT_TAG,
    )?;
    Ok(OciLayout {
        dir,
        tag: LAYOUT_TAG.to_owned(),
        media_type: MEDIA_TYPE_MANIFEST.to_owned(),
        digest: img.manifest_digest.clone(),
        size: img.manifest_size,
        images: vec![img],
    })
}

/// A layout holding one image with `layers`, created at `created`, with
/// `labels` (architecture: the host's, `Cmd ["sh"]`).
pub fn labeled_image_layout(
    layers: &[Vec<LayerEntry>],
    created: &str,
    labels: &[(&str, &str)],
) -> io::Result<OciLayout> {
    let dir = new_layout_dir()?;
    let img = write_image_with(dir.path(), layers, host_arch(), &["sh"], created, labels)?;
    write_index_json(
        dir.path(),
        MEDIA_TYPE_MANIFEST,
        &img.manifest_digest,
        img.manifest_size,
        LAYOUT_TAG,
    )?;
    Ok(OciLayout {
        dir,
        tag: LAYOUT_TAG.to_owned(),
        media_type: MEDIA_TYPE_MANIFEST.to_owned(),
        digest: img.manifest_digest.clone(),
        size: img.manifest_size,
        images: vec![img],
    })
}

/// The entries of the busybox rootfs of [`crate::make_rootfs`].
pub fn busybox_entries() -> io::Result<Vec<LayerEntry>> {
    let tmp = tempfile::Builder::new()
        .prefix("podman-rs-rootfs-")
        .tempdir()?;
    crate::make_rootfs(tmp.path());
    dir_entries(tmp.path())
}

/// The OCI architecture name of this host (Rust's names mapped to GOARCH).
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// One-layer image of the host's busybox rootfs; architecture amd64 (the
/// host's busybox is amd64 on the test machines), `Cmd ["sh"]`.
pub fn busybox_image() -> OciLayout {
    try_busybox_image().unwrap_or_else(|e| panic!("building the busybox test image: {e}"))
}

pub fn try_busybox_image() -> io::Result<OciLayout> {
    single_image_layout(&[busybox_entries()?], host_arch(), &["sh"])
}

/// The layers of [`layered_image`]: the base has /etc/a, /etc/b, /dir/x and
/// /dir/y; the top whites out /etc/b (`etc/.wh.b`), makes /dir opaque
/// (`dir/.wh..wh..opq`) and adds /dir/z. Result: /etc/a, /dir/z.
pub fn layered_entries() -> Vec<Vec<LayerEntry>> {
    let base = vec![
        LayerEntry::dir("etc"),
        LayerEntry::file("etc/a", "a\n"),
        LayerEntry::file("etc/b", "b\n"),
        LayerEntry::dir("dir"),
        LayerEntry::file("dir/x", "x\n"),
        LayerEntry::file("dir/y", "y\n"),
    ];
    let top = vec![
        LayerEntry::dir("etc"),
        LayerEntry::whiteout("etc", "b"),
        LayerEntry::dir("dir"),
        LayerEntry::opaque("dir"),
        LayerEntry::file("dir/z", "z\n"),
    ];
    vec![base, top]
}

/// Two-layer image with a whiteout and an opaque directory (see
/// [`layered_entries`]); no shell in it, `Cmd ["sh"]` anyway.
pub fn layered_image() -> OciLayout {
    try_layered_image().unwrap_or_else(|e| panic!("building the layered test image: {e}"))
}

pub fn try_layered_image() -> io::Result<OciLayout> {
    single_image_layout(&layered_entries(), host_arch(), &["sh"])
}

/// An image index for linux/amd64 (the busybox image) and linux/arm64 (one
/// layer with [`ARM64_MARKER`], architecture arm64). `images[0]` is amd64,
/// `images[1]` arm64.
pub fn multiarch_index() -> OciLayout {
    try_multiarch_index().unwrap_or_else(|e| panic!("building the multi-arch test index: {e}"))
}

pub fn try_multiarch_index() -> io::Result<OciLayout> {
    let dir = new_layout_dir()?;
    let amd64 = write_image(dir.path(), &[busybox_entries()?], "amd64", &["sh"])?;
    let arm64 = write_image(
        dir.path(),
        &[vec![
            LayerEntry::dir("etc"),
            LayerEntry::file(ARM64_MARKER.0, ARM64_MARKER.1),
        ]],
        "arm64",
        &["sh"],
    )?;
    let manifests: Vec<Value> = [&amd64, &arm64]
        .iter()
        .map(|i| {
            json!({
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": i.manifest_digest,
                "size": i.manifest_size,
                "platform": {"architecture": i.architecture, "os": i.os},
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_INDEX,
        "manifests": manifests,
    });
    let bytes = serde_json::to_vec(&index).map_err(io::Error::other)?;
    let (digest, size) = write_blob(dir.path(), &bytes)?;
    write_index_json(dir.path(), MEDIA_TYPE_INDEX, &digest, size, LAYOUT_TAG)?;
    Ok(OciLayout {
        dir,
        tag: LAYOUT_TAG.to_owned(),
        media_type: MEDIA_TYPE_INDEX.to_owned(),
        digest,
        size,
        images: vec![amd64, arm64],
    })
}

/// How skopeo authenticates to and trusts the destination registry.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// "user:pass" for `--dest-creds`.
    pub creds: Option<String>,
    /// A directory with `ca.crt` for `--dest-cert-dir`; with it TLS is
    /// verified, without it `--dest-tls-verify=false` (plain HTTP works).
    pub cert_dir: Option<PathBuf>,
}

impl PushOptions {
    /// The options for `reg` (creds and CA of the TLS+auth flavour).
    pub fn for_registry(reg: &crate::registry::Registry) -> PushOptions {
        PushOptions {
            creds: reg.creds_arg(),
            cert_dir: reg.cert_dir().map(Path::to_path_buf),
        }
    }
}

/// Pushes the image or index that the OCI layout `layout_dir` names (its
/// only ref name in index.json) to `registry_addr` ("127.0.0.1:PORT") as
/// `dest` ("repo:tag"), with `skopeo copy --preserve-digests` (`--all` for an
/// index), without TLS verification or credentials.
pub fn push_layout(layout_dir: &Path, registry_addr: &str, dest: &str) -> io::Result<()> {
    push_layout_with(layout_dir, registry_addr, dest, &PushOptions::default())
}

/// [`push_layout`] to `reg`, with its credentials and CA if it has them.
pub fn push_layout_to(
    layout_dir: &Path,
    reg: &crate::registry::Registry,
    dest: &str,
) -> io::Result<()> {
    push_layout_with(
        layout_dir,
        &reg.addr(),
        dest,
        &PushOptions::for_registry(reg),
    )
}

/// [`push_layout`] with explicit options.
pub fn push_layout_with(
    layout_dir: &Path,
    registry_addr: &str,
    dest: &str,
    opts: &PushOptions,
) -> io::Result<()> {
    let (tag, media_type) = layout_ref(layout_dir)?;
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy")
        .arg("copy")
        .arg("--quiet")
        .arg("--preserve-digests")
        .arg("--retry-times=2");
    if media_type == MEDIA_TYPE_INDEX {
        cmd.arg("--all");
    }
    match &opts.cert_dir {
        Some(d) => {
            cmd.arg("--dest-cert-dir").arg(d);
        }
        None => {
            cmd.arg("--dest-tls-verify=false");
        }
    }
    if let Some(c) = &opts.creds {
        cmd.arg("--dest-creds").arg(c);
    }
    let src = format!("oci:{}:{tag}", layout_dir.display());
    let dst = format!("docker://{registry_addr}/{dest}");
    cmd.arg(&src).arg(&dst).stdin(Stdio::null());
    let out = cmd.output().map_err(|e| {
        io::Error::other(format!(
            "running skopeo (install Debian's skopeo package): {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "skopeo copy {src} {dst} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// The ref name and media type of the only descriptor of a layout's index.json.
fn layout_ref(layout_dir: &Path) -> io::Result<(String, String)> {
    let path = layout_dir.join("index.json");
    let text = std::fs::read(&path)?;
    let index: Value = serde_json::from_slice(&text)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
    let [m] = manifests.as_slice() else {
        return Err(io::Error::other(format!(
            "{}: expected exactly one manifest, found {}",
            path.display(),
            manifests.len()
        )));
    };
    let tag = m["annotations"][REF_NAME]
        .as_str()
        .ok_or_else(|| io::Error::other(format!("{}: no {REF_NAME}", path.display())))?;
    let media_type = m["mediaType"].as_str().unwrap_or(MEDIA_TYPE_MANIFEST);
    Ok((tag.to_owned(), media_type.to_owned()))
}
