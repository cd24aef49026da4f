//! Callbacks: a finished job's result POSTed to the URL its request named, signed with the
//! tenant's webhook secret, retried with exponential backoff.
//!
//! The callback is written in the same transaction as the result (an outbox), so a result
//! stored is a callback owed, across restarts. Delivery: `POST url` with the job's JSON (as
//! `GET /v1/runs/{id}` shows it), `Content-Type: application/json`, `X-Sandbox-Signature:
//! sha256=HEX` (HMAC-SHA256 of the body with the webhook secret), `X-Sandbox-Job: ID`,
//! `X-Sandbox-Attempt: N`. A 2xx answer delivers it; anything else (or no answer in 10 s) is
//! retried after 1, 2, 4, 8 s (the service's backoff doubled each time), up to 5 attempts.
//! Redirects are not followed.

use crate::keys;
use crate::metrics::CallbackLabels;
use crate::service::Service;
use crate::store::now_ms;
use std::sync::Arc;
use std::time::Duration;

/// Deliveries made at once.
const CONCURRENT: usize = 16;

/// Delivers due callbacks until the service stops.
pub async fn deliver(service: Arc<Service>) {
    let client = match client() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "no HTTP client: callbacks will not be delivered");
            return;
        }
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
    let in_flight = Arc::new(std::sync::Mutex::new(
        std::collections::HashSet::<String>::new(),
    ));
    loop {
        let due = service
            .store
            .due_callbacks(now_ms(), 64)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "could not read callbacks");
                Vec::new()
            });
        for callback in due {
            if !in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(callback.job_id.clone())
            {
                continue;
            }
            let Ok(permit) = limit.clone().acquire_owned().await else {
                return;
            };
            let (service, client, in_flight) = (service.clone(), client.clone(), in_flight.clone());
            tokio::spawn(async move {
                attempt(&service, &client, &callback).await;
                in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&callback.job_id);
                drop(permit);
                service.shared.callbacks.notify_one();
            });
        }
        let next = service.store.next_callback_at().await.ok().flatten();
        let wait = next
            .map(|at| Duration::from_millis((at - now_ms()).clamp(10, 60_000) as u64))
            .unwrap_or(Duration::from_secs(60));
        let _ = tokio::time::timeout(wait, service.shared.callbacks.notified()).await;
    }
}

fn client() -> Result<reqwest::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(system_roots())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("sandbox-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| error.to_string())
}

/// The operating system's trusted certificates (Debian's `/etc/ssl/certs`), if any.
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for path in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        if let Ok(pem) = std::fs::read(path) {
            for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem).flatten() {
                let _ = roots.add(cert);
            }
            break;
        }
    }
    roots
}

async fn attempt(
    service: &Service,
    client: &reqwest::Client,
    callback: &crate::store::DueCallback,
) {
    let metrics = &service.shared.metrics;
    let body = match crate::api::jobs::view_of(service, callback.tenant_id, &callback.job_id).await
    {
        Some(view) => serde_json::to_vec(&view).unwrap_or_default(),
        None => {
            let _ = service
                .store
                .callback_attempted(
                    &callback.job_id,
                    "failed",
                    now_ms(),
                    Some("the job is gone"),
                )
                .await;
            return;
        }
    };
    let secret = match service.store.tenant_by_id(callback.tenant_id).await {
        Ok(Some(tenant)) => tenant.webhook_secret,
        _ => return,
    };
    let number = callback.attempts + 1;
    let sent = client
        .post(&callback.url)
        .header("content-type", "application/json")
        .header("x-sandbox-signature", keys::signature(&secret, &body))
        .header("x-sandbox-job", &callback.job_id)
        .header("x-sandbox-attempt", number.to_string())
        .body(body)
        .send()
        .await;
    let error = match sent {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("answered {}", response.status())),
        Err(error) => Some(format!("{error}")),
    };
    let (state, next_at, result) = match &error {
        None => ("delivered", now_ms(), "delivered"),
        Some(_) if number >= i64::from(service.config.callback_attempts) => {
            ("failed", now_ms(), "failed")
        }
        Some(_) => {
            let backoff = service.config.callback_backoff.as_millis() as i64;
            let delay = backoff.saturating_mul(1 << (number - 1).clamp(0, 20));
            ("pending", now_ms() + delay, "retried")
        }
    };
    metrics
        .callbacks
        .get_or_create(&CallbackLabels {
            result: result.into(),
        })
        .inc();
    if let Err(error) = service
        .store
        .callback_attempted(&callback.job_id, state, next_at, error.as_deref())
        .await
    {
        tracing::warn!(%error, "could not record a callback attempt");
    }
}
