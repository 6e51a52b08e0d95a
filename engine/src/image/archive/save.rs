//! `save`: images of the store as docker-archive, oci-archive or oci-dir.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use super::{
    invalid, io_err, sha256_digest, ArchiveError, ArchiveFormat, ArchiveResult, HashingReader,
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_OCI_LAYER,
    MEDIA_TYPE_OCI_LAYER_GZIP, MEDIA_TYPE_OCI_MANIFEST, REF_NAME,
};
use crate::image::reference::Reference;
use crate::store::{Image, Store};
use podman_rs_rootfs::layers::Compression;

/// What `oci-layout` holds (Podman writes it with this spacing).
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion": "1.0.0"}"#;

/// One image to save: the record, its manifest, and the tag to save it as.
struct Saved {
    image: Image,
    manifest: Value,
    manifest_bytes: Vec<u8>,
    manifest_digest: String,
    /// True when `manifest_bytes` is not the stored blob (converted).
    converted: bool,
    /// The names to save the image under (docker-archive `RepoTags`; the
    /// OCI formats use the first).
    tags: Vec<String>,
    /// (media type, digest, size) of each layer blob, base first.
    layers: Vec<(String, String, u64)>,
    diff_ids: Vec<String>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The name to save `image` under when the user named it `input`: none for
/// an ID (as Podman), else the stored name `input` normalises to, else the
/// stored name `input` is a suffix of, else the image's first name.
fn tag_for(input: &str, image: &Image) -> Option<String> {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    if is_hex(hex) && image.id.starts_with(hex) {
        return None;
    }
    if let Ok(r) = Reference::parse_local_name(input) {
        let s = r.to_string();
        if image.names.contains(&s) {
            return Some(s);
        }
    }
    if let Ok(r) = Reference::parse(input) {
        if r.digest.is_none() {
            let with_tag = r.with_default_tag();
            let suffix = format!(
                "/{}:{}",
                with_tag.repository,
                with_tag.tag.unwrap_or_default()
            );
            if let Some(n) = image.names.iter().find(|n| n.ends_with(&suffix)) {
                return Some(n.clone());
            }
        }
    }
    image.names.first().cloned()
}

fn image_err(image: &str) -> impl FnOnce(crate::store::StoreError) -> ArchiveError {
    let image = image.to_string();
    move |source| ArchiveError::Image {
        image,
        source: Box::new(source),
    }
}

fn unsupported(image: &str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Unsupported {
        image: image.to_string(),
        reason: reason.into(),
    }
}

/// An OCI media type for a Docker schema 2 one.
fn oci_media_type(mt: &str) -> String {
    match mt {
        "application/vnd.docker.container.image.v1+json" => MEDIA_TYPE_OCI_CONFIG.into(),
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MEDIA_TYPE_OCI_LAYER_GZIP.into(),
        "application/vnd.docker.image.rootfs.diff.tar" => MEDIA_TYPE_OCI_LAYER.into(),
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into()
        }
        other => other.into(),
    }
}

fn prepare(store: &Store, input: &str) -> ArchiveResult<Saved> {
    let image = store.get_image(input).map_err(image_err(input))?;
    let manifest_bytes = store
        .blobs()
        .read_blob(&image.digest)
        .map_err(image_err(input))?;
    let mut manifest: Value = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| unsupported(input, format!("manifest {}: {e}", image.digest)))?;
    if manifest.get("manifests").is_some() {
        return Err(unsupported(
            input,
            format!("manifest {} is an image index", image.digest),
        ));
    }
    let mt = manifest
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(&image.manifest_media_type)
        .to_string();
    let mut converted = false;
    let mut manifest_digest = image.digest.clone();
    let mut manifest_bytes = manifest_bytes;
    if mt == MEDIA_TYPE_DOCKER_MANIFEST {
        // An OCI layout holds OCI manifests: convert as containers-image
        // does (the config blob, hence the image ID, stays the same).
        manifest["mediaType"] = json!(MEDIA_TYPE_OCI_MANIFEST);
        if let Some(c) = manifest.get_mut("config") {
            let cmt = c["mediaType"].as_str().unwrap_or_default().to_string();
            c["mediaType"] = json!(oci_media_type(&cmt));
        }
        if let Some(ls) = manifest.get_mut("layers").and_then(Value::as_array_mut) {
            for l in ls {
                let lmt = l["mediaType"].as_str().unwrap_or_default().to_string();
                l["mediaType"] = json!(oci_media_type(&lmt));
            }
        }
        manifest_bytes = serde_json::to_vec(&manifest)
            .map_err(|e| unsupported(input, format!("encoding manifest: {e}")))?;
        manifest_digest = sha256_digest(&manifest_bytes);
        converted = true;
    } else if mt != MEDIA_TYPE_OCI_MANIFEST {
        return Err(unsupported(
            input,
            format!("manifest media type {mt:?} is not supported"),
        ));
    }
    let mut layers = Vec::new();
    for l in manifest
        .get("layers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let digest = l["digest"]
            .as_str()
            .ok_or_else(|| unsupported(input, "manifest layer without digest"))?
            .to_string();
        if !store.has_blob(&digest) {
            return Err(unsupported(
                input,
                format!("layer blob {digest} is not in the store"),
            ));
        }
        let size = store.blobs().blob_size(&digest).map_err(image_err(input))?;
        let lmt = l["mediaType"].as_str().unwrap_or(MEDIA_TYPE_OCI_LAYER);
        layers.push((lmt.to_string(), digest, size));
    }
    let config: Value = serde_json::from_str(&image.config)
        .map_err(|e| unsupported(input, format!("config: {e}")))?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(unsupported(
            input,
            format!(
                "config has {} diff IDs for {} layers",
                diff_ids.len(),
                layers.len()
            ),
        ));
    }
    Ok(Saved {
        tags: tag_for(input, &image).into_iter().collect(),
        image,
        manifest,
        manifest_bytes,
        manifest_digest,
        converted,
        layers,
        diff_ids,
    })
}

/// Saves the images `images` (names or IDs, looked up as Podman does) of
/// `store` to `dest` in `format`. An image given by name is saved with that
/// name (`RepoTags`, or the `org.opencontainers.image.ref.name`
/// annotation); one given by ID without a name. A docker-archive holds
/// uncompressed layers (`<diff ID hex>.tar`), decompressed from the stored
/// blobs and checked against the config's diff IDs; the OCI formats reuse
/// the stored blobs. `oci-dir` adds to an existing layout (replacing
/// entries with the same ref name).
///
/// As Podman, a docker-archive holds each image once: names of the same
/// image become more `RepoTags` of one entry. `additional_tags` (Podman's
/// extra names without `-m`) are more `RepoTags` of the first image, put
/// before its own name: they are not looked up, names that are not valid
/// references are skipped, and a digest reference is an error. The OCI
/// formats ignore them.
pub fn save<S: AsRef<str>>(
    store: &Store,
    images: &[S],
    additional_tags: &[String],
    format: ArchiveFormat,
    dest: &Path,
) -> ArchiveResult<()> {
    if images.is_empty() {
        return Err(ArchiveError::NoImages);
    }
    let mut extra = Vec::new();
    if format == ArchiveFormat::DockerArchive {
        for t in additional_tags {
            let Ok(r) = Reference::parse_local_name(t) else {
                tracing::debug!("save: ignoring additional tag {t:?}: not a valid name");
                continue;
            };
            if r.digest.is_some() {
                return Err(ArchiveError::InvalidTag {
                    tag: t.clone(),
                    normalized: r.to_string(),
                });
            }
            extra.push(r.to_string());
        }
    }
    let mut saved: Vec<Saved> = Vec::new();
    for (i, input) in images.iter().enumerate() {
        let mut s = prepare(store, input.as_ref())?;
        if i == 0 && !extra.is_empty() {
            let own = std::mem::take(&mut s.tags);
            s.tags = extra.clone();
            add_tags(&mut s.tags, own);
        }
        match saved.iter_mut().find(|p| p.image.id == s.image.id) {
            Some(p) if format == ArchiveFormat::DockerArchive => add_tags(&mut p.tags, s.tags),
            _ => saved.push(s),
        }
    }
    for s in &mut saved {
        let mut unique = Vec::new();
        add_tags(&mut unique, std::mem::take(&mut s.tags));
        s.tags = unique;
    }
    if format == ArchiveFormat::OciDir {
        return write_oci_dir(store, &saved, dest);
    }
    let file = File::create(dest).map_err(io_err(dest, "creating", "archive"))?;
    let mut w = BufWriter::new(file);
    let res = match format {
        ArchiveFormat::DockerArchive => write_docker_archive(store, &saved, dest, &mut w),
        _ => write_oci_archive(store, &saved, dest, &mut w),
    }
    .and_then(|()| finish(w, dest));
    if res.is_err() && fs::metadata(dest).is_ok_and(|m| m.is_file()) {
        // No half-written archive stays behind (a regular file only: not
        // a pipe or device the caller gave).
        let _ = fs::remove_file(dest);
    }
    res
}

/// Appends the names of `more` that `tags` does not have yet.
fn add_tags(tags: &mut Vec<String>, more: Vec<String>) {
    for t in more {
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
}

fn finish(w: BufWriter<File>, dest: &Path) -> ArchiveResult<()> {
    let file = w
        .into_inner()
        .map_err(|e| io_err(dest, "writing", "archive")(e.into_error()))?;
    file.sync_all().map_err(io_err(dest, "fsync", "archive"))
}

fn header(entry_type: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(entry_type);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn append_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    dest: &Path,
    name: &str,
    mode: u32,
    data: &[u8],
) -> ArchiveResult<()> {
    let mut h = header(tar::EntryType::Regular, mode, data.len() as u64);
    b.append_data(&mut h, name, data)
        .map_err(io_err(dest, "writing", name))
}

/// A decompressing reader of a layer blob.
fn decompress<'a>(file: File, compression: Compression) -> io::Result<Box<dyn Read + 'a>> {
    let mut r = BufReader::new(file);
    let compression = match compression {
        Compression::Auto => {
            let head = r.fill_buf()?;
            if head.starts_with(&[0x1f, 0x8b]) {
                Compression::Gzip
            } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
                Compression::Zstd
            } else {
                Compression::None
            }
        }
        c => c,
    };
    Ok(match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        _ => Box::new(r),
    })
}

#[derive(Serialize)]
struct DockerManifestItem<'a> {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<&'a str>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn write_docker_archive<W: Write>(
    store: &Store,
    saved: &[Saved],
    dest: &Path,
    w: &mut W,
) -> ArchiveResult<()> {
    let mut b = tar::Builder::new(w);
    let mut written: HashSet<String> = HashSet::new();
    let mut items = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in saved {
        let id = &s.image.id;
        let config_name = format!("{id}.json");
        if written.insert(config_name.clone()) {
            append_bytes(&mut b, dest, &config_name, 0o444, s.image.config.as_bytes())?;
        }
        let mut layer_names = Vec::new();
        for ((mt, digest, _), diff_id) in s.layers.iter().zip(&s.diff_ids) {
            let diff_hex = diff_id.strip_prefix("sha256:").unwrap_or(diff_id);
            let name = format!("{diff_hex}.tar");
            if written.insert(name.clone()) {
                let compression = Compression::from_media_type(mt).unwrap_or(Compression::Auto);
                let what = format!("layer blob {digest} of image {id}");
                let open = || -> ArchiveResult<HashingReader<Box<dyn Read>>> {
                    let f = store.open_blob(digest).map_err(image_err(id))?;
                    let r = decompress(f, compression).map_err(io_err(
                        dest,
                        "decompressing",
                        what.as_str(),
                    ))?;
                    Ok(HashingReader::new(r))
                };
                // Pass 1: the tar's size (and its digest, checked).
                let mut r = open()?;
                io::copy(&mut r, &mut io::sink()).map_err(io_err(
                    dest,
                    "decompressing",
                    what.as_str(),
                ))?;
                let (actual, size) = r.finish();
                if &actual != diff_id {
                    return Err(unsupported(
                        id,
                        format!(
                            "layer {digest} decompresses to {actual}, not to its diff ID {diff_id}"
                        ),
                    ));
                }
                // Pass 2: the entry.
                let mut r = open()?;
                let mut h = header(tar::EntryType::Regular, 0o444, size);
                b.append_data(&mut h, &name, &mut r)
                    .map_err(io_err(dest, "writing", &name))?;
                let (again, n) = r.finish();
                if &again != diff_id || n != size {
                    return Err(unsupported(
                        id,
                        format!("layer blob {digest} changed while saving"),
                    ));
                }
            }
            layer_names.push(name);
        }
        // The legacy (docker save before 1.10) metadata, as containers-image
        // writes it: one dir per layer, named by its chain ID.
        let config: Value = serde_json::from_str(&s.image.config)
            .map_err(|e| unsupported(id, format!("config: {e}")))?;
        let mut last: Option<String> = None;
        for (i, (chain, layer_name)) in s.image.layers.iter().zip(&layer_names).enumerate() {
            let layer_id = chain.strip_prefix("sha256:").unwrap_or(chain).to_string();
            let mut cfg: BTreeMap<&str, Value> = BTreeMap::new();
            if let Some(p) = &last {
                cfg.insert("parent", json!(p));
            }
            if i + 1 == s.image.layers.len() {
                for attr in [
                    "architecture",
                    "config",
                    "container",
                    "container_config",
                    "created",
                    "docker_version",
                    "os",
                ] {
                    cfg.insert(attr, config.get(attr).cloned().unwrap_or(Value::Null));
                }
                cfg.insert("id", json!(layer_id));
            }
            let dir = layer_id.clone();
            if written.insert(format!("{dir}/")) {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                let link = format!("{dir}/layer.tar");
                b.append_link(&mut h, &link, format!("../{layer_name}"))
                    .map_err(io_err(dest, "writing", &link))?;
                append_bytes(&mut b, dest, &format!("{dir}/VERSION"), 0o444, b"1.0")?;
                let json = serde_json::to_vec(&cfg)
                    .map_err(|e| unsupported(id, format!("encoding layer json: {e}")))?;
                append_bytes(&mut b, dest, &format!("{dir}/json"), 0o444, &json)?;
            }
            last = Some(layer_id);
        }
        let mut repo_tags = Vec::new();
        for t in &s.tags {
            repo_tags.push(t.as_str());
            if let (Ok(r), Some(top)) = (Reference::parse(t), &last) {
                if let Some(tag) = &r.tag {
                    repositories
                        .entry(r.name())
                        .or_default()
                        .insert(tag.clone(), top.clone());
                }
            }
        }
        items.push(DockerManifestItem {
            config: config_name,
            repo_tags,
            layers: layer_names,
        });
    }
    let manifest = serde_json::to_vec(&items)
        .map_err(|e| invalid(dest, "manifest.json", format!("encoding: {e}")))?;
    append_bytes(&mut b, dest, "manifest.json", 0o444, &manifest)?;
    let repos = serde_json::to_vec(&repositories)
        .map_err(|e| invalid(dest, "repositories", format!("encoding: {e}")))?;
    append_bytes(&mut b, dest, "repositories", 0o444, &repos)?;
    b.finish().map_err(io_err(dest, "writing", "archive"))?;
    Ok(())
}

/// The blobs and index.json of an OCI layout for `saved`.
enum Blob<'a> {
    Store(&'a str),
    Mem(&'a str, &'a [u8]),
}

fn oci_blobs(saved: &[Saved]) -> (Vec<Blob<'_>>, Vec<Value>) {
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    for s in saved {
        for (_, d, _) in &s.layers {
            if seen.insert(d.as_str()) {
                blobs.push(Blob::Store(d));
            }
        }
        if let Some(c) = s.manifest["config"]["digest"].as_str() {
            if seen.insert(c) {
                blobs.push(Blob::Store(c));
            }
        }
        if seen.insert(&s.manifest_digest) {
            if s.converted {
                blobs.push(Blob::Mem(&s.manifest_digest, &s.manifest_bytes));
            } else {
                blobs.push(Blob::Store(&s.manifest_digest));
            }
        }
        let mut desc = json!({
            "mediaType": MEDIA_TYPE_OCI_MANIFEST,
            "digest": s.manifest_digest,
            "size": s.manifest_bytes.len(),
        });
        if let Some(t) = s.tags.first() {
            desc["annotations"] = json!({ REF_NAME: t });
        }
        descs.push(desc);
    }
    (blobs, descs)
}

fn index_json(manifests: Vec<Value>) -> Value {
    json!({"schemaVersion": 2, "manifests": manifests})
}

fn write_oci_archive<W: Write>(
    store: &Store,
    saved: &[Saved],
    dest: &Path,
    w: &mut W,
) -> ArchiveResult<()> {
    let (blobs, descs) = oci_blobs(saved);
    let mut b = tar::Builder::new(w);
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        b.append_data(&mut h, dir, io::empty())
            .map_err(io_err(dest, "writing", dir))?;
    }
    for blob in &blobs {
        match blob {
            Blob::Store(d) => {
                let name = format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap_or(d));
                let f = store.open_blob(d).map_err(image_err(d))?;
                let size = f
                    .metadata()
                    .map_err(io_err(dest, "stat", d.to_string()))?
                    .len();
                let mut h = header(tar::EntryType::Regular, 0o644, size);
                let mut r = HashingReader::new(f.take(size));
                b.append_data(&mut h, &name, &mut r)
                    .map_err(io_err(dest, "writing", &name))?;
                let (actual, n) = r.finish();
                if actual != *d || n != size {
                    return Err(unsupported(d, format!("stored blob hashes to {actual}")));
                }
            }
            Blob::Mem(d, data) => {
                let name = format!("blobs/sha256/{}", d.strip_prefix("sha256:").unwrap_or(d));
                append_bytes(&mut b, dest, &name, 0o644, data)?;
            }
        }
    }
    let index = serde_json::to_vec(&index_json(descs))
        .map_err(|e| invalid(dest, "index.json", format!("encoding: {e}")))?;
    append_bytes(&mut b, dest, "index.json", 0o644, &index)?;
    append_bytes(&mut b, dest, "oci-layout", 0o644, OCI_LAYOUT)?;
    b.finish().map_err(io_err(dest, "writing", "archive"))?;
    Ok(())
}

/// Writes `data` (from a reader) to `dir/name` through a temp file.
fn write_file(dir: &Path, name: &str, mut r: impl Read) -> ArchiveResult<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        io::copy(&mut r, &mut f)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.map_err(io_err(dir, "writing", name))
}

fn write_oci_dir(store: &Store, saved: &[Saved], dest: &Path) -> ArchiveResult<()> {
    let (blobs, descs) = oci_blobs(saved);
    let blob_dir = dest.join("blobs").join("sha256");
    fs::create_dir_all(&blob_dir).map_err(io_err(dest, "creating", "blobs/sha256"))?;
    for blob in &blobs {
        let (d, data) = match blob {
            Blob::Store(d) => (*d, None),
            Blob::Mem(d, data) => (*d, Some(*data)),
        };
        let hex = d.strip_prefix("sha256:").unwrap_or(d);
        if blob_dir.join(hex).is_file() {
            continue;
        }
        match data {
            Some(data) => write_file(&blob_dir, hex, data)?,
            None => {
                let f = store.open_blob(d).map_err(image_err(d))?;
                write_file(&blob_dir, hex, f)?;
            }
        }
    }
    // Keep what an existing layout has, except the names we replace.
    let mut manifests: Vec<Value> = Vec::new();
    let index_path = dest.join("index.json");
    if index_path.is_file() {
        let bytes = fs::read(&index_path).map_err(io_err(dest, "reading", "index.json"))?;
        let old: Value = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(dest, "index.json", format!("invalid JSON: {e}")))?;
        let ours: HashSet<&str> = descs
            .iter()
            .filter_map(|d| d["annotations"][REF_NAME].as_str())
            .collect();
        if let Some(list) = old["manifests"].as_array() {
            manifests.extend(
                list.iter()
                    .filter(|m| {
                        m["annotations"][REF_NAME]
                            .as_str()
                            .is_none_or(|n| !ours.contains(n))
                    })
                    .cloned(),
            );
        }
    }
    manifests.extend(descs);
    let index = serde_json::to_vec(&index_json(manifests))
        .map_err(|e| invalid(dest, "index.json", format!("encoding: {e}")))?;
    write_file(dest, "oci-layout", OCI_LAYOUT)?;
    write_file(dest, "index.json", index.as_slice())
}
