//! The sandbox contract on wasmtime (cranelift).
//!
//! How each limit is enforced here:
//! - **fuel**: `Config::consume_fuel` with the core cost model installed through
//!   `Config::operator_cost` (run-time-variable costs zeroed, so fuel matches wasmer's);
//! - **wall-clock time**: epoch interruption, with one ticker thread per engine that advances the
//!   epoch every millisecond, and a per-store deadline;
//! - **cancellation** (`Instance::cancel_handle`): the same epoch deadline callback; while a
//!   handle exists it runs at every tick and interrupts the call when a request is pending
//!   (otherwise the deadline stays a single one at the time limit). Without epochs
//!   (`enforce_time_limit = false`) a request ends the next call at its start only;
//! - **memory and tables**: a [`wasmtime::ResourceLimiter`] per store that sums all memories,
//!   traps when growth passes the limit and records the peak;
//! - **stack**: `Config::max_wasm_stack`.
//!
//! Engines are shared through a process-wide registry keyed by what changes compiled code (fuel
//! on/off, stack size); every run gets a fresh [`wasmtime::Store`].

mod engine;
mod instance;
mod wasi;

pub use engine::WasmtimeSandbox;
