//! WASI preview 1 policy, written once for both engines: which functions a guest may import,
//! and the clock and random functions that replace the engines' own under
//! [`ClockPolicy::Deny`] and [`ClockPolicy::Virtual`] (so both engines behave identically).

use crate::host::{HostContext, HostError, HostFunction};
use crate::value::{FuncSignature, ValType};
use crate::{ClockPolicy, SandboxConfig, WasmValue};
use std::sync::{Arc, Mutex};

/// The import module of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// Every function of WASI preview 1.
pub const FUNCTIONS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// `errno` values the sandbox's own WASI functions return.
pub mod errno {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Bad address.
    pub const FAULT: i32 = 21;
    /// Invalid argument.
    pub const INVAL: i32 = 28;
    /// Function not supported.
    pub const NOSYS: i32 = 52;
    /// Capability insufficient: what a denied clock or random call returns.
    pub const NOTCAPABLE: i32 = 76;
}

/// Whether the policy grants the WASI import `module::name`.
///
/// Granted: every preview 1 function but the socket ones (no backend gives guests a network).
/// The capabilities behind them are decided at call time: files only exist in preopens, clocks
/// and randomness follow [`SandboxConfig::clock`]. Refused: `wasi_unstable` (preview 0), names
/// preview 1 does not define, and `sock_*`.
pub fn is_granted(module: &str, name: &str, _config: &SandboxConfig) -> bool {
    module == MODULE && FUNCTIONS.contains(&name) && !name.starts_with("sock_")
}

/// Whether the module imports anything from WASI.
pub fn is_wasi_module(info: &crate::ModuleInfo) -> bool {
    info.imports.iter().any(|import| import.module == MODULE)
}

/// Seconds from the Unix epoch to 2000-01-01T00:00:00Z, where virtual wall-clock time starts.
pub const VIRTUAL_EPOCH_SECONDS: u64 = 946_684_800;

/// How far the virtual clocks advance on each read: 1 ms.
pub const VIRTUAL_TICK_NS: u64 = 1_000_000;

/// Per-instance state of the virtual clock and random source.
#[derive(Debug)]
struct VirtualState {
    clock_calls: u64,
    rng: u64,
}

impl VirtualState {
    /// splitmix64: small, fast, and the same on every platform.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn sig(params: &[ValType]) -> FuncSignature {
    FuncSignature::new(params.to_vec(), vec![ValType::I32])
}

fn i32_arg(args: &[WasmValue], index: usize) -> Result<i32, HostError> {
    match args.get(index) {
        Some(WasmValue::I32(v)) => Ok(*v),
        _ => Err(HostError::new("bad argument")),
    }
}

fn ret(errno: i32) -> Result<Vec<WasmValue>, HostError> {
    Ok(vec![WasmValue::I32(errno)])
}

/// The WASI functions the sandbox implements itself for `config.clock`; an engine registers them
/// in place of its library's. Empty under [`ClockPolicy::Real`]. Call once per instance: the
/// virtual clock and random state are per instance.
pub fn overrides(config: &SandboxConfig) -> Vec<HostFunction> {
    use ValType::{I32, I64};
    match config.clock {
        ClockPolicy::Real => Vec::new(),
        ClockPolicy::Deny => {
            let deny = |name: &'static str, params: &[ValType]| {
                HostFunction::new(MODULE, name, sig(params), |_, _| ret(errno::NOTCAPABLE))
            };
            vec![
                deny("clock_time_get", &[I32, I64, I32]),
                deny("clock_res_get", &[I32, I32]),
                deny("poll_oneoff", &[I32, I32, I32, I32]),
                deny("random_get", &[I32, I32]),
            ]
        }
        ClockPolicy::Virtual => {
            let state = Arc::new(Mutex::new(VirtualState {
                clock_calls: 0,
                rng: config.random_seed,
            }));
            let clock_state = state.clone();
            let time = HostFunction::new(
                MODULE,
                "clock_time_get",
                sig(&[I32, I64, I32]),
                move |ctx: &mut HostContext<'_>, args| {
                    let id = i32_arg(args, 0)?;
                    let out = i32_arg(args, 2)? as u32;
                    let mut state = clock_state.lock().unwrap_or_else(|e| e.into_inner());
                    state.clock_calls += 1;
                    // Time advances by a fixed step per clock read rather than by fuel: a WASI
                    // guest's fuel depends on how each engine's WASI library answers stdio
                    // queries (see conformance-tests/divergences.txt), which would make the
                    // clock, and so the output, differ between engines.
                    let elapsed_ns = state.clock_calls.saturating_mul(VIRTUAL_TICK_NS);
                    let now = match id {
                        // realtime
                        0 => (VIRTUAL_EPOCH_SECONDS * 1_000_000_000).saturating_add(elapsed_ns),
                        // monotonic, process and thread CPU time
                        1..=3 => elapsed_ns,
                        _ => return ret(errno::INVAL),
                    };
                    match ctx.write_bytes(out, &now.to_le_bytes()) {
                        Ok(()) => ret(errno::SUCCESS),
                        Err(_) => ret(errno::FAULT),
                    }
                },
            );
            let resolution = HostFunction::new(
                MODULE,
                "clock_res_get",
                sig(&[I32, I32]),
                |ctx: &mut HostContext<'_>, args| {
                    let id = i32_arg(args, 0)?;
                    let out = i32_arg(args, 1)? as u32;
                    if !(0..=3).contains(&id) {
                        return ret(errno::INVAL);
                    }
                    match ctx.write_bytes(out, &1_000u64.to_le_bytes()) {
                        Ok(()) => ret(errno::SUCCESS),
                        Err(_) => ret(errno::FAULT),
                    }
                },
            );
            let random = HostFunction::new(
                MODULE,
                "random_get",
                sig(&[I32, I32]),
                move |ctx: &mut HostContext<'_>, args| {
                    let ptr = i32_arg(args, 0)? as u32;
                    let len = i32_arg(args, 1)? as u32;
                    let mut bytes = Vec::with_capacity(len.min(1 << 20) as usize);
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    // Written in chunks so a huge request cannot make the host allocate much.
                    let mut offset = 0u32;
                    while offset < len {
                        bytes.clear();
                        let chunk = (len - offset).min(1 << 16);
                        while (bytes.len() as u32) < chunk {
                            bytes.extend_from_slice(&state.next().to_le_bytes());
                        }
                        bytes.truncate(chunk as usize);
                        if ctx.write_bytes(ptr.wrapping_add(offset), &bytes).is_err() {
                            return ret(errno::FAULT);
                        }
                        offset += chunk;
                    }
                    ret(errno::SUCCESS)
                },
            );
            // Sleeping under a virtual clock would leak real time; refuse it.
            let poll =
                HostFunction::new(MODULE, "poll_oneoff", sig(&[I32, I32, I32, I32]), |_, _| {
                    ret(errno::NOTCAPABLE)
                });
            vec![time, resolution, random, poll]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testing::Vector;

    fn call(f: &HostFunction, fuel: Option<u64>, memory: &mut Vector, args: &[WasmValue]) -> i32 {
        let mut ctx = HostContext::new(Some(memory), fuel);
        match f.call(&mut ctx, args).unwrap()[0] {
            WasmValue::I32(v) => v,
            _ => unreachable!(),
        }
    }

    #[test]
    fn policy_grants_preview1_but_not_sockets_or_preview0() {
        let config = SandboxConfig::default();
        assert!(config.allows_import(MODULE, "fd_write"));
        assert!(config.allows_import(MODULE, "path_open"));
        assert!(!config.allows_import(MODULE, "sock_accept"));
        assert!(!config.allows_import(MODULE, "made_up"));
        assert!(!config.allows_import("wasi_unstable", "fd_write"));
    }

    #[test]
    fn virtual_clock_and_random_are_deterministic() {
        let config = SandboxConfig {
            clock: ClockPolicy::Virtual,
            random_seed: 7,
            ..SandboxConfig::default()
        };
        let run = || {
            let functions = overrides(&config);
            let find = |name| functions.iter().find(|f| f.name == name).unwrap();
            let mut memory = Vector(vec![0; 64]);
            let ok = call(
                find("clock_time_get"),
                Some(500),
                &mut memory,
                &[WasmValue::I32(0), WasmValue::I64(0), WasmValue::I32(0)],
            );
            assert_eq!(ok, errno::SUCCESS);
            let ok = call(
                find("random_get"),
                Some(600),
                &mut memory,
                &[WasmValue::I32(8), WasmValue::I32(16)],
            );
            assert_eq!(ok, errno::SUCCESS);
            memory.0
        };
        let first = run();
        assert_eq!(first, run());
        let time = u64::from_le_bytes(first[0..8].try_into().unwrap());
        assert_eq!(
            time,
            VIRTUAL_EPOCH_SECONDS * 1_000_000_000 + VIRTUAL_TICK_NS
        );
        assert_ne!(&first[8..24], &[0; 16]);
    }

    #[test]
    fn denied_calls_fail_with_notcapable() {
        let functions = overrides(&SandboxConfig::default());
        assert_eq!(functions.len(), 4);
        let mut memory = Vector(vec![0; 8]);
        for f in &functions {
            let args: Vec<WasmValue> = f
                .signature
                .params
                .iter()
                .map(|ty| match ty {
                    ValType::I64 => WasmValue::I64(0),
                    _ => WasmValue::I32(0),
                })
                .collect();
            assert_eq!(call(f, None, &mut memory, &args), errno::NOTCAPABLE);
        }
        assert!(overrides(&SandboxConfig::compute()).is_empty());
    }
}
