//! The in-memory queue in front of the workers: fair across tenants, bounded, and the
//! bookkeeping of the quotas.
//!
//! The database is the durable record (a job is committed before it is queued here, and
//! loaded back from the database when the service starts); this is the order in which the
//! workers take jobs. Tenants take turns (round robin over the tenants with queued jobs), so
//! a tenant that floods the queue delays its own jobs, not another tenant's; a tenant's
//! `max_concurrent` caps how many of its jobs run at once.

use crate::store::JobKind;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A job waiting for a worker.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: JobKind,
    /// The request, as JSON, when small enough to keep in memory (else read when it runs).
    pub spec: Option<Arc<str>>,
    /// Claims so far (the next claim is `attempts + 1`).
    pub attempts: i64,
    /// When it was queued (in this process).
    pub queued_at: Instant,
    /// Where to POST the result.
    pub callback_url: Option<String>,
}

impl From<crate::store::QueuedJob> for QueuedJob {
    /// A job read from the database, queued now.
    fn from(job: crate::store::QueuedJob) -> QueuedJob {
        QueuedJob {
            id: job.id,
            tenant_id: job.tenant_id,
            kind: job.kind,
            spec: job.spec.map(Arc::from),
            attempts: job.attempts,
            queued_at: Instant::now(),
            callback_url: job.callback_url,
        }
    }
}

/// Why a job was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The tenant has `max_queue` jobs unfinished.
    TenantQueueFull {
        /// The tenant's bound.
        limit: u32,
    },
    /// The service's queue is full.
    QueueFull,
    /// The service is draining.
    Closed,
}

#[derive(Default)]
struct TenantQueue {
    queued: VecDeque<QueuedJob>,
    running: usize,
    /// Accepted and not finished: queued + running + reserved by requests being committed.
    unfinished: usize,
    max_concurrent: Option<u32>,
}

#[derive(Default)]
struct State {
    tenants: HashMap<i64, TenantQueue>,
    /// Tenants with queued jobs, in turn order.
    turns: VecDeque<i64>,
    queued: usize,
    /// Jobs accepted by requests and not yet queued (their commit is under way).
    reserved: usize,
    running: usize,
    closed: bool,
}

/// The queue.
pub struct Scheduler {
    state: Mutex<State>,
    ready: Condvar,
    idle: Condvar,
    max_queued: usize,
}

impl Scheduler {
    /// A queue of at most `max_queued` jobs.
    pub fn new(max_queued: usize) -> Scheduler {
        Scheduler {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            idle: Condvar::new(),
            max_queued,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves room for `count` jobs of `tenant_id`, or says why there is none. A
    /// reservation becomes a job with [`Scheduler::push`] or is given back with
    /// [`Scheduler::unreserve`].
    pub fn reserve(
        &self,
        tenant_id: i64,
        count: usize,
        max_queue: Option<u32>,
    ) -> Result<(), Refusal> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refusal::Closed);
        }
        if state.queued + state.reserved + count > self.max_queued {
            return Err(Refusal::QueueFull);
        }
        let tenant = state.tenants.entry(tenant_id).or_default();
        if let Some(limit) = max_queue {
            if tenant.unfinished + count > limit as usize {
                return Err(Refusal::TenantQueueFull { limit });
            }
        }
        tenant.unfinished += count;
        state.reserved += count;
        Ok(())
    }

    /// Gives back a reservation whose jobs were not committed.
    pub fn unreserve(&self, tenant_id: i64, count: usize) {
        let mut state = self.lock();
        state.reserved = state.reserved.saturating_sub(count);
        if let Some(tenant) = state.tenants.get_mut(&tenant_id) {
            tenant.unfinished = tenant.unfinished.saturating_sub(count);
        }
    }

    /// Queues committed jobs. `reserved`: whether [`Scheduler::reserve`] counted them (jobs
    /// loaded from the database at start were not).
    pub fn push(&self, jobs: Vec<QueuedJob>, max_concurrent: Option<u32>, reserved: bool) {
        if jobs.is_empty() {
            return;
        }
        let mut state = self.lock();
        let count = jobs.len();
        if reserved {
            state.reserved = state.reserved.saturating_sub(count);
        }
        for job in jobs {
            let tenant_id = job.tenant_id;
            let tenant = state.tenants.entry(tenant_id).or_default();
            tenant.max_concurrent = max_concurrent;
            if !reserved {
                tenant.unfinished += 1;
            }
            let first = tenant.queued.is_empty();
            tenant.queued.push_back(job);
            if first {
                state.turns.push_back(tenant_id);
            }
            state.queued += 1;
        }
        drop(state);
        if count == 1 {
            self.ready.notify_one();
        } else {
            self.ready.notify_all();
        }
    }

    /// The next job in turn, waiting for one; `None` once the queue is closed.
    pub fn next(&self) -> Option<QueuedJob> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(job) = take_next(&mut state) {
                return Some(job);
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// A worker finished a job of `tenant_id` (its result is on its way to the store).
    pub fn finished(&self, tenant_id: i64) {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        let mut unblocked = false;
        if let Some(tenant) = state.tenants.get_mut(&tenant_id) {
            tenant.running = tenant.running.saturating_sub(1);
            tenant.unfinished = tenant.unfinished.saturating_sub(1);
            unblocked = !tenant.queued.is_empty();
        }
        let idle = state.running == 0;
        drop(state);
        if unblocked {
            self.ready.notify_one();
        }
        if idle {
            self.idle.notify_all();
        }
    }

    /// Stops handing out jobs (those queued stay queued, in the database too).
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Whether [`Scheduler::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waits until no job is running, at most `timeout`; returns how many still run.
    pub fn wait_idle(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.running > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .idle
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        state.running
    }

    /// (queued, running) jobs.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.lock();
        (state.queued, state.running)
    }

    /// Updates the concurrency bound of a tenant whose settings changed.
    pub fn set_max_concurrent(&self, tenant_id: i64, max_concurrent: Option<u32>) {
        let mut state = self.lock();
        if let Some(tenant) = state.tenants.get_mut(&tenant_id) {
            tenant.max_concurrent = max_concurrent;
        }
        drop(state);
        self.ready.notify_all();
    }
}

/// Takes the next job: the first tenant in turn that has a queued job and room to run it.
fn take_next(state: &mut State) -> Option<QueuedJob> {
    for _ in 0..state.turns.len() {
        let tenant_id = state.turns.pop_front()?;
        let Some(tenant) = state.tenants.get_mut(&tenant_id) else {
            continue;
        };
        if tenant.queued.is_empty() {
            continue;
        }
        let has_room = tenant
            .max_concurrent
            .is_none_or(|limit| tenant.running < limit as usize);
        if !has_room {
            state.turns.push_back(tenant_id);
            continue;
        }
        let job = tenant.queued.pop_front()?;
        tenant.running += 1;
        if !tenant.queued.is_empty() {
            state.turns.push_back(tenant_id);
        }
        state.queued -= 1;
        state.running += 1;
        return Some(job);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(tenant_id: i64, n: usize) -> QueuedJob {
        QueuedJob {
            id: format!("{tenant_id}-{n}"),
            tenant_id,
            kind: JobKind::Run,
            spec: Some(Arc::from("{}")),
            attempts: 0,
            queued_at: Instant::now(),
            callback_url: None,
        }
    }

    #[test]
    fn tenants_take_turns_whatever_their_queue_lengths() {
        let scheduler = Scheduler::new(1000);
        scheduler.push((0..100).map(|n| job(1, n)).collect(), None, false);
        scheduler.push((0..2).map(|n| job(2, n)).collect(), None, false);
        let order: Vec<i64> = (0..5)
            .map(|_| scheduler.next().unwrap().tenant_id)
            .collect();
        assert_eq!(order, [1, 2, 1, 2, 1]);
    }

    #[test]
    fn max_concurrent_holds_a_tenant_back_until_a_job_finishes() {
        let scheduler = Scheduler::new(1000);
        scheduler.push((0..3).map(|n| job(1, n)).collect(), Some(1), false);
        scheduler.push(vec![job(2, 0)], None, false);
        assert_eq!(scheduler.next().unwrap().tenant_id, 1);
        assert_eq!(scheduler.next().unwrap().tenant_id, 2);
        // Tenant 1 is at its bound: nothing to hand out until its job finishes.
        assert!(take_next(&mut scheduler.lock()).is_none());
        scheduler.finished(1);
        assert_eq!(scheduler.next().unwrap().id, "1-1");
    }

    #[test]
    fn reservations_enforce_both_bounds() {
        let scheduler = Scheduler::new(5);
        assert_eq!(scheduler.reserve(1, 3, Some(3)), Ok(()));
        assert_eq!(
            scheduler.reserve(1, 1, Some(3)),
            Err(Refusal::TenantQueueFull { limit: 3 })
        );
        assert_eq!(scheduler.reserve(2, 3, None), Err(Refusal::QueueFull));
        scheduler.unreserve(1, 3);
        assert_eq!(scheduler.reserve(2, 3, None), Ok(()));
        scheduler.close();
        assert_eq!(scheduler.reserve(3, 1, None), Err(Refusal::Closed));
        assert!(scheduler.next().is_none());
    }
}
