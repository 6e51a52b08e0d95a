//! Configuration files shared with Podman (containers-storage's
//! `storage.conf`; registries.conf lives in [`crate::image::registries`]).

pub mod storage;
