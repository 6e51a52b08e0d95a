//! Store-wide settings (the storage driver recorded on first open) and the
//! link to containers (`containers_using`).

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::error::{StoreError, StoreResult};
use super::Store;

impl Store {
    /// Records `driver` as the store's storage driver if none is recorded
    /// yet; fails with [`StoreError::DriverMismatch`] (Podman's "database
    /// configuration mismatch") when another one is. Returns the driver.
    pub fn ensure_driver(&self, driver: &str) -> StoreResult<String> {
        // Recorded already (every open but the first): a plain read, so
        // opening the store never waits for a writer.
        if let Some(db) = self.driver()? {
            if db != driver {
                return Err(StoreError::DriverMismatch {
                    db,
                    ours: driver.to_string(),
                });
            }
            return Ok(db);
        }
        let mut conn = self.conn();
        let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)
            .map_err(self.db_err("recording the storage driver: starting transaction"))?;
        let err = |what: &'static str| self.db_err(what);
        let recorded: Option<String> = tx
            .query_row(
                "SELECT value FROM store_config WHERE key = 'driver'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("reading the storage driver"))?;
        match recorded {
            Some(db) if db != driver => Err(StoreError::DriverMismatch {
                db,
                ours: driver.to_string(),
            }),
            Some(db) => Ok(db),
            None => {
                tx.execute(
                    "INSERT INTO store_config (key, value) VALUES ('driver', ?1)",
                    params![driver],
                )
                .map_err(err("recording the storage driver"))?;
                tx.commit().map_err(err("recording the storage driver"))?;
                Ok(driver.to_string())
            }
        }
    }

    /// The storage driver recorded in the database, if any.
    pub fn driver(&self) -> StoreResult<Option<String>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT value FROM store_config WHERE key = 'driver'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.db_err("reading the storage driver"))
    }

    /// A store-wide setting recorded with [`Store::set_setting`].
    pub fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT value FROM store_config WHERE key = ?1",
            params![key],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.db_err("reading a store setting"))
    }

    /// Records a store-wide setting (the overlay mount program a rootless
    /// store's probe chose, say).
    pub fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO store_config (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )
        .map(|_| ())
        .map_err(self.db_err("recording a store setting"))
    }

    /// IDs of the containers whose image is `image_id` (64 hex), sorted.
    ///
    /// The `containers` table (at least `id TEXT PRIMARY KEY, image_id
    /// TEXT`) belongs to the containers issue, which owns its schema and
    /// creates it in its own migration; until it exists, no image is used
    /// by a container and this returns an empty list. `podman image prune
    /// -a`, the `containers` filter and `ImageSummary.Containers` all come
    /// through here.
    pub fn containers_using(&self, image_id: &str) -> StoreResult<Vec<String>> {
        let conn = self.conn();
        let err = |what: &'static str| self.db_err(what);
        let mut stmt = conn
            .prepare_cached("SELECT id FROM containers WHERE image_id = ?1 ORDER BY id")
            .map_err(err("listing the containers of an image"))?;
        let rows = stmt
            .query_map(params![image_id], |r| r.get(0))
            .map_err(err("listing the containers of an image"))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(err("listing the containers of an image"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_is_recorded_once_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.driver().unwrap(), None);
        assert_eq!(store.ensure_driver("vfs").unwrap(), "vfs");
        drop(store);
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.driver().unwrap().as_deref(), Some("vfs"));
        assert_eq!(store.ensure_driver("vfs").unwrap(), "vfs");
        let e = store.ensure_driver("overlay").unwrap_err();
        assert_eq!(
            e.to_string(),
            "database storage graph driver \"vfs\" does not match our storage graph driver \"overlay\": database configuration mismatch"
        );
        assert_eq!(store.driver().unwrap().as_deref(), Some("vfs"));
    }

    #[test]
    fn containers_using_lists_the_containers_of_an_image() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let id = "ab".repeat(32);
        assert!(store.containers_using(&id).unwrap().is_empty());
        for (cid, image) in [("c2", &id), ("c1", &id), ("c3", &"ef".repeat(32))] {
            store
                .add_container(&crate::store::ContainerRecord {
                    id: cid.repeat(32),
                    name: cid.to_string(),
                    image_id: Some(image.clone()),
                    config: "{}".into(),
                    created: 1,
                    state: Default::default(),
                })
                .unwrap();
        }
        assert_eq!(
            store.containers_using(&id).unwrap(),
            vec!["c1".repeat(32), "c2".repeat(32)]
        );
        assert!(store.containers_using(&"cd".repeat(32)).unwrap().is_empty());
    }
}
