//! `sandbox serve` and `sandbox tenant` as a user runs them: the real binary, a temporary data
//! directory, HTTP on 127.0.0.1; SIGTERM drains, SIGKILL loses nothing.

mod common;

use common::{api_key, client, command as sandbox, upload, ECHO, SIGKILL, SIGTERM};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// `sandbox tenant add NAME`: the API key it prints.
fn add_tenant(dir: &Path, name: &str, extra: &[&str]) -> String {
    let output = sandbox()
        .args(["tenant", "add", name, "--data-dir"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    api_key(&output)
}

/// A running `sandbox serve` and its base URL.
struct Service {
    child: common::Guard,
    base: String,
}

fn serve(dir: &Path, workers: &str) -> Service {
    let mut command: Command = sandbox();
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            workers,
            "--data-dir",
        ])
        .arg(dir);
    let (child, first) = common::start(command);
    Service {
        child,
        base: common::address(&first),
    }
}

impl Service {
    fn signal(&mut self, signal: i32) {
        common::signal(&self.child, signal);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_from_tenant_to_verdict_then_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let key = add_tenant(
        dir.path(),
        "alice",
        &["--max-fuel", "1000000000", "--rate", "600/min"],
    );
    let listed = sandbox()
        .args(["tenant", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("alice") && listed.contains("600"),
        "{listed}"
    );
    let mut service = serve(dir.path(), "2");
    let client = client();
    let base = service.base.clone();
    let module = upload(&client, &base, &key, ECHO).await;
    let run: Value = client
        .post(format!("{base}/v1/runs?wait=true"))
        .bearer_auth(&key)
        .json(&json!({"module": module, "stdin": "hi", "backend": "wasmer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["result"]["stdout"], "hi", "{run}");
    let problem: Value = client
        .post(format!("{base}/v1/problems"))
        .bearer_auth(&key)
        .json(&json!({"tests": [{"id": 1, "input": "same", "expected_output": "same"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let submission: Value = client
        .post(format!("{base}/v1/submissions?wait=true"))
        .bearer_auth(&key)
        .json(&json!({"problem": problem["id"], "module": module}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(submission["verdict"], "accepted", "{submission}");
    // The key rotated by the CLI while the service runs stops working within two seconds.
    let rotated = sandbox()
        .args(["tenant", "rotate-key", "alice", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(rotated.status.success());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let status = client
        .get(format!("{base}/v1/runs/x"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    service.signal(SIGTERM);
    let status = service.child.wait().unwrap();
    assert!(status.success(), "SIGTERM drains and exits 0: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_jobs_survive_two_sigkills() {
    const JOBS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let key = add_tenant(dir.path(), "durable", &[]);
    let service = serve(dir.path(), "2");
    let client = client();
    let module = upload(&client, &service.base, &key, ECHO).await;
    let base = Arc::new(RwLock::new(service.base.clone()));
    let service = Arc::new(std::sync::Mutex::new(service));
    let next = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<std::sync::Mutex<Vec<(usize, String)>>> = Arc::default();

    let mut submitters = Vec::new();
    for _ in 0..16 {
        let (client, base, next, accepted, key, module) = (
            client.clone(),
            base.clone(),
            next.clone(),
            accepted.clone(),
            key.clone(),
            module.clone(),
        );
        submitters.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= JOBS {
                    return;
                }
                // Until this job is accepted (the service may be down between a kill and the
                // restart; a request cut by the kill is sent again).
                loop {
                    let url = format!("{}/v1/runs", base.read().unwrap());
                    let sent = client
                        .post(url)
                        .bearer_auth(&key)
                        .json(&json!({"module": module, "stdin": format!("job {n}")}))
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if let Ok(response) = sent {
                        if response.status().as_u16() == 202 {
                            if let Ok(body) = response.json::<Value>().await {
                                accepted
                                    .lock()
                                    .unwrap()
                                    .push((n, body["id"].as_str().unwrap().to_string()));
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    // Two SIGKILLs while jobs are being accepted and run, each followed by a restart.
    for threshold in [JOBS / 4, JOBS * 3 / 5] {
        let started = Instant::now();
        while accepted.lock().unwrap().len() < threshold {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "accepting stalled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut running = service.lock().unwrap();
        running.signal(SIGKILL);
        running.child.wait().unwrap();
        *running = serve(dir.path(), "2");
        *base.write().unwrap() = running.base.clone();
    }
    for submitter in submitters {
        submitter.await.unwrap();
    }
    // Wait for the queue to empty, then stop the service and read its database.
    let started = Instant::now();
    loop {
        let url = format!("{}/readyz", base.read().unwrap());
        let ready: Value = client.get(url).send().await.unwrap().json().await.unwrap();
        if ready["queued"] == 0 && ready["running"] == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "jobs did not finish: {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let mut running = service.lock().unwrap();
        running.signal(SIGTERM);
        assert!(running.child.wait().unwrap().success());
    }
    let url = format!("sqlite://{}", dir.path().join("sandbox.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, state, result, attempts FROM jobs")
            .fetch_all(&pool)
            .await
            .unwrap();
    let stored: std::collections::HashMap<String, (String, Option<String>, i64)> = rows
        .into_iter()
        .map(|(id, state, result, attempts)| (id, (state, result, attempts)))
        .collect();
    let accepted = accepted.lock().unwrap();
    assert_eq!(accepted.len(), JOBS);
    for (n, id) in accepted.iter() {
        let (state, result, attempts) = stored
            .get(id)
            .unwrap_or_else(|| panic!("accepted job {id} was lost"));
        assert_eq!(state, "done", "{id}");
        let result: Value = serde_json::from_str(result.as_deref().unwrap()).unwrap();
        assert_eq!(
            result["stdout"],
            format!("job {n}"),
            "{id} has another job's result"
        );
        assert!(*attempts >= 1);
    }
    // Every stored job is done: nothing left running or queued.
    assert!(stored.values().all(|(state, _, _)| state == "done"));
    let retried = stored
        .values()
        .filter(|(_, _, attempts)| *attempts > 1)
        .count();
    eprintln!(
        "{} jobs accepted, {} stored (the rest were committed by a service killed before it \
         answered), {retried} run again after a kill",
        accepted.len(),
        stored.len()
    );
}
