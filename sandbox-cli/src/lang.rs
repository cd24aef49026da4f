//! `--lang python|js|mini`: run a script with an interpreter compiled to WebAssembly (CPython
//! for WASI, QuickJS), found through configuration (the repository ships no interpreter), or
//! compile a Mini program (the project's own language, `sandbox-lang`; `.mini` files are
//! compiled without the flag). The staging and configuration of scripts live in the facade
//! ([`sandbox::lang`]), shared with the Python package's `run_script`.

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
    /// Mini, the project's own language: FILE is compiled to a module, which runs (the
    /// default for a `.mini` file).
    Mini,
}

impl Lang {
    /// The language whose interpreter runs the script; `None` for Mini, which is compiled.
    pub fn interpreted(self) -> Option<sandbox::lang::Lang> {
        match self {
            Lang::Python => Some(sandbox::lang::Lang::Python),
            Lang::Js => Some(sandbox::lang::Lang::Js),
            Lang::Mini => None,
        }
    }
}

/// The interpreter module of `lang`: `interpreter` if given, else the file its variable names.
pub fn interpreter(
    lang: sandbox::lang::Lang,
    interpreter: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    sandbox::lang::interpreter(lang, interpreter).map_err(|err| {
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
            let err = interpreter(sandbox::lang::Lang::Js, None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("SANDBOX_JS_WASM") && err.contains("--interpreter FILE"));
        }
    }
}
