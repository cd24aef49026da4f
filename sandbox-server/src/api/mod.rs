//! The HTTP API (`/v1`): routes, errors, and the extractors every route shares.

pub mod admin;
pub mod auth;
pub mod jobs;
pub mod modules;
pub mod ops;
pub mod problems;
pub mod quota;

use crate::model::{ErrorBody, ErrorDetail};
use crate::service::Service;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The state of every handler.
pub type AppState = Arc<Service>;

/// Every route of the service.
pub fn router(service: Arc<Service>) -> Router {
    let limit = service.config.max_body_bytes;
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/openapi.json", get(ops::openapi))
        .route("/v1/modules", put(modules::upload))
        .route("/v1/modules/{sha256}", get(modules::show))
        .route("/v1/runs", post(jobs::create_run))
        .route("/v1/runs/{id}", get(jobs::show_run))
        .route("/v1/problems", post(problems::create))
        .route("/v1/problems/{id}", get(problems::show))
        .route("/v1/submissions", post(jobs::create_submission))
        .route(
            "/v1/submissions/batch",
            post(jobs::create_batch).get(jobs::show_batch),
        )
        .route("/v1/submissions/{id}", get(jobs::show_submission))
        .route("/v1/tenants", get(admin::list).post(admin::add))
        .route("/v1/tenants/{name}", delete(admin::remove))
        .route("/v1/tenants/{name}/rotate-key", post(admin::rotate_key))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            service.clone(),
            count_refusals,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(service)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Counts answers with an error status in the metrics.
async fn count_refusals(
    axum::extract::State(service): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        service
            .shared
            .metrics
            .refused
            .get_or_create(&crate::metrics::StatusLabels {
                status: status.as_u16().to_string(),
            })
            .inc();
    }
    response
}

/// An error answer: a status and `{"error": {"kind", "message", "field"?}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: ErrorDetail {
                kind: kind.to_string(),
                message: message.into(),
                field: None,
                diagnostics: None,
            },
            retry_after: None,
        }
    }

    /// 422 `invalid_request` about `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message).field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} not found", what.into()),
        )
    }

    /// 500 `internal_error` (logged).
    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            format!("the service failed: {error}"),
        )
    }

    /// 422 with the sandbox's error kind (`invalid_module`, `unauthorized_import`, ...).
    /// A program that does not compile carries its diagnostics (and every one rendered, as
    /// the message).
    pub fn sandbox(field: &str, error: &sandbox::SandboxError) -> ApiError {
        let mut api = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error.kind(),
            error.to_string(),
        )
        .field(field);
        if let sandbox::SandboxError::CompilationError {
            diagnostics,
            rendered,
            ..
        } = error
        {
            api.detail.message = rendered.trim_end().to_string();
            api.detail.diagnostics = Some(diagnostics.clone());
        }
        api
    }

    /// Names the request field at fault.
    pub fn field(mut self, field: &str) -> ApiError {
        self.detail.field = Some(field.to_string());
        self
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::NotFound(what) => ApiError::not_found(what),
            crate::store::StoreError::Exists(what) => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            crate::store::StoreError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "the service is shutting down",
            )
            .retry_after(1),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, axum::Json(ErrorBody { error: self.detail })).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is not read: the connection cannot carry another request,
            // and the client must know not to reuse it.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON body, whatever its content type, with the service's errors: 400 `bad_json` for
/// text that is not JSON, 422 `invalid_request` for JSON of the wrong shape (the message
/// names the field), 413 `payload_too_large` above the body limit.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(request, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                use serde_json::error::Category;
                match error.classify() {
                    Category::Data => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_request",
                        format!("the request does not fit the API: {error}"),
                    ),
                    _ => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_json",
                        format!("the body is not valid JSON: {error}"),
                    ),
                }
            })
    }
}

/// The request body, or 413 above the limit.
pub async fn body_bytes<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the request body is larger than this service accepts",
                )
            } else {
                ApiError::new(rejection.status(), "bad_request", rejection.body_text())
            }
        })
}

/// A path parameter, with the service's errors (400 `bad_request`, JSON).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    rejection.body_text(),
                )
            })
    }
}

/// A query string, with the service's errors (400 `bad_request`, JSON).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    rejection.body_text(),
                )
            })
    }
}
