//! WASI preview 1 policy, written once for both engines: which functions a guest may import
//! (all of them: what a call can reach is decided at the capability, when it is made), the
//! clock and random functions that replace the engines' own under [`ClockPolicy::Deny`] and
//! [`ClockPolicy::Virtual`] (so both engines behave identically), and the record of the calls
//! the policy denied ([`DenialLog`]), so a run that fails afterwards can say why.

use crate::host::{HostContext, HostError, HostFunction};
use crate::value::{FuncSignature, ValType};
use crate::{ClockPolicy, SandboxConfig, WasmValue};
use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The import module of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// The socket functions of preview 1. They are linkable like every other function, but the
/// sandbox never gives a guest a socket, so they only ever fail: `badf` for a descriptor that
/// is not open, `notsock` for one that is (a file, a directory, stdio), as on the wasmtime CLI.
pub const SOCKET_FUNCTIONS: &[&str] = &["sock_accept", "sock_recv", "sock_send", "sock_shutdown"];

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
    /// Permission denied.
    pub const ACCES: i32 = 2;
    /// Bad file descriptor.
    pub const BADF: i32 = 8;
    /// Bad address.
    pub const FAULT: i32 = 21;
    /// Invalid argument.
    pub const INVAL: i32 = 28;
    /// Function not supported.
    pub const NOSYS: i32 = 52;
    /// Not a socket.
    pub const NOTSOCK: i32 = 57;
    /// Operation not permitted.
    pub const PERM: i32 = 63;
    /// Capability insufficient: what a denied clock or random call returns.
    pub const NOTCAPABLE: i32 = 76;
}

/// Whether the policy grants the WASI import `module::name`.
///
/// Granted: every function of preview 1 and of preview 0 (`wasi_unstable`, the older snapshot
/// that pre-2020 toolchains emit; both engines' WASI libraries implement it over the same
/// context), as toolchains expect: wasi-libc links `accept`, `recv`, `send` and `shutdown` into
/// many programs. The capabilities behind them are decided at call time: files only exist in
/// preopens, clocks and randomness follow [`SandboxConfig::clock`], and there are no sockets
/// ([`SOCKET_FUNCTIONS`] always fail). Refused: names the snapshot does not define.
pub fn is_granted(module: &str, name: &str, _config: &SandboxConfig) -> bool {
    match module {
        MODULE => FUNCTIONS.contains(&name),
        // Preview 0 has every preview 1 function but `sock_accept`.
        PREVIEW0_MODULE => name != "sock_accept" && FUNCTIONS.contains(&name),
        _ => false,
    }
}

/// The import module of WASI preview 0, the pre-2020 snapshot.
pub const PREVIEW0_MODULE: &str = "wasi_unstable";

/// The WASI import modules the sandbox links: preview 1, then preview 0.
pub const MODULES: [&str; 2] = [MODULE, PREVIEW0_MODULE];

/// Whether `module` is a WASI import module (either snapshot).
pub fn is_wasi_import_module(module: &str) -> bool {
    MODULES.contains(&module)
}

/// The positions of a `(fd, path, path_len)` triple among a WASI function's parameters.
pub type PathArgument = (usize, usize, usize);

/// The preview 1 functions that resolve a path against a directory descriptor, with the
/// positions of their `(fd, path, path_len)` parameters (`path_symlink`'s first path is the
/// link's contents, not resolved; `path_link` and `path_rename` resolve two).
pub const PATH_FUNCTIONS: &[(&str, &[PathArgument])] = &[
    ("path_create_directory", &[(0, 1, 2)]),
    ("path_filestat_get", &[(0, 2, 3)]),
    ("path_filestat_set_times", &[(0, 2, 3)]),
    ("path_link", &[(0, 2, 3), (4, 5, 6)]),
    ("path_open", &[(0, 2, 3)]),
    ("path_readlink", &[(0, 1, 2)]),
    ("path_remove_directory", &[(0, 1, 2)]),
    ("path_rename", &[(0, 1, 2), (3, 4, 5)]),
    ("path_symlink", &[(2, 3, 4)]),
    ("path_unlink_file", &[(0, 1, 2)]),
];

/// The path parameters of `name` (see [`PATH_FUNCTIONS`]); `None` for a function that
/// resolves no path.
pub fn path_arguments(name: &str) -> Option<&'static [PathArgument]> {
    PATH_FUNCTIONS
        .iter()
        .find(|(function, _)| *function == name)
        .map(|(_, arguments)| *arguments)
}

/// Where a path function takes the path its reports name: the (pointer, length) parameter
/// indexes of its first resolved path.
pub fn path_argument(name: &str) -> Option<(usize, usize)> {
    path_arguments(name)
        .and_then(|arguments| arguments.first())
        .map(|&(_, ptr, len)| (ptr, len))
}

/// The export a WASI program runs when no export is named: `_start` for a command, else the
/// default export `""` of a reactor (whose `_initialize` runs first, see
/// [`crate::reactor`]), as the wasmtime CLI does; `_start` when there is neither (the caller
/// then reports that it is missing).
pub fn entry_point(info: &crate::ModuleInfo) -> &'static str {
    let exports = |name: &str| info.exported_functions().any(|export| export == name);
    if !exports("_start") && exports("") {
        ""
    } else {
        "_start"
    }
}

/// Whether the module imports anything from WASI (either snapshot).
pub fn is_wasi_module(info: &crate::ModuleInfo) -> bool {
    info.imports
        .iter()
        .any(|import| is_wasi_import_module(&import.module))
}

/// Whether the module imports from the WASI module `module` (`wasi_snapshot_preview1` or
/// `wasi_unstable`).
pub fn imports_from(info: &crate::ModuleInfo, module: &str) -> bool {
    info.imports.iter().any(|import| import.module == module)
}

/// `functions` (defined for preview 1), also defined for preview 0 when the module imports
/// from it: the same closures, so both names share one state.
pub fn for_imported_snapshots(
    functions: Vec<HostFunction>,
    info: &crate::ModuleInfo,
) -> Vec<HostFunction> {
    if !imports_from(info, PREVIEW0_MODULE) {
        return functions;
    }
    let preview0: Vec<HostFunction> = functions
        .iter()
        .filter(|f| f.module == MODULE)
        .map(|f| {
            let mut f = f.clone();
            f.module = PREVIEW0_MODULE.to_string();
            f
        })
        .collect();
    functions.into_iter().chain(preview0).collect()
}

/// The capability a denied WASI call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// A clock (`clock_time_get`, `clock_res_get`).
    Clock,
    /// Random bytes (`random_get`).
    Random,
    /// Sleeping or waiting for time to pass (`poll_oneoff`).
    Sleep,
    /// A socket (`sock_*`): the sandbox gives guests no network.
    Network,
    /// A path outside the preopened directories, or a change to a read-only one.
    Filesystem,
}

impl Capability {
    /// The capability's name in JSON and messages.
    pub fn name(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::Random => "random",
            Capability::Sleep => "sleep",
            Capability::Network => "network",
            Capability::Filesystem => "filesystem",
        }
    }
}

/// One WASI call the policy denied during a run: the guest got an error code instead.
///
/// Denials are normal (a guest may probe a clock and carry on without it); they matter when
/// the run then fails, which is when [`crate::ExecutionResult`] names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Denial {
    /// The WASI function, e.g. `clock_time_get`.
    pub function: String,
    /// What it asked for.
    pub capability: Capability,
    /// The policy that denied it, e.g. `clock deny`, `no network`, `preopens`.
    pub policy: String,
    /// The path asked for, for filesystem denials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the guest's {}", self.function)?;
        if let Some(path) = &self.path {
            write!(f, " of {path:?}")?;
        }
        write!(f, " was denied ({})", self.policy)
    }
}

/// The denials of one instance, shared between the functions that deny and the backend that
/// reports them after each call. Bounded: the first [`DenialLog::MAX`] distinct denials of a
/// call are kept, repeats are not.
#[derive(Debug, Clone, Default)]
pub struct DenialLog(Arc<Mutex<Vec<Denial>>>);

impl DenialLog {
    /// How many distinct denials one call keeps.
    pub const MAX: usize = 16;

    /// Records a denial (once per distinct denial).
    pub fn record(&self, denial: Denial) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() < Self::MAX && !log.contains(&denial) {
            log.push(denial);
        }
    }

    /// Records a call to a socket function (there are no sockets to reach).
    pub fn record_socket(&self, function: &str) {
        self.record(Denial {
            function: function.to_string(),
            capability: Capability::Network,
            policy: "the sandbox gives guests no network".into(),
            path: None,
        });
    }

    /// Records a filesystem call refused with `errno` because `path` is outside the
    /// preopens or would change a read-only one; other errors (a missing file) are not
    /// denials and are ignored.
    pub fn record_path(&self, function: &str, path: &str, errno: i32) {
        if matches!(errno, errno::NOTCAPABLE | errno::PERM | errno::ACCES) {
            self.record(Denial {
                function: function.to_string(),
                capability: Capability::Filesystem,
                policy: "outside the preopened directories, or read-only".into(),
                path: Some(path.chars().take(256).collect()),
            });
        }
    }

    /// Takes the denials recorded since the last take.
    pub fn take(&self) -> Vec<Denial> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
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

/// A function that fails with `ENOTCAPABLE` and records the denial in `log`.
fn denying(
    name: &'static str,
    params: &[ValType],
    capability: Capability,
    policy: &'static str,
    log: &DenialLog,
) -> HostFunction {
    let log = log.clone();
    HostFunction::new(MODULE, name, sig(params), move |_, _| {
        log.record(Denial {
            function: name.to_string(),
            capability,
            policy: policy.to_string(),
            path: None,
        });
        ret(errno::NOTCAPABLE)
    })
}

/// The WASI functions the sandbox implements itself for `config.clock`; an engine registers them
/// in place of its library's. Empty under [`ClockPolicy::Real`]. Call once per instance: the
/// virtual clock and random state are per instance. Denied calls are recorded in `log`.
pub fn overrides(config: &SandboxConfig, log: &DenialLog) -> Vec<HostFunction> {
    use ValType::{I32, I64};
    match config.clock {
        ClockPolicy::Real => Vec::new(),
        ClockPolicy::Deny => {
            const POLICY: &str = "clock deny";
            vec![
                denying(
                    "clock_time_get",
                    &[I32, I64, I32],
                    Capability::Clock,
                    POLICY,
                    log,
                ),
                denying("clock_res_get", &[I32, I32], Capability::Clock, POLICY, log),
                denying(
                    "poll_oneoff",
                    &[I32, I32, I32, I32],
                    Capability::Sleep,
                    POLICY,
                    log,
                ),
                denying("random_get", &[I32, I32], Capability::Random, POLICY, log),
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
            let poll = denying(
                "poll_oneoff",
                &[I32, I32, I32, I32],
                Capability::Sleep,
                "clock virtual",
                log,
            );
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
    fn policy_grants_all_of_preview1_and_preview0() {
        let config = SandboxConfig::default();
        for name in FUNCTIONS {
            assert!(config.allows_import(MODULE, name), "{name}");
        }
        assert!(!config.allows_import(MODULE, "made_up"));
        assert!(config.allows_import(PREVIEW0_MODULE, "fd_write"));
        assert!(config.allows_import(PREVIEW0_MODULE, "sock_recv"));
        assert!(!config.allows_import(PREVIEW0_MODULE, "sock_accept"));
        assert!(!config.allows_import("wasi_preview_whatever", "fd_write"));
    }

    #[test]
    fn denial_log_keeps_distinct_path_denials_only() {
        let log = DenialLog::default();
        log.record_path("path_open", "../secret", errno::NOTCAPABLE);
        log.record_path("path_open", "../secret", errno::NOTCAPABLE);
        log.record_path("path_open", "missing.txt", 44);
        log.record_socket("sock_accept");
        let denied = log.take();
        assert_eq!(denied.len(), 2);
        assert_eq!(denied[0].capability, Capability::Filesystem);
        assert_eq!(denied[1].capability, Capability::Network);
        for i in 0..100 {
            log.record_path("path_open", &format!("../{i}"), errno::PERM);
        }
        assert_eq!(log.take().len(), DenialLog::MAX);
    }

    #[test]
    fn virtual_clock_and_random_are_deterministic() {
        let config = SandboxConfig {
            clock: ClockPolicy::Virtual,
            random_seed: 7,
            ..SandboxConfig::default()
        };
        let run = || {
            let functions = overrides(&config, &DenialLog::default());
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
        let config = SandboxConfig {
            clock: ClockPolicy::Deny,
            ..SandboxConfig::default()
        };
        let log = DenialLog::default();
        let functions = overrides(&config, &log);
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
        let denied = log.take();
        assert_eq!(denied.len(), 4);
        assert_eq!(denied[0].function, "clock_time_get");
        assert_eq!(denied[0].capability, Capability::Clock);
        assert_eq!(
            denied[0].to_string(),
            "the guest's clock_time_get was denied (clock deny)"
        );
        assert!(log.take().is_empty(), "a take empties the log");
        assert!(overrides(&SandboxConfig::compute(), &log).is_empty());
    }
}
