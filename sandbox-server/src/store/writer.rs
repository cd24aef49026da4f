//! The store's writer: one task, one connection, many writes per transaction.
//!
//! Writes arrive on a channel; the task takes everything waiting (up to [`MAX_BATCH`]),
//! applies it in one transaction and answers after the commit. Under load that is one commit
//! for hundreds of acceptances, claims and completions; when idle, a write waits for no one.
//! A batch that fails as a whole (a constraint broken by one write) is applied again one write
//! per transaction, so one bad write fails alone.

use super::{now_ms, StoreError};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

/// The most writes committed in one transaction.
const MAX_BATCH: usize = 512;

/// A job to insert.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: super::JobKind,
    /// The request, as JSON.
    pub spec: String,
    /// Where to POST the result.
    pub callback_url: Option<String>,
    /// When it was accepted.
    pub created_at: i64,
}

/// A result to store.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The job.
    pub id: String,
    /// The job's tenant.
    pub tenant_id: i64,
    /// The attempt the result belongs to (the claim's number).
    pub attempt: i64,
    /// The result, as JSON.
    pub result: String,
    /// The outcome (or verdict) name, for metrics and listings.
    pub outcome: String,
    /// Where to POST the result, if anywhere.
    pub callback_url: Option<String>,
    /// Whether the store took it (false: the job was already done or taken over). Set by the
    /// store before the hook is called.
    pub stored: bool,
}

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
    pub(super) async fn start(
        options: SqliteConnectOptions,
        on_complete: Box<dyn Fn(Completion) + Send + Sync>,
    ) -> Result<Writer, StoreError> {
        let connection = SqliteConnection::connect_with(&options).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(connection, receiver, on_complete));
        Ok(Writer {
            sender,
            stopped: std::sync::Arc::new(tokio::sync::Mutex::new(Some(task))),
        })
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

async fn run(
    mut connection: SqliteConnection,
    mut receiver: mpsc::UnboundedReceiver<WriteOp>,
    on_complete: Box<dyn Fn(Completion) + Send + Sync>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let outcome = apply(&mut connection, &mut batch).await;
        let stored = match outcome {
            Ok(stored) => stored,
            Err(error) => {
                tracing::warn!(%error, writes = batch.len(), "a batch failed; applying its writes one by one");
                let mut stored = Vec::new();
                for op in std::mem::take(&mut batch) {
                    let mut one = vec![op];
                    match apply(&mut connection, &mut one).await {
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
        for completion in stored {
            on_complete(completion);
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

/// Applies `batch` in one transaction; on success, answers its writes, empties it and
/// returns the completions (marked stored or not). On failure, leaves it as it was.
async fn apply(
    connection: &mut SqliteConnection,
    batch: &mut Vec<WriteOp>,
) -> Result<Vec<Completion>, StoreError> {
    let mut tx = connection.begin().await?;
    let mut stored = Vec::new();
    for op in batch.iter() {
        match op {
            WriteOp::Insert { jobs, .. } => {
                for job in jobs {
                    sqlx::query(
                        "INSERT INTO jobs (id, tenant_id, kind, state, spec, callback_url, created_at) \
                         VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    )
                    .bind(&job.id)
                    .bind(job.tenant_id)
                    .bind(job.kind.name())
                    .bind(&job.spec)
                    .bind(&job.callback_url)
                    .bind(job.created_at)
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
                    "UPDATE jobs SET state = 'running', attempts = ?, owner = ?, lease_until = ?, \
                     started_at = ? WHERE id = ? AND state = 'queued'",
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
                let updated = sqlx::query(
                    "UPDATE jobs SET state = 'done', result = ?, outcome = ?, finished_at = ?, \
                     owner = NULL, lease_until = NULL \
                     WHERE id = ? AND state = 'running' AND attempts = ?",
                )
                .bind(&completion.result)
                .bind(&completion.outcome)
                .bind(now_ms())
                .bind(&completion.id)
                .bind(completion.attempt)
                .execute(&mut *tx)
                .await?;
                let took = updated.rows_affected() == 1;
                if took {
                    if let Some(url) = &completion.callback_url {
                        sqlx::query(
                            "INSERT INTO callbacks (job_id, tenant_id, url, next_at, state) \
                             VALUES (?, ?, ?, ?, 'pending') ON CONFLICT DO NOTHING",
                        )
                        .bind(&completion.id)
                        .bind(completion.tenant_id)
                        .bind(url)
                        .bind(now_ms())
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let mut completion = (**completion).clone();
                completion.stored = took;
                stored.push(completion);
            }
            WriteOp::Flush(_) => {}
        }
    }
    tx.commit().await?;
    for op in batch.drain(..) {
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
}
