//! Container records: the `containers` table of `db.sqlite`.
//!
//! One row per container: its persisted configuration (JSON, see
//! [`crate::container::ContainerConfig`]) and its state as the lifecycle and
//! the monitor record it. Every change is one short transaction; readers
//! (`ps`, `inspect`) never wait for a writer (WAL).

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use serde::{Deserialize, Serialize};

use super::error::{StoreError, StoreResult};
use super::Store;

/// A container's lifecycle state, as Podman names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Recorded, storage prepared; never run (or run and cleaned up before a restart).
    Created,
    /// The monitor is setting it up (rootfs, bundle, runtime create).
    Initialized,
    Running,
    Paused,
    /// `stop` sent the stop signal and waits.
    Stopping,
    /// The process exited; its exit code is recorded.
    Exited,
    /// `rm` is removing it.
    Removing,
}

impl ContainerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Initialized => "initialized",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Stopping => "stopping",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Removing => "removing",
        }
    }

    fn parse(s: &str) -> Option<ContainerStatus> {
        Some(match s {
            "created" => ContainerStatus::Created,
            "initialized" => ContainerStatus::Initialized,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "stopping" => ContainerStatus::Stopping,
            "exited" => ContainerStatus::Exited,
            "removing" => ContainerStatus::Removing,
            _ => return None,
        })
    }

    /// Whether a process of the container may be alive.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            ContainerStatus::Initialized
                | ContainerStatus::Running
                | ContainerStatus::Paused
                | ContainerStatus::Stopping
        )
    }
}

/// The mutable state of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub status: ContainerStatus,
    /// The container's init process (host pid), 0 when none.
    pub pid: i32,
    /// The monitor process, 0 when none.
    pub monitor_pid: i32,
    /// The monitor's start time (clock ticks after boot, /proc/PID/stat
    /// field 22), so a recycled pid is not mistaken for it.
    pub monitor_start: u64,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    /// Unix nanoseconds; 0 = never.
    pub started_at: i64,
    pub finished_at: i64,
    pub restart_count: u32,
    /// The last error of a start that failed (Podman's State.Error).
    pub error: String,
    /// Whether the root filesystem is mounted (so cleanup knows to unmount).
    pub mounted: bool,
    /// `stop` was asked for: the restart policy (unless-stopped/always) must not restart.
    pub stopped_by_user: bool,
}

impl Default for ContainerState {
    fn default() -> Self {
        ContainerState {
            status: ContainerStatus::Created,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            exit_code: None,
            oom_killed: false,
            started_at: 0,
            finished_at: 0,
            restart_count: 0,
            error: String::new(),
            mounted: false,
            stopped_by_user: false,
        }
    }
}

/// One row of the `containers` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    /// The image the rootfs comes from (`None` for `--rootfs`).
    pub image_id: Option<String>,
    /// The [`crate::container::ContainerConfig`] as JSON.
    pub config: String,
    /// Unix nanoseconds.
    pub created: i64,
    pub state: ContainerState,
}

const COLUMNS: &str = "id, name, image_id, config, created, status, pid, monitor_pid, \
     monitor_start, exit_code, oom_killed, started_at, finished_at, restart_count, error, \
     mounted, stopped_by_user";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ContainerRecord> {
    let status: String = row.get(5)?;
    let status = ContainerStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            rusqlite::types::Type::Text,
            format!("unknown container status {status:?}").into(),
        )
    })?;
    Ok(ContainerRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        image_id: row.get(2)?,
        config: row.get(3)?,
        created: row.get(4)?,
        state: ContainerState {
            status,
            pid: row.get(6)?,
            monitor_pid: row.get(7)?,
            monitor_start: row.get::<_, i64>(8)? as u64,
            exit_code: row.get(9)?,
            oom_killed: row.get(10)?,
            started_at: row.get(11)?,
            finished_at: row.get(12)?,
            restart_count: row.get::<_, i64>(13)? as u32,
            error: row.get(14)?,
            mounted: row.get(15)?,
            stopped_by_user: row.get(16)?,
        },
    })
}

impl Store {
    /// Records a new container. Fails with [`StoreError::NameInUse`] when
    /// the name is taken (by a container, or later a pod).
    pub fn add_container(&self, rec: &ContainerRecord) -> StoreResult<()> {
        self.add_container_as(rec, true)
    }

    /// [`Store::add_container`]; `durable: false` commits without a WAL
    /// fsync (see `runtime_durability`), for a record that lives only as
    /// long as its container runs (`run --rm`): a host crash ends it anyway.
    pub fn add_container_as(&self, rec: &ContainerRecord, durable: bool) -> StoreResult<()> {
        let mut conn = self.conn();
        if durable {
            return self.insert_container(&mut conn, rec);
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.db_err("setting synchronous"))?;
        let result = self.insert_container(&mut conn, rec);
        let restored = conn.pragma_update(None, "synchronous", "FULL");
        result?;
        restored.map_err(self.db_err("setting synchronous"))
    }

    fn insert_container(
        &self,
        conn: &mut rusqlite::Connection,
        rec: &ContainerRecord,
    ) -> StoreResult<()> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.db_err("starting container insert"))?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [&rec.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err("checking container name"))?;
        if let Some(id) = taken {
            return Err(StoreError::NameInUse {
                name: rec.name.clone(),
                id,
            });
        }
        let s = &rec.state;
        tx.execute(
            &format!(
                "INSERT INTO containers ({COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ),
            params![
                rec.id,
                rec.name,
                rec.image_id,
                rec.config,
                rec.created,
                s.status.as_str(),
                s.pid,
                s.monitor_pid,
                s.monitor_start as i64,
                s.exit_code,
                s.oom_killed,
                s.started_at,
                s.finished_at,
                s.restart_count,
                s.error,
                s.mounted,
                s.stopped_by_user,
            ],
        )
        .map_err(self.db_err(format!("recording container {}", rec.id)))?;
        tx.commit()
            .map_err(self.db_err("committing container insert"))
    }

    /// All containers, oldest first.
    pub fn containers(&self) -> StoreResult<Vec<ContainerRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM containers ORDER BY created, id"
            ))
            .map_err(self.db_err("listing containers"))?;
        let rows = stmt
            .query_map([], from_row)
            .map_err(self.db_err("listing containers"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.db_err("reading containers"))
    }

    /// The container with this exact id.
    pub fn container(&self, id: &str) -> StoreResult<Option<ContainerRecord>> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
            [id],
            from_row,
        )
        .optional()
        .map_err(self.db_err(format!("reading container {id}")))
    }

    /// Finds a container by full id, name, or unique id prefix, as Podman
    /// looks them up (an exact name wins over an id prefix).
    pub fn lookup_container(&self, name_or_id: &str) -> StoreResult<ContainerRecord> {
        let not_found = || StoreError::ContainerNotFound(name_or_id.to_string());
        if name_or_id.is_empty() {
            return Err(not_found());
        }
        let conn = self.conn();
        let by = |sql: &str| -> StoreResult<Vec<ContainerRecord>> {
            let mut stmt = conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM containers WHERE {sql}"))
                .map_err(self.db_err("looking up container"))?;
            let rows = stmt
                .query_map([name_or_id], from_row)
                .map_err(self.db_err("looking up container"))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.db_err("reading container"))
        };
        if let Some(rec) = by("id = ?1")?.pop() {
            return Ok(rec);
        }
        if let Some(rec) = by("name = ?1")?.pop() {
            return Ok(rec);
        }
        let is_hex = name_or_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_hex {
            return Err(not_found());
        }
        // `substr` rather than LIKE: no wildcard characters to escape.
        let mut matches = by("substr(id, 1, length(?1)) = ?1")?;
        match matches.len() {
            0 => Err(not_found()),
            1 => Ok(matches.remove(0)),
            _ => Err(StoreError::AmbiguousContainer {
                name: name_or_id.to_string(),
                count: matches.len(),
            }),
        }
    }

    /// Replaces the state of container `id`; fails if it no longer exists.
    pub fn set_container_state(&self, id: &str, s: &ContainerState) -> StoreResult<()> {
        self.update_container_state(id, |st| *st = s.clone())
    }

    /// Changes the state of container `id` with `f` in one write
    /// transaction, so concurrent changes (a `stop` marking the container
    /// stopped by the user, the monitor recording its exit) never undo each
    /// other. Fails if the container no longer exists.
    pub fn update_container_state(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerState),
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        // The pragma cannot change inside a transaction: set it around it.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(self.db_err("setting synchronous"))?;
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rec = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1"),
                    [id],
                    from_row,
                )
                .optional()?;
            let Some(mut rec) = rec else {
                return Ok(false);
            };
            f(&mut rec.state);
            write_state(&tx, id, &rec.state)?;
            tx.commit()?;
            Ok(true)
        })();
        let restored = conn.pragma_update(None, "synchronous", "FULL");
        let found = result.map_err(self.db_err(format!("updating container {id}")))?;
        restored.map_err(self.db_err("setting synchronous"))?;
        if !found {
            return Err(StoreError::ContainerNotFound(id.to_string()));
        }
        Ok(())
    }

    /// Renames container `id`.
    pub fn rename_container(&self, id: &str, new_name: &str) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.db_err("starting rename"))?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [new_name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db_err("checking container name"))?;
        if let Some(other) = taken {
            return Err(StoreError::NameInUse {
                name: new_name.to_string(),
                id: other,
            });
        }
        let config: Option<String> = tx
            .query_row("SELECT config FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db_err("reading container config"))?;
        let Some(config) = config else {
            return Err(StoreError::ContainerNotFound(id.to_string()));
        };
        // The name is also in the persisted config: keep both in step.
        let config = match serde_json::from_str::<serde_json::Value>(&config) {
            Ok(mut v) => {
                v["name"] = serde_json::Value::String(new_name.to_string());
                v.to_string()
            }
            Err(_) => config,
        };
        tx.execute(
            "UPDATE containers SET name = ?2, config = ?3 WHERE id = ?1",
            params![id, new_name, config],
        )
        .map_err(self.db_err(format!("renaming container {id}")))?;
        tx.commit().map_err(self.db_err("committing rename"))
    }

    /// Deletes the record of container `id` (and its exec sessions).
    /// Returns whether it existed.
    pub fn remove_container_record(&self, id: &str) -> StoreResult<bool> {
        let conn = self.conn();
        let n = runtime_durability(&conn, |conn| {
            conn.execute("DELETE FROM containers WHERE id = ?1", [id])
        })
        .map_err(self.db_err(format!("removing container {id}")))?;
        Ok(n > 0)
    }

    /// How many containers use each image (image id → container ids).
    pub fn containers_by_image(&self) -> StoreResult<BTreeMap<String, Vec<String>>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT image_id, id FROM containers WHERE image_id IS NOT NULL")
            .map_err(self.db_err("listing container images"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.db_err("listing container images"))?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in rows {
            let (image, id) = row.map_err(self.db_err("reading container images"))?;
            out.entry(image).or_default().push(id);
        }
        Ok(out)
    }
}

/// Writes every state column of container `id`; the number of rows changed.
fn write_state(
    conn: &rusqlite::Connection,
    id: &str,
    s: &ContainerState,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE containers SET status = ?2, pid = ?3, monitor_pid = ?4, monitor_start = ?5, \
         exit_code = ?6, oom_killed = ?7, started_at = ?8, finished_at = ?9, \
         restart_count = ?10, error = ?11, mounted = ?12, stopped_by_user = ?13 \
         WHERE id = ?1",
        params![
            id,
            s.status.as_str(),
            s.pid,
            s.monitor_pid,
            s.monitor_start as i64,
            s.exit_code,
            s.oom_killed,
            s.started_at,
            s.finished_at,
            s.restart_count,
            s.error,
            s.mounted,
            s.stopped_by_user,
        ],
    )
}

/// Runs `f` with `synchronous=NORMAL`: in WAL mode the commit is not fsync'd
/// (the next FULL commit or checkpoint makes it durable). For the run-time
/// state of containers (status, pids, exit) and record removal: a host crash
/// stops every container anyway, so losing the last such change is harmless,
/// and the database itself stays consistent either way. Each start and exit
/// paid a WAL fsync (~1.3 ms here) per change; records a user creates or
/// renames keep FULL.
fn runtime_durability<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let result = f(conn);
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    let value = result?;
    restored?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.to_string(),
            name: name.to_string(),
            image_id: Some("ab".repeat(32)),
            config: "{}".into(),
            created: 1,
            state: ContainerState::default(),
        }
    }

    #[test]
    fn add_lookup_rename_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = "a1".repeat(32);
        let b = "a2".repeat(32);
        store.add_container(&rec(&a, "one")).unwrap();
        store.add_container(&rec(&b, "two")).unwrap();
        // Name taken.
        let err = store
            .add_container(&rec(&"c3".repeat(32), "one"))
            .unwrap_err();
        assert!(matches!(err, StoreError::NameInUse { .. }), "{err}");
        assert_eq!(store.lookup_container("one").unwrap().id, a);
        assert_eq!(store.lookup_container(&b).unwrap().name, "two");
        assert_eq!(store.lookup_container("a2a2").unwrap().id, b);
        // "a" prefixes both.
        let err = store.lookup_container("a").unwrap_err();
        assert!(
            matches!(err, StoreError::AmbiguousContainer { .. }),
            "{err}"
        );
        assert!(matches!(
            store.lookup_container("nope").unwrap_err(),
            StoreError::ContainerNotFound(_)
        ));
        store.rename_container(&a, "uno").unwrap();
        assert!(store.lookup_container("one").is_err());
        assert_eq!(store.lookup_container("uno").unwrap().id, a);
        assert!(store.rename_container(&a, "two").is_err());
        let mut st = ContainerState {
            status: ContainerStatus::Exited,
            exit_code: Some(3),
            ..Default::default()
        };
        st.pid = 42;
        store.set_container_state(&a, &st).unwrap();
        assert_eq!(store.container(&a).unwrap().unwrap().state, st);
        assert_eq!(
            store.containers_by_image().unwrap()[&"ab".repeat(32)].len(),
            2
        );
        assert!(store.remove_container_record(&a).unwrap());
        assert!(!store.remove_container_record(&a).unwrap());
        assert_eq!(store.containers().unwrap().len(), 1);
    }
}
