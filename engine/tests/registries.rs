//! registries.conf parsing, drop-in merging and resolution, with fixture files
//! in a temporary directory (never /etc).

use std::fs;
use std::path::{Path, PathBuf};

use podman_rs_engine::image::{
    PullFromMirror, Reference, RegistriesConf, RegistriesError, ShortNameMode,
};

const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&p, text).expect("write fixture");
    p
}

fn load_text(text: &str) -> Result<RegistriesConf, RegistriesError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "registries.conf", text);
    RegistriesConf::load_from(&p)
}

fn err_text(text: &str) -> String {
    load_text(text)
        .expect_err("config should be rejected")
        .to_string()
}

const MAIN: &str = r#"
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io", "docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar/"
insecure = true

[[registry.mirror]]
location = "mirror-1.example.com"

[[registry.mirror]]
location = "mirror-2.example.com:5000/m"
insecure = true

[[registry]]
location = "example.com"

[[registry]]
prefix = "*.wild.example.com"

[[registry]]
location = "blocked.example.com"
blocked = true

[[registry]]
location = "digest.example.com"
mirror-by-digest-only = true
[[registry.mirror]]
location = "dmirror.example.com"

[[registry]]
location = "split.example.com"
[[registry.mirror]]
location = "tags.example.com"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "digests.example.com"
pull-from-mirror = "digest-only"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"busybox" = "docker.io/busybox"
"ns/tool" = "quay.io/ns/tool"
"#;

#[test]
fn parses_v2_file() {
    let c = load_text(MAIN).expect("valid");
    assert_eq!(
        c.unqualified_search_registries(),
        ["registry.fedoraproject.org", "quay.io", "docker.io"]
    );
    assert_eq!(c.short_name_mode(), ShortNameMode::Enforcing);
    // Sorted by prefix; prefix defaults to location; trailing '/' trimmed.
    let prefixes: Vec<&str> = c.registries().iter().map(|r| r.prefix.as_str()).collect();
    assert_eq!(
        prefixes,
        [
            "*.wild.example.com",
            "blocked.example.com",
            "digest.example.com",
            "example.com",
            "example.com/foo",
            "split.example.com"
        ]
    );
    let foo = &c.registries()[4];
    assert_eq!(foo.location, "internal.example.com/bar");
    assert!(foo.insecure);
    assert_eq!(foo.mirrors.len(), 2);
    assert_eq!(foo.mirrors[1].location, "mirror-2.example.com:5000/m");
    assert!(foo.mirrors[1].insecure);
    assert_eq!(
        c.registries()[5].mirrors[0].pull_from_mirror,
        PullFromMirror::TagOnly
    );
    // Alias values are normalised.
    assert_eq!(
        c.alias("busybox").map(|a| a.to_string()).as_deref(),
        Some("docker.io/library/busybox")
    );
    assert_eq!(c.aliases().count(), 3);
}

#[test]
fn defaults_for_empty_file() {
    let c = load_text("").expect("valid");
    assert_eq!(c.short_name_mode(), ShortNameMode::Permissive);
    assert!(c.unqualified_search_registries().is_empty());
    assert!(c.registries().is_empty());
}

#[test]
fn drop_ins_merge_in_lexical_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = write(dir.path(), "registries.conf", MAIN);
    let d = "registries.conf.d";
    write(
        dir.path(),
        &format!("{d}/10-first.conf"),
        r#"
unqualified-search-registries = ["first.example.com"]
short-name-mode = "disabled"
[aliases]
"fedora" = ""
"alpine" = "docker.io/library/alpine"
"#,
    );
    write(
        dir.path(),
        &format!("{d}/20-second.conf"),
        r#"
unqualified-search-registries = ["second.example.com", "third.example.com"]
[[registry]]
location = "blocked.example.com"
blocked = false
insecure = true
[aliases]
"alpine" = "quay.io/libpod/alpine"
"#,
    );
    // Not *.conf, and sub-directories: ignored.
    write(
        dir.path(),
        &format!("{d}/30-ignored.conf.bak"),
        "this is = not toml [",
    );
    write(
        dir.path(),
        &format!("{d}/sub/40-nested.conf"),
        "short-name-mode = \"enforcing\"",
    );

    let c = RegistriesConf::load_from(&main).expect("valid");
    assert_eq!(
        c.unqualified_search_registries(),
        ["second.example.com", "third.example.com"]
    );
    // Set in 10-first, not overridden by 20-second (unset there).
    assert_eq!(c.short_name_mode(), ShortNameMode::Disabled);
    // Later drop-in wins for an alias; "" resets one.
    assert_eq!(
        c.alias("alpine").map(|a| a.to_string()).as_deref(),
        Some("quay.io/libpod/alpine")
    );
    assert!(c.alias("fedora").is_none());
    assert!(c.alias("ns/tool").is_some());
    // Same-prefix [[registry]] replaced; others kept.
    let blocked = c.find_registry("blocked.example.com/x").expect("entry");
    assert!(!blocked.blocked && blocked.insecure);
    assert!(c.find_registry("example.com/foo/x").is_some());
    assert!(c.source_description().contains("registries.conf.d"));

    // Resolution records where the search registries came from.
    let res = c
        .resolve_short_name_with_tty(&r("app"), false)
        .expect("disabled mode");
    assert_eq!(
        res.origin.as_deref(),
        Some(dir.path().join(d).join("20-second.conf").as_path())
    );
}

#[test]
fn drop_in_must_be_v2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let main = write(dir.path(), "registries.conf", "");
    write(
        dir.path(),
        "registries.conf.d/01.conf",
        "[registries.search]\nregistries = [\"a.example.com\"]\n",
    );
    let e = RegistriesConf::load_from(&main)
        .expect_err("v1 drop-in")
        .to_string();
    assert!(
        e.contains("registry must be in v2 format but is in v1"),
        "{e}"
    );
}

#[test]
fn v1_main_file_is_converted() {
    let c = load_text(
        r#"
[registries.search]
registries = ["docker.io", "quay.io"]
[registries.insecure]
registries = ["insecure.example.com"]
[registries.block]
registries = ["bad.example.com"]
"#,
    )
    .expect("v1 accepted in the main file");
    assert_eq!(c.unqualified_search_registries(), ["docker.io", "quay.io"]);
    assert!(
        c.find_registry("insecure.example.com/a")
            .expect("entry")
            .insecure
    );
    assert!(c.find_registry("bad.example.com/a").expect("entry").blocked);
    let e = err_text("unqualified-search-registries = [\"a.io\"]\n[registries.search]\nregistries = [\"b.io\"]\n");
    assert!(
        e.contains("mixing sysregistry v1/v2 is not supported"),
        "{e}"
    );
}

#[test]
fn invalid_configs_are_rejected() {
    let cases = [
        ("[[registry]]\nlocation = \"https://example.com\"\n", "URI schemes are not supported"),
        ("[[registry]]\ninsecure = true\n", "both location and prefix are unset"),
        ("[[registry]]\nprefix = \"example.com\"\n", "location is unset and prefix is not in the format"),
        ("[[registry]]\nprefix = \"*.example.com/foo\"\n", "Wildcarded prefix should be in the format"),
        ("[[registry]]\nlocation = \"a.io\"\npull-from-mirror = \"all\"\n", "pull-from-mirror must not be set for a non-mirror registry"),
        ("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = true\n", "mirror location is unset"),
        ("[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"sometimes\"\n", "unsupported pull-from-mirror value"),
        ("[[registry]]\nlocation = \"a.io\"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = \"m.io\"\npull-from-mirror = \"all\"\n", "cannot set mirror usage mirror-by-digest-only"),
        ("[[registry]]\nprefix = \"a.io/x\"\nlocation = \"a.io\"\n[[registry]]\nprefix = \"a.io/y\"\nlocation = \"a.io\"\ninsecure = true\n", "conflicting 'insecure' setting"),
        ("short-name-mode = \"sometimes\"\n", "invalid short-name mode: \"sometimes\""),
        ("unqualified-search-registries = [\"quay.io/ns\"]\n", "Invalid unqualified-search-registries entry \"quay.io/ns\""),
        ("unqualified-search-registries = \"quay.io\"\n", "loading registries configuration"),
        ("this is not toml", "loading registries configuration"),
        // Both texts as podman 4.3.1 printed them for this [aliases] table.
        ("[aliases]\n\"bar\" = \"bar\"\n", "invalid alias \"bar\": must contain registry and repository"),
        ("[aliases]\n\"foo:tag\" = \"quay.io/x\"\n", "invalid short name \"foo:tag\": must not contain tag"),
        ("[aliases]\n\"quay.io/x\" = \"quay.io/x\"\n", "invalid short name \"quay.io/x\": must not contain registry"),
        ("[aliases]\n\"x\" = \"quay.io/x:1\"\n", "invalid alias \"quay.io/x:1\": must not contain tag"),
        ("[aliases]\n\"X\" = \"quay.io/x\"\n", "cannot parse short name: \"X\""),
    ];
    for (text, want) in cases {
        let e = err_text(text);
        assert!(
            e.contains(want),
            "config {text:?}: got {e:?}, want {want:?}"
        );
    }
}

#[test]
fn missing_explicit_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = RegistriesConf::load_from(dir.path().join("nope.conf")).expect_err("missing");
    assert!(matches!(e, RegistriesError::Io { .. }), "{e}");
    // A missing default file is an empty configuration.
    let c = RegistriesConf::load_paths(&dir.path().join("nope.conf"), false, &[]).expect("ok");
    assert!(c.registries().is_empty());
}

#[test]
fn short_name_resolution() {
    let c = load_text(MAIN).expect("valid");

    // Alias hit keeps the input's tag / digest; default tag otherwise.
    let res = c
        .resolve_short_name_with_tty(&r("fedora:39"), false)
        .expect("alias");
    assert!(res.from_alias);
    assert_eq!(
        res.candidates,
        vec![r("registry.fedoraproject.org/fedora:39")]
    );
    let res = c
        .resolve_short_name_with_tty(&r("busybox"), false)
        .expect("alias");
    assert_eq!(
        res.candidates[0].to_string(),
        "docker.io/library/busybox:latest"
    );
    let res = c
        .resolve_short_name_with_tty(&r(&format!("ns/tool@{SHA}")), false)
        .expect("alias");
    assert_eq!(
        res.candidates[0].to_string(),
        format!("quay.io/ns/tool@{SHA}")
    );

    // Enforcing, several candidates, no TTY: podman's error.
    let e = c
        .resolve_short_name_with_tty(&r("nginx"), false)
        .expect_err("enforcing");
    assert_eq!(
        e.to_string(),
        "short-name resolution enforced but cannot prompt without a TTY"
    );
    // With a TTY podman prompts.
    let res = c
        .resolve_short_name_with_tty(&r("nginx"), true)
        .expect("tty");
    assert!(res.needs_prompt && !res.from_alias);
    let names: Vec<String> = res.candidates.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        names,
        [
            "registry.fedoraproject.org/nginx:latest",
            "quay.io/nginx:latest",
            "docker.io/library/nginx:latest"
        ]
    );

    // Fully qualified references pass through.
    let res = c
        .resolve_short_name_with_tty(&r("quay.io/a/b:1"), false)
        .expect("fq");
    assert_eq!(res.candidates, vec![r("quay.io/a/b:1")]);
    assert!(!res.from_alias);
}

#[test]
fn short_name_modes() {
    let three = "unqualified-search-registries = [\"a.io\", \"b.io\", \"docker.io\"]\n";
    let permissive = load_text(three).expect("valid");
    let res = permissive
        .resolve_short_name_with_tty(&r("x/y:2"), false)
        .expect("permissive");
    assert!(!res.needs_prompt);
    assert_eq!(res.candidates.len(), 3);
    assert_eq!(res.candidates[2].to_string(), "docker.io/x/y:2");
    assert!(
        permissive
            .resolve_short_name_with_tty(&r("x"), true)
            .expect("tty")
            .needs_prompt
    );

    let disabled = load_text(&format!("{three}short-name-mode = \"disabled\"\n")).expect("valid");
    let res = disabled
        .resolve_short_name_with_tty(&r("x"), true)
        .expect("disabled");
    assert!(!res.needs_prompt);
    assert_eq!(res.candidates.len(), 3);

    // One candidate never prompts, even when enforcing.
    let one = load_text(
        "unqualified-search-registries = [\"127.0.0.1:5000\"]\nshort-name-mode = \"enforcing\"\n",
    )
    .expect("valid");
    let res = one
        .resolve_short_name_with_tty(&r("foo"), false)
        .expect("single");
    assert_eq!(res.candidates, vec![r("127.0.0.1:5000/foo:latest")]);

    // No alias and no search registries: podman's message, naming the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "none.conf", "short-name-mode = \"enforcing\"\n");
    let c = RegistriesConf::load_from(&p).expect("valid");
    let e = c
        .resolve_short_name_with_tty(&r("foo"), false)
        .expect_err("none");
    assert_eq!(
        e.to_string(),
        format!(
            "short-name \"foo\" did not resolve to an alias and no unqualified-search registries are defined in \"{}\"",
            p.display()
        )
    );
}

#[test]
fn registry_lookup_longest_prefix() {
    let c = load_text(MAIN).expect("valid");
    let get = |s: &str| {
        c.registry_for(&r(s))
            .expect("not blocked")
            .map(|x| x.prefix)
    };
    assert_eq!(
        get("example.com/foo/app").as_deref(),
        Some("example.com/foo")
    );
    assert_eq!(get("example.com/foo").as_deref(), Some("example.com/foo"));
    // Prefixes match at '/', ':' or '@' boundaries only.
    assert_eq!(
        get("example.com/foobar/app").as_deref(),
        Some("example.com")
    );
    assert_eq!(get("example.com:5000/app").as_deref(), Some("example.com"));
    assert_eq!(get("example.community/app"), None);
    // Wildcard subdomains.
    assert_eq!(
        get("a.b.wild.example.com/x").as_deref(),
        Some("*.wild.example.com")
    );
    assert_eq!(get("wild.example.com/x"), None);
    assert_eq!(get("quay.io/x"), None);

    let e = c
        .registry_for(&r("blocked.example.com/foo"))
        .expect_err("blocked");
    let text = e.to_string();
    assert!(
        text.starts_with("registry blocked.example.com is blocked in "),
        "{text}"
    );
    assert!(text.contains("registries.conf"), "{text}");
    assert!(matches!(
        c.registry_for(&r("foo")),
        Err(RegistriesError::ShortName { .. })
    ));
}

#[test]
fn pull_sources_mirrors_then_primary() {
    let c = load_text(MAIN).expect("valid");
    let sources = c
        .pull_sources(&r("example.com/foo/app:1"))
        .expect("sources");
    let got: Vec<(String, bool, String)> = sources
        .iter()
        .map(|s| {
            (
                s.endpoint.location.clone(),
                s.endpoint.insecure,
                s.reference.to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "mirror-1.example.com".to_string(),
                false,
                "mirror-1.example.com/app:1".to_string()
            ),
            (
                "mirror-2.example.com:5000/m".to_string(),
                true,
                "mirror-2.example.com:5000/m/app:1".to_string()
            ),
            (
                "internal.example.com/bar".to_string(),
                true,
                "internal.example.com/bar/app:1".to_string()
            ),
        ]
    );

    // mirror-by-digest-only: mirrors only for digests.
    let tag = c.pull_sources(&r("digest.example.com/a:1")).expect("ok");
    assert_eq!(tag.len(), 1);
    let dig = c
        .pull_sources(&r(&format!("digest.example.com/a@{SHA}")))
        .expect("ok");
    assert_eq!(
        dig[0].reference.to_string(),
        format!("dmirror.example.com/a@{SHA}")
    );
    assert_eq!(dig.len(), 2);

    // Per-mirror pull-from-mirror.
    let tag = c.pull_sources(&r("split.example.com/a:1")).expect("ok");
    let locs: Vec<&str> = tag.iter().map(|s| s.endpoint.location.as_str()).collect();
    assert_eq!(locs, ["tags.example.com", "split.example.com"]);
    let dig = c
        .pull_sources(&r(&format!("split.example.com/a@{SHA}")))
        .expect("ok");
    let locs: Vec<&str> = dig.iter().map(|s| s.endpoint.location.as_str()).collect();
    assert_eq!(locs, ["digests.example.com", "split.example.com"]);

    // Wildcard without location: pulled from where it is.
    let w = c.pull_sources(&r("x.wild.example.com/a")).expect("ok");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].endpoint.location, "x.wild.example.com");
    assert_eq!(w[0].reference, r("x.wild.example.com/a"));

    // No [[registry]]: the reference's own registry, secure.
    let q = c.pull_sources(&r("quay.io/a/b:1")).expect("ok");
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].endpoint.location, "quay.io");
    assert!(!q[0].endpoint.insecure);

    assert!(matches!(
        c.pull_sources(&r("blocked.example.com/a")),
        Err(RegistriesError::Blocked { .. })
    ));
}

/// The config and results of `podman --log-level=debug pull example.com/foo/app:1`
/// ("Trying to access" lines) and `podman pull a.wild.example.com/x` (4.3.1).
#[test]
fn matches_podman_pull_trace() {
    let c = load_text(
        r#"
[[registry]]
prefix = "example.com/foo"
location = "127.0.0.1:1/bar/"
insecure = true
[[registry.mirror]]
location = "127.0.0.1:2/m"
[[registry]]
prefix = "*.wild.example.com"
blocked = true
"#,
    )
    .expect("valid");
    let got: Vec<(String, bool)> = c
        .pull_sources(&r("example.com/foo/app:1"))
        .expect("sources")
        .into_iter()
        .map(|s| (s.reference.to_string(), s.endpoint.insecure))
        .collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:2/m/app:1".to_string(), false),  // https
            ("127.0.0.1:1/bar/app:1".to_string(), true), // http
        ]
    );
    let e = c
        .pull_sources(&r("a.wild.example.com/x:latest"))
        .expect_err("blocked");
    assert!(
        e.to_string()
            .starts_with("registry *.wild.example.com is blocked in "),
        "{e}"
    );
}

#[test]
fn rewrite_must_stay_canonical() {
    let c = load_text(
        "[[registry]]\nprefix = \"example.com/hub\"\nlocation = \"docker.io\"\n\n[[registry]]\nprefix = \"example.com/ns\"\nlocation = \"docker.io/ns\"\n",
    )
    .expect("valid");
    // docker.io/busybox is not canonical (docker.io/library/busybox is).
    let e = c
        .pull_sources(&r("example.com/hub/busybox"))
        .expect_err("not canonical");
    assert!(
        e.to_string().contains("repository name must be canonical"),
        "{e}"
    );
    let ok = c
        .pull_sources(&r("example.com/ns/app:1"))
        .expect("canonical");
    assert_eq!(ok[0].reference.to_string(), "docker.io/ns/app:1");
}

/// The distribution's own files parse (read-only; skipped where absent).
#[test]
fn system_files_parse() {
    let main = Path::new("/etc/containers/registries.conf");
    if !main.exists() {
        return;
    }
    let c = RegistriesConf::load_paths(
        main,
        true,
        &[PathBuf::from("/etc/containers/registries.conf.d")],
    )
    .expect("system registries.conf parses");
    if Path::new("/etc/containers/registries.conf.d/shortnames.conf").exists() {
        // Debian's shortnames.conf (as `podman pull alpine` resolved it).
        if let Some(alpine) = c.alias("alpine") {
            assert_eq!(alpine.to_string(), "docker.io/library/alpine");
        }
    }
}
