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
