//! Image references, parsed with the docker reference grammar exactly as
//! containers-image (`docker/reference`) and Podman 4.x accept them.
//!
//! Grammar (from `docker/reference/regexp.go`):
//!
//! ```text
//! reference       := name [ ":" tag ] [ "@" digest ]
//! name            := [domain '/'] path-component ['/' path-component]*
//! domain          := domain-component ['.' domain-component]* [':' port-number]
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number     := /[0-9]+/
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]*/
//! tag             := /[\w][\w.-]{0,127}/
//! digest          := algorithm ":" hex   (sha256: 64, sha384: 96, sha512: 128 lowercase hex)
//! ```
//!
//! Normalisation differs from Docker on purpose: a name whose first component is
//! not a registry (contains no `.` or `:` and is not `localhost`) is a *short
//! name* and keeps `registry: None`; it is resolved through registries.conf
//! (see [`super::registries`]), never silently prefixed with `docker.io`.

use std::fmt;

use thiserror::Error;

/// Maximum length of the name part (domain + path), as in docker/reference.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Maximum length of a tag.
pub const TAG_LENGTH_MAX: usize = 128;
/// Tag used when a reference has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Docker Hub's canonical domain.
pub const DOCKER_IO: &str = "docker.io";
/// Legacy Docker Hub domain, normalised to [`DOCKER_IO`].
pub const LEGACY_DOCKER_IO: &str = "index.docker.io";
/// Namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library";
/// Registry Podman uses for local-only images (`podman tag`, `podman build -t`).
pub const LOCALHOST: &str = "localhost";

/// Errors from parsing a reference. Messages follow containers-image's texts
/// (prefixed with "invalid reference format" like Podman prints them) and name
/// the offending part where containers-image only says "invalid reference format".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReferenceError {
    /// The input is empty.
    #[error("invalid reference format: repository name must have at least one component")]
    Empty,
    /// The reference would be valid if lowercased.
    #[error("invalid reference format: repository name must be lowercase")]
    Uppercase {
        /// The rejected input.
        input: String,
    },
    /// domain + path is longer than [`NAME_TOTAL_LENGTH_MAX`].
    #[error(
        "invalid reference format: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
    )]
    NameTooLong {
        /// The rejected input.
        input: String,
    },
    /// The grammar does not match; `reason` names the bad part.
    #[error("invalid reference format: {reason}")]
    InvalidFormat {
        /// The rejected input.
        input: String,
        /// Which part is wrong, e.g. `invalid tag "-x"`.
        reason: String,
    },
    /// go-digest: known algorithm, wrong number of hex digits.
    #[error("invalid checksum digest length")]
    DigestLength {
        /// The rejected digest.
        digest: String,
    },
    /// go-digest: malformed digest (e.g. uppercase hex).
    #[error("invalid checksum digest format")]
    DigestFormat {
        /// The rejected digest.
        digest: String,
    },
    /// go-digest: algorithm other than sha256/sha384/sha512.
    #[error("unsupported digest algorithm")]
    DigestUnsupported {
        /// The rejected digest.
        digest: String,
    },
    /// A bare 64-hex string is an image ID, not a name (`ParseNormalizedNamed`).
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier {
        /// The rejected input.
        input: String,
    },
}

/// A parsed, normalised image reference.
///
/// `registry` is `None` for short names. For Docker Hub, `registry` is always
/// `docker.io` and one-component repositories get the `library/` namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// Registry domain with optional port (case preserved, as Podman does).
    pub registry: Option<String>,
    /// Repository path (lowercase components separated by `/`).
    pub repository: String,
    /// Tag, if any.
    pub tag: Option<String>,
    /// Digest `algorithm:hex`, if any.
    pub digest: Option<String>,
}

/// The name/tag/digest split of a reference string, before normalisation.
struct RawParts<'a> {
    /// Domain as matched by the grammar (any first component that is a valid
    /// domain and is followed by more components).
    domain: Option<&'a str>,
    path: &'a str,
    name_len: usize,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

impl Reference {
    /// Parse a reference as `ParseNormalizedNamed` does, except that a name
    /// without a registry stays a short name (`registry: None`).
    ///
    /// No default tag is added; see [`Reference::with_default_tag`].
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if is_hex_identifier(input) {
            return Err(ReferenceError::HexIdentifier {
                input: input.to_string(),
            });
        }
        let raw = parse_raw(input)?;
        // splitDockerDomain: only a first component that looks like a host is a registry.
        let (registry, repository) = match raw.domain {
            Some(d) if is_registry_like(d) => (Some(d.to_string()), raw.path.to_string()),
            Some(d) => (None, format!("{d}/{}", raw.path)),
            None => (None, raw.path.to_string()),
        };
        if repository.to_lowercase() != repository {
            return Err(ReferenceError::Uppercase {
                input: input.to_string(),
            });
        }
        let mut reference = Reference {
            registry,
            repository,
            tag: raw.tag.map(str::to_string),
            digest: raw.digest.map(str::to_string),
        };
        reference.normalize_docker_io();
        // ParseNormalizedNamed re-parses the normalised name, so the length
        // limit also covers an added `library/`.
        if reference.name().len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: input.to_string(),
            });
        }
        Ok(reference)
    }

    /// Parse like Podman's `libimage.NormalizeName` (used by `podman tag`,
    /// `commit`, `build -t`): a short name gets the `localhost/` registry, the
    /// tag of a tagged+digested reference is dropped, and `latest` is added
    /// when there is neither tag nor digest.
    pub fn parse_local_name(input: &str) -> Result<Self, ReferenceError> {
        let raw = parse_raw(input)?;
        let registry_like = raw.domain.is_some_and(is_registry_like);
        let qualified = if registry_like {
            input.to_string()
        } else {
            format!("{LOCALHOST}/{input}")
        };
        // The length limit applies to the prefixed name, too (checked by parse).
        let mut reference = Reference::parse(&qualified)?;
        if reference.digest.is_some() {
            reference.tag = None;
        }
        Ok(reference.with_default_tag())
    }

    /// True if the reference names no registry and must be resolved through
    /// registries.conf (aliases or unqualified-search registries).
    pub fn is_short_name(&self) -> bool {
        self.registry.is_none()
    }

    /// The reference with the `latest` tag added if it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Self {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The reference with `registry` set (and Docker Hub normalisation applied).
    pub fn with_registry(&self, registry: &str) -> Self {
        let mut r = self.clone();
        r.registry = Some(registry.to_string());
        r.normalize_docker_io();
        r
    }

    /// The name without tag and digest: `[registry/]repository`.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(reg) => format!("{reg}/{}", self.repository),
            None => self.repository.clone(),
        }
    }

    /// A copy without tag and digest.
    pub fn name_only(&self) -> Self {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Docker Hub special cases: `index.docker.io` → `docker.io`,
    /// `docker.io/busybox` → `docker.io/library/busybox`.
    fn normalize_docker_io(&mut self) {
        if self.registry.as_deref() == Some(LEGACY_DOCKER_IO) {
            self.registry = Some(DOCKER_IO.to_string());
        }
        if self.registry.as_deref() == Some(DOCKER_IO) && !self.repository.contains('/') {
            self.repository = format!("{OFFICIAL_REPO_PREFIX}/{}", self.repository);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(reg) = &self.registry {
            write!(f, "{reg}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

/// `docker/reference.Parse` minus normalisation: grammar, uppercase
/// detection, name length and digest validation.
fn parse_raw(input: &str) -> Result<RawParts<'_>, ReferenceError> {
    if input.is_empty() {
        return Err(ReferenceError::Empty);
    }
    let raw = match split_grammar(input) {
        Ok(raw) => raw,
        Err(reason) => {
            let lower = input.to_lowercase();
            if split_grammar(&lower).is_ok() {
                return Err(ReferenceError::Uppercase {
                    input: input.to_string(),
                });
            }
            return Err(ReferenceError::InvalidFormat {
                input: input.to_string(),
                reason,
            });
        }
    };
    if raw.name_len > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            input: input.to_string(),
        });
    }
    if let Some(d) = raw.digest {
        validate_digest(d)?;
    }
    Ok(raw)
}

/// Match the reference grammar; on failure return a description of the bad part.
fn split_grammar(input: &str) -> Result<RawParts<'_>, String> {
    let (rest, digest) = match input.split_once('@') {
        Some((rest, d)) => {
            if !is_digest_syntax(d) {
                return Err(format!("invalid digest {d:?}"));
            }
            (rest, Some(d))
        }
        None => (input, None),
    };
    // A ':' after the last '/' separates the tag (a port is always followed by '/').
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if last_slash.is_none_or(|s| colon > s) => {
            let tag = &rest[colon + 1..];
            if !is_tag(tag) {
                return Err(format!("invalid tag {tag:?}"));
            }
            (&rest[..colon], Some(tag))
        }
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err("repository name must have at least one component".to_string());
    }
    let components: Vec<&str> = name.split('/').collect();
    let all_path = components.iter().all(|c| is_path_component(c));
    let domain = if components.len() > 1
        && is_domain(components[0])
        && components[1..].iter().all(|c| is_path_component(c))
    {
        Some(components[0])
    } else if all_path {
        None
    } else {
        // Name the first bad component for the error.
        let start = usize::from(components.len() > 1 && is_domain(components[0]));
        let bad = components[start..]
            .iter()
            .find(|c| !is_path_component(c))
            .copied()
            .unwrap_or(name);
        if bad.is_empty() {
            return Err(format!("empty path component in {name:?}"));
        }
        return Err(format!("invalid repository path component {bad:?}"));
    };
    let path = match domain {
        Some(d) => &name[d.len() + 1..],
        None => name,
    };
    Ok(RawParts {
        domain,
        path,
        name_len: name.len(),
        tag,
        digest,
    })
}

/// A first component is a registry (not a namespace) if it contains `.` or
/// `:` or is exactly `localhost` (containers-image `splitDockerDomain`).
fn is_registry_like(domain: &str) -> bool {
    domain.contains(['.', ':']) || domain == LOCALHOST
}

/// `^[a-f0-9]{64}$`: an image ID.
pub fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run between alphanumerics.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `domain-component ('.' domain-component)* (':' [0-9]+)?`
fn is_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    !host.is_empty() && host.split('.').all(is_domain_component)
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`
fn is_domain_component(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// `[\w][\w.-]{0,127}`
fn is_tag(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b.iter().all(|c| word(*c) || *c == b'.' || *c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
fn is_digest_syntax(s: &str) -> bool {
    let Some((alg, hex)) = s.split_once(':') else {
        return false;
    };
    if hex.len() < 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return false;
    }
    let mut parts = alg.split(['-', '_', '+', '.']);
    parts.all(|p| {
        let b = p.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|c| c.is_ascii_alphanumeric())
    })
}

/// go-digest validation for the algorithms Podman links in.
fn validate_digest(d: &str) -> Result<(), ReferenceError> {
    let (alg, hex) = d.split_once(':').unwrap_or((d, ""));
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceError::DigestUnsupported {
                digest: d.to_string(),
            })
        }
    };
    if hex.len() != len {
        return Err(ReferenceError::DigestLength {
            digest: d.to_string(),
        });
    }
    if !hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError::DigestFormat {
            digest: d.to_string(),
        });
    }
    Ok(())
}

/// True if `s` matches the domain grammar (host[:port]); used for
/// `unqualified-search-registries` validation.
pub(crate) fn is_valid_domain(s: &str) -> bool {
    is_domain(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn p(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }

    /// (input, canonical Display after `parse`).
    #[test]
    fn valid_references_and_canonical_forms() {
        let sha_ref = format!("quay.io/a/b@{SHA}");
        let both = format!("localhost:5000/x:v1@{SHA}");
        let cases: Vec<(&str, String)> = vec![
            ("foo", "foo".into()),
            ("foo:v1", "foo:v1".into()),
            ("foo/bar", "foo/bar".into()),
            ("a/b/c/d/e:1.0", "a/b/c/d/e:1.0".into()),
            ("a__b", "a__b".into()),
            ("a.b", "a.b".into()),
            ("a-b", "a-b".into()),
            ("a--b", "a--b".into()),
            ("a_b", "a_b".into()),
            ("foo:_tag", "foo:_tag".into()),
            ("foo/bar:TAG_1.x", "foo/bar:TAG_1.x".into()),
            ("docker.io/busybox", "docker.io/library/busybox".into()),
            (
                "docker.io/library/busybox",
                "docker.io/library/busybox".into(),
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox".into(),
            ),
            ("docker.io/user/app:1", "docker.io/user/app:1".into()),
            ("localhost/foo", "localhost/foo".into()),
            ("localhost:5000/foo", "localhost:5000/foo".into()),
            ("127.0.0.1:5000/x/y:z", "127.0.0.1:5000/x/y:z".into()),
            ("my-reg.com:80/a", "my-reg.com:80/a".into()),
            ("Quay.IO/foo", "Quay.IO/foo".into()),
            ("localhost:5000", "localhost:5000".into()), // name "localhost", tag "5000"
            (sha_ref.as_str(), sha_ref.clone()),
            (both.as_str(), both.clone()),
        ];
        for (input, want) in cases {
            let r = p(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), want, "input {input}");
            // Canonical forms re-parse to themselves.
            assert_eq!(p(&want).ok().as_ref(), Some(&r), "reparse {want}");
        }
    }

    #[test]
    fn fields() {
        let r = p(&format!("localhost:5000/ns/app:v1@{SHA}")).expect("valid");
        assert_eq!(r.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(r.repository, "ns/app");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(SHA));
        assert!(!r.is_short_name());

        let r = p("foo/bar").expect("valid");
        assert_eq!(r.registry, None);
        assert_eq!(r.repository, "foo/bar");
        assert!(r.is_short_name());

        // "localhost:5000" alone is the name "localhost" with tag "5000".
        let r = p("localhost:5000").expect("valid");
        assert_eq!(
            (r.repository.as_str(), r.tag.as_deref()),
            ("localhost", Some("5000"))
        );
        assert!(r.is_short_name());
        // A first component without '.'/':' that is not "localhost" is a namespace.
        assert!(p("myreg/foo").expect("valid").is_short_name());
    }

    #[test]
    fn default_tag() {
        assert_eq!(
            p("foo").expect("ok").with_default_tag().to_string(),
            "foo:latest"
        );
        assert_eq!(
            p("foo:1").expect("ok").with_default_tag().to_string(),
            "foo:1"
        );
        let d = format!("quay.io/a@{SHA}");
        assert_eq!(p(&d).expect("ok").with_default_tag().to_string(), d);
        assert_eq!(
            p("docker.io/busybox")
                .expect("ok")
                .with_default_tag()
                .to_string(),
            "docker.io/library/busybox:latest"
        );
    }

    /// What `podman tag localhost/bbtest:latest NAME` (podman 4.3.1) did with
    /// each NAME: the stored name, or the error text it printed.
    #[test]
    fn local_names_match_podman_tag() {
        let long_tag = "a".repeat(128);
        let ok: Vec<(&str, String)> = vec![
            ("foo", "localhost/foo:latest".into()),
            ("foo:v1", "localhost/foo:v1".into()),
            ("foo/bar", "localhost/foo/bar:latest".into()),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest".into(),
            ),
            (
                "index.docker.io/busybox",
                "docker.io/library/busybox:latest".into(),
            ),
            ("localhost:5000/foo", "localhost:5000/foo:latest".into()),
            ("127.0.0.1:5000/x/y:z", "127.0.0.1:5000/x/y:z".into()),
            ("a/b/c/d/e:1.0", "localhost/a/b/c/d/e:1.0".into()),
            ("a__b", "localhost/a__b:latest".into()),
            ("a.b", "localhost/a.b:latest".into()),
            ("a--b", "localhost/a--b:latest".into()),
            ("foo:_tag", "localhost/foo:_tag".into()),
            ("Quay.IO/foo", "Quay.IO/foo:latest".into()),
            ("foo/bar:TAG_1.x", "localhost/foo/bar:TAG_1.x".into()),
            ("my-reg.com:80/a", "my-reg.com:80/a:latest".into()),
            ("localhost/foo", "localhost/foo:latest".into()),
        ];
        for (input, want) in &ok {
            let r = Reference::parse_local_name(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(&r.to_string(), want, "input {input}");
        }
        let r = Reference::parse_local_name(&format!("foo:{long_tag}")).expect("128-char tag");
        assert_eq!(r.tag.as_deref(), Some(long_tag.as_str()));
        // 64 hex chars are accepted by `podman tag` as a local name.
        let hex = "a".repeat(64);
        assert_eq!(
            Reference::parse_local_name(&hex).expect("ok").to_string(),
            format!("localhost/{hex}:latest")
        );
        // Tag dropped when a digest is present.
        let r = Reference::parse_local_name(&format!("quay.io/a:v1@{SHA}")).expect("ok");
        assert_eq!(r.to_string(), format!("quay.io/a@{SHA}"));

        const LOWER: &str = "invalid reference format: repository name must be lowercase";
        const FORMAT: &str = "invalid reference format";
        const LONG: &str =
            "invalid reference format: repository name must not be more than 255 characters";
        let bad: Vec<(String, &str)> = vec![
            ("BAD/Name".into(), LOWER),
            ("Foo".into(), LOWER),
            ("quay.io/Foo".into(), LOWER),
            ("LOCALHOST/foo".into(), LOWER),
            ("foo:".into(), FORMAT),
            (":tag".into(), FORMAT),
            ("foo::bar".into(), FORMAT),
            ("foo@sha256:abc".into(), FORMAT),
            ("a___b".into(), FORMAT),
            ("a..b".into(), FORMAT),
            ("a-".into(), FORMAT),
            ("-a".into(), FORMAT),
            ("a_".into(), FORMAT),
            ("foo:-tag".into(), FORMAT),
            ("foo:.tag".into(), FORMAT),
            ("reg:bad/a".into(), FORMAT),
            ("[::1]:5000/foo".into(), FORMAT),
            ("a//b".into(), FORMAT),
            ("a/".into(), FORMAT),
            ("/a".into(), FORMAT),
            ("foo bar".into(), FORMAT),
            (format!("foo:{}", "a".repeat(129)), FORMAT),
            ("a".repeat(255), LONG), // "localhost/" + 255
            ("a".repeat(256), LONG),
            (format!("docker.io/{}", "a".repeat(245)), LONG), // + "library/"
            (format!("docker.io/library/{}", "a".repeat(240)), LONG),
        ];
        for (input, want) in &bad {
            let err = Reference::parse_local_name(input).expect_err(input);
            assert!(
                err.to_string().starts_with(want),
                "{input}: got {err}, want {want}"
            );
        }
    }

    #[test]
    fn errors_name_the_bad_part() {
        let e = p("foo:-tag").expect_err("bad tag").to_string();
        assert_eq!(e, "invalid reference format: invalid tag \"-tag\"");
        let e = p("reg:bad/a").expect_err("bad").to_string();
        assert_eq!(
            e,
            "invalid reference format: invalid repository path component \"reg:bad\""
        );
        let e = p("a//b").expect_err("bad").to_string();
        assert!(e.contains("empty path component"), "{e}");
        let e = p("foo@sha256:abc").expect_err("bad").to_string();
        assert_eq!(e, "invalid reference format: invalid digest \"sha256:abc\"");
        assert_eq!(p("").expect_err("empty"), ReferenceError::Empty);
    }

    /// Digest errors as `podman pull` printed them (go-digest texts).
    #[test]
    fn digest_errors_match_podman_pull() {
        let cases = [
            ("docker.io/library/foo@sha256:0123456789abcdef0123456789abcdef", "invalid checksum digest length"),
            ("docker.io/library/foo@md5:0123456789abcdef0123456789abcdef", "unsupported digest algorithm"),
            (
                "docker.io/library/foo@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
                "invalid checksum digest format",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(p(input).expect_err(input).to_string(), want, "{input}");
        }
        let sha512 = format!("quay.io/a@sha512:{}", "0".repeat(128));
        assert!(p(&sha512).is_ok());
    }

    #[test]
    fn hex_identifier_is_not_a_name() {
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(matches!(p(id), Err(ReferenceError::HexIdentifier { .. })));
        assert!(p(&id[..63]).is_ok());
    }

    #[test]
    fn length_limits() {
        assert!(p(&"a".repeat(255)).is_ok()); // short name: no prefix added
        assert!(matches!(
            p(&"a".repeat(256)),
            Err(ReferenceError::NameTooLong { .. })
        ));
        assert!(p(&format!("foo:{}", "a".repeat(128))).is_ok());
        assert!(p(&format!("foo:{}", "a".repeat(129))).is_err());
    }

    #[test]
    fn with_registry_normalizes_docker_io() {
        let r = p("busybox:1").expect("ok");
        assert_eq!(
            r.with_registry("docker.io").to_string(),
            "docker.io/library/busybox:1"
        );
        assert_eq!(r.with_registry("quay.io").to_string(), "quay.io/busybox:1");
        assert_eq!(r.name_only().to_string(), "busybox");
    }
}
