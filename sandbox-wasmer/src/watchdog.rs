//! The wall-clock limit: one watchdog thread per engine that interrupts runs past their deadline.
//!
//! A run registers its deadline and its store's [`Interrupter`] for the duration of one call.
//! The thread sleeps on a condition variable until the earliest deadline, then interrupts every
//! expired run. wasmer delivers an interrupt as a signal that only takes effect while the
//! thread is executing wasm code (one that lands in a libcall such as `memory.grow` is lost), so
//! the watchdog keeps re-interrupting an expired run every [`RETRY`] until it deregisters.
//!
//! Deregistration takes the same lock the watchdog holds while interrupting, so once a run's
//! [`Watch`] guard is dropped no further interrupt is sent for it.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wasmer::Interrupter;

/// How often an expired run is interrupted again until it stops.
pub(crate) const RETRY: Duration = Duration::from_millis(1);

/// A watchdog: the registration list and, once started, its thread.
#[derive(Default)]
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    next_id: u64,
    runs: Vec<Run>,
    started: bool,
    /// When the thread will wake up by itself (`None`: only when notified).
    wake_at: Option<Instant>,
}

struct Run {
    id: u64,
    deadline: Instant,
    interrupter: Interrupter,
}

/// A registered run; dropping it deregisters the run.
pub(crate) struct Watch<'a> {
    watchdog: &'a Watchdog,
    id: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Watchdog {
    /// Registers a run that must be interrupted at `deadline`. Starts the thread on first use;
    /// fails only if the thread cannot be started.
    pub(crate) fn watch(
        &self,
        deadline: Instant,
        interrupter: Interrupter,
    ) -> Result<Watch<'_>, String> {
        let mut state = self.shared.lock();
        if !state.started {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("sandbox-wasmer-watchdog".into())
                .spawn(move || watch_loop(&shared))
                .map_err(|err| format!("cannot start the wall-clock watchdog: {err}"))?;
            state.started = true;
        }
        let id = state.next_id;
        state.next_id += 1;
        state.runs.push(Run {
            id,
            deadline,
            interrupter,
        });
        // Wake the thread only if it would otherwise sleep past this deadline (a wake-up per
        // call would cost a context switch on every short call).
        let notify = state.wake_at.is_none_or(|wake| deadline < wake);
        drop(state);
        if notify {
            self.shared.wake.notify_one();
        }
        Ok(Watch { watchdog: self, id })
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut state = self.watchdog.shared.lock();
        state.runs.retain(|run| run.id != self.id);
    }
}

fn watch_loop(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        let now = Instant::now();
        let mut next_wake: Option<Instant> = None;
        for run in &state.runs {
            let wake = if run.deadline <= now {
                run.interrupter.interrupt();
                now + RETRY
            } else {
                run.deadline
            };
            next_wake = Some(next_wake.map_or(wake, |earliest| earliest.min(wake)));
        }
        state.wake_at = next_wake;
        state = match next_wake {
            None => shared.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(wake) => {
                shared
                    .wake
                    .wait_timeout(state, wake.saturating_duration_since(now))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}
