//! Scale-out as an operator runs it: one `sandbox serve --workers 0` (the API) and three
//! `sandbox worker` processes on one PostgreSQL database, guests in locked-down runner
//! processes; a worker killed with SIGKILL twice in the middle of jobs.

mod common;

use common::{api_key, client, command as sandbox, upload, Guard, ECHO, SIGKILL, SIGTERM};
use sandbox_server::store::testing::TestDatabase;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection, Row};
use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

const SUBMISSIONS: usize = 2_000;
const TESTS_PER_PROBLEM: usize = 5;

/// A worker process and its owner id (what the database's `jobs.owner` says of its claims).
fn worker(database: &str, dir: &Path) -> (Guard, String) {
    let mut command = sandbox();
    command
        .args([
            "worker",
            "--database",
            database,
            "--jobs",
            "1",
            "--lease",
            "2s",
        ])
        .arg("--data-dir")
        .arg(dir);
    let (child, first) = common::start(command);
    assert!(first.starts_with("sandbox worker"), "{first}");
    assert!(first.contains("runner processes"), "{first}");
    let owner = first
        .split_whitespace()
        .nth(2)
        .and_then(|word| word.strip_suffix(':'))
        .unwrap_or_else(|| panic!("no worker id in {first:?}"))
        .to_string();
    (child, owner)
}

/// How many jobs `owner` holds (claimed, not finished).
async fn running(connection: &mut PgConnection, owner: &str) -> i64 {
    sqlx::query("SELECT count(*) FROM jobs WHERE owner = $1 AND state = 'running'")
        .bind(owner)
        .fetch_one(&mut *connection)
        .await
        .unwrap()
        .get(0)
}

async fn count_done(connection: &mut PgConnection) -> i64 {
    sqlx::query("SELECT count(*) FROM done_log")
        .fetch_one(&mut *connection)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_and_three_workers_complete_ten_thousand_judge_tests_with_a_worker_killed_twice() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let api_dir = dir.path().join("api");
    let mut command = sandbox();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "0"])
        .args(["--database", &url, "--lease", "2s", "--data-dir"])
        .arg(&api_dir);
    let (mut api, first) = common::start(command);
    assert!(first.contains("0 workers"), "{first}");
    assert!(
        !first.contains(":sandbox@"),
        "the password is not printed: {first}"
    );
    let base = common::address(&first);
    let key = api_key(
        &sandbox()
            .args(["tenant", "add", "contest", "--database", &url, "--data-dir"])
            .arg(&api_dir)
            .output()
            .unwrap(),
    );

    // Every transition of a job to `done`, logged by the database itself.
    let mut connection = PgConnection::connect(&url).await.unwrap();
    for statement in [
        "CREATE TABLE done_log (id TEXT NOT NULL, attempts BIGINT NOT NULL)",
        "CREATE FUNCTION log_done() RETURNS trigger AS $$ BEGIN \
             INSERT INTO done_log VALUES (NEW.id, NEW.attempts); RETURN NEW; END $$ \
             LANGUAGE plpgsql",
        "CREATE TRIGGER log_done AFTER UPDATE OF state ON jobs FOR EACH ROW \
             WHEN (NEW.state = 'done' AND OLD.state <> 'done') EXECUTE FUNCTION log_done()",
    ] {
        sqlx::query(statement)
            .execute(&mut connection)
            .await
            .unwrap();
    }

    let client = client();
    let module = upload(&client, &base, &key, ECHO).await;
    let tests: Vec<Value> = (0..TESTS_PER_PROBLEM)
        .map(|n| json!({"id": n, "input": format!("line {n}\n"), "expected_output": format!("line {n}\n")}))
        .collect();
    let problem: Value = client
        .post(format!("{base}/v1/problems"))
        .bearer_auth(&key)
        .json(&json!({"tests": tests}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let problem = problem["id"].as_str().expect("a problem").to_string();

    let workers_dir = dir.path().join("workers");
    let (mut workers, mut owners): (Vec<Guard>, Vec<String>) = (0..3)
        .map(|n| worker(&url, &workers_dir.join(format!("w{n}"))))
        .unzip();

    // A run waited for: the API process hears of its result from the worker that stored it
    // (LISTEN/NOTIFY across processes).
    let run: Value = client
        .post(format!("{base}/v1/runs?wait=true"))
        .bearer_auth(&key)
        .json(&json!({"module": module, "stdin": "ping", "backend": "wasmer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["result"]["stdout"], "ping", "{run}");

    let mut ids = Vec::with_capacity(SUBMISSIONS);
    for _ in 0..SUBMISSIONS / 100 {
        let batch: Vec<Value> = (0..100)
            .map(|_| json!({"problem": problem, "module": module}))
            .collect();
        let accepted: Value = client
            .post(format!("{base}/v1/submissions/batch"))
            .bearer_auth(&key)
            .json(&json!({"submissions": batch}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let batch_ids = accepted["ids"]
            .as_array()
            .unwrap_or_else(|| panic!("{accepted}"));
        ids.extend(batch_ids.iter().map(|id| id.as_str().unwrap().to_string()));
    }

    // Kill worker 0 in the middle of its jobs twice, starting it again each time. A kill
    // counts when the dead worker still holds a claimed job (the database says so, and nothing
    // but its lease's expiry, 2 s later, can change that): a job can finish between the look
    // and the signal, and such a kill, which interrupted nothing, is made again.
    let started = Instant::now();
    let mut kills = 0;
    for threshold in [SUBMISSIONS as i64 / 4, SUBMISSIONS as i64 / 2] {
        while count_done(&mut connection).await < threshold {
            assert!(started.elapsed() < Duration::from_secs(600), "too slow");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        loop {
            while running(&mut connection, &owners[0]).await == 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(600),
                    "worker 0 is idle"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            common::signal(&workers[0], SIGKILL);
            workers[0].wait().unwrap();
            kills += 1;
            let interrupted = running(&mut connection, &owners[0]).await > 0;
            (workers[0], owners[0]) = worker(&url, &workers_dir.join("w0"));
            if interrupted {
                break;
            }
            assert!(kills < 20, "no SIGKILL landed while worker 0 held a job");
        }
    }
    while count_done(&mut connection).await < SUBMISSIONS as i64 + 1 {
        assert!(started.elapsed() < Duration::from_secs(600), "too slow");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every submission done once, accepted on all its tests; the kills interrupted jobs
    // that other workers finished.
    let log = sqlx::query("SELECT id, attempts FROM done_log")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    let logged: Vec<String> = log.iter().map(|row| row.get(0)).collect();
    let mut expected: HashSet<String> = ids.iter().cloned().collect();
    expected.insert(run["id"].as_str().unwrap().to_string());
    let unique: HashSet<String> = logged.iter().cloned().collect();
    let twice: Vec<&String> = logged
        .iter()
        .filter(|id| logged.iter().filter(|other| other == id).count() > 1)
        .collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    let missing: Vec<&String> = expected.difference(&unique).collect();
    let unknown: Vec<&String> = unique.difference(&expected).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "never stored: {missing:?}; not submitted: {unknown:?}"
    );
    assert_eq!(logged.len(), SUBMISSIONS + 1, "each result stored once");
    let retried = log.iter().filter(|row| row.get::<i64, _>(1) > 1).count();
    assert!(retried >= 1, "a SIGKILL interrupted at least one job");
    let mut tests_passed = 0;
    for chunk in ids.chunks(100) {
        let views: Value = client
            .get(format!(
                "{base}/v1/submissions/batch?ids={}",
                chunk.join(",")
            ))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for view in views["submissions"]
            .as_array()
            .unwrap_or_else(|| panic!("{views}"))
        {
            assert_eq!(view["verdict"], "accepted", "{view}");
            tests_passed += view["passed"].as_u64().unwrap();
        }
    }
    assert_eq!(tests_passed as usize, SUBMISSIONS * TESTS_PER_PROBLEM);
    println!(
        "{SUBMISSIONS} submissions ({tests_passed} judge tests) in {:.1?}, {retried} taken over \
         after {kills} SIGKILLs",
        started.elapsed()
    );

    for child in workers.iter_mut().chain([&mut api]) {
        common::signal(child, SIGTERM);
        let status = child.wait().unwrap();
        assert!(status.success(), "SIGTERM drains and exits 0: {status}");
    }
    drop(connection);
    database.drop_database().await;
}
