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
    let database = service.store.job_counts().await;
    let (queued, running) = service.scheduler.depth();
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
    let (queued, _) = service.scheduler.depth();
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

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
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
