//! `podman-rs import [flags] PATH|URL|- [REFERENCE]` (and `image import`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use podman_rs_engine::interface::{ImageEngine, ImportOptions, LocalEngine, StorageOptions};

use super::{fail, Spool};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Set the architecture of the imported image
    #[arg(long)]
    arch: Option<String>,
    /// Apply the following possible instructions to the created image: CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    message: Option<String>,
    /// Set the OS of the imported image
    #[arg(long)]
    os: Option<String>,
    /// Suppress output
    #[arg(short, long)]
    quiet: bool,
    /// Set the variant of the imported image
    #[arg(long)]
    variant: Option<String>,
    /// The tarball (plain, gzip or zstd): a file, an http(s) URL, or - for stdin
    #[arg(value_name = "PATH")]
    path: String,
    /// Name the image (default: no name)
    reference: Option<String>,
}

/// `podman-rs import PATH [REFERENCE]`: progress on stderr (unless `-q`),
/// `sha256:<id>` on stdout; for a URL, `Downloading from "URL"` on stdout
/// first (even with `-q`, as Podman).
pub fn import(a: ImportArgs, storage: &StorageOptions) -> ExitCode {
    match run(a, storage) {
        Ok(id) => {
            println!("sha256:{id}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{e:#}")),
    }
}

fn run(a: ImportArgs, storage: &StorageOptions) -> Result<String> {
    let mut spool = None;
    let source = if a.path == "-" {
        // As Podman: stdin goes to a temporary file first (whose time
        // becomes the image's creation time).
        let s = Spool::new("import")?;
        let mut f = std::fs::File::create(s.file()).context("spooling stdin")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut f).context("reading stdin")?;
        f.sync_all().context("spooling stdin")?;
        let path = s.file().display().to_string();
        spool = Some(s);
        path
    } else {
        if a.path.starts_with("http://") || a.path.starts_with("https://") {
            println!("Downloading from {:?}", a.path);
        }
        a.path
    };
    let engine = LocalEngine::open(storage.clone())?;
    let id = engine.import(&ImportOptions {
        source,
        reference: a.reference,
        changes: a.changes,
        message: a.message,
        os: a.os,
        arch: a.arch,
        variant: a.variant,
        quiet: a.quiet,
    })?;
    drop(spool);
    Ok(id)
}
