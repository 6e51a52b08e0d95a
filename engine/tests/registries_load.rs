//! `RegistriesConf::load()` path selection. One test in its own binary,
//! because it sets process environment variables.

use std::fs;

use podman_rs_engine::image::{Reference, RegistriesConf};

#[test]
fn load_order() {
    let home = tempfile::tempdir().expect("tempdir");
    let cfg = home.path().join(".config/containers");
    fs::create_dir_all(cfg.join("registries.conf.d")).expect("mkdir");
    fs::write(
        cfg.join("registries.conf"),
        "unqualified-search-registries = [\"user.example.com\"]\n[aliases]\n\"mine\" = \"user.example.com/mine\"\n",
    )
    .expect("write");
    fs::write(
        cfg.join("registries.conf.d/50-user.conf"),
        "[aliases]\n\"dropin\" = \"quay.io/dropin\"\n",
    )
    .expect("write");

    // 1. Per-user file exists: it and only the per-user drop-in dir are read
    //    (so nothing from /etc/containers/registries.conf.d).
    std::env::set_var("HOME", home.path());
    std::env::remove_var("CONTAINERS_REGISTRIES_CONF");
    let c = RegistriesConf::load().expect("user config");
    assert_eq!(c.unqualified_search_registries(), ["user.example.com"]);
    assert!(c.alias("mine").is_some());
    assert!(c.alias("dropin").is_some());
    assert_eq!(
        c.aliases().count(),
        2,
        "no system drop-ins with a user file"
    );
    let desc = c.source_description();
    assert!(!desc.contains("/etc/"), "{desc}");

    // 2. $CONTAINERS_REGISTRIES_CONF wins over the user file; the system and
    //    user drop-in dirs are still read (as containers-image does).
    let env_conf = home.path().join("env.conf");
    fs::write(
        &env_conf,
        "unqualified-search-registries = [\"env.example.com\"]\n",
    )
    .expect("write");
    std::env::set_var("CONTAINERS_REGISTRIES_CONF", &env_conf);
    let c = RegistriesConf::load().expect("env config");
    assert!(c.alias("mine").is_none());
    assert!(c.alias("dropin").is_some());
    let res = c
        .resolve_short_name_with_tty(&Reference::parse("zzz-unaliased").expect("ref"), false)
        .expect("resolves");
    assert!(!res.candidates.is_empty());
    assert!(c
        .source_description()
        .starts_with(&env_conf.display().to_string()));

    // 3. A missing $CONTAINERS_REGISTRIES_CONF is an error, like podman's
    //    `loading registries configuration ".../missing.conf": open ...`.
    std::env::set_var(
        "CONTAINERS_REGISTRIES_CONF",
        home.path().join("missing.conf"),
    );
    let e = RegistriesConf::load().expect_err("missing").to_string();
    assert!(e.starts_with("loading registries configuration"), "{e}");
    assert!(e.contains("missing.conf"), "{e}");
}
