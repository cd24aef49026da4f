//! The module cache options shared by `run` and `judge`, and reading a file that may be an
//! ahead-of-time artifact.
//!
//! The cache is on by default on the command line: compiled modules are kept in
//! `$SANDBOX_CACHE_DIR`, else `$XDG_CACHE_HOME/sandbox/modules`, else
//! `$HOME/.cache/sandbox/modules`, bounded to 512 MiB (least recently used entries evicted).
//! `--no-cache` or `SANDBOX_CACHE=off` turns it off; `--cache-dir` picks another directory.

use crate::units::parse_size;
use clap::Args;
use sandbox::cache::{is_artifact, read_artifact_file, ARTIFACT_MAGIC};
use sandbox::{CacheConfig, SandboxError};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Module cache options.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Compile every time: read and write no cache (also: SANDBOX_CACHE=off).
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
    /// Cache compiled modules in DIR (default: $SANDBOX_CACHE_DIR, else
    /// $XDG_CACHE_HOME/sandbox/modules, else $HOME/.cache/sandbox/modules).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Size bound of the cache directory; least recently used entries are evicted past it
    /// (default 512MiB, or SANDBOX_CACHE_MAX_SIZE).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    cache_max_size: Option<u64>,
}

impl CacheArgs {
    /// The cache configuration these options and the environment ask for.
    pub fn config(&self) -> CacheConfig {
        if self.no_cache {
            return CacheConfig::off();
        }
        let mut config = match &self.cache_dir {
            Some(dir) => {
                let from_env = CacheConfig::from_env();
                CacheConfig {
                    max_disk_bytes: from_env.max_disk_bytes,
                    ..CacheConfig::at(dir)
                }
            }
            None => CacheConfig::from_env(),
        };
        if let Some(bytes) = self.cache_max_size {
            config.max_disk_bytes = bytes;
        }
        config
    }
}

/// Reads a module (at most `max_module_bytes`) or, when the file starts with the artifact
/// magic, an ahead-of-time artifact (at most `sandbox::cache::MAX_ARTIFACT_BYTES`).
/// `kind` says what a module file holds when its extension does not (`--lang mini`).
pub fn read_module_or_artifact(
    path: &Path,
    max_module_bytes: u64,
    kind: Option<sandbox::SourceKind>,
) -> Result<Vec<u8>, SandboxError> {
    let mut magic = [0u8; ARTIFACT_MAGIC.len()];
    let sniffed = std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok();
    if sniffed && is_artifact(&magic) {
        read_artifact_file(path)
    } else {
        sandbox::read_module_file_as(path, max_module_bytes, kind)
    }
}
