//! A real service on 127.0.0.1 with a temporary SQLite database, and an HTTP client.

#![allow(dead_code)]

use reqwest::{Client, Method, Response};
use sandbox_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::time::Duration;

/// A WASI command printing `hello` (fd_write).
pub const HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#;

/// A WASI command copying stdin to stdout.
pub const ECHO: &str = include_str!("../echo.wat");

/// Exports `add`, `spin` (an endless loop) and `grow` (memory.grow by its argument).
pub const FUNCS: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "spin") (loop $l (br $l)))
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#;

/// A WASI command printing its first character of... a fixed line: `text`.
pub fn printer(text: &str) -> String {
    let escaped: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{escaped}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const {len}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = text.len()
    )
}

/// A checker (WASI command): finds its preopened directory `/check` by name (as wasi-libc
/// does: engines may preopen other directories first), opens `actual_output` in it and
/// accepts (exit 0) when the output starts with an even digit; otherwise prints `odd` and
/// exits 1 (exit 3 when the file cannot be opened).
pub const EVEN_CHECKER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $r (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "actual_output")
  (data (i32.const 200) "odd\n")
  (data (i32.const 340) "/check")
  (func $find (result i32) (local $fd i32)
    (local.set $fd (i32.const 3))
    (loop $next
      (if (i32.eqz (call $prestat (local.get $fd) (i32.const 300)))
        (then
          (if (i32.eq (i32.load (i32.const 304)) (i32.const 6))
            (then
              (drop (call $dir_name (local.get $fd) (i32.const 320) (i32.const 6)))
              (if (i32.and (i32.eq (i32.load (i32.const 320)) (i32.load (i32.const 340)))
                           (i32.eq (i32.load16_u (i32.const 324)) (i32.load16_u (i32.const 344))))
                (then (return (local.get $fd))))))
          (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
          (br $next))))
    (i32.const -1))
  (func (export "_start") (local $c i32)
    (if (call $open (call $find) (i32.const 0) (i32.const 100) (i32.const 13) (i32.const 0)
                    (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 40))
      (then (call $exit (i32.const 3))))
    (i32.store (i32.const 0) (i32.const 1024)) (i32.store (i32.const 4) (i32.const 64))
    (drop (call $r (i32.load (i32.const 40)) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $c (i32.load8_u (i32.const 1024)))
    (if (i32.and (i32.gt_u (i32.load (i32.const 8)) (i32.const 0))
                 (i32.and (i32.ge_u (local.get $c) (i32.const 48))
                          (i32.and (i32.le_u (local.get $c) (i32.const 57))
                                   (i32.eqz (i32.and (local.get $c) (i32.const 1))))))
      (then (call $exit (i32.const 0))))
    (i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 4))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $exit (i32.const 1))))"#;

/// The conformance suite's `sum.wasm` (C, wasi-libc): reads two integers, prints their sum.
pub fn sum_wasm() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance-tests/fixtures/sum.wasm"
    ))
    .expect("the sum fixture")
}

/// A running service and a client.
pub struct Harness {
    pub server: Option<Server>,
    pub base: String,
    pub admin: String,
    pub client: Client,
    pub dir: tempfile::TempDir,
}

/// Settings for tests: port 0, two workers, short waits and backoffs.
pub fn test_config(dir: &std::path::Path) -> ServerConfig {
    let mut config = ServerConfig::new(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.workers = 2;
    config.wait_timeout = Duration::from_secs(20);
    config.callback_backoff = Duration::from_millis(50);
    config.drain_timeout = Duration::from_secs(10);
    config
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        adjust(&mut config);
        Harness::start_in(dir, config).await
    }

    pub async fn start_in(dir: tempfile::TempDir, config: ServerConfig) -> Harness {
        sandbox_server::install_crypto_provider();
        let server = Server::start(config).await.expect("the service starts");
        let admin = std::fs::read_to_string(dir.path().join("admin.key"))
            .expect("the administrator key file")
            .trim()
            .to_string();
        Harness {
            base: format!("http://{}", server.local_addr()),
            server: Some(server),
            admin,
            client: Client::new(),
            dir,
        }
    }

    /// Drains the service and returns its directory (to start it again).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        self.dir
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        request.send().await.expect("the service answers")
    }

    /// `(status, JSON body)`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let response = self.request(method, path, key, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// Adds a tenant through the administrator's route; returns (api key, webhook secret).
    pub async fn tenant(&self, name: &str, limits: Value) -> (String, String) {
        let mut body = limits;
        body["name"] = json!(name);
        let admin = self.admin.clone();
        let (status, created) = self
            .call(Method::POST, "/v1/tenants", Some(&admin), Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        (
            created["api_key"].as_str().unwrap().to_string(),
            created["webhook_secret"].as_str().unwrap().to_string(),
        )
    }

    /// Uploads a module; returns its SHA-256.
    pub async fn upload(&self, key: &str, bytes: impl Into<Vec<u8>>) -> String {
        let response = self
            .client
            .put(format!("{}/v1/modules", self.base))
            .bearer_auth(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["sha256"].as_str().unwrap().to_string()
    }

    /// Polls a job until it is done.
    pub async fn wait_done(&self, path: &str, key: &str) -> Value {
        for _ in 0..600 {
            let (status, job) = self.get(path, key).await;
            assert_eq!(status, 200, "{job}");
            if job["state"] == "done" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{path} did not finish in 30 s");
    }
}
