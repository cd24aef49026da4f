//! Operations: liveness, readiness, metrics and the OpenAPI document.

use super::AppState;
use crate::model;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is alive", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready: the database answers, workers run (when the service has any) and it is not
/// draining. 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Object), (status = 503, body = Object)))]
pub async fn readyz(State(service): State<AppState>) -> Response {
    let database = service.store.ping().await;
    let (queued, running) = service.depth().await.unwrap_or((0, 0));
    let ready = database.is_ok() && !service.is_draining();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "database": database.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|error| error.to_string()),
        "draining": service.is_draining(),
        "workers": service.config.workers,
        "queued": queued,
        "running": running,
        "uptime_s": service.started.elapsed().as_secs(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus text: queue depth, jobs by outcome, queue and run latency histograms, workers
/// busy, callbacks, refusals.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(service): State<AppState>) -> Response {
    let (queued, _) = service.depth().await.unwrap_or((0, 0));
    service.shared.metrics.queue_depth.set(queued as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        service.shared.metrics.encode(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3 document", body = Object)))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

/// The error answers every authenticated route can give, documented on each of them.
fn add_error_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in openapi.paths.paths.iter_mut() {
        let admin = path.starts_with("/v1/tenants");
        for (operation, has_body) in [
            (item.get.as_mut(), false),
            (item.put.as_mut(), true),
            (item.post.as_mut(), true),
            (item.delete.as_mut(), false),
        ] {
            let Some(operation) = operation else { continue };
            if operation.security.is_none() {
                continue;
            }
            let responses = &mut operation.responses.responses;
            let mut add = |code: &str, description: &str| {
                responses
                    .entry(code.to_string())
                    .or_insert_with(|| error(description));
            };
            add(
                "400",
                "A malformed request: a path or query that does not parse, a body that is not JSON",
            );
            add("401", "No key, or a key no tenant has");
            add("500", "The service failed (logged)");
            if admin {
                add("403", "A tenant's key on an administrator's route");
            }
            if has_body {
                add("413", "The body is larger than the service accepts");
                add("422", "A body of the wrong shape, or a value out of bounds (the error names the field)");
            }
            if !admin && has_body {
                add("404", "A module or problem this tenant does not have");
            }
        }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        add_error_responses(openapi);
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant's API key (`sandbox tenant add`), or the administrator's",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API's OpenAPI 3 document, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sandbox execution service",
        description = "Runs untrusted WebAssembly under hard limits on wasmtime or wasmer, and judges solutions against test sets. Every job is committed before it is acknowledged (202).",
    ),
    paths(
        healthz, readyz, metrics, openapi,
        super::modules::upload, super::modules::show,
        super::jobs::create_run, super::jobs::show_run,
        super::problems::create, super::problems::show,
        super::jobs::create_submission, super::jobs::create_batch,
        super::jobs::show_submission, super::jobs::show_batch,
        super::admin::list, super::admin::add, super::admin::remove, super::admin::rotate_key,
    ),
    components(schemas(
        model::RunRequest, model::RunLimits, model::ProblemRequest, model::ProblemLimits,
        model::SubmissionRequest, model::BatchRequest, model::ModuleUploaded, model::Accepted,
        model::BatchAccepted, model::ProblemCreated, model::JobView, model::BatchView,
        model::TenantRequest, model::TenantCreated, model::ErrorBody, model::ErrorDetail,
        crate::store::JobState, crate::store::Tenant, crate::store::TenantLimits,
    )),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;
