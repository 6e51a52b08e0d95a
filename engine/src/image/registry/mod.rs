//! Registry client: pull (resolve manifests, fetch and verify blobs) and push
//! over the OCI distribution API, with a synchronous API.
//!
//! # Why ureq and not oci-client
//!
//! `oci-client` 0.18 was evaluated (its source is in the cargo registry). It
//! covers anonymous/basic/bearer auth, extra root certificates and digest
//! verification, but it did not fit well enough:
//! * it is async-only on reqwest + tokio + hyper: a second HTTP stack and a
//!   runtime for a short-lived CLI, none of it yet in the workspace, while
//!   `ureq` 3 + rustls + sha2 already are (integration-tests uses them);
//! * its `insecure` model is "plain HTTP for these hosts" or "accept invalid
//!   certificates", not containers-image's "try HTTPS without verification,
//!   then fall back to HTTP" per registries.conf endpoint;
//! * its platform resolver returns only `Option<digest>`, its errors do not
//!   carry the registry/repository/HTTP status we must report, and blobs are
//!   written to the caller's writer before verification, so "nothing kept on
//!   mismatch" needs a temporary file around it anyway.
//!
//! Everything else here (token auth, manifest parsing) is small, so the client
//! is written on blocking `ureq` with no async runtime. Layers are fetched in
//! parallel with scoped threads (at most `max_concurrent_downloads` at once),
//! each streamed through a hasher into a temporary file that is renamed into
//! place only once its digest and size are verified.
//!
//! Endpoints come from registries.conf when [`ClientOptions::registries`] is
//! set: [`RegistryClient::resolve`] tries `pull_sources` in order (mirrors
//! first) and remembers each endpoint's `insecure`; `tls_verify` overrides it.

mod error;
mod manifest;
mod push;
mod transport;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub use error::{RegistryError, Result};
pub use manifest::{
    detect_media_type, digest_like, is_index_media_type, is_manifest_media_type, parse_manifest,
    select_platform, sha256_digest, Descriptor, DigestAlgorithm, Hasher, ImageIndex, ImageManifest,
    ParsedDigest, ParsedManifest, Platform, MANIFEST_ACCEPT, MEDIA_TYPE_DOCKER_CONFIG,
    MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_OCI_CONFIG,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST,
};
pub use push::{BlobPush, PushImage, PushReport};

use crate::image::{Endpoint, PullSource, Reference, RegistriesConf};
use transport::{error_message, header, read_limited, strip_code, Req, Transport, MAX_JSON_BODY};

/// Default number of blobs downloaded at once.
pub const DEFAULT_CONCURRENT_DOWNLOADS: usize = 3;

/// How the client connects and what it selects.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `Some(false)`: every registry is insecure (HTTPS without verification,
    /// then plain HTTP); `Some(true)`: always verify, ignoring registries.conf
    /// `insecure`; `None`: registries.conf decides (secure by default).
    pub tls_verify: Option<bool>,
    /// `--cert-dir`: `*.crt` CA files trusted in addition to the system's.
    /// Without it, `/etc/containers/certs.d/<host>` then
    /// `/etc/docker/certs.d/<host>` are used if they exist.
    pub cert_dir: Option<PathBuf>,
    /// User and password (basic auth, or for the bearer token server).
    pub auth: Option<(String, String)>,
    /// Platform chosen from manifest lists / indexes.
    pub platform: Platform,
    /// registries.conf for mirrors, rewriting and `insecure`.
    pub registries: Option<RegistriesConf>,
    /// Parallel blob downloads (at least 1).
    pub max_concurrent_downloads: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            tls_verify: None,
            cert_dir: None,
            auth: None,
            platform: Platform::host(),
            registries: None,
            max_concurrent_downloads: DEFAULT_CONCURRENT_DOWNLOADS,
        }
    }
}

/// A manifest as fetched: digest (verified), media type and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestInfo {
    pub digest: String,
    pub media_type: String,
    pub raw: Vec<u8>,
}

/// The result of [`RegistryClient::resolve`].
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference that was fetched (rewritten for the endpoint that
    /// answered, e.g. a mirror); use it for the blob calls.
    pub reference: Reference,
    /// The endpoint that answered.
    pub endpoint: Endpoint,
    /// What the tag/digest points at: an image manifest, or an index.
    pub top: ManifestInfo,
    /// When `top` is an index: the image manifest selected for the platform.
    pub instance: Option<ManifestInfo>,
    /// The platform of the selected index entry (when `top` is an index).
    pub instance_platform: Option<Platform>,
    /// The parsed image manifest (of `instance` if set, else of `top`).
    pub manifest: ImageManifest,
    /// The image config blob (verified against `manifest.config.digest`).
    pub config: Vec<u8>,
}

impl ResolvedImage {
    /// The image manifest (the selected instance of an index, or the top).
    pub fn image_manifest(&self) -> &ManifestInfo {
        self.instance.as_ref().unwrap_or(&self.top)
    }

    /// The layer descriptors, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.layers
    }
}

/// A synchronous registry client. Cheap to share between threads (`&self`).
pub struct RegistryClient {
    opts: ClientOptions,
    transport: Transport,
    /// `insecure` of endpoints seen in pull sources, by registry host.
    insecure_hosts: Mutex<HashMap<String, bool>>,
}

impl RegistryClient {
    /// A client; fails if `cert_dir` cannot be read or holds a bad `*.crt`.
    pub fn new(opts: ClientOptions) -> Result<RegistryClient> {
        let transport = Transport::new(transport::TransportConfig {
            cert_dir: opts.cert_dir.clone(),
            auth: opts.auth.clone(),
        })?;
        Ok(RegistryClient {
            opts,
            transport,
            insecure_hosts: Mutex::new(HashMap::new()),
        })
    }

    /// The options the client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `podman login`'s check: pings `registry` and sends the client's
    /// credentials (`GET /v2/` with basic auth, or a bearer token request
    /// without scope). `Ok(false)` when the registry refuses them (401/403).
    pub fn check_login(&self, registry: &str) -> Result<bool> {
        let insecure = self.opts.tls_verify == Some(false);
        let conn = self.transport.conn(registry, insecure)?;
        let basic = self.opts.auth.as_ref().map(|(u, p)| {
            format!(
                "Basic {}",
                crate::auth::base64_encode(format!("{u}:{p}").as_bytes())
            )
        });
        let url = match &conn.challenge {
            transport::Challenge::None => return Ok(true),
            transport::Challenge::Basic => format!("{}/v2/", conn.base),
            transport::Challenge::Bearer { realm, service } => {
                let mut url = realm.clone();
                if let Some(s) = service {
                    url.push(if realm.contains('?') { '&' } else { '?' });
                    url.push_str("service=");
                    for b in s.bytes() {
                        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                            url.push(b as char);
                        } else {
                            url.push_str(&format!("%{b:02X}"));
                        }
                    }
                }
                url
            }
        };
        let mut req = conn.agent.get(&url);
        if let Some(b) = &basic {
            req = req.header("Authorization", b);
        }
        let resp = req.call().map_err(|e| RegistryError::Transport {
            action: "checking credentials (GET ".to_string() + &url + ")",
            registry: registry.to_string(),
            message: e.to_string(),
        })?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            401 | 403 => Ok(false),
            status => {
                let message = error_message(resp, status).1;
                Err(RegistryError::Http {
                    action: "checking credentials".to_string(),
                    registry: registry.to_string(),
                    repository: String::new(),
                    message,
                    status,
                })
            }
        }
    }

    /// Where to pull `reference` from: registries.conf's `pull_sources` (mirrors
    /// first) or, without registries.conf, the reference's own registry.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>> {
        if reference.is_short_name() {
            return Err(RegistryError::ShortName {
                reference: reference.to_string(),
            });
        }
        match &self.opts.registries {
            Some(conf) => Ok(conf.pull_sources(reference)?),
            None => Ok(vec![PullSource {
                endpoint: Endpoint {
                    location: reference.registry.clone().unwrap_or_default(),
                    insecure: false,
                },
                reference: reference.clone(),
            }]),
        }
    }

    /// Resolves a tag or digest reference (`latest` if it has neither) to
    /// its manifest, selecting the platform from an index, and fetches the
    /// config. Sources are tried in order; the first that answers wins.
    pub fn resolve(&self, reference: &Reference) -> Result<ResolvedImage> {
        let reference = reference.clone().with_default_tag();
        let sources = self.pull_sources(&reference)?;
        let mut errors = Vec::new();
        for source in sources {
            if let Some(host) = &source.reference.registry {
                self.remember_insecure(host, source.endpoint.insecure);
            }
            match self.resolve_at(&source.reference) {
                Ok(mut img) => {
                    // Keep the endpoint's location (it may include a
                    // namespace); `insecure` is what was actually used.
                    img.endpoint.location = source.endpoint.location;
                    return Ok(img);
                }
                Err(e) => {
                    tracing::debug!("pulling {} failed: {e}", source.reference);
                    errors.push(e);
                }
            }
        }
        if errors.len() == 1 {
            if let Some(e) = errors.pop() {
                return Err(e);
            }
        }
        Err(RegistryError::AllSourcesFailed {
            reference: reference.to_string(),
            errors,
        })
    }

    /// [`RegistryClient::resolve`] against exactly `reference`'s registry.
    fn resolve_at(&self, reference: &Reference) -> Result<ResolvedImage> {
        let tag_or_digest = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_else(|| "latest".to_string());
        let top = self.fetch_manifest(reference, &tag_or_digest)?;
        let (instance, instance_platform, manifest) =
            match self.parse(reference, &tag_or_digest, &top)? {
                ParsedManifest::Image(m) => (None, None, m),
                ParsedManifest::Index(index) => {
                    let (registry, repository) = names(reference);
                    let entry =
                        select_platform(&index, &self.opts.platform).map_err(|available| {
                            RegistryError::NoMatchingPlatform {
                                registry,
                                repository,
                                reference: tag_or_digest.clone(),
                                wanted: self.opts.platform.to_string(),
                                available,
                            }
                        })?;
                    let inst = self.fetch_manifest(reference, &entry.digest)?;
                    match self.parse(reference, &entry.digest, &inst)? {
                        ParsedManifest::Image(m) => (Some(inst), entry.platform.clone(), m),
                        ParsedManifest::Index(_) => {
                            return Err(self.invalid(
                                reference,
                                &entry.digest,
                                "nested index in a manifest list",
                            ))
                        }
                    }
                }
            };
        let config = self.fetch_blob(reference, &manifest.config)?;
        Ok(ResolvedImage {
            reference: reference.clone(),
            endpoint: Endpoint {
                location: reference.registry.clone().unwrap_or_default(),
                insecure: self.is_insecure(reference.registry.as_deref().unwrap_or_default()),
            },
            top,
            instance,
            instance_platform,
            manifest,
            config,
        })
    }

    fn parse(&self, reference: &Reference, what: &str, m: &ManifestInfo) -> Result<ParsedManifest> {
        if !is_index_media_type(&m.media_type) && !is_manifest_media_type(&m.media_type) {
            let (registry, repository) = names(reference);
            return Err(RegistryError::UnsupportedMediaType {
                registry,
                repository,
                reference: what.to_string(),
                media_type: m.media_type.clone(),
            });
        }
        parse_manifest(&m.raw, &m.media_type)
            .map_err(|reason| self.invalid(reference, what, &reason))
    }

    fn invalid(&self, reference: &Reference, what: &str, reason: &str) -> RegistryError {
        let (registry, repository) = names(reference);
        RegistryError::InvalidManifest {
            registry,
            repository,
            reference: what.to_string(),
            reason: reason.to_string(),
        }
    }

    /// `GET /v2/<repo>/manifests/<tag_or_digest>`: the raw manifest, its media
    /// type and digest. A digest reference is verified against the bytes.
    pub fn fetch_manifest(
        &self,
        reference: &Reference,
        tag_or_digest: &str,
    ) -> Result<ManifestInfo> {
        let (registry, repository) = names(reference);
        let action = format!("reading manifest {tag_or_digest}");
        let resp = self.send(
            reference,
            Req {
                method: "GET",
                path: &format!("/v2/{repository}/manifests/{tag_or_digest}"),
                headers: vec![("Accept", MANIFEST_ACCEPT.join(", "))],
                actions: "pull",
                mount_from: None,
            },
            None,
            &action,
        )?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(
                self.status_error(reference, resp, status, &action, |message| {
                    RegistryError::ManifestUnknown {
                        registry: registry.clone(),
                        repository: repository.clone(),
                        reference: tag_or_digest.to_string(),
                        message,
                        status,
                    }
                }),
            );
        }
        let content_type = header(&resp, "content-type");
        let header_digest = header(&resp, "docker-content-digest");
        let raw =
            read_limited(resp, MAX_JSON_BODY).map_err(|message| RegistryError::Transport {
                action: format!("{action} in {registry}/{repository}"),
                registry: registry.clone(),
                message,
            })?;
        let expected = if tag_or_digest.contains(':') {
            Some(tag_or_digest.to_string())
        } else {
            header_digest.filter(|d| ParsedDigest::parse(d).is_ok())
        };
        let digest = match expected {
            Some(exp) => {
                ParsedDigest::parse(&exp)?;
                let actual = digest_like(&exp, &raw);
                if actual != exp {
                    return Err(RegistryError::DigestMismatch {
                        what: "manifest",
                        registry,
                        repository,
                        expected: exp,
                        actual,
                    });
                }
                actual
            }
            None => sha256_digest(&raw),
        };
        let media_type = detect_media_type(&raw, content_type.as_deref())
            .ok_or_else(|| self.invalid(reference, tag_or_digest, "not a JSON manifest"))?;
        Ok(ManifestInfo {
            digest,
            media_type,
            raw,
        })
    }

    /// Every tag of `repository`'s repository (`GET /v2/<name>/tags/list`),
    /// in the order the registry lists them, following the `Link: <…>;
    /// rel="next"` header of paginated answers. Asked of the reference's own
    /// registry (no mirrors, as containers-image), with the same auth as the
    /// other pull requests.
    pub fn list_tags(&self, repository: &Reference) -> Result<Vec<String>> {
        /// Bounds a registry that keeps sending `next` links.
        const MAX_PAGES: usize = 10_000;
        let (registry, repo) = names(repository);
        let action = "fetching tags list";
        let mut path = format!("/v2/{repo}/tags/list");
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            let resp = self.send(
                repository,
                Req {
                    method: "GET",
                    path: &path,
                    headers: vec![("Accept", "application/json".to_string())],
                    actions: "pull",
                    mount_from: None,
                },
                None,
                action,
            )?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(
                    self.status_error(repository, resp, status, action, |message| {
                        RegistryError::Http {
                            action: action.to_string(),
                            registry: registry.clone(),
                            repository: repo.clone(),
                            message,
                            status,
                        }
                    }),
                );
            }
            let next = header(&resp, "link").and_then(|l| next_link(&l));
            let body =
                read_limited(resp, MAX_JSON_BODY).map_err(|message| RegistryError::Transport {
                    action: format!("{action} of {registry}/{repo}"),
                    registry: registry.clone(),
                    message,
                })?;
            #[derive(serde::Deserialize)]
            struct TagList {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page: TagList = serde_json::from_slice(&body).map_err(|e| RegistryError::Http {
                action: action.to_string(),
                registry: registry.clone(),
                repository: repo.clone(),
                message: format!("invalid tags list: {e}"),
                status,
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if n != path => path = n,
                _ => return Ok(tags),
            }
        }
        Ok(tags)
    }

    /// A small blob (config) read into memory, verified against `desc`.
    pub fn fetch_blob(&self, reference: &Reference, desc: &Descriptor) -> Result<Vec<u8>> {
        if desc.size > MAX_JSON_BODY {
            let (registry, repository) = names(reference);
            return Err(RegistryError::SizeMismatch {
                registry,
                repository,
                digest: desc.digest.clone(),
                expected: MAX_JSON_BODY,
                actual: desc.size,
                truncated: false,
            });
        }
        let mut buf = Vec::new();
        self.fetch_verified(reference, &desc.digest, Some(desc.size), &mut buf)?;
        Ok(buf)
    }

    /// Streams blob `digest` into `w`, hashing as it goes; returns its size.
    ///
    /// On a digest mismatch the error comes after the data was written:
    /// the caller must discard what it wrote ([`RegistryClient::fetch_blob_to_file`]
    /// and [`RegistryClient::pull_layers`] do this for files).
    pub fn fetch_blob_to(
        &self,
        reference: &Reference,
        digest: &str,
        w: &mut impl Write,
    ) -> Result<u64> {
        self.fetch_verified(reference, digest, None, w)
    }

    /// Downloads the blob of `desc` to `path`, via a temporary file in the
    /// same directory renamed into place only once digest and size match.
    /// On any error no file is left behind.
    pub fn fetch_blob_to_file(
        &self,
        reference: &Reference,
        desc: &Descriptor,
        path: &Path,
    ) -> Result<u64> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        static PARTIAL_SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = PARTIAL_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{file_name}.partial-{}-{seq}", std::process::id()));
        let io_err = |action: &'static str, p: &Path| {
            let p = p.to_path_buf();
            move |source| RegistryError::Io {
                action,
                path: p,
                source,
            }
        };
        let result = (|| {
            let file = std::fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
            let mut w = std::io::BufWriter::new(file);
            let n = self.fetch_verified(reference, &desc.digest, Some(desc.size), &mut w)?;
            let file = w
                .into_inner()
                .map_err(|e| io_err("writing", &tmp)(e.into_error()))?;
            file.sync_all().map_err(io_err("syncing", &tmp))?;
            std::fs::rename(&tmp, path).map_err(io_err("renaming to", path))?;
            Ok(n)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    /// Downloads `layers` into `dest_dir` in parallel (at most
    /// `max_concurrent_downloads` at once), each as `dest_dir/<hex>` of its
    /// digest, verified. Returns the paths in `layers` order. On error, the
    /// first failure (in layer order) is returned, no further downloads are
    /// started and no partial file is left; layers already verified stay.
    pub fn pull_layers(
        &self,
        reference: &Reference,
        layers: &[Descriptor],
        dest_dir: &Path,
    ) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dest_dir).map_err(|source| RegistryError::Io {
            action: "creating",
            path: dest_dir.to_path_buf(),
            source,
        })?;
        let mut paths = Vec::with_capacity(layers.len());
        for l in layers {
            paths.push(dest_dir.join(ParsedDigest::parse(&l.digest)?.hex));
        }
        // Warm the connection (ping, auth scheme) once rather than from every thread.
        let host = reference.registry.clone().unwrap_or_default();
        self.transport.conn(&host, self.is_insecure(&host))?;
        let jobs: Vec<(&Descriptor, &PathBuf)> = layers.iter().zip(&paths).collect();
        self.run_parallel(&jobs, |(desc, path)| {
            if path.is_file() && self.verify_file(path, desc) {
                Ok(desc.size)
            } else {
                self.fetch_blob_to_file(reference, desc, path)
            }
        })?;
        Ok(paths)
    }

    /// Runs `f` on every item with at most `max_concurrent_downloads` threads.
    /// After a failure no new item is started; the first failure in item
    /// order is returned.
    fn run_parallel<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&T) -> Result<R> + Sync,
    ) -> Result<Vec<R>> {
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<R>>>> =
            Mutex::new((0..items.len()).map(|_| None).collect());
        let workers = self
            .opts
            .max_concurrent_downloads
            .clamp(1, 16)
            .min(items.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(i) else {
                        break;
                    };
                    let r = f(item);
                    if r.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    let mut res = results.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(slot) = res.get_mut(i) {
                        *slot = Some(r);
                    }
                });
            }
        });
        let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(items.len());
        for r in results {
            match r {
                Some(r) => out.push(r?),
                None => {
                    // Not started because an earlier-started item failed.
                    continue;
                }
            }
        }
        Ok(out)
    }

    /// Whether the file at `path` already holds the blob of `desc`.
    fn verify_file(&self, path: &Path, desc: &Descriptor) -> bool {
        let Ok(d) = ParsedDigest::parse(&desc.digest) else {
            return false;
        };
        let Ok(mut f) = std::fs::File::open(path) else {
            return false;
        };
        let mut h = d.hasher();
        let mut buf = vec![0u8; 64 * 1024];
        let mut n = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => {
                    n += k as u64;
                    h.update(&buf[..k]);
                }
                Err(_) => return false,
            }
        }
        n == desc.size && h.finish() == desc.digest
    }

    /// Streams a blob into `w`, verifying digest and (if given) size.
    fn fetch_verified(
        &self,
        reference: &Reference,
        digest: &str,
        size: Option<u64>,
        w: &mut dyn Write,
    ) -> Result<u64> {
        let parsed = ParsedDigest::parse(digest)?;
        let (registry, repository) = names(reference);
        let action = format!("fetching blob {digest}");
        let resp = self.send(
            reference,
            Req {
                method: "GET",
                path: &format!("/v2/{repository}/blobs/{digest}"),
                headers: vec![("Accept-Encoding", "identity".to_string())],
                actions: "pull",
                mount_from: None,
            },
            None,
            &action,
        )?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(
                self.status_error(reference, resp, status, &action, |message| {
                    RegistryError::BlobUnknown {
                        registry: registry.clone(),
                        repository: repository.clone(),
                        digest: digest.to_string(),
                        message,
                        status,
                    }
                }),
            );
        }
        let mut body = resp.into_body();
        let reader = body.as_reader();
        // Never read more than one byte past the expected size.
        let mut reader = reader.take(size.map_or(u64::MAX, |s| s.saturating_add(1)));
        let mut hasher = parsed.hasher();
        let mut buf = vec![0u8; 128 * 1024];
        let mut total = 0u64;
        loop {
            let k = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(RegistryError::Transport {
                        action: format!("{action} from {registry}/{repository}"),
                        registry: registry.clone(),
                        message: e.to_string(),
                    })
                }
            };
            let chunk = buf.get(..k).unwrap_or_default();
            hasher.update(chunk);
            total += k as u64;
            w.write_all(chunk).map_err(|source| RegistryError::Write {
                digest: digest.to_string(),
                source,
            })?;
        }
        w.flush().map_err(|source| RegistryError::Write {
            digest: digest.to_string(),
            source,
        })?;
        if let Some(expected) = size {
            if total != expected {
                return Err(RegistryError::SizeMismatch {
                    registry,
                    repository,
                    digest: digest.to_string(),
                    expected,
                    actual: total,
                    truncated: total > expected,
                });
            }
        }
        let actual = hasher.finish();
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: "blob",
                registry,
                repository,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(total)
    }

    /// Sends a request for `reference`'s repository on its registry.
    fn send(
        &self,
        reference: &Reference,
        req: Req<'_>,
        body: Option<ureq::SendBody<'_>>,
        action: &str,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let host = reference
            .registry
            .as_deref()
            .ok_or_else(|| RegistryError::ShortName {
                reference: reference.to_string(),
            })?;
        self.transport.send(
            host,
            &reference.repository,
            self.is_insecure(host),
            req,
            body,
            action,
        )
    }

    /// Maps a non-success response: 401/403 → Unauthorized, 404 (or the
    /// registry's *_UNKNOWN codes) → `not_found`, else Http.
    fn status_error(
        &self,
        reference: &Reference,
        resp: ureq::http::Response<ureq::Body>,
        status: u16,
        action: &str,
        not_found: impl FnOnce(String) -> RegistryError,
    ) -> RegistryError {
        let (registry, repository) = names(reference);
        let (code, message) = error_message(resp, status);
        let code_str = code.as_deref().unwrap_or("");
        if status == 401 || status == 403 || code_str == "UNAUTHORIZED" || code_str == "DENIED" {
            let message = strip_code(code.as_deref(), &message);
            return RegistryError::Unauthorized {
                action: action.to_string(),
                registry,
                repository,
                message: if message.starts_with("unexpected HTTP status") {
                    "authentication required".to_string()
                } else {
                    message
                },
                status,
            };
        }
        if status == 404
            || matches!(
                code_str,
                "MANIFEST_UNKNOWN" | "BLOB_UNKNOWN" | "NAME_UNKNOWN"
            )
        {
            return not_found(strip_code(code.as_deref(), &message));
        }
        RegistryError::Http {
            action: action.to_string(),
            registry,
            repository,
            message,
            status,
        }
    }

    fn remember_insecure(&self, host: &str, insecure: bool) {
        let mut m = self
            .insecure_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.insert(host.to_string(), insecure);
    }

    /// `tls_verify` if set, else what the pull source said, else registries.conf.
    fn is_insecure(&self, host: &str) -> bool {
        if let Some(verify) = self.opts.tls_verify {
            return !verify;
        }
        let seen = self
            .insecure_hosts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(host)
            .copied();
        if let Some(i) = seen {
            return i;
        }
        self.opts
            .registries
            .as_ref()
            .and_then(|c| c.find_registry(host))
            .is_some_and(|r| r.insecure)
    }
}

/// The target of the `rel="next"` entry of a `Link` header (RFC 8288):
/// `</v2/repo/tags/list?n=2&last=b>; rel="next"` → `/v2/repo/tags/list?n=2&last=b`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            p.trim().split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        (is_next && !target.is_empty()).then(|| target.to_string())
    })
}

/// (registry, repository) for messages.
fn names(reference: &Reference) -> (String, String) {
    (
        reference.registry.clone().unwrap_or_default(),
        reference.repository.clone(),
    )
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_header_next_page() {
        assert_eq!(
            next_link(r#"</v2/multi/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/multi/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://r.example/a>; rel="prev", <https://r.example/v2/x/tags/list?last=c>; rel=next"#)
                .as_deref(),
            Some("https://r.example/v2/x/tags/list?last=c")
        );
        assert_eq!(next_link(r#"</v2/x/tags/list>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
