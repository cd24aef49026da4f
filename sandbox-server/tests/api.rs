//! The service over HTTP: every endpoint, tenants kept apart, quotas, bad input, callbacks,
//! fairness and restarts. Each test starts a real server on 127.0.0.1 with its own SQLite
//! database.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const BACKENDS: [&str; 2] = ["wasmtime", "wasmer"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_answer() {
    let h = Harness::start().await;
    let (status, body) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
    let (status, body) = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, &body["status"]), (200, &json!("ready")), "{body}");
    let (status, doc) = h.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for path in [
        "/v1/modules",
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/problems",
        "/v1/submissions",
        "/v1/submissions/batch",
        "/v1/submissions/{id}",
        "/v1/tenants",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("RunRequest").is_some());
    let metrics = h
        .request(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    for name in [
        "sandbox_queue_depth",
        "sandbox_workers_busy",
        "sandbox_run_latency_seconds_bucket",
        "sandbox_queue_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let (status, body) = h.call(Method::GET, "/v1/nothing", None, None).await;
    assert_eq!((status, &body["error"]["kind"]), (404, &json!("not_found")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_run_on_both_engines() {
    let h = Harness::start().await;
    let (key, _) = h.tenant("alice", json!({})).await;
    let hello = h.upload(&key, HELLO).await;
    // Stored once per content: the same bytes, the same name.
    assert_eq!(h.upload(&key, HELLO).await, hello);
    let funcs = h.upload(&key, FUNCS).await;
    let (status, info) = h.get(&format!("/v1/modules/{funcs}"), &key).await;
    assert_eq!(status, 200);
    assert_eq!(info["exports"], json!(["add", "spin", "grow"]));
    for backend in BACKENDS {
        let (status, run) = h
            .post(
                "/v1/runs?wait=true",
                &key,
                json!({"module": hello, "backend": backend}),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["state"], "done");
        assert_eq!(run["result"]["stdout"], "hello\n", "{run}");
        assert_eq!(run["result"]["backend"], backend);
        assert_eq!(run["result"]["outcome"]["kind"], "ok");
        // Read back by id.
        let id = run["id"].as_str().unwrap();
        let (status, again) = h.get(&format!("/v1/runs/{id}"), &key).await;
        assert_eq!(status, 200);
        assert_eq!(again["result"], run["result"]);

        let (_, add) = h
            .post(
                "/v1/runs?wait=true",
                &key,
                json!({"module": funcs, "backend": backend, "invoke": "add", "args": [5, "7"]}),
            )
            .await;
        assert_eq!(add["result"]["results"], json!([12]), "{add}");

        // Without waiting: 202, then the result by polling.
        let (status, accepted) = h
            .post(
                "/v1/runs",
                &key,
                json!({"module_base64": b64(ECHO), "backend": backend, "stdin": "echo me"}),
            )
            .await;
        assert_eq!(
            (status, &accepted["state"]),
            (202, &json!("queued")),
            "{accepted}"
        );
        let job = h
            .wait_done(
                &format!("/v1/runs/{}", accepted["id"].as_str().unwrap()),
                &key,
            )
            .await;
        assert_eq!(job["result"]["stdout"], "echo me");
        assert_eq!(job["attempts"], 1);
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_of_a_request_is_enforced() {
    let h = Harness::start().await;
    let (key, _) = h.tenant("limits", json!({})).await;
    let funcs = h.upload(&key, FUNCS).await;
    for backend in BACKENDS {
        let run = |body: Value| {
            let mut body = body;
            body["module"] = json!(funcs);
            body["backend"] = json!(backend);
            h.post("/v1/runs?wait=true", &key, body)
        };
        let (_, fuel) = run(json!({"invoke": "spin", "limits": {"fuel": 100000}})).await;
        assert_eq!(
            fuel["result"]["outcome"]["kind"], "fuel_exhausted",
            "{fuel}"
        );
        assert_eq!(fuel["result"]["fuel_consumed"], 100000);
        let (_, time) =
            run(json!({"invoke": "spin", "limits": {"fuel": 100000000000u64, "timeout_ms": 50}}))
                .await;
        assert_eq!(
            time["result"]["outcome"]["kind"], "time_limit_exceeded",
            "{time}"
        );
        let (_, memory) =
            run(json!({"invoke": "grow", "args": [100], "limits": {"max_memory_bytes": 1048576}}))
                .await;
        assert_eq!(
            memory["result"]["outcome"]["kind"], "memory_limit_exceeded",
            "{memory}"
        );
        let chatty = h.upload(&key, printer(&"x".repeat(100))).await;
        let (_, output) = h
            .post(
                "/v1/runs?wait=true",
                &key,
                json!({"module": chatty, "backend": backend, "limits": {"max_output_bytes": 10}}),
            )
            .await;
        assert_eq!(output["result"]["stdout_truncated"], true, "{output}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_only_their_own() {
    let h = Harness::start().await;
    let (alice, _) = h.tenant("alice", json!({})).await;
    let (bob, _) = h.tenant("bob", json!({})).await;
    let module = h.upload(&alice, HELLO).await;
    let (_, run) = h
        .post("/v1/runs?wait=true", &alice, json!({"module": module}))
        .await;
    let run_id = run["id"].as_str().unwrap();
    let (_, problem) = h
        .post(
            "/v1/problems",
            &alice,
            json!({"tests": [{"id": 1, "input": "", "expected_output": "hello"}]}),
        )
        .await;
    let problem_id = problem["id"].as_str().unwrap();
    let (_, submission) = h
        .post(
            "/v1/submissions?wait=true",
            &alice,
            json!({"problem": problem_id, "module": module}),
        )
        .await;
    assert_eq!(submission["verdict"], "accepted", "{submission}");
    let submission_id = submission["id"].as_str().unwrap();

    // Bob knows every id and gets 404 for each.
    for path in [
        format!("/v1/runs/{run_id}"),
        format!("/v1/modules/{module}"),
        format!("/v1/problems/{problem_id}"),
        format!("/v1/submissions/{submission_id}"),
    ] {
        let (status, body) = h.get(&path, &bob).await;
        assert_eq!(
            (status, &body["error"]["kind"]),
            (404, &json!("not_found")),
            "{path}: {body}"
        );
    }
    let (status, _) = h.post("/v1/runs", &bob, json!({"module": module})).await;
    assert_eq!(status, 404);
    let (status, _) = h
        .post(
            "/v1/submissions",
            &bob,
            json!({"problem": problem_id, "module_base64": b64(HELLO)}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, batch) = h
        .get(&format!("/v1/submissions/batch?ids={submission_id}"), &bob)
        .await;
    assert_eq!(batch["submissions"], json!([null]));
    // A run id is not a submission id.
    let (status, _) = h.get(&format!("/v1/submissions/{run_id}"), &alice).await;
    assert_eq!(status, 404);

    // Keys: none, unknown, a tenant's on an administrator's route.
    let (status, body) = h.call(Method::GET, "/v1/runs/x", None, None).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (401, &json!("unauthorized"))
    );
    let (status, _) = h.get("/v1/runs/x", "sk_not_a_key").await;
    assert_eq!(status, 401);
    let (status, _) = h.get("/v1/tenants", &alice).await;
    assert_eq!(status, 403);
    let (status, tenants) = h.get("/v1/tenants", &h.admin).await;
    assert_eq!(status, 200);
    assert_eq!(tenants.as_array().unwrap().len(), 2);
    assert!(
        !tenants.to_string().contains("key"),
        "no key or hash is ever shown: {tenants}"
    );

    // A rotated key replaces the old one; a removed tenant's key stops working.
    let (status, rotated) = h
        .call(
            Method::POST,
            "/v1/tenants/bob/rotate-key",
            Some(&h.admin.clone()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let new_bob = rotated["api_key"].as_str().unwrap();
    assert_eq!(h.get("/v1/runs/x", &bob).await.0, 401);
    assert_eq!(h.get("/v1/runs/x", new_bob).await.0, 404);
    let (status, _) = h
        .call(
            Method::DELETE,
            "/v1/tenants/alice",
            Some(&h.admin.clone()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(h.get(&format!("/v1/runs/{run_id}"), &alice).await.0, 401);
    let (status, body) = h
        .post("/v1/tenants", &h.admin.clone(), json!({"name": "bob"}))
        .await;
    assert_eq!((status, &body["error"]["kind"]), (409, &json!("conflict")));
    let (status, body) = h
        .post(
            "/v1/tenants",
            &h.admin.clone(),
            json!({"name": "no spaces"}),
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("name")));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_answer_422_429_and_503() {
    // No workers: jobs stay queued, so queue bounds can be reached.
    let h = Harness::start_with(|config| {
        config.workers = 0;
        config.max_queue = 5;
    })
    .await;
    let (capped, _) = h
        .tenant("capped", json!({"max_fuel": 1000, "max_memory_bytes": 1048576, "max_timeout_ms": 100, "max_queue": 2}))
        .await;
    let module = h.upload(&capped, HELLO).await;
    for (limits, field) in [
        (json!({"fuel": 1001}), "limits.fuel"),
        (
            json!({"max_memory_bytes": 2097152}),
            "limits.max_memory_bytes",
        ),
        (json!({"timeout_ms": 101}), "limits.timeout_ms"),
        (json!({"fuel": 0}), "limits.fuel"),
    ] {
        let (status, body) = h
            .post(
                "/v1/runs",
                &capped,
                json!({"module": module, "limits": limits}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    // The tenant's own queue bound: 429 with Retry-After.
    let response = third_run_after_two(&h, &capped, &module).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().get("retry-after").is_some());
    // The rate: two a minute, the third refused.
    let (rated, _) = h.tenant("rated", json!({"rate_per_min": 2})).await;
    let module = h.upload(&rated, HELLO).await;
    let response = third_run_after_two(&h, &rated, &module).await;
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The service's queue (5): one more job fits, then 503.
    let (free, _) = h.tenant("free", json!({})).await;
    let module = h.upload(&free, HELLO).await;
    assert_eq!(
        h.post("/v1/runs", &free, json!({"module": module})).await.0,
        202
    );
    let (status, body) = h.post("/v1/runs", &free, json!({"module": module})).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (503, &json!("queue_full")),
        "{body}"
    );
    h.stop().await;
}

/// Two runs accepted (202), then the answer to a third.
async fn third_run_after_two(h: &Harness, key: &str, module: &str) -> reqwest::Response {
    for _ in 0..2 {
        let (status, body) = h.post("/v1/runs", key, json!({"module": module})).await;
        assert_eq!(status, 202, "{body}");
    }
    h.request(
        Method::POST,
        "/v1/runs",
        Some(key),
        Some(json!({"module": module})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx() {
    let h = Harness::start_with(|config| config.max_body_bytes = 1 << 20).await;
    let (key, _) = h.tenant("fuzzy", json!({})).await;
    let module = h.upload(&key, HELLO).await;
    let no_start = h.upload(&key, FUNCS).await;
    let raw = |body: &'static [u8]| {
        h.client
            .post(format!("{}/v1/runs", h.base))
            .bearer_auth(&key)
            .body(body)
            .send()
    };
    let response = raw(b"{not json").await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["kind"],
        "bad_json"
    );
    let response = raw(b"").await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    for (body, what) in [
        (
            json!({"module": module, "limits": {"fuel": "lots"}}),
            "wrong type",
        ),
        (
            json!({"module": module, "limits": {"fuel": -1}}),
            "negative",
        ),
        (
            json!({"module": module, "limits": {"fuel": 1e30}}),
            "absurd",
        ),
        (json!({"module": module, "surprise": true}), "unknown field"),
        (
            json!({"module": module, "limits": {"fuel": 18446744073709551615u64}}),
            "above the maximum",
        ),
        (json!({}), "no module"),
        (json!({"module": "abc"}), "not a hash"),
        (json!({"module": module, "module_base64": "AA=="}), "both"),
        (json!({"module_base64": "!!!"}), "not base64"),
        (
            json!({"module": module, "backend": "v8"}),
            "unknown backend",
        ),
        (
            json!({"module": module, "callback_url": "ftp://example.invalid/x"}),
            "not http",
        ),
        (
            json!({"module": module, "callback_url": "not a url"}),
            "not a URL",
        ),
        (
            json!({"module": module, "callback_url": format!("{}/v1/runs", h.base)}),
            "points back",
        ),
        (
            json!({"module": module, "args": [1]}),
            "args without invoke",
        ),
        (
            json!({"module": module, "invoke": "add", "args": [[1]]}),
            "an array argument",
        ),
        (json!({"module": module, "env": {"A=B": "x"}}), "bad env"),
        (json!([1, 2, 3]), "an array"),
    ] {
        let (status, body) = h.post("/v1/runs", &key, body).await;
        assert_eq!(status, 422, "{what}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
    }
    let (status, body) = h
        .post("/v1/runs", &key, json!({"module": "0".repeat(64)}))
        .await;
    assert_eq!(status, 404, "{body}");
    // Modules: garbage, a component, an import the policy does not grant, too big.
    for (bytes, kind) in [
        (
            b"\x00asm\x01\x00\x00\x00\xff\xff".to_vec(),
            "invalid_module",
        ),
        (b"garbage garbage".to_vec(), "invalid_module"),
        (b"\x00asm\x0d\x00\x01\x00".to_vec(), "unsupported"),
        (
            br#"(module (import "env" "system" (func)))"#.to_vec(),
            "unauthorized_import",
        ),
        (Vec::new(), "invalid_module"),
    ] {
        let response = h
            .client
            .put(format!("{}/v1/modules", h.base))
            .bearer_auth(&key)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 422);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["kind"], kind, "{body}");
    }
    let huge = vec![0u8; 2 << 20];
    let response = h
        .client
        .put(format!("{}/v1/modules", h.base))
        .bearer_auth(&key)
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["kind"],
        "payload_too_large"
    );
    let response = h
        .client
        .post(format!("{}/v1/runs", h.base))
        .bearer_auth(&key)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    // Unknown ids, problems and batches.
    assert_eq!(h.get("/v1/runs/run_00", &key).await.0, 404);
    let (status, body) = h.get("/v1/submissions/%ff%fe", &key).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (400, &json!("bad_request")),
        "{body}"
    );
    let (status, body) = h.get("/v1/submissions/batch", &key).await;
    assert_eq!(
        (status, &body["error"]["kind"]),
        (400, &json!("bad_request")),
        "{body}"
    );
    let (status, body) = h
        .post(
            "/v1/submissions",
            &key,
            json!({"problem": "prb_nope", "module": module}),
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (404, &json!("problem")));
    for (body, field) in [
        (json!({"tests": []}), "tests"),
        (json!({"tests": "nope"}), "tests"),
        (
            json!({"tests": [{"id": 1, "input": "", "expected_output": "", "time_limit_ms": 100000}]}),
            "tests[0].time_limit_ms",
        ),
        (
            json!({"tests": [{"id": 1, "input": "", "expected_output": ""}], "checker": no_start}),
            "checker",
        ),
    ] {
        let (status, error) = h.post("/v1/problems", &key, body).await;
        assert!(status == 422 || status == 404, "{error}");
        assert_eq!(error["error"]["field"], field, "{error}");
    }
    let many: Vec<Value> = (0..101)
        .map(|_| json!({"problem": "p", "module": module}))
        .collect();
    let (status, body) = h
        .post("/v1/submissions/batch", &key, json!({"submissions": many}))
        .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (422, &json!("submissions"))
    );
    let (status, _) = h
        .get(
            &format!("/v1/submissions/batch?ids={}", vec!["a"; 101].join(",")),
            &key,
        )
        .await;
    assert_eq!(status, 422);
    // Still healthy.
    assert_eq!(h.call(Method::GET, "/readyz", None, None).await.0, 200);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_and_submissions_give_verdicts() {
    let h = Harness::start().await;
    let (key, _) = h.tenant("judge", json!({})).await;
    let sum = h.upload(&key, sum_wasm()).await;
    let hello = h.upload(&key, HELLO).await;
    let spinner = h
        .upload(
            &key,
            r#"(module (func (export "_start") (loop $l (br $l))))"#,
        )
        .await;
    let (status, problem) = h
        .post(
            "/v1/problems",
            &key,
            json!({
                "tests": [
                    {"id": 1, "input": "5 7\n", "expected_output": "12\n"},
                    {"id": "big", "input": "1000000 2000000", "expected_output": "3000000"}
                ],
                "limits": {"time_limit_ms": 200}
            }),
        )
        .await;
    assert_eq!(status, 201, "{problem}");
    assert_eq!(problem["tests"], 2);
    let problem = problem["id"].as_str().unwrap().to_string();
    let (status, stored) = h.get(&format!("/v1/problems/{problem}"), &key).await;
    assert_eq!((status, &stored["id"]), (200, &json!(problem)));
    for backend in BACKENDS {
        let (status, accepted) = h
            .post(
                "/v1/submissions?wait=true",
                &key,
                json!({"problem": problem, "module": sum, "backend": backend}),
            )
            .await;
        assert_eq!(status, 200, "{accepted}");
        assert_eq!(
            (
                &accepted["verdict"],
                &accepted["passed"],
                &accepted["total"]
            ),
            (&json!("accepted"), &json!(2), &json!(2)),
            "{accepted}"
        );
        assert_eq!(accepted["result"]["results"][1]["test_id"], "big");
        assert_eq!(accepted["problem"], json!(problem));
    }
    // A batch with every kind of answer, read back with one request.
    let (status, batch) = h
        .post(
            "/v1/submissions/batch",
            &key,
            json!({"submissions": [
                {"problem": problem, "module": sum},
                {"problem": problem, "module": hello, "backend": "wasmer"},
                {"problem": problem, "module": spinner},
            ]}),
        )
        .await;
    assert_eq!(status, 202, "{batch}");
    let ids: Vec<String> = batch["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        h.wait_done(&format!("/v1/submissions/{id}"), &key).await;
    }
    let (status, views) = h
        .get(
            &format!("/v1/submissions/batch?ids={}", ids.join(",")),
            &key,
        )
        .await;
    assert_eq!(status, 200);
    let verdicts: Vec<&str> = views["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["accepted", "wrong_answer", "time_limit_exceeded"]
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checker_module_decides_problems_with_many_answers() {
    let h = Harness::start().await;
    let (key, _) = h.tenant("checked", json!({})).await;
    let checker = h.upload(&key, EVEN_CHECKER).await;
    let (status, problem) = h
        .post(
            "/v1/problems",
            &key,
            json!({
                "tests": [{"id": 1, "input": "any even digit", "expected_output": "0"}],
                "checker": checker
            }),
        )
        .await;
    assert_eq!(status, 201, "{problem}");
    let problem = problem["id"].as_str().unwrap();
    for backend in BACKENDS {
        let submit = |text: &str| {
            h.post("/v1/submissions?wait=true", &key,
                   json!({"problem": problem, "module_base64": b64(&printer(text)), "backend": backend}))
        };
        // "4" is not the expected "0", and the checker accepts it.
        let (_, four) = submit("4\n").await;
        assert_eq!(four["verdict"], "accepted", "{four}");
        let (_, three) = submit("3\n").await;
        assert_eq!(three["verdict"], "wrong_answer", "{three}");
        assert_eq!(
            three["result"]["results"][0]["detail"],
            json!({"kind": "checker", "message": "odd"})
        );
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_are_signed_and_retried() {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let sink = received.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let mut calls = sink.lock().unwrap();
                calls.push((headers, body));
                // The first delivery fails: the service must try again.
                if calls.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let h = Harness::start().await;
    let (key, secret) = h.tenant("hooked", json!({})).await;
    let module = h.upload(&key, HELLO).await;
    let (status, accepted) = h
        .post(
            "/v1/runs",
            &key,
            json!({"module": module, "callback_url": hook}),
        )
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap();
    for _ in 0..200 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "one failed delivery, one retry");
    for (attempt, (headers, body)) in calls.iter().enumerate() {
        assert_eq!(headers["x-sandbox-job"], id);
        assert_eq!(
            headers["x-sandbox-attempt"],
            (attempt + 1).to_string().as_str()
        );
        let signature = sandbox_server::keys::signature(&secret, body.as_bytes());
        assert_eq!(headers["x-sandbox-signature"], signature.as_str());
        let job: Value = serde_json::from_str(body).unwrap();
        assert_eq!((&job["id"], &job["state"]), (&json!(id), &json!("done")));
        assert_eq!(job["result"]["stdout"], "hello\n");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "delivered: no more attempts"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_tenant_does_not_starve_another() {
    let h = Harness::start_with(|config| config.workers = 1).await;
    let (flood, _) = h.tenant("flood", json!({})).await;
    let (quiet, _) = h.tenant("quiet", json!({})).await;
    // Each flood job burns its fuel: a few milliseconds.
    let spin = h.upload(&flood, FUNCS).await;
    let ids: Vec<String> = futures_ids(&h, &flood, &spin, 60).await;
    let hello = h.upload(&quiet, HELLO).await;
    let (status, run) = h
        .post("/v1/runs?wait=true", &quiet, json!({"module": hello}))
        .await;
    assert_eq!((status, &run["state"]), (200, &json!("done")), "{run}");
    // The quiet tenant's job ran next in turn, ahead of most of the flood.
    let mut unfinished = 0;
    for id in &ids {
        if h.get(&format!("/v1/runs/{id}"), &flood).await.1["state"] != "done" {
            unfinished += 1;
        }
    }
    assert!(
        unfinished >= 40,
        "only {unfinished} of 60 flood jobs were still waiting"
    );
    h.stop().await;
}

async fn futures_ids(h: &Harness, key: &str, module: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let (status, accepted) = h
            .post(
                "/v1/runs",
                key,
                json!({"module": module, "invoke": "spin", "limits": {"fuel": 20000000}}),
            )
            .await;
        assert_eq!(status, 202);
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_jobs_survive_a_restart() {
    // Accept with no workers, stop, start again with workers: every job completes once.
    let h = Harness::start_with(|config| config.workers = 0).await;
    let (key, _) = h.tenant("durable", json!({})).await;
    let module = h.upload(&key, ECHO).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let (status, accepted) = h
            .post(
                "/v1/runs",
                &key,
                json!({"module": module, "stdin": format!("job {n}")}),
            )
            .await;
        assert_eq!(status, 202);
        ids.push(accepted["id"].as_str().unwrap().to_string());
    }
    let dir = h.stop().await;
    let config = test_config(dir.path());
    let h = Harness::start_in(dir, config).await;
    for (n, id) in ids.iter().enumerate() {
        let job = h.wait_done(&format!("/v1/runs/{id}"), &key).await;
        assert_eq!(job["result"]["stdout"], format!("job {n}"));
        assert_eq!(job["attempts"], 1);
    }
    // Draining: new jobs are refused while it stops.
    h.stop().await;
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_puts_what_it_cannot_finish_back_in_the_queue() {
    let h = Harness::start_with(|config| {
        config.workers = 1;
        config.drain_timeout = Duration::from_millis(300);
    })
    .await;
    let (key, _) = h.tenant("slow", json!({})).await;
    let funcs = h.upload(&key, FUNCS).await;
    // A run that takes 3 s, then one behind it in the queue.
    let spin = json!({"module": funcs, "invoke": "spin", "limits": {"fuel": 100000000000u64, "timeout_ms": 3000}});
    let (_, running) = h.post("/v1/runs", &key, spin.clone()).await;
    let (_, queued) = h.post("/v1/runs", &key, spin).await;
    for _ in 0..100 {
        if h.get(
            &format!("/v1/runs/{}", running["id"].as_str().unwrap()),
            &key,
        )
        .await
        .1["state"]
            == "running"
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let base = h.base.clone();
    let dir = h.stop().await;
    // Stopped: nothing answers any more.
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err());
    // Both jobs are queued again, for the next start (which runs nothing: no workers).
    let mut config = test_config(dir.path());
    config.workers = 0;
    let h = Harness::start_in(dir, config).await;
    for job in [&running, &queued] {
        let (_, view) = h
            .get(&format!("/v1/runs/{}", job["id"].as_str().unwrap()), &key)
            .await;
        assert_eq!(view["state"], "queued", "{view}");
    }
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mini_programs_are_compiled_on_upload_run_and_submission() {
    let h = Harness::start().await;
    let (key, _) = h.tenant("mini", json!({})).await;
    const SUM: &str = "func main() { let a = read_int(); let b = read_int(); println(a + b); }";
    const BROKEN: &str = "func main() {\n    let a = read_int();\n    println(a + 1.5);\n}\n";
    // Uploaded as text/x-mini: the compiled module is stored under its own hash.
    let response = h
        .client
        .put(format!("{}/v1/modules", h.base))
        .bearer_auth(&key)
        .header("content-type", "text/x-mini; charset=utf-8")
        .body(SUM)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let uploaded: serde_json::Value = response.json().await.unwrap();
    let sha = uploaded["sha256"].as_str().unwrap().to_string();
    assert_eq!(uploaded["exports"], json!(["_start"]), "{uploaded}");
    assert_eq!(
        sha,
        sandbox_server::keys::sha256_hex(&sandbox::compile_source(SUM).unwrap())
    );
    // Given inline as `mini`, on both engines.
    for backend in BACKENDS {
        let (status, run) = h
            .post(
                "/v1/runs?wait=true",
                &key,
                json!({"mini": SUM, "backend": backend, "stdin": "40 2"}),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        assert_eq!(run["result"]["stdout"], "42\n", "{run}");
    }
    // A program that does not compile: 422 with every diagnostic, as data.
    let (status, refused) = h.post("/v1/runs", &key, json!({"mini": BROKEN})).await;
    assert_eq!(status, 422, "{refused}");
    let error = &refused["error"];
    assert_eq!(
        (&error["kind"], &error["field"]),
        (&json!("compilation_error"), &json!("mini"))
    );
    assert_eq!(error["diagnostics"][0]["line"], 3, "{error}");
    assert_eq!(error["diagnostics"][0]["column"], 13, "{error}");
    assert!(error["message"].as_str().unwrap().contains("^"), "{error}");
    let response = h
        .client
        .put(format!("{}/v1/modules", h.base))
        .bearer_auth(&key)
        .header("content-type", "text/x-mini")
        .body(BROKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    // A submission in Mini is judged; one that does not compile is refused, nothing queued.
    let (_, problem) = h
        .post(
            "/v1/problems",
            &key,
            json!({"tests": [{"id": 1, "input": "5 7\n", "expected_output": "12\n"}]}),
        )
        .await;
    let problem = problem["id"].as_str().unwrap();
    let (status, judged) = h
        .post(
            "/v1/submissions?wait=true",
            &key,
            json!({"problem": problem, "mini": SUM}),
        )
        .await;
    assert_eq!(
        (status, &judged["verdict"]),
        (200, &json!("accepted")),
        "{judged}"
    );
    let (status, refused) = h
        .post(
            "/v1/submissions",
            &key,
            json!({"problem": problem, "mini": BROKEN}),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["kind"], "compilation_error");
    let (status, both) = h
        .post(
            "/v1/runs",
            &key,
            json!({"mini": SUM, "module_base64": b64(ECHO)}),
        )
        .await;
    assert_eq!(status, 422, "{both}");
    h.stop().await;
}
