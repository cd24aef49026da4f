//! Helpers shared by the CLI's integration tests (each test file uses some of them).
#![allow(dead_code)]

use reqwest::Client;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

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

// ---- the service's processes (serve, worker, tenant) ----

/// A WASI command copying stdin to stdout (shared with the service's own tests).
pub const ECHO: &str = include_str!("../../../sandbox-server/tests/echo.wat");

pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;

/// The `sandbox` binary under test, as a command to set up.
pub fn command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}

/// Sends `signal` to a child.
pub fn signal(child: &Child, signal: i32) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc_kill(child.id() as i32, signal) };
}

/// A child process killed (and reaped) when dropped: a test that fails leaves no service or
/// worker behind holding ports and database connections.
pub struct Guard(pub Child);

impl std::ops::Deref for Guard {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with stdout piped; returns the child and its first line of output (then
/// keeps reading, so the child never blocks on a full pipe).
pub fn start(mut command: Command) -> (Guard, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .expect("the process prints a first line")
        .unwrap();
    std::thread::spawn(move || for _ in lines {});
    (Guard(child), first)
}

/// The `http://...` address in a line `sandbox serve` printed.
pub fn address(line: &str) -> String {
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

/// An HTTP client.
pub fn client() -> Client {
    sandbox_server::install_crypto_provider();
    Client::new()
}

/// `PUT /v1/modules`: the module's SHA-256.
pub async fn upload(client: &Client, base: &str, key: &str, bytes: &str) -> String {
    let response = client
        .put(format!("{base}/v1/modules"))
        .bearer_auth(key)
        .body(bytes.to_string())
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["sha256"].as_str().expect("uploaded").to_string()
}

/// The API key `sandbox tenant add` printed.
pub fn api_key(output: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .find_map(|line| line.strip_prefix("api key:"))
        .expect("the key is printed")
        .trim()
        .to_string()
}
