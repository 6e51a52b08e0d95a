//! The push pipeline (Podman's `libimage.Push` for the `docker://`
//! transport): a stored image's manifest is pushed unchanged (so the image
//! ID and digest stay the same) with the blobs it references, which the
//! registry client skips when the repository has them already.
//!
//! Progress goes to a caller-supplied sink with the lines Podman prints
//! when stderr is not a terminal.

use std::path::PathBuf;

use crate::image::pull::short_digest;
use crate::image::registry::{
    is_index_media_type, parse_manifest, ClientOptions, Descriptor, ImageManifest, ParsedManifest,
    PushImage, RegistryClient, RegistryError,
};
use crate::image::{Reference, ReferenceError, RegistriesConf};
use crate::store::{Image, Store, StoreError};

/// Where and how to push.
#[derive(Debug, Clone, Default)]
pub struct PushRequest {
    /// `docker://host/repo[:tag]` or `host/repo[:tag]`.
    pub destination: String,
    /// `--tls-verify`: `None` lets registries.conf decide.
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
    pub creds: Option<(String, String)>,
    /// registries.conf (for `insecure`); `None`: none.
    pub registries: Option<RegistriesConf>,
}

/// Errors of a push.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Reference(Box<ReferenceError>),
    /// Only the `docker://` transport is supported.
    #[error("unsupported transport in {0:?}: only docker:// is supported")]
    Transport(String),
    /// The destination names no registry.
    #[error("{0}: destination must name a registry (host/repository[:tag])")]
    NoRegistry(String),
    /// The stored image cannot be pushed as it is.
    #[error("image {id}: {reason}")]
    Image { id: String, reason: String },
    #[error(transparent)]
    Store(Box<StoreError>),
    /// Podman: "trying to reuse blob … / writing blob …" collapse into this.
    #[error("pushing image to docker://{reference}: {source}")]
    Registry {
        reference: String,
        #[source]
        source: Box<RegistryError>,
    },
}

impl From<StoreError> for PushError {
    fn from(e: StoreError) -> Self {
        PushError::Store(Box::new(e))
    }
}

impl From<ReferenceError> for PushError {
    fn from(e: ReferenceError) -> Self {
        PushError::Reference(Box::new(e))
    }
}

fn image_err(image: &Image, reason: impl Into<String>) -> PushError {
    PushError::Image {
        id: image.id.clone(),
        reason: reason.into(),
    }
}

/// The image manifest of `image`: (bytes, media type, parsed). An image
/// pulled through an index is recorded under the index digest: its
/// instance is the stored manifest whose config is the image's.
pub fn image_manifest(
    store: &Store,
    image: &Image,
) -> Result<(Vec<u8>, String, ImageManifest), PushError> {
    // The recorded digest, the `repo@digest` references (the instance of
    // an index is one), the entries of the index, then any other blob.
    let mut candidates = vec![image.digest.clone()];
    candidates.extend(
        image
            .digests
            .iter()
            .filter_map(|d| d.split_once('@').map(|(_, d)| d.to_string())),
    );
    if let Ok(raw) = store.blobs().read_blob(&image.digest) {
        if let Ok(serde_json::Value::Object(top)) = serde_json::from_slice(&raw) {
            for m in top
                .get("manifests")
                .and_then(|m| m.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(d) = m.get("digest").and_then(|d| d.as_str()) {
                    candidates.push(d.to_string());
                }
            }
        }
    }
    candidates.extend(image.blobs.iter().cloned());
    let config = image.config_digest();
    let mut seen = std::collections::HashSet::new();
    for digest in candidates {
        if digest == config || !seen.insert(digest.clone()) {
            continue;
        }
        let Ok(raw) = store.blobs().read_blob(&digest) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else {
            continue;
        };
        let media_type = v
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| {
                if digest == image.digest {
                    image.manifest_media_type.clone()
                } else {
                    crate::image::registry::MEDIA_TYPE_OCI_MANIFEST.to_string()
                }
            });
        if is_index_media_type(&media_type) || v.get("layers").is_none() {
            continue;
        }
        if let Ok(ParsedManifest::Image(m)) = parse_manifest(&raw, &media_type) {
            if m.config.digest == config {
                return Ok((raw, media_type, m));
            }
        }
    }
    Err(image_err(
        image,
        "no stored image manifest refers to its config",
    ))
}

/// Pushes `image` of `store` to `req.destination`.
pub fn push(
    store: &Store,
    image: &Image,
    req: &PushRequest,
    progress: &dyn Fn(&str),
) -> Result<(), PushError> {
    let dest = match req.destination.split_once("://") {
        None => req.destination.as_str(),
        Some(("docker", rest)) => rest.trim_start_matches('/'),
        Some(_) => return Err(PushError::Transport(req.destination.clone())),
    };
    let reference = Reference::parse(dest)?;
    if reference.registry.is_none() || reference.is_short_name() {
        return Err(PushError::NoRegistry(dest.to_string()));
    }
    let reference = reference.with_default_tag();
    let (manifest, media_type, parsed) = image_manifest(store, image)?;
    let mut blobs: Vec<(Descriptor, PathBuf)> = Vec::new();
    for desc in parsed.layers.iter().chain(std::iter::once(&parsed.config)) {
        if !store.has_blob(&desc.digest) {
            return Err(image_err(
                image,
                format!(
                    "blob {} is not in the store (pushing images loaded from a docker-archive is not supported yet)",
                    desc.digest
                ),
            ));
        }
        blobs.push((desc.clone(), store.blobs().blob_path(&desc.digest)?));
    }
    let client = RegistryClient::new(ClientOptions {
        tls_verify: req.tls_verify,
        cert_dir: req.cert_dir.clone(),
        auth: req.creds.clone(),
        registries: req.registries.clone(),
        ..ClientOptions::default()
    })
    .map_err(|e| registry_err(&reference, e))?;
    let push_image = PushImage {
        manifest,
        media_type,
        blobs,
        mount_from: None,
    };
    progress("Getting image source signatures");
    let report = client
        .push(&reference, &push_image)
        .map_err(|e| registry_err(&reference, e))?;
    // Podman names the layers by their uncompressed digests (diff IDs), as
    // containers-storage hands them to the copy.
    let config: serde_json::Value = serde_json::from_str(&image.config).unwrap_or_default();
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    for (i, l) in parsed.layers.iter().enumerate() {
        let name = diff_ids
            .get(i)
            .and_then(|d| d.as_str())
            .unwrap_or(&l.digest);
        if report.skipped.contains(&l.digest) {
            progress(&format!("Copying blob {name} skipped: already exists"));
        } else {
            progress(&format!("Copying blob {name}"));
        }
    }
    progress(&format!("Copying config {}", parsed.config.digest));
    progress("Writing manifest to image destination");
    progress("Storing signatures");
    tracing::debug!(
        "pushed {} as {} ({})",
        short_digest(&image.id, 12),
        reference,
        report.manifest_digest
    );
    Ok(())
}

fn registry_err(reference: &Reference, e: RegistryError) -> PushError {
    PushError::Registry {
        reference: reference.to_string(),
        source: Box::new(e),
    }
}
