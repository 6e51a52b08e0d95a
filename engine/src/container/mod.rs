//! Containers: configuration, OCI spec generation, state records, lifecycle
//! and the per-container monitor (Podman's libpod containers + conmon).

pub mod config;
pub mod logs;

pub use config::{
    ContainerConfig, ContainerPaths, ImageRuntimeConfig, LogConfig, Mount, NetworkMode, Resources,
    RestartPolicy, RootfsSource, SecurityConfig, Ulimit,
};
