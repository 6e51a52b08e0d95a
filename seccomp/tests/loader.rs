//! Loading profiles: conditions, argument rules, OCI form and errors.

mod common;

use std::io::Write;

use common::{canonical, entries_for, strings, Entry};
use podman_rs_seccomp::{
    default_profile, is_unconfined, load_profile, load_profile_for, profile_for_option,
    KernelVersion, Profile, SeccompError, TargetArch,
};

const NO_CAPS: &[&str] = &[];

fn write_profile(json: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new();
    assert!(file.is_ok(), "{file:?}");
    let mut file = file.unwrap_or_else(|e| panic!("{e}"));
    assert!(file.write_all(json.as_bytes()).is_ok());
    file
}

fn parse(json: &str) -> Profile {
    match Profile::from_json(json, "<test>") {
        Ok(p) => p,
        Err(e) => panic!("profile should parse: {e}"),
    }
}

fn names_for(
    profile: &Profile,
    caps: &[&str],
    arch: TargetArch,
    kernel: Option<KernelVersion>,
) -> Vec<String> {
    let oci = profile.to_oci_with_kernel(caps, Some(arch), kernel);
    let mut names: Vec<String> = canonical(&oci).entries.into_iter().map(|e| e.0).collect();
    names.dedup();
    names
}

fn allow(name: &str) -> Entry {
    (name.to_string(), "SCMP_ACT_ALLOW".to_string(), None, vec![])
}

const CONDITIONAL: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "syscalls": [
    {"names": ["always"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["with_admin"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["with_admin_and_ptrace"], "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]}},
    {"names": ["without_admin_or_ptrace"], "action": "SCMP_ACT_ALLOW",
     "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]}},
    {"names": ["on_amd64_arm64"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "arm64"]}},
    {"names": ["not_on_arm64"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
    {"names": ["since_5_8"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
    {"names": ["before_5_8"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.8"}},
    {"names": ["admin_on_amd64"], "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"]}, "excludes": null}
  ]
}"#;

#[test]
fn includes_caps_need_all_listed_caps() {
    let p = parse(CONDITIONAL);
    let none = names_for(&p, NO_CAPS, TargetArch::Amd64, None);
    assert!(!none.contains(&"with_admin".to_string()));
    let admin = names_for(&p, &["CAP_SYS_ADMIN"], TargetArch::Amd64, None);
    assert!(admin.contains(&"with_admin".to_string()));
    assert!(admin.contains(&"admin_on_amd64".to_string()));
    assert!(!admin.contains(&"with_admin_and_ptrace".to_string()));
    // Short and lower-case capability names are accepted.
    let both = names_for(&p, &["sys_admin", "SYS_PTRACE"], TargetArch::Amd64, None);
    assert!(both.contains(&"with_admin_and_ptrace".to_string()));
}

#[test]
fn excludes_caps_drop_rule_when_any_cap_present() {
    let p = parse(CONDITIONAL);
    let name = "without_admin_or_ptrace".to_string();
    assert!(names_for(&p, NO_CAPS, TargetArch::Amd64, None).contains(&name));
    assert!(!names_for(&p, &["CAP_SYS_PTRACE"], TargetArch::Amd64, None).contains(&name));
    assert!(!names_for(&p, &["CAP_SYS_ADMIN"], TargetArch::Amd64, None).contains(&name));
}

#[test]
fn arches_conditions() {
    let p = parse(CONDITIONAL);
    let amd64 = names_for(&p, NO_CAPS, TargetArch::Amd64, None);
    let arm64 = names_for(&p, NO_CAPS, TargetArch::Arm64, None);
    let s390x = names_for(&p, NO_CAPS, TargetArch::S390X, None);
    assert!(amd64.contains(&"on_amd64_arm64".to_string()));
    assert!(arm64.contains(&"on_amd64_arm64".to_string()));
    assert!(!s390x.contains(&"on_amd64_arm64".to_string()));
    assert!(amd64.contains(&"not_on_arm64".to_string()));
    assert!(!arm64.contains(&"not_on_arm64".to_string()));
    let admin_arm = names_for(&p, &["CAP_SYS_ADMIN"], TargetArch::Arm64, None);
    assert!(!admin_arm.contains(&"admin_on_amd64".to_string()));
}

#[test]
fn min_kernel_conditions() {
    let p = parse(CONDITIONAL);
    assert!(p.uses_min_kernel());
    let new = names_for(
        &p,
        NO_CAPS,
        TargetArch::Amd64,
        Some(KernelVersion::new(5, 8)),
    );
    assert!(new.contains(&"since_5_8".to_string()));
    assert!(!new.contains(&"before_5_8".to_string()));
    let newer = names_for(
        &p,
        NO_CAPS,
        TargetArch::Amd64,
        Some(KernelVersion::new(6, 0)),
    );
    assert!(newer.contains(&"since_5_8".to_string()));
    let old = names_for(
        &p,
        NO_CAPS,
        TargetArch::Amd64,
        Some(KernelVersion::new(5, 7)),
    );
    assert!(!old.contains(&"since_5_8".to_string()));
    assert!(old.contains(&"before_5_8".to_string()));
    let old_major = names_for(
        &p,
        NO_CAPS,
        TargetArch::Amd64,
        Some(KernelVersion::new(4, 19)),
    );
    assert!(!old_major.contains(&"since_5_8".to_string()));
    // Unknown kernel: counted as older than any minKernel.
    let unknown = names_for(&p, NO_CAPS, TargetArch::Amd64, None);
    assert!(!unknown.contains(&"since_5_8".to_string()));
    assert!(unknown.contains(&"before_5_8".to_string()));
    // `to_oci` reads the host kernel.
    let host = p.to_oci(NO_CAPS, Some(TargetArch::Amd64));
    assert!(host.is_ok(), "{host:?}");
}

#[test]
fn arg_conditions_and_errno_are_kept() {
    let p = parse(
        r#"{
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [
          {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
          {"name": "clone", "action": "SCMP_ACT_ALLOW",
           "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
          {"names": ["open"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
           "args": [{"index": 1, "value": 3, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 5, "value": 7, "op": "SCMP_CMP_GE"}]},
          {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": null}
        ]
    }"#,
    );
    let oci = p.to_oci_with_kernel(NO_CAPS, Some(TargetArch::Amd64), None);
    assert_eq!(oci.default_errno_ret(), None);
    let c = canonical(&oci);
    assert_eq!(c.default_action, "SCMP_ACT_KILL_PROCESS");
    assert_eq!(
        entries_for(&c, "personality")[0].3,
        vec![(0, 8, 0, "SCMP_CMP_EQ".to_string())]
    );
    // The legacy `name` form works.
    assert_eq!(
        entries_for(&c, "clone")[0].3,
        vec![(0, 0x7E02_0000, 0, "SCMP_CMP_MASKED_EQ".to_string())]
    );
    let open = entries_for(&c, "open");
    assert_eq!(open[0].2, Some(13));
    assert_eq!(
        open[0].3,
        vec![
            (1, 3, 1, "SCMP_CMP_MASKED_EQ".to_string()),
            (5, 7, 0, "SCMP_CMP_GE".to_string())
        ]
    );
    assert_eq!(entries_for(&c, "socket"), vec![&allow("socket")]);

    // In the OCI value: no args list when there is no condition, valueTwo only when set.
    let syscalls = oci.syscalls().clone().unwrap_or_default();
    assert_eq!(syscalls[3].args(), &None);
    let open_args = syscalls[2].args().clone().unwrap_or_default();
    assert_eq!(open_args[0].value_two(), Some(1));
    assert_eq!(open_args[1].value_two(), None);
}

#[test]
fn arch_map_and_architectures() {
    let p = parse(
        r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "archMap": [
          {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
          {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
        ],
        "syscalls": []
    }"#,
    );
    let oci = p.to_oci_with_kernel(NO_CAPS, Some(TargetArch::Arm64), None);
    assert_eq!(oci.default_errno_ret(), Some(38));
    assert_eq!(
        canonical(&oci).architectures,
        strings(&["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    );
    assert_eq!(oci.syscalls(), &None);
    let oci = p.to_oci_with_kernel(NO_CAPS, Some(TargetArch::Riscv64), None);
    assert_eq!(oci.architectures(), &None);

    let fixed = parse(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]}"#,
    );
    let oci = fixed.to_oci_with_kernel(NO_CAPS, Some(TargetArch::Arm64), None);
    assert_eq!(
        canonical(&oci).architectures,
        strings(&["SCMP_ARCH_X86", "SCMP_ARCH_X86_64"])
    );
}

#[test]
fn oci_form_loads_unchanged() {
    let original = default_profile();
    let json = serde_json::to_string_pretty(&original).unwrap_or_default();
    assert!(json.contains("\"architectures\""));
    let file = write_profile(&json);
    let loaded = load_profile(file.path(), &["CAP_SYS_ADMIN"]);
    assert!(loaded.is_ok(), "{loaded:?}");
    assert_eq!(loaded.ok(), Some(original));
}

#[test]
fn oci_form_with_flags_and_listener() {
    let p = parse(
        r#"{
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/agent.sock",
        "listenerMetadata": "meta",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    }"#,
    );
    let oci = p.to_oci_with_kernel(NO_CAPS, None, None);
    assert_eq!(oci.flags().as_ref().map(Vec::len), Some(1));
    assert_eq!(
        oci.listener_path().as_deref(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(oci.listener_metadata().as_deref(), Some("meta"));
    assert_eq!(canonical(&oci).entries[0].1, "SCMP_ACT_NOTIFY");
}

#[test]
fn template_json_round_trip() {
    let template = podman_rs_seccomp::default_template();
    let json = template.to_json();
    assert!(json.contains("\"archMap\""));
    assert!(json.contains("\"subArchitectures\""));
    assert_eq!(parse(&json), template);
}

fn parse_err(json: &str) -> SeccompError {
    match Profile::from_json(json, "/etc/test/profile.json") {
        Ok(p) => panic!("profile should be rejected: {p:?}"),
        Err(e) => e,
    }
}

fn assert_field_error(err: &SeccompError, want_field: &str, want_in_message: &str) {
    let (field, message) = match err {
        SeccompError::Parse { field, message, .. }
        | SeccompError::Invalid { field, message, .. } => (field, message),
        other => panic!("unexpected error kind: {other:?}"),
    };
    assert_eq!(field, want_field, "{err}");
    assert!(message.contains(want_in_message), "{err}");
    let text = err.to_string();
    assert!(text.contains("/etc/test/profile.json"), "{text}");
    if !want_field.is_empty() {
        assert!(text.contains(want_field), "{text}");
    }
}

#[test]
fn unknown_action_names_the_field() {
    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_MAYBE"}]}"#,
    );
    assert!(matches!(err, SeccompError::Parse { .. }));
    assert_field_error(&err, "syscalls[1].action", "SCMP_ACT_MAYBE");

    let err = parse_err(r#"{"defaultAction": "ALLOW_ALL"}"#);
    assert_field_error(&err, "defaultAction", "ALLOW_ALL");
}

#[test]
fn bad_values_name_the_field() {
    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#,
    );
    assert_field_error(&err, "syscalls[0].args[0].op", "SCMP_CMP_ABOUT");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
            "errnoRet": -1}]}"#,
    );
    assert_field_error(&err, "syscalls[0].errnoRet", "-1");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "includes": {"minKernel": "five"}}]}"#,
    );
    assert_field_error(&err, "syscalls[0].includes.minKernel", "five");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_VAX"}]}"#,
    );
    assert_field_error(&err, "archMap[0].architecture", "SCMP_ARCH_VAX");

    let err = parse_err(r#"{"syscalls": []}"#);
    assert_field_error(&err, "", "defaultAction");

    let err = parse_err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {"names": []}}"#);
    assert_field_error(&err, "syscalls", "sequence");
}

#[test]
fn contradictory_profiles_are_rejected() {
    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert!(matches!(err, SeccompError::Invalid { .. }));
    assert_field_error(&err, "syscalls[0]", "'name' and 'names'");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}"#,
    );
    assert_field_error(&err, "", "'architectures' and 'archMap'");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    assert_field_error(&err, "syscalls[0].names", "no syscall name");

    let err = parse_err(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    );
    assert_field_error(&err, "syscalls[0].args[0].index", "out of range");
}

#[test]
fn bad_json_names_the_file() {
    let file = write_profile(
        "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n  {\"names\": [\"read\"],,}\n]}",
    );
    let err = load_profile(file.path(), NO_CAPS);
    let Err(err) = err else {
        panic!("bad JSON should be rejected")
    };
    assert!(matches!(err, SeccompError::Parse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&file.path().display().to_string()), "{text}");
    assert!(text.contains("line 2"), "{text}");

    let err = parse_err(r#"{"defaultAction": "SCMP_ACT_ERRNO"} trailing"#);
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[test]
fn missing_file_is_a_read_error() {
    let err = load_profile_for("/nonexistent/seccomp.json", NO_CAPS, TargetArch::Amd64);
    match err {
        Err(SeccompError::Read { path, .. }) => {
            assert_eq!(path, std::path::Path::new("/nonexistent/seccomp.json"))
        }
        other => panic!("expected a read error, got {other:?}"),
    }
}

#[test]
fn unconfined_and_security_opt() {
    assert!(is_unconfined("unconfined"));
    assert!(!is_unconfined("/etc/seccomp.json"));
    let none = profile_for_option(Some("unconfined"), NO_CAPS);
    assert!(matches!(none, Ok(None)), "{none:?}");
    let default = profile_for_option(None, &podman_rs_seccomp::PODMAN_DEFAULT_CAPS);
    assert_eq!(default.ok().flatten(), Some(default_profile()));

    let file = write_profile(
        r#"{"defaultAction": "SCMP_ACT_LOG", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let custom = profile_for_option(file.path().to_str(), NO_CAPS);
    let custom = custom.ok().flatten();
    assert_eq!(
        custom.map(|c| canonical(&c).entries),
        Some(vec![allow("read")])
    );
    assert!(profile_for_option(Some("/nonexistent.json"), NO_CAPS).is_err());
}
