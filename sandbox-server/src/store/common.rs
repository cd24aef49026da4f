//! What both databases do with the same SQL (written once, with `$N` parameters, which
//! SQLite and PostgreSQL both read), expanded into each implementation of [`JobStore`]
//! (`super::JobStore`) by these macros.

/// Functions reading rows of `$row` into the store's types.
macro_rules! row_fns {
    ($row:ty) => {
        pub(super) const TENANT_COLUMNS: &str =
            "SELECT id, name, webhook_secret, max_concurrent, rate_per_min, max_queue, \
             max_memory_bytes, max_fuel, max_timeout_ms, created_at FROM tenants";

        pub(super) fn tenant_of(row: &$row) -> $crate::store::Tenant {
            use sqlx::Row;
            let small = |index: usize| {
                row.get::<Option<i64>, _>(index)
                    .map(|n| n.clamp(0, u32::MAX as i64) as u32)
            };
            let large = |index: usize| row.get::<Option<i64>, _>(index).map(|n| n.max(0) as u64);
            $crate::store::Tenant {
                id: row.get(0),
                name: row.get(1),
                webhook_secret: row.get(2),
                limits: $crate::store::TenantLimits {
                    max_concurrent: small(3),
                    rate_per_min: small(4),
                    max_queue: small(5),
                    max_memory_bytes: large(6),
                    max_fuel: large(7),
                    max_timeout_ms: large(8),
                },
                created_at: row.get(9),
            }
        }

        /// Columns: job_id, tenant_id, url, attempts.
        pub(super) fn callback_of(row: &$row) -> $crate::store::DueCallback {
            use sqlx::Row;
            $crate::store::DueCallback {
                job_id: row.get(0),
                tenant_id: row.get(1),
                url: row.get(2),
                attempts: row.get(3),
            }
        }

        /// Columns: id, tenant_id, kind, spec (if small), attempts, created_at, callback_url.
        pub(super) fn queued_of(row: &$row) -> $crate::store::QueuedJob {
            use sqlx::Row;
            $crate::store::QueuedJob {
                id: row.get(0),
                tenant_id: row.get(1),
                kind: $crate::store::JobKind::parse(row.get::<&str, _>(2)),
                spec: row.get(3),
                attempts: row.get(4),
                created_at: row.get(5),
                callback_url: row.get(6),
            }
        }
    };
}

/// The methods of `JobStore` whose SQL both databases share, for a type with a `pool`.
macro_rules! common_methods {
    () => {
        async fn ping(&self) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
            Ok(())
        }

        async fn admin_key_hash(&self) -> Result<Option<String>, StoreError> {
            Ok(sqlx::query("SELECT key_hash FROM admin WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)))
        }

        async fn set_admin_key_hash(&self, hash: &str) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO admin (id, key_hash) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash",
            )
            .bind(hash)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn add_tenant(
            &self,
            name: &str,
            key_hash: &str,
            webhook_secret: &str,
            limits: &TenantLimits,
        ) -> Result<Tenant, StoreError> {
            use $crate::store::clamp_i64;
            let inserted = sqlx::query(
                "INSERT INTO tenants (name, key_hash, webhook_secret, max_concurrent, \
                 rate_per_min, max_queue, max_memory_bytes, max_fuel, max_timeout_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(key_hash)
            .bind(webhook_secret)
            .bind(limits.max_concurrent.map(i64::from))
            .bind(limits.rate_per_min.map(i64::from))
            .bind(limits.max_queue.map(i64::from))
            .bind(limits.max_memory_bytes.map(clamp_i64))
            .bind(limits.max_fuel.map(clamp_i64))
            .bind(limits.max_timeout_ms.map(clamp_i64))
            .bind($crate::store::now_ms())
            .execute(&self.pool)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Exists(format!("tenant {name:?}")));
            }
            self.tenant_by_name(name)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("tenant {name:?}")))
        }

        async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
            let rows = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} ORDER BY name")))
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(tenant_of).collect())
        }

        async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
            let row = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} WHERE name = $1")))
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(tenant_of))
        }

        async fn tenant_by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError> {
            let row = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} WHERE key_hash = $1")))
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(tenant_of))
        }

        async fn tenant_by_id(&self, id: i64) -> Result<Option<Tenant>, StoreError> {
            let row = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} WHERE id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.as_ref().map(tenant_of))
        }

        async fn set_tenant_key_hash(&self, name: &str, hash: &str) -> Result<(), StoreError> {
            let updated = sqlx::query("UPDATE tenants SET key_hash = $1 WHERE name = $2")
                .bind(hash)
                .bind(name)
                .execute(&self.pool)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("tenant {name:?}")));
            }
            Ok(())
        }

        async fn remove_tenant(&self, name: &str) -> Result<(), StoreError> {
            let deleted = sqlx::query("DELETE FROM tenants WHERE name = $1")
                .bind(name)
                .execute(&self.pool)
                .await?;
            if deleted.rows_affected() == 0 {
                return Err(StoreError::NotFound(format!("tenant {name:?}")));
            }
            Ok(())
        }

        async fn put_module(
            &self,
            tenant_id: i64,
            sha256: &str,
            bytes: &[u8],
        ) -> Result<(), StoreError> {
            let now = $crate::store::now_ms();
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO modules (sha256, bytes, size, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(sha256)
            .bind(bytes)
            .bind(bytes.len() as i64)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO tenant_modules (tenant_id, sha256, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant_id)
            .bind(sha256)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn tenant_has_module(&self, tenant_id: i64, sha256: &str) -> Result<bool, StoreError> {
            Ok(
                sqlx::query("SELECT 1 FROM tenant_modules WHERE tenant_id = $1 AND sha256 = $2")
                    .bind(tenant_id)
                    .bind(sha256)
                    .fetch_optional(&self.pool)
                    .await?
                    .is_some(),
            )
        }

        async fn module_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(sqlx::query("SELECT bytes FROM modules WHERE sha256 = $1")
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)))
        }

        async fn insert_problem(&self, id: &str, tenant_id: i64, spec: &str) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO problems (id, tenant_id, spec, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(spec)
            .bind($crate::store::now_ms())
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn problem(&self, tenant_id: i64, id: &str) -> Result<Option<String>, StoreError> {
            Ok(
                sqlx::query("SELECT spec FROM problems WHERE id = $1 AND tenant_id = $2")
                    .bind(id)
                    .bind(tenant_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| row.get(0)),
            )
        }

        async fn job(&self, tenant_id: i64, id: &str) -> Result<Option<JobRecord>, StoreError> {
            let row = sqlx::query(
                "SELECT id, tenant_id, kind, state, spec, result, attempts, created_at, \
                 started_at, finished_at FROM jobs WHERE id = $1 AND tenant_id = $2",
            )
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.map(|row| JobRecord {
                id: row.get(0),
                tenant_id: row.get(1),
                kind: $crate::store::JobKind::parse(row.get::<&str, _>(2)),
                state: $crate::store::JobState::parse(row.get::<&str, _>(3)),
                spec: row.get(4),
                result: row.get(5),
                attempts: row.get(6),
                created_at: row.get(7),
                started_at: row.get(8),
                finished_at: row.get(9),
            }))
        }

        async fn job_spec(&self, id: &str) -> Result<Option<String>, StoreError> {
            Ok(sqlx::query("SELECT spec FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)))
        }

        async fn job_result(&self, id: &str) -> Result<Option<String>, StoreError> {
            Ok(sqlx::query("SELECT result FROM jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .and_then(|row| row.get(0)))
        }

        async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, StoreError> {
            let result = sqlx::query(
                "UPDATE jobs SET lease_until = $1 WHERE owner = $2 AND state = 'running'",
            )
            .bind(until)
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(result.rows_affected())
        }

        async fn release(&self, owner: &str) -> Result<u64, StoreError> {
            self.flush().await?;
            let result = sqlx::query(
                "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL \
                 WHERE owner = $1 AND state = 'running'",
            )
            .bind(owner)
            .execute(&self.pool)
            .await?;
            Ok(result.rows_affected())
        }

        async fn queued_jobs(&self) -> Result<Vec<QueuedJob>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, tenant_id, kind, CASE WHEN length(spec) <= $1 THEN spec END, \
                 attempts, created_at, callback_url FROM jobs WHERE state = 'queued' ORDER BY seq",
            )
            .bind($crate::store::MEMORY_SPEC_BYTES as i64)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.iter().map(queued_of).collect())
        }

        async fn unfinished(&self, tenant_id: i64) -> Result<(u64, u64, u64), StoreError> {
            let row = sqlx::query(
                "SELECT COALESCE(SUM(CASE WHEN tenant_id = $1 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END), 0) \
                 FROM jobs WHERE state IN ('queued', 'running')",
            )
            .bind(tenant_id)
            .fetch_one(&self.pool)
            .await?;
            let count = |index: usize| row.get::<i64, _>(index).max(0) as u64;
            Ok((count(0), count(1), count(2)))
        }

        async fn next_callback_at(&self) -> Result<Option<i64>, StoreError> {
            Ok(
                sqlx::query("SELECT MIN(next_at) FROM callbacks WHERE state = 'pending'")
                    .fetch_one(&self.pool)
                    .await?
                    .get(0),
            )
        }

        async fn callback_attempted(
            &self,
            job_id: &str,
            state: &str,
            next_at: i64,
            error: Option<&str>,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE callbacks SET attempts = attempts + 1, state = $1, next_at = $2, \
                 last_error = $3 WHERE job_id = $4",
            )
            .bind(state)
            .bind(next_at)
            .bind(error)
            .bind(job_id)
            .execute(&self.pool)
            .await?;
            Ok(())
        }

        async fn callback_state(
            &self,
            job_id: &str,
        ) -> Result<Option<(String, i64, Option<String>)>, StoreError> {
            Ok(
                sqlx::query("SELECT state, attempts, last_error FROM callbacks WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|row| (row.get(0), row.get(1), row.get(2))),
            )
        }
    };
}

/// The methods of `JobStore` that go through the store's writer task, for a type with a
/// `writer` and a `jobs_signal`.
macro_rules! writer_methods {
    () => {
        async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<(), StoreError> {
            let (done, answer) = tokio::sync::oneshot::channel();
            self.writer.send(WriteOp::Insert { jobs, done })?;
            answer.await.map_err(|_| StoreError::Closed)?
        }

        fn claim(
            &self,
            id: &str,
            attempt: i64,
            owner: &str,
            lease_until: i64,
        ) -> Result<(), StoreError> {
            self.writer.send(WriteOp::Claim {
                id: id.to_string(),
                attempt,
                owner: owner.to_string(),
                lease_until,
                started_at: $crate::store::now_ms(),
            })
        }

        fn complete(&self, completion: Completion) -> Result<(), StoreError> {
            self.writer.send(WriteOp::Complete(Box::new(completion)))
        }

        async fn flush(&self) -> Result<(), StoreError> {
            self.writer.flush().await
        }

        fn job_signal(&self) -> tokio::sync::watch::Receiver<u64> {
            self.jobs_signal.subscribe()
        }
    };
}

/// The requeue of expired claims (poison jobs finished, the rest queued again), in the
/// transaction `$tx`; evaluates to the `Requeued` and the poisoned jobs' ids with whether a
/// callback is owed.
macro_rules! requeue_in {
    ($tx:expr, $now:expr, $all:expr, $max_attempts:expr) => {{
        let poisoned = sqlx::query(
            "UPDATE jobs SET state = 'done', outcome = 'internal_error', result = $1, \
             finished_at = $2, owner = NULL, lease_until = NULL \
             WHERE state = 'running' AND (lease_until < $2 OR $3) AND attempts >= $4 \
             RETURNING id, tenant_id, callback_url",
        )
        .bind($crate::store::poison_result($max_attempts))
        .bind($now)
        .bind($all)
        .bind($max_attempts)
        .fetch_all(&mut *$tx)
        .await?;
        let mut done = Vec::new();
        for row in &poisoned {
            let id: String = row.get(0);
            let tenant_id: i64 = row.get(1);
            let url: Option<String> = row.get(2);
            if let Some(url) = &url {
                sqlx::query(
                    "INSERT INTO callbacks (job_id, tenant_id, url, next_at, state) \
                     VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(tenant_id)
                .bind(url)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            }
            done.push($crate::store::Done {
                id,
                callback: url.is_some(),
            });
        }
        let requeued = sqlx::query(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL \
             WHERE state = 'running' AND (lease_until < $1 OR $2)",
        )
        .bind($now)
        .bind($all)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        (
            $crate::store::Requeued {
                requeued,
                poisoned: done.iter().map(|done| done.id.clone()).collect(),
            },
            done,
        )
    }};
}
