//! `--lang python|js`: run a script with an interpreter compiled to WebAssembly (CPython for
//! WASI, QuickJS), found through configuration; the repository ships no interpreter. The
//! staging and configuration live in the facade ([`sandbox::lang`]), shared with the Python
//! package's `run_script`.

use clap::ValueEnum;
use std::path::{Path, PathBuf};

pub use sandbox::lang::StagedScript;

/// A language whose interpreter runs as a WASI guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Python: CPython for WASI (`SANDBOX_PYTHON_WASM`).
    Python,
    /// JavaScript: QuickJS for WASI (`SANDBOX_JS_WASM`).
    Js,
}

impl From<Lang> for sandbox::lang::Lang {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::Python => sandbox::lang::Lang::Python,
            Lang::Js => sandbox::lang::Lang::Js,
        }
    }
}

/// The interpreter module of `lang`: `interpreter` if given, else the file its variable names.
pub fn interpreter(lang: Lang, interpreter: Option<&Path>) -> anyhow::Result<PathBuf> {
    sandbox::lang::interpreter(lang.into(), interpreter).map_err(|err| {
        let sandbox::SandboxError::Unsupported { reason } = err else {
            return anyhow::anyhow!("{err}");
        };
        anyhow::anyhow!("{} (--interpreter FILE)", reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interpreter_names_the_variable_and_the_flag() {
        if std::env::var_os("SANDBOX_JS_WASM").is_none() {
            let err = interpreter(Lang::Js, None).unwrap_err().to_string();
            assert!(err.contains("SANDBOX_JS_WASM") && err.contains("--interpreter FILE"));
        }
    }
}
