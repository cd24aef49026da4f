//! The demo's last part: the same module through the execution service (`sandbox serve`), in
//! this process on a free port of 127.0.0.1, with a throw-away database.

use serde_json::{json, Value};

/// Starts the service, adds a tenant, uploads `wat` (the demo module) and shows a run per
/// engine, a limit stopping a run, and a judged submission, all over HTTP. `false` when an
/// answer was not the expected one.
pub fn through_the_service(wat: &str) -> anyhow::Result<bool> {
    let dir = std::env::temp_dir().join(format!("sandbox-demo-service-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let outcome = run(&dir, wat);
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn run(dir: &std::path::Path, wat: &str) -> anyhow::Result<bool> {
    let mut config = sandbox_server::ServerConfig::new(dir);
    config.listen = "127.0.0.1:0".parse()?;
    // Guests in locked-down runner processes (this binary's `runner` command), as `sandbox
    // serve` runs them by default, where the kernel can lock them down.
    let lockdown = match sandbox_server::runner::lockdown::available() {
        Ok(_) => {
            let settings =
                sandbox_server::runner::RunnerSettings::new(std::env::current_exe()?, &["runner"]);
            let mut slot = sandbox_server::runner::RunnerSlot::new(
                settings.clone(),
                sandbox_server::exec::EnginesConfig::of(&config),
                config.runner_dirs(),
                1,
            );
            let summary = slot.runner().map(|runner| runner.lockdown().to_string());
            config.isolation = sandbox_server::runner::Isolation::Process(settings);
            Some(summary)
        }
        Err(reason) => {
            println!("  (guests run in process here: {reason})");
            None
        }
    };
    let key = sandbox_server::tenants::Admin::open(&config.database_url())?
        .add("demo", &Default::default())?
        .api_key;
    sandbox_server::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = sandbox_server::Server::start(config).await?;
        let base = format!("http://{}", server.local_addr());
        println!("Through the service: `sandbox serve` on {base} (SQLite in a temporary directory), over HTTP");
        let mut lockdown_right = true;
        match &lockdown {
            Some(Ok(summary)) => {
                println!("  ✓ guests run in runner processes locked down by {summary}")
            }
            Some(Err(error)) => {
                lockdown_right = false;
                println!("  ✗ runner processes: {error}");
            }
            None => {}
        }
        let outcome = session(&base, &key, wat).await;
        server.shutdown().await;
        outcome.map(|right| right && lockdown_right)
    })
}

async fn session(base: &str, key: &str, wat: &str) -> anyhow::Result<bool> {
    let client = reqwest::Client::new();
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.bearer_auth(key).send().await?;
        let status = response.status().as_u16();
        anyhow::Ok((status, response.json::<Value>().await?))
    };
    let mut all_right = true;
    let mut show = |right: bool, line: String| {
        all_right &= right;
        println!("  {} {line}", if right { "✓" } else { "✗" });
    };
    let (status, module) = send(
        client
            .put(format!("{base}/v1/modules"))
            .body(wat.to_string()),
    )
    .await?;
    let sha = module["sha256"].as_str().unwrap_or_default().to_string();
    show(
        status == 200,
        format!(
            "PUT /v1/modules → {status}, sha256 {}…",
            &sha[..sha.len().min(12)]
        ),
    );
    for backend in sandbox::available_runtimes() {
        let body =
            json!({"module": sha, "backend": backend.to_string(), "invoke": "fib", "args": [40]});
        let (status, run) =
            send(client.post(format!("{base}/v1/runs?wait=true")).json(&body)).await?;
        let results = &run["result"]["results"];
        show(
            status == 200 && results == &json!([102334155]),
            format!(
                "POST /v1/runs?wait=true fib(40) on {backend:<8} → {status}, results {results}"
            ),
        );
    }
    let body = json!({"module": sha, "invoke": "spin", "limits": {"fuel": 100_000_000_000u64, "timeout_ms": 100}});
    let (status, run) = send(client.post(format!("{base}/v1/runs?wait=true")).json(&body)).await?;
    let outcome = run["result"]["outcome"]["kind"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    show(
        outcome == "time_limit_exceeded",
        format!("POST /v1/runs?wait=true spin, timeout_ms 100 → {status}, outcome {outcome}"),
    );
    let tests: Vec<Value> = [(10, 55), (20, 6765), (50, 12586269025u64)]
        .iter()
        .map(
            |(n, fib)| json!({"id": n, "input": n.to_string(), "expected_output": fib.to_string()}),
        )
        .collect();
    let (status, problem) = send(
        client
            .post(format!("{base}/v1/problems"))
            .json(&json!({"tests": tests, "invoke": "fib"})),
    )
    .await?;
    show(
        status == 201,
        format!("POST /v1/problems (fib, 3 tests) → {status}"),
    );
    let body = json!({"problem": problem["id"], "module": sha});
    let (status, judged) = send(
        client
            .post(format!("{base}/v1/submissions?wait=true"))
            .json(&body),
    )
    .await?;
    show(
        judged["verdict"] == "accepted",
        format!(
            "POST /v1/submissions?wait=true → {status}, verdict {}, {}/{} tests",
            judged["verdict"].as_str().unwrap_or("?"),
            judged["passed"],
            judged["total"]
        ),
    );
    Ok(all_right)
}
