//! Problems: test sets (the judge's format), their limits and an optional checker.

use super::auth::TenantAuth;
use super::jobs::check_limit;
use super::modules::{inspect, tenant_module};
use super::{ApiError, ApiPath, AppState, JsonBody};
use crate::keys;
use crate::model::{ProblemCreated, ProblemRequest, ProblemSpec};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use sandbox::judge::parse_tests;

/// Stores a problem. Each test's limits, and the problem's, may not exceed the tenant's
/// maxima (422 naming the field).
#[utoipa::path(post, path = "/v1/problems", tag = "judging",
    security(("bearer" = [])),
    request_body = ProblemRequest,
    responses((status = 201, body = ProblemCreated), (status = 422, body = crate::model::ErrorBody)))]
pub async fn create(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    JsonBody(request): JsonBody<ProblemRequest>,
) -> Result<(StatusCode, Json<ProblemCreated>), ApiError> {
    let text = serde_json::to_vec(&request.tests).map_err(ApiError::internal)?;
    let tests =
        parse_tests(&text).map_err(|error| ApiError::invalid("tests", error.to_string()))?;
    let max_tests = service.config.max_tests;
    if tests.is_empty() || tests.len() > max_tests {
        return Err(ApiError::invalid(
            "tests",
            format!(
                "a problem has 1 to {max_tests} tests, this one has {}",
                tests.len()
            ),
        ));
    }
    let maxima = &service.config.maxima;
    let limits = &tenant.limits;
    let time_max = limits
        .max_timeout_ms
        .map_or(maxima.timeout_ms, |t| t.min(maxima.timeout_ms));
    let memory_max = limits
        .max_memory_bytes
        .map_or(maxima.max_memory_bytes, |m| m.min(maxima.max_memory_bytes));
    let fuel_max = limits.max_fuel.map_or(maxima.fuel, |f| f.min(maxima.fuel));
    let problem_limits = &request.limits;
    check_limit(
        "limits.time_limit_ms",
        problem_limits.time_limit_ms,
        time_max,
    )?;
    check_limit(
        "limits.memory_limit_bytes",
        problem_limits.memory_limit_bytes,
        memory_max,
    )?;
    check_limit("limits.fuel", problem_limits.fuel, fuel_max)?;
    check_limit(
        "limits.max_output_bytes",
        problem_limits.max_output_bytes,
        maxima.max_output_bytes,
    )?;
    for (index, test) in tests.iter().enumerate() {
        let millis = test.time_limit.map(|limit| limit.as_millis() as u64);
        check_limit(&format!("tests[{index}].time_limit_ms"), millis, time_max)?;
        check_limit(
            &format!("tests[{index}].memory_limit_bytes"),
            test.memory_limit,
            memory_max,
        )?;
        check_limit(&format!("tests[{index}].fuel"), test.fuel, fuel_max)?;
    }
    if let Some(checker) = &request.checker {
        let bytes = tenant_module(&service, &tenant, checker, "checker").await?;
        tokio::task::spawn_blocking(move || {
            inspect(&bytes).and_then(|info| info.function("_start").cloned())
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::sandbox("checker", &error).field("checker"))?;
    }
    if let Some(name) = &request.invoke {
        if name.is_empty() {
            return Err(ApiError::invalid(
                "invoke",
                "invoke names an exported function",
            ));
        }
    }
    let id = keys::random_id("prb_");
    let spec = ProblemSpec {
        tests: request.tests,
        limits: request.limits,
        checker: request.checker,
        invoke: request.invoke,
    };
    let text = serde_json::to_string(&spec).map_err(ApiError::internal)?;
    service.store.insert_problem(&id, tenant.id, &text).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProblemCreated {
            id,
            tests: tests.len(),
        }),
    ))
}

/// A problem of this tenant, as stored.
#[utoipa::path(get, path = "/v1/problems/{id}", tag = "judging",
    security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = crate::model::ErrorBody)))]
pub async fn show(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let text = service
        .store
        .problem(tenant.id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("problem {}", super::modules::cut(&id))))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(ApiError::internal)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("id".into(), id.into());
    }
    Ok(Json(value))
}
