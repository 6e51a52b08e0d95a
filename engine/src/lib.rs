//! The podman-rs engine: see README.md. Built from the image and container issues on.

pub mod auth;
pub mod config;
pub mod image;
pub mod interface;
pub mod store;
