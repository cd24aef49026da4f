//! Modules: uploaded once per content, validated and checked against the policy on upload.

use super::auth::TenantAuth;
use super::{body_bytes, ApiError, ApiPath, AppState};
use crate::keys;
use crate::model::ModuleUploaded;
use crate::service::Service;
use crate::store::Tenant;
use axum::extract::{Request, State};
use axum::Json;
use sandbox::{compile_wat_to_wasm, looks_like_text, ModuleInfo, SandboxConfig};

/// The media type of a Mini program (`PUT /v1/modules`).
pub const MINI_MEDIA_TYPE: &str = "text/x-mini";

/// Uploads a module (wasm or WAT bytes, or a Mini program sent as `text/x-mini`, compiled
/// first); answers its SHA-256, the name later requests use. Invalid bytes or an import the
/// policy does not grant: 422 with the sandbox's error kind (`invalid_module`,
/// `unauthorized_import`, `unsupported`); a Mini program that does not compile: 422
/// `compilation_error` with its `diagnostics`.
#[utoipa::path(put, path = "/v1/modules", tag = "modules",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/wasm",
        description = "A WebAssembly module, binary or text (WAT); or, as `text/x-mini`, a \
            Mini program"),
    responses(
        (status = 200, body = ModuleUploaded),
        (status = 413, body = crate::model::ErrorBody),
        (status = 422, body = crate::model::ErrorBody)))]
pub async fn upload(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    request: Request,
) -> Result<Json<ModuleUploaded>, ApiError> {
    let mini = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(MINI_MEDIA_TYPE));
    let mut bytes = body_bytes(request, &service).await?.to_vec();
    if mini {
        let source = String::from_utf8(bytes).map_err(|error| {
            let file = sandbox::source::UNNAMED;
            let error = sandbox::source::utf8(error.as_bytes(), file)
                .err()
                .unwrap_or_else(|| sandbox::SandboxError::Unsupported {
                    reason: "the body is not UTF-8".into(),
                });
            ApiError::sandbox("body", &error)
        })?;
        bytes = compile_mini(source, "body").await?;
    }
    Ok(Json(store_module(&service, &tenant, bytes, "body").await?))
}

/// Compiles a Mini program off the async threads; a program that does not compile is a 422
/// `compilation_error` about `field`, with its diagnostics.
pub async fn compile_mini(source: String, field: &str) -> Result<Vec<u8>, ApiError> {
    tokio::task::spawn_blocking(move || sandbox::compile_mini(&source, sandbox::source::UNNAMED))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::sandbox(field, &error))
}

/// Validates `bytes`, stores them once and lets `tenant` use them.
pub async fn store_module(
    service: &Service,
    tenant: &Tenant,
    bytes: Vec<u8>,
    field: &str,
) -> Result<ModuleUploaded, ApiError> {
    let sha256 = keys::sha256_hex(&bytes);
    let (bytes, info) = tokio::task::spawn_blocking(move || {
        let info = inspect(&bytes);
        (bytes, info)
    })
    .await
    .map_err(ApiError::internal)?;
    let info = info.map_err(|error| ApiError::sandbox(field, &error))?;
    service.store.put_module(tenant.id, &sha256, &bytes).await?;
    Ok(uploaded(sha256, bytes.len(), &info))
}

/// Validates module bytes (binary or text) and checks their imports against the default
/// policy (WASI preview 1 and nothing else).
pub fn inspect(bytes: &[u8]) -> Result<ModuleInfo, sandbox::SandboxError> {
    let config = SandboxConfig::default();
    let wasm;
    let binary = if looks_like_text(bytes) {
        wasm = compile_wat_to_wasm(bytes)?;
        &wasm[..]
    } else {
        bytes
    };
    let info = ModuleInfo::parse(binary, &config)?;
    info.check_imports(&config)?;
    Ok(info)
}

fn uploaded(sha256: String, size: usize, info: &ModuleInfo) -> ModuleUploaded {
    ModuleUploaded {
        sha256,
        size: size as u64,
        imports: info
            .imports
            .iter()
            .map(|import| format!("{}::{}", import.module, import.name))
            .collect(),
        exports: info.exported_functions().map(str::to_string).collect(),
    }
}

/// A module this tenant uploaded.
#[utoipa::path(get, path = "/v1/modules/{sha256}", tag = "modules",
    security(("bearer" = [])),
    params(("sha256" = String, Path)),
    responses((status = 200, body = ModuleUploaded), (status = 404, body = crate::model::ErrorBody)))]
pub async fn show(
    TenantAuth(tenant): TenantAuth,
    State(service): State<AppState>,
    ApiPath(sha256): ApiPath<String>,
) -> Result<Json<ModuleUploaded>, ApiError> {
    // Something that is not a hash names no module: 404, like an unknown one.
    if check_sha(&sha256, "sha256").is_err() {
        return Err(ApiError::not_found(format!("module {}", cut(&sha256))));
    }
    let bytes = tenant_module(&service, &tenant, &sha256, "sha256").await?;
    let info = tokio::task::spawn_blocking(move || inspect(&bytes).map(|info| (info, bytes.len())))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::sandbox("sha256", &error))?;
    Ok(Json(uploaded(sha256, info.1, &info.0)))
}

/// Checks that `sha256` names a module `tenant` uploaded and returns its bytes (404
/// otherwise, also for another tenant's module).
pub async fn tenant_module(
    service: &Service,
    tenant: &Tenant,
    sha256: &str,
    field: &str,
) -> Result<Vec<u8>, ApiError> {
    check_sha(sha256, field)?;
    if !service
        .auth
        .tenant_has_module(&service.store, tenant.id, sha256)
        .await?
    {
        return Err(ApiError::not_found(format!("module {sha256}")).field(field));
    }
    service
        .store
        .module_bytes(sha256)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("module {sha256}")).field(field))
}

/// Checks that `sha256` has the form of a SHA-256 in hex.
pub fn check_sha(sha256: &str, field: &str) -> Result<(), ApiError> {
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        Ok(())
    } else {
        Err(ApiError::invalid(
            field,
            format!(
                "{field} must be a SHA-256 in lowercase hex (64 characters), got {:?}",
                cut(sha256)
            ),
        ))
    }
}

/// At most 80 characters of `text`, for error messages.
pub fn cut(text: &str) -> String {
    text.chars().take(80).collect()
}
