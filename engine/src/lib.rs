//! podman-rs engine crate.
