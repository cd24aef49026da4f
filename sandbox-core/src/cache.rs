//! Compile once, run many: cache keys, the artifact format, the on-disk store and the
//! in-memory layer.
//!
//! Everything here is engine-neutral. A backend contributes two things through the
//! [`Sandbox`](crate::Sandbox) trait: a [`CodeFingerprint`] (everything that changes the code
//! its engine generates) and the (de)serialisation of its compiled modules.
//! [`Sandbox::load`](crate::Sandbox::load) consults the cache when the configuration asks for
//! one ([`CacheConfig`]), and [`Sandbox::compile_aot`](crate::Sandbox::compile_aot) /
//! [`Sandbox::load_aot`](crate::Sandbox::load_aot) write and read the same artifact format as
//! files the caller manages.
//!
//! ## Keys
//!
//! A [`CacheKey`] is the SHA-256 of a domain tag, the SHA-256 of the module's binary bytes (the
//! very bytes that are compiled), the engine's name and version and the code fingerprint. The
//! fingerprint covers fuel metering on or off, the fuel cost model, the wasm stack limit where
//! it is compiled in, the accepted WebAssembly features, the target and its CPU features, the
//! engine's own compatibility hash where it has one, and the sandbox's version.
//!
//! ## Artifacts
//!
//! A cache entry and an AOT file have the same layout ([`encode_artifact`]): a header, then the
//! module's wasm bytes, then the engine's serialised code.
//!
//! ```text
//! magic         8 bytes  "SBXCWASM"
//! format        u32 LE   ARTIFACT_FORMAT_VERSION
//! backend       u8 length + UTF-8
//! engine        u8 length + UTF-8 (the engine version)
//! fingerprint   32 bytes (CodeFingerprint::digest)
//! description   u16 LE length + UTF-8 (CodeFingerprint::description, for messages)
//! wasm length   u64 LE
//! code length   u64 LE
//! checksum      32 bytes: SHA-256 of every byte before it, then wasm ++ code
//! wasm, code
//! ```
//!
//! Engines' `deserialize` functions are `unsafe`: they map the bytes as executable code and
//! trust their internal layout. [`decode_artifact`] and [`Artifact::check`] therefore verify the
//! whole header and the checksum *before* a backend's deserialiser sees a byte, so a
//! truncated, corrupted, foreign or stale file is refused (an AOT load) or treated as a miss
//! (the cache). The hash proves integrity, not origin: a file crafted by someone who can
//! write it passes. Load artifacts only from places as trusted as the program itself (the
//! cache directory is created private to the user).
//!
//! ## The disk store
//!
//! [`DiskCache`] keeps one file per key in one directory. Writes go to a temporary file in the
//! same directory and are renamed into place, so readers see either nothing or a whole entry,
//! and concurrent writers of the same key (threads or processes) each rename a complete file.
//! No `fsync`: an entry torn by a crash fails its checksum and is rebuilt. A hit refreshes
//! the entry's modification time; after each store, the least recently used entries are
//! deleted until the directory fits its size bound. Every I/O failure is a miss, never an
//! error.

use crate::traits::{BackendKind, CompiledModule};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The first bytes of every artifact (cache entry or AOT file).
pub const ARTIFACT_MAGIC: [u8; 8] = *b"SBXCWASM";

/// The version of the artifact layout; bumped whenever it changes.
pub const ARTIFACT_FORMAT_VERSION: u32 = 1;

/// The file extension of cache entries.
pub const ENTRY_EXTENSION: &str = "sbxm";

/// The default size bound of the disk cache: 512 MiB.
pub const DEFAULT_MAX_DISK_BYTES: u64 = 512 << 20;

/// The default number of compiled modules kept in memory per process.
pub const DEFAULT_MAX_MEMORY_ENTRIES: usize = 256;

/// Environment variable: `off` (or `0`, `false`, `no`) disables the cache of
/// [`CacheConfig::from_env`].
pub const ENV_CACHE: &str = "SANDBOX_CACHE";

/// Environment variable: the cache directory of [`CacheConfig::from_env`].
pub const ENV_CACHE_DIR: &str = "SANDBOX_CACHE_DIR";

/// Environment variable: the size bound of [`CacheConfig::from_env`], in bytes (suffixes `K`,
/// `M`, `G`, `KiB`, `MiB`, `GiB` accepted).
pub const ENV_CACHE_MAX_SIZE: &str = "SANDBOX_CACHE_MAX_SIZE";

/// Where compiled modules are kept between loads. Part of [`SandboxConfig`](crate::SandboxConfig);
/// off by default for library users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheConfig {
    /// Keep compiled modules in a process-wide, bounded in-memory map, so that loading the same
    /// bytes again in this process reuses the compiled code.
    pub memory: bool,
    /// The directory of the on-disk cache, or `None` for no disk layer.
    pub dir: Option<PathBuf>,
    /// The size bound of the disk cache in bytes; least recently used entries are evicted past
    /// it.
    pub max_disk_bytes: u64,
    /// How many compiled modules the in-memory layer keeps (least recently used evicted).
    pub max_memory_entries: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self::off()
    }
}

impl CacheConfig {
    /// No caching at all (the default).
    pub fn off() -> Self {
        CacheConfig {
            memory: false,
            dir: None,
            max_disk_bytes: DEFAULT_MAX_DISK_BYTES,
            max_memory_entries: DEFAULT_MAX_MEMORY_ENTRIES,
        }
    }

    /// The in-memory layer only.
    pub fn memory_only() -> Self {
        CacheConfig {
            memory: true,
            ..Self::off()
        }
    }

    /// Both layers, the disk one in `dir` (created on first store).
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        CacheConfig {
            memory: true,
            dir: Some(dir.into()),
            ..Self::off()
        }
    }

    /// Both layers at the default location ([`CacheConfig::default_dir`]), unless the
    /// environment says `SANDBOX_CACHE=off`; the size bound from `SANDBOX_CACHE_MAX_SIZE` when
    /// set. Without any usable location, the in-memory layer only.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var_os(name))
    }

    /// [`CacheConfig::from_env`] over an arbitrary variable lookup (for tests and embedders).
    pub fn from_vars(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Self {
        if let Some(value) = var(ENV_CACHE) {
            let value = value.to_string_lossy().trim().to_ascii_lowercase();
            if matches!(value.as_str(), "off" | "0" | "false" | "no" | "none") {
                return Self::off();
            }
        }
        let mut config = match Self::default_dir_from(&var) {
            Some(dir) => Self::at(dir),
            None => Self::memory_only(),
        };
        if let Some(size) = var(ENV_CACHE_MAX_SIZE).and_then(|v| parse_size(&v.to_string_lossy())) {
            config.max_disk_bytes = size;
        }
        config
    }

    /// The documented default location: `$SANDBOX_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/sandbox/modules`, else `$HOME/.cache/sandbox/modules`.
    pub fn default_dir() -> Option<PathBuf> {
        Self::default_dir_from(&|name| std::env::var_os(name))
    }

    fn default_dir_from(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = non_empty(ENV_CACHE_DIR) {
            return Some(dir);
        }
        if let Some(xdg) = non_empty("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
            return Some(xdg.join("sandbox").join("modules"));
        }
        non_empty("HOME").map(|home| home.join(".cache").join("sandbox").join("modules"))
    }

    /// Whether any layer is on.
    pub fn is_enabled(&self) -> bool {
        self.memory || self.dir.is_some()
    }
}

/// Parses `123`, `64K`, `512MiB`, `1G` (binary multiples) into bytes.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift)
}

/// Where a loaded module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// The cache is off: the module was compiled.
    Off,
    /// Not cached yet: the module was compiled (and stored where the configuration says).
    Miss,
    /// Reused from this process's in-memory layer.
    MemoryHit,
    /// Deserialised from the disk cache.
    DiskHit,
    /// Loaded from an ahead-of-time artifact.
    Aot,
}

impl CacheStatus {
    /// The name used in JSON and by the CLI: `off`, `miss`, `memory_hit`, `disk_hit`, `aot`.
    pub fn name(self) -> &'static str {
        match self {
            CacheStatus::Off => "off",
            CacheStatus::Miss => "miss",
            CacheStatus::MemoryHit => "memory_hit",
            CacheStatus::DiskHit => "disk_hit",
            CacheStatus::Aot => "aot",
        }
    }

    /// Whether compiled code was reused rather than compiled now.
    pub fn is_hit(self) -> bool {
        matches!(
            self,
            CacheStatus::MemoryHit | CacheStatus::DiskHit | CacheStatus::Aot
        )
    }
}

impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that changes the code an engine generates, hashed, with a readable summary.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CodeFingerprint {
    /// SHA-256 over every field (the part that is compared).
    pub digest: [u8; 32],
    /// `name=value` pairs of the fields, for error messages (never compared).
    pub description: String,
}

impl CodeFingerprint {
    /// Starts a fingerprint. The sandbox's version, the artifact format, the target
    /// (architecture, OS) and the fuel cost model are always included.
    pub fn builder() -> FingerprintBuilder {
        let mut builder = FingerprintBuilder {
            hasher: Sha256::new(),
            description: Vec::new(),
        };
        builder.hasher.update(b"sandbox-code-fingerprint\0");
        builder.field("sandbox", env!("CARGO_PKG_VERSION"));
        builder.field("format", ARTIFACT_FORMAT_VERSION);
        builder.field(
            "target",
            format_args!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        );
        builder.secret_field("cost_model", hex(&crate::fuel::cost_model_digest()));
        builder
    }
}

/// Builds a [`CodeFingerprint`] field by field.
pub struct FingerprintBuilder {
    hasher: Sha256,
    description: Vec<String>,
}

impl FingerprintBuilder {
    /// Adds a field that is hashed and shown in messages.
    pub fn field(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        let value = value.to_string();
        self.absorb(name, value.as_bytes());
        self.description.push(format!("{name}={value}"));
        self
    }

    /// Adds a field that is hashed but too long to show (its name alone appears in messages).
    pub fn secret_field(&mut self, name: &str, value: impl fmt::Display) -> &mut Self {
        self.absorb(name, value.to_string().as_bytes());
        self
    }

    /// Adds anything `Hash` (an engine's compatibility hash, say), hashed under `name`.
    pub fn hash_field(&mut self, name: &str, value: &impl std::hash::Hash) -> &mut Self {
        let mut writer = Sha256Hasher(Sha256::new());
        value.hash(&mut writer);
        let digest: [u8; 32] = writer.0.finalize().into();
        self.absorb(name, &digest);
        self
    }

    fn absorb(&mut self, name: &str, value: &[u8]) {
        self.hasher.update((name.len() as u64).to_le_bytes());
        self.hasher.update(name.as_bytes());
        self.hasher.update((value.len() as u64).to_le_bytes());
        self.hasher.update(value);
    }

    /// The fingerprint.
    pub fn finish(&self) -> CodeFingerprint {
        CodeFingerprint {
            digest: self.hasher.clone().finalize().into(),
            description: self.description.join(", "),
        }
    }
}

/// A `std::hash::Hasher` that feeds SHA-256, so `Hash` values fingerprint deterministically.
struct Sha256Hasher(Sha256);

impl std::hash::Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// What compiled code is valid for: the engine, its version and its code fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactIdentity {
    /// The engine.
    pub backend: BackendKind,
    /// The engine's version.
    pub engine_version: String,
    /// Everything else that changes the generated code.
    pub fingerprint: CodeFingerprint,
}

/// The key of a compiled module in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// The key of `wasm` (binary bytes, exactly those compiled) under `identity`.
    pub fn new(wasm: &[u8], identity: &ArtifactIdentity) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"sandbox-module-cache\0");
        hasher.update(ARTIFACT_FORMAT_VERSION.to_le_bytes());
        hasher.update(Sha256::digest(wasm));
        hasher.update(identity.backend.name().as_bytes());
        hasher.update([0]);
        hasher.update(identity.engine_version.as_bytes());
        hasher.update([0]);
        hasher.update(identity.fingerprint.digest);
        CacheKey(hasher.finalize().into())
    }

    /// This key narrowed by `salt`: entries stored under it are found only by loads that give
    /// the same salt (the module cache salts with the validation feature set, so an entry
    /// proves its bytes were validated under exactly those features).
    pub fn salted(&self, salt: &[u8]) -> CacheKey {
        let mut hasher = Sha256::new();
        hasher.update(self.0);
        hasher.update(salt);
        CacheKey(hasher.finalize().into())
    }

    /// Lowercase hexadecimal, as used in file names.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why bytes are not a usable artifact. Never a panic: every malformed input ends here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The bytes do not start with [`ARTIFACT_MAGIC`] (a plain `.wasm`, or anything else).
    #[error("not a sandbox artifact (no SBXCWASM header)")]
    NotAnArtifact,
    /// The artifact layout is another version.
    #[error("artifact format version {found} is not supported (expected {expected})")]
    UnsupportedFormat {
        /// The file's version.
        found: u32,
        /// This build's version.
        expected: u32,
    },
    /// The bytes end before the header or the payload does.
    #[error("artifact is truncated")]
    Truncated,
    /// The header is malformed (bad lengths, non-UTF-8 names, trailing bytes).
    #[error("artifact header is malformed: {0}")]
    Malformed(&'static str),
    /// The header or payload does not match the checksum (corrupted or modified).
    #[error("artifact does not match its SHA-256 checksum (corrupted or modified)")]
    Corrupt,
    /// Compiled by another engine.
    #[error("artifact was compiled for {found}, this sandbox runs {expected}")]
    WrongBackend {
        /// The engine named in the file.
        found: String,
        /// This sandbox's engine.
        expected: BackendKind,
    },
    /// Compiled by another version of the engine.
    #[error("artifact was compiled by {backend} {found}, this sandbox runs {backend} {expected}")]
    WrongEngineVersion {
        /// The engine.
        backend: BackendKind,
        /// The version in the file.
        found: String,
        /// This sandbox's version.
        expected: String,
    },
    /// Compiled under a configuration that generates different code (fuel on vs off, another
    /// stack limit, another CPU, another sandbox version). The fields name what differs.
    #[error(
        "artifact was compiled for another configuration: artifact [{found}], this sandbox [{expected}]"
    )]
    ConfigMismatch {
        /// The artifact's configuration summary.
        found: String,
        /// This sandbox's configuration summary.
        expected: String,
    },
}

/// A decoded artifact whose header and checksum have been verified.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    backend: &'a str,
    engine_version: &'a str,
    fingerprint: [u8; 32],
    description: &'a str,
    wasm: &'a [u8],
    code: &'a [u8],
}

impl<'a> Artifact<'a> {
    /// The engine name in the header.
    pub fn backend(&self) -> &'a str {
        self.backend
    }

    /// The engine, if it is one this build knows.
    pub fn backend_kind(&self) -> Option<BackendKind> {
        self.backend.parse().ok()
    }

    /// The engine version in the header.
    pub fn engine_version(&self) -> &'a str {
        self.engine_version
    }

    /// The configuration summary in the header.
    pub fn description(&self) -> &'a str {
        self.description
    }

    /// The fingerprint digest in the header.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The module's original wasm bytes.
    pub fn wasm(&self) -> &'a [u8] {
        self.wasm
    }

    /// The engine's serialised code.
    pub fn code(&self) -> &'a [u8] {
        self.code
    }

    /// Checks that the artifact was made for `identity` (same engine, version and code
    /// fingerprint). Only then may the code be handed to the engine's deserialiser.
    pub fn check(&self, identity: &ArtifactIdentity) -> Result<(), ArtifactError> {
        if self.backend != identity.backend.name() {
            return Err(ArtifactError::WrongBackend {
                found: self.backend.to_string(),
                expected: identity.backend,
            });
        }
        if self.engine_version != identity.engine_version {
            return Err(ArtifactError::WrongEngineVersion {
                backend: identity.backend,
                found: self.engine_version.to_string(),
                expected: identity.engine_version.clone(),
            });
        }
        if self.fingerprint != identity.fingerprint.digest {
            // Name only the fields that differ; when none of the shown ones do, the difference
            // is in a hashed-only field (CPU features, the engine's own settings).
            let found: Vec<&str> = self.description.split(", ").collect();
            let expected: Vec<&str> = identity.fingerprint.description.split(", ").collect();
            let only = |a: &[&str], b: &[&str]| -> String {
                a.iter()
                    .filter(|field| !b.contains(field))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (found, expected) = (only(&found, &expected), only(&expected, &found));
            let hidden = "engine settings or CPU features";
            return Err(ArtifactError::ConfigMismatch {
                found: if found.is_empty() {
                    hidden.into()
                } else {
                    found
                },
                expected: if expected.is_empty() {
                    hidden.into()
                } else {
                    expected
                },
            });
        }
        Ok(())
    }
}

/// Whether `bytes` start like an artifact (a cheap sniff; [`decode_artifact`] verifies).
pub fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(&ARTIFACT_MAGIC)
}

/// Lays out an artifact: the header for `identity`, then `wasm`, then `code`.
pub fn encode_artifact(identity: &ArtifactIdentity, wasm: &[u8], code: &[u8]) -> Vec<u8> {
    let backend = identity.backend.name().as_bytes();
    let version = truncate(identity.engine_version.as_bytes(), u8::MAX as usize);
    let description = truncate(
        identity.fingerprint.description.as_bytes(),
        u16::MAX as usize,
    );
    let mut out = Vec::with_capacity(128 + description.len() + wasm.len() + code.len());
    out.extend_from_slice(&ARTIFACT_MAGIC);
    out.extend_from_slice(&ARTIFACT_FORMAT_VERSION.to_le_bytes());
    out.push(backend.len() as u8);
    out.extend_from_slice(backend);
    out.push(version.len() as u8);
    out.extend_from_slice(version);
    out.extend_from_slice(&identity.fingerprint.digest);
    out.extend_from_slice(&(description.len() as u16).to_le_bytes());
    out.extend_from_slice(description);
    out.extend_from_slice(&(wasm.len() as u64).to_le_bytes());
    out.extend_from_slice(&(code.len() as u64).to_le_bytes());
    let mut hasher = Sha256::new();
    hasher.update(&out);
    hasher.update(wasm);
    hasher.update(code);
    let checksum: [u8; 32] = hasher.finalize().into();
    out.extend_from_slice(&checksum);
    out.extend_from_slice(wasm);
    out.extend_from_slice(code);
    out
}

fn truncate(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

/// A cursor over untrusted bytes: every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ArtifactError> {
        let end = self.at.checked_add(n).ok_or(ArtifactError::Truncated)?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(ArtifactError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArtifactError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn str(&mut self, len: usize) -> Result<&'a str, ArtifactError> {
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| ArtifactError::Malformed("a name is not UTF-8"))
    }

    fn len64(&mut self) -> Result<usize, ArtifactError> {
        usize::try_from(u64::from_le_bytes(self.array()?)).map_err(|_| ArtifactError::Truncated)
    }
}

/// Parses and verifies an artifact: magic, format version, header fields, lengths (the payload
/// must be exactly what the header says, no more, no less) and the SHA-256 checksum over the
/// header and the payload.
///
/// Says nothing about whether the artifact fits a given engine: see [`Artifact::check`].
pub fn decode_artifact(bytes: &[u8]) -> Result<Artifact<'_>, ArtifactError> {
    if bytes.len() < ARTIFACT_MAGIC.len() || !is_artifact(bytes) {
        return Err(if ARTIFACT_MAGIC.starts_with(bytes) && !bytes.is_empty() {
            ArtifactError::Truncated
        } else {
            ArtifactError::NotAnArtifact
        });
    }
    let mut reader = Reader { bytes, at: 8 };
    let format = u32::from_le_bytes(reader.array()?);
    if format != ARTIFACT_FORMAT_VERSION {
        return Err(ArtifactError::UnsupportedFormat {
            found: format,
            expected: ARTIFACT_FORMAT_VERSION,
        });
    }
    let backend_len = usize::from(reader.array::<1>()?[0]);
    let backend = reader.str(backend_len)?;
    let version_len = usize::from(reader.array::<1>()?[0]);
    let engine_version = reader.str(version_len)?;
    let fingerprint = reader.array::<32>()?;
    let description_len = usize::from(u16::from_le_bytes(reader.array()?));
    let description = reader.str(description_len)?;
    let wasm_len = reader.len64()?;
    let code_len = reader.len64()?;
    let header = &bytes[..reader.at];
    let checksum = reader.array::<32>()?;
    let rest = bytes.len() - reader.at;
    let payload_len = wasm_len
        .checked_add(code_len)
        .ok_or(ArtifactError::Malformed("payload lengths overflow"))?;
    if rest < payload_len {
        return Err(ArtifactError::Truncated);
    }
    if rest > payload_len {
        return Err(ArtifactError::Malformed("trailing bytes after the payload"));
    }
    let wasm = reader.take(wasm_len)?;
    let code = reader.take(code_len)?;
    let mut hasher = Sha256::new();
    hasher.update(header);
    hasher.update(wasm);
    hasher.update(code);
    let actual: [u8; 32] = hasher.finalize().into();
    if actual != checksum {
        return Err(ArtifactError::Corrupt);
    }
    Ok(Artifact {
        backend,
        engine_version,
        fingerprint,
        description,
        wasm,
        code,
    })
}

/// One entry of the disk cache, as listed by [`DiskCache::entries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskEntry {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last stored or hit.
    pub last_used: SystemTime,
}

/// The on-disk layer: one file per key, atomic writes, LRU eviction under a size bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
}

/// Temporary files older than this are leftovers of a crashed writer and are removed.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

impl DiskCache {
    /// A cache in `dir` bounded to `max_bytes` (nothing is created until the first store).
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        DiskCache {
            dir: dir.into(),
            max_bytes,
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size bound in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The file of `key`.
    pub fn path_of(&self, key: &CacheKey) -> PathBuf {
        self.dir.join(format!("{}.{ENTRY_EXTENSION}", key.to_hex()))
    }

    /// The entry's bytes, if there is one (unverified: decode with [`decode_artifact`]). A hit
    /// refreshes the entry's modification time, which is what eviction orders by. Entries larger
    /// than the size bound are not read.
    pub fn get(&self, key: &CacheKey) -> Option<Vec<u8>> {
        use std::io::Read;
        let path = self.path_of(key);
        let file = fs::File::open(&path).ok()?;
        let size = file.metadata().ok()?.len();
        if size > self.max_bytes {
            return None;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).ok()?);
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .ok()?;
        touch(&path);
        Some(bytes)
    }

    /// Stores `bytes` under `key` atomically (temporary file in the same directory, then
    /// rename), then evicts least recently used entries past the size bound. Entries larger
    /// than the bound are not stored.
    pub fn put(&self, key: &CacheKey, bytes: &[u8]) -> io::Result<()> {
        if bytes.len() as u64 > self.max_bytes {
            return Ok(());
        }
        create_private_dir(&self.dir)?;
        write_atomic(&self.path_of(key), bytes)?;
        self.evict_to(self.max_bytes);
        Ok(())
    }

    /// Removes the entry of `key`, if any.
    pub fn remove(&self, key: &CacheKey) {
        let _ = fs::remove_file(self.path_of(key));
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> Vec<DiskEntry> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut entries: Vec<DiskEntry> = dir
            .filter_map(Result::ok)
            .filter(|entry| {
                entry.path().extension().and_then(|e| e.to_str()) == Some(ENTRY_EXTENSION)
            })
            .filter_map(|entry| {
                let meta = entry.metadata().ok()?;
                meta.is_file().then(|| DiskEntry {
                    path: entry.path(),
                    size: meta.len(),
                    last_used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                })
            })
            .collect();
        entries.sort_by(|a, b| a.last_used.cmp(&b.last_used).then(a.path.cmp(&b.path)));
        entries
    }

    /// The bytes used by entries.
    pub fn total_bytes(&self) -> u64 {
        self.entries().iter().map(|e| e.size).sum()
    }

    /// Deletes least recently used entries until the entries fit in `max_bytes`, and
    /// temporary files a crashed writer left behind. Files another process removed first are
    /// skipped.
    pub fn evict_to(&self, max_bytes: u64) {
        if let Ok(dir) = fs::read_dir(&self.dir) {
            let now = SystemTime::now();
            for entry in dir.filter_map(Result::ok) {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let is_temp = name.starts_with('.') && name.contains(TEMP_MARKER);
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > STALE_TEMP_AGE);
                if is_temp && old {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        let entries = self.entries();
        let mut total: u64 = entries.iter().map(|e| e.size).sum();
        for entry in entries {
            if total <= max_bytes {
                break;
            }
            match fs::remove_file(&entry.path) {
                Ok(()) => total = total.saturating_sub(entry.size),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    total = total.saturating_sub(entry.size)
                }
                Err(_) => {}
            }
        }
    }
}

/// The part of a temporary file's name that marks it as one.
const TEMP_MARKER: &str = ".tmp-";

/// The largest artifact file [`read_artifact_file`] reads: 1 GiB (the embedded module is
/// still held to `SandboxConfig::max_module_bytes`).
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// Writes `bytes` to `path` atomically: into a temporary file beside it (`.NAME.tmp-PID-N`),
/// then renamed over `path`, so readers see the old file or the whole new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let temp = path.with_file_name(format!(
        ".{}{TEMP_MARKER}{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut file| file.write_all(bytes));
    let renamed = written.and_then(|()| fs::rename(&temp, path));
    if renamed.is_err() {
        let _ = fs::remove_file(&temp);
    }
    renamed
}

/// Reads an artifact file (at most [`MAX_ARTIFACT_BYTES`]).
pub fn read_artifact_file(path: &Path) -> Result<Vec<u8>, crate::SandboxError> {
    crate::session::read_file_limited(path, MAX_ARTIFACT_BYTES).map_err(|err| match err {
        crate::SandboxError::InvalidModule { reason, .. } => {
            crate::SandboxError::IncompatibleArtifact { reason }
        }
        other => other,
    })
}

/// Marks a file as just used (for LRU eviction). Best effort.
fn touch(path: &Path) {
    if let Ok(file) = fs::OpenOptions::new().append(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Creates `dir` (and its parents); the directory itself is private to the user on Unix,
/// because whoever can write entries can make this process run their code.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// The process-wide in-memory layer: key → compiled module, least recently used evicted.
struct MemoryCache {
    entries: HashMap<CacheKey, (Arc<dyn CompiledModule>, u64)>,
    clock: u64,
}

fn memory() -> &'static Mutex<MemoryCache> {
    static MEMORY: OnceLock<Mutex<MemoryCache>> = OnceLock::new();
    MEMORY.get_or_init(|| {
        Mutex::new(MemoryCache {
            entries: HashMap::new(),
            clock: 0,
        })
    })
}

/// The compiled module of `key` in this process's in-memory layer, if any.
pub fn memory_get(key: &CacheKey) -> Option<Arc<dyn CompiledModule>> {
    let mut cache = memory().lock().unwrap_or_else(|e| e.into_inner());
    cache.clock += 1;
    let now = cache.clock;
    cache.entries.get_mut(key).map(|(module, used)| {
        *used = now;
        module.clone()
    })
}

/// Keeps `module` under `key` in this process's in-memory layer, evicting the least recently
/// used entries beyond `capacity` (0 keeps nothing).
pub fn memory_put(key: CacheKey, module: Arc<dyn CompiledModule>, capacity: usize) {
    if capacity == 0 {
        return;
    }
    let mut cache = memory().lock().unwrap_or_else(|e| e.into_inner());
    cache.clock += 1;
    let now = cache.clock;
    cache.entries.insert(key, (module, now));
    while cache.entries.len() > capacity {
        let Some(oldest) = cache
            .entries
            .iter()
            .min_by_key(|(_, (_, used))| *used)
            .map(|(key, _)| *key)
        else {
            break;
        };
        cache.entries.remove(&oldest);
    }
}

/// Empties this process's in-memory layer.
pub fn memory_clear() {
    memory()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entries
        .clear();
}

/// Looks `wasm` up in the disk layer: the entry must decode, verify, be made for `identity`
/// and embed exactly `wasm`. Anything else is a miss (and a bad entry is removed).
pub fn disk_lookup<'a>(
    disk: &DiskCache,
    key: &CacheKey,
    identity: &ArtifactIdentity,
    wasm: &[u8],
    bytes: &'a [u8],
) -> Option<Artifact<'a>> {
    match decode_artifact(bytes) {
        Ok(artifact) if artifact.check(identity).is_ok() && artifact.wasm() == wasm => {
            Some(artifact)
        }
        _ => {
            disk.remove(key);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(backend: BackendKind, fuel: bool) -> ArtifactIdentity {
        ArtifactIdentity {
            backend,
            engine_version: "1.2.3".into(),
            fingerprint: CodeFingerprint::builder().field("fuel", fuel).finish(),
        }
    }

    #[test]
    fn round_trip_and_checks() {
        let id = identity(BackendKind::Wasmtime, true);
        let bytes = encode_artifact(&id, b"\0asm\x01\0\0\0", b"machine code");
        let artifact = decode_artifact(&bytes).unwrap();
        assert_eq!(artifact.wasm(), b"\0asm\x01\0\0\0");
        assert_eq!(artifact.code(), b"machine code");
        assert_eq!(artifact.backend_kind(), Some(BackendKind::Wasmtime));
        artifact.check(&id).unwrap();
        assert!(matches!(
            artifact.check(&identity(BackendKind::Wasmer, true)),
            Err(ArtifactError::WrongBackend { .. })
        ));
        let err = artifact
            .check(&identity(BackendKind::Wasmtime, false))
            .unwrap_err();
        assert!(err.to_string().contains("fuel=true"), "{err}");
        assert!(err.to_string().contains("fuel=false"), "{err}");
        let mut other_version = id.clone();
        other_version.engine_version = "9".into();
        assert!(matches!(
            artifact.check(&other_version),
            Err(ArtifactError::WrongEngineVersion { .. })
        ));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let id = identity(BackendKind::Wasmer, true);
        let bytes = encode_artifact(&id, b"wasm bytes", b"code bytes");
        for len in 0..bytes.len() {
            assert!(decode_artifact(&bytes[..len]).is_err(), "length {len}");
        }
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            let ok = decode_artifact(&bad).and_then(|a| a.check(&id));
            assert!(ok.is_err(), "flipped byte {at}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_artifact(&longer).is_err());
        assert_eq!(
            decode_artifact(b"\0asm\x01\0\0\0").unwrap_err(),
            ArtifactError::NotAnArtifact
        );
        assert_eq!(
            decode_artifact(b"").unwrap_err(),
            ArtifactError::NotAnArtifact
        );
    }

    #[test]
    fn hostile_lengths_do_not_allocate_or_panic() {
        let id = identity(BackendKind::Wasmer, true);
        let bytes = encode_artifact(&id, b"w", b"c");
        // Overwrite the wasm and code lengths with huge values.
        let lengths_at = bytes.len() - 2 - 32 - 16;
        let mut bad = bytes.clone();
        bad[lengths_at..lengths_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        bad[lengths_at + 8..lengths_at + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_artifact(&bad).is_err());
    }

    #[test]
    fn keys_depend_on_bytes_engine_and_fingerprint() {
        let a = CacheKey::new(b"one", &identity(BackendKind::Wasmtime, true));
        assert_eq!(
            a,
            CacheKey::new(b"one", &identity(BackendKind::Wasmtime, true))
        );
        assert_ne!(
            a,
            CacheKey::new(b"two", &identity(BackendKind::Wasmtime, true))
        );
        assert_ne!(
            a,
            CacheKey::new(b"one", &identity(BackendKind::Wasmer, true))
        );
        assert_ne!(
            a,
            CacheKey::new(b"one", &identity(BackendKind::Wasmtime, false))
        );
        assert_eq!(a.to_hex().len(), 64);
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "sandbox-core-cache-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn disk_store_round_trip_and_lru_eviction() {
        let dir = temp_dir("lru");
        let disk = DiskCache::new(&dir, 250);
        let id = identity(BackendKind::Wasmtime, true);
        let keys: Vec<CacheKey> = (0..3u8).map(|i| CacheKey::new(&[i], &id)).collect();
        disk.put(&keys[0], &[0; 100]).unwrap();
        disk.put(&keys[1], &[1; 100]).unwrap();
        // Make key 0 the most recently used (mtime resolution can be coarse: set it apart).
        let past = SystemTime::now() - Duration::from_secs(60);
        fs::OpenOptions::new()
            .append(true)
            .open(disk.path_of(&keys[1]))
            .unwrap()
            .set_modified(past)
            .unwrap();
        assert_eq!(disk.get(&keys[0]).unwrap(), vec![0; 100]);
        disk.put(&keys[2], &[2; 100]).unwrap();
        assert!(
            disk.get(&keys[1]).is_none(),
            "the least recently used is evicted"
        );
        assert!(disk.get(&keys[0]).is_some() && disk.get(&keys[2]).is_some());
        assert!(disk.total_bytes() <= 250);
        // Too large for the bound: not stored.
        let big = CacheKey::new(b"big", &id);
        disk.put(&big, &[9; 300]).unwrap();
        assert!(disk.get(&big).is_none());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn concurrent_writers_of_one_key_leave_one_whole_entry() {
        let dir = temp_dir("concurrent");
        let disk = DiskCache::new(&dir, 1 << 20);
        let id = identity(BackendKind::Wasmer, false);
        let key = CacheKey::new(b"same", &id);
        let entry = encode_artifact(&id, b"same", &[7; 4096]);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        disk.put(&key, &entry).unwrap();
                        if let Some(bytes) = disk.get(&key) {
                            let artifact = decode_artifact(&bytes).unwrap();
                            artifact.check(&id).unwrap();
                        }
                    }
                });
            }
        });
        assert_eq!(disk.get(&key).unwrap(), entry);
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(TEMP_MARKER))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn environment_and_default_location() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let config = CacheConfig::from_vars(vars(&[("HOME", "/home/u")]));
        assert_eq!(
            config.dir,
            Some(PathBuf::from("/home/u/.cache/sandbox/modules"))
        );
        assert!(config.memory);
        assert_eq!(config.max_disk_bytes, DEFAULT_MAX_DISK_BYTES);
        let config = CacheConfig::from_vars(vars(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/x")]));
        assert_eq!(config.dir, Some(PathBuf::from("/x/sandbox/modules")));
        let config = CacheConfig::from_vars(vars(&[
            ("HOME", "/home/u"),
            ("SANDBOX_CACHE_DIR", "/c"),
            ("SANDBOX_CACHE_MAX_SIZE", "64MiB"),
        ]));
        assert_eq!(config.dir, Some(PathBuf::from("/c")));
        assert_eq!(config.max_disk_bytes, 64 << 20);
        let config = CacheConfig::from_vars(vars(&[("HOME", "/h"), ("SANDBOX_CACHE", "off")]));
        assert!(!config.is_enabled());
        let config = CacheConfig::from_vars(vars(&[]));
        assert!(config.memory && config.dir.is_none());
        assert!(!CacheConfig::default().is_enabled());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("4K"), Some(4096));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
    }
}
