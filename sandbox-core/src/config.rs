//! Limits and policy: what a run may use and what it may reach.

use crate::cache::CacheConfig;
use crate::host::HostFunctions;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// The limits and the capability policy of a sandbox.
///
/// Every limit is enforced by both engines; see `ARCHITECTURE.md` for how. The defaults are the
/// product brief's: 64 MiB of linear memory, 5 s of wall-clock time, 10,000,000 fuel, a 1 MiB wasm
/// stack, nothing imported, no filesystem, network or clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Linear memory, in bytes, summed over all memories of an instance; checked at
    /// instantiation and on every `memory.grow`. Exceeding it ends the run with
    /// `memory_limit_exceeded`.
    pub max_memory_bytes: u64,
    /// Wall-clock time for one call (instantiation, including a start function, counts as a
    /// call). Exceeding it ends the run with `time_limit_exceeded`.
    #[serde(with = "duration_ms")]
    pub max_execution_time: Duration,
    /// Fuel for one call under the core cost model ([`crate::fuel`]); `None` turns metering off
    /// (the time limit still applies). Running out ends the run with `fuel_exhausted`.
    pub max_fuel: Option<u64>,
    /// Bytes of native stack wasm code may use. Running out traps with `stack_overflow`.
    pub max_stack_size: u64,
    /// Elements of all tables of an instance together. A table declared larger fails
    /// instantiation with `table_limit_exceeded`; `table.grow` past it returns -1 as the
    /// specification allows.
    pub max_table_elements: u64,
    /// Size of a module's bytes; larger input is refused as `invalid_module` before parsing.
    pub max_module_bytes: u64,
    /// Bytes captured per output stream (stdout, stderr).
    pub max_output_bytes: u64,
    /// Imports the module may have, as `module::name` (or `module::*` for a whole module).
    /// Anything else is refused with `unauthorized_import` before instantiation.
    pub allowed_imports: Vec<String>,
    /// Whether WASI filesystem access (to preopened directories only) is granted.
    pub allow_filesystem: bool,
    /// Whether network access is granted. No backend grants sockets today; see
    /// `Capabilities::network`.
    pub allow_network: bool,
    /// What the guest's clocks and random source are (WASI `clock_time_get`, `clock_res_get`,
    /// `poll_oneoff`, `random_get`). [`ClockPolicy::Virtual`] by default: the host's clock is
    /// a timing side channel, and a denied clock breaks most real programs (QuickJS, CPython's
    /// `time`, `random` and hashing, C's `time()`), so the guest gets a deterministic clock
    /// and random source that leak nothing of the host. This is the product brief's
    /// `allow_clock` (host clock access: [`ClockPolicy::Real`]), grown two more choices.
    pub clock: ClockPolicy,
    /// Seed of the deterministic random source under [`ClockPolicy::Virtual`].
    pub random_seed: u64,
    /// `argv[0]` of a WASI guest.
    pub program_name: String,
    /// `argv[1..]` of a WASI guest.
    pub args: Vec<String>,
    /// The WASI guest's environment, exactly these variables and nothing inherited.
    pub env: Vec<(String, String)>,
    /// Bytes the WASI guest reads from stdin.
    pub stdin: Vec<u8>,
    /// Host directories the guest may see (only with [`SandboxConfig::allow_filesystem`]).
    pub preopens: Vec<Preopen>,
    /// Host functions the embedder registers; registering one grants its import.
    #[serde(skip)]
    pub host_functions: HostFunctions,
    /// WebAssembly proposals to refuse even where the engine implements them, by their
    /// `wasmparser` feature names (`multi_memory`, `memory64`, `tail_call`, `simd`, ...,
    /// case-insensitive, `-` for `_` accepted). A module using one is an `invalid_module`, as
    /// it is for an engine of that spec version; the WebAssembly spec testsuite runs its older
    /// file sets this way.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disabled_features: Vec<String>,
    /// Where [`Sandbox::load`](crate::Sandbox::load) keeps and looks up compiled modules (in
    /// memory, on disk). Off by default; [`CacheConfig::from_env`] gives the documented default
    /// location. Changes no behaviour of a run, only how long loading takes.
    pub cache: CacheConfig,
    /// How instances get their memories and tables: on demand (the default) or from a
    /// preallocated pool, for many concurrent small instances. Only wasmtime has a pooling
    /// allocator; wasmer ignores this setting (see [`InstanceAllocation`]).
    pub instance_allocation: InstanceAllocation,
    /// Whether [`SandboxConfig::max_execution_time`] is enforced (the default). Turning it off
    /// removes the mechanism itself, not just the deadline: wasmtime compiles code without epoch
    /// checks (a separate engine), wasmer does not register runs with its watchdog. A guest with
    /// neither this nor fuel can then run forever: only for trusted code, code bounded by fuel,
    /// or measuring what the wall-clock limit costs (the benches do). On wasmtime this is an
    /// engine setting, so instances follow the sandbox that compiled the module.
    pub enforce_time_limit: bool,
}

/// How a sandbox allocates the memories, tables and instance state of its instances.
///
/// This is an engine setting (part of what selects the shared engine), so instances of a
/// module always use the allocation of the sandbox that compiled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InstanceAllocation {
    /// Every instance maps its own memory and tables when it is created and unmaps them when
    /// it is dropped.
    #[default]
    OnDemand,
    /// wasmtime's pooling allocator: address space for `max_instances` instances (memories,
    /// tables, instance state) is reserved once, when the engine is created, and slots are
    /// reused, which removes the `mmap`/`munmap` of every instantiation (and the kernel lock
    /// contention that comes with it when many threads instantiate at once).
    ///
    /// Each memory slot is sized from the sandbox's [`SandboxConfig::max_memory_bytes`] (at
    /// most 4 GiB) and each table slot from [`SandboxConfig::max_table_elements`]; an
    /// instance of the module is limited to those slots even when created under a config with
    /// larger limits. Creating an instance while `max_instances` are alive fails with
    /// [`crate::SandboxError::PoolExhausted`]; dropping an instance frees its slot. Every slot
    /// reserves about 4 GiB of address space (not memory), so keep `max_instances` to what
    /// the host runs at once.
    ///
    /// wasmer has no pooling allocator: it ignores this setting and allocates on demand
    /// (its `Tunables` create each memory on its own; there is no slot reuse to turn on).
    Pooling {
        /// How many instances (and memories, and tables) may be alive at once; 1 to
        /// [`InstanceAllocation::MAX_POOLED_INSTANCES`].
        max_instances: u32,
    },
}

impl InstanceAllocation {
    /// The largest pool accepted: 10,000 slots reserve about 40 TiB of the 128 TiB of address
    /// space a 64-bit Linux process has.
    pub const MAX_POOLED_INSTANCES: u32 = 10_000;

    /// A pool for `max_instances` live instances.
    pub fn pooling(max_instances: u32) -> Self {
        InstanceAllocation::Pooling { max_instances }
    }

    /// Whether this is the pooling allocator.
    pub fn is_pooling(self) -> bool {
        matches!(self, InstanceAllocation::Pooling { .. })
    }
}

/// Time and entropy as the guest sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockPolicy {
    /// Clock, sleep and random calls fail with `ENOTCAPABLE` (and are named in the report of
    /// a run that then fails).
    Deny,
    /// The host's clocks and the operating system's random source.
    Real,
    /// Deterministic: the wall clock starts at 2000-01-01T00:00:00Z (the monotonic clock at 0)
    /// and both advance by 1 ms on every read; randomness comes from a generator seeded with
    /// [`SandboxConfig::random_seed`]; sleeping is refused. The same inputs give the same
    /// outputs on every run and on both engines. The default.
    #[default]
    Virtual,
}

impl ClockPolicy {
    /// The policy's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ClockPolicy::Deny => "deny",
            ClockPolicy::Real => "real",
            ClockPolicy::Virtual => "virtual",
        }
    }
}

impl std::str::FromStr for ClockPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deny" => Ok(ClockPolicy::Deny),
            "real" => Ok(ClockPolicy::Real),
            "virtual" => Ok(ClockPolicy::Virtual),
            other => Err(format!(
                "unknown clock policy {other:?} (expected deny, real or virtual)"
            )),
        }
    }
}

/// A host directory made visible to the guest.
///
/// The guest path may be anything under the root: `/` (the root itself), `/data`, a nested
/// `/data/in`, and several preopens may nest (`/` and `/data/in`, `/a` and `/a/b`). A relative
/// guest path is taken from the root, as wasi-libc does (`.` is `/`, `data` is `/data`). The
/// guest learns the path exactly as written here (`fd_prestat_dir_name`). It may not be empty,
/// contain `..` or NUL, and two preopens may not have the same path once normalised
/// ([`Preopen::guest_components`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (`/`, `/data`, `/data/in`, `.`, ...).
    pub guest: String,
    /// Whether the guest may create, change and delete files in it.
    pub writable: bool,
}

impl Preopen {
    /// The components of the guest path below the root: `[]` for `/` (and `.`),
    /// `["data", "in"]` for `/data/in` (and `data/in/`, `/data//./in`). Refuses an empty path,
    /// `..` and NUL.
    pub fn guest_components(&self) -> Result<Vec<&str>, String> {
        guest_components(&self.guest)
    }
}

/// The components of a preopen's guest path below the root (see [`Preopen::guest_components`]).
fn guest_components(guest: &str) -> Result<Vec<&str>, String> {
    if guest.is_empty() {
        return Err("a preopen's guest path is empty".into());
    }
    if guest.contains('\0') {
        return Err(format!("the preopen guest path {guest:?} contains NUL"));
    }
    let mut components = Vec::new();
    for part in guest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("the preopen guest path {guest:?} contains `..`")),
            part => components.push(part),
        }
    }
    Ok(components)
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            max_memory_bytes: 64 * MIB,
            max_execution_time: Duration::from_secs(5),
            max_fuel: Some(10_000_000),
            max_stack_size: MIB,
            max_table_elements: 100_000,
            max_module_bytes: 64 * MIB,
            max_output_bytes: MIB,
            allowed_imports: Vec::new(),
            allow_filesystem: false,
            allow_network: false,
            clock: ClockPolicy::Virtual,
            random_seed: 0,
            program_name: "main.wasm".to_string(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: Vec::new(),
            preopens: Vec::new(),
            host_functions: HostFunctions::default(),
            disabled_features: Vec::new(),
            cache: CacheConfig::off(),
            instance_allocation: InstanceAllocation::OnDemand,
            enforce_time_limit: true,
        }
    }
}

impl SandboxConfig {
    /// The default preset (same as [`Default::default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// A tight preset for tiny untrusted snippets: 1 MiB memory, 100 ms, 100,000 fuel, 64 KiB
    /// stack.
    pub fn minimal() -> Self {
        SandboxConfig {
            max_memory_bytes: MIB,
            max_execution_time: Duration::from_millis(100),
            max_fuel: Some(100_000),
            max_stack_size: 64 * KIB,
            ..Self::default()
        }
    }

    /// A generous preset for heavy computation: 256 MiB memory, 30 s, 1,000,000,000 fuel, 8 MiB
    /// stack, clock allowed.
    pub fn compute() -> Self {
        SandboxConfig {
            max_memory_bytes: 256 * MIB,
            max_execution_time: Duration::from_secs(30),
            max_fuel: Some(1_000_000_000),
            max_stack_size: 8 * MIB,
            clock: ClockPolicy::Real,
            ..Self::default()
        }
    }

    /// Looks a preset up by name: `default`, `minimal` or `compute`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::default()),
            "minimal" => Some(Self::minimal()),
            "compute" => Some(Self::compute()),
            _ => None,
        }
    }

    /// Whether the import `module::name` is granted by [`SandboxConfig::allowed_imports`].
    ///
    /// Entries are `module::name`, `module::*`, or the dotted spelling `module.name`.
    ///
    /// Also granted: the host functions registered in [`SandboxConfig::host_functions`], and the
    /// WASI preview 1 functions of the policy ([`crate::wasi::is_granted`]).
    pub fn allows_import(&self, module: &str, name: &str) -> bool {
        self.allowed_imports.iter().any(|entry| {
            let (m, n) = split_import(entry);
            m == module && (n == name || n == "*")
        }) || self.host_functions.get(module, name).is_some()
            || crate::wasi::is_granted(module, name, self)
    }

    /// Whether the guest can read the host's clock (the product brief's `allow_clock`): only
    /// under [`ClockPolicy::Real`]; a virtual clock reveals nothing of the host.
    pub fn allow_clock(&self) -> bool {
        self.clock == ClockPolicy::Real
    }

    /// The WebAssembly features modules are validated against: everything the sandbox knows
    /// minus [`SandboxConfig::disabled_features`]; an unknown name is `unsupported`.
    pub fn features(&self) -> Result<wasmparser::WasmFeatures, crate::SandboxError> {
        let mut features = crate::module::validation_features();
        for name in &self.disabled_features {
            let wanted = name.trim().replace('-', "_").to_ascii_uppercase();
            let flag = wasmparser::WasmFeatures::all()
                .iter_names()
                .find(|(flag, _)| *flag == wanted)
                .map(|(_, flag)| flag)
                .ok_or_else(|| crate::SandboxError::Unsupported {
                    reason: format!("unknown WebAssembly feature {name:?} in disabled_features"),
                })?;
            features.remove(flag);
        }
        Ok(features)
    }

    /// Checks that the limits make sense (nothing zero that must not be, nothing absurd).
    pub fn validate(&self) -> Result<(), crate::SandboxError> {
        let bad = |reason: String| Err(crate::SandboxError::Unsupported { reason });
        if self.max_execution_time.is_zero() {
            return bad("max_execution_time must be greater than zero".into());
        }
        if self.max_stack_size < 8 * KIB {
            return bad(format!(
                "max_stack_size of {} bytes is below the 8 KiB minimum",
                self.max_stack_size
            ));
        }
        if self.max_stack_size > 64 * MIB {
            return bad(format!(
                "max_stack_size of {} bytes is above the 64 MiB maximum",
                self.max_stack_size
            ));
        }
        if self.max_execution_time > Duration::from_secs(7 * 24 * 3600) {
            return bad("max_execution_time is above one week".into());
        }
        self.features()?;
        if let InstanceAllocation::Pooling { max_instances } = self.instance_allocation {
            if max_instances == 0 || max_instances > InstanceAllocation::MAX_POOLED_INSTANCES {
                return bad(format!(
                    "a pool of {max_instances} instances is outside 1..={}",
                    InstanceAllocation::MAX_POOLED_INSTANCES
                ));
            }
        }
        if !self.preopens.is_empty() && !self.allow_filesystem {
            return bad("preopened directories need allow_filesystem".into());
        }
        let mut guests = std::collections::HashSet::new();
        for preopen in &self.preopens {
            let components = preopen
                .guest_components()
                .map_err(|reason| crate::SandboxError::Unsupported { reason })?;
            if !guests.insert(components) {
                return bad(format!(
                    "two preopens have the guest path {:?}",
                    preopen.guest
                ));
            }
            if !preopen.host.is_dir() {
                return bad(format!(
                    "preopened directory {} does not exist or is not a directory",
                    preopen.host.display()
                ));
            }
        }
        for entry in &self.allowed_imports {
            let (m, n) = split_import(entry);
            if m.is_empty() || n.is_empty() {
                return bad(format!(
                    "allowed import {entry:?} is not of the form module::name"
                ));
            }
        }
        Ok(())
    }
}

/// Splits `module::name` (or `module.name`) into its parts.
pub fn split_import(entry: &str) -> (&str, &str) {
    if let Some((m, n)) = entry.split_once("::") {
        (m, n)
    } else if let Some((m, n)) = entry.split_once('.') {
        (m, n)
    } else {
        (entry, "")
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_the_product_brief() {
        let d = SandboxConfig::default();
        assert_eq!(d.max_memory_bytes, 64 * MIB);
        assert_eq!(d.max_execution_time, Duration::from_secs(5));
        assert_eq!(d.max_fuel, Some(10_000_000));
        assert_eq!(d.max_stack_size, MIB);
        assert!(d.allowed_imports.is_empty());
        assert!(!d.allow_filesystem && !d.allow_network && !d.allow_clock());
        assert_eq!(d.clock, ClockPolicy::Virtual);

        let m = SandboxConfig::minimal();
        assert_eq!(
            (
                m.max_memory_bytes,
                m.max_execution_time,
                m.max_fuel,
                m.max_stack_size
            ),
            (MIB, Duration::from_millis(100), Some(100_000), 64 * KIB)
        );
        let c = SandboxConfig::compute();
        assert_eq!(
            (
                c.max_memory_bytes,
                c.max_execution_time,
                c.max_fuel,
                c.max_stack_size
            ),
            (
                256 * MIB,
                Duration::from_secs(30),
                Some(1_000_000_000),
                8 * MIB
            )
        );
        assert!(c.allow_clock());
        assert_eq!(SandboxConfig::preset("minimal"), Some(m));
        assert_eq!(SandboxConfig::preset("nope"), None);
    }

    #[test]
    fn import_patterns() {
        let config = SandboxConfig {
            allowed_imports: vec!["env::log".into(), "wasi.*".into()],
            ..SandboxConfig::default()
        };
        assert!(config.allows_import("env", "log"));
        assert!(!config.allows_import("env", "system"));
        assert!(config.allows_import("wasi", "anything"));
        assert!(!config.allows_import("envx", "log"));
    }

    #[test]
    fn validation_rejects_nonsense() {
        let mut config = SandboxConfig {
            max_stack_size: 10,
            ..SandboxConfig::default()
        };
        assert!(config.validate().is_err());
        config.max_stack_size = MIB;
        config.allowed_imports = vec!["justmodule".into()];
        assert!(config.validate().is_err());
        config.allowed_imports.clear();
        assert!(config.validate().is_ok());
        for bad in [0, InstanceAllocation::MAX_POOLED_INSTANCES + 1] {
            config.instance_allocation = InstanceAllocation::pooling(bad);
            assert_eq!(config.validate().unwrap_err().kind(), "unsupported");
        }
        config.instance_allocation = InstanceAllocation::pooling(1);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn preopen_guest_paths_are_normalised_and_checked() {
        let components = |guest: &str| guest_components(guest).map(|c| c.join("/"));
        assert_eq!(components("/").unwrap(), "");
        assert_eq!(components(".").unwrap(), "");
        assert_eq!(components("/data").unwrap(), "data");
        assert_eq!(components("data/").unwrap(), "data");
        assert_eq!(components("/data//./in/").unwrap(), "data/in");
        for bad in ["", "/..", "/data/../etc", "..", "/a\0b"] {
            assert!(guest_components(bad).is_err(), "{bad:?}");
        }
        let dir = std::env::temp_dir();
        let preopen = |guest: &str| Preopen {
            host: dir.clone(),
            guest: guest.into(),
            writable: false,
        };
        let mut config = SandboxConfig {
            allow_filesystem: true,
            preopens: vec![
                preopen("/"),
                preopen("/data/in"),
                preopen("/a"),
                preopen("/a/b"),
            ],
            ..SandboxConfig::default()
        };
        assert!(config.validate().is_ok());
        config.preopens.push(preopen("data/in/"));
        assert!(config.validate().is_err(), "the same guest path twice");
        config.preopens.pop();
        config.preopens.push(preopen("/x/../etc"));
        assert!(config.validate().is_err());
    }

    #[test]
    fn allocation_defaults_on_demand_and_round_trips_through_json() {
        let config = SandboxConfig::default();
        assert_eq!(config.instance_allocation, InstanceAllocation::OnDemand);
        assert!(!config.instance_allocation.is_pooling());
        assert!(config.enforce_time_limit);
        let pooled = SandboxConfig {
            instance_allocation: InstanceAllocation::pooling(8),
            ..SandboxConfig::default()
        };
        let json = serde_json::to_value(&pooled).unwrap();
        assert_eq!(
            json["instance_allocation"],
            serde_json::json!({"kind": "pooling", "max_instances": 8})
        );
        let back: SandboxConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, pooled);
        // Older JSON without the new fields still reads, with the defaults.
        let old: SandboxConfig = serde_json::from_str(r#"{"max_fuel": null}"#).unwrap();
        assert_eq!(old.instance_allocation, InstanceAllocation::OnDemand);
        assert!(old.enforce_time_limit);
    }
}
