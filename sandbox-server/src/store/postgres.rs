//! The PostgreSQL job store: one database shared by any number of API processes and
//! workers on any number of hosts.
//!
//! Workers claim jobs with `FOR UPDATE SKIP LOCKED` (a claim never waits for another's),
//! under a lease they renew; results are fenced by the claim's attempt number. Acceptances
//! `NOTIFY sandbox_jobs` (workers wake at once, and poll in case a notification was lost) and
//! results `NOTIFY sandbox_done` (API processes wake the requests waiting for them and
//! deliver their callbacks).

use super::writer::{WriteOp, Writer};
use super::{
    Completion, Done, DoneHook, DueCallback, JobRecord, JobStore, NewJob, QueuedJob, Requeued,
    StoreError, Tenant, TenantLimits,
};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Row};
use std::time::Duration;

row_fns!(PgRow);

/// The schema, in order (the SQLite schema in PostgreSQL's types).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "job backend",
        include_str!("../../migrations/postgres/0002_job_backend.sql"),
    ),
];

/// How long a callback taken for delivery is held from other API processes.
const CALLBACK_HOLD_MS: i64 = 60_000;

/// Queued jobs of each tenant a claim looks at (the rest of a tenant's queue waits behind
/// them; more than the workers that claim at once, so that skipped locks leave enough). A
/// tenant's k-th oldest job, with r of its jobs running, takes turn r + k: tenants
/// alternate, the one with the fewest running first.
const CLAIM_WINDOW: i64 = 32;

/// The PostgreSQL job store.
pub struct PgStore {
    pool: PgPool,
    writer: Writer,
    listener: tokio::task::AbortHandle,
    jobs_signal: tokio::sync::watch::Sender<u64>,
}

/// The payload of `NOTIFY sandbox_done`: the job's id, then ` callback` if one is owed.
pub(super) fn done_payload(done: &Done) -> String {
    if done.callback {
        format!("{} callback", done.id)
    } else {
        done.id.clone()
    }
}

fn parse_done(payload: &str) -> Done {
    match payload.split_once(' ') {
        Some((id, _)) => Done {
            id: id.to_string(),
            callback: true,
        },
        None => Done {
            id: payload.to_string(),
            callback: false,
        },
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST[:PORT]/DATABASE`), applies the
    /// migrations (under PostgreSQL's advisory lock: processes starting together apply them
    /// once) and listens for acceptances and results.
    pub async fn open(url: &str, on_done: DoneHook) -> Result<PgStore, StoreError> {
        // One connection first, for the driver's own reason when there is none (the pool
        // would only say that it timed out).
        use sqlx::Connection;
        let probe =
            sqlx::PgConnection::connect(url)
                .await
                .map_err(|error| StoreError::Connect {
                    url: super::redact(url),
                    reason: error.to_string(),
                })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        super::sqlite::migrator(MIGRATIONS).run(&pool).await?;
        let writer = Writer::start(pool.clone(), None);
        let jobs_signal = tokio::sync::watch::Sender::new(0u64);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener
            .listen_all(["sandbox_jobs", "sandbox_done"])
            .await?;
        let listener = tokio::spawn(listen(listener, jobs_signal.clone(), on_done)).abort_handle();
        Ok(PgStore {
            pool,
            writer,
            listener,
            jobs_signal,
        })
    }
}

/// Hears notifications until the store closes. A lost connection is re-established by
/// `PgListener` (notifications in between are lost: workers are woken anyway, and poll).
async fn listen(
    mut listener: PgListener,
    jobs: tokio::sync::watch::Sender<u64>,
    on_done: DoneHook,
) {
    loop {
        match listener.recv().await {
            Ok(notification) => match notification.channel() {
                "sandbox_jobs" => jobs.send_modify(|count| *count += 1),
                _ => on_done(parse_done(notification.payload())),
            },
            Err(error) => {
                tracing::warn!(%error, "lost the PostgreSQL notifications; reconnecting");
                jobs.send_modify(|count| *count += 1);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

impl JobStore for PgStore {
    common_methods!();
    writer_methods!();

    async fn close(&self) {
        self.writer.close().await;
        self.listener.abort();
        self.pool.close().await;
    }

    async fn claim_next(
        &self,
        owner: &str,
        max: usize,
        lease_until: i64,
        backends: &[String],
    ) -> Result<Vec<QueuedJob>, StoreError> {
        // A claim does not wait for the disk (`synchronous_commit = off` for this transaction
        // only): other workers see it at once, and one lost with the database server leaves
        // the job queued, to be claimed again under the same attempt number, whose result is
        // still stored once. Results are committed synchronously.
        let mut tx = self.pool.begin().await?;
        // The claim is a prepared statement (sqlx keeps them per connection); planning it
        // anew for each claim cost more than running it.
        for setting in [
            "SET LOCAL synchronous_commit = off",
            "SET LOCAL plan_cache_mode = force_generic_plan",
        ] {
            sqlx::query(setting).execute(&mut *tx).await?;
        }
        let rows = sqlx::query(
            "WITH candidates AS ( \
                 SELECT c.seq, r.running + c.rank AS turn FROM tenants t \
                 CROSS JOIN LATERAL (SELECT count(*) AS running FROM jobs \
                     WHERE tenant_id = t.id AND state = 'running') r \
                 CROSS JOIN LATERAL (SELECT seq, row_number() OVER (ORDER BY seq) AS rank \
                     FROM (SELECT seq FROM jobs WHERE tenant_id = t.id AND state = 'queued' \
                         AND backend = ANY($7) ORDER BY seq LIMIT $6) window_of_tenant) c \
                 WHERE t.max_concurrent IS NULL OR r.running < t.max_concurrent \
             ), picked AS ( \
                 SELECT locked.seq FROM (SELECT seq, turn FROM candidates ORDER BY turn, seq) turns \
                 CROSS JOIN LATERAL (SELECT seq FROM jobs \
                     WHERE jobs.seq = turns.seq AND state = 'queued' \
                     FOR UPDATE SKIP LOCKED) locked \
                 LIMIT $4 \
             ) \
             UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, owner = $1, \
                 lease_until = $2, started_at = $3 \
             FROM picked WHERE jobs.seq = picked.seq \
             RETURNING jobs.id, jobs.tenant_id, jobs.kind, \
                 CASE WHEN length(jobs.spec) <= $5 THEN jobs.spec END, jobs.attempts - 1, \
                 jobs.created_at, jobs.callback_url",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(super::now_ms())
        .bind(max as i64)
        .bind(super::MEMORY_SPEC_BYTES as i32)
        .bind(CLAIM_WINDOW)
        .bind(backends)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().map(queued_of).collect())
    }

    async fn requeue(
        &self,
        now: i64,
        all_running: bool,
        max_attempts: i64,
    ) -> Result<Requeued, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (requeued, done) = requeue_in!(tx, now, all_running, max_attempts);
        for done in &done {
            sqlx::query("SELECT pg_notify('sandbox_done', $1)")
                .bind(done_payload(done))
                .execute(&mut *tx)
                .await?;
        }
        if requeued.requeued > 0 {
            sqlx::query("SELECT pg_notify('sandbox_jobs', '')")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(requeued)
    }

    async fn due_callbacks(&self, now: i64, limit: i64) -> Result<Vec<DueCallback>, StoreError> {
        let rows = sqlx::query(
            "UPDATE callbacks SET next_at = $3 WHERE job_id IN ( \
                 SELECT job_id FROM callbacks WHERE state = 'pending' AND next_at <= $1 \
                 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
             RETURNING job_id, tenant_id, url, attempts",
        )
        .bind(now)
        .bind(limit)
        .bind(now + CALLBACK_HOLD_MS)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(callback_of).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            super::super::redact("postgres://user:secret@db.internal:5432/sandbox"),
            "postgres://user:***@db.internal:5432/sandbox"
        );
        assert_eq!(
            super::super::redact("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
        assert_eq!(
            super::super::redact("postgres://user@host/db"),
            "postgres://user@host/db"
        );
    }

    #[test]
    fn done_payloads_round_trip() {
        for done in [
            Done {
                id: "run_abc".into(),
                callback: true,
            },
            Done {
                id: "sub_x-y_z".into(),
                callback: false,
            },
        ] {
            assert_eq!(parse_done(&done_payload(&done)), done);
        }
    }
}
