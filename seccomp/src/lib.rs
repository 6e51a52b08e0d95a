//! podman-rs seccomp crate.
