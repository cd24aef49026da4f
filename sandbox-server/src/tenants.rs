//! Tenants and the administrator's key: what `sandbox tenant ...` and the administrator's
//! routes do.

use crate::keys;
use crate::model::TenantCreated;
use crate::store::{Store, StoreError, Tenant, TenantLimits};
use std::path::{Path, PathBuf};

/// The environment variable that sets the administrator's key.
pub const ADMIN_KEY_ENV: &str = "SANDBOX_ADMIN_KEY";

/// The file in the data directory holding the administrator's key made at the first start.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// A tenant operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The name is not acceptable.
    #[error("invalid tenant name {0:?}: use 1 to 64 letters, digits, `-`, `_` or `.`")]
    InvalidName(String),
    /// The store said no (exists, not found, database).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks a tenant name.
pub fn check_name(name: &str) -> Result<(), TenantError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(TenantError::InvalidName(name.to_string()))
    }
}

/// Adds a tenant; the answer holds its API key and webhook secret, shown this once.
pub async fn add(
    store: &Store,
    name: &str,
    limits: &TenantLimits,
) -> Result<TenantCreated, TenantError> {
    check_name(name)?;
    let api_key = keys::random_token("sk_");
    let webhook_secret = keys::random_token("whsec_");
    store
        .add_tenant(name, &keys::key_hash(&api_key), &webhook_secret, limits)
        .await?;
    Ok(TenantCreated {
        name: name.to_string(),
        api_key,
        webhook_secret: Some(webhook_secret),
    })
}

/// Gives tenant `name` a new API key (the old one stops working); returns it.
pub async fn rotate_key(store: &Store, name: &str) -> Result<TenantCreated, TenantError> {
    let api_key = keys::random_token("sk_");
    store
        .set_tenant_key_hash(name, &keys::key_hash(&api_key))
        .await?;
    Ok(TenantCreated {
        name: name.to_string(),
        api_key,
        webhook_secret: None,
    })
}

/// Removes tenant `name` and everything it owns.
pub async fn remove(store: &Store, name: &str) -> Result<(), TenantError> {
    Ok(store.remove_tenant(name).await?)
}

/// Every tenant.
pub async fn list(store: &Store) -> Result<Vec<Tenant>, TenantError> {
    Ok(store.tenants().await?)
}

/// Makes sure the administrator has a key: `SANDBOX_ADMIN_KEY` when set; otherwise the one
/// stored, or a new one written to `DATA_DIR/admin.key` (mode 0600) and returned.
pub async fn ensure_admin_key(
    store: &Store,
    data_dir: &Path,
) -> Result<(Option<String>, Option<PathBuf>), StoreError> {
    if let Ok(key) = std::env::var(ADMIN_KEY_ENV) {
        if !key.is_empty() {
            store.set_admin_key_hash(&keys::key_hash(&key)).await?;
            return Ok((None, None));
        }
    }
    let file = data_dir.join(ADMIN_KEY_FILE);
    if store.admin_key_hash().await?.is_some() {
        return Ok((None, file.exists().then_some(file)));
    }
    let key = keys::random_token("sk_admin_");
    write_private(&file, &key).map_err(|error| {
        StoreError::Io(format!(
            "cannot write the administrator's key to {}: {error}",
            file.display()
        ))
    })?;
    store.set_admin_key_hash(&keys::key_hash(&key)).await?;
    Ok((Some(key), Some(file)))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    writeln!(file, "{text}")
}

/// Blocking access to the tenants of a database, for the CLI.
pub struct Admin {
    runtime: tokio::runtime::Runtime,
    store: Store,
}

impl Admin {
    /// Opens the database at `url` (creating and migrating it if needed).
    pub fn open(url: &str) -> Result<Admin, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| StoreError::Io(format!("cannot start a tokio runtime: {error}")))?;
        let store = runtime.block_on(Store::open(url, std::sync::Arc::new(|_| {})))?;
        Ok(Admin { runtime, store })
    }

    /// [`add`].
    pub fn add(&self, name: &str, limits: &TenantLimits) -> Result<TenantCreated, TenantError> {
        self.runtime.block_on(add(&self.store, name, limits))
    }

    /// [`rotate_key`].
    pub fn rotate_key(&self, name: &str) -> Result<TenantCreated, TenantError> {
        self.runtime.block_on(rotate_key(&self.store, name))
    }

    /// [`remove`].
    pub fn remove(&self, name: &str) -> Result<(), TenantError> {
        self.runtime.block_on(remove(&self.store, name))
    }

    /// [`list`].
    pub fn list(&self) -> Result<Vec<Tenant>, TenantError> {
        self.runtime.block_on(list(&self.store))
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.runtime.block_on(self.store.close());
    }
}
