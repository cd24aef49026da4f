//! The wall-clock limit and cancellation: one watchdog thread per engine that stops runs past
//! their deadline or whose cancel request is pending.
//!
//! A run registers its deadline (if the time limit is enforced), its cancel handle (if anyone
//! holds a clone of it) and its store's [`Interrupter`] for the duration of one call. The thread
//! sleeps on a condition variable until the earliest deadline, or until a cancel request wakes
//! it ([`Watchdog::waker`] is the handles' notifier), then stops every expired or cancelled
//! run. wasmer delivers an interrupt as a signal that only takes effect while the thread is
//! executing wasm code (one that lands in a libcall such as `memory.grow`, or in a host
//! function, is lost), so the watchdog keeps re-interrupting such a run every [`RETRY`] until
//! it deregisters. The watchdog never consumes a cancel request: the run does, when it reports
//! the stop as `cancelled`.
//!
//! Runs that call the sandbox's host functions are stopped without a signal. wasmer 7.4 treats
//! an interrupt signal as a trap whenever the thread's stack pointer is on the wasm stack,
//! including while wasmer's own host code runs there: after a host function returns, wasmer
//! looks up whether the store was interrupted (a `DashMap` entry, under a shard lock) and, if
//! so, raises `HostInterrupt` with a backtrace (under the `backtrace` crate's global lock and
//! libgcc's unwinder lock). A signal landing there abandons the code holding the lock, and
//! every later interrupt or trap in the process waits for it for ever (seen: an endless loop
//! of host calls cancelled while the watchdog retried, and a WASI sleep returning while it
//! retried). So every watched run has a [`RunSignal`]: the watchdog records why the run must
//! stop before it interrupts it; the sandbox's host functions count their calls in it and,
//! once the run must stop, end it themselves with [`RunStopped`] (a plain error, which wasmer
//! unwinds without the lookup or a backtrace); the watchdog signals only a run that is not in
//! such a call and made none since its previous look (one that did stops itself at its next
//! call); and a WASI sleep during which the run was signalled quiesces it
//! ([`RunSignal::quiesce`]) before it returns. wasix's other system calls are not counted: a
//! WASI run looping on them is still stopped by retried signals, and a retry landing as one
//! of them returns remains possible (rarely: it needs a signal lost in the call, then the
//! retry while wasmer builds the trap).
//!
//! Deregistration takes the same lock the watchdog holds while interrupting, so once a run's
//! [`Watch`] is finished no further interrupt is sent for it, and why it was stopped is final.

use sandbox_core::clock::Stamp;
use sandbox_core::CancelHandle;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;
use wasmer::Interrupter;

/// How often an expired or cancelled run is interrupted again until it stops.
pub(crate) const RETRY: Duration = Duration::from_millis(1);

/// [`RETRY`] in nanoseconds.
const RETRY_NANOS: u64 = RETRY.as_nanos() as u64;

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
    /// Set when the watchdog's engine is gone: the thread ends.
    closed: bool,
    /// When the thread will wake up by itself (`None`: only when notified), in
    /// [`Stamp::as_nanos`] of the sandbox's clock.
    wake_at: Option<u64>,
}

/// Why the watchdog stopped a run (the first reason it had).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The run reached its deadline.
    Deadline,
    /// The run's cancel request was pending.
    Cancel,
}

impl Cause {
    /// The code of "no cause" in [`RunSignal::stop`].
    const NONE: u8 = 0;

    fn code(self) -> u8 {
        match self {
            Cause::Deadline => 1,
            Cause::Cancel => 2,
        }
    }

    fn from_code(code: u8) -> Option<Cause> {
        match code {
            1 => Some(Cause::Deadline),
            2 => Some(Cause::Cancel),
            _ => None,
        }
    }
}

/// What a watched run shares with the watchdog and with the host functions it calls (see the
/// module documentation).
#[derive(Debug, Default)]
pub(crate) struct RunSignal {
    /// Why the run must stop ([`Cause::code`]), or [`Cause::NONE`]: set by the watchdog before
    /// it interrupts the run, never cleared.
    stop: AtomicU8,
    /// Bumped when a host function of the sandbox starts and when it ends: odd while one runs.
    host_calls: AtomicU64,
    /// Interrupt signals sent to the run (counted after each was sent).
    signals: AtomicU64,
    /// Set when the run is certain to trap on its way back to wasm code (it is in a host
    /// function that will return after a signal was sent, see [`RunSignal::quiesce`]): no
    /// further signal is sent.
    quiesced: AtomicBool,
    /// Whether the run can be cancelled.
    cancellable: bool,
    /// The watchdog, whose lock [`RunSignal::quiesce`] takes.
    watchdog: Weak<Shared>,
}

impl RunSignal {
    /// The signal of a new run: `recycled` (a finished run's), reset, when nothing else holds
    /// it any more, else a new one. Recycling saves an allocation per call.
    fn for_run(
        recycled: Option<Arc<RunSignal>>,
        cancellable: bool,
        shared: &Arc<Shared>,
    ) -> Arc<Self> {
        if let Some(mut signal) = recycled {
            if let Some(fresh) = Arc::get_mut(&mut signal) {
                *fresh.stop.get_mut() = Cause::NONE;
                *fresh.host_calls.get_mut() = 0;
                *fresh.signals.get_mut() = 0;
                *fresh.quiesced.get_mut() = false;
                fresh.cancellable = cancellable;
                return signal;
            }
        }
        Arc::new(RunSignal {
            cancellable,
            watchdog: Arc::downgrade(shared),
            ..RunSignal::default()
        })
    }

    /// Why the run must stop, if it must.
    pub(crate) fn stop_cause(&self) -> Option<Cause> {
        Cause::from_code(self.stop.load(Ordering::SeqCst))
    }

    /// Whether the run must stop.
    pub(crate) fn must_stop(&self) -> bool {
        self.stop.load(Ordering::SeqCst) != Cause::NONE
    }

    /// Whether the run can be cancelled.
    pub(crate) fn is_cancellable(&self) -> bool {
        self.cancellable
    }

    /// Interrupt signals sent to the run so far.
    pub(crate) fn signals_sent(&self) -> u64 {
        self.signals.load(Ordering::SeqCst)
    }

    /// Stops the watchdog from signalling the run again. For a host function that ends early
    /// because the run must stop, once a signal was sent while it ran: wasmer marked the store
    /// interrupted and traps with `HostInterrupt` as the function returns, and a further
    /// signal landing while it builds that trap is what wasmer mishandles (see the module
    /// documentation).
    ///
    /// Takes the watchdog's lock, under which it signals, so no signal is being sent when this
    /// returns (one sent before reached the thread while it was in host code, where it is
    /// ignored).
    pub(crate) fn quiesce(&self) {
        let watchdog = self.watchdog.upgrade();
        let _state = watchdog.as_ref().map(|shared| shared.lock());
        self.quiesced.store(true, Ordering::SeqCst);
    }

    /// Records `cause`, unless a cause is recorded already.
    fn stop_for(&self, cause: Cause) {
        let _ = self.stop.compare_exchange(
            Cause::NONE,
            cause.code(),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// A host function of the sandbox starts; `Err` when the run must stop instead.
    pub(crate) fn enter_host(&self) -> Result<(), RunStopped> {
        self.host_calls.fetch_add(1, Ordering::SeqCst);
        if self.must_stop() {
            self.host_calls.fetch_add(1, Ordering::SeqCst);
            return Err(RunStopped);
        }
        Ok(())
    }

    /// A host function of the sandbox ends; `Err` when the run must stop now.
    pub(crate) fn leave_host(&self) -> Result<(), RunStopped> {
        self.host_calls.fetch_add(1, Ordering::SeqCst);
        if self.must_stop() {
            return Err(RunStopped);
        }
        Ok(())
    }
}

/// The error a host function of the sandbox ends a run with once the watchdog says it must
/// stop; the run reports the watchdog's cause.
#[derive(Debug)]
pub(crate) struct RunStopped;

impl std::fmt::Display for RunStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the run was stopped by the sandbox")
    }
}

impl std::error::Error for RunStopped {}

thread_local! {
    /// The signal of the watched run executing on this thread, if any.
    static CURRENT: RefCell<Option<Arc<RunSignal>>> = const { RefCell::new(None) };
}

/// Runs `f` with the signal of the watched run executing on this thread, if any.
pub(crate) fn with_current_signal<R>(f: impl FnOnce(Option<&RunSignal>) -> R) -> R {
    CURRENT.with(|current| f(current.borrow().as_deref()))
}

/// The signal of the watched run executing on this thread, if any, to keep.
pub(crate) fn current_signal() -> Option<Arc<RunSignal>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Makes a run's signal this thread's current one until dropped.
pub(crate) struct SignalGuard {
    previous: Option<Arc<RunSignal>>,
}

impl SignalGuard {
    /// Sets this thread's current signal.
    pub(crate) fn set(signal: Arc<RunSignal>) -> Self {
        SignalGuard {
            previous: CURRENT.with(|current| current.replace(Some(signal))),
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

struct Run {
    id: u64,
    /// `None` when the time limit is not enforced (the run is watched for cancellation only);
    /// in [`Stamp::as_nanos`] of the sandbox's clock, the clock the run's time is reported on.
    deadline: Option<u64>,
    cancel: Option<CancelHandle>,
    interrupter: Interrupter,
    signal: Arc<RunSignal>,
    /// `signal.host_calls` at the watchdog's previous look.
    seen_host_calls: u64,
}

/// A registered run; [`Watch::finish`] (or dropping it) deregisters the run.
pub(crate) struct Watch<'a> {
    watchdog: &'a Watchdog,
    /// `None` once deregistered.
    id: Option<u64>,
    signal: Arc<RunSignal>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the thread so it looks at every run again. Taking the lock first means the
    /// thread is either before its look (and will see what changed) or waiting (and is woken):
    /// a wake-up is never lost.
    fn wake_now(&self) {
        drop(self.lock());
        self.wake.notify_one();
    }
}

impl Watchdog {
    /// Registers a run that must be stopped at `deadline` (if any) or once `cancel` (if any)
    /// has a request pending. Starts the thread on first use; fails only if the thread cannot
    /// be started.
    pub(crate) fn watch(
        &self,
        deadline: Option<u64>,
        cancel: Option<CancelHandle>,
        interrupter: Interrupter,
        recycled: Option<Arc<RunSignal>>,
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
        // A request made before this registration woke a watchdog that did not know the run.
        let cancelled = cancel.as_ref().is_some_and(CancelHandle::is_pending);
        let signal = RunSignal::for_run(recycled, cancel.is_some(), &self.shared);
        state.runs.push(Run {
            id,
            deadline,
            cancel,
            interrupter,
            signal: signal.clone(),
            seen_host_calls: 0,
        });
        // Wake the thread only if it would otherwise sleep past this deadline (a wake-up per
        // call would cost a context switch on every short call).
        let notify = cancelled
            || deadline.is_some_and(|deadline| state.wake_at.is_none_or(|wake| deadline < wake));
        drop(state);
        if notify {
            self.shared.wake.notify_one();
        }
        Ok(Watch {
            watchdog: self,
            id: Some(id),
            signal,
        })
    }

    /// The notifier for the cancel handles of this engine's instances: wakes the thread, which
    /// then stops the registered run whose request is pending (holds no handle).
    pub(crate) fn waker(&self) -> impl Fn() + Send + Sync + 'static {
        let shared = Arc::downgrade(&self.shared);
        move || {
            if let Some(shared) = shared.upgrade() {
                shared.wake_now();
            }
        }
    }
}

impl Watch<'_> {
    /// The run's signal, for the host functions it calls ([`SignalGuard`]).
    pub(crate) fn signal(&self) -> &Arc<RunSignal> {
        &self.signal
    }

    /// Deregisters the run and says why the watchdog stopped it, if it did; hands back the
    /// run's signal, which the next run of the same store may recycle.
    pub(crate) fn finish(mut self) -> (Option<Cause>, Arc<RunSignal>) {
        self.deregister();
        (self.signal.stop_cause(), self.signal.clone())
    }

    fn deregister(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        let mut state = self.watchdog.shared.lock();
        if let Some(index) = state.runs.iter().position(|run| run.id == id) {
            state.runs.swap_remove(index);
        }
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.deregister();
    }
}

/// Ends the thread when the engine (its only owner) is dropped, as recycled engines are.
impl Drop for Watchdog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

fn watch_loop(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.closed && state.runs.is_empty() {
            return;
        }
        let now = Stamp::now().as_nanos();
        let mut next_wake: Option<u64> = None;
        for run in &mut state.runs {
            let cancelled = run.cancel.as_ref().is_some_and(CancelHandle::is_pending);
            let expired = run.deadline.is_some_and(|deadline| deadline <= now);
            let host_calls = run.signal.host_calls.load(Ordering::SeqCst);
            let quiet = host_calls == run.seen_host_calls && host_calls % 2 == 0;
            run.seen_host_calls = host_calls;
            let wake = if cancelled || expired || run.signal.must_stop() {
                // The host's request wins over a deadline reached at the same time.
                run.signal.stop_for(if cancelled {
                    Cause::Cancel
                } else {
                    Cause::Deadline
                });
                // A run in a host function of the sandbox, or that called one since the
                // previous look, stops itself at its next call boundary: only a quiet run gets
                // a signal.
                if quiet && !run.signal.quiesced.load(Ordering::SeqCst) {
                    run.interrupter.interrupt();
                    run.signal.signals.fetch_add(1, Ordering::SeqCst);
                }
                Some(now.saturating_add(RETRY_NANOS))
            } else {
                run.deadline
            };
            if let Some(wake) = wake {
                next_wake = Some(next_wake.map_or(wake, |earliest| earliest.min(wake)));
            }
        }
        state.wake_at = next_wake;
        state = match next_wake {
            None => shared.wake.wait(state).unwrap_or_else(|e| e.into_inner()),
            Some(wake) => {
                shared
                    .wake
                    .wait_timeout(state, Duration::from_nanos(wake.saturating_sub(now)))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    }
}
