//! The administrator's routes: tenants.

use super::auth::AdminAuth;
use super::{ApiError, ApiPath, AppState, JsonBody};
use crate::model::{TenantCreated, TenantRequest};
use crate::store::Tenant;
use crate::tenants::{self, TenantError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

impl From<TenantError> for ApiError {
    fn from(error: TenantError) -> Self {
        match error {
            TenantError::InvalidName(_) => ApiError::invalid("name", error.to_string()),
            TenantError::Store(error) => error.into(),
        }
    }
}

/// Every tenant.
#[utoipa::path(get, path = "/v1/tenants", tag = "administration",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Tenant>), (status = 403, body = crate::model::ErrorBody)))]
pub async fn list(
    _: AdminAuth,
    State(service): State<AppState>,
) -> Result<Json<Vec<Tenant>>, ApiError> {
    Ok(Json(tenants::list(&service.store).await?))
}

/// Adds a tenant; the answer holds its API key and webhook secret, shown this once.
#[utoipa::path(post, path = "/v1/tenants", tag = "administration",
    security(("bearer" = [])),
    request_body = TenantRequest,
    responses((status = 201, body = TenantCreated), (status = 409, body = crate::model::ErrorBody)))]
pub async fn add(
    _: AdminAuth,
    State(service): State<AppState>,
    JsonBody(request): JsonBody<TenantRequest>,
) -> Result<(StatusCode, Json<TenantCreated>), ApiError> {
    let created = tenants::add(&service.store, &request.name, &request.limits).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Removes a tenant with its problems, runs and submissions.
#[utoipa::path(delete, path = "/v1/tenants/{name}", tag = "administration",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn remove(
    _: AdminAuth,
    State(service): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    tenants::remove(&service.store, &name).await?;
    service.auth.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a tenant a new API key (the old one stops working).
#[utoipa::path(post, path = "/v1/tenants/{name}/rotate-key", tag = "administration",
    security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = TenantCreated), (status = 404, body = crate::model::ErrorBody)))]
pub async fn rotate_key(
    _: AdminAuth,
    State(service): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TenantCreated>, ApiError> {
    let created = tenants::rotate_key(&service.store, &name).await?;
    service.auth.clear();
    Ok(Json(created))
}
