//! Cancelling a call from another thread.
//!
//! Every instance owns one cancel request, shared by all the [`CancelHandle`]s it hands out
//! ([`crate::Instance::cancel_handle`]). A host thread calls [`CancelHandle::cancel`]; the
//! backend stops the call running on the instance with the `cancelled` outcome
//! ([`crate::SandboxError::Cancelled`]) and consumes the request. The request is a flag, not a
//! message to the running call: it is never lost, whatever the timing. Set while no call runs
//! (or while a call is about to start), it ends the next call at its start; set while a call
//! runs, it ends that call within a few milliseconds; set as a call is ending for another reason
//! (it returned, trapped or reached a limit), it stays pending and ends the next call, unless
//! the host withdraws it with [`CancelHandle::take_pending`].
//!
//! How each backend delivers it: wasmtime polls the request on the epoch ticks it already uses
//! for the time limit (every tick, but only while a handle exists); wasmer's watchdog, woken by
//! the request, interrupts the run as it does at the deadline, retrying until the run stops.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// Stops the call running on one instance, from any thread. Cheap to clone; Send + Sync.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    shared: Arc<Shared>,
}

/// What every handle of one instance shares.
#[derive(Default)]
struct Shared {
    /// Whether a request is pending.
    requested: AtomicBool,
    /// Called after every request: the backend's way to notice it without polling.
    notifier: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("pending", &self.requested.load(Ordering::SeqCst))
            .field("notifier", &self.notifier.get().is_some())
            .finish()
    }
}

impl CancelHandle {
    /// A handle with no request pending. Backends create one per instance and hand out clones
    /// of it from [`crate::Instance::cancel_handle`]; a handle made here stops nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests that the call in progress on the instance end with the `cancelled` outcome. If no call
    /// is running, the next call on that instance ends `cancelled` immediately (a request racing with the
    /// start of a call is never lost); a request is consumed by the call it stops.
    ///
    /// Requesting again while a request is pending changes nothing: one request stops one call.
    pub fn cancel(&self) {
        self.shared.requested.store(true, Ordering::SeqCst);
        if let Some(notify) = self.shared.notifier.get() {
            notify();
        }
    }

    /// Whether a request is pending (not yet consumed by a call).
    pub fn is_pending(&self) -> bool {
        self.shared.requested.load(Ordering::SeqCst)
    }

    /// Consumes the pending request, if any, and says whether there was one.
    ///
    /// Backends call it when they stop a call because of the request (that is what consumes
    /// it). A host may call it to withdraw a request that has not stopped a call yet, for
    /// example one that arrived as the call it was meant for returned: the next call then runs.
    pub fn take_pending(&self) -> bool {
        // A plain load first: the common case (no request) then costs no locked instruction.
        self.shared.requested.load(Ordering::SeqCst)
            && self.shared.requested.swap(false, Ordering::SeqCst)
    }

    /// For backends: whether a clone of this handle exists besides this one, that is, whether
    /// anyone can request a cancel. A backend keeps one handle per instance and watches for
    /// requests only while this is true, so that runs nobody can cancel cost nothing more.
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.shared) > 1
    }

    /// For backends: `notify` is called, on the requesting thread, after every request, so
    /// that a backend waiting on something else (a watchdog asleep until a deadline) notices
    /// the request at once. It must be quick and must not call back into the instance. Only
    /// the first notifier set on an instance's handles is kept; later ones are ignored.
    pub fn set_notifier(&self, notify: impl Fn() + Send + Sync + 'static) {
        let _ = self.shared.notifier.set(Box::new(notify));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn a_request_is_pending_until_consumed_once() {
        let kept = CancelHandle::new();
        let handed_out = kept.clone();
        assert!(!kept.is_pending());
        handed_out.cancel();
        assert!(kept.is_pending() && handed_out.is_pending());
        // Requesting twice is one request.
        handed_out.cancel();
        assert!(kept.take_pending());
        assert!(!kept.take_pending(), "a request stops one call only");
        assert!(!handed_out.is_pending());
        handed_out.cancel();
        assert!(
            kept.is_pending(),
            "a new request after consumption is pending again"
        );
    }

    #[test]
    fn a_host_can_withdraw_a_request() {
        let handle = CancelHandle::new();
        handle.cancel();
        assert!(handle.take_pending());
        assert!(!handle.is_pending());
    }

    #[test]
    fn shared_only_while_a_clone_exists() {
        let kept = CancelHandle::new();
        assert!(!kept.is_shared());
        let handed_out = kept.clone();
        assert!(kept.is_shared() && handed_out.is_shared());
        drop(handed_out);
        assert!(!kept.is_shared());
    }

    #[test]
    fn the_notifier_runs_after_each_request_and_sees_it() {
        let kept = CancelHandle::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = kept.clone();
        let counter = calls.clone();
        // The notifier holding a handle would keep the instance's handle shared; a real
        // backend's holds none. This one only checks it runs after the flag is set.
        kept.set_notifier(move || {
            assert!(seen.is_pending());
            counter.fetch_add(1, Ordering::SeqCst);
        });
        kept.set_notifier(|| panic!("only the first notifier is kept"));
        let handed_out = kept.clone();
        handed_out.cancel();
        handed_out.cancel();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn handles_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<CancelHandle>();
        let kept = CancelHandle::new();
        let handed_out = kept.clone();
        std::thread::spawn(move || handed_out.cancel())
            .join()
            .unwrap();
        assert!(kept.take_pending());
    }
}
