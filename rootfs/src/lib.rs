//! podman-rs rootfs crate.
