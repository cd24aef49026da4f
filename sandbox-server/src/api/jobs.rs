//! Runs and submissions: accepted (committed) with 202, run by the workers, read back by id.

use super::auth::TenantAuth;
use super::modules::{check_sha, compile_mini, cut, store_module};
use super::{ApiError, ApiPath, ApiQuery, AppState, JsonBody};
use crate::keys;
use crate::model::{
    Accepted, BatchAccepted, BatchRequest, BatchView, JobView, RunRequest, RunSpec,
    SubmissionRequest, SubmissionSpec,
};
use crate::scheduler::{QueuedJob, Refusal};
use crate::service::Service;
use crate::store::{now_ms, JobKind, JobRecord, JobState, NewJob, Tenant};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use sandbox::Runtime;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// Most submissions in one batch.
pub const MAX_BATCH: usize = 100;

/// `?wait=true`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Answer with the result if it is ready within the service's bound (else 202).
    #[serde(default)]
    #[param(required = false)]
    pub wait: bool,
}

/// `?ids=a,b,c`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdsQuery {
    /// Comma-separated submission ids (at most 100).
    pub ids: String,
}

/// Runs a module: 202 with the run's id once the job is committed; with `?wait=true`, 200
/// with the result if it is ready within the service's bound.
#[utoipa::path(post, path = "/v1/runs", tag = "runs",
    security(("bearer" = [])),
    params(WaitQuery),
    request_body = RunRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 200, description = "?wait=true and the result is ready", body = JobView),
        (status = 400, body = crate::model::ErrorBody),
        (status = 404, body = crate::model::ErrorBody),
        (status = 413, body = crate::model::ErrorBody),
        (status = 422, body = crate::model::ErrorBody),
        (status = 429, body = crate::model::ErrorBody),
        (status = 503, body = crate::model::ErrorBody)))]
pub async fn create_run(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiQuery(query): ApiQuery<WaitQuery>,
    JsonBody(request): JsonBody<RunRequest>,
) -> Result<Response, ApiError> {
    refuse_while_draining(&service)?;
    let callback_url = check_callback(&service, request.callback_url.as_deref())?;
    let spec = run_spec(&service, &tenant, request).await?;
    let backend = spec.backend.clone();
    let spec = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    let job = Job {
        id: keys::random_id("run_"),
        kind: JobKind::Run,
        spec,
        callback_url,
        backend,
    };
    accept(&service, &tenant, vec![job], query.wait).await
}

/// A run of this tenant.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn show_run(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>, ApiError> {
    show(&service, &tenant, &id, JobKind::Run).await
}

/// Judges a module against a problem: 202 with the submission's id once committed.
#[utoipa::path(post, path = "/v1/submissions", tag = "judging",
    security(("bearer" = [])),
    params(WaitQuery),
    request_body = SubmissionRequest,
    responses(
        (status = 202, body = Accepted),
        (status = 200, description = "?wait=true and the verdict is ready", body = JobView),
        (status = 404, body = crate::model::ErrorBody),
        (status = 422, body = crate::model::ErrorBody),
        (status = 429, body = crate::model::ErrorBody),
        (status = 503, body = crate::model::ErrorBody)))]
pub async fn create_submission(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiQuery(query): ApiQuery<WaitQuery>,
    JsonBody(request): JsonBody<SubmissionRequest>,
) -> Result<Response, ApiError> {
    refuse_while_draining(&service)?;
    let job = submission_job(&service, &tenant, request, "").await?;
    accept(&service, &tenant, vec![job], query.wait).await
}

/// Up to 100 submissions at once (all accepted or none).
#[utoipa::path(post, path = "/v1/submissions/batch", tag = "judging",
    security(("bearer" = [])),
    request_body = BatchRequest,
    responses(
        (status = 202, body = BatchAccepted),
        (status = 422, body = crate::model::ErrorBody),
        (status = 429, body = crate::model::ErrorBody)))]
pub async fn create_batch(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    JsonBody(request): JsonBody<BatchRequest>,
) -> Result<Response, ApiError> {
    refuse_while_draining(&service)?;
    let count = request.submissions.len();
    if count == 0 || count > MAX_BATCH {
        return Err(ApiError::invalid(
            "submissions",
            format!("a batch has 1 to {MAX_BATCH} submissions, this one has {count}"),
        ));
    }
    let mut jobs = Vec::with_capacity(count);
    for (index, submission) in request.submissions.into_iter().enumerate() {
        jobs.push(
            submission_job(
                &service,
                &tenant,
                submission,
                &format!("submissions[{index}]."),
            )
            .await?,
        );
    }
    let ids: Vec<String> = jobs.iter().map(|job| job.id.clone()).collect();
    enqueue(&service, &tenant, jobs).await?;
    Ok((StatusCode::ACCEPTED, Json(BatchAccepted { ids })).into_response())
}

/// A submission of this tenant: state, verdict, passed/total and per-test results.
#[utoipa::path(get, path = "/v1/submissions/{id}", tag = "judging",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = crate::model::ErrorBody)))]
pub async fn show_submission(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<JobView>, ApiError> {
    show(&service, &tenant, &id, JobKind::Submission).await
}

/// Several submissions of this tenant; `null` for an id it does not have.
#[utoipa::path(get, path = "/v1/submissions/batch", tag = "judging",
    security(("bearer" = [])),
    params(IdsQuery),
    responses((status = 200, body = BatchView), (status = 422, body = crate::model::ErrorBody)))]
pub async fn show_batch(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiQuery(query): ApiQuery<IdsQuery>,
) -> Result<Json<BatchView>, ApiError> {
    let ids: Vec<&str> = query
        .ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "ids",
            format!(
                "ask for 1 to {MAX_BATCH} ids, comma-separated; got {}",
                ids.len()
            ),
        ));
    }
    let mut submissions = Vec::with_capacity(ids.len());
    for id in ids {
        let view = service
            .store
            .job(tenant.id, id)
            .await?
            .filter(|job| job.kind == JobKind::Submission)
            .map(|job| view(&job));
        submissions.push(view);
    }
    Ok(Json(BatchView { submissions }))
}

async fn show(
    service: &Service,
    tenant: &Tenant,
    id: &str,
    kind: JobKind,
) -> Result<Json<JobView>, ApiError> {
    match service.store.job(tenant.id, id).await? {
        Some(job) if job.kind == kind => Ok(Json(view(&job))),
        _ => Err(ApiError::not_found(format!("{} {}", kind.name(), cut(id)))),
    }
}

/// The view of job `id` of `tenant_id` (for callbacks).
pub async fn view_of(service: &Service, tenant_id: i64, id: &str) -> Option<JobView> {
    service
        .store
        .job(tenant_id, id)
        .await
        .ok()
        .flatten()
        .map(|job| view(&job))
}

/// A stored job as the API shows it.
pub fn view(job: &JobRecord) -> JobView {
    let result: Option<serde_json::Value> = job
        .result
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok());
    let mut view = JobView {
        id: job.id.clone(),
        state: job.state,
        created_at: job.created_at,
        started_at: job.started_at,
        finished_at: job.finished_at,
        attempts: job.attempts,
        result: None,
        problem: None,
        verdict: None,
        passed: None,
        total: None,
    };
    if job.kind == JobKind::Submission {
        view.problem = serde_json::from_str::<SubmissionSpec>(&job.spec)
            .ok()
            .map(|spec| spec.problem);
        if let Some(report) = &result {
            view.verdict = report
                .get("verdict")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            view.passed = report.get("passed").and_then(|v| v.as_u64());
            view.total = report.get("total").and_then(|v| v.as_u64());
        }
    }
    view.result = result;
    view
}

fn refuse_while_draining(service: &Service) -> Result<(), ApiError> {
    if service.is_draining() {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the service is shutting down; try again shortly",
        )
        .retry_after(1))
    } else {
        Ok(())
    }
}

/// A job checked and ready to commit.
struct Job {
    id: String,
    kind: JobKind,
    /// The stored spec (JSON).
    spec: String,
    callback_url: Option<String>,
    /// The engine it runs on (workers may take only some).
    backend: String,
}

async fn submission_job(
    service: &Service,
    tenant: &Tenant,
    request: SubmissionRequest,
    prefix: &str,
) -> Result<Job, ApiError> {
    let field = |name: &str| format!("{prefix}{name}");
    let callback_url = check_callback(service, request.callback_url.as_deref())
        .map_err(|e| e.field(&field("callback_url")))?;
    if service
        .store
        .problem(tenant.id, &request.problem)
        .await?
        .is_none()
    {
        return Err(
            ApiError::not_found(format!("problem {}", cut(&request.problem)))
                .field(&field("problem")),
        );
    }
    let module = resolve_module(
        service,
        tenant,
        ModuleRef {
            sha256: request.module.as_deref(),
            base64: request.module_base64.as_deref(),
            mini: request.mini.as_deref(),
        },
        prefix,
    )
    .await?;
    let backend = backend(request.backend.as_deref()).map_err(|e| e.field(&field("backend")))?;
    let spec = SubmissionSpec {
        problem: request.problem,
        module,
        backend: backend.to_string(),
    };
    let spec = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    Ok(Job {
        id: keys::random_id("sub_"),
        kind: JobKind::Submission,
        spec,
        callback_url,
        backend: backend.to_string(),
    })
}

/// Commits jobs and queues them, or refuses them all (429 for the tenant's rate or queue
/// bound, 503 when the service's queue is full).
async fn enqueue(service: &Service, tenant: &Tenant, jobs: Vec<Job>) -> Result<(), ApiError> {
    let count = jobs.len();
    if let Some(rate) = tenant.limits.rate_per_min {
        service
            .rates
            .take(tenant.id, rate, count)
            .map_err(|seconds| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("this tenant may submit {rate} jobs a minute"),
                )
                .retry_after(seconds)
            })?;
    }
    let refusal = |refusal: Refusal| match refusal {
        Refusal::TenantQueueFull { limit } => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_jobs",
            format!("this tenant has {limit} jobs unfinished, its maximum"),
        )
        .retry_after(1),
        Refusal::QueueFull => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            "the service's queue is full",
        )
        .retry_after(1),
        Refusal::Closed => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the service is shutting down",
        )
        .retry_after(1),
    };
    let shared = service.shared_queue();
    if shared {
        // The queue is the database's (workers anywhere take jobs from it): its counts are
        // the bounds. Requests committing at the same moment may pass a bound together, by
        // at most their own jobs.
        if service.is_draining() {
            return Err(refusal(Refusal::Closed));
        }
        let (unfinished, queued, _) = service.store.unfinished(tenant.id).await?;
        if queued as usize + count > service.config.max_queue {
            return Err(refusal(Refusal::QueueFull));
        }
        if let Some(limit) = tenant.limits.max_queue {
            if unfinished as usize + count > limit as usize {
                return Err(refusal(Refusal::TenantQueueFull { limit }));
            }
        }
    } else {
        service
            .scheduler
            .reserve(tenant.id, count, tenant.limits.max_queue)
            .map_err(refusal)?;
    }
    let created_at = now_ms();
    let new_jobs: Vec<NewJob> = jobs
        .iter()
        .map(|job| NewJob {
            id: job.id.clone(),
            tenant_id: tenant.id,
            kind: job.kind,
            spec: job.spec.clone(),
            callback_url: job.callback_url.clone(),
            backend: job.backend.clone(),
            created_at,
        })
        .collect();
    if let Err(error) = service.store.insert_jobs(new_jobs).await {
        if !shared {
            service.scheduler.unreserve(tenant.id, count);
        }
        return Err(error.into());
    }
    service.shared.metrics.accepted.inc_by(count as u64);
    if shared {
        return Ok(());
    }
    let queued_at = Instant::now();
    let queued = jobs
        .into_iter()
        .map(|job| QueuedJob {
            spec: (job.spec.len() <= crate::store::MEMORY_SPEC_BYTES).then(|| Arc::from(job.spec)),
            id: job.id,
            tenant_id: tenant.id,
            kind: job.kind,
            attempts: 0,
            queued_at,
            callback_url: job.callback_url,
        })
        .collect();
    service
        .scheduler
        .push(queued, tenant.limits.max_concurrent, true);
    Ok(())
}

/// Commits one job and answers 202, or waits for it with `?wait=true`.
async fn accept(
    service: &Service,
    tenant: &Tenant,
    jobs: Vec<Job>,
    wait: bool,
) -> Result<Response, ApiError> {
    let id = jobs[0].id.clone();
    let kind = jobs[0].kind;
    let waiter = wait.then(|| service.shared.waiters.register(&id));
    if let Err(error) = enqueue(service, tenant, jobs).await {
        service.shared.waiters.forget(&id);
        return Err(error);
    }
    let path = match kind {
        JobKind::Run => format!("/v1/runs/{id}"),
        JobKind::Submission => format!("/v1/submissions/{id}"),
    };
    if let Some(waiter) = waiter {
        let done = tokio::time::timeout(service.config.wait_timeout, waiter).await;
        if matches!(done, Ok(Ok(()))) {
            if let Some(job) = service.store.job(tenant.id, &id).await? {
                return Ok(Json(view(&job)).into_response());
            }
        }
        service.shared.waiters.forget(&id);
    }
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            id,
            state: JobState::Queued,
        }),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&path) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// The stored spec of a run request: module resolved, limits checked and filled in.
async fn run_spec(
    service: &Service,
    tenant: &Tenant,
    request: RunRequest,
) -> Result<RunSpec, ApiError> {
    let module = resolve_module(
        service,
        tenant,
        ModuleRef {
            sha256: request.module.as_deref(),
            base64: request.module_base64.as_deref(),
            mini: request.mini.as_deref(),
        },
        "",
    )
    .await?;
    let backend = backend(request.backend.as_deref())?;
    let stdin = match (request.stdin, request.stdin_base64) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "stdin",
                "give stdin or stdin_base64, not both",
            ))
        }
        (Some(text), None) => text.into_bytes(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|error| ApiError::invalid("stdin_base64", format!("not base64: {error}")))?,
        (None, None) => Vec::new(),
    };
    let mut args = Vec::with_capacity(request.args.len());
    for (index, arg) in request.args.iter().enumerate() {
        match arg {
            serde_json::Value::Number(number) => args.push(number.to_string()),
            serde_json::Value::String(text) => args.push(text.clone()),
            other => {
                return Err(ApiError::invalid(
                    &format!("args[{index}]"),
                    format!("an argument is a number or a numeric string, not {other}"),
                ))
            }
        }
    }
    if !args.is_empty() && request.invoke.is_none() {
        return Err(ApiError::invalid(
            "args",
            "args are the arguments of `invoke`; use argv for a command's arguments",
        ));
    }
    for (key, value) in &request.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            return Err(ApiError::invalid(
                &format!("env.{}", cut(key)),
                "an environment variable's name is non-empty without `=` or NUL, its value without NUL",
            ));
        }
    }
    if request.argv.iter().any(|arg| arg.contains('\0')) {
        return Err(ApiError::invalid("argv", "arguments cannot contain NUL"));
    }
    let defaults = &service.config.defaults;
    let maxima = &service.config.maxima;
    let bounds = &tenant.limits;
    let limits = &request.limits;
    let fuel = resolve(
        "limits.fuel",
        limits.fuel,
        defaults.fuel,
        bounds.max_fuel,
        maxima.fuel,
    )?;
    let timeout_ms = resolve(
        "limits.timeout_ms",
        limits.timeout_ms,
        defaults.timeout_ms,
        bounds.max_timeout_ms,
        maxima.timeout_ms,
    )?;
    let max_memory_bytes = resolve(
        "limits.max_memory_bytes",
        limits.max_memory_bytes,
        defaults.max_memory_bytes,
        bounds.max_memory_bytes,
        maxima.max_memory_bytes,
    )?;
    let max_output_bytes = resolve(
        "limits.max_output_bytes",
        limits.max_output_bytes,
        defaults.max_output_bytes,
        None,
        maxima.max_output_bytes,
    )?;
    Ok(RunSpec {
        module,
        backend: backend.to_string(),
        invoke: request.invoke,
        args,
        stdin,
        env: request.env.into_iter().collect(),
        argv: request.argv,
        fuel,
        timeout_ms,
        max_memory_bytes,
        max_output_bytes,
    })
}

/// A limit: the request's, else the default (capped by the maxima). Above the tenant's (or
/// the service's) maximum: 422 naming the field.
fn resolve(
    field: &str,
    requested: Option<u64>,
    default: u64,
    tenant_max: Option<u64>,
    max: u64,
) -> Result<u64, ApiError> {
    let max = tenant_max.map_or(max, |tenant_max| tenant_max.min(max));
    check_limit(field, requested, max)?;
    Ok(requested.unwrap_or(default.min(max)))
}

/// 422 if `value` is 0 or above `max`.
pub fn check_limit(field: &str, value: Option<u64>, max: u64) -> Result<(), ApiError> {
    match value {
        Some(0) => Err(ApiError::invalid(
            field,
            format!("{field} must be at least 1"),
        )),
        Some(value) if value > max => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_above_maximum",
            format!("{field} is {value}, above this tenant's maximum of {max}"),
        )
        .field(field)),
        _ => Ok(()),
    }
}

fn backend(name: Option<&str>) -> Result<Runtime, ApiError> {
    let runtime: Runtime = match name {
        None => sandbox::default_runtime().map_err(|error| ApiError::sandbox("backend", &error))?,
        Some(name) => name
            .parse()
            .map_err(|error: String| ApiError::invalid("backend", error))?,
    };
    if sandbox::is_available(runtime) {
        Ok(runtime)
    } else {
        Err(ApiError::invalid(
            "backend",
            format!("the {runtime} backend is not compiled into this service"),
        ))
    }
}

/// How a request gives its module: exactly one of these.
struct ModuleRef<'a> {
    /// `module`: the SHA-256 of an upload.
    sha256: Option<&'a str>,
    /// `module_base64`: the bytes.
    base64: Option<&'a str>,
    /// `mini`: a Mini program.
    mini: Option<&'a str>,
}

/// The SHA-256 of the module a request names (`module`) or carries (`module_base64`, or a
/// Mini program compiled: stored like an upload).
async fn resolve_module(
    service: &Service,
    tenant: &Tenant,
    given: ModuleRef<'_>,
    prefix: &str,
) -> Result<String, ApiError> {
    let field = |name: &str| format!("{prefix}{name}");
    match (given.sha256, given.base64, given.mini) {
        (Some(sha256), None, None) => {
            check_sha(sha256, &field("module"))?;
            if !service
                .auth
                .tenant_has_module(&service.store, tenant.id, sha256)
                .await?
            {
                return Err(ApiError::not_found(format!("module {sha256}")).field(&field("module")));
            }
            Ok(sha256.to_string())
        }
        (None, Some(encoded), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|error| {
                    ApiError::invalid(&field("module_base64"), format!("not base64: {error}"))
                })?;
            Ok(
                store_module(service, tenant, bytes, &field("module_base64"))
                    .await?
                    .sha256,
            )
        }
        (None, None, Some(source)) => {
            let bytes = compile_mini(source.to_string(), &field("mini")).await?;
            Ok(store_module(service, tenant, bytes, &field("mini"))
                .await?
                .sha256)
        }
        (None, None, None) => Err(ApiError::invalid(
            &field("module"),
            "a module is needed: `module` (the SHA-256 of an upload), `module_base64` or `mini`",
        )),
        _ => Err(ApiError::invalid(
            &field("module"),
            "give one of module, module_base64 and mini, not several",
        )),
    }
}

/// Checks a callback URL: http or https, with a host, not pointing back at this service.
fn check_callback(service: &Service, url: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(text) = url else {
        return Ok(None);
    };
    let invalid = |message: String| ApiError::invalid("callback_url", message);
    let url = reqwest::Url::parse(text).map_err(|error| invalid(format!("not a URL: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "callbacks go to http or https URLs, not {}",
            url.scheme()
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| invalid("the URL has no host".into()))?;
    let port = url.port_or_known_default();
    let own = service.local_addr;
    let host_ip = host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .ok();
    let local_name =
        host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost");
    let is_us = port == Some(own.port())
        && (local_name
            || host_ip.is_some_and(|ip| {
                ip == own.ip()
                    || ip.is_loopback()
                    || ip.is_unspecified()
                    || own.ip().is_unspecified()
            }));
    if is_us {
        return Err(invalid(
            "a callback cannot point back at this service".into(),
        ));
    }
    Ok(Some(url.to_string()))
}
