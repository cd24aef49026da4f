//! Helpers shared by the CLI's integration tests (each test file uses some of them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The path of a conformance fixture.
pub fn fixture(name: &str) -> String {
    repository_file("conformance-tests/fixtures", name)
}

/// The path of a file of the judge example.
pub fn example(name: &str) -> String {
    repository_file("examples/judge", name)
}

fn repository_file(dir: &str, name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir)
        .join(name)
        .display()
        .to_string()
}

/// Runs the `sandbox` binary with `args`.
pub fn sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        // The module cache is on by default: keep it out of the user's home.
        .env(
            "SANDBOX_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/sandbox-cli-tests-cache"),
        )
        .output()
        .expect("the sandbox binary runs")
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A run's stdout as text.
pub fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

/// A run's stderr as text.
pub fn stderr(output: &Output) -> String {
    text(&output.stderr)
}
