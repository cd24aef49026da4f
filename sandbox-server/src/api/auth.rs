//! `Authorization: Bearer KEY`: tenants by the hash of their key, and the administrator.
//!
//! Lookups are cached for two seconds, so a tenant removed or a key rotated with
//! `sandbox tenant ...` (another process, the same database) stops working within two
//! seconds without a database read on every request.

use super::{ApiError, AppState};
use crate::keys;
use crate::store::Tenant;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a lookup is trusted.
const TTL: Duration = Duration::from_secs(2);
/// Most cached lookups (unknown keys included); the cache is emptied when full.
const MAX_ENTRIES: usize = 10_000;

/// A cached lookup: when it was made and the tenant found (or none).
type Lookup = (Instant, Option<Arc<Tenant>>);

/// Cached lookups.
#[derive(Default)]
pub struct AuthCache {
    tenants: Mutex<HashMap<String, Lookup>>,
    /// (tenant, module) pairs known to be allowed: uploads are never taken back (a tenant's
    /// removal fails its key first), so a positive answer stays true.
    modules: Mutex<std::collections::HashSet<(i64, String)>>,
    admin: Mutex<Option<(Instant, Option<String>)>>,
}

impl AuthCache {
    /// Whether `tenant_id` may use module `sha256` (uploaded it), asking the store once.
    pub async fn tenant_has_module(
        &self,
        store: &crate::store::Store,
        tenant_id: i64,
        sha256: &str,
    ) -> Result<bool, crate::store::StoreError> {
        let key = (tenant_id, sha256.to_string());
        if lock(&self.modules).contains(&key) {
            return Ok(true);
        }
        let allowed = store.tenant_has_module(tenant_id, sha256).await?;
        if allowed {
            let mut modules = lock(&self.modules);
            if modules.len() >= 10 * MAX_ENTRIES {
                modules.clear();
            }
            modules.insert(key);
        }
        Ok(allowed)
    }

    /// Forgets every cached lookup (after a change made through this service).
    pub fn clear(&self) {
        lock(&self.tenants).clear();
        *lock(&self.admin) = None;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bearer token of a request.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let unauthorized =
        |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("missing `Authorization: Bearer KEY`"))?
        .to_str()
        .map_err(|_| unauthorized("the Authorization header is not text"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("expected `Authorization: Bearer KEY`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized("expected `Authorization: Bearer KEY`"));
    }
    Ok(token.trim())
}

/// The tenant a request authenticates as.
pub struct TenantAuth(pub Arc<Tenant>);

impl FromRequestParts<AppState> for TenantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &AppState) -> Result<Self, ApiError> {
        let hash = keys::key_hash(bearer(parts)?);
        let cached = lock(&service.auth.tenants)
            .get(&hash)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, tenant)| tenant.clone());
        let tenant = match cached {
            Some(tenant) => tenant,
            None => {
                let tenant = service.store.tenant_by_key_hash(&hash).await?.map(Arc::new);
                let mut cache = lock(&service.auth.tenants);
                if cache.len() >= MAX_ENTRIES {
                    cache.clear();
                }
                cache.insert(hash, (Instant::now(), tenant.clone()));
                tenant
            }
        };
        tenant.map(TenantAuth).ok_or_else(|| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key")
        })
    }
}

/// A request made with the administrator's key.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, service: &AppState) -> Result<Self, ApiError> {
        let hash = keys::key_hash(bearer(parts)?);
        let cached = lock(&service.auth.admin)
            .as_ref()
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, hash)| hash.clone());
        let admin = match cached {
            Some(admin) => admin,
            None => {
                let admin = service.store.admin_key_hash().await?;
                *lock(&service.auth.admin) = Some((Instant::now(), admin.clone()));
                admin
            }
        };
        if admin.as_deref() == Some(hash.as_str()) {
            Ok(AdminAuth)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this route needs the administrator's key",
            ))
        }
    }
}
