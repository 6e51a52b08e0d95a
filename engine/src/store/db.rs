//! The SQLite database `db.sqlite`: connection settings and schema migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::error::{StoreError, StoreResult};

/// How long a statement waits for another connection's write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Schema migrations; `PRAGMA user_version` is the number applied. Append
/// only: never edit a migration that has shipped.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: images, their names, repo@digest references, and the layers and
    // blobs each image uses (the reference counts of shared layers/blobs).
    r#"
    CREATE TABLE images (
        id                  TEXT PRIMARY KEY,   -- config digest, 64 hex without "sha256:"
        digest              TEXT NOT NULL,      -- manifest digest "sha256:<hex>"
        manifest_media_type TEXT NOT NULL,
        config              TEXT NOT NULL,      -- the config JSON, as in the config blob
        created             TEXT,               -- config "created" (RFC 3339), if any
        size                INTEGER NOT NULL,   -- bytes
        top_layer           TEXT,               -- chain ID of the top layer, NULL if none
        layers              TEXT NOT NULL,      -- JSON array of chain IDs, base first
        added               INTEGER NOT NULL    -- unix seconds when first stored
    );
    CREATE TABLE names (
        name     TEXT PRIMARY KEY,              -- "registry/repo:tag", unique
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX names_image ON names(image_id);
    CREATE TABLE digests (
        reference TEXT PRIMARY KEY,             -- "registry/repo@sha256:<hex>"
        image_id  TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
    );
    CREATE INDEX digests_image ON digests(image_id);
    CREATE TABLE image_layers (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,              -- 0 = base layer
        chain_id TEXT NOT NULL,
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_layers_chain ON image_layers(chain_id);
    CREATE TABLE image_blobs (
        image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        digest   TEXT NOT NULL,                 -- manifest, config, compressed layers
        PRIMARY KEY (image_id, digest)
    );
    CREATE INDEX image_blobs_digest ON image_blobs(digest);
    "#,
    // 2: settings of the store fixed when it was created (the storage
    // driver, as Podman's database records it).
    r#"
    CREATE TABLE store_config (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 3: which repo@digest references were given as names (pull by digest,
    // tag NAME@DIGEST): containers-storage keeps those among an image's
    // names, so such an image is not dangling.
    r#"
    ALTER TABLE digests ADD COLUMN named INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: containers (crate::store::containers) and exec sessions.
    r#"
    CREATE TABLE containers (
        id              TEXT PRIMARY KEY,       -- 64 hex
        name            TEXT NOT NULL UNIQUE,
        image_id        TEXT,                   -- NULL for --rootfs; no FK: rmi checks and explains
        config          TEXT NOT NULL,          -- ContainerConfig JSON
        created         INTEGER NOT NULL,       -- unix ns
        status          TEXT NOT NULL,
        pid             INTEGER NOT NULL DEFAULT 0,
        monitor_pid     INTEGER NOT NULL DEFAULT 0,
        monitor_start   INTEGER NOT NULL DEFAULT 0,
        exit_code       INTEGER,
        oom_killed      INTEGER NOT NULL DEFAULT 0,
        started_at      INTEGER NOT NULL DEFAULT 0,
        finished_at     INTEGER NOT NULL DEFAULT 0,
        restart_count   INTEGER NOT NULL DEFAULT 0,
        error           TEXT NOT NULL DEFAULT '',
        mounted         INTEGER NOT NULL DEFAULT 0,
        stopped_by_user INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX containers_image ON containers(image_id);
    CREATE TABLE exec_sessions (
        id           TEXT PRIMARY KEY,
        container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
        config       TEXT NOT NULL,             -- JSON
        pid          INTEGER NOT NULL DEFAULT 0,
        exit_code    INTEGER,
        status       TEXT NOT NULL
    );
    CREATE INDEX exec_sessions_container ON exec_sessions(container_id);
    "#,
];

/// Opens (creating if needed) the database at `path`: WAL journal (readers
/// never wait for the writer), a busy timeout, foreign keys, and the schema
/// migrated to the latest version.
pub(crate) fn open(path: &Path) -> StoreResult<Connection> {
    let err = |context: &str| {
        let context = context.to_string();
        move |source| StoreError::Db {
            path: path.to_path_buf(),
            context,
            source,
        }
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err("opening"))?;
    conn.busy_handler(Some(wait_for_writer))
        .map_err(err("setting busy handler"))?;
    let mode = enable_wal(&conn).map_err(err("enabling WAL"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(db = %path.display(), mode, "SQLite refused WAL journal mode");
    }
    // FULL: a committed image record survives a power loss (the blobs it
    // names are fsynced before the record is written).
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(err("setting synchronous"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(err("enabling foreign keys"))?;
    // The last connection to close would checkpoint and delete the WAL, and
    // the next command create it again (a checkpoint, a file and a directory
    // fsync per short-lived command). Writers still checkpoint every 1000
    // pages (SQLite's auto-checkpoint), so the WAL stays small.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )
    .map_err(err("keeping the WAL at close"))?;
    // Every command's first open rebuilds the WAL index from the WAL (a read
    // and a checksum per frame, ~1 µs each): a checkpoint every 200 pages
    // (~20 container runs) instead of SQLite's 1000 keeps that short.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)
        .map_err(err("setting wal_autocheckpoint"))?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Pages in the WAL after which a commit checkpoints (see [`open`]).
const WAL_AUTOCHECKPOINT: i64 = 200;

/// Poll interval of [`wait_for_writer`].
const BUSY_POLL: Duration = Duration::from_micros(500);

/// SQLite's busy handler: called with the number of earlier calls while
/// another connection holds the write lock; true = try again. SQLite's own
/// timeout handler sleeps 1, 2, 5, 10 … 100 ms between tries, so under 16
/// concurrent `run`s a writer slept for tens of ms after the lock was free;
/// write transactions here last well under a millisecond, so poll often.
fn wait_for_writer(calls: i32) -> bool {
    let waited = BUSY_POLL * u32::try_from(calls).unwrap_or(u32::MAX);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// Switches to WAL. Two processes opening a new database at once both ask for
/// it, and that pragma does not wait for the busy timeout: retry while busy.
fn enable_wal(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn migrate(conn: &Connection, path: &Path) -> StoreResult<()> {
    let err = |context: &'static str| {
        move |source| StoreError::Db {
            path: path.to_path_buf(),
            context: context.to_string(),
            source,
        }
    };
    let latest = MIGRATIONS.len() as i64;
    // Up to date (every open but the first few): no write transaction, so
    // opening the store never waits for a writer (readers run under WAL).
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err("reading user_version"))?;
    if current == latest {
        return Ok(());
    }
    // IMMEDIATE: two processes opening a fresh store serialize here, and the
    // second sees the first's user_version.
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(err("starting migration"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err("reading user_version"))?;
    if version > latest {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            supported: latest,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql).map_err(|source| StoreError::Db {
            path: path.to_path_buf(),
            context: format!("applying migration {}", i + 1),
            source,
        })?;
    }
    if version < latest {
        tx.pragma_update(None, "user_version", latest)
            .map_err(err("writing user_version"))?;
    }
    tx.commit().map_err(err("committing migration"))
}
