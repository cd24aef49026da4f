//! The store's writer: one task, one connection, many writes per transaction.
//!
//! Writes arrive on a channel; the task takes everything waiting (up to [`MAX_BATCH`]),
//! applies it in one transaction and answers after the commit. Under load that is one commit
//! for hundreds of acceptances, claims and completions; when idle, a write waits for no one.
//! A batch that fails as a whole (a constraint broken by one write) is applied again one write
//! per transaction, so one bad write fails alone.

use super::{now_ms, Completion, Done, DoneHook, NewJob, StoreError};
use sqlx::{Connection, PgPool, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;

pub(super) enum WriteOp {
    Insert {
        jobs: Vec<NewJob>,
        done: oneshot::Sender<Result<(), StoreError>>,
    },
    Claim {
        id: String,
        attempt: i64,
        owner: String,
        lease_until: i64,
        started_at: i64,
    },
    Complete(Box<Completion>),
    Flush(oneshot::Sender<()>),
}

/// The handle of the writer task.
#[derive(Clone)]
pub(super) struct Writer {
    sender: mpsc::UnboundedSender<WriteOp>,
    stopped: std::sync::Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Writer {
    pub(super) fn start<C: Apply>(connection: C, on_done: Option<DoneHook>) -> Writer {
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(connection, receiver, on_done));
        Writer {
            sender,
            stopped: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))),
        }
    }

    pub(super) fn send(&self, op: WriteOp) -> Result<(), StoreError> {
        self.sender.send(op).map_err(|_| StoreError::Closed)
    }

    /// Waits until every write sent before is committed.
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.send(WriteOp::Flush(done))?;
        answer.await.map_err(|_| StoreError::Closed)
    }

    /// Commits what is pending and stops the task.
    pub(super) async fn close(&self) {
        let _ = self.flush().await;
        if let Some(task) = self.stopped.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn run<C: Apply>(
    mut connection: C,
    mut receiver: mpsc::UnboundedReceiver<WriteOp>,
    on_done: Option<DoneHook>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = connection.apply(&mut batch).await;
        let stored = match outcome {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, writes = batch.len(), "a batch failed; applying its writes one by one");
                let mut stored = Vec::new();
                for op in std::mem::take(&mut batch) {
                    let mut one = vec![op];
                    match connection.apply(&mut one).await {
                        Ok(done) => stored.extend(done),
                        Err(error) => {
                            tracing::error!(%error, "a write failed");
                            fail(one, &error);
                        }
                    }
                }
                stored
            }
        };
        if let Some(hook) = &on_done {
            for done in stored {
                hook(done);
            }
        }
    }
}

/// Answers the writes of a failed transaction with its error.
fn fail(batch: Vec<WriteOp>, error: &StoreError) {
    for op in batch {
        if let WriteOp::Insert { done, .. } = op {
            let _ = done.send(Err(StoreError::Write(error.to_string())));
        }
    }
}

/// A connection the writer commits batches on.
pub(super) trait Apply: Send + 'static {
    /// Applies `batch` in one transaction; on success, answers its writes, empties it and
    /// returns the results stored. On failure, leaves it as it was.
    fn apply(
        &mut self,
        batch: &mut Vec<WriteOp>,
    ) -> impl std::future::Future<Output = Result<Vec<Done>, StoreError>> + Send;
}

/// The body of [`Apply::apply`]; `$postgres` adds the notifications PostgreSQL's listeners
/// wait for (`sandbox_jobs` when jobs were queued, `sandbox_done` with each result's id).
macro_rules! apply_batch {
    ($connection:expr, $batch:expr, $postgres:expr) => {{
        let mut tx = $connection.begin().await?;
        let mut stored = Vec::new();
        let mut inserted = false;
        for op in $batch.iter() {
            match op {
                WriteOp::Insert { jobs, .. } => {
                    for job in jobs {
                        inserted = true;
                        sqlx::query(
                            "INSERT INTO jobs (id, tenant_id, kind, state, spec, callback_url, \
                             created_at, backend) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7)",
                        )
                        .bind(&job.id)
                        .bind(job.tenant_id)
                        .bind(job.kind.name())
                        .bind(&job.spec)
                        .bind(&job.callback_url)
                        .bind(job.created_at)
                        .bind(&job.backend)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                WriteOp::Claim {
                    id,
                    attempt,
                    owner,
                    lease_until,
                    started_at,
                } => {
                    sqlx::query(
                        "UPDATE jobs SET state = 'running', attempts = $1, owner = $2, \
                         lease_until = $3, started_at = $4 WHERE id = $5 AND state = 'queued'",
                    )
                    .bind(attempt)
                    .bind(owner)
                    .bind(lease_until)
                    .bind(started_at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                WriteOp::Complete(completion) => {
                    let now = now_ms();
                    let updated = sqlx::query(
                        "UPDATE jobs SET state = 'done', result = $1, outcome = $2, \
                         finished_at = $3, owner = NULL, lease_until = NULL \
                         WHERE id = $4 AND state = 'running' AND attempts = $5",
                    )
                    .bind(&completion.result)
                    .bind(&completion.outcome)
                    .bind(now)
                    .bind(&completion.id)
                    .bind(completion.attempt)
                    .execute(&mut *tx)
                    .await?;
                    if updated.rows_affected() == 1 {
                        if let Some(url) = &completion.callback_url {
                            sqlx::query(
                                "INSERT INTO callbacks (job_id, tenant_id, url, next_at, state) \
                                 VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT DO NOTHING",
                            )
                            .bind(&completion.id)
                            .bind(completion.tenant_id)
                            .bind(url)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        let done = Done {
                            id: completion.id.clone(),
                            callback: completion.callback_url.is_some(),
                        };
                        if $postgres {
                            sqlx::query("SELECT pg_notify('sandbox_done', $1)")
                                .bind(super::postgres::done_payload(&done))
                                .execute(&mut *tx)
                                .await?;
                        }
                        stored.push(done);
                    }
                }
                WriteOp::Flush(_) => {}
            }
        }
        if $postgres && inserted {
            sqlx::query("SELECT pg_notify('sandbox_jobs', '')")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        for op in $batch.drain(..) {
            match op {
                WriteOp::Insert { done, .. } => {
                    let _ = done.send(Ok(()));
                }
                WriteOp::Flush(done) => {
                    let _ = done.send(());
                }
                WriteOp::Claim { .. } | WriteOp::Complete(_) => {}
            }
        }
        Ok(stored)
    }};
}

impl Apply for SqliteConnection {
    async fn apply(&mut self, batch: &mut Vec<WriteOp>) -> Result<Vec<Done>, StoreError> {
        apply_batch!(self, batch, false)
    }
}

/// A pool, not one connection: a connection PostgreSQL dropped (a restart, a failover) is
/// replaced for the next batch.
impl Apply for PgPool {
    async fn apply(&mut self, batch: &mut Vec<WriteOp>) -> Result<Vec<Done>, StoreError> {
        apply_batch!(self, batch, true)
    }
}
