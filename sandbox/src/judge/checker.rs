//! Checkers: WebAssembly programs that decide whether an output is right, for problems with
//! more than one right answer (any shortest path, floating-point results within a tolerance).
//!
//! A checker is a WASI command run in the sandbox like a solution. It gets three read-only
//! files in a preopened directory `/check` and their paths as its arguments, in the order
//! competitive-programming checkers (testlib) use:
//!
//! ```text
//! checker /check/input /check/actual_output /check/expected_output
//! ```
//!
//! Exit statuses as testlib gives them: 0 accepts the output; 1 (wrong answer) and 2
//! (presentation error) reject it as a wrong answer, with the first line the checker printed
//! (stdout, else stderr) as the message. Any other status (testlib's 3 is "the checker
//! failed"), a trap or a limit means the checker itself failed: the test's verdict is
//! `runtime_error` with a `checker_failed` detail, never `accepted`.

use crate::{CompiledModule, Outcome, Preopen, SandboxConfig, SandboxError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A compiled checker and the limits it runs under.
#[derive(Clone)]
pub struct Checker {
    module: Arc<dyn CompiledModule>,
    config: SandboxConfig,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("backend", &self.module.kind())
            .finish_non_exhaustive()
    }
}

/// What a checker said about one output.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// Exit status 0.
    Accepted,
    /// Another exit status: a wrong answer, with the checker's first line of output.
    Rejected {
        /// The first line the checker printed (stdout, else stderr), at most 1 KiB.
        message: String,
    },
    /// The checker did not finish (a trap, a limit, an instantiation error).
    Failed(SandboxError),
}

/// Names the per-check directories of this process apart.
static NEXT_DIRECTORY: AtomicU64 = AtomicU64::new(0);

/// The guest path of the checker's directory.
pub const CHECK_DIR: &str = "/check";

impl Checker {
    /// A checker from a compiled WASI command. `config` holds its limits; its stdin, arguments
    /// and preopens are replaced on each check. Fails with `function_not_found` when the
    /// module has no `_start`.
    pub fn new(
        module: Arc<dyn CompiledModule>,
        config: SandboxConfig,
    ) -> Result<Checker, SandboxError> {
        module.info().function("_start")?;
        Ok(Checker { module, config })
    }

    /// Runs the checker on one test's input, the solution's output and the expected output.
    pub fn check(&self, input: &[u8], actual: &[u8], expected: &[u8]) -> Check {
        let directory = match CheckDirectory::create(input, actual, expected) {
            Ok(directory) => directory,
            Err(error) => {
                return Check::Failed(SandboxError::Io {
                    path: std::env::temp_dir().display().to_string(),
                    reason: format!("could not write the checker's files: {error}"),
                })
            }
        };
        let mut config = self.config.clone();
        config.stdin = Vec::new();
        config.allow_filesystem = true;
        config.preopens = vec![Preopen {
            host: directory.path.clone(),
            guest: CHECK_DIR.to_string(),
            writable: false,
        }];
        config.program_name = "checker".into();
        config.args = ["input", "actual_output", "expected_output"]
            .iter()
            .map(|name| format!("{CHECK_DIR}/{name}"))
            .collect();
        let mut instance = match self.module.instantiate(&config) {
            Ok(instance) => instance,
            Err(report) => {
                return Check::Failed(report.outcome.error().cloned().unwrap_or_else(|| {
                    SandboxError::LinkError {
                        reason: "the checker could not be instantiated".into(),
                    }
                }))
            }
        };
        let result = match instance.call("_start", &[]) {
            Ok(result) => result,
            Err(error) => return Check::Failed(error),
        };
        match result.outcome {
            Outcome::Ok | Outcome::Exit { code: 0 } => Check::Accepted,
            Outcome::Exit { code: 1 | 2 } => Check::Rejected {
                message: first_line(&result.stdout)
                    .or_else(|| first_line(&result.stderr))
                    .unwrap_or_default(),
            },
            Outcome::Exit { code } => Check::Failed(SandboxError::RuntimeError {
                trap: crate::Trap::Other,
                message: format!(
                    "the checker exited with status {code}{}",
                    first_line(&result.stderr)
                        .or_else(|| first_line(&result.stdout))
                        .map(|line| format!(": {line}"))
                        .unwrap_or_default()
                ),
            }),
            Outcome::Failed(error) => Check::Failed(error),
        }
    }
}

/// The first non-empty line of `text`, at most 1 KiB (lossy UTF-8).
fn first_line(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let line = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    let mut end = line.len().min(1024);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    Some(line[..end].to_string())
}

/// A directory holding one check's three files, removed when dropped.
struct CheckDirectory {
    path: PathBuf,
}

impl CheckDirectory {
    fn create(input: &[u8], actual: &[u8], expected: &[u8]) -> std::io::Result<CheckDirectory> {
        let path = std::env::temp_dir().join(format!(
            "sandbox-check-{}-{}",
            std::process::id(),
            NEXT_DIRECTORY.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)?;
        let directory = CheckDirectory { path };
        for (name, bytes) in [
            ("input", input),
            ("actual_output", actual),
            ("expected_output", expected),
        ] {
            std::fs::write(directory.path.join(name), bytes)?;
        }
        Ok(directory)
    }
}

impl Drop for CheckDirectory {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_first_non_empty_line() {
        assert_eq!(
            first_line(b"\n  no: 3 != 4 \nmore"),
            Some("no: 3 != 4".into())
        );
        assert_eq!(first_line(b"  \n"), None);
        assert_eq!(first_line(&[b'x'; 5000]).map(|line| line.len()), Some(1024));
    }

    #[test]
    fn a_directory_holds_the_three_files_and_goes_away() {
        let directory = CheckDirectory::create(b"in", b"act", b"exp").unwrap();
        let path = directory.path.clone();
        assert_eq!(std::fs::read(path.join("actual_output")).unwrap(), b"act");
        drop(directory);
        assert!(!path.exists());
    }
}
