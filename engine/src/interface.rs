//! The engine interface: what the CLI (and later the REST server and the
//! remote client) call, as Podman's `pkg/domain/entities.ImageEngine`.
//!
//! [`LocalEngine`] implements it in-process over [`crate::store::Store`]
//! (Podman's "ABI" engine); a REST client will implement the same trait.
//! The report types serialize to Podman's JSON shapes (`podman images
//! --format json`, `podman image inspect`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::auth::{self, AuthError};
pub use crate::image::archive::ArchiveFormat;
use crate::image::archive::{self, ArchiveError};
use crate::image::diff_ids;
use crate::image::filter::{self, Candidate, FilterError};
use crate::image::import::{self as image_import, ImportError, ImportRequest};
use crate::image::pull::{self, PullError, PullRequest};
use crate::image::push::{self as image_push, PushError};
use crate::image::reference::is_hex_identifier;
use crate::image::{Reference, ReferenceError, RegistriesConf};
use crate::store::{Image, Store, StoreError, DEFAULT_ROOT};

/// Default run state root (rootful).
pub const DEFAULT_RUNROOT: &str = "/run/podman-rs";

/// Where and how the engine stores things (`--root`, `--runroot`, `--storage-driver`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOptions {
    pub root: PathBuf,
    pub runroot: PathBuf,
    /// `overlay` or `vfs`: recorded only for now (layers are stored the same
    /// way; the driver matters when container root filesystems are mounted).
    pub driver: String,
    /// storage.conf's overlay `mount_program` (fuse-overlayfs): mount
    /// overlays with it instead of the kernel's overlayfs.
    pub mount_program: Option<PathBuf>,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            root: PathBuf::from(DEFAULT_ROOT),
            runroot: PathBuf::from(DEFAULT_RUNROOT),
            driver: "overlay".into(),
            mount_program: None,
        }
    }
}

/// `podman pull` options (`entities.ImagePullOptions`).
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The reference to pull (short names are resolved through registries.conf).
    pub name: String,
    pub all_tags: bool,
    /// `--tls-verify`; `None`: registries.conf decides.
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
    /// `--creds user:pass`.
    pub creds: Option<(String, String)>,
    /// `--authfile`: where to look for credentials when `creds` is `None`
    /// (default: [`crate::auth::default_auth_file`]).
    pub authfile: Option<PathBuf>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `podman save` options (`entities.ImageSaveOptions`).
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// Names or IDs of the images to save.
    pub images: Vec<String>,
    pub format: ArchiveFormat,
    /// The archive (or, for `oci-dir`, the directory) to write.
    pub output: PathBuf,
    /// `-m`: every name is an image to save (docker-archive only; names of
    /// one image become several `RepoTags` of one entry). Without it, only
    /// the first is saved and the others are additional tags (which the
    /// OCI formats ignore, as Podman).
    pub multi_image_archive: bool,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `podman load` options.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The archive or OCI layout directory to load.
    pub input: PathBuf,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `podman push` options (`entities.ImagePushOptions`).
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The local image (name or ID).
    pub source: String,
    /// `docker://host/repo:tag` or `host/repo:tag`; `None`: the source name.
    pub destination: Option<String>,
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
    pub creds: Option<(String, String)>,
    /// `--authfile`: where to look for credentials when `creds` is `None`.
    pub authfile: Option<PathBuf>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `podman login` options.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// `REGISTRY` (`host[:port]`, optionally `/namespace`; a leading
    /// `https://` is ignored). Empty: the first unqualified-search registry.
    pub registry: String,
    /// Empty: check the stored credentials only.
    pub username: String,
    pub password: String,
    /// `--authfile` (default: [`crate::auth::default_auth_file`]).
    pub authfile: Option<PathBuf>,
    /// `--tls-verify`; `Some(false)`: no certificate verification.
    pub tls_verify: Option<bool>,
    pub cert_dir: Option<PathBuf>,
}

/// `podman logout` options.
#[derive(Debug, Clone, Default)]
pub struct LogoutOptions {
    /// The registry (ignored with `all`; empty: the first
    /// unqualified-search registry).
    pub registry: String,
    /// `-a`: remove every stored credential.
    pub all: bool,
    pub authfile: Option<PathBuf>,
}

/// `podman import` options (`entities.ImageImportOptions`).
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The tarball: a file path or an `http(s)://` URL (stdin is spooled
    /// to a file by the caller, as Podman does).
    pub source: String,
    /// The name to give the image; `None`: no name (a dangling image).
    pub reference: Option<String>,
    /// `--change` instructions.
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
    /// No progress on stderr.
    pub quiet: bool,
}

/// `podman images` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `-a`: also intermediate images (untagged parents of other images);
    /// without it, the filter `intermediate=false` is added, as Podman does.
    pub all: bool,
    /// `--filter KEY=VALUE` (see [`crate::image::filter`]); a `REFERENCE`
    /// argument is the filter `reference=REFERENCE`.
    pub filters: Vec<String>,
}

/// `podman image prune` options.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: every image no container uses, not only dangling ones.
    pub all: bool,
    /// `--filter KEY=VALUE`, as for [`ListOptions::filters`].
    pub filters: Vec<String>,
    /// `--external`: also images only external containers use (the
    /// `containers=external` filter; podman-rs has no external containers,
    /// so this is the same as without it for now).
    pub external: bool,
}

/// One image of `podman images` (`entities.ImageSummary`, Podman's JSON keys).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    #[serde(rename = "Id")]
    pub id: String,
    pub parent_id: String,
    /// Podman 4.3.1's local engine leaves this null in `images --format json`.
    pub repo_tags: Option<Vec<String>>,
    pub repo_digests: Vec<String>,
    pub size: u64,
    pub shared_size: u64,
    pub virtual_size: u64,
    pub labels: Option<BTreeMap<String, String>>,
    pub containers: u64,
    pub names: Vec<String>,
    pub digest: String,
    pub history: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
}

/// `RootFS` of `podman image inspect`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// `GraphDriver` of `podman image inspect`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GraphDriver {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Data")]
    pub data: Option<BTreeMap<String, String>>,
}

/// `podman image inspect` of one image (`inspect.ImageData`, main fields).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    #[serde(rename = "Id")]
    pub id: String,
    pub digest: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: Option<String>,
    pub config: Value,
    pub version: String,
    pub author: String,
    pub architecture: String,
    pub os: String,
    pub size: u64,
    pub virtual_size: u64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: BTreeMap<String, String>,
    pub manifest_type: String,
    pub user: String,
    pub history: Vec<Value>,
    pub names_history: Vec<String>,
}

/// One entry of `podman history` (`entities.ImageHistoryLayer`), newest
/// first.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLayer {
    /// The image ID for the newest entry, `<missing>` for the others.
    pub id: String,
    /// Unix seconds (0 when the entry has no time).
    pub created: i64,
    pub created_by: String,
    pub tags: Vec<String>,
    /// Uncompressed size of the layer the entry made (0 for empty layers).
    pub size: u64,
    pub comment: String,
}

/// The outcome of [`ImageEngine::remove`] (`podman rmi`).
#[derive(Debug, Default)]
pub struct RemoveReport {
    /// Names removed, in order.
    pub untagged: Vec<String>,
    /// Image IDs deleted.
    pub deleted: Vec<String>,
    /// One error per name that failed.
    pub errors: Vec<EngineError>,
}

/// Engine errors; the messages are Podman's.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No image matches (Podman: "NAME: image not known").
    #[error("{0}: image not known")]
    ImageNotKnown(String),
    /// `untag` of a name the image does not have.
    #[error("{0}: tag not known")]
    TagNotKnown(String),
    /// `rmi` by ID of an image with several names, without `--force`.
    #[error("unable to delete image {id:?} by ID with more than one tag ([{}]): please force removal", .names.join(" "))]
    MustForce { id: String, names: Vec<String> },
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// `rmi` without `--force` of an image a container uses (exit code 2).
    #[error("image used by {0}: image is in use by a container: consider listing external containers and force-removing image")]
    ImageInUse(String),
    /// A bad `--filter` (Podman's text).
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// Something Podman does that podman-rs does not (yet).
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Pull(Box<PullError>),
    #[error(transparent)]
    Archive(Box<ArchiveError>),
    #[error(transparent)]
    Push(Box<PushError>),
    #[error(transparent)]
    Store(Box<StoreError>),
    #[error(transparent)]
    Auth(Box<AuthError>),
    #[error(transparent)]
    Import(Box<ImportError>),
}

impl EngineError {
    /// True when the error says an image does not exist.
    pub fn is_not_known(&self) -> bool {
        matches!(self, EngineError::ImageNotKnown(_))
    }
}

impl From<PullError> for EngineError {
    fn from(e: PullError) -> Self {
        EngineError::Pull(Box::new(e))
    }
}

impl From<ArchiveError> for EngineError {
    fn from(e: ArchiveError) -> Self {
        EngineError::Archive(Box::new(e))
    }
}

impl From<AuthError> for EngineError {
    fn from(e: AuthError) -> Self {
        EngineError::Auth(Box::new(e))
    }
}

impl From<ImportError> for EngineError {
    fn from(e: ImportError) -> Self {
        EngineError::Import(Box::new(e))
    }
}

impl From<PushError> for EngineError {
    fn from(e: PushError) -> Self {
        EngineError::Push(Box::new(e))
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ImageNotFound(name) => EngineError::ImageNotKnown(name),
            StoreError::TagNotKnown { name, .. } => EngineError::TagNotKnown(name),
            StoreError::InvalidName { source, .. } => reference_error(source),
            other => EngineError::Store(Box::new(other)),
        }
    }
}

fn reference_error(e: ReferenceError) -> EngineError {
    let text = e.to_string();
    let text = text
        .strip_prefix("invalid reference format: ")
        .or_else(|| text.strip_prefix("invalid reference format"))
        .unwrap_or(&text)
        .to_string();
    EngineError::InvalidReference(text)
}

/// Result alias of the engine interface.
pub type EngineResult<T> = Result<T, EngineError>;

/// The image half of the engine interface (Podman's `entities.ImageEngine`).
pub trait ImageEngine {
    /// Pulls an image; returns the stored image(s) (one unless `all_tags`).
    fn pull(&self, opts: &PullOptions) -> EngineResult<Vec<ImageSummary>>;
    /// Lists the images that pass `opts.filters`, most recently added
    /// first (the caller sorts).
    fn list(&self, opts: &ListOptions) -> EngineResult<Vec<ImageSummary>>;
    /// Removes dangling images (with `all`, every image no container uses)
    /// that pass `opts.filters`, until none is left (removing a child can
    /// make its parent dangling); returns the IDs removed, in order. Layers
    /// and blobs no other image uses are deleted.
    fn prune(&self, opts: &PruneOptions) -> EngineResult<Vec<String>>;
    /// Inspects each name; one result per name, in order.
    fn inspect(&self, names: &[String]) -> Vec<EngineResult<ImageInspect>>;
    /// Adds each of `new_names` to the image `name`.
    fn tag(&self, name: &str, new_names: &[String]) -> EngineResult<()>;
    /// Removes `tags` from the image `name` (all its names if empty).
    fn untag(&self, name: &str, tags: &[String]) -> EngineResult<()>;
    /// Removes images, or only the name given when the image has others
    /// (unless `force`), as `podman rmi`.
    fn remove(&self, names: &[String], force: bool) -> RemoveReport;
    /// Whether an image matches `name`.
    fn exists(&self, name: &str) -> EngineResult<bool>;
    /// Writes images to an archive or OCI layout (`podman save`).
    fn save(&self, opts: &SaveOptions) -> EngineResult<()>;
    /// Loads the images of an archive or OCI layout; returns what Podman
    /// prints after `Loaded image: `: each name, or `sha256:<id>` for an
    /// image without one.
    fn load(&self, opts: &LoadOptions) -> EngineResult<Vec<String>>;
    /// Pushes a local image to a registry (`podman push`).
    fn push(&self, opts: &PushOptions) -> EngineResult<()>;
    /// The history of an image, newest entry first (`podman history`).
    fn history(&self, name: &str) -> EngineResult<Vec<HistoryLayer>>;
    /// The auth-file key for a `login`/`logout` argument (`https://` and a
    /// trailing `/` dropped); for an empty one, the first unqualified-search
    /// registry of registries.conf, as Podman.
    fn auth_key(&self, registry: &str) -> EngineResult<String>;
    /// Checks the credentials against the registry and stores them in the
    /// auth file (`podman login`); returns the key stored. With an empty
    /// `username`, checks the stored credentials instead (error
    /// [`AuthError::NotLoggedIn`] without any) and writes nothing.
    fn login(&self, opts: &LoginOptions) -> EngineResult<String>;
    /// The user name stored for a registry (`podman login --get-login`).
    fn get_login(&self, registry: &str, authfile: Option<&std::path::Path>)
        -> EngineResult<String>;
    /// Removes stored credentials (`podman logout`); returns the key
    /// removed (`None` with `all`).
    fn logout(&self, opts: &LogoutOptions) -> EngineResult<Option<String>>;
    /// Makes a one-layer image of a tarball (`podman import`); returns the
    /// image ID.
    fn import(&self, opts: &ImportOptions) -> EngineResult<String>;
}

/// The in-process engine over the local store.
#[derive(Debug)]
pub struct LocalEngine {
    storage: StorageOptions,
    store: Store,
    /// registries.conf, read on first use (most verbs never need it).
    registries: std::sync::OnceLock<Option<RegistriesConf>>,
}

impl LocalEngine {
    /// Opens (creating if needed) the store under `storage.root`.
    pub fn open(storage: StorageOptions) -> EngineResult<LocalEngine> {
        let mut storage = storage;
        let store = Store::open(&storage.root)?;
        crate::rootless::choose_driver(&store, &mut storage)?;
        // Fixed at creation, as Podman's database does.
        store.ensure_driver(&storage.driver)?;
        Ok(LocalEngine {
            storage,
            store,
            registries: std::sync::OnceLock::new(),
        })
    }

    pub fn storage(&self) -> &StorageOptions {
        &self.storage
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// registries.conf; a broken one only matters to pulls (which report it).
    fn registries(&self) -> Option<&RegistriesConf> {
        self.registries
            .get_or_init(|| RegistriesConf::load().ok())
            .as_ref()
    }

    fn search_registries(&self) -> Vec<String> {
        self.registries()
            .map(|r| r.unqualified_search_registries().to_vec())
            .unwrap_or_default()
    }

    pub(crate) fn lookup(&self, name: &str) -> EngineResult<Image> {
        Ok(self.store.lookup_image(name, &self.search_registries())?)
    }

    /// IDs of the containers using the image `image_id`: the one place
    /// images learn about containers (`image prune -a`, the `containers`
    /// filter, `ImageSummary.Containers`). Reads the `containers` table of
    /// the store's database, which the containers issue owns (schema
    /// included); without that table, no container uses any image.
    pub fn containers_using(&self, image_id: &str) -> EngineResult<Vec<String>> {
        Ok(self.store.containers_using(image_id)?)
    }

    /// The stored images that pass `filters` (libimage `ListImages`: with
    /// no image, the filters are not even parsed).
    /// `usage`: image id → the containers using it (one query for all).
    fn filtered_images(
        &self,
        filters: &[String],
        usage: &BTreeMap<String, Vec<String>>,
    ) -> EngineResult<Vec<Image>> {
        let images = self.store.list_images()?;
        if filters.is_empty() || images.is_empty() {
            return Ok(images);
        }
        let created_of = |name: &str| -> Result<i128, String> {
            self.lookup(name)
                .map(|i| created_nanos(&i))
                .map_err(|e| e.to_string())
        };
        let compiled = filter::compile(filters, &created_of, chrono::Utc::now())?;
        let configs: Vec<Value> = images.iter().map(config_json).collect();
        let mut out = Vec::new();
        for (i, image) in images.iter().enumerate() {
            let has_child = images.iter().enumerate().any(|(j, other)| {
                j != i
                    && other.id != image.id
                    && filter::is_parent_and_child(&configs[i], &configs[j])
            });
            // containers-storage's names: tags and repo@digest names.
            let names: Vec<String> = image
                .names
                .iter()
                .chain(&image.digest_names)
                .cloned()
                .collect();
            let untagged = names.is_empty();
            let candidate = Candidate {
                id: &image.id,
                names: &names,
                labels: labels(&configs[i]).unwrap_or_default(),
                created_nanos: created_nanos(image),
                dangling: untagged && !has_child,
                intermediate: untagged && has_child,
                containers: usage.get(&image.id).map_or(0, Vec::len),
                read_only: false,
                manifest_list: false,
            };
            if compiled.matches(&candidate) {
                out.push(image.clone());
            }
        }
        Ok(out)
    }

    fn summary(image: &Image, usage: &BTreeMap<String, Vec<String>>) -> ImageSummary {
        let mut s = summarize(image);
        s.containers = usage.get(&image.id).map_or(0, Vec::len) as u64;
        s
    }
}

/// The image's created time in ns (the config's, else when it was stored).
fn created_nanos(image: &Image) -> i128 {
    image
        .created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
        .unwrap_or(i128::from(image.added) * 1_000_000_000)
}

/// `sha256:<hex>` → `<hex>`.
fn strip_algo(s: &str) -> &str {
    s.strip_prefix("sha256:").unwrap_or(s)
}

fn parse_created(created: Option<&str>) -> i64 {
    created
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

/// RFC 3339 with `Z`, as Go prints a UTC time.
fn format_created(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn config_json(image: &Image) -> Value {
    serde_json::from_str(&image.config).unwrap_or(Value::Null)
}

fn labels(config: &Value) -> Option<BTreeMap<String, String>> {
    let obj = config.pointer("/config/Labels")?.as_object()?;
    Some(
        obj.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect(),
    )
}

fn str_field(config: &Value, key: &str) -> String {
    config
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `repo@digest` references: the stored ones, plus `repo@<manifest digest>`
/// for every name's repository (Podman lists those too).
fn repo_digests(image: &Image) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in &image.names {
        if let Ok(r) = Reference::parse(n) {
            let d = format!("{}@{}", r.name(), image.digest);
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    for d in &image.digests {
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    out.sort();
    out
}

/// The summary of a stored image. `Names` are containers-storage's: the
/// tags, then the `repo@digest` references given as names.
pub fn summarize(image: &Image) -> ImageSummary {
    let config = config_json(image);
    let names: Vec<String> = image
        .names
        .iter()
        .chain(&image.digest_names)
        .cloned()
        .collect();
    let created = parse_created(image.created.as_deref());
    ImageSummary {
        id: image.id.clone(),
        parent_id: String::new(),
        repo_tags: None,
        repo_digests: repo_digests(image),
        size: image.size,
        shared_size: 0,
        virtual_size: image.size,
        labels: labels(&config),
        containers: 0,
        names: names.clone(),
        digest: image.digest.clone(),
        history: names,
        created,
        created_at: format_created(created),
    }
}

/// The inspect report of a stored image.
pub fn inspect_image(image: &Image, driver: &str) -> ImageInspect {
    let config = config_json(image);
    let diff_ids = diff_ids(&config);
    let image_config = config.get("config").cloned().unwrap_or(Value::Null);
    let user = image_config
        .get("User")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    ImageInspect {
        id: image.id.clone(),
        digest: image.digest.clone(),
        repo_tags: image.names.clone(),
        repo_digests: repo_digests(image),
        parent: String::new(),
        // libimage: the first history entry's comment.
        comment: config
            .pointer("/history/0/comment")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        created: image.created.clone(),
        config: if image_config.is_null() {
            Value::Object(Default::default())
        } else {
            image_config
        },
        version: str_field(&config, "docker_version"),
        author: str_field(&config, "author"),
        architecture: str_field(&config, "architecture"),
        os: str_field(&config, "os"),
        size: image.size,
        virtual_size: image.size,
        graph_driver: GraphDriver {
            name: driver.to_string(),
            data: None,
        },
        root_fs: RootFs {
            kind: "layers".into(),
            layers: diff_ids,
        },
        labels: labels(&config),
        annotations: BTreeMap::new(),
        manifest_type: image.manifest_media_type.clone(),
        user,
        history: config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        names_history: image.names.clone(),
    }
}

/// `creds`, else what the auth file holds for the registry (and
/// namespace) of `name` when it names one.
fn stored_creds(
    creds: Option<&(String, String)>,
    name: &str,
    authfile: Option<&std::path::Path>,
) -> EngineResult<Option<(String, String)>> {
    if let Some(c) = creds {
        return Ok(Some(c.clone()));
    }
    let name = name.strip_prefix("docker://").unwrap_or(name);
    let Ok(r) = Reference::parse(name) else {
        return Ok(None);
    };
    let Some(registry) = r.registry.as_deref().filter(|_| !r.is_short_name()) else {
        return Ok(None);
    };
    let file = auth::auth_file(authfile);
    Ok(auth::lookup(&file, registry, &r.repository)?)
}

impl ImageEngine for LocalEngine {
    fn pull(&self, opts: &PullOptions) -> EngineResult<Vec<ImageSummary>> {
        let req = PullRequest {
            name: opts.name.clone(),
            all_tags: opts.all_tags,
            tls_verify: opts.tls_verify,
            cert_dir: opts.cert_dir.clone(),
            creds: stored_creds(opts.creds.as_ref(), &opts.name, opts.authfile.as_deref())?,
            os: opts.os.clone(),
            arch: opts.arch.clone(),
            variant: opts.variant.clone(),
            registries: None,
        };
        let quiet = opts.quiet;
        let progress = |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        };
        let images = pull::pull(&self.store, &req, &progress)?;
        Ok(images.iter().map(summarize).collect())
    }

    fn list(&self, opts: &ListOptions) -> EngineResult<Vec<ImageSummary>> {
        let mut filters = opts.filters.clone();
        if !opts.all {
            filters.push("intermediate=false".into());
        }
        let usage = self.store.containers_by_image()?;
        Ok(self
            .filtered_images(&filters, &usage)?
            .iter()
            .map(|i| Self::summary(i, &usage))
            .collect())
    }

    fn prune(&self, opts: &PruneOptions) -> EngineResult<Vec<String>> {
        // As Podman's ABI engine: never read-only images, never images a
        // container uses, only dangling ones without -a.
        let mut filters = opts.filters.clone();
        filters.push("readonly=false".into());
        if !opts.all {
            filters.push("dangling=true".into());
        }
        filters.push(if opts.external {
            "containers=external".into()
        } else {
            "containers=false".into()
        });
        let mut removed = Vec::new();
        loop {
            let usage = self.store.containers_by_image()?;
            let round = self.filtered_images(&filters, &usage)?;
            if round.is_empty() {
                return Ok(removed);
            }
            // Oldest stored first, as Podman walks containers-storage's list.
            for image in round.iter().rev() {
                removed.push(self.store.remove_image(&image.id)?.id);
            }
        }
    }

    fn inspect(&self, names: &[String]) -> Vec<EngineResult<ImageInspect>> {
        names
            .iter()
            .map(|n| Ok(inspect_image(&self.lookup(n)?, &self.storage.driver)))
            .collect()
    }

    fn tag(&self, name: &str, new_names: &[String]) -> EngineResult<()> {
        let image = self.lookup(name)?;
        for n in new_names {
            self.store.tag(&image.id, n)?;
        }
        Ok(())
    }

    fn untag(&self, name: &str, tags: &[String]) -> EngineResult<()> {
        let image = self.lookup(name)?;
        if tags.is_empty() {
            for n in &image.names {
                self.store.untag(&image.id, n)?;
            }
            return Ok(());
        }
        for t in tags {
            self.store.untag(&image.id, t)?;
        }
        Ok(())
    }

    fn remove(&self, names: &[String], force: bool) -> RemoveReport {
        let mut report = RemoveReport::default();
        for name in names {
            if let Err(e) = self.remove_one(name, force, &mut report) {
                report.errors.push(e);
            }
        }
        report
    }

    fn exists(&self, name: &str) -> EngineResult<bool> {
        match self.lookup(name) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_known() => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn save(&self, opts: &SaveOptions) -> EngineResult<()> {
        // As Podman: with -m every name is an image (docker-archive only);
        // without, the first is the image and the others are more tags
        // for it (docker-archive) or ignored (OCI formats).
        let (names, additional): (&[String], &[String]) = if opts.multi_image_archive {
            if opts.images.len() > 1 && opts.format != ArchiveFormat::DockerArchive {
                return Err(EngineError::Unsupported(format!(
                    "unsupported format {:?} for saving multiple images (only docker-archive)",
                    opts.format.as_str()
                )));
            }
            (&opts.images, &[])
        } else {
            let n = opts.images.len().min(1);
            (&opts.images[..n], &opts.images[n..])
        };
        let mut images: Vec<Image> = Vec::new();
        for n in names {
            let image = self.lookup(n)?;
            if !images.iter().any(|i| i.id == image.id) {
                images.push(image);
            }
        }
        archive::save(&self.store, names, additional, opts.format, &opts.output)?;
        if !opts.quiet {
            // containers-image's lines (non-TTY), without the signatures
            // line it leaves out when the source is local storage; once per
            // image, however many of its names were given.
            for image in &images {
                for d in diff_ids(&config_json(image)) {
                    eprintln!("Copying blob {d}");
                }
                eprintln!("Copying config {}", image.config_digest());
                eprintln!("Writing manifest to image destination");
                eprintln!("Storing signatures");
            }
        }
        Ok(())
    }

    fn load(&self, opts: &LoadOptions) -> EngineResult<Vec<String>> {
        let loaded = archive::load(&self.store, &opts.input)?;
        let mut out = Vec::new();
        for l in &loaded {
            if !opts.quiet {
                eprintln!("Getting image source signatures");
                if let Ok(image) = self.store.get_image(&l.id) {
                    for d in manifest_layer_digests(&self.store, &image) {
                        eprintln!("Copying blob {d}");
                    }
                }
                eprintln!("Copying config sha256:{}", l.id);
                eprintln!("Writing manifest to image destination");
                eprintln!("Storing signatures");
            }
            if l.names.is_empty() {
                out.push(format!("sha256:{}", l.id));
            } else {
                out.extend(l.names.iter().cloned());
            }
        }
        Ok(out)
    }

    fn push(&self, opts: &PushOptions) -> EngineResult<()> {
        let image = self.lookup(&opts.source)?;
        let destination = opts
            .destination
            .clone()
            .unwrap_or_else(|| opts.source.clone());
        let creds = stored_creds(opts.creds.as_ref(), &destination, opts.authfile.as_deref())?;
        let req = image_push::PushRequest {
            destination,
            tls_verify: opts.tls_verify,
            cert_dir: opts.cert_dir.clone(),
            creds,
            registries: self.registries().cloned(),
        };
        let quiet = opts.quiet;
        let progress = |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        };
        image_push::push(&self.store, &image, &req, &progress)?;
        Ok(())
    }

    fn auth_key(&self, registry: &str) -> EngineResult<String> {
        if !registry.is_empty() {
            return Ok(auth::normalize_registry(registry));
        }
        match self.search_registries().first() {
            Some(r) => Ok(auth::normalize_registry(r)),
            None => Err(AuthError::Invalid(
                "no registries found in registries.conf, a registry must be provided".into(),
            )
            .into()),
        }
    }

    fn login(&self, opts: &LoginOptions) -> EngineResult<String> {
        use crate::image::registry::{ClientOptions, RegistryClient};
        let key = self.auth_key(&opts.registry)?;
        let host = key.split('/').next().unwrap_or_default().to_string();
        let file = auth::auth_file(opts.authfile.as_deref());
        let login_err = |e: &dyn std::fmt::Display| AuthError::Login {
            registry: host.clone(),
            message: e.to_string(),
        };
        // No user: check the stored credentials, store nothing.
        let stored = opts.username.is_empty();
        let (user, pass) = if stored {
            auth::get_for_key(&file, &key)?.ok_or_else(|| AuthError::NotLoggedIn(key.clone()))?
        } else {
            (opts.username.clone(), opts.password.clone())
        };
        let client = RegistryClient::new(ClientOptions {
            tls_verify: opts.tls_verify,
            cert_dir: opts.cert_dir.clone(),
            auth: Some((user, pass)),
            ..ClientOptions::default()
        })
        .map_err(|e| login_err(&e))?;
        match client.check_login(&host) {
            Ok(true) => {}
            Ok(false) => return Err(AuthError::InvalidCredentials(host).into()),
            Err(e) => return Err(login_err(&e).into()),
        }
        if !stored {
            auth::store(&file, &key, &opts.username, &opts.password)?;
        }
        Ok(key)
    }

    fn get_login(
        &self,
        registry: &str,
        authfile: Option<&std::path::Path>,
    ) -> EngineResult<String> {
        let key = self.auth_key(registry)?;
        let file = auth::auth_file(authfile);
        match auth::get_for_key(&file, &key)? {
            Some((user, _)) if !user.is_empty() => Ok(user),
            _ => Err(AuthError::NotLoggedIn(key).into()),
        }
    }

    fn logout(&self, opts: &LogoutOptions) -> EngineResult<Option<String>> {
        let file = auth::auth_file(opts.authfile.as_deref());
        if opts.all {
            auth::remove_all(&file)?;
            return Ok(None);
        }
        let key = self.auth_key(&opts.registry)?;
        if auth::remove(&file, &key)? {
            Ok(Some(key))
        } else {
            Err(AuthError::NotLoggedIn(key).into())
        }
    }

    fn history(&self, name: &str) -> EngineResult<Vec<HistoryLayer>> {
        let image = self.lookup(name)?;
        let config = config_json(&image);
        let sizes = layer_sizes(&self.store, &image);
        let entries = config
            .get("history")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        // As libimage: walk the history from the newest entry down, the
        // layer pointer starting at the top layer and moving to its parent
        // after each entry that made a layer (staying at the base layer).
        let mut layer = sizes.len().checked_sub(1);
        let mut out = Vec::with_capacity(entries.len());
        for (n, h) in entries.iter().rev().enumerate() {
            let empty = h
                .get("empty_layer")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut size = 0;
            if let Some(i) = layer {
                if !empty {
                    size = sizes[i];
                    layer = Some(i.saturating_sub(1));
                }
            }
            let text = |k: &str| {
                h.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            out.push(HistoryLayer {
                id: if n == 0 {
                    image.id.clone()
                } else {
                    "<missing>".into()
                },
                created: parse_created(h.get("created").and_then(Value::as_str)),
                created_by: text("created_by"),
                tags: Vec::new(),
                size,
                comment: text("comment"),
            });
        }
        Ok(out)
    }

    fn import(&self, opts: &ImportOptions) -> EngineResult<String> {
        let req = ImportRequest {
            source: opts.source.clone(),
            reference: opts.reference.clone(),
            changes: opts.changes.clone(),
            message: opts.message.clone(),
            os: opts.os.clone(),
            arch: opts.arch.clone(),
            variant: opts.variant.clone(),
        };
        let quiet = opts.quiet;
        let progress = |line: &str| {
            if !quiet {
                eprintln!("{line}");
            }
        };
        let imported = image_import::import(&self.store, &req, &progress)?;
        Ok(imported.image.id)
    }
}

/// The uncompressed size of each layer of `image`, base first (0 when the
/// blob is not stored or cannot be read).
fn layer_sizes(store: &Store, image: &Image) -> Vec<u64> {
    let Ok((_, _, manifest)) = image_push::image_manifest(store, image) else {
        return vec![0; diff_ids(&config_json(image)).len()];
    };
    manifest
        .layers
        .iter()
        .map(|l| uncompressed_size(store, &l.digest, &l.media_type).unwrap_or(0))
        .collect()
}

fn uncompressed_size(store: &Store, digest: &str, media_type: &str) -> Option<u64> {
    use podman_rs_rootfs::layers::Compression;
    let blob = std::io::BufReader::new(store.open_blob(digest).ok()?);
    let mut sink = std::io::sink();
    let n = match Compression::from_media_type(media_type).ok()? {
        Compression::Gzip => std::io::copy(&mut flate2::read::MultiGzDecoder::new(blob), &mut sink),
        Compression::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(blob).ok()?;
            std::io::copy(&mut d, &mut sink)
        }
        _ => std::io::copy(&mut { blob }, &mut sink),
    };
    n.ok()
}

/// The layer digests of the stored manifest of `image` (its diff IDs when
/// the manifest cannot be read).
fn manifest_layer_digests(store: &Store, image: &Image) -> Vec<String> {
    match image_push::image_manifest(store, image) {
        Ok((_, _, m)) => m.layers.iter().map(|l| l.digest.clone()).collect(),
        Err(_) => diff_ids(&config_json(image)),
    }
}

impl LocalEngine {
    /// `podman rmi NAME`: a name of an image with several names only
    /// untags that name; an ID removes the image (with `force` whatever its
    /// names, else only if it has at most one).
    fn remove_one(&self, name: &str, force: bool, report: &mut RemoveReport) -> EngineResult<()> {
        let image = self.lookup(name)?;
        let hex = strip_algo(name);
        let by_id = is_hex_identifier(hex)
            || (hex.bytes().all(|b| b.is_ascii_hexdigit()) && image.id.starts_with(hex));
        if !by_id && image.names.len() > 1 {
            if let Some(n) = matching_name(&image, name) {
                self.store.untag(&image.id, &n)?;
                report.untagged.push(n);
                return Ok(());
            }
        }
        if by_id && image.names.len() > 1 && !force {
            return Err(EngineError::MustForce {
                id: image.id.clone(),
                names: image.names.clone(),
            });
        }
        let users = self.containers_using(&image.id)?;
        if let Some(first) = users.first() {
            if !force {
                return Err(EngineError::ImageInUse(first.clone()));
            }
            // Podman's rmi -f removes the containers using the image.
            for id in &users {
                use crate::container::ContainerEngine;
                self.container_remove(
                    id,
                    &crate::container::RemoveOptions {
                        force: true,
                        ..Default::default()
                    },
                )
                .map_err(|e| EngineError::Unsupported(e.to_string()))?;
            }
        }
        let removed = self.store.remove_image(&image.id)?;
        report.untagged.extend(removed.names);
        report.deleted.push(removed.id);
        Ok(())
    }
}

/// The stored name of `image` that `name` designates (exact, normalised
/// `localhost/`+`:latest`, or a repository suffix).
fn matching_name(image: &Image, name: &str) -> Option<String> {
    if image.names.iter().any(|n| n == name) {
        return Some(name.to_string());
    }
    let with_tag = match Reference::parse(name) {
        Ok(r) => r.with_default_tag().to_string(),
        Err(_) => return None,
    };
    if let Some(n) = image.names.iter().find(|n| **n == with_tag) {
        return Some(n.clone());
    }
    if let Ok(local) = Reference::parse_local_name(name) {
        let local = local.to_string();
        if let Some(n) = image.names.iter().find(|n| **n == local) {
            return Some(n.clone());
        }
    }
    image
        .names
        .iter()
        .find(|n| n.ends_with(&format!("/{with_tag}")))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(names: &[&str]) -> Image {
        let config = serde_json::json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": "arm64",
            "os": "linux",
            "author": "me",
            "config": {"Cmd": ["sh"], "Labels": {"a": "b"}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]},
            "history": [{"comment": "first"}, {"comment": "second"}],
        });
        Image {
            id: "ab".repeat(32),
            digest: format!("sha256:{}", "cd".repeat(32)),
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            config: config.to_string(),
            created: Some("2024-01-01T00:00:00Z".into()),
            size: 42,
            top_layer: None,
            layers: vec![],
            blobs: vec![],
            names: names.iter().map(|n| n.to_string()).collect(),
            digests: vec![],
            digest_names: vec![],
            added: 0,
        }
    }

    #[test]
    fn summary_and_inspect_have_podmans_fields() {
        let img = image(&["quay.io/x/y:1", "quay.io/x/y:2"]);
        let s = summarize(&img);
        assert_eq!(s.created, 1_704_067_200);
        assert_eq!(s.created_at, "2024-01-01T00:00:00Z");
        assert_eq!(
            s.repo_digests,
            vec![format!("quay.io/x/y@sha256:{}", "cd".repeat(32))]
        );
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["RepoTags"].is_null());
        assert_eq!(v["Id"], img.id.as_str());

        let i = inspect_image(&img, "vfs");
        assert_eq!(i.architecture, "arm64");
        assert_eq!(i.comment, "first");
        assert_eq!(i.root_fs.layers, vec!["sha256:aa".to_string()]);
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["RootFS"]["Type"], "layers");
        assert_eq!(v["Config"]["Cmd"][0], "sh");
        assert_eq!(v["Labels"]["a"], "b");
        assert_eq!(v["GraphDriver"]["Name"], "vfs");
    }

    #[test]
    fn rmi_finds_the_name_given() {
        let img = image(&["quay.io/x/y:latest", "localhost/foo:latest"]);
        assert_eq!(
            matching_name(&img, "foo").as_deref(),
            Some("localhost/foo:latest")
        );
        assert_eq!(
            matching_name(&img, "quay.io/x/y").as_deref(),
            Some("quay.io/x/y:latest")
        );
        assert_eq!(
            matching_name(&img, "y").as_deref(),
            Some("quay.io/x/y:latest")
        );
        assert_eq!(matching_name(&img, "other"), None);
    }

    #[test]
    fn errors_read_like_podman() {
        let e = EngineError::from(StoreError::ImageNotFound("nosuch".into()));
        assert_eq!(e.to_string(), "nosuch: image not known");
        assert!(e.is_not_known());
        let e = EngineError::MustForce {
            id: "ab".into(),
            names: vec!["a:1".into(), "b:2".into()],
        };
        assert_eq!(
            e.to_string(),
            "unable to delete image \"ab\" by ID with more than one tag ([a:1 b:2]): please force removal"
        );
    }
}
