//! podman-rs namespaces crate.
