//! Containers: configuration, OCI spec generation, state records, lifecycle
//! and the per-container monitor (Podman's libpod containers + conmon).

pub mod attach;
pub mod config;
pub mod create;
pub mod engine;
pub mod error;
pub mod exec;
pub mod files;
pub mod inspect;
pub mod layout;
pub mod local;
pub mod logs;
pub mod monitor;
pub mod options;
pub mod pasta;
pub mod rootfs;
pub mod slirp;
pub mod spec;
pub mod userns;

pub use config::{
    ContainerConfig, ContainerPaths, ImageRuntimeConfig, LogConfig, Mount, NetworkMode, Resources,
    RestartPolicy, RootfsSource, SecurityConfig, Ulimit,
};
pub use engine::{ContainerEngine, ContainerResult, ExecEnd};
pub use error::ContainerError;
pub use files::{write_container_files, ExecUser, FilesError};
pub use options::*;
pub use spec::{generate, HostInfo, SpecError};
