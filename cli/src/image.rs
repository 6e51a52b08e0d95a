//! `podman-rs pull | push | images | image … (prune too) | tag | untag | rmi | save |
//! load | history`: the image verbs,
//! one function each, all through the engine interface
//! ([`podman_rs_engine::interface::ImageEngine`]).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use podman_rs_engine::interface::{
    ArchiveFormat, EngineError, HistoryLayer, ImageEngine, ImageSummary, ListOptions, LoadOptions,
    LocalEngine, PruneOptions, PullOptions, PushOptions, SaveOptions, StorageOptions,
};
use serde_json::Value;

use crate::format::{render, table, to_json_indent};
use crate::EXIT_ENGINE;

mod import;
pub use import::{import, ImportArgs};

/// `podman-rs image …`
#[derive(Args, Debug)]
pub struct ImageCli {
    #[command(subcommand)]
    verb: ImageVerb,
}

#[derive(Subcommand, Debug)]
enum ImageVerb {
    /// List images in local storage
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display the configuration of an image
    Inspect(InspectArgs),
    /// Check if an image exists in local storage
    Exists { image: String },
    /// Pull an image from a registry
    Pull(PullArgs),
    /// Add an additional name to a local image
    Tag(TagArgs),
    /// Remove a name from a local image
    Untag(UntagArgs),
    /// Remove one or more images from local storage
    Rm(RmiArgs),
    /// Push an image to a specified destination
    Push(PushArgs),
    /// Save image(s) to an archive
    Save(SaveArgs),
    /// Load image(s) from a tar archive
    Load(LoadArgs),
    /// Show history of a specified image
    History(HistoryArgs),
    /// Import a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove unused images
    Prune(PruneArgs),
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Change the output to JSON or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Display sizes and dates in human readable format
    #[arg(short = 'H', long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    human: bool,
    /// Do not truncate the output
    #[arg(long)]
    no_trunc: bool,
    /// Display the numeric IDs only
    #[arg(short, long)]
    quiet: bool,
    image: String,
}

#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a specified file (default: stdout, which must be redirected)
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive
    #[arg(long, default_value = "docker-archive")]
    format: String,
    /// Suppress the output
    #[arg(short, long)]
    quiet: bool,
    /// Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)
    #[arg(short, long)]
    multi_image_archive: bool,
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from specified archive file (default: stdin)
    #[arg(short, long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Suppress the output
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct PushArgs {
    /// The local image
    image: String,
    /// Where to push it: docker://HOST/REPO[:TAG] or HOST/REPO[:TAG] (default: IMAGE)
    destination: Option<String>,
    /// Don't output progress information when pushing images
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Path to a directory containing TLS certificates and keys
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Credentials (USERNAME:PASSWORD) to use for authenticating to a registry
    #[arg(long, value_name = "USER:PASS")]
    creds: Option<String>,
    /// Path of the authentication file (default: ${XDG_RUNTIME_DIR}/containers/auth.json)
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Image reference
    name: String,
    /// Suppress output information when pulling images
    #[arg(short, long)]
    quiet: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tls_verify: Option<bool>,
    /// Directory with certificates (*.crt) for the registry
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
    /// Credentials (USERNAME:PASSWORD) to use for authenticating to a registry
    #[arg(long, value_name = "USER:PASS")]
    creds: Option<String>,
    /// Path of the authentication file (default: ${XDG_RUNTIME_DIR}/containers/auth.json)
    #[arg(long, value_name = "FILE")]
    authfile: Option<PathBuf>,
    /// Specify the platform for selecting the image (OS/ARCH[/VARIANT])
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Use ARCH instead of the architecture of the machine
    #[arg(long)]
    arch: Option<String>,
    /// Use OS instead of the running OS
    #[arg(long)]
    os: Option<String>,
    /// Use VARIANT instead of the running architecture variant
    #[arg(long)]
    variant: Option<String>,
    /// Pull all tagged images in the repository
    #[arg(short, long)]
    all_tags: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Display only image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Change the output format to JSON or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Show no column headings
    #[arg(short, long)]
    noheading: bool,
    /// Filter output based on conditions provided (default [])
    #[arg(short, long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Sort by created, id, repository, size, tag
    #[arg(long)]
    sort: Option<String>,
    /// List only images matching this reference (a `reference=` filter)
    image: Option<String>,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all images not in use by containers, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Remove images even when they are used by external containers (e.g., by build containers)
    #[arg(long)]
    external: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format the output using the given Go template
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    image: String,
    #[arg(required = true)]
    names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UntagArgs {
    image: String,
    names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image (and of all its names)
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

/// Prints `Error: …` and returns Podman's 125.
pub(crate) fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("Error: {e}");
    ExitCode::from(EXIT_ENGINE)
}

/// Opens the engine on the global storage options; on error, Podman's 125.
pub(crate) fn open(storage: &StorageOptions) -> Result<LocalEngine, ExitCode> {
    LocalEngine::open(storage.clone()).map_err(fail)
}

/// `podman-rs image VERB`
pub fn main(cli: ImageCli, storage: &StorageOptions) -> ExitCode {
    match cli.verb {
        ImageVerb::Ls(a) => list(a, storage),
        ImageVerb::Inspect(a) => inspect(a, storage),
        ImageVerb::Exists { image } => exists(&image, storage),
        ImageVerb::Pull(a) => pull(a, storage),
        ImageVerb::Tag(a) => tag(a, storage),
        ImageVerb::Untag(a) => untag(a, storage),
        ImageVerb::Rm(a) => rmi(a, storage),
        ImageVerb::Push(a) => push(a, storage),
        ImageVerb::Save(a) => save(a, storage),
        ImageVerb::Load(a) => load(a, storage),
        ImageVerb::History(a) => history(a, storage),
        ImageVerb::Import(a) => import(a, storage),
        ImageVerb::Prune(a) => prune(a, storage),
    }
}

/// `--creds USER:PASS`
fn parse_creds(creds: Option<&str>) -> Result<Option<(String, String)>> {
    let Some(c) = creds else {
        return Ok(None);
    };
    let (u, p) = c
        .split_once(':')
        .ok_or_else(|| anyhow!("--creds {c:?}: expected USERNAME:PASSWORD"))?;
    if u.is_empty() {
        bail!("--creds: username can't be empty");
    }
    Ok(Some((u.to_string(), p.to_string())))
}

fn pull_options(a: &PullArgs) -> Result<PullOptions> {
    let creds = parse_creds(a.creds.as_deref())?;
    let (mut os, mut arch, mut variant) = (a.os.clone(), a.arch.clone(), a.variant.clone());
    if let Some(p) = &a.platform {
        if a.os.is_some() || a.arch.is_some() {
            bail!("--platform option can not be specified with --arch or --os");
        }
        let parts: Vec<&str> = p.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
            bail!("invalid platform syntax for --platform={p:?}: use OS/ARCH[/VARIANT]");
        }
        os = Some(parts[0].to_string());
        arch = Some(parts[1].to_string());
        variant = parts.get(2).map(|v| v.to_string()).or(variant);
    }
    Ok(PullOptions {
        name: a.name.clone(),
        all_tags: a.all_tags,
        tls_verify: a.tls_verify,
        cert_dir: a.cert_dir.clone(),
        creds,
        authfile: a.authfile.clone(),
        os,
        arch,
        variant,
        quiet: a.quiet,
    })
}

/// `podman-rs pull NAME`: progress on stderr, the image ID on stdout.
pub fn pull(a: PullArgs, storage: &StorageOptions) -> ExitCode {
    let opts = match pull_options(&a) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.pull(&opts) {
        Ok(images) => {
            for i in images {
                println!("{}", i.id);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// One row of `podman images` (Podman's `imageReporter`).
struct Row {
    repository: String,
    tag: String,
    digest: String,
    summary: ImageSummary,
}

/// Podman's `sortImages` rows: one per tagged name; an image whose names
/// are all untagged (`repo@digest`) gets one row for the first of them, an
/// image without names one `<none>` row.
fn rows(images: &[ImageSummary]) -> Vec<Row> {
    let mut out = Vec::new();
    for img in images {
        let (mut tagged, mut untagged) = (Vec::new(), Vec::new());
        for n in &img.names {
            let (repository, tag) = split_repo_tag(n);
            if tag == "<none>" {
                untagged.push((repository, tag));
            } else {
                tagged.push((repository, tag));
            }
        }
        let pairs = if !tagged.is_empty() {
            tagged
        } else {
            untagged.truncate(1);
            untagged
        };
        let pairs = if pairs.is_empty() {
            vec![("<none>".to_string(), "<none>".to_string())]
        } else {
            pairs
        };
        for (repository, tag) in pairs {
            out.push(Row {
                repository,
                tag,
                digest: img.digest.clone(),
                summary: img.clone(),
            });
        }
    }
    out
}

/// `reg/repo:tag` → (`reg/repo`, `tag`); `reg/repo@sha256:…` or no tag →
/// (`reg/repo`, `<none>`).
fn split_repo_tag(name: &str) -> (String, String) {
    if let Some((repository, _)) = name.split_once('@') {
        return (repository.to_string(), "<none>".to_string());
    }
    match name.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
        Some((r, t)) => (r.to_string(), t.to_string()),
        None => (name.to_string(), "<none>".to_string()),
    }
}

/// go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (minutes, hours) = (s / 60, s / 3600);
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units, `%.3g`.
pub fn human_size(size: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{} {}", format_g3(v), UNITS[i])
}

/// C's `%.3g` for 0 <= v < 1000.
fn format_g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    // Rounding may carry into a new digit (999.5 → "1000"): fine for sizes.
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    s
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        format!("sha256:{id}")
    } else {
        id.chars().take(12).collect()
    }
}

/// The fields of a `podman images --format` template for one row.
fn row_value(r: &Row, no_trunc: bool) -> Value {
    let s = &r.summary;
    let since = human_duration(now() - s.created) + " ago";
    // Go's time.Time String() (in UTC).
    let created_at = chrono::DateTime::from_timestamp(s.created, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default();
    serde_json::json!({
        "Repository": r.repository,
        "Tag": r.tag,
        "ID": short_id(&s.id, no_trunc),
        "Id": s.id,
        "Digest": r.digest,
        "Created": since,
        "CreatedSince": since,
        "CreatedAt": created_at,
        "CreatedTime": created_at,
        "Size": human_size(s.size),
        "VirtualSize": human_size(s.virtual_size),
        "SharedSize": human_size(s.shared_size),
        "Containers": s.containers,
        "Names": s.names,
        "History": s.history.join(", "),
        "Labels": s.labels,
        "Dangling": s.names.is_empty(),
        "ReadOnly": false,
        "IsReadOnly": false,
    })
}

/// `table {{.X}}\t{{.Y}}` headers, as Podman names them.
fn header_for(field: &str) -> String {
    match field {
        "ID" | "Id" => "IMAGE ID".into(),
        "CreatedSince" | "Created" => "CREATED".into(),
        "CreatedAt" | "CreatedTime" => "CREATED AT".into(),
        "VirtualSize" => "VIRTUAL SIZE".into(),
        "SharedSize" => "SHARED SIZE".into(),
        "ReadOnly" | "IsReadOnly" => "R/O".into(),
        other => other.to_uppercase(),
    }
}

/// `--sort` keys, in one of the orders Podman lists them.
const SORT_FIELDS: &[&str] = &["created", "id", "repository", "size", "tag"];

/// Sorts rows as Podman's `sortFunc` (created: newest first; the others
/// ascending), keeping the engine's order among equals.
fn sort_rows(rows: &mut [Row], key: &str) {
    match key {
        "id" => rows.sort_by(|a, b| a.summary.id.cmp(&b.summary.id)),
        "repository" => rows.sort_by(|a, b| a.repository.cmp(&b.repository)),
        "size" => rows.sort_by_key(|r| r.summary.size),
        "tag" => rows.sort_by(|a, b| a.tag.cmp(&b.tag)),
        _ => rows.sort_by_key(|r| std::cmp::Reverse(r.summary.created)),
    }
}

/// `podman-rs images [--filter K=V]… [--sort KEY] [REFERENCE]`
pub fn list(a: ListArgs, storage: &StorageOptions) -> ExitCode {
    if a.image.is_some() && !a.filter.is_empty() {
        return fail("cannot specify an image and a filter(s)");
    }
    if let Some(s) = a.sort.as_deref().filter(|s| !SORT_FIELDS.contains(s)) {
        return fail(format!(
            "{s:?} is not a valid field for sorting. Choose from: {}",
            SORT_FIELDS.join(", ")
        ));
    }
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut filters = a.filter.clone();
    if let Some(i) = &a.image {
        filters.push(format!("reference={i}"));
    }
    let images = match engine.list(&ListOptions {
        all: a.all,
        filters,
    }) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    match list_output(&a, &images) {
        Ok(s) => {
            crate::format::emit(&s);
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn list_output(a: &ListArgs, images: &[ImageSummary]) -> Result<String> {
    // Podman sorts containers-storage's list (oldest stored first) and
    // keeps that order among equals (Go's sort of short slices is stable).
    let oldest_first: Vec<ImageSummary> = images.iter().rev().cloned().collect();
    let mut rows = rows(&oldest_first);
    sort_rows(&mut rows, a.sort.as_deref().unwrap_or("created"));
    // The images in the order of their first row.
    let mut sorted: Vec<&ImageSummary> = Vec::new();
    for r in &rows {
        if !sorted.iter().any(|i| i.id == r.summary.id) {
            sorted.push(&r.summary);
        }
    }
    if a.quiet {
        return Ok(sorted
            .iter()
            .map(|i| format!("{}\n", short_id(&i.id, a.no_trunc)))
            .collect());
    }
    match a.format.as_deref() {
        Some("json") => Ok(to_json_indent(&sorted, "    ")? + "\n"),
        Some(f) if !f.starts_with("table") => {
            let mut out = String::new();
            for r in &rows {
                out.push_str(&render(f, &row_value(r, a.no_trunc))?);
            }
            Ok(out)
        }
        Some(f) => {
            // "table {{.A}}\t{{.B}}": a header row, then tab-separated cells.
            let body = f.trim_start_matches("table").trim_start();
            let fields: Vec<String> = body
                .split("{{")
                .skip(1)
                .filter_map(|p| p.split("}}").next())
                .map(|p| p.trim().trim_start_matches('.').to_string())
                .collect();
            let mut table_rows = Vec::new();
            if !a.noheading {
                table_rows.push(fields.iter().map(|f| header_for(f)).collect());
            }
            for r in &rows {
                let line = render(body, &row_value(r, a.no_trunc))?;
                table_rows.push(
                    line.trim_end_matches('\n')
                        .split('\t')
                        .map(str::to_string)
                        .collect(),
                );
            }
            Ok(table(&table_rows))
        }
        None => {
            let mut header = vec!["REPOSITORY".to_string(), "TAG".into()];
            if a.digests {
                header.push("DIGEST".into());
            }
            header.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
            let mut table_rows = Vec::new();
            if !a.noheading {
                table_rows.push(header);
            }
            for r in &rows {
                let v = row_value(r, a.no_trunc);
                let mut cells = vec![r.repository.clone(), r.tag.clone()];
                if a.digests {
                    cells.push(r.digest.clone());
                }
                for k in ["ID", "Created", "Size"] {
                    cells.push(v[k].as_str().unwrap_or_default().to_string());
                }
                table_rows.push(cells);
            }
            Ok(table(&table_rows))
        }
    }
}

/// `podman-rs image inspect NAME…`: a JSON array (Podman's 5-space indent)
/// or one rendered template per image; missing images make it fail (125).
pub fn inspect(a: InspectArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut found = Vec::new();
    let mut errors: Vec<EngineError> = Vec::new();
    for r in engine.inspect(&a.images) {
        match r {
            Ok(i) => found.push(i),
            Err(e) => errors.push(e),
        }
    }
    let out = match a.format.as_deref() {
        None | Some("json") => to_json_indent(&found, "     ").map(|s| s + "\n"),
        Some(f) => found
            .iter()
            .map(|i| render(f, &serde_json::to_value(i).unwrap_or(Value::Null)))
            .collect::<Result<String>>(),
    };
    match out {
        Ok(s) => crate::format::emit(&s),
        Err(e) => return fail(e),
    }
    if let Some((last, rest)) = errors.split_last() {
        for e in rest {
            eprintln!("Error: inspecting object: {e}");
        }
        return fail(format!("inspecting object: {last}"));
    }
    ExitCode::SUCCESS
}

/// `podman-rs image exists NAME`: exit 0 if present, 1 if not.
pub fn exists(image: &str, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.exists(image) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => fail(e),
    }
}

/// `podman-rs tag IMAGE NAME…`
pub fn tag(a: TagArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.tag(&a.image, &a.names) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `podman-rs untag IMAGE [NAME…]` (no name: all of them)
pub fn untag(a: UntagArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.untag(&a.image, &a.names) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `podman-rs rmi [-f] IMAGE…`: "Untagged:"/"Deleted:" lines; exit 1 when
/// an image is not known, 125 for other errors (as Podman).
pub fn rmi(a: RmiArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let report = engine.remove(&a.images, a.force);
    for u in &report.untagged {
        println!("Untagged: {u}");
    }
    for d in &report.deleted {
        println!("Deleted: {d}");
    }
    let Some((last, rest)) = report.errors.split_last() else {
        return ExitCode::SUCCESS;
    };
    for e in rest {
        eprintln!("Error: {e}");
    }
    eprintln!("Error: {last}");
    if report.errors.iter().all(EngineError::is_not_known) {
        ExitCode::from(1)
    } else if matches!(last, EngineError::ImageInUse(_)) {
        ExitCode::from(2)
    } else {
        ExitCode::from(EXIT_ENGINE)
    }
}

/// `podman-rs image prune [-a] [-f] [--filter K=V]…`: without `-f`, asks
/// on stdout and reads the answer from stdin (whether or not it is a
/// terminal, as Podman: no answer at all is "Error: EOF"); prints the ID of
/// each image removed.
pub fn prune(a: PruneArgs, storage: &StorageOptions) -> ExitCode {
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated with them"
        } else {
            "all dangling images"
        };
        print!("WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        match std::io::stdin().read_line(&mut answer) {
            Ok(_) if answer.ends_with('\n') => {}
            Ok(_) => return fail("EOF"),
            Err(e) => return fail(e),
        }
        if !answer.to_lowercase().starts_with('y') {
            return ExitCode::SUCCESS;
        }
    }
    if let Some(f) = a.filter.iter().find(|f| !f.contains('=')) {
        return fail(format!(
            "filter input must be in the form of filter=value: {f} is invalid"
        ));
    }
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match engine.prune(&PruneOptions {
        all: a.all,
        filters: a.filter,
        external: a.external,
    }) {
        Ok(ids) => {
            for id in ids {
                println!("{id}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// `podman-rs push IMAGE [DESTINATION]`: progress on stderr, nothing on
/// stdout.
pub fn push(a: PushArgs, storage: &StorageOptions) -> ExitCode {
    let creds = match parse_creds(a.creds.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let opts = PushOptions {
        source: a.image,
        destination: a.destination,
        tls_verify: a.tls_verify,
        cert_dir: a.cert_dir,
        creds,
        authfile: a.authfile,
        quiet: a.quiet,
    };
    match engine.push(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// A private directory for a spooled archive (Podman uses a pipe or a
/// temporary file under /var/tmp too); removed on drop.
struct Spool(PathBuf);

impl Spool {
    fn new(what: &str) -> Result<Spool> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp"));
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let dir = base.join(format!("podman-rs-{what}-{}-{nanos}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Spool(dir))
    }

    fn file(&self) -> PathBuf {
        self.0.join("archive")
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `podman-rs save [-o FILE] [--format F] IMAGE…`; without `-o` the archive
/// goes to stdout, which must not be a terminal.
pub fn save(a: SaveArgs, storage: &StorageOptions) -> ExitCode {
    let format = match a.format.as_str() {
        "docker-dir" => return fail("--format docker-dir is not supported yet"),
        f => match f.parse::<ArchiveFormat>() {
            Ok(f) => f,
            Err(_) => {
                return fail(
                    "format value must be one of oci-dir oci-archive docker-dir docker-archive",
                )
            }
        },
    };
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return fail("refusing to save to terminal. Use -o flag or redirect");
    }
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    match save_to(&engine, a, format) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn save_to(engine: &LocalEngine, a: SaveArgs, format: ArchiveFormat) -> Result<()> {
    let Some(output) = a.output else {
        if format == ArchiveFormat::OciDir {
            bail!("oci-dir needs a directory: use -o");
        }
        let spool = Spool::new("save")?;
        let opts = SaveOptions {
            images: a.images,
            format,
            output: spool.file(),
            multi_image_archive: a.multi_image_archive,
            quiet: true,
        };
        engine.save(&opts)?;
        let mut f = std::fs::File::open(spool.file()).context("reading the archive")?;
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut f, &mut out).context("writing the archive to stdout")?;
        out.flush().context("writing the archive to stdout")?;
        return Ok(());
    };
    let opts = SaveOptions {
        images: a.images,
        format,
        output,
        multi_image_archive: a.multi_image_archive,
        quiet: a.quiet,
    };
    engine.save(&opts)?;
    Ok(())
}

/// `podman-rs load [-i FILE]`: reads stdin (not a terminal) without `-i`;
/// prints `Loaded image: NAME` (or `sha256:ID`) per image.
pub fn load(a: LoadArgs, storage: &StorageOptions) -> ExitCode {
    match load_from(a, storage) {
        Ok(names) => {
            println!("Loaded image: {}", names.join("\nLoaded image: "));
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("{e:#}")),
    }
}

fn load_from(a: LoadArgs, storage: &StorageOptions) -> Result<Vec<String>> {
    let mut spool = None;
    let input = match a.input {
        Some(i) => {
            stat(&i)?;
            i
        }
        None => {
            if std::io::stdin().is_terminal() {
                bail!(
                    "cannot read from terminal, use command-line redirection or the --input flag"
                );
            }
            let s = Spool::new("load")?;
            let mut f = std::fs::File::create(s.file()).context("spooling stdin")?;
            std::io::copy(&mut std::io::stdin().lock(), &mut f).context("reading stdin")?;
            let path = s.file();
            spool = Some(s);
            path
        }
    };
    let engine = LocalEngine::open(storage.clone())?;
    let names = engine.load(&LoadOptions {
        input,
        quiet: a.quiet,
    })?;
    drop(spool);
    Ok(names)
}

/// Go's `os.Stat` error text.
fn stat(p: &Path) -> Result<()> {
    match std::fs::metadata(p) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("stat {}: no such file or directory", p.display())
        }
        Err(e) => bail!("stat {}: {e}", p.display()),
    }
}

/// The fields of a `podman history --format` template for one entry
/// (Podman's `historyReporter`).
fn history_value(h: &HistoryLayer, a: &HistoryArgs) -> Value {
    let id = if a.no_trunc || h.id.len() <= 12 {
        h.id.clone()
    } else {
        h.id.chars().take(12).collect()
    };
    let created_by = h.created_by.replace('\t', " ");
    let created_by = if !a.no_trunc && created_by.len() > 45 {
        let mut end = 42;
        while !created_by.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &created_by[..end])
    } else {
        created_by
    };
    let time = chrono::DateTime::from_timestamp(h.created, 0).unwrap_or_default();
    let (created, size) = if a.human {
        (
            human_duration(now() - h.created) + " ago",
            human_size(h.size),
        )
    } else {
        (
            time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            h.size.to_string(),
        )
    };
    serde_json::json!({
        "ID": id,
        "Created": created,
        "CreatedAt": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "CreatedSince": human_duration(now() - h.created) + " ago",
        "CreatedBy": created_by,
        "Size": size,
        "Comment": h.comment,
        "Tags": h.tags,
    })
}

fn history_header(field: &str) -> String {
    match field {
        "CreatedBy" => "CREATED BY".into(),
        "CreatedAt" => "CREATED AT".into(),
        "CreatedSince" => "CREATED".into(),
        other => other.to_uppercase(),
    }
}

/// `podman-rs history IMAGE`: Podman's table (ID, CREATED, CREATED BY,
/// SIZE, COMMENT), newest entry first.
pub fn history(a: HistoryArgs, storage: &StorageOptions) -> ExitCode {
    let engine = match open(storage) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let layers = match engine.history(&a.image) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    match history_output(&a, &layers) {
        Ok(s) => {
            crate::format::emit(&s);
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn history_output(a: &HistoryArgs, layers: &[HistoryLayer]) -> Result<String> {
    let values: Vec<Value> = layers.iter().map(|h| history_value(h, a)).collect();
    if a.quiet {
        return Ok(values
            .iter()
            .map(|v| format!("{}\n", v["ID"].as_str().unwrap_or_default()))
            .collect());
    }
    let format = match a.format.as_deref() {
        Some("json") => {
            return Ok(to_json_indent(&layers, "    ")? + "\n");
        }
        Some(f) if !f.starts_with("table") => {
            let mut out = String::new();
            for v in &values {
                out.push_str(&render(f, v)?);
            }
            return Ok(out);
        }
        Some(f) => f.to_string(),
        None => "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".to_string(),
    };
    let body = format.trim_start_matches("table").trim_start();
    let fields: Vec<String> = body
        .split("{{")
        .skip(1)
        .filter_map(|p| p.split("}}").next())
        .map(|p| p.trim().trim_start_matches('.').to_string())
        .collect();
    let mut rows = vec![fields.iter().map(|f| history_header(f)).collect()];
    for v in &values {
        let line = render(body, v)?;
        rows.push(
            line.trim_end_matches('\n')
                .split('\t')
                .map(str::to_string)
                .collect(),
        );
    }
    Ok(table(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_podman() {
        assert_eq!(human_size(2_128_658), "2.13 MB");
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_000), "1 kB");
        assert_eq!(human_size(12_340), "12.3 kB");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 365 * 86400), "3 years");
        assert_eq!(human_duration(10 * 86400), "10 days");
    }

    #[test]
    fn table_pads_like_podmans_tabwriter() {
        let t = table(&[
            vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()],
            vec![
                "127.0.0.1:40977/busybox".into(),
                "latest".into(),
                "2.13 MB".into(),
            ],
        ]);
        assert_eq!(
            t,
            "REPOSITORY               TAG         SIZE\n127.0.0.1:40977/busybox  latest      2.13 MB\n"
        );
    }

    #[test]
    fn go_templates_render() {
        let v = serde_json::json!({"Repository": "r", "Tag": "t", "ID": "abc", "Config": {"Cmd": ["sh"]}});
        assert_eq!(
            render("{{.Repository}}:{{.Tag}} {{.ID}}", &v).unwrap(),
            "r:t abc\n"
        );
        assert_eq!(render("{{json .Config.Cmd}}", &v).unwrap(), "[\"sh\"]\n");
    }
}
