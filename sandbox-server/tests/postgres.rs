//! The PostgreSQL job store's rules, tested directly against a real server: claims with
//! `FOR UPDATE SKIP LOCKED`, leases, fenced completion, poison jobs, fairness, `max_concurrent`,
//! the engines a worker takes, `LISTEN/NOTIFY`.

use sandbox_server::store::testing::TestDatabase;
use sandbox_server::store::{
    now_ms, Completion, Done, JobKind, JobState, NewJob, QueuedJob, Store,
};
use sandbox_server::TenantLimits;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn both() -> Vec<String> {
    vec!["wasmtime".into(), "wasmer".into()]
}

async fn open(url: &str) -> (Store, Arc<Mutex<Vec<Done>>>) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let store = Store::open(
        url,
        Arc::new(move |done: Done| sink.lock().unwrap().push(done)),
    )
    .await
    .expect("open the PostgreSQL store");
    (store, heard)
}

async fn tenant(store: &Store, name: &str, limits: TenantLimits) -> i64 {
    store
        .add_tenant(name, &format!("hash-{name}"), "secret", &limits)
        .await
        .unwrap()
        .id
}

async fn insert(store: &Store, tenant_id: i64, count: usize, backend: &str) -> Vec<String> {
    let jobs: Vec<NewJob> = (0..count)
        .map(|n| NewJob {
            id: format!("run_{tenant_id}_{backend}_{n}_{}", now_ms()),
            tenant_id,
            kind: JobKind::Run,
            spec: "{}".into(),
            callback_url: None,
            backend: backend.into(),
            created_at: now_ms(),
        })
        .collect();
    let ids = jobs.iter().map(|job| job.id.clone()).collect();
    store.insert_jobs(jobs).await.unwrap();
    ids
}

fn completion(job: &QueuedJob, attempt: i64, result: &str) -> Completion {
    Completion {
        id: job.id.clone(),
        tenant_id: job.tenant_id,
        attempt,
        result: result.into(),
        outcome: "ok".into(),
        callback_url: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_the_late_worker_cannot_overwrite() {
    let database = TestDatabase::create().await;
    let (store, _) = open(&database.url).await;
    let tenant_id = tenant(&store, "t", TenantLimits::default()).await;
    let ids = insert(&store, tenant_id, 1, "wasmtime").await;

    // Worker A claims with a lease that has already run out.
    let claimed = store
        .claim_next("worker-a", 5, now_ms() - 1, &both())
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 0, "first claim is attempt 1");
    let first = claimed[0].clone();
    // Nothing else to claim while it runs.
    assert!(store
        .claim_next("worker-b", 5, now_ms() + 60_000, &both())
        .await
        .unwrap()
        .is_empty());

    // Its lease expired: the job goes back to the queue, worker B takes it as attempt 2.
    let requeued = store.requeue(now_ms(), false, 3).await.unwrap();
    assert_eq!(requeued.requeued, 1);
    let second = store
        .claim_next("worker-b", 5, now_ms() + 60_000, &both())
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attempts, 1);

    // A finishes late: fenced out. B's result is the one stored.
    store.complete(completion(&first, 1, "\"late\"")).unwrap();
    store.flush().await.unwrap();
    let job = store.job(tenant_id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        JobState::Running,
        "a stale attempt stores nothing"
    );
    store.complete(completion(&second[0], 2, "\"b\"")).unwrap();
    store.flush().await.unwrap();
    let job = store.job(tenant_id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.result.as_deref(), Some("\"b\""));
    assert_eq!(job.attempts, 2);
    // And B again (a duplicate delivery) changes nothing.
    store
        .complete(completion(&second[0], 2, "\"again\""))
        .unwrap();
    store.flush().await.unwrap();
    let job = store.job(tenant_id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(job.result.as_deref(), Some("\"b\""));

    // A renewing its lease does not touch the job it lost.
    assert_eq!(
        store
            .renew_leases("worker-a", now_ms() + 60_000)
            .await
            .unwrap(),
        0
    );
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_keeps_killing_its_worker_ends_as_internal_error() {
    let database = TestDatabase::create().await;
    let (store, heard) = open(&database.url).await;
    let tenant_id = tenant(&store, "t", TenantLimits::default()).await;
    let ids = insert(&store, tenant_id, 1, "wasmtime").await;
    for attempt in 1..=3 {
        let claimed = store
            .claim_next(&format!("worker-{attempt}"), 1, now_ms() - 1, &both())
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "attempt {attempt} claims it");
        // The worker dies; its lease runs out.
        let requeued = store.requeue(now_ms(), false, 3).await.unwrap();
        if attempt < 3 {
            assert_eq!(requeued.requeued, 1);
            assert!(requeued.poisoned.is_empty());
        } else {
            assert_eq!(requeued.poisoned, ids);
        }
    }
    let job = store.job(tenant_id, &ids[0]).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    let result: serde_json::Value = serde_json::from_str(job.result.as_deref().unwrap()).unwrap();
    assert_eq!(result["outcome"]["kind"], "internal_error");
    assert!(result["outcome"]["message"]
        .as_str()
        .unwrap()
        .contains("3 times"));
    assert!(store
        .claim_next("w", 1, now_ms() + 1000, &both())
        .await
        .unwrap()
        .is_empty());
    // The API process hears of it (NOTIFY sandbox_done).
    wait_until(|| heard.lock().unwrap().iter().any(|done| done.id == ids[0])).await;
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_take_the_same_job() {
    let database = TestDatabase::create().await;
    let (store, _) = open(&database.url).await;
    let tenant_id = tenant(&store, "t", TenantLimits::default()).await;
    let ids: HashSet<String> = insert(&store, tenant_id, 60, "wasmtime")
        .await
        .into_iter()
        .collect();
    // Eight "workers", each with its own connection, claiming at once until the queue is
    // empty.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let url = database.url.clone();
        tasks.push(tokio::spawn(async move {
            let (store, _) = open(&url).await;
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_next(&format!("w{worker}"), 3, now_ms() + 60_000, &both())
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    break;
                }
                mine.extend(claimed.into_iter().map(|job| job.id));
            }
            store.close().await;
            mine
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 60, "every job claimed once: {seen:?}");
    assert_eq!(unique, ids);
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_fair_bounded_and_by_engine() {
    let database = TestDatabase::create().await;
    let (store, _) = open(&database.url).await;
    let flood = tenant(&store, "flood", TenantLimits::default()).await;
    let small = tenant(&store, "small", TenantLimits::default()).await;
    let capped = tenant(
        &store,
        "capped",
        TenantLimits {
            max_concurrent: Some(1),
            ..TenantLimits::default()
        },
    )
    .await;
    insert(&store, flood, 50, "wasmtime").await;
    let small_ids = insert(&store, small, 1, "wasmtime").await;
    insert(&store, capped, 5, "wasmtime").await;
    let wasmer_ids = insert(&store, small, 1, "wasmer").await;

    // Three at once: one of each tenant (the flood does not starve the others), none on
    // wasmer for a wasmtime-only worker.
    let wasmtime = vec!["wasmtime".to_string()];
    let claimed = store
        .claim_next("w", 3, now_ms() + 60_000, &wasmtime)
        .await
        .unwrap();
    let tenants: HashSet<i64> = claimed.iter().map(|job| job.tenant_id).collect();
    assert_eq!(tenants, HashSet::from([flood, small, capped]));
    assert!(claimed.iter().any(|job| job.id == small_ids[0]));
    // The capped tenant has its one job running: none more of it.
    let more = store
        .claim_next("w", 20, now_ms() + 60_000, &wasmtime)
        .await
        .unwrap();
    assert!(more.iter().all(|job| job.tenant_id == flood), "{more:?}");
    // A wasmer worker takes the wasmer job.
    let on_wasmer = store
        .claim_next("w2", 5, now_ms() + 60_000, &["wasmer".to_string()])
        .await
        .unwrap();
    assert_eq!(
        on_wasmer
            .iter()
            .map(|job| job.id.clone())
            .collect::<Vec<_>>(),
        wasmer_ids
    );
    store.close().await;
    database.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_hear_new_jobs_and_api_processes_hear_results() {
    let database = TestDatabase::create().await;
    let (api, heard) = open(&database.url).await;
    let (worker, _) = open(&database.url).await;
    let tenant_id = tenant(&api, "t", TenantLimits::default()).await;
    let mut signal = worker.job_signal();
    signal.borrow_and_update();
    insert(&api, tenant_id, 1, "wasmtime").await;
    tokio::time::timeout(Duration::from_secs(5), signal.changed())
        .await
        .expect("the worker hears NOTIFY sandbox_jobs")
        .unwrap();
    let claimed = worker
        .claim_next("w", 1, now_ms() + 60_000, &both())
        .await
        .unwrap();
    worker.complete(completion(&claimed[0], 1, "{}")).unwrap();
    worker.flush().await.unwrap();
    let id = claimed[0].id.clone();
    wait_until(|| heard.lock().unwrap().iter().any(|done| done.id == id)).await;
    api.close().await;
    worker.close().await;
    database.drop_database().await;
}

async fn wait_until(condition: impl Fn() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting");
}
