//! `podman-rs login | logout`: registry credentials in the auth file, through
//! the engine interface ([`podman_rs_engine::interface::ImageEngine`]).

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use podman_rs_engine::auth::AuthError;
use podman_rs_engine::interface::{
    EngineError, ImageEngine, LoginOptions, LogoutOptions, StorageOptions,
};

use crate::image::{fail, open};

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username for registry
    #[arg(short, long)]
    username: Option<String>,
    /// Password for registry
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Use certificates at the specified path to access the registry
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Path of the authentication file
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Return the current login user for the registry
    #[arg(long)]
    get_login: bool,
    /// Write more detailed information to stdout
    #[arg(short, long)]
    verbose: bool,
    /// The registry (host[:port][/namespace]; default: the first
    /// unqualified-search registry of registries.conf)
    registry: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Path of the authentication file
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Remove the cached credentials for all registries in the auth file
    #[arg(short, long)]
    all: bool,
    /// The registry (default: the first unqualified-search registry)
    registry: Option<String>,
}

/// One line from stdin after `prompt` (on stdout, as Podman), without the
/// line end; `what` names it in errors.
fn prompt_line(prompt: &str, what: &str) -> Result<String> {
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .with_context(|| format!("getting username and password: reading {what}"))?;
    if n == 0 {
        bail!("getting username and password: reading {what}: EOF");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// The password typed on the terminal without echo (Podman's
/// `term.ReadPassword`, which fails when stdin is not a terminal).
fn prompt_password() -> Result<String> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    print!("Password: ");
    let _ = std::io::stdout().flush();
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(|e| {
        // Go's wording for ENOTTY.
        let why = if e == nix::errno::Errno::ENOTTY {
            "inappropriate ioctl for device".to_string()
        } else {
            e.desc().to_lowercase()
        };
        anyhow::anyhow!("getting username and password: reading password: {why}")
    })?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ICANON);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .context("getting username and password: reading password")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    println!();
    read.context("getting username and password: reading password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// User and password from the flags, stdin or prompts (c/common's
/// `getUserAndPass`).
fn credentials(a: &LoginArgs) -> Result<(String, String)> {
    let mut password = a.password.clone().unwrap_or_default();
    if a.password_stdin {
        if !password.is_empty() {
            bail!("Can't specify both --password-stdin and --password");
        }
        if a.username.as_deref().unwrap_or_default().is_empty() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut all = String::new();
        std::io::stdin()
            .read_to_string(&mut all)
            .context("reading password from stdin")?;
        password = all.strip_suffix('\n').unwrap_or(&all).to_string();
    }
    let username = match a.username.clone().filter(|u| !u.is_empty()) {
        Some(u) => u,
        None => prompt_line("Username: ", "username")?,
    };
    if username.is_empty() {
        bail!("username can't be empty");
    }
    if password.is_empty() && !a.password_stdin {
        password = prompt_password()?;
    }
    if password.is_empty() {
        bail!("password can't be empty");
    }
    Ok((username, password))
}

/// `podman-rs login [-u USER] [-p PASS | --password-stdin] REGISTRY`:
/// "Login Succeeded!" once the registry accepted the credentials and they
/// are stored in the auth file.
pub fn login(a: LoginArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    if a.get_login {
        return match engine.get_login(
            a.registry.as_deref().unwrap_or_default(),
            a.authfile.as_deref(),
        ) {
            Ok(user) => {
                println!("{user}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    if a.verbose {
        let file = podman_rs_engine::auth::auth_file(a.authfile.as_deref());
        println!("Used: {}", file.display());
    }
    let registry = match engine.auth_key(a.registry.as_deref().unwrap_or_default()) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut opts = LoginOptions {
        registry,
        username: String::new(),
        password: String::new(),
        authfile: a.authfile.clone(),
        tls_verify: a.tls_verify,
        cert_dir: a.cert_dir.clone(),
    };
    // Without -u/-p, valid stored credentials are enough (c/common).
    let no_flags = a.username.is_none() && a.password.is_none() && !a.password_stdin;
    if no_flags
        && engine
            .get_login(&opts.registry, a.authfile.as_deref())
            .is_ok()
    {
        println!(
            "Authenticating with existing credentials for {}",
            opts.registry
        );
        match engine.login(&opts) {
            Ok(key) => {
                println!("Existing credentials are valid. Already logged in to {key}");
                return ExitCode::SUCCESS;
            }
            Err(EngineError::Auth(e)) if matches!(*e, AuthError::InvalidCredentials(_)) => {
                println!(
                    "Existing credentials are invalid, please enter valid username and password"
                );
            }
            Err(e) => return fail(e),
        }
    }
    let (username, password) = match credentials(&a) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    opts.username = username;
    opts.password = password;
    match engine.login(&opts) {
        Ok(_) => {
            println!("Login Succeeded!");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `podman-rs logout [-a] [REGISTRY]`
pub fn logout(a: LogoutArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let opts = LogoutOptions {
        registry: a.registry.unwrap_or_default(),
        all: a.all,
        authfile: a.authfile,
    };
    match engine.logout(&opts) {
        Ok(Some(key)) => {
            println!("Removed login credentials for {key}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("Removed login credentials for all registries");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `podman-rs system VERB`
#[derive(Args, Debug)]
pub struct SystemCli {
    #[command(subcommand)]
    pub verb: SystemVerb,
}

#[derive(clap::Subcommand, Debug)]
pub enum SystemVerb {
    /// Migrate containers: stop them and reset the rootless pause process
    Migrate(MigrateArgs),
}

#[derive(Args, Debug)]
pub struct MigrateArgs {}

/// `podman-rs unshare`
#[derive(Args, Debug)]
pub struct UnshareArgs {
    /// The command to run (default: $SHELL) and its arguments
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<std::ffi::OsString>,
}

/// `podman-rs system VERB`
pub fn main(cli: SystemCli, storage: &StorageOptions) -> ExitCode {
    match cli.verb {
        SystemVerb::Migrate(_) => migrate(storage),
    }
}

/// `podman-rs system migrate`: stops the running containers (`stopped ID`
/// each), then, rootless, removes the pause pid file and kills the pause
/// process so that the next command builds a namespace from the current
/// /etc/subuid and /etc/subgid. Runs inside the namespace only if a pause
/// process already exists; never creates one.
pub fn migrate(storage: &StorageOptions) -> ExitCode {
    use podman_rs_engine::container::{ContainerEngine, ListOptions};
    let mut code = ExitCode::SUCCESS;
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.container_list(&ListOptions::default()) {
        Ok(running) => {
            for c in running {
                match engine.container_stop(&c.id, None) {
                    Ok(_) => println!("stopped {}", c.id),
                    Err(e) => {
                        eprintln!("Error: stopping container {}: {e}", c.id);
                        code = ExitCode::from(e.exit_code());
                    }
                }
            }
        }
        Err(e) => {
            eprintln!("Error: {e}");
            code = ExitCode::from(e.exit_code());
        }
    }
    drop(engine);
    match podman_rs_engine::rootless::current_paths() {
        Ok(Some(paths)) => {
            if let Err(e) = podman_rs_namespaces::pause::stop_pause_process(&paths.pause_pid_file) {
                eprintln!("Error: {e}");
                return ExitCode::from(crate::EXIT_ENGINE);
            }
        }
        Ok(None) => {}
        Err(e) => return fail(e),
    }
    code
}

/// Go's lower-case strerror text for `e` (what Podman shows after `fork/exec`).
fn os_error_text(e: &std::io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// An executable file named `name` in `$PATH` (as Go's exec.LookPath).
fn look_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".").join(name)
            } else {
                d.join(name)
            }
        })
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// `podman-rs unshare [COMMAND...]`: runs COMMAND (default `$SHELL`) in the
/// rootless user namespace (joined in `main`) and exits with its status
/// (255 when killed by a signal, 127 not found, 126 not runnable).
pub fn unshare(a: UnshareArgs, storage: &StorageOptions) -> ExitCode {
    if !podman_rs_engine::rootless::is_rootless() {
        eprintln!("Error: please use unshare with rootless");
        return ExitCode::from(crate::EXIT_ENGINE);
    }
    let mut argv = a.command;
    if argv.is_empty() {
        match std::env::var_os("SHELL").filter(|s| !s.is_empty()) {
            Some(shell) => argv.push(shell),
            None => {
                eprintln!("Error: no command specified and no $SHELL specified");
                return ExitCode::from(crate::EXIT_ENGINE);
            }
        }
    }
    let name = &argv[0];
    let program = if name.as_encoded_bytes().contains(&b'/') {
        PathBuf::from(name)
    } else {
        match look_path(name) {
            Some(p) => p,
            None => {
                eprintln!(
                    "Error: exec: \"{}\": executable file not found in $PATH",
                    name.to_string_lossy()
                );
                return ExitCode::from(127);
            }
        }
    };
    let status = std::process::Command::new(&program)
        .args(&argv[1..])
        .env(podman_rs_engine::rootless::USERNS_CONFIGURED_ENV, "done")
        .env("CONTAINERS_GRAPHROOT", &storage.root)
        .env("CONTAINERS_RUNROOT", &storage.runroot)
        .status();
    match status {
        Ok(st) => ExitCode::from(st.code().map(|c| c as u8).unwrap_or(255)),
        Err(e) => {
            eprintln!(
                "Error: fork/exec {}: {}",
                program.display(),
                os_error_text(&e)
            );
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            ExitCode::from(code)
        }
    }
}
