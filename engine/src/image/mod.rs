//! Images: references (`reference`) and registries.conf handling (`registries`).
//!
//! Behaviour follows Podman 4.x / containers-image: see README.md.

pub mod archive;
pub mod filter;
pub mod import;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registries;
pub mod registry;

pub use reference::{Reference, ReferenceError};
pub use registries::{
    Endpoint, Mirror, PullFromMirror, PullSource, RegistriesConf, RegistriesError, RegistryConfig,
    Resolution, ShortNameMode,
};

/// The config's `rootfs.diff_ids`.
pub(crate) fn diff_ids(config: &serde_json::Value) -> Vec<String> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
