//! `runtime spec`: the default config.json, as `runc spec` writes it.

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::{Result, RuntimeError};

/// The default spec: `sh` in a terminal, default capabilities, namespaces and
/// mounts. With `rootless`, adds a user namespace mapping the caller's uid/gid
/// to root and drops what a normal user cannot set up.
pub fn default_spec(rootless: bool) -> Spec {
    if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    }
}

/// Writes `bundle/config.json`, refusing to overwrite an existing one.
pub fn write_default(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(RuntimeError::Bundle {
            path: bundle.to_path_buf(),
            msg: "config.json exists; remove it first".into(),
        });
    }
    let json = serde_json::to_string_pretty(&default_spec(rootless))
        .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
    std::fs::write(&path, json + "\n").map_err(|e| RuntimeError::io("write", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_passes_our_own_validation() {
        for rootless in [false, true] {
            let v = serde_json::to_value(default_spec(rootless)).unwrap();
            crate::validate::check_value(&v).unwrap();
        }
    }
}
