//! The OCI state of a container, as `runtime state` prints it.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Container status as defined by the OCI runtime spec (plus `paused`, as runc and crun report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The state JSON: the OCI fields first, then what runc adds (`rootfs`, `created`, `owner`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// crun's `list --format json` leaves it out.
    #[serde(default)]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    /// 0 when there is no process (stopped), as runc prints it.
    #[serde(default)]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_json_shape() {
        let s = ContainerState {
            oci_version: "1.2.0".into(),
            id: "c1".into(),
            status: Status::Running,
            pid: 42,
            bundle: "/b".into(),
            rootfs: None,
            created: Some("2026-01-01T00:00:00Z".into()),
            owner: "root".into(),
            annotations: HashMap::new(),
        };
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(v["status"], "running");
        assert_eq!(v["ociVersion"], "1.2.0");
        assert_eq!(v["pid"], 42);
        assert!(v.get("annotations").is_none());
        let back: ContainerState = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
