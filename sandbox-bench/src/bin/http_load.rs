//! The execution service under load from a second process on loopback: trivial runs per
//! second through the HTTP API, and the latency of `?wait=true` runs.
//!
//! `http-load [--runs N] [--latency-runs N] [--concurrency C] [--workers W]` starts the
//! service (`sandbox_server::serve`, release build, SQLite in a temporary directory) as a
//! child process of itself, adds a tenant, uploads a trivial WASI command and then:
//!
//! - **throughput**: `C` connections submit `N` runs (202 each, committed) as fast as the
//!   service takes them; the clock stops when the last result is stored (`/readyz` shows an
//!   empty queue and no job running). Runs per second = N / that time.
//! - **latency**: one connection makes `--latency-runs` runs with `?wait=true`, one after the
//!   other; each latency is the whole HTTP exchange (accept, commit, queue, run, result
//!   commit, answer). p50 and p99 are printed.
//!
//! One JSON line per phase on stdout. Bounded: at most `N` runs and 120 s per phase.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TRIVIAL: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;
const PHASE_BOUND: Duration = Duration::from_secs(120);

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        // The service process.
        let mut config = sandbox_server::ServerConfig::new(&args[2]);
        config.listen = "127.0.0.1:0".parse()?;
        config.workers = flag(&args, "--workers", config.workers);
        return sandbox_server::serve(config);
    }
    let runs = flag(&args, "--runs", 20_000);
    let latency_runs = flag(&args, "--latency-runs", 2_000);
    let concurrency = flag(&args, "--concurrency", 32);
    let cores = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let workers = flag(&args, "--workers", cores);

    let dir = std::env::temp_dir().join(format!("sandbox-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let database = format!("sqlite://{}", dir.join("sandbox.db").display());
    let key = {
        let admin = sandbox_server::tenants::Admin::open(&database)?;
        admin.add("load", &Default::default())?.api_key
    };
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg(&dir)
        .args(["--workers", &workers.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let base = first
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .ok_or_else(|| anyhow::anyhow!("the service did not say where it listens: {first:?}"))?
        .to_string();
    std::thread::spawn(move || for _ in lines {});

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(load(
        &base,
        &key,
        runs,
        latency_runs,
        concurrency,
        workers,
        cores,
    ));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

async fn load(
    base: &str,
    key: &str,
    runs: usize,
    latency_runs: usize,
    concurrency: usize,
    workers: usize,
    cores: usize,
) -> anyhow::Result<()> {
    sandbox_server::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let module: Value = client
        .put(format!("{base}/v1/modules"))
        .bearer_auth(key)
        .body(TRIVIAL)
        .send()
        .await?
        .json()
        .await?;
    let module = module["sha256"].as_str().unwrap_or_default().to_string();
    let body = json!({"module": module}).to_string();
    // Warm-up: compile, connections.
    for _ in 0..200 {
        post(&client, &format!("{base}/v1/runs?wait=true"), key, &body).await?;
    }

    // Throughput.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url, key, body) = (
            client.clone(),
            next.clone(),
            format!("{base}/v1/runs"),
            key.to_string(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < runs && started.elapsed() < PHASE_BOUND {
                post(&client, &url, &key, &body).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let accepted_in = started.elapsed();
    loop {
        let ready: Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await?
            .json()
            .await?;
        if ready["queued"] == 0 && ready["running"] == 0 {
            break;
        }
        if started.elapsed() > 2 * PHASE_BOUND {
            anyhow::bail!("the queue did not drain: {ready}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let done_in = started.elapsed();
    let submitted = next.load(Ordering::Relaxed).min(runs);
    println!(
        "{}",
        json!({
            "phase": "throughput", "runs": submitted, "concurrency": concurrency,
            "workers": workers, "cores": cores,
            "accepted_s": accepted_in.as_secs_f64(), "completed_s": done_in.as_secs_f64(),
            "runs_per_s": submitted as f64 / done_in.as_secs_f64(),
            "accepted_per_s": submitted as f64 / accepted_in.as_secs_f64(),
        })
    );

    // Latency of ?wait=true, one request at a time.
    let url = format!("{base}/v1/runs?wait=true");
    let mut latencies = Vec::with_capacity(latency_runs);
    let started = Instant::now();
    while latencies.len() < latency_runs && started.elapsed() < PHASE_BOUND {
        let sent = Instant::now();
        let status = post(&client, &url, key, &body).await?;
        anyhow::ensure!(status == 200, "a ?wait=true run answered {status}");
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{}",
        json!({
            "phase": "latency", "runs": latencies.len(), "concurrency": 1, "workers": workers,
            "cores": cores, "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99),
            "max_ms": at(1.0),
            "mean_ms": latencies.iter().sum::<f64>() / latencies.len() as f64,
        })
    );
    Ok(())
}

async fn post(client: &reqwest::Client, url: &str, key: &str, body: &str) -> anyhow::Result<u16> {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status().as_u16();
    let _ = response.bytes().await?;
    anyhow::ensure!(
        status == 200 || status == 202,
        "the service answered {status}"
    );
    Ok(status)
}
