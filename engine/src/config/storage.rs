//! containers-storage's `storage.conf`: which file Podman reads, and the
//! three settings podman-rs honours from its `[storage]` table (`driver`,
//! `graphroot`, `runroot`; other keys are ignored).
//!
//! Lookup (`man containers-storage.conf`), first existing file wins:
//! 1. `$CONTAINERS_STORAGE_CONF` when set (it must exist);
//! 2. for a non-root user, `$XDG_CONFIG_HOME/containers/storage.conf`
//!    (default `~/.config/containers/storage.conf`);
//! 3. `/etc/containers/storage.conf`;
//! 4. `/usr/share/containers/storage.conf`.
//!
//! A non-root user's graphroot and runroot come only from that user's own
//! file (or `$CONTAINERS_STORAGE_CONF`): containers-storage ignores the
//! system file's paths for rootless users and keeps only its driver.
//!
//! Our on-disk format is not containers-storage's, so podman-rs never writes
//! into Podman's directories: a graphroot or runroot taken from storage.conf
//! gets a `podman-rs` subdirectory. Precedence: the CLI flags (`--root`,
//! `--runroot`, `--storage-driver`, used as given) > storage.conf >
//! [`StorageOptions::default`].

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::interface::StorageOptions;

/// The environment variable naming the storage.conf to read.
pub const STORAGE_CONF_ENV: &str = "CONTAINERS_STORAGE_CONF";
/// The administrator's storage.conf.
pub const SYSTEM_STORAGE_CONF: &str = "/etc/containers/storage.conf";
/// The distribution's storage.conf.
pub const DEFAULT_STORAGE_CONF: &str = "/usr/share/containers/storage.conf";
/// The subdirectory of storage.conf's paths podman-rs uses (its store
/// is its own, never Podman's).
pub use crate::rootless::SUBDIR;
/// The storage drivers podman-rs implements.
pub const SUPPORTED_DRIVERS: &[&str] = &["overlay", "vfs"];

/// Errors reading storage.conf or resolving the storage options.
#[derive(Debug, thiserror::Error)]
pub enum StorageConfError {
    #[error("reading storage configuration {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing storage configuration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unsupported storage driver {driver:?} (from {origin}): podman-rs supports \"overlay\" and \"vfs\"")]
    UnsupportedDriver { driver: String, origin: String },
    #[error(transparent)]
    Rootless(#[from] crate::rootless::RootlessError),
}

/// The `[storage]` settings podman-rs reads (`None`: not set or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StorageConf {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub graphroot: Option<PathBuf>,
    #[serde(default)]
    pub runroot: Option<PathBuf>,
    #[serde(default)]
    pub options: Option<OptionsConf>,
}

/// `[storage.options]`: `mount_program` there (older files) or in
/// `[storage.options.overlay]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OptionsConf {
    #[serde(default)]
    pub mount_program: Option<PathBuf>,
    #[serde(default)]
    pub overlay: Option<OverlayConf>,
}

/// `[storage.options.overlay]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OverlayConf {
    #[serde(default)]
    pub mount_program: Option<PathBuf>,
}

impl StorageConf {
    /// The overlay mount program, if one is set (and not empty).
    pub fn mount_program(&self) -> Option<&PathBuf> {
        let o = self.options.as_ref()?;
        o.overlay
            .as_ref()
            .and_then(|ov| ov.mount_program.as_ref())
            .or(o.mount_program.as_ref())
            .filter(|p| !p.as_os_str().is_empty())
    }
}

#[derive(Deserialize)]
struct ConfFile {
    #[serde(default)]
    storage: Option<StorageConf>,
}

/// Parses the text of a storage.conf (`path` only names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<StorageConf, StorageConfError> {
    let file: ConfFile = toml::from_str(text).map_err(|e| StorageConfError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let mut conf = file.storage.unwrap_or_default();
    // containers-storage treats empty strings as unset.
    conf.driver = conf.driver.filter(|d| !d.is_empty());
    conf.graphroot = conf.graphroot.filter(|p| !p.as_os_str().is_empty());
    conf.runroot = conf.runroot.filter(|p| !p.as_os_str().is_empty());
    Ok(conf)
}

/// What the lookup depends on (the process environment, or a test's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lookup {
    /// `$CONTAINERS_STORAGE_CONF`.
    pub env: Option<OsString>,
    /// The user's uid: the effective uid, or the rootless user's uid inside
    /// the rootless user namespace (where the effective uid is 0).
    pub euid: u32,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    /// The system files (default [`SYSTEM_STORAGE_CONF`], [`DEFAULT_STORAGE_CONF`]).
    pub system: Vec<PathBuf>,
}

impl Lookup {
    /// The lookup of this process.
    pub fn from_env() -> Lookup {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Lookup {
            env: non_empty(STORAGE_CONF_ENV),
            euid: crate::rootless::RootlessEnv::from_env()
                .rootless_uid()
                .unwrap_or(0),
            home: non_empty("HOME").map(PathBuf::from),
            xdg_config_home: non_empty("XDG_CONFIG_HOME").map(PathBuf::from),
            system: vec![SYSTEM_STORAGE_CONF.into(), DEFAULT_STORAGE_CONF.into()],
        }
    }

    fn user_file(&self) -> Option<PathBuf> {
        if self.euid == 0 {
            return None;
        }
        let base = self
            .xdg_config_home
            .clone()
            .or_else(|| self.home.as_ref().map(|h| h.join(".config")))?;
        Some(base.join("containers/storage.conf"))
    }
}

/// A storage.conf read (for a non-root user, a system file's paths are dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedConf {
    pub path: PathBuf,
    pub conf: StorageConf,
}

fn read(path: &Path) -> Result<StorageConf, StorageConfError> {
    let text = std::fs::read_to_string(path).map_err(|source| StorageConfError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Reads the storage.conf Podman would read; `None` when there is none.
pub fn load(lookup: &Lookup) -> Result<Option<LoadedConf>, StorageConfError> {
    if let Some(env) = &lookup.env {
        let path = PathBuf::from(env);
        let conf = read(&path)?;
        return Ok(Some(LoadedConf { path, conf }));
    }
    if let Some(user) = lookup.user_file().filter(|p| p.exists()) {
        let conf = read(&user)?;
        return Ok(Some(LoadedConf { path: user, conf }));
    }
    for path in &lookup.system {
        if path.exists() {
            let mut conf = read(path)?;
            if lookup.euid != 0 {
                conf.graphroot = None;
                conf.runroot = None;
            }
            return Ok(Some(LoadedConf {
                path: path.clone(),
                conf,
            }));
        }
    }
    Ok(None)
}

/// The global storage flags of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageFlags {
    pub root: Option<PathBuf>,
    pub runroot: Option<PathBuf>,
    pub driver: Option<String>,
}

/// Flags > storage.conf (paths + [`SUBDIR`]) > `defaults`; the driver must
/// be one of [`SUPPORTED_DRIVERS`].
pub fn resolve(
    flags: &StorageFlags,
    conf: Option<&LoadedConf>,
    defaults: &StorageOptions,
) -> Result<StorageOptions, StorageConfError> {
    let from_conf = |f: fn(&StorageConf) -> Option<&PathBuf>| {
        conf.and_then(|c| f(&c.conf)).map(|p| p.join(SUBDIR))
    };
    let (driver, origin) = match (&flags.driver, conf.and_then(|c| c.conf.driver.clone())) {
        (Some(d), _) => (d.clone(), "--storage-driver".to_string()),
        (None, Some(d)) => (
            d,
            conf.map(|c| c.path.display().to_string())
                .unwrap_or_default(),
        ),
        (None, None) => (defaults.driver.clone(), "the defaults".to_string()),
    };
    if !SUPPORTED_DRIVERS.contains(&driver.as_str()) {
        return Err(StorageConfError::UnsupportedDriver { driver, origin });
    }
    Ok(StorageOptions {
        root: flags
            .root
            .clone()
            .or_else(|| from_conf(|c| c.graphroot.as_ref()))
            .unwrap_or_else(|| defaults.root.clone()),
        runroot: flags
            .runroot
            .clone()
            .or_else(|| from_conf(|c| c.runroot.as_ref()))
            .unwrap_or_else(|| defaults.runroot.clone()),
        driver,
        mount_program: conf.and_then(|c| c.conf.mount_program().cloned()),
    })
}

/// The defaults of a rootless user (see [`crate::rootless`]): graphroot
/// under the data home, runroot under the runtime directory.
pub fn rootless_defaults(paths: &crate::rootless::RootlessPaths) -> StorageOptions {
    StorageOptions {
        root: paths.graphroot.clone(),
        runroot: paths.runroot.clone(),
        ..StorageOptions::default()
    }
}

/// The storage options of this process: `flags`, then the storage.conf of
/// [`Lookup::from_env`], then [`StorageOptions::default`] (for root) or
/// [`rootless_defaults`].
pub fn storage_options(flags: &StorageFlags) -> Result<StorageOptions, StorageConfError> {
    let conf = load(&Lookup::from_env())?;
    let defaults = match crate::rootless::current_paths()? {
        Some(paths) => rootless_defaults(&paths),
        None => StorageOptions::default(),
    };
    resolve(flags, conf.as_ref(), &defaults)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn parses_the_storage_table_and_ignores_the_rest() {
        let c = parse(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"/g\"\nrunroot = \"\"\n\
             [storage.options]\nadditionalimagestores = []\n[storage.options.overlay]\nmountopt = \"nodev\"\n",
            Path::new("x.conf"),
        )
        .unwrap();
        assert_eq!(c.driver.as_deref(), Some("vfs"));
        assert_eq!(c.graphroot, Some(PathBuf::from("/g")));
        assert_eq!(c.runroot, None, "an empty string is unset");
        assert_eq!(parse("", Path::new("e")).unwrap(), StorageConf::default());
        let e = parse("[storage\n", Path::new("/bad.conf")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("parsing storage configuration /bad.conf: "),
            "{e}"
        );
        let e = parse("[storage]\ndriver = 3\n", Path::new("/t.conf")).unwrap_err();
        assert!(matches!(e, StorageConfError::Parse { .. }), "{e}");
    }

    #[test]
    fn lookup_order() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let etc = d.join("etc.conf");
        let usr = write(d, "usr.conf", "[storage]\ndriver = \"vfs\"\n");
        let mut l = Lookup {
            euid: 0,
            home: Some(d.join("home")),
            system: vec![etc.clone(), usr.clone()],
            ..Lookup::default()
        };
        assert_eq!(load(&l).unwrap().unwrap().path, usr, "etc absent: usr");
        write(d, "etc.conf", "[storage]\ngraphroot = \"/etc-root\"\n");
        assert_eq!(load(&l).unwrap().unwrap().path, etc, "etc before usr");
        // root ignores the user file.
        let user = write(
            d,
            "home/.config/containers/storage.conf",
            "[storage]\ngraphroot = \"/u\"\n",
        );
        assert_eq!(load(&l).unwrap().unwrap().path, etc);
        // A user reads its own file; XDG_CONFIG_HOME wins over ~/.config.
        l.euid = 1000;
        assert_eq!(load(&l).unwrap().unwrap().path, user);
        let xdg = write(d, "xdg/containers/storage.conf", "");
        l.xdg_config_home = Some(d.join("xdg"));
        assert_eq!(load(&l).unwrap().unwrap().path, xdg);
        // Without a user file, a user keeps only the system file's driver.
        std::fs::remove_file(&xdg).unwrap();
        l.xdg_config_home = None;
        std::fs::remove_file(&user).unwrap();
        let c = load(&l).unwrap().unwrap();
        assert_eq!((c.path.clone(), c.conf.graphroot), (etc.clone(), None));
        // The environment variable beats everything and must exist.
        let env = write(d, "env.conf", "[storage]\nrunroot = \"/r\"\n");
        l.env = Some(env.clone().into());
        assert_eq!(load(&l).unwrap().unwrap().path, env);
        l.env = Some(d.join("none.conf").into());
        assert!(matches!(load(&l), Err(StorageConfError::Io { .. })));
        // Nothing at all.
        let none = Lookup {
            system: vec![d.join("a"), d.join("b")],
            ..Lookup::default()
        };
        assert_eq!(load(&none).unwrap(), None);
    }

    #[test]
    fn mount_program_from_either_table() {
        let p = Path::new("/x");
        let c = parse(
            "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmount_program = \"/usr/bin/fuse-overlayfs\"\n",
            p,
        )
        .unwrap();
        assert_eq!(
            c.mount_program(),
            Some(&PathBuf::from("/usr/bin/fuse-overlayfs"))
        );
        let c = parse("[storage.options]\nmount_program = \"/bin/f\"\n", p).unwrap();
        assert_eq!(c.mount_program(), Some(&PathBuf::from("/bin/f")));
        let c = parse("[storage.options.overlay]\nmount_program = \"\"\n", p).unwrap();
        assert_eq!(c.mount_program(), None);
    }

    #[test]
    fn flags_beat_storage_conf_beats_defaults() {
        let defaults = StorageOptions::default();
        let conf = LoadedConf {
            path: "/etc/containers/storage.conf".into(),
            conf: StorageConf {
                driver: Some("vfs".into()),
                graphroot: Some("/var/lib/containers/storage".into()),
                runroot: Some("/run/containers/storage".into()),
                options: None,
            },
        };
        // No flags, no conf: the defaults.
        let s = resolve(&StorageFlags::default(), None, &defaults).unwrap();
        assert_eq!(s, defaults);
        assert_eq!(s.root, PathBuf::from("/var/lib/podman-rs"));
        // storage.conf: its paths + podman-rs, its driver.
        let s = resolve(&StorageFlags::default(), Some(&conf), &defaults).unwrap();
        assert_eq!(
            s.root,
            PathBuf::from("/var/lib/containers/storage/podman-rs")
        );
        assert_eq!(
            s.runroot,
            PathBuf::from("/run/containers/storage/podman-rs")
        );
        assert_eq!(s.driver, "vfs");
        // Flags win, used as given.
        let flags = StorageFlags {
            root: Some("/r".into()),
            runroot: None,
            driver: Some("overlay".into()),
        };
        let s = resolve(&flags, Some(&conf), &defaults).unwrap();
        assert_eq!(s.root, PathBuf::from("/r"));
        assert_eq!(
            s.runroot,
            PathBuf::from("/run/containers/storage/podman-rs")
        );
        assert_eq!(s.driver, "overlay");
        // A conf with only a driver keeps the default paths.
        let only_driver = LoadedConf {
            path: "/x.conf".into(),
            conf: StorageConf {
                driver: Some("overlay".into()),
                ..StorageConf::default()
            },
        };
        let s = resolve(&StorageFlags::default(), Some(&only_driver), &defaults).unwrap();
        assert_eq!(
            (s.root, s.runroot),
            (defaults.root.clone(), defaults.runroot.clone())
        );
    }

    #[test]
    fn rootless_defaults_and_flags() {
        let env = crate::rootless::RootlessEnv {
            euid: 1000,
            home: Some("/home/u".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            ..Default::default()
        };
        let paths = crate::rootless::paths_for(&env, 1000).unwrap();
        let d = rootless_defaults(&paths);
        let s = resolve(&StorageFlags::default(), None, &d).unwrap();
        assert_eq!(s.root, PathBuf::from("/home/u/.local/share/podman-rs"));
        assert_eq!(s.runroot, PathBuf::from("/run/user/1000/podman-rs"));
        // The flags still win.
        let flags = StorageFlags {
            root: Some("/r".into()),
            runroot: Some("/rr".into()),
            driver: None,
        };
        let s = resolve(&flags, None, &d).unwrap();
        assert_eq!(
            (s.root, s.runroot),
            (PathBuf::from("/r"), PathBuf::from("/rr"))
        );
    }

    #[test]
    fn other_drivers_are_refused_naming_the_file() {
        let conf = LoadedConf {
            path: "/x/storage.conf".into(),
            conf: StorageConf {
                driver: Some("btrfs".into()),
                ..StorageConf::default()
            },
        };
        let e = resolve(
            &StorageFlags::default(),
            Some(&conf),
            &StorageOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported storage driver \"btrfs\" (from /x/storage.conf): podman-rs supports \"overlay\" and \"vfs\""
        );
        // The flag overrides a bad driver in the file.
        let flags = StorageFlags {
            driver: Some("vfs".into()),
            ..StorageFlags::default()
        };
        assert!(resolve(&flags, Some(&conf), &StorageOptions::default()).is_ok());
    }
}
