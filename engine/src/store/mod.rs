//! The local image store.
//!
//! ```text
//! <root>/db.sqlite            images, names, repo@digest references (WAL)
//! <root>/blobs/sha256/<hex>   manifests, configs, compressed layers as pulled
//! <root>/layers/<hex>/diff    extracted layers (rootfs::layers::LayerStore)
//! <root>/locks/               per-layer flocks, and store-gc.lock
//! ```
//!
//! SQLite: rusqlite's `bundled` SQLite (compiled into the binary) rather
//! than Debian's libsqlite3: current rusqlite (0.41) calls SQLite 3.44 APIs
//! (`sqlite3_set_clientdata`) and Debian 12 ships 3.40.1, so linking the
//! system library fails (tried) or would pin an old rusqlite; bundling also
//! gives every host the same, tested SQLite (WAL, `user_version`, upserts),
//! as Podman's go-sqlite3 does with its embedded amalgamation. The cost is a
//! one-time C compile and shipping SQLite fixes with our releases.
//!
//! Consistency:
//! * every operation is one short SQLite transaction; writes use
//!   `BEGIN IMMEDIATE` (no lock-upgrade deadlocks) and `INSERT OR IGNORE` /
//!   upserts, so two processes storing the same image both succeed and
//!   leave one record; readers never wait for the writer (WAL).
//! * blob and layer writes go to a temp path and are renamed into place,
//!   so they are atomic and idempotent.
//! * files of a removed image are deleted only when no image record refers
//!   to them any more, under an exclusive flock on `locks/store-gc.lock`.
//!   [`Store::put_image`] checks its blobs and layers and writes the record
//!   under the shared lock, and a pull should hold [`Store::write_lock`]
//!   from its first blob to `put_image`, so a concurrent removal never
//!   deletes a file a new record is about to use.

mod blobs;
mod containers;
mod db;
mod error;
mod images;
mod meta;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use podman_rs_rootfs::layers::LayerStore;
use rusqlite::Connection;

pub use blobs::{parse_digest, BlobStore};
pub use containers::{ContainerRecord, ContainerState, ContainerStatus};
pub use error::{StoreError, StoreResult};
pub use images::{Image, ImageRecord, RemovedImage};

use error::io_err;

/// The default storage root of rootful podman-rs.
pub const DEFAULT_ROOT: &str = "/var/lib/podman-rs";

/// The local image store under one storage root.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    db_path: PathBuf,
    conn: Mutex<Connection>,
    blobs: BlobStore,
    layers: LayerStore,
}

/// A held flock on `locks/store-gc.lock` (released on drop).
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// Opens the store under `root` (created if absent), migrating its
    /// database to the current schema.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Store> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(io_err("creating", &root))?;
        let blobs = BlobStore::new(&root)?;
        let layers = LayerStore::new(&root)?;
        let db_path = root.join("db.sqlite");
        let conn = db::open(&db_path)?;
        Ok(Store {
            root,
            db_path,
            conn: Mutex::new(conn),
            blobs,
            layers,
        })
    }

    /// Opens the store under [`DEFAULT_ROOT`].
    pub fn open_default() -> StoreResult<Store> {
        Store::open(DEFAULT_ROOT)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// The content-addressed blobs.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The extracted layers.
    pub fn layers(&self) -> &LayerStore {
        &self.layers
    }

    /// Shorthand for [`BlobStore::put_blob`].
    pub fn put_blob<R: std::io::Read>(
        &self,
        expected_digest: &str,
        reader: R,
    ) -> StoreResult<PathBuf> {
        self.blobs.put_blob(expected_digest, reader)
    }

    /// Shorthand for [`BlobStore::has_blob`].
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blobs.has_blob(digest)
    }

    /// Shorthand for [`BlobStore::open_blob`].
    pub fn open_blob(&self, digest: &str) -> StoreResult<File> {
        self.blobs.open_blob(digest)
    }

    /// Shorthand for [`BlobStore::remove_blob`]. Removes the file even if
    /// an image uses it; [`Store::remove_image`] is the reference-counted way.
    pub fn remove_blob(&self, digest: &str) -> StoreResult<bool> {
        self.blobs.remove_blob(digest)
    }

    /// Removes what crashed writers left: blob temp files of dead
    /// processes and layer temp/removal dirs (see
    /// `LayerStore::cleanup_incomplete`). Returns how many were removed.
    pub fn cleanup_incomplete(&self) -> StoreResult<usize> {
        Ok(self.blobs.cleanup_incomplete()? + self.layers.cleanup_incomplete()?)
    }

    /// The shared store lock: hold it while writing blobs and layers for a
    /// record until [`Store::put_image`] returns, so that no concurrent
    /// removal deletes them as unreferenced in between. Do not call
    /// [`Store::remove_image`] while holding it (the removal waits for the
    /// exclusive lock).
    pub fn write_lock(&self) -> StoreResult<StoreLock> {
        self.flock(false)
    }

    fn flock(&self, exclusive: bool) -> StoreResult<StoreLock> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let path = dir.join("store-gc.lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("opening lock", &path))?;
        let op = if exclusive {
            rustix::fs::FlockOperation::LockExclusive
        } else {
            rustix::fs::FlockOperation::LockShared
        };
        rustix::fs::flock(&file, op).map_err(|e| io_err("locking", &path)(e.into()))?;
        Ok(StoreLock { _file: file })
    }

    /// The connection (a poisoned mutex is still usable: every operation is
    /// a transaction, rolled back if it did not commit).
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn db_err(&self, context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
        let path = self.db_path.clone();
        let context = context.into();
        move |source| StoreError::Db {
            path,
            context,
            source,
        }
    }
}
