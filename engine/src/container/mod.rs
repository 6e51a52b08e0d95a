//! Containers: configuration, OCI spec generation, state records, lifecycle
//! and the per-container monitor (Podman's libpod containers + conmon).

pub mod config;
pub mod files;
pub mod spec;

pub use config::{
    ContainerConfig, ContainerPaths, ImageRuntimeConfig, LogConfig, Mount, NetworkMode, Resources,
    RestartPolicy, RootfsSource, SecurityConfig, Ulimit,
};
pub use files::{write_container_files, ExecUser, FilesError};
pub use spec::{generate, HostInfo, SpecError};
