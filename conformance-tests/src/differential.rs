//! Differential testing with generated modules: the comparison shared by the bounded property
//! test (`tests/it/generated.rs`) and the open-ended campaign binary (`src/bin/fuzz_wasm.rs`,
//! run by `cargo xtask fuzz`).
//!
//! A module comes from [`wasm_smith`], driven by [`arbitrary::Unstructured`] over bytes that a
//! seed expands to ([`module_from_seed`]) or that proptest supplies ([`module_from_bytes`]). The
//! generator is restricted to what both backends run ([`generator_config`]): WebAssembly 2.0
//! without SIMD (reference types, bulk memory, multi-value, sign extension, saturating
//! conversions, mutable globals) plus extended constant expressions, one memory, at most two
//! tables, no imports, every item exported. [`Differ::check`] then loads the module on both
//! engines, instantiates it, and calls every exported function with zero arguments, each call
//! in a fresh instance (the fuel budget is per instance), through the facade and the trait only.
//!
//! What is compared ([`Observation`]): outcome kind, trap kind, return values (bit-exact, except
//! that every NaN is "some NaN", see [`Observation::of`]), fuel and peak memory of runs that
//! completed, and the fuel of a successful instantiation.
//!
//! A disagreement is one of three things ([`Verdict`]):
//! - a **known class** of engine difference, recognised by an explicit rule below and listed in
//!   `divergences.txt` as `generated/<class>` with its reason (a class missing from the file
//!   makes its cases unlisted divergences);
//! - an **unlisted divergence**: a bug in a backend's mapping, or a new engine difference;
//! - a **panic** on either engine's path, always a failure (guest input must never crash the
//!   host).

use crate::{divergences, Normalised};
use arbitrary::Unstructured;
use sandbox::{
    BackendKind, CompiledModule, ExecutionResult, Instance, Sandbox, SandboxConfig, SandboxError,
    ValType, WasmValue,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

/// Fuel budget of every instantiation and call.
pub const FUEL: u64 = 100_000;

/// Linear memory limit (32 pages). The generator declares memories of up to twice this, so
/// both the in-limit and the over-limit paths are exercised.
pub const MEMORY_LIMIT: u64 = 2 * 1024 * 1024;

/// Table elements limit; the generator declares tables of up to twice this.
pub const TABLE_LIMIT: u64 = 1_000;

/// Wasm stack limit of the re-run that confirms a [`Class::StackDepth`] difference. Fuel bounds
/// the call depth to `FUEL / 6` (a call costs 5, entering a function 1), so 60 MiB gives each
/// frame more than 3.5 KiB: both engines must then agree.
pub const LARGE_STACK: u64 = 60 * 1024 * 1024;

/// The limits every generated module runs under. The wall-clock limit is far above what
/// [`FUEL`] allows, so it only catches a hang and never decides an outcome.
pub fn run_config() -> SandboxConfig {
    SandboxConfig {
        max_fuel: Some(FUEL),
        max_execution_time: Duration::from_secs(20),
        max_memory_bytes: MEMORY_LIMIT,
        max_table_elements: TABLE_LIMIT,
        ..SandboxConfig::default()
    }
}

/// The generator's configuration: what both backends accept (see each backend's
/// `Capabilities::features`; wasmer-singlepass runs WebAssembly 2.0 without SIMD, plus extended
/// constant expressions), nothing imported, bounded memories and tables, everything exported.
pub fn generator_config() -> wasm_smith::Config {
    wasm_smith::Config {
        // Proposals singlepass does not run.
        simd_enabled: false,
        relaxed_simd_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        tail_call_enabled: false,
        exceptions_enabled: false,
        gc_enabled: false, // also gates function references
        memory64_enabled: false,
        custom_page_sizes_enabled: false,
        wide_arithmetic_enabled: false,
        compact_imports_enabled: false,
        custom_descriptors_enabled: false,
        max_memories: 1, // no multi-memory
        // What both run.
        reference_types_enabled: true,
        bulk_memory_enabled: true,
        multi_value_enabled: true,
        sign_extension_ops_enabled: true,
        saturating_float_to_int_enabled: true,
        extended_const_enabled: true,
        // NaN payloads of arithmetic results are non-deterministic in the specification (any
        // arithmetic NaN, either sign); without canonicalisation a module can turn one into
        // observable integers (`i32.reinterpret_f32`, a store then a load) and the engines
        // legitimately differ. wasm-smith canonicalises every float result instead.
        canonicalize_nans: true,
        // No imports: the sandbox provides none to a non-WASI module.
        max_imports: 0,
        // Bounded sizes, so a module is cheap to compile twice.
        // wasm-smith stops adding functions with probability 1/2 after each; a floor keeps
        // enough of them per compile to be worth it.
        min_funcs: 4,
        max_funcs: 24,
        max_instructions: 120,
        max_types: 24,
        max_globals: 24,
        max_tables: 2,
        max_table_elements: 2 * TABLE_LIMIT,
        max_memory32_bytes: 2 * MEMORY_LIMIT,
        max_data_segments: 8,
        max_element_segments: 8,
        max_elements: 32,
        // Every function exported, so every function is called.
        export_everything: true,
        allow_start_export: true,
        ..wasm_smith::Config::default()
    }
}

/// Generates a module from raw bytes (proptest's, or a seed's). `None` when wasm-smith cannot
/// build one from them (it rarely refuses; the caller counts it).
pub fn module_from_bytes(data: &[u8]) -> Option<Vec<u8>> {
    let mut u = Unstructured::new(data);
    wasm_smith::Module::new(generator_config(), &mut u)
        .ok()
        .map(|module| module.to_bytes())
}

/// The bytes a seed expands to: between 1 KiB and 17 KiB of generator input, so module sizes
/// vary with the seed.
pub fn seed_bytes(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let len = 1024 + rng.below(16 * 1024) as usize;
    (0..len).map(|_| rng.next() as u8).collect()
}

/// The module generated from `seed`: the same bytes on every machine and every run.
pub fn module_from_seed(seed: u64) -> Option<Vec<u8>> {
    module_from_bytes(&seed_bytes(seed))
}

/// A small deterministic generator (SplitMix64): seeds must reproduce everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// A copy of `wasm` with a few random byte edits (overwrite, insert, delete) past the header:
/// the inputs a fuzzer finds first, mostly invalid, sometimes still valid.
pub fn mutate(wasm: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = wasm.to_vec();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        if bytes.len() <= 8 {
            break;
        }
        let at = 8 + rng.below(bytes.len() as u64 - 8) as usize;
        match rng.below(4) {
            0 | 1 => bytes[at] = rng.next() as u8,
            2 => bytes.insert(at, rng.next() as u8),
            _ => {
                bytes.remove(at);
            }
        }
    }
    bytes
}

/// Random bytes, half of them after a valid header: the garbage an embedder may be handed.
pub fn garbage(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(512) as usize;
    let mut bytes = if rng.below(2) == 0 {
        b"\0asm\x01\0\0\0".to_vec()
    } else {
        Vec::new()
    };
    bytes.extend((0..len).map(|_| rng.next() as u8));
    bytes
}

/// What one engine did in one phase (load, instantiation, or a call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Observation {
    /// The phase ran (successfully or not) and reported this.
    Ran {
        /// Outcome kind, trap kind, results (NaNs made canonical), fuel of a completed run.
        outcome: Normalised,
        /// Peak linear memory of a completed run; `None` for a failed one.
        peak_memory: Option<u64>,
    },
    /// Refused before any guest code ran (load error, or a call that could not start).
    Refused(Normalised),
    /// The engine's path panicked: always a failure.
    Panicked(String),
}

impl Observation {
    /// Normalises a report.
    ///
    /// - Fuel and peak memory are kept only for completed runs: after a trap, wasmtime may not
    ///   have flushed the fuel cranelift keeps in a register (`divergences.txt`), so consumed
    ///   fuel is not comparable; the outcome and trap kind still are.
    /// - Every NaN result becomes the canonical positive quiet NaN: the specification makes
    ///   the payload and sign of an arithmetic NaN non-deterministic, so only "a NaN" is
    ///   meaningful. (Generated modules canonicalise NaNs anyway; this covers what they pass
    ///   through untouched.)
    pub fn of(result: &ExecutionResult) -> Self {
        let mut outcome = Normalised::of(result);
        for value in &mut outcome.results {
            *value = match *value {
                WasmValue::F32(x) if x.is_nan() => WasmValue::F32(f32::NAN),
                WasmValue::F64(x) if x.is_nan() => WasmValue::F64(f64::NAN),
                other => other,
            };
        }
        let peak_memory = result.outcome.is_success().then_some(result.peak_memory);
        Observation::Ran {
            outcome,
            peak_memory,
        }
    }

    /// Normalises an error that stopped a phase before guest code ran.
    pub fn refused(error: &SandboxError) -> Self {
        Observation::Refused(Normalised::of_error(error))
    }

    /// The taxonomy name (`ok`, `trap`, ...), `panic` for a panic.
    pub fn kind(&self) -> &str {
        match self {
            Observation::Ran { outcome, .. } | Observation::Refused(outcome) => &outcome.kind,
            Observation::Panicked(_) => "panic",
        }
    }

    /// The trap kind, if a trap.
    pub fn trap(&self) -> Option<&str> {
        match self {
            Observation::Ran { outcome, .. } | Observation::Refused(outcome) => {
                outcome.trap.as_deref()
            }
            Observation::Panicked(_) => None,
        }
    }

    /// `kind` or `trap:kind`, for counting outcomes.
    pub fn label(&self) -> String {
        match self.trap() {
            Some(trap) => format!("trap:{trap}"),
            None => self.kind().to_string(),
        }
    }

    fn is_stack_overflow(&self) -> bool {
        self.trap() == Some("stack_overflow")
    }
}

/// A class of known, explained difference between the engines, recognised by an explicit rule
/// in [`Differ::check`]. Each must be listed in `divergences.txt` as `generated/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Class {
    /// One engine overflowed the 1 MiB wasm stack and the other did not (or at another
    /// point); re-running with [`LARGE_STACK`] on both makes them agree. Stack depth for the
    /// same limit differs because singlepass gives every local a stack slot.
    StackDepth,
    /// A successful instantiation reports more fuel on wasmtime, whose start-up code evaluates
    /// constant expressions that are not a single constant with metered code, within
    /// [`startup_fuel_bound`]; wasmer evaluates them unmetered.
    StartupFuel,
    /// A mutated (not generated) module uses a feature outside wasmer's set: wasmer refuses it
    /// as `unsupported`, wasmtime runs it. Never accepted for generated modules, whose
    /// generator promises both engines run them.
    UnsupportedFeature,
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 3] = [
        Class::StackDepth,
        Class::StartupFuel,
        Class::UnsupportedFeature,
    ];

    /// The name used in `divergences.txt` (`generated/<name>`) and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Class::StackDepth => "stack_depth",
            Class::StartupFuel => "startup_fuel",
            Class::UnsupportedFeature => "unsupported_feature",
        }
    }

    /// The `divergences.txt` key of this class.
    pub fn key(self) -> String {
        format!("generated/{}", self.name())
    }

    /// Whether `divergences.txt` lists this class (with its reason).
    pub fn is_listed(self) -> bool {
        divergences().contains_key(&self.key())
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the two engines compared in one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// Equal after normalisation.
    Agree,
    /// Different, in a way a listed [`Class`] explains.
    Known(Class),
    /// Different, and nothing listed explains it: a failure.
    Divergent,
}

/// Which phase of a module's life a comparison is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// `Sandbox::load`.
    Load,
    /// `CompiledModule::instantiate` (including the start function).
    Instantiate,
    /// A call of this export with zero arguments, in a fresh instance.
    Call(String),
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Load => f.write_str("load"),
            Phase::Instantiate => f.write_str("instantiate"),
            Phase::Call(name) => write!(f, "call {name:?}"),
        }
    }
}

/// One phase, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The phase.
    pub phase: Phase,
    /// What wasmtime did.
    pub wasmtime: Observation,
    /// What wasmer did.
    pub wasmer: Observation,
    /// How they compare.
    pub verdict: Verdict,
}

impl Comparison {
    /// Whether this comparison fails the run (an unlisted divergence or a panic).
    pub fn is_failure(&self) -> bool {
        self.verdict == Verdict::Divergent
            || matches!(self.wasmtime, Observation::Panicked(_))
            || matches!(self.wasmer, Observation::Panicked(_))
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?})\n    wasmtime: {:?}\n    wasmer:   {:?}",
            self.phase, self.verdict, self.wasmtime, self.wasmer
        )
    }
}

/// Where a module came from, which decides the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Generated by wasm-smith under [`generator_config`]: both engines must run it.
    Generated,
    /// Mutated or random bytes: may be invalid, or valid but outside one engine's features.
    Mutated,
}

/// Everything [`Differ::check`] found for one module.
#[derive(Debug, Clone, Default)]
pub struct ModuleReport {
    /// Every phase compared, in order.
    pub comparisons: Vec<Comparison>,
    /// Exported functions not called, by reason.
    pub skipped: BTreeMap<String, usize>,
}

impl ModuleReport {
    /// The comparisons that fail the run.
    pub fn failures(&self) -> impl Iterator<Item = &Comparison> {
        self.comparisons.iter().filter(|c| c.is_failure())
    }

    /// Number of calls compared.
    pub fn calls(&self) -> usize {
        self.comparisons
            .iter()
            .filter(|c| matches!(c.phase, Phase::Call(_)))
            .count()
    }

    /// Whether both engines loaded the module.
    pub fn loaded(&self) -> bool {
        self.comparisons.first().is_some_and(|c| {
            c.phase == Phase::Load && c.wasmtime.kind() == "ok" && c.verdict == Verdict::Agree
        })
    }
}

/// One engine under the run configuration, and the same engine with a large stack for the
/// re-runs that confirm a stack-depth difference.
struct Engine {
    normal: Arc<dyn Sandbox>,
    large_stack: Arc<dyn Sandbox>,
}

/// Runs modules on both engines and compares them. Create one per thread and reuse it (the
/// engines behind it are shared process-wide).
pub struct Differ {
    config: SandboxConfig,
    large_stack_config: SandboxConfig,
    wasmtime: Engine,
    wasmer: Engine,
}

impl Differ {
    /// Both engines under [`run_config`].
    pub fn new() -> Result<Self, SandboxError> {
        let config = run_config();
        let large_stack_config = SandboxConfig {
            max_stack_size: LARGE_STACK,
            ..config.clone()
        };
        let engine = |backend: BackendKind| -> Result<Engine, SandboxError> {
            Ok(Engine {
                normal: sandbox::sandbox(backend, config.clone())?,
                large_stack: sandbox::sandbox(backend, large_stack_config.clone())?,
            })
        };
        Ok(Differ {
            wasmtime: engine(BackendKind::Wasmtime)?,
            wasmer: engine(BackendKind::Wasmer)?,
            config,
            large_stack_config,
        })
    }

    /// Loads, instantiates and calls every exported function of `wasm` on both engines, and
    /// compares each phase.
    pub fn check(&self, wasm: &[u8], origin: Origin) -> ModuleReport {
        let mut report = ModuleReport::default();
        let (t_module, t_load) = load(&self.wasmtime.normal, wasm);
        let (m_module, m_load) = load(&self.wasmer.normal, wasm);
        let mut verdict = compare(&t_load, &m_load);
        if verdict == Verdict::Divergent
            && origin == Origin::Mutated
            && t_load.kind() == "ok"
            && m_load.kind() == "unsupported"
        {
            verdict = Verdict::Known(Class::UnsupportedFeature);
        }
        report.comparisons.push(Comparison {
            phase: Phase::Load,
            wasmtime: t_load,
            wasmer: m_load,
            verdict: listed(verdict),
        });
        let (Some(t_module), Some(m_module)) = (t_module, m_module) else {
            return report;
        };

        // Instantiation, whose instances serve the first call.
        let (t_instance, t_start) = self.instantiate(&*t_module);
        let (m_instance, m_start) = self.instantiate(&*m_module);
        let mut comparison = Comparison {
            phase: Phase::Instantiate,
            verdict: compare(&t_start, &m_start),
            wasmtime: t_start,
            wasmer: m_start,
        };
        if comparison.verdict == Verdict::Divergent {
            comparison.verdict = self.explain(wasm, &comparison, None);
        }
        comparison.verdict = listed(comparison.verdict);
        let instantiated = comparison.wasmtime.kind() == "ok" && comparison.wasmer.kind() == "ok";
        let (t_ok, m_ok) = (comparison.wasmtime.clone(), comparison.wasmer.clone());
        report.comparisons.push(comparison);
        if !instantiated {
            return report;
        }
        let mut first = Some(((t_instance, t_ok), (m_instance, m_ok)));

        for export in &t_module.info().exports {
            let sandbox::module::ExternKind::Func { signature } = &export.kind else {
                continue;
            };
            if let Some(ty) = signature
                .params
                .iter()
                .chain(&signature.results)
                .find(|ty| !ty.is_numeric())
            {
                *report
                    .skipped
                    .entry(format!("non-numeric signature ({ty})"))
                    .or_default() += 1;
                continue;
            }
            let args: Vec<WasmValue> = signature.params.iter().map(|ty| zero(*ty)).collect();
            // A fresh instance per call: the fuel budget is per instance, and a call must not
            // see what an earlier one left behind on an engine where it ended differently.
            let ((t_instance, t_start), (m_instance, m_start)) = match first.take() {
                Some((t, m)) => (t, m),
                None => (self.instantiate(&*t_module), self.instantiate(&*m_module)),
            };
            let wasmtime = call_on(t_instance, t_start, &export.name, &args);
            let wasmer = call_on(m_instance, m_start, &export.name, &args);
            let mut comparison = Comparison {
                phase: Phase::Call(export.name.clone()),
                verdict: compare(&wasmtime, &wasmer),
                wasmtime,
                wasmer,
            };
            if comparison.verdict == Verdict::Divergent {
                comparison.verdict = self.explain(wasm, &comparison, Some((&export.name, &args)));
            }
            comparison.verdict = listed(comparison.verdict);
            report.comparisons.push(comparison);
        }
        report
    }

    /// Instantiates under the run configuration; the observation carries the instantiation's
    /// outcome and, when it succeeded, the fuel the start-up consumed.
    fn instantiate(&self, module: &dyn CompiledModule) -> (Option<Box<dyn Instance>>, Observation) {
        instantiate_with(module, &self.config)
    }

    /// Tries the known classes on a divergent phase, each by its explicit rule.
    fn explain(
        &self,
        wasm: &[u8],
        comparison: &Comparison,
        call: Option<(&str, &[WasmValue])>,
    ) -> Verdict {
        let (t, m) = (&comparison.wasmtime, &comparison.wasmer);
        // Stack depth: at least one engine overflowed. Confirmed only if the same phase on a
        // 60 MiB stack agrees on both engines; anything else stays a divergence.
        if t.is_stack_overflow() || m.is_stack_overflow() {
            let rerun = |engine: &Engine| -> Observation {
                let (module, load) = load(&engine.large_stack, wasm);
                let Some(module) = module else { return load };
                let (instance, start) = instantiate_with(&*module, &self.large_stack_config);
                match call {
                    None => start,
                    Some((name, args)) => call_on(instance, start, name, args),
                }
            };
            let (t2, m2) = (rerun(&self.wasmtime), rerun(&self.wasmer));
            if compare(&t2, &m2) == Verdict::Agree && !t2.is_stack_overflow() {
                return Verdict::Known(Class::StackDepth);
            }
            return Verdict::Divergent;
        }
        // Start-up fuel: instantiation only, both succeeded with the same outcome, and
        // wasmtime charged more than wasmer but no more than its start-up code may
        // (`startup_fuel_bound`, 0 for a module whose start-up is not charged).
        if call.is_none() {
            if let (
                Observation::Ran {
                    outcome: t_outcome, ..
                },
                Observation::Ran {
                    outcome: m_outcome, ..
                },
            ) = (t, m)
            {
                let same_but_fuel = Normalised {
                    fuel: None,
                    ..t_outcome.clone()
                } == Normalised {
                    fuel: None,
                    ..m_outcome.clone()
                };
                if same_but_fuel
                    && t_outcome.kind == "ok"
                    && matches!((t_outcome.fuel, m_outcome.fuel),
                        (Some(t), Some(m)) if t > m && t - m <= startup_fuel_bound(wasm))
                {
                    return Verdict::Known(Class::StartupFuel);
                }
            }
        }
        Verdict::Divergent
    }
}

/// A class counts as known only while `divergences.txt` lists it.
fn listed(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Known(class) if !class.is_listed() => Verdict::Divergent,
        other => other,
    }
}

fn compare(wasmtime: &Observation, wasmer: &Observation) -> Verdict {
    if wasmtime == wasmer {
        Verdict::Agree
    } else {
        Verdict::Divergent
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic with a non-string payload".into())
}

/// Loads `wasm`: the module (if loaded) and the load's observation (`ok` when loaded).
fn load(sandbox: &Arc<dyn Sandbox>, wasm: &[u8]) -> (Option<Arc<dyn CompiledModule>>, Observation) {
    match catch_unwind(AssertUnwindSafe(|| sandbox.load(wasm))) {
        Ok(Ok(module)) => {
            let ok = Observation::Refused(Normalised {
                kind: "ok".into(),
                trap: None,
                results: Vec::new(),
                fuel: None,
                exit_code: None,
                stdout: Vec::new(),
                stderr: Vec::new(),
            });
            (Some(module), ok)
        }
        Ok(Err(err)) => (None, Observation::refused(&err)),
        Err(payload) => (None, Observation::Panicked(panic_message(payload))),
    }
}

fn instantiate_with(
    module: &dyn CompiledModule,
    config: &SandboxConfig,
) -> (Option<Box<dyn Instance>>, Observation) {
    match catch_unwind(AssertUnwindSafe(|| module.instantiate(config))) {
        Ok(Ok(instance)) => {
            let mut report = ExecutionResult::new(module.kind(), sandbox::Outcome::Ok);
            report.fuel_consumed = instance.fuel_consumed();
            report.peak_memory = instance.peak_memory();
            let observation = Observation::of(&report);
            (Some(instance), observation)
        }
        Ok(Err(report)) => (None, Observation::of(&report)),
        Err(payload) => (None, Observation::Panicked(panic_message(payload))),
    }
}

/// Calls `name` on `instance`; without an instance (its instantiation failed), what the
/// instantiation reported stands for the call.
fn call_on(
    instance: Option<Box<dyn Instance>>,
    start: Observation,
    name: &str,
    args: &[WasmValue],
) -> Observation {
    let Some(mut instance) = instance else {
        return start;
    };
    match catch_unwind(AssertUnwindSafe(|| instance.call(name, args))) {
        Ok(Ok(result)) => Observation::of(&result),
        Ok(Err(err)) => Observation::refused(&err),
        Err(payload) => Observation::Panicked(panic_message(payload)),
    }
}

/// The zero value of a numeric type.
pub fn zero(ty: ValType) -> WasmValue {
    match ty {
        ValType::I64 => WasmValue::I64(0),
        ValType::F32 => WasmValue::F32(0.0),
        ValType::F64 => WasmValue::F64(0.0),
        _ => WasmValue::I32(0),
    }
}

/// The most fuel wasmtime's start-up code may charge for this module beyond what wasmer
/// charges, or 0 when it charges nothing.
///
/// wasmtime evaluates constant expressions that are not a single constant with metered
/// compiled code, and charges for it (at least 1, at most the function entry plus every
/// operator of those expressions); wasmer evaluates them in its runtime, unmetered. Measured on
/// wasmtime 48: a module is charged when it has a passive or declared element segment, an
/// element segment written as expressions (`(elem ... funcref (ref.func $f))`, even an active
/// one; the index form `(elem ... func $f)` costs nothing), or a global, element offset or data
/// offset that is not one constant (`(i32.add (i32.const 0) (i32.const 0))`). How much of the
/// bound it charges depends on how cranelift flushes fuel, so only the bound is checked.
pub fn startup_fuel_bound(wasm: &[u8]) -> u64 {
    use wasmparser::{ConstExpr, DataKind, ElementItems, ElementKind, Operator, Parser, Payload};
    // (operators before `end`, whether it is one constant of a numeric type)
    fn shape(expr: &ConstExpr<'_>) -> (u64, bool) {
        let ops: Vec<_> = expr.get_operators_reader().into_iter().flatten().collect();
        let count = ops.len().saturating_sub(1) as u64;
        let constant = count == 1
            && matches!(
                ops[0],
                Operator::I32Const { .. }
                    | Operator::I64Const { .. }
                    | Operator::F32Const { .. }
                    | Operator::F64Const { .. }
            );
        (count, constant)
    }
    let mut charged = false;
    let mut operators = 0;
    let mut expr = |expr: &ConstExpr<'_>, charged: &mut bool| {
        let (count, constant) = shape(expr);
        operators += count;
        *charged |= !constant;
    };
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::GlobalSection(reader)) => {
                for global in reader.into_iter().flatten() {
                    expr(&global.init_expr, &mut charged);
                }
            }
            Ok(Payload::ElementSection(reader)) => {
                for element in reader.into_iter().flatten() {
                    match &element.kind {
                        ElementKind::Active { offset_expr, .. } => expr(offset_expr, &mut charged),
                        ElementKind::Passive | ElementKind::Declared => charged = true,
                    }
                    if let ElementItems::Expressions(_, items) = element.items {
                        charged = true;
                        for item in items.into_iter().flatten() {
                            expr(&item, &mut charged);
                        }
                    }
                }
            }
            Ok(Payload::DataSection(reader)) => {
                for data in reader.into_iter().flatten() {
                    if let DataKind::Active { offset_expr, .. } = &data.kind {
                        expr(offset_expr, &mut charged);
                    }
                }
            }
            Err(_) => return 0,
            _ => {}
        }
    }
    if charged {
        sandbox::fuel::FUNCTION_ENTRY_COST + operators
    } else {
        0
    }
}

/// Counts over many modules: what was generated and run, outcomes per engine, known classes,
/// and every failure with the input that reproduces it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Inputs tried (seeds, or proptest cases).
    pub inputs: u64,
    /// Modules wasm-smith generated.
    pub generated: u64,
    /// Inputs wasm-smith could not turn into a module.
    pub not_generated: u64,
    /// Modules both engines loaded.
    pub loaded: u64,
    /// Modules both engines instantiated.
    pub instantiated: u64,
    /// Functions called on both engines.
    pub functions_run: u64,
    /// Mutated or random inputs fed to both engines.
    pub mutated: u64,
    /// Of those, how many both engines loaded.
    pub mutated_loaded: u64,
    /// Outcomes, keyed `engine phase label` (`wasmer call trap:stack_overflow`) → count.
    pub outcomes: BTreeMap<String, u64>,
    /// Known differences by class.
    pub known: BTreeMap<Class, u64>,
    /// Exported functions not called, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Failures: the input's label (`seed 42`, `seed 42 mutant 3`) and the comparison.
    pub failures: Vec<(String, Comparison)>,
}

impl Summary {
    /// Adds one module's report, labelled with what reproduces it.
    pub fn add(&mut self, label: &str, origin: Origin, report: &ModuleReport) {
        match origin {
            Origin::Generated => {
                self.generated += 1;
                self.loaded += u64::from(report.loaded());
                self.functions_run += report.calls() as u64;
                self.instantiated += u64::from(report.comparisons.iter().any(|c| {
                    c.phase == Phase::Instantiate
                        && c.wasmtime.kind() == "ok"
                        && c.wasmer.kind() == "ok"
                }));
            }
            Origin::Mutated => {
                self.mutated += 1;
                self.mutated_loaded += u64::from(report.loaded());
            }
        }
        for comparison in &report.comparisons {
            let phase = match (&comparison.phase, origin) {
                (_, Origin::Mutated) => "mutated",
                (Phase::Load, _) => "load",
                (Phase::Instantiate, _) => "instantiate",
                (Phase::Call(_), _) => "call",
            };
            for (engine, observation) in [
                ("wasmtime", &comparison.wasmtime),
                ("wasmer", &comparison.wasmer),
            ] {
                *self
                    .outcomes
                    .entry(format!("{engine} {phase} {}", observation.label()))
                    .or_default() += 1;
            }
            if let Verdict::Known(class) = comparison.verdict {
                *self.known.entry(class).or_default() += 1;
            }
            if comparison.is_failure() {
                self.failures.push((label.to_string(), comparison.clone()));
            }
        }
        for (reason, count) in &report.skipped {
            *self.skipped.entry(reason.clone()).or_default() += *count as u64;
        }
    }

    /// How many times `engine` (`wasmtime`, `wasmer`) ended `phase` (`load`, `instantiate`,
    /// `call`, `mutated`) with `label` (`ok`, `trap:stack_overflow`, ...).
    pub fn count(&self, engine: &str, phase: &str, label: &str) -> u64 {
        self.outcomes
            .get(&format!("{engine} {phase} {label}"))
            .copied()
            .unwrap_or(0)
    }

    /// Merges another summary (from another thread) into this one.
    pub fn merge(&mut self, other: Summary) {
        self.inputs += other.inputs;
        self.generated += other.generated;
        self.not_generated += other.not_generated;
        self.loaded += other.loaded;
        self.instantiated += other.instantiated;
        self.functions_run += other.functions_run;
        self.mutated += other.mutated;
        self.mutated_loaded += other.mutated_loaded;
        for (key, count) in other.outcomes {
            *self.outcomes.entry(key).or_default() += count;
        }
        for (key, count) in other.known {
            *self.known.entry(key).or_default() += count;
        }
        for (key, count) in other.skipped {
            *self.skipped.entry(key).or_default() += count;
        }
        self.failures.extend(other.failures);
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "inputs {}: modules generated {} (not generated {}), loaded on both {}, instantiated on both {}, functions run on both {}",
            self.inputs, self.generated, self.not_generated, self.loaded, self.instantiated, self.functions_run
        )?;
        if self.mutated > 0 {
            writeln!(
                f,
                "mutated/random inputs {} (loaded on both {})",
                self.mutated, self.mutated_loaded
            )?;
        }
        writeln!(f, "outcomes (engine, phase, outcome: count):")?;
        for (key, count) in &self.outcomes {
            let mut parts = key.splitn(3, ' ');
            let (engine, phase, label) = (
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
                parts.next().unwrap_or(""),
            );
            writeln!(f, "  {engine:<8} {phase:<11} {label:<36} {count}")?;
        }
        for (reason, count) in &self.skipped {
            writeln!(f, "skipped functions: {reason}: {count}")?;
        }
        for class in Class::ALL {
            writeln!(
                f,
                "known difference {}: {}",
                class,
                self.known.get(&class).copied().unwrap_or(0)
            )?;
        }
        writeln!(
            f,
            "failures (unlisted divergences and panics): {}",
            self.failures.len()
        )?;
        for (label, comparison) in &self.failures {
            writeln!(f, "  {label}: {comparison}")?;
        }
        Ok(())
    }
}
