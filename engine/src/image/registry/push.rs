//! Push: blobs (skipped when the registry has them, cross-repository mount
//! when a source repository is known, else a monolithic upload) then the
//! manifest.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::error::{RegistryError, Result};
use super::manifest::{digest_like, ParsedDigest};
use super::transport::{header, Req};
use super::{names, Descriptor, RegistryClient};
use crate::image::Reference;

/// An image to push: the manifest exactly as it is to be stored, and the
/// files holding its blobs (config and layers).
#[derive(Debug, Clone)]
pub struct PushImage {
    /// The manifest bytes (pushed unchanged, so its digest is kept).
    pub manifest: Vec<u8>,
    /// The manifest's media type (the `Content-Type` of the PUT).
    pub media_type: String,
    /// Every blob the manifest references, with the file holding it.
    pub blobs: Vec<(Descriptor, PathBuf)>,
    /// A repository on the same registry that may already hold the blobs:
    /// they are mounted from it instead of uploaded when it does.
    pub mount_from: Option<String>,
}

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    /// The repository already had it (HEAD answered 200).
    Exists,
    /// Mounted from another repository without uploading.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Digest of the pushed manifest.
    pub manifest_digest: String,
    /// Blobs the repository already had.
    pub skipped: Vec<String>,
    /// Blobs mounted from `mount_from`.
    pub mounted: Vec<String>,
    /// Blobs uploaded.
    pub uploaded: Vec<String>,
}

impl RegistryClient {
    /// `HEAD /v2/<repo>/blobs/<digest>`: the blob's size if the repository
    /// has it, `None` if not.
    pub fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<Option<u64>> {
        ParsedDigest::parse(digest)?;
        let repository = &reference.repository;
        let action = format!("checking blob {digest}");
        let resp = self.send(
            reference,
            Req {
                method: "HEAD",
                path: &format!("/v2/{repository}/blobs/{digest}"),
                headers: Vec::new(),
                actions: "pull,push",
                mount_from: None,
            },
            None,
            &action,
        )?;
        let status = resp.status().as_u16();
        match status {
            200 => Ok(Some(
                header(&resp, "content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )),
            404 => Ok(None),
            _ => Err(
                self.status_error(reference, resp, status, &action, |message| {
                    let (registry, repository) = names(reference);
                    RegistryError::Http {
                        action: action.clone(),
                        registry,
                        repository,
                        message,
                        status,
                    }
                }),
            ),
        }
    }

    /// Pushes one blob from `path` unless the repository has it; tries a
    /// cross-repository mount from `mount_from` first when given.
    pub fn push_blob(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        path: &Path,
        mount_from: Option<&str>,
    ) -> Result<BlobPush> {
        let digest = &desc.digest;
        ParsedDigest::parse(digest)?;
        if self.blob_exists(reference, digest)?.is_some() {
            return Ok(BlobPush::Exists);
        }
        let repository = &reference.repository;
        let action = format!("uploading blob {digest}");
        let post_path = match mount_from {
            Some(from) if from != repository => {
                format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}")
            }
            _ => format!("/v2/{repository}/blobs/uploads/"),
        };
        let resp = self.send(
            reference,
            Req {
                method: "POST",
                path: &post_path,
                headers: vec![("Content-Length", "0".to_string())],
                actions: "pull,push",
                mount_from: mount_from.filter(|f| *f != repository),
            },
            None,
            &action,
        )?;
        let status = resp.status().as_u16();
        match status {
            201 => return Ok(BlobPush::Mounted),
            202 => {}
            _ => return Err(self.http_error(reference, resp, status, &action)),
        }
        let location = header(&resp, "location").ok_or_else(|| {
            let (registry, repository) = names(reference);
            RegistryError::Http {
                action: action.clone(),
                registry,
                repository,
                message: "upload started without a Location header".to_string(),
                status,
            }
        })?;
        let sep = if location.contains('?') { '&' } else { '?' };
        let put_url = format!("{location}{sep}digest={digest}");
        let mut file = File::open(path).map_err(|source| RegistryError::Io {
            action: "opening",
            path: path.to_path_buf(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| RegistryError::Io {
                action: "reading metadata of",
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let resp = self.send(
            reference,
            Req {
                method: "PUT",
                path: &put_url,
                headers: vec![
                    ("Content-Type", "application/octet-stream".to_string()),
                    ("Content-Length", len.to_string()),
                ],
                actions: "pull,push",
                mount_from: None,
            },
            Some(ureq::SendBody::from_reader(&mut file)),
            &action,
        )?;
        let status = resp.status().as_u16();
        if status != 201 {
            return Err(self.http_error(reference, resp, status, &action));
        }
        Ok(BlobPush::Uploaded)
    }

    /// `PUT /v2/<repo>/manifests/<tag_or_digest>` of `raw` as `media_type`;
    /// returns the manifest's digest.
    pub fn push_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
        media_type: &str,
        raw: &[u8],
    ) -> Result<String> {
        let repository = &reference.repository;
        let action = format!("writing manifest {tag_or_digest}");
        let digest = if tag_or_digest.contains(':') {
            ParsedDigest::parse(tag_or_digest)?;
            digest_like(tag_or_digest, raw)
        } else {
            digest_like("sha256:", raw)
        };
        if tag_or_digest.contains(':') && digest != tag_or_digest {
            let (registry, repository) = names(reference);
            return Err(RegistryError::DigestMismatch {
                what: "manifest",
                registry,
                repository,
                expected: tag_or_digest.to_string(),
                actual: digest,
            });
        }
        let mut body: &[u8] = raw;
        let resp = self.send(
            reference,
            Req {
                method: "PUT",
                path: &format!("/v2/{repository}/manifests/{tag_or_digest}"),
                headers: vec![
                    ("Content-Type", media_type.to_string()),
                    ("Content-Length", raw.len().to_string()),
                ],
                actions: "pull,push",
                mount_from: None,
            },
            Some(ureq::SendBody::from_reader(&mut body)),
            &action,
        )?;
        let status = resp.status().as_u16();
        if status != 201 && status != 200 {
            return Err(self.http_error(reference, resp, status, &action));
        }
        Ok(digest)
    }

    /// Pushes `image` to `reference` (its tag, or its digest, or `latest`):
    /// blobs in parallel (at most `max_concurrent_downloads` at once),
    /// skipping those present and mounting from `mount_from` when possible,
    /// then the manifest.
    pub fn push(&self, reference: &Reference, image: &PushImage) -> Result<PushReport> {
        let host = reference
            .registry
            .clone()
            .ok_or_else(|| RegistryError::ShortName {
                reference: reference.to_string(),
            })?;
        // Ping (and learn the auth scheme) once, not from every thread.
        self.transport.conn(&host, self.is_insecure(&host))?;
        let outcomes = self.run_parallel(&image.blobs, |(desc, path)| {
            self.push_blob(reference, desc, path, image.mount_from.as_deref())
        })?;
        let mut report = PushReport::default();
        for ((desc, _), outcome) in image.blobs.iter().zip(outcomes) {
            let list = match outcome {
                BlobPush::Exists => &mut report.skipped,
                BlobPush::Mounted => &mut report.mounted,
                BlobPush::Uploaded => &mut report.uploaded,
            };
            list.push(desc.digest.clone());
        }
        let target = reference
            .tag
            .clone()
            .or_else(|| reference.digest.clone())
            .unwrap_or_else(|| "latest".to_string());
        report.manifest_digest =
            self.push_manifest(reference, &target, &image.media_type, &image.manifest)?;
        Ok(report)
    }

    fn http_error(
        &self,
        reference: &Reference,
        resp: ureq::http::Response<ureq::Body>,
        status: u16,
        action: &str,
    ) -> RegistryError {
        self.status_error(reference, resp, status, action, |message| {
            let (registry, repository) = names(reference);
            RegistryError::Http {
                action: action.to_string(),
                registry,
                repository,
                message,
                status,
            }
        })
    }
}
