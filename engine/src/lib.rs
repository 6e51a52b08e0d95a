#![recursion_limit = "256"]
//! The podman-rs engine: see README.md. Built from the image and container issues on.

pub mod auth;
pub mod config;
pub mod container;
pub mod image;
pub mod interface;
pub mod rootless;
pub mod store;
