//! Image records: `put_image`, lookup with Podman's rules, tags, removal
//! with reference counting of shared layers and blobs.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::blobs::parse_digest;
use super::error::{StoreError, StoreResult};
use super::Store;
use crate::image::reference::Reference;
use podman_rs_rootfs::layers::chain_id;

/// What a pull (or commit, load...) stores: the input of [`Store::put_image`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRecord {
    /// The image ID: the config digest, `sha256:<hex>` or bare `<hex>`.
    pub id: String,
    /// The manifest digest `sha256:<hex>`.
    pub digest: String,
    pub manifest_media_type: String,
    /// The config JSON, byte for byte the config blob (it must hash to `id`).
    pub config: String,
    /// The config's `created` time (RFC 3339), if any.
    pub created: Option<String>,
    /// Size in bytes; 0 = computed from the layer dirs and blobs.
    pub size: u64,
    /// Chain IDs of the layers, base first; must be in the layer store.
    pub layers: Vec<String>,
    /// Digests of the compressed layer blobs kept in the blob store (may be
    /// empty). The manifest and config blobs are always required.
    pub layer_blobs: Vec<String>,
    /// Other manifests the image needs, kept in the blob store: the
    /// per-platform manifest of an image pulled through a manifest list
    /// (`digest` is then the list's). Counted like every other blob of the image.
    pub manifest_blobs: Vec<String>,
    /// Names (`registry/repo:tag`; short names get `localhost/`, no tag
    /// means `latest`). A `repo@digest` name is stored as a digest reference.
    pub names: Vec<String>,
    /// More `repo@digest` references (`repo@<manifest digest>` is added for
    /// every name's repository anyway).
    pub digests: Vec<String>,
}

/// An image as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// 64 hex characters (Podman's image ID).
    pub id: String,
    /// Manifest digest of the first record stored for this ID.
    pub digest: String,
    pub manifest_media_type: String,
    pub config: String,
    pub created: Option<String>,
    pub size: u64,
    /// Chain ID of the top-most layer.
    pub top_layer: Option<String>,
    /// Chain IDs, base first.
    pub layers: Vec<String>,
    /// Every blob the image refers to (manifests, config, layers), sorted.
    pub blobs: Vec<String>,
    /// Names in the order they were given to this image.
    pub names: Vec<String>,
    /// `repo@digest` references, sorted.
    pub digests: Vec<String>,
    /// Those of `digests` given as names (pull by digest, `tag
    /// NAME@DIGEST`), sorted: containers-storage counts them among the
    /// names, so the image is not dangling.
    pub digest_names: Vec<String>,
    /// Unix seconds when the image was first stored.
    pub added: i64,
}

impl Image {
    /// `sha256:<id>`: the config digest.
    pub fn config_digest(&self) -> String {
        format!("sha256:{}", self.id)
    }
}

/// The outcome of [`Store::remove_image`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovedImage {
    pub id: String,
    /// The names the image had.
    pub names: Vec<String>,
    /// Layers deleted because no other image uses them (top-most first).
    pub layers: Vec<String>,
    /// Blobs deleted because no other image uses them.
    pub blobs: Vec<String>,
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `sha256:<hex>` or `<hex>` → `<hex>` (64 lowercase hex).
fn normalize_id(id: &str) -> StoreResult<String> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if hex.len() == 64 && is_hex(hex) {
        Ok(hex.to_string())
    } else {
        Err(StoreError::InvalidRecord {
            image: id.to_string(),
            reason: "an image ID is sha256:<64 lowercase hex>".into(),
        })
    }
}

/// A name as stored: `Name::Tag("reg/repo:tag")` or `Name::Digest("reg/repo@sha256:…")`.
enum Name {
    Tag(String),
    Digest(String),
}

fn normalize_name(name: &str) -> StoreResult<Name> {
    let r = Reference::parse_local_name(name).map_err(|source| StoreError::InvalidName {
        name: name.to_string(),
        source,
    })?;
    Ok(match &r.digest {
        Some(d) => Name::Digest(format!("{}@{d}", r.name())),
        None => Name::Tag(r.to_string()),
    })
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Sum of the sizes of the regular files under `dir` (0 if absent).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}

/// The chain IDs of a config's `rootfs.diff_ids`, if it has them.
fn config_chain(config: &str) -> Option<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(config).ok()?;
    let diff_ids = v.get("rootfs")?.get("diff_ids")?.as_array()?;
    let mut chain: Vec<String> = Vec::new();
    for d in diff_ids {
        let d = d.as_str()?;
        let next = chain_id(chain.last().map(String::as_str), d);
        chain.push(next);
    }
    Some(chain)
}

impl Store {
    /// Stores an image record, or merges it into the record with the same
    /// ID (new names, digests and blobs are added). Idempotent, and safe
    /// against a concurrent `put_image` of the same image in this or another
    /// process: both succeed, one record remains. A name held by another
    /// image moves to this one (the other keeps its other names, or becomes
    /// dangling), as Podman does.
    ///
    /// The manifest and config blobs, the layer blobs and the layers must
    /// be in the store, `config` must hash to `id`, and `layers` must be the
    /// chain IDs of the config's `rootfs.diff_ids`.
    pub fn put_image(&self, record: &ImageRecord) -> StoreResult<Image> {
        let id = normalize_id(&record.id)?;
        let invalid = |reason: String| StoreError::InvalidRecord {
            image: id.clone(),
            reason,
        };
        let config_hash = hex::encode(Sha256::digest(record.config.as_bytes()));
        if config_hash != id {
            return Err(invalid(format!(
                "config JSON hashes to sha256:{config_hash}, not to the image ID"
            )));
        }
        parse_digest(&record.digest)?;
        for d in record.layer_blobs.iter().chain(&record.manifest_blobs) {
            parse_digest(d)?;
        }
        for l in &record.layers {
            parse_digest(l)?;
        }
        if let Some(chain) = config_chain(&record.config) {
            if chain != record.layers {
                return Err(invalid(format!(
                    "layers {:?} are not the chain IDs of the config's diff IDs {chain:?}",
                    record.layers
                )));
            }
        }
        let config_digest = format!("sha256:{id}");
        let mut blobs: BTreeSet<String> = record
            .layer_blobs
            .iter()
            .chain(&record.manifest_blobs)
            .cloned()
            .collect();
        blobs.insert(record.digest.clone());
        blobs.insert(config_digest);

        let mut tags = Vec::new();
        let mut digest_refs = BTreeSet::new();
        let mut digest_names = BTreeSet::new();
        for name in &record.names {
            match normalize_name(name)? {
                Name::Tag(t) => {
                    if let Ok(r) = Reference::parse(&t) {
                        digest_refs.insert(format!("{}@{}", r.name(), record.digest));
                    }
                    tags.push(t);
                }
                Name::Digest(d) => {
                    digest_names.insert(d.clone());
                    digest_refs.insert(d);
                }
            }
        }
        for d in &record.digests {
            match normalize_name(d)? {
                Name::Digest(d) => {
                    digest_refs.insert(d);
                }
                Name::Tag(t) => {
                    return Err(invalid(format!("digest reference {t:?} has no digest")));
                }
            }
        }

        let _lock = self.flock(false)?;
        for b in &blobs {
            if !self.blobs.has_blob(b) {
                return Err(StoreError::MissingBlob {
                    image: id.clone(),
                    blob: b.clone(),
                });
            }
        }
        for l in &record.layers {
            if !self.layers.has_layer(l) {
                return Err(StoreError::MissingLayer {
                    image: id.clone(),
                    layer: l.clone(),
                });
            }
        }
        let size = if record.size > 0 {
            record.size
        } else {
            let mut size = 0;
            for l in &record.layers {
                size += dir_size(&self.layers.diff_dir(l)?);
            }
            size + record.config.len() as u64 + self.blobs.blob_size(&record.digest)?
        };
        let layers_json = serde_json::to_string(&record.layers)
            .map_err(|e| invalid(format!("encoding layers: {e}")))?;

        let mut conn = self.conn();
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)
            .map_err(self.db_err(format!("image {id}: starting transaction")))?;
        let err = |what: &str| self.db_err(format!("image {id}: {what}"));
        tx.execute(
            "INSERT OR IGNORE INTO images
             (id, digest, manifest_media_type, config, created, size, top_layer, layers, added)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                record.digest,
                record.manifest_media_type,
                record.config,
                record.created,
                size as i64,
                record.layers.last(),
                layers_json,
                now()
            ],
        )
        .map_err(err("inserting image"))?;
        for (pos, l) in record.layers.iter().enumerate() {
            tx.execute(
                "INSERT OR IGNORE INTO image_layers (image_id, position, chain_id) VALUES (?1, ?2, ?3)",
                params![id, pos as i64, l],
            )
            .map_err(err("inserting layer"))?;
        }
        for b in &blobs {
            tx.execute(
                "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?1, ?2)",
                params![id, b],
            )
            .map_err(err("inserting blob"))?;
        }
        for t in &tags {
            upsert_name(&tx, t, &id).map_err(err("setting name"))?;
        }
        for d in &digest_refs {
            upsert_digest(&tx, d, &id, digest_names.contains(d))
                .map_err(err("setting digest reference"))?;
        }
        let image = load_image(&tx, &id)
            .map_err(err("reading back"))?
            .ok_or_else(|| StoreError::ImageNotFound(id.clone()))?;
        tx.commit().map_err(err("committing"))?;
        Ok(image)
    }

    /// Looks an image up as Podman's `LookupImage` does, without search
    /// registries: see [`Store::lookup_image`].
    pub fn get_image(&self, name_or_id: &str) -> StoreResult<Image> {
        self.lookup_image(name_or_id, &[])
    }

    /// Looks an image up by, in order (Podman 4.3 `libimage.LookupImage`):
    /// 1. a full ID, `<hex>` or `sha256:<hex>` (`sha256:<prefix>` is an ID prefix);
    /// 2. an exact stored name or `repo@digest` reference;
    /// 3. the name normalised with `:latest` if it has no tag or digest,
    ///    and for a short name the candidates `localhost/NAME`, each of
    ///    `search_registries` (registries.conf unqualified-search), then
    ///    `docker.io/[library/]NAME`;
    /// 4. a unique ID prefix (any length, hex);
    /// 5. a short name matching the end of exactly one image's repository
    ///    (`busybox` finds `quay.io/x/busybox:latest`), with the same tag or
    ///    digest.
    ///
    /// Several images matching an ID prefix or (5) is an error naming them.
    pub fn lookup_image(
        &self,
        name_or_id: &str,
        search_registries: &[String],
    ) -> StoreResult<Image> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(self.db_err(format!("looking up {name_or_id}: starting transaction")))?;
        let id = resolve(&tx, name_or_id, search_registries)
            .map_err(|e| self.lookup_err(name_or_id, e))?;
        let image = load_image(&tx, &id)
            .map_err(self.db_err(format!("image {id}: reading")))?
            .ok_or_else(|| StoreError::ImageNotFound(name_or_id.to_string()))?;
        Ok(image)
    }

    fn lookup_err(&self, name: &str, e: LookupError) -> StoreError {
        match e {
            LookupError::Db(source) => StoreError::Db {
                path: self.db_path.clone(),
                context: format!("looking up {name}"),
                source,
            },
            LookupError::NotFound => StoreError::ImageNotFound(name.to_string()),
            LookupError::Ambiguous(candidates) => StoreError::Ambiguous {
                name: name.to_string(),
                candidates,
            },
        }
    }

    /// All images, most recently added first (insertion order, newest first).
    pub fn list_images(&self) -> StoreResult<Vec<Image>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction()
            .map_err(self.db_err("listing images: starting transaction"))?;
        let ids: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT id FROM images ORDER BY added DESC, rowid DESC")
                .map_err(self.db_err("listing images"))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(self.db_err("listing images"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.db_err("listing images"))?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(img) =
                load_image(&tx, &id).map_err(self.db_err(format!("image {id}: reading")))?
            {
                out.push(img);
            }
        }
        Ok(out)
    }

    /// Adds `name` (normalised as `podman tag` does) to the image that
    /// `image` names; the name moves if another image had it.
    pub fn tag(&self, image: &str, name: &str) -> StoreResult<Image> {
        let normalized = normalize_name(name)?;
        let img = self.get_image(image)?;
        let id = img.id;
        let mut conn = self.conn();
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)
            .map_err(self.db_err(format!("image {id}: starting transaction")))?;
        let err = |what: &str| self.db_err(format!("image {id}: {what}"));
        match &normalized {
            Name::Tag(t) => {
                upsert_name(&tx, t, &id).map_err(err("tagging"))?;
            }
            Name::Digest(d) => {
                upsert_digest(&tx, d, &id, true).map_err(err("tagging"))?;
            }
        }
        let image = load_image(&tx, &id)
            .map_err(err("reading back"))?
            .ok_or_else(|| StoreError::ImageNotFound(image.to_string()))?;
        tx.commit().map_err(err("committing"))?;
        Ok(image)
    }

    /// Removes `name` from the image that `image` names; an error if the
    /// image does not have it. The image stays (maybe dangling).
    pub fn untag(&self, image: &str, name: &str) -> StoreResult<Image> {
        let normalized = normalize_name(name)?;
        let img = self.get_image(image)?;
        let id = img.id;
        let mut conn = self.conn();
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)
            .map_err(self.db_err(format!("image {id}: starting transaction")))?;
        let err = |what: &str| self.db_err(format!("image {id}: {what}"));
        let (sql, n) = match &normalized {
            Name::Tag(t) => ("DELETE FROM names WHERE name = ?1 AND image_id = ?2", t),
            Name::Digest(d) => (
                "DELETE FROM digests WHERE reference = ?1 AND image_id = ?2",
                d,
            ),
        };
        let deleted = tx.execute(sql, params![n, id]).map_err(err("untagging"))?;
        if deleted == 0 {
            return Err(StoreError::TagNotKnown {
                image: id,
                name: n.clone(),
            });
        }
        let image = load_image(&tx, &id)
            .map_err(err("reading back"))?
            .ok_or_else(|| StoreError::ImageNotFound(image.to_string()))?;
        tx.commit().map_err(err("committing"))?;
        Ok(image)
    }

    /// Removes the image that `image` names (all its names with it: the
    /// caller decides, as `podman rmi` does, whether a name only untags),
    /// then deletes its layers and blobs that no other image uses.
    pub fn remove_image(&self, image: &str) -> StoreResult<RemovedImage> {
        let img = self.get_image(image)?;
        let id = img.id.clone();
        {
            let mut conn = self.conn();
            let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)
                .map_err(self.db_err(format!("image {id}: starting transaction")))?;
            let err = |what: &str| self.db_err(format!("image {id}: {what}"));
            for sql in [
                "DELETE FROM names WHERE image_id = ?1",
                "DELETE FROM digests WHERE image_id = ?1",
                "DELETE FROM image_layers WHERE image_id = ?1",
                "DELETE FROM image_blobs WHERE image_id = ?1",
                "DELETE FROM images WHERE id = ?1",
            ] {
                tx.execute(sql, params![id]).map_err(err("removing"))?;
            }
            tx.commit().map_err(err("committing removal"))?;
        }
        let mut removed = RemovedImage {
            id: id.clone(),
            names: img.names.clone(),
            ..Default::default()
        };
        // Exclusive: no put_image is between checking its files and
        // committing its record, so "unreferenced" stays true while deleting.
        let _lock = self.flock(true)?;
        for layer in img.layers.iter().rev() {
            if !self.is_referenced("image_layers", "chain_id", layer)?
                && self.layers.remove_layer(layer)?
            {
                removed.layers.push(layer.clone());
            }
        }
        for blob in &img.blobs {
            if !self.is_referenced("image_blobs", "digest", blob)?
                && self.blobs.remove_blob(blob)?
            {
                removed.blobs.push(blob.clone());
            }
        }
        Ok(removed)
    }

    /// Deletes every layer and blob no image record refers to: what a
    /// failed or interrupted pull left behind (`podman image prune`'s storage
    /// side). Pulls in progress must hold [`Store::write_lock`], which this
    /// waits for. Returns the removed layer chain IDs and blob digests.
    pub fn remove_unreferenced(&self) -> StoreResult<RemovedImage> {
        let _lock = self.flock(true)?;
        let mut removed = RemovedImage::default();
        let layers_dir = self.layers.root().join("layers");
        let mut layers = Vec::new();
        for entry in
            fs::read_dir(&layers_dir).map_err(super::error::io_err("reading", &layers_dir))?
        {
            let entry = entry.map_err(super::error::io_err("reading", &layers_dir))?;
            let chain = format!("sha256:{}", entry.file_name().to_string_lossy());
            if parse_digest(&chain).is_ok() && self.layers.has_layer(&chain) {
                layers.push(chain);
            }
        }
        for layer in layers {
            if !self.is_referenced("image_layers", "chain_id", &layer)?
                && self.layers.remove_layer(&layer)?
            {
                removed.layers.push(layer);
            }
        }
        for blob in self.blobs.list_blobs()? {
            if !self.is_referenced("image_blobs", "digest", &blob)?
                && self.blobs.remove_blob(&blob)?
            {
                removed.blobs.push(blob);
            }
        }
        removed.layers.sort();
        Ok(removed)
    }

    fn is_referenced(&self, table: &str, column: &str, value: &str) -> StoreResult<bool> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)"),
            params![value],
            |r| r.get(0),
        )
        .map_err(self.db_err(format!("counting references to {value}")))
    }

    /// The size in bytes recorded for the image (layer contents plus
    /// manifest and config, unless the record gave one).
    pub fn image_size(&self, image: &str) -> StoreResult<u64> {
        Ok(self.get_image(image)?.size)
    }
}

fn upsert_name(tx: &Transaction<'_>, name: &str, id: &str) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO names (name, image_id) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id",
        params![name, id],
    )
}

/// Points `reference` at image `id`; `named`: given as a name (kept once
/// set while the reference stays with the same image).
fn upsert_digest(
    tx: &Transaction<'_>,
    reference: &str,
    id: &str,
    named: bool,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO digests (reference, image_id, named) VALUES (?1, ?2, ?3)
         ON CONFLICT (reference) DO UPDATE SET
             named = CASE WHEN digests.image_id = excluded.image_id
                          THEN MAX(digests.named, excluded.named)
                          ELSE excluded.named END,
             image_id = excluded.image_id",
        params![reference, id, named],
    )
}

fn load_image(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Option<Image>> {
    let row = tx
        .query_row(
            "SELECT id, digest, manifest_media_type, config, created, size, top_layer, layers, added
             FROM images WHERE id = ?1",
            params![id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, i64>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((id, digest, manifest_media_type, config, created, size, top_layer, added)) = row
    else {
        return Ok(None);
    };
    let strings = |sql: &str| -> rusqlite::Result<Vec<String>> {
        let mut stmt = tx.prepare_cached(sql)?;
        let rows = stmt.query_map(params![id], |r| r.get(0))?;
        rows.collect()
    };
    // The image_layers rows are the normalised copy of the `layers` JSON.
    let layers =
        strings("SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY position")?;
    let blobs = strings("SELECT digest FROM image_blobs WHERE image_id = ?1 ORDER BY digest")?;
    let names = strings("SELECT name FROM names WHERE image_id = ?1 ORDER BY rowid")?;
    let digests = strings("SELECT reference FROM digests WHERE image_id = ?1 ORDER BY reference")?;
    let digest_names = strings(
        "SELECT reference FROM digests WHERE image_id = ?1 AND named != 0 ORDER BY reference",
    )?;
    Ok(Some(Image {
        id,
        digest,
        manifest_media_type,
        config,
        created,
        size: size.max(0) as u64,
        top_layer,
        layers,
        blobs,
        names,
        digests,
        digest_names,
        added,
    }))
}

enum LookupError {
    Db(rusqlite::Error),
    NotFound,
    Ambiguous(Vec<String>),
}

impl From<rusqlite::Error> for LookupError {
    fn from(e: rusqlite::Error) -> Self {
        LookupError::Db(e)
    }
}

fn id_exists(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<bool> {
    tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM images WHERE id = ?1)",
        params![id],
        |r| r.get(0),
    )
}

fn id_by(tx: &Transaction<'_>, sql: &str, key: &str) -> rusqlite::Result<Option<String>> {
    tx.query_row(sql, params![key], |r| r.get(0)).optional()
}

fn id_by_name(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<String>> {
    id_by(tx, "SELECT image_id FROM names WHERE name = ?1", name)
}

fn id_by_digest_ref(tx: &Transaction<'_>, reference: &str) -> rusqlite::Result<Option<String>> {
    id_by(
        tx,
        "SELECT image_id FROM digests WHERE reference = ?1",
        reference,
    )
}

fn id_by_prefix(tx: &Transaction<'_>, prefix: &str) -> Result<Option<String>, LookupError> {
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM images WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id LIMIT 11",
    )?;
    let ids: Vec<String> = stmt
        .query_map(params![prefix], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match ids.len() {
        0 => Ok(None),
        1 => Ok(ids.into_iter().next()),
        _ => Err(LookupError::Ambiguous(ids)),
    }
}

/// A reference's lookup keys: its name (with `latest` if untagged) or its
/// `name@digest`.
fn candidate_id(tx: &Transaction<'_>, r: &Reference) -> rusqlite::Result<Option<String>> {
    match &r.digest {
        Some(d) => id_by_digest_ref(tx, &format!("{}@{d}", r.name())),
        None => id_by_name(tx, &r.clone().with_default_tag().to_string()),
    }
}

fn resolve(tx: &Transaction<'_>, name: &str, search: &[String]) -> Result<String, LookupError> {
    if name.is_empty() {
        return Err(LookupError::NotFound);
    }
    // 1. IDs.
    if let Some(hex) = name.strip_prefix("sha256:") {
        if !is_hex(hex) {
            return Err(LookupError::NotFound);
        }
        if hex.len() == 64 {
            return if id_exists(tx, hex)? {
                Ok(hex.to_string())
            } else {
                Err(LookupError::NotFound)
            };
        }
        return id_by_prefix(tx, hex)?.ok_or(LookupError::NotFound);
    }
    if name.len() == 64 && is_hex(name) {
        return if id_exists(tx, name)? {
            Ok(name.to_string())
        } else {
            Err(LookupError::NotFound)
        };
    }
    // 2. Exact stored names.
    if let Some(id) = id_by_name(tx, name)? {
        return Ok(id);
    }
    if let Some(id) = id_by_digest_ref(tx, name)? {
        return Ok(id);
    }
    // 3. Normalised candidates.
    let parsed = Reference::parse(name).ok();
    if let Some(r) = &parsed {
        let candidates: Vec<Reference> = if r.is_short_name() {
            let mut c = vec![r.with_registry("localhost")];
            c.extend(search.iter().map(|reg| r.with_registry(reg)));
            c.push(r.with_registry("docker.io"));
            c
        } else {
            vec![r.clone()]
        };
        for c in &candidates {
            if let Some(id) = candidate_id(tx, c)? {
                return Ok(id);
            }
        }
    }
    // 4. Short IDs (after names, as Podman does).
    if is_hex(name) {
        if let Some(id) = id_by_prefix(tx, name)? {
            return Ok(id);
        }
    }
    // 5. Repository suffix match of a short name.
    if let Some(r) = parsed.filter(Reference::is_short_name) {
        let suffix = format!("/{}", r.repository);
        let mut ids = BTreeSet::new();
        let (table, column, want) = match &r.digest {
            Some(d) => ("digests", "reference", d.clone()),
            None => (
                "names",
                "name",
                r.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        };
        let mut stmt = tx.prepare(&format!("SELECT {column}, image_id FROM {table}"))?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (stored, id) = row?;
            let Ok(s) = Reference::parse(&stored) else {
                continue;
            };
            let matches = if r.digest.is_some() {
                s.digest.as_deref() == Some(want.as_str())
            } else {
                s.tag.as_deref() == Some(want.as_str())
            };
            if matches && s.name().ends_with(&suffix) {
                ids.insert(id);
            }
        }
        return match ids.len() {
            0 => Err(LookupError::NotFound),
            1 => ids.into_iter().next().ok_or(LookupError::NotFound),
            _ => Err(LookupError::Ambiguous(ids.into_iter().collect())),
        };
    }
    Err(LookupError::NotFound)
}
