//! The pull pipeline (Podman's `libimage.Pull` + containers-image `copy.Image`
//! for the `docker://` transport):
//!
//! reference → short-name resolution (registries.conf) → one candidate after
//! the other: [`RegistryClient::resolve`] (manifest, platform instance,
//! config) → layer blobs not yet in the store downloaded in parallel straight
//! into the blob store (verified before rename) → layers extracted into the
//! layer store under their chain IDs (blob digest and diff ID checked again)
//! → config and manifest blobs → [`Store::put_image`] with the name.
//!
//! All of it runs under [`Store::write_lock`], so a concurrent removal never
//! deletes what this pull is about to reference. If any step fails, what the
//! failed pull added and no image refers to is removed again
//! ([`Store::remove_unreferenced`]), so nothing is kept: a pull stores a
//! whole, verified image or nothing.
//!
//! Progress goes to a caller-supplied sink, with the wording Podman uses
//! when stderr is not a terminal (`Copying blob sha256:…`, no bars).

use std::path::PathBuf;

use podman_rs_rootfs::layers::{chain_id, Compression, ExtractOptions};

use crate::image::registry::{
    ClientOptions, Platform, RegistryClient, RegistryError, ResolvedImage,
};
use crate::image::{Reference, ReferenceError, RegistriesConf, RegistriesError};
use crate::store::{Image, ImageRecord, Store, StoreError};

/// What to pull and how.
#[derive(Debug, Clone, Default)]
pub struct PullRequest {
    /// The image reference as the user typed it (short names allowed).
    pub name: String,
    /// Pull every tag of the repository (a tag or digest in `name` is ignored).
    pub all_tags: bool,
    /// `--tls-verify`: `None` lets registries.conf decide.
    pub tls_verify: Option<bool>,
    /// `--cert-dir`.
    pub cert_dir: Option<PathBuf>,
    /// `--creds user:pass`.
    pub creds: Option<(String, String)>,
    /// `--os`, `--arch`, `--variant` (or `--platform`); unset parts are the host's.
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    /// registries.conf to use; `None` loads the default files.
    pub registries: Option<RegistriesConf>,
}

impl PullRequest {
    /// The platform to select from manifest lists.
    pub fn platform(&self) -> Platform {
        let host = Platform::host();
        Platform::new(
            self.os.as_deref().unwrap_or(&host.os),
            self.arch.as_deref().unwrap_or(&host.architecture),
            self.variant.as_deref(),
        )
    }
}

/// Errors of a pull (the messages follow Podman's where it has one).
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(Box<ReferenceError>),
    #[error(transparent)]
    Registries(Box<RegistriesError>),
    /// The one candidate failed (Podman: "initializing source docker://…: …").
    #[error("initializing source docker://{reference}: {source}")]
    Source {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
    /// Several candidates were tried and all failed.
    #[error("{}", .errors.iter().map(|(r, e)| format!("initializing source docker://{r}: {e}")).collect::<Vec<_>>().join("; "))]
    AllCandidatesFailed {
        errors: Vec<(String, RegistryError)>,
    },
    /// Copying blobs or storing the image failed.
    #[error("copying image {reference}: {source}")]
    Copy {
        reference: String,
        #[source]
        source: Box<PullError>,
    },
    #[error(transparent)]
    Registry(Box<RegistryError>),
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Layer(Box<podman_rs_rootfs::layers::LayerError>),
    /// The config blob is not the JSON we need.
    #[error("image config {digest}: {reason}")]
    Config { digest: String, reason: String },
    /// `--all-tags`: the registry's tags list could not be read (the
    /// message says "fetching tags list").
    #[error("{0}")]
    TagsList(Box<RegistryError>),
}

macro_rules! boxed_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {$(
        impl From<$ty> for PullError {
            fn from(e: $ty) -> Self {
                PullError::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from! {
    ReferenceError => Reference,
    RegistriesError => Registries,
    RegistryError => Registry,
    StoreError => Store,
    podman_rs_rootfs::layers::LayerError => Layer,
}

/// `sha256:0123456789ab…` → `0123456789ab` (the first `n` hex digits).
pub fn short_digest(digest: &str, n: usize) -> &str {
    let hex = digest.split_once(':').map(|(_, h)| h).unwrap_or(digest);
    &hex[..hex.len().min(n)]
}

/// Pulls `req.name` into `store`; returns the stored image(s).
/// `progress` gets Podman's progress lines (without newline).
pub fn pull(
    store: &Store,
    req: &PullRequest,
    progress: &dyn Fn(&str),
) -> Result<Vec<Image>, PullError> {
    let reference = Reference::parse(&req.name)?;
    let registries = match &req.registries {
        Some(r) => r.clone(),
        None => RegistriesConf::load()?,
    };
    if req.all_tags {
        return pull_all_tags(store, req, &reference, registries, progress);
    }
    let candidates = if reference.is_short_name() {
        registries.resolve_short_name(&reference)?.candidates
    } else {
        vec![reference.clone().with_default_tag()]
    };
    let client = client_for(req, registries)?;

    let mut errors = Vec::new();
    for cand in &candidates {
        progress(&format!("Trying to pull {cand}..."));
        let resolved = match client.resolve(cand) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("pulling candidate {cand}: {e}");
                errors.push((cand.to_string(), e));
                continue;
            }
        };
        let image = store_resolved(store, &client, cand, &resolved, progress).map_err(|e| {
            PullError::Copy {
                reference: cand.to_string(),
                source: Box::new(e),
            }
        })?;
        return Ok(vec![image]);
    }
    Err(candidates_error(errors))
}

fn client_for(req: &PullRequest, registries: RegistriesConf) -> Result<RegistryClient, PullError> {
    Ok(RegistryClient::new(ClientOptions {
        tls_verify: req.tls_verify,
        cert_dir: req.cert_dir.clone(),
        auth: req.creds.clone(),
        platform: req.platform(),
        registries: Some(registries),
        ..ClientOptions::default()
    })?)
}

/// `pull --all-tags`: every tag the registry lists for the repository, in
/// its order. As Podman 4.3.1, a tag or digest in the reference is ignored
/// and a short name is Docker Hub's (no short-name resolution).
fn pull_all_tags(
    store: &Store,
    req: &PullRequest,
    reference: &Reference,
    registries: RegistriesConf,
    progress: &dyn Fn(&str),
) -> Result<Vec<Image>, PullError> {
    let repo = if reference.is_short_name() {
        reference.with_registry("docker.io")
    } else {
        reference.clone()
    }
    .name_only();
    let client = client_for(req, registries)?;
    let tags = client
        .list_tags(&repo)
        .map_err(|e| PullError::TagsList(Box::new(e)))?;
    let mut images = Vec::with_capacity(tags.len());
    for tag in tags {
        let mut cand = repo.clone();
        cand.tag = Some(tag);
        progress(&format!("Trying to pull {cand}..."));
        let resolved = client.resolve(&cand).map_err(|e| PullError::Source {
            reference: cand.to_string(),
            source: Box::new(e),
        })?;
        let image = store_resolved(store, &client, &cand, &resolved, progress).map_err(|e| {
            PullError::Copy {
                reference: cand.to_string(),
                source: Box::new(e),
            }
        })?;
        images.push(image);
    }
    Ok(images)
}

fn candidates_error(mut errors: Vec<(String, RegistryError)>) -> PullError {
    if errors.len() == 1 {
        let (reference, source) = errors.remove(0);
        PullError::Source {
            reference,
            source: Box::new(source),
        }
    } else {
        PullError::AllCandidatesFailed { errors }
    }
}

/// The uncompressed size of a stored layer blob (read through once).
fn uncompressed_size(
    store: &Store,
    layer: &crate::image::registry::Descriptor,
) -> Result<u64, PullError> {
    let blob = std::io::BufReader::new(store.open_blob(&layer.digest)?);
    let io = |e: std::io::Error| {
        PullError::Store(Box::new(StoreError::Io {
            op: "reading",
            path: store.blobs().blob_path(&layer.digest).unwrap_or_default(),
            source: e,
        }))
    };
    let mut sink = std::io::sink();
    let n = match Compression::from_media_type(&layer.media_type)? {
        Compression::Gzip => std::io::copy(&mut flate2::read::MultiGzDecoder::new(blob), &mut sink),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(blob).map_err(io)?;
            std::io::copy(&mut d, &mut sink)
        }
        _ => std::io::copy(&mut { blob }, &mut sink),
    };
    n.map_err(io)
}

/// Copies a resolved image into the store; on failure removes what no
/// image refers to, so a failed pull leaves nothing behind.
fn store_resolved(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    resolved: &ResolvedImage,
    progress: &dyn Fn(&str),
) -> Result<Image, PullError> {
    let result = {
        let _lock = store.write_lock()?;
        copy_image(store, client, name, resolved, progress)
    };
    if result.is_err() {
        // After the shared lock is released: waits for concurrent pulls.
        if let Err(e) = store.remove_unreferenced() {
            tracing::warn!("cleaning up after a failed pull: {e}");
        }
    }
    result
}

fn copy_image(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    resolved: &ResolvedImage,
    progress: &dyn Fn(&str),
) -> Result<Image, PullError> {
    let config_digest = resolved.manifest.config.digest.clone();
    let config_err = |reason: String| PullError::Config {
        digest: config_digest.clone(),
        reason,
    };
    let config_text =
        String::from_utf8(resolved.config.clone()).map_err(|_| config_err("not UTF-8".into()))?;
    let config: serde_json::Value =
        serde_json::from_str(&config_text).map_err(|e| config_err(format!("not JSON: {e}")))?;
    let diff_ids = crate::image::diff_ids(&config);
    let layers = resolved.layers();
    if diff_ids.len() != layers.len() {
        return Err(config_err(format!(
            "{} diff IDs for {} layers",
            diff_ids.len(),
            layers.len()
        )));
    }
    let mut chain: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in &diff_ids {
        chain.push(chain_id(chain.last().map(String::as_str), d));
    }

    progress("Getting image source signatures");
    // Blobs to download: a layer is needed unless both its extracted layer
    // and its blob are present.
    let missing: Vec<_> = layers
        .iter()
        .zip(&chain)
        .filter(|(l, c)| !(store.layers().has_layer(c) && store.has_blob(&l.digest)))
        .map(|(l, _)| l.clone())
        .collect();
    if let Some(first) = layers.first() {
        let dir = store
            .blobs()
            .blob_path(&first.digest)?
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        // Straight into blobs/sha256/<hex>: temp file + verify + rename.
        let missing_blobs: Vec<_> = missing
            .iter()
            .filter(|l| !store.has_blob(&l.digest))
            .cloned()
            .collect();
        client.pull_layers(&resolved.reference, &missing_blobs, &dir)?;
    }
    // Podman's image size: the layers' uncompressed tar sizes plus the
    // config and manifests.
    let mut size: u64 = 0;
    for (i, layer) in layers.iter().enumerate() {
        if !missing.iter().any(|m| m.digest == layer.digest) {
            progress(&format!(
                "Copying blob {} skipped: already exists",
                layer.digest
            ));
            size += uncompressed_size(store, layer)?;
            continue;
        }
        let parent = if i == 0 {
            None
        } else {
            Some(chain[i - 1].as_str())
        };
        let blob = store.open_blob(&layer.digest)?;
        let compression = Compression::from_media_type(&layer.media_type)?;
        let opts = ExtractOptions {
            label: Some(layer.digest.clone()),
            expected_digest: Some(layer.digest.clone()),
            expected_diff_id: Some(diff_ids[i].clone()),
            ..ExtractOptions::default()
        };
        let put = store.layers().put_layer(
            &chain[i],
            parent,
            std::io::BufReader::new(blob),
            compression,
            &opts,
        )?;
        size += match put.info {
            Some(info) => info.uncompressed_size,
            None => uncompressed_size(store, layer)?,
        };
        progress(&format!("Copying blob {}", layer.digest));
    }
    store.put_blob(&config_digest, resolved.config.as_slice())?;
    progress(&format!("Copying config {config_digest}"));
    progress("Writing manifest to image destination");
    store.put_blob(&resolved.top.digest, resolved.top.raw.as_slice())?;
    // As containers-storage: an image pulled through a manifest list is
    // recorded under the list's digest (Podman's `Digest`), and both the
    // list and the instance are `repo@digest` references.
    let manifest = resolved.image_manifest();
    let mut digests = Vec::new();
    let mut manifest_blobs = Vec::new();
    if let Some(instance) = &resolved.instance {
        store.put_blob(&instance.digest, instance.raw.as_slice())?;
        digests.push(format!("{}@{}", name.name(), instance.digest));
        manifest_blobs.push(instance.digest.clone());
    }
    let record = ImageRecord {
        id: config_digest.clone(),
        digest: resolved.top.digest.clone(),
        manifest_media_type: resolved.top.media_type.clone(),
        config: config_text,
        created: config
            .get("created")
            .and_then(|c| c.as_str())
            .map(str::to_string),
        // containers-storage counts its big-data items: the config, the
        // image manifest twice ("manifest" and "manifest-<digest>") and
        // the list the image was chosen from.
        size: size
            + resolved.config.len() as u64
            + 2 * manifest.raw.len() as u64
            + resolved
                .instance
                .as_ref()
                .map_or(0, |_| resolved.top.raw.len() as u64),
        layers: chain,
        layer_blobs: layers.iter().map(|l| l.digest.clone()).collect(),
        manifest_blobs,
        names: vec![name.to_string()],
        digests,
    };
    progress("Storing signatures");
    Ok(store.put_image(&record)?)
}
