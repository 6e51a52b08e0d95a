//! podman-rs cgroups crate.
