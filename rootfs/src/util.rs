//! Small filesystem helpers shared by the modules.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `mkdir -p` with `mode` for the directories it creates.
pub(crate) fn create_dir(path: &Path, mode: u32) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| Error::io("creating directory", path, e))
}

/// The absolute, symlink-free path `path` will have once created: its
/// nearest existing ancestor resolved, plus the rest as given.
pub(crate) fn resolve_planned(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| Error::io("getting cwd for", path, e))?
            .join(path)
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(resolved) = std::fs::canonicalize(cur) {
            return Ok(rest.iter().rev().fold(resolved, |acc, c| acc.join(c)));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return Ok(abs),
        }
    }
}
