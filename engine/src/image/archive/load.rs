//! `load`: docker-archive, oci-archive and oci-dir into the store.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::tarindex::TarIndex;
use super::{
    invalid, io_err, sha256_digest, ArchiveError, ArchiveResult, HashingReader,
    MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_LAYER_ZSTD, MEDIA_TYPE_OCI_MANIFEST, REF_NAME,
};
use crate::image::reference::Reference;
use crate::store::{parse_digest, ImageRecord, Store};
use podman_rs_rootfs::layers::{chain_id, Compression, ExtractOptions};

/// The annotation Docker 25+ (containerd) puts the full image name in.
const CONTAINERD_IMAGE_NAME: &str = "io.containerd.image.name";

/// Largest JSON entry (manifest.json, index.json, manifests, configs) read.
const JSON_LIMIT: u64 = 64 << 20;

/// An image stored by [`load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// The image ID (64 hex characters).
    pub id: String,
    /// The names it was loaded with (normalised as stored), maybe none.
    pub names: Vec<String>,
}

/// Where entries come from: an archive (by tar index) or a layout dir.
enum Source {
    Tar(TarIndex),
    Dir(PathBuf),
}

impl Source {
    fn path(&self) -> &Path {
        match self {
            Source::Tar(t) => t.path(),
            Source::Dir(d) => d,
        }
    }

    fn has_file(&self, name: &str) -> bool {
        match self {
            Source::Tar(t) => t.has_file(name),
            Source::Dir(d) => d.join(name).is_file(),
        }
    }

    /// Only called with fixed names or `blobs/sha256/<validated hex>` for
    /// a directory; any name for a tar (resolved inside the archive).
    fn open(&self, name: &str) -> ArchiveResult<(Box<dyn Read>, u64)> {
        match self {
            Source::Tar(t) => {
                let (r, size) = t.open_entry(name)?;
                Ok((Box::new(r), size))
            }
            Source::Dir(d) => {
                let p = d.join(name);
                let f = File::open(&p).map_err(io_err(d, "opening", name))?;
                let size = f.metadata().map_err(io_err(d, "stat", name))?.len();
                Ok((Box::new(f), size))
            }
        }
    }

    fn read_small(&self, name: &str) -> ArchiveResult<Vec<u8>> {
        match self {
            Source::Tar(t) => t.read_small(name, JSON_LIMIT),
            Source::Dir(_) => {
                let (r, size) = self.open(name)?;
                if size > JSON_LIMIT {
                    return Err(invalid(
                        self.path(),
                        name,
                        format!("file is {size} bytes, more than the {JSON_LIMIT} allowed"),
                    ));
                }
                let mut buf = Vec::new();
                r.take(JSON_LIMIT).read_to_end(&mut buf).map_err(io_err(
                    self.path(),
                    "reading",
                    name,
                ))?;
                Ok(buf)
            }
        }
    }

    fn json(&self, name: &str) -> ArchiveResult<Value> {
        let bytes = self.read_small(name)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| invalid(self.path(), name, format!("invalid JSON: {e}")))
    }

    /// A blob of an OCI layout, verified against its digest.
    fn blob_json(&self, digest: &str) -> ArchiveResult<(Vec<u8>, Value)> {
        let name = blob_name(self.path(), digest)?;
        let bytes = self.read_small(&name)?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(invalid(
                self.path(),
                name,
                format!("digest mismatch: content hashes to {actual}"),
            ));
        }
        let v = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(self.path(), &name, format!("invalid JSON: {e}")))?;
        Ok((bytes, v))
    }
}

fn blob_name(archive: &Path, digest: &str) -> ArchiveResult<String> {
    let hex = parse_digest(digest).map_err(|source| ArchiveError::Store {
        archive: archive.to_path_buf(),
        entry: digest.to_string(),
        source: Box::new(source),
    })?;
    Ok(format!("blobs/sha256/{hex}"))
}

/// Loads every image of the archive or OCI layout directory `src` into
/// `store`, detecting the format: a directory is an OCI layout (`oci-dir`);
/// a tar with `index.json` and `oci-layout` is an `oci-archive`, one with
/// `manifest.json` a `docker-archive`. Names come from `RepoTags`
/// (docker-archive; none means an unnamed image, as Podman) or from the
/// `org.opencontainers.image.ref.name` annotations (OCI). Blobs are
/// verified against their digests, layers against the config's diff IDs.
pub fn load(store: &Store, src: &Path) -> ArchiveResult<Vec<LoadedImage>> {
    let meta = std::fs::metadata(src).map_err(io_err(src, "stat", "archive"))?;
    let source = if meta.is_dir() {
        Source::Dir(src.to_path_buf())
    } else {
        Source::Tar(TarIndex::open(src)?)
    };
    if source.has_file("index.json") && source.has_file("oci-layout") {
        load_oci(store, &source)
    } else if source.has_file("manifest.json") {
        load_docker(store, &source)
    } else {
        Err(invalid(
            src,
            "archive",
            "neither a docker-archive (no manifest.json) nor an OCI layout (no index.json and oci-layout)",
        ))
    }
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn str_field<'a>(source: &Source, entry: &str, v: &'a Value, key: &str) -> ArchiveResult<&'a str> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| {
        invalid(
            source.path(),
            entry,
            format!("missing string field {key:?}"),
        )
    })
}

/// A name from an archive, normalised as Podman stores it.
fn local_name(source: &Source, entry: &str, name: &str) -> ArchiveResult<String> {
    Reference::parse_local_name(name)
        .map(|r| r.to_string())
        .map_err(|e| invalid(source.path(), entry, format!("image name {name:?}: {e}")))
}

fn load_oci(store: &Store, source: &Source) -> ArchiveResult<Vec<LoadedImage>> {
    let index = source.json("index.json")?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(source.path(), "index.json", "no \"manifests\" array"))?;
    let mut out: Vec<LoadedImage> = Vec::new();
    for desc in manifests {
        let digest = str_field(source, "index.json", desc, "digest")?;
        let mut names = Vec::new();
        // Docker 25+ archives carry the full name in containerd's
        // annotation and only the tag in ref.name: prefer the former.
        let annotations = desc.get("annotations");
        if let Some(n) = annotations
            .and_then(|a| a.get(CONTAINERD_IMAGE_NAME))
            .or_else(|| annotations.and_then(|a| a.get(REF_NAME)))
            .and_then(Value::as_str)
        {
            names.push(local_name(source, "index.json", n)?);
        }
        let (mut bytes, mut manifest) = source.blob_json(digest)?;
        let mut digest = digest.to_string();
        let mt = desc
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if mt == MEDIA_TYPE_OCI_INDEX
            || mt == MEDIA_TYPE_DOCKER_LIST
            || manifest.get("manifests").is_some()
        {
            let entry = blob_name(source.path(), &digest)?;
            let list = manifest
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(source.path(), &entry, "image index without manifests"))?;
            let arch = host_arch();
            let chosen = list
                .iter()
                .find(|m| {
                    let p = &m["platform"];
                    p["architecture"].as_str() == Some(arch)
                        && p["os"].as_str().unwrap_or("linux") == "linux"
                })
                .ok_or_else(|| {
                    invalid(
                        source.path(),
                        &entry,
                        format!("image index has no manifest for linux/{arch}"),
                    )
                })?;
            digest = str_field(source, &entry, chosen, "digest")?.to_string();
            (bytes, manifest) = source.blob_json(&digest)?;
        }
        let image = load_oci_image(store, source, &digest, &bytes, &manifest, &names)?;
        merge(&mut out, image);
    }
    Ok(out)
}

fn merge(out: &mut Vec<LoadedImage>, image: LoadedImage) {
    match out.iter_mut().find(|i| i.id == image.id) {
        Some(i) => {
            for n in image.names {
                if !i.names.contains(&n) {
                    i.names.push(n);
                }
            }
        }
        None => out.push(image),
    }
}

fn store_err(
    source: &Source,
    entry: &str,
) -> impl FnOnce(crate::store::StoreError) -> ArchiveError {
    let archive = source.path().to_path_buf();
    let entry = entry.to_string();
    move |source| ArchiveError::Store {
        archive,
        entry,
        source: Box::new(source),
    }
}

/// The config's diff IDs, which must be as many as `layers`.
fn diff_ids(
    source: &Source,
    entry: &str,
    config: &[u8],
    layers: usize,
) -> ArchiveResult<Vec<String>> {
    let v: Value = serde_json::from_slice(config)
        .map_err(|e| invalid(source.path(), entry, format!("invalid config JSON: {e}")))?;
    let ids: Vec<String> = v
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if ids.len() != layers {
        return Err(invalid(
            source.path(),
            entry,
            format!("config has {} diff IDs for {layers} layers", ids.len()),
        ));
    }
    for d in &ids {
        parse_digest(d).map_err(store_err(source, entry))?;
    }
    Ok(ids)
}

fn created(config: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(config)
        .ok()?
        .get("created")?
        .as_str()
        .map(String::from)
}

/// Extracts the layer blob `blob` (already in the store) as the chain
/// after `parent`, verifying `diff_id`; returns the chain ID.
fn put_layer(
    store: &Store,
    source: &Source,
    entry: &str,
    blob: &str,
    compression: Compression,
    parent: Option<&str>,
    diff_id: &str,
) -> ArchiveResult<String> {
    let chain = chain_id(parent, diff_id);
    if store.layers().has_layer(&chain) {
        return Ok(chain);
    }
    let reader = store.open_blob(blob).map_err(store_err(source, entry))?;
    let opts = ExtractOptions {
        label: Some(format!("{} {entry}", source.path().display())),
        expected_digest: Some(blob.to_string()),
        expected_diff_id: Some(diff_id.to_string()),
        ..ExtractOptions::default()
    };
    store
        .layers()
        .put_layer(&chain, parent, reader, compression, &opts)
        .map_err(|e| ArchiveError::Layer {
            archive: source.path().to_path_buf(),
            entry: entry.to_string(),
            source: Box::new(e),
        })?;
    Ok(chain)
}

fn load_oci_image(
    store: &Store,
    source: &Source,
    manifest_digest: &str,
    manifest_bytes: &[u8],
    manifest: &Value,
    names: &[String],
) -> ArchiveResult<LoadedImage> {
    let mentry = blob_name(source.path(), manifest_digest)?;
    let config_digest = manifest
        .get("config")
        .map(|c| str_field(source, &mentry, c, "digest"))
        .transpose()?
        .ok_or_else(|| invalid(source.path(), &mentry, "manifest has no config"))?;
    let layers = manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (config_bytes, _) = source.blob_json(config_digest)?;
    let centry = blob_name(source.path(), config_digest)?;
    let diff_ids = diff_ids(source, &centry, &config_bytes, layers.len())?;

    let _lock = store.write_lock().map_err(store_err(source, &mentry))?;
    store
        .put_blob(manifest_digest, manifest_bytes)
        .map_err(store_err(source, &mentry))?;
    store
        .put_blob(config_digest, config_bytes.as_slice())
        .map_err(store_err(source, &centry))?;
    let mut chain: Vec<String> = Vec::new();
    let mut layer_blobs = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let digest = str_field(source, &mentry, layer, "digest")?;
        let entry = blob_name(source.path(), digest)?;
        let mt = layer
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(MEDIA_TYPE_OCI_LAYER);
        let compression = Compression::from_media_type(mt).unwrap_or(Compression::Auto);
        if !store.has_blob(digest) {
            let (reader, _) = source.open(&entry)?;
            store
                .put_blob(digest, reader)
                .map_err(store_err(source, &entry))?;
        }
        let c = put_layer(
            store,
            source,
            &entry,
            digest,
            compression,
            chain.last().map(String::as_str),
            diff_id,
        )?;
        chain.push(c);
        layer_blobs.push(digest.to_string());
    }
    let mt = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(MEDIA_TYPE_OCI_MANIFEST)
        .to_string();
    let config = String::from_utf8(config_bytes.clone())
        .map_err(|_| invalid(source.path(), &centry, "config is not UTF-8"))?;
    let record = ImageRecord {
        id: config_digest.to_string(),
        digest: manifest_digest.to_string(),
        manifest_media_type: mt,
        created: created(&config_bytes),
        config,
        size: 0,
        layers: chain,
        layer_blobs,
        manifest_blobs: Vec::new(),
        names: names.to_vec(),
        digests: Vec::new(),
    };
    let image = store
        .put_image(&record)
        .map_err(store_err(source, &mentry))?;
    Ok(LoadedImage {
        id: image.id,
        names: names.to_vec(),
    })
}

/// The compression of a layer entry from its first bytes.
fn sniff(r: &mut dyn Read) -> io::Result<Compression> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Compression::Gzip
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Compression::Zstd
    } else {
        Compression::None
    })
}

fn load_docker(store: &Store, source: &Source) -> ArchiveResult<Vec<LoadedImage>> {
    let manifest = source.json("manifest.json")?;
    let items = manifest
        .as_array()
        .ok_or_else(|| invalid(source.path(), "manifest.json", "not a JSON array"))?;
    if items.is_empty() {
        return Err(invalid(source.path(), "manifest.json", "no images"));
    }
    let mut out = Vec::new();
    for item in items {
        let config_name = str_field(source, "manifest.json", item, "Config")?;
        let layer_names: Vec<&str> = item
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(source.path(), "manifest.json", "missing \"Layers\""))?
            .iter()
            .map(|l| {
                l.as_str().ok_or_else(|| {
                    invalid(source.path(), "manifest.json", "a layer is not a string")
                })
            })
            .collect::<ArchiveResult<_>>()?;
        let mut names = Vec::new();
        if let Some(tags) = item.get("RepoTags").and_then(Value::as_array) {
            for t in tags {
                let t = t.as_str().ok_or_else(|| {
                    invalid(source.path(), "manifest.json", "a RepoTag is not a string")
                })?;
                names.push(local_name(source, "manifest.json", t)?);
            }
        }
        let config_bytes = source.read_small(config_name)?;
        let config_digest = sha256_digest(&config_bytes);
        let diff_ids = diff_ids(source, config_name, &config_bytes, layer_names.len())?;

        let _lock = store.write_lock().map_err(store_err(source, config_name))?;
        store
            .put_blob(&config_digest, config_bytes.as_slice())
            .map_err(store_err(source, config_name))?;
        let mut chain: Vec<String> = Vec::new();
        let mut descs = Vec::new();
        let mut layer_blobs = Vec::new();
        for (name, diff_id) in layer_names.iter().zip(&diff_ids) {
            let (mut r, size) = source.open(name)?;
            let compression = sniff(&mut r).map_err(io_err(source.path(), "reading", *name))?;
            // An uncompressed layer is its own diff ID; a compressed one
            // is hashed first (put_blob verifies the digest again).
            let (blob, size) = if compression == Compression::None {
                (diff_id.clone(), size)
            } else {
                let (r, _) = source.open(name)?;
                let mut h = HashingReader::new(r);
                io::copy(&mut h, &mut io::sink()).map_err(io_err(
                    source.path(),
                    "reading",
                    *name,
                ))?;
                h.finish()
            };
            if !store.has_blob(&blob) {
                let (r, _) = source.open(name)?;
                store.put_blob(&blob, r).map_err(store_err(source, name))?;
            }
            let c = put_layer(
                store,
                source,
                name,
                &blob,
                compression,
                chain.last().map(String::as_str),
                diff_id,
            )?;
            chain.push(c);
            let mt = match compression {
                Compression::Gzip => MEDIA_TYPE_OCI_LAYER_GZIP,
                Compression::Zstd => MEDIA_TYPE_OCI_LAYER_ZSTD,
                _ => MEDIA_TYPE_OCI_LAYER,
            };
            descs.push(json!({"mediaType": mt, "digest": blob, "size": size}));
            layer_blobs.push(blob);
        }
        // The archive has no manifest: write an OCI one for the record.
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "config": {
                "mediaType": MEDIA_TYPE_OCI_CONFIG,
                "digest": config_digest,
                "size": config_bytes.len(),
            },
            "layers": descs,
        });
        let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| {
            invalid(
                source.path(),
                config_name,
                format!("encoding manifest: {e}"),
            )
        })?;
        let manifest_digest = sha256_digest(&manifest_bytes);
        store
            .put_blob(&manifest_digest, manifest_bytes.as_slice())
            .map_err(store_err(source, config_name))?;
        let config = String::from_utf8(config_bytes.clone())
            .map_err(|_| invalid(source.path(), config_name, "config is not UTF-8"))?;
        let record = ImageRecord {
            id: config_digest.clone(),
            digest: manifest_digest,
            manifest_media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
            created: created(&config_bytes),
            config,
            size: 0,
            layers: chain,
            layer_blobs,
            manifest_blobs: Vec::new(),
            names: names.clone(),
            digests: Vec::new(),
        };
        let image = store
            .put_image(&record)
            .map_err(store_err(source, config_name))?;
        merge(
            &mut out,
            LoadedImage {
                id: image.id,
                names,
            },
        );
    }
    Ok(out)
}
