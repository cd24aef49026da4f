//! Scale-out and the cost of runner processes.
//!
//! - `scale-out throughput [--submissions N] [--tests T] [--max-workers W]`: for W = 1, 2,
//!   ... `--max-workers`, a fresh PostgreSQL database (the tests' server, see
//!   `sandbox_server::store::testing`), the API in this process (`--workers 0`) and W worker
//!   processes (this binary's `worker` mode: `sandbox_server::work`, one job at a time,
//!   guests in locked-down runner processes, which are this binary's `runner` mode). After a
//!   warm-up, N submissions of a problem with T tests (a WASI echo, accepted) are submitted
//!   in batches of 100; the clock stops when the last one is stored. Judge tests per second =
//!   N × T / that time.
//! - `scale-out overhead [--jobs N] [--backend B]`: the same trivial judge test (one test, the
//!   echo module) run N times through the service's executor in process and N times through
//!   a runner process (`RunnerSlot`: a request over a pipe, the job in a locked-down child,
//!   the answer back), in alternating rounds; the medians per job and their ratio. Beside
//!   them, a runner without the lockdown: what the process boundary alone costs.
//!
//! One JSON line per measurement on stdout.

use sandbox_server::exec::{Engines, EnginesConfig, Source, Task};
use sandbox_server::runner::{Isolation, RunnerSettings, RunnerSlot};
use sandbox_server::store::testing::TestDatabase;
use sandbox_server::store::JobKind;
use sandbox_server::ServerConfig;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ECHO: &str = include_str!("../../../sandbox-server/tests/echo.wat");

fn flag(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|index| args.get(index + 1))
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn text_flag<'a>(args: &'a [String], name: &str, default: &'a str) -> &'a str {
    args.iter()
        .position(|arg| arg == name)
        .and_then(|index| args.get(index + 1))
        .map_or(default, String::as_str)
}

fn main() -> anyhow::Result<()> {
    // A runner process: first, before any thread exists.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "runner")
    {
        std::process::exit(sandbox_server::runner::runner_main());
    }
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => {
            let mut config = ServerConfig::new(&args[3]);
            config.database = Some(args[2].clone());
            config.workers = 1;
            config.isolation = Isolation::Process(runner_settings()?);
            sandbox_server::work(config)
        }
        Some("throughput") => throughput(&args),
        Some("overhead") => overhead(&args),
        _ => anyhow::bail!("usage: scale-out throughput [--submissions N] [--tests T] [--max-workers W] | overhead [--jobs N] [--backend B]"),
    }
}

fn runner_settings() -> anyhow::Result<RunnerSettings> {
    Ok(RunnerSettings::new(std::env::current_exe()?, &["runner"]))
}

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sandbox-scale-out-{name}-{}", std::process::id()))
}

fn throughput(args: &[String]) -> anyhow::Result<()> {
    let submissions = flag(args, "--submissions", 2_000).max(100) / 100 * 100;
    let tests = flag(args, "--tests", 5).max(1);
    let max_workers = flag(args, "--max-workers", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    sandbox_server::install_crypto_provider();
    for workers in 1..=max_workers {
        let database = runtime.block_on(TestDatabase::create());
        let key = sandbox_server::tenants::Admin::open(&database.url)?
            .add("bench", &Default::default())?
            .api_key;
        let dir = temp_dir(&format!("w{workers}"));
        let measured = runtime.block_on(measure(
            &database.url,
            &dir,
            &key,
            workers,
            submissions,
            tests,
        ));
        runtime.block_on(database.drop_database());
        let _ = std::fs::remove_dir_all(&dir);
        let seconds = measured?;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        println!(
            "{}",
            json!({
                "phase": "scale-out", "workers": workers, "submissions": submissions,
                "tests": tests, "seconds": seconds, "cores": cores,
                "tests_per_s": (submissions * tests) as f64 / seconds,
                "submissions_per_s": submissions as f64 / seconds,
            })
        );
    }
    Ok(())
}

fn spawn_worker(url: &str, dir: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .arg("worker")
        .arg(url)
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?)
}

async fn measure(
    url: &str,
    dir: &Path,
    key: &str,
    workers: usize,
    submissions: usize,
    tests: usize,
) -> anyhow::Result<f64> {
    let mut config = ServerConfig::new(dir.join("api"));
    config.database = Some(url.to_string());
    config.workers = 0;
    config.listen = "127.0.0.1:0".parse()?;
    let server = sandbox_server::Server::start(config).await?;
    let base = format!("http://{}", server.local_addr());
    let mut children = Vec::new();
    for n in 0..workers {
        children.push(spawn_worker(url, &dir.join(format!("worker{n}")))?);
    }
    let outcome = submit_and_wait(&base, url, key, submissions, tests).await;
    for child in &mut children {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
    }
    server.shutdown().await;
    outcome
}

async fn submit_and_wait(
    base: &str,
    url: &str,
    key: &str,
    submissions: usize,
    tests: usize,
) -> anyhow::Result<f64> {
    use sqlx::Connection;
    let client = reqwest::Client::new();
    let module: Value = client
        .put(format!("{base}/v1/modules"))
        .bearer_auth(key)
        .body(ECHO)
        .send()
        .await?
        .json()
        .await?;
    let tests: Vec<Value> = (0..tests)
        .map(|n| json!({"id": n, "input": format!("{n}\n"), "expected_output": format!("{n}\n")}))
        .collect();
    let problem: Value = client
        .post(format!("{base}/v1/problems"))
        .bearer_auth(key)
        .json(&json!({"tests": tests}))
        .send()
        .await?
        .json()
        .await?;
    let batch = json!({"submissions": vec![json!({"problem": problem["id"], "module": module["sha256"]}); 100]});
    let mut connection = sqlx::PgConnection::connect(url).await?;
    // Warm-up: workers and runners started, module compiled on each.
    post_batch(&client, base, key, &batch).await?;
    while done(&mut connection).await? < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    for _ in 0..submissions / 100 {
        post_batch(&client, base, key, &batch).await?;
    }
    while done(&mut connection).await? < submissions + 100 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the workers did not finish"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn done(connection: &mut sqlx::PgConnection) -> anyhow::Result<usize> {
    use sqlx::Row;
    let row = sqlx::query("SELECT count(*) FROM jobs WHERE state = 'done'")
        .fetch_one(connection)
        .await?;
    Ok(row.get::<i64, _>(0) as usize)
}

async fn post_batch(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    batch: &Value,
) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/v1/submissions/batch"))
        .bearer_auth(key)
        .json(batch)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().as_u16() == 202,
        "a batch was refused: {}",
        response.text().await?
    );
    Ok(())
}

/// The module and problem of the overhead measurement, from memory.
struct Memory {
    problem: String,
}

impl Source for Memory {
    fn module(&self, _sha256: &str) -> Result<Vec<u8>, sandbox::SandboxError> {
        Ok(ECHO.as_bytes().to_vec())
    }

    fn problem(&self, _tenant_id: i64, _id: &str) -> Result<String, String> {
        Ok(self.problem.clone())
    }
}

fn overhead(args: &[String]) -> anyhow::Result<()> {
    let jobs = flag(args, "--jobs", 4_000).max(10);
    let backend = text_flag(args, "--backend", "wasmtime");
    let dir = temp_dir("overhead");
    let config = ServerConfig::new(&dir);
    let sha = sandbox_server::keys::sha256_hex(ECHO.as_bytes());
    std::fs::create_dir_all(config.modules_dir())?;
    std::fs::write(config.modules_dir().join(format!("{sha}.wasm")), ECHO)?;
    let problem = json!({
        "tests": [{"id": 1, "input": "hi\n", "expected_output": "hi\n"}],
        "limits": {}, "checker": null, "invoke": null,
    })
    .to_string();
    let task = Task {
        tenant_id: 1,
        kind: JobKind::Submission,
        spec: json!({"problem": "prb", "module": sha, "backend": backend}).to_string(),
        problem: Some(problem.clone()),
    };
    let engines = Engines::with(&EnginesConfig::of(&config));
    let source = Memory { problem };
    let mut slot = RunnerSlot::new(
        runner_settings()?,
        EnginesConfig::of(&config),
        config.runner_dirs(),
        1,
    );
    // A runner without the lockdown: what the process boundary alone costs.
    let mut bare = sandbox_server::runner::Runner::spawn(
        &runner_settings()?,
        &EnginesConfig::of(&config),
        &config.runner_dirs(),
        false,
        false,
    )?;
    let check = |outcome: &str| -> anyhow::Result<()> {
        anyhow::ensure!(outcome == "accepted", "verdict {outcome}");
        Ok(())
    };
    // Warm both: compiled code cached, runner started.
    for _ in 0..50 {
        check(&engines.execute(&source, 1, task.kind, &task.spec).outcome)?;
        check(&slot.run(&task).outcome)?;
        check(&bare.execute(&task)?.outcome)?;
    }
    let rounds = 8;
    let per_round = jobs / rounds;
    let (mut in_process, mut runner, mut unlocked) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..per_round {
            check(&engines.execute(&source, 1, task.kind, &task.spec).outcome)?;
        }
        in_process.push(started.elapsed().as_secs_f64() / per_round as f64);
        let started = Instant::now();
        for _ in 0..per_round {
            check(&slot.run(&task).outcome)?;
        }
        runner.push(started.elapsed().as_secs_f64() / per_round as f64);
        let started = Instant::now();
        for _ in 0..per_round {
            check(&bare.execute(&task)?.outcome)?;
        }
        unlocked.push(started.elapsed().as_secs_f64() / per_round as f64);
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let (in_process, runner, unlocked) = (
        median(&mut in_process),
        median(&mut runner),
        median(&mut unlocked),
    );
    let lockdown = slot.runner()?.lockdown().to_string();
    // The floor: a request the runner answers without work (a probe it refuses).
    let pings = 20_000;
    let started = Instant::now();
    for _ in 0..pings {
        bare.probe(&sandbox_server::runner::probe::Probe::Socket)?;
    }
    let ping = started.elapsed().as_secs_f64() / pings as f64;
    drop(slot);
    drop(bare);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{}",
        json!({
            "phase": "runner-overhead", "backend": backend, "jobs": per_round * rounds,
            "in_process_us": in_process * 1e6, "runner_us": runner * 1e6,
            "unlocked_runner_us": unlocked * 1e6, "round_trip_us": ping * 1e6,
            "ratio": runner / in_process, "lockdown": lockdown,
        })
    );
    Ok(())
}
