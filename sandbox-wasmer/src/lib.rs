//! The sandbox contract on wasmer with the singlepass compiler.
//!
//! [`WasmerSandbox`] implements [`sandbox_core::Sandbox`]; the compiled modules and instances it
//! hands out implement [`sandbox_core::CompiledModule`] and [`sandbox_core::Instance`].
//!
//! How each limit is enforced here:
//! - **fuel**: a compile-time middleware of the sandbox's own (one per engine, with the layout
//!   of each module recorded under a compile lock) charges the core cost model per basic
//!   block to an `i64` global and checks it where wasmtime does (function entry, loop headers,
//!   bulk operators of non-constant length), so completed runs consume the same fuel on both
//!   engines. The budget is written into the global after instantiation; the start function is
//!   taken out of `Instance::new` by the middleware and run by the host, so it is metered too
//!   (with the 2 units wasmtime's module-startup code charges around it). Other fuel wasmtime
//!   charges during instantiation (its startup code for passive element segments or
//!   non-constant global initialisers) is not reproduced;
//! - **wall-clock time**: one watchdog thread per engine interrupts runs past their deadline
//!   through wasmer's host-interrupt support, retrying every millisecond until the run stops
//!   (with `SandboxConfig::enforce_time_limit` off, runs are not registered with it at all;
//!   the interrupt is a signal, so no check is compiled into the code either way); a run busy
//!   in the sandbox's host functions is stopped at a call boundary instead of by a signal,
//!   which wasmer mishandles there (see `watchdog.rs`);
//! - **cancellation** (`Instance::cancel_handle`): while a handle exists, each run registers
//!   its cancel request with the same watchdog (even with the time limit off); a request wakes
//!   the watchdog, which interrupts the run as at the deadline, retrying until it stops, and
//!   the run reports the interrupt as `cancelled` (never `time_limit_exceeded`); sleeps of
//!   such a run end early for a request;
//! - **memory**: per-run `Tunables` wrap every linear memory in a memory that consults the
//!   instance's accounting (all memories together) before growing and records the peak; the
//!   middleware rewrites `memory.grow` so that growth refused by the limit ends the run with
//!   `memory_limit_exceeded` (as on wasmtime) instead of returning -1, while growth past the
//!   module's own maximum still returns -1;
//! - **tables**: tables declared larger than the limit fail instantiation; `table.grow` past the
//!   limit (all tables together) returns -1;
//! - **stack**: the per-run tunables set wasmer's wasm stack size.
//!
//! Engines are shared through a process-wide registry keyed by what changes compiled code (fuel
//! metering on or off); every instance gets a fresh `Store` on a handle of the shared engine
//! carrying its own tunables.
//!
//! `SandboxConfig::instance_allocation` is ignored: wasmer has no pooling allocator. Its
//! `Tunables` create every memory and table on its own when an instance is created (the
//! sandbox's per-run tunables wrap them for the limits), and nothing in wasmer reserves slots
//! or reuses mappings, so every instance allocates on demand and a pool can never be
//! exhausted here.
//!
//! ## WASI preview 1
//!
//! Modules importing from `wasi_snapshot_preview1` get a fresh wasmer-wasix environment per
//! instance, built from the `SandboxConfig` given to `instantiate` (argv, exactly the configured
//! environment, stdin from memory, stdout and stderr captured under `max_output_bytes`, the
//! preopens). wasmer-wasix is used with `default-features = false` and only `sys-minimal`
//! (native wasmer, its Tokio-based task manager types, `tokio/fs`): no networking (`host-vnet`),
//! HTTP client (`host-reqwest`), journals, webc mmap or ctrl-c handling, and not even its host
//! filesystem (`host-fs`), because the preopens are the sandbox's own capability-based
//! filesystem (see `preopen.rs`). wasix needs a Tokio runtime: the backend owns one,
//! process-wide, created on first WASI use. The details (output capping, `proc_exit`, the
//! clock policy, sleeps bounded by the deadline) are in `wasi.rs`.
//!
//! All limits apply during WASI runs: fuel and memory as for any code, the wall clock through
//! the watchdog (which keeps re-interrupting a run whose interrupt landed in host code until it
//! is back in guest code; sleeps are cut at the deadline).
//!
//! ## Host functions
//!
//! `SandboxConfig::host_functions` are registered for the imports they name, over everything
//! else (WASI included). They see the caller's memory exported as `memory` and the fuel
//! consumed so far; an error or a panic in one ends the run with trap `other`. Time spent in
//! them counts against the time limit, but a host function that never returns cannot be
//! interrupted; a run past its deadline, or cancelled, ends when one is entered or returns. An import that the policy allows but nothing provides fails instantiation with
//! `link_error` naming it.
//!
//! Accepted WebAssembly: 2.0 without SIMD (mutable globals, saturating float-to-int, sign
//! extension, multi-value, bulk memory, reference types) plus extended constant expressions.
//! SIMD (singlepass does not implement it), threads, tail calls, exceptions, GC, memory64 and
//! multi-memory are refused as `unsupported` at load.

mod engine;
mod fastcall;
mod host;
mod instance;
mod middleware;
mod preopen;
mod tunables;
mod wasi;
mod watchdog;

pub use engine::WasmerSandbox;
