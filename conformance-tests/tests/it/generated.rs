//! Differential testing with generated modules, bounded for CI: wasm-smith modules restricted to
//! what both engines run, every exported function called on both, outcomes compared after the
//! normalisation of `conformance_tests::differential` (which the open-ended campaign,
//! `cargo xtask fuzz`, shares). Fixed seeds and counts keep the run reproducible and under a
//! minute in the debug test profile.

use conformance_tests::differential::{
    module_from_bytes, module_from_seed, mutate, startup_fuel_bound, Class, Differ, Origin, Phase,
    Rng, Summary, Verdict,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use std::sync::OnceLock;

/// Seeds `0..SEEDS` of the campaign's generator, run by `generated_modules_agree_across_engines`.
const SEEDS: u64 = 1000;

fn differ() -> &'static Differ {
    static DIFFER: OnceLock<Differ> = OnceLock::new();
    DIFFER.get_or_init(|| Differ::new().expect("both engines are compiled in"))
}

fn failures(summary: &Summary) -> String {
    summary
        .failures
        .iter()
        .map(|(label, comparison)| format!("{label}: {comparison}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same seeds as `cargo xtask fuzz --seed 0`: no unlisted divergence, no panic, and enough
/// coverage that a generator change making modules trivial (or unloadable) fails the test.
#[test]
fn generated_modules_agree_across_engines() {
    let mut summary = Summary::default();
    for seed in 0..SEEDS {
        summary.inputs += 1;
        let Some(wasm) = module_from_seed(seed) else {
            summary.not_generated += 1;
            continue;
        };
        let report = differ().check(&wasm, Origin::Generated);
        summary.add(&format!("seed {seed}"), Origin::Generated, &report);
        // One mutant per seed: never a panic, and compared when both engines load it.
        let mutant = mutate(&wasm, &mut Rng::new(seed));
        let report = differ().check(&mutant, Origin::Mutated);
        summary.add(&format!("seed {seed} mutant"), Origin::Mutated, &report);
    }
    eprintln!("{summary}");
    assert!(
        summary.failures.is_empty(),
        "the engines disagree on generated modules (reproduce with `cargo xtask fuzz --count 1 --seed SEED`):\n{}",
        failures(&summary)
    );
    assert_eq!(summary.generated, SEEDS, "wasm-smith refused a seed");
    assert_eq!(
        summary.loaded, summary.generated,
        "a generated module was refused: the generator config asks for something an engine cannot run"
    );
    assert!(
        summary.instantiated * 10 >= summary.generated * 6,
        "too few modules instantiate: {summary}"
    );
    assert!(
        summary.functions_run >= SEEDS,
        "too few functions run: {summary}"
    );
    // The run must reach the interesting outcomes, on both engines alike.
    for label in [
        "ok",
        "fuel_exhausted",
        "trap:memory_out_of_bounds",
        "trap:stack_overflow",
    ] {
        assert!(
            summary.count("wasmtime", "call", label) > 0
                && summary.count("wasmer", "call", label) > 0,
            "no call ended in {label}: {summary}"
        );
    }
    assert!(
        summary.count("wasmer", "instantiate", "memory_limit_exceeded") > 0,
        "no instantiation hit the memory limit: {summary}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: RngSeed::Fixed(0x5a4d_b0c5),
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        max_shrink_iters: 64,
        .. ProptestConfig::default()
    })]

    /// Modules generated from proptest's bytes (so a failure shrinks toward a small module):
    /// both engines agree on every phase, and neither panics.
    #[test]
    fn generated_modules_from_arbitrary_bytes_agree(
        data in proptest::collection::vec(any::<u8>(), 256..8192)
    ) {
        let Some(wasm) = module_from_bytes(&data) else {
            return Ok(());
        };
        let report = differ().check(&wasm, Origin::Generated);
        let failures: Vec<String> = report.failures().map(ToString::to_string).collect();
        prop_assert!(failures.is_empty(), "{}", failures.join("\n"));
        prop_assert!(report.loaded(), "a generated module was refused: {:?}", report.comparisons.first());
    }
}

fn wasm(text: &str) -> Vec<u8> {
    sandbox::compile_wat_to_wasm(text).expect("valid text")
}

/// The start-up fuel rule: measured cases where wasmtime charges its start-up code, and one
/// where it must not (so a difference there would be a divergence).
#[test]
fn startup_fuel_difference_is_recognised_only_where_wasmtime_charges_it() {
    let charged = [
        "(module (memory 1) (data (i32.add (i32.const 0) (i32.add (i32.const 0) (i32.const 0))) \"a\"))",
        "(module (table 1 funcref) (elem (i32.const 0) funcref))",
        "(module (table 1 funcref) (elem func))",
        "(module (global (mut i32) (i32.add (i32.const 1) (i32.const 2))) (func $s) (start $s))",
    ];
    for text in charged {
        let bytes = wasm(text);
        assert!(startup_fuel_bound(&bytes) > 0, "{text}");
        let report = differ().check(&bytes, Origin::Generated);
        let instantiate = report
            .comparisons
            .iter()
            .find(|c| c.phase == Phase::Instantiate)
            .expect("instantiated");
        assert_eq!(
            instantiate.verdict,
            Verdict::Known(Class::StartupFuel),
            "{text}: {instantiate}"
        );
    }
    let plain = wasm(
        "(module (memory 1) (data (i32.const 0) \"a\") (table 1 funcref) (func $f) \
         (elem (i32.const 0) func $f) (global i64 (i64.const 7)) \
         (func (export \"f\") (result i32) i32.const 1) (start $f))",
    );
    assert_eq!(startup_fuel_bound(&plain), 0);
    let report = differ().check(&plain, Origin::Generated);
    assert!(
        report
            .comparisons
            .iter()
            .all(|c| c.verdict == Verdict::Agree),
        "{:?}",
        report.comparisons
    );
    assert_eq!(report.calls(), 1);
}

/// Stack depth for the same limit differs: endless recursion overflows singlepass's 1 MiB
/// stack before the fuel runs out, while cranelift's small frames run out of fuel first; a
/// bounded recursion over many locals overflows on wasmer only. The 60 MiB re-run (where both
/// run out of fuel, or both complete) confirms both as `stack_depth`.
#[test]
fn stack_depth_difference_is_confirmed_by_a_large_stack_rerun() {
    let unbounded = wasm("(module (func $f (export \"f\") call $f))");
    let report = differ().check(&unbounded, Origin::Generated);
    let call = report.comparisons.last().expect("a call");
    assert_eq!(call.verdict, Verdict::Known(Class::StackDepth), "{call}");
    assert_eq!(call.wasmer.trap(), Some("stack_overflow"), "{call}");

    // 3,000 frames of a function with 200 i64 locals: about 5 MiB of slots on singlepass,
    // far less on cranelift, which keeps no slot for an unused local.
    let bounded = wasm(
        "(module (func $f (export \"f\") (param i32) (result i32) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
           (if (result i32) (i32.ge_u (local.get 0) (i32.const 3000))
             (then (local.get 0))
             (else (call $f (i32.add (local.get 0) (i32.const 1)))))))",
    );
    let report = differ().check(&bounded, Origin::Generated);
    let call = report.comparisons.last().expect("a call");
    assert_eq!(call.verdict, Verdict::Known(Class::StackDepth), "{call}");
    assert_eq!(call.wasmtime.kind(), "ok", "{call}");
}

/// Seeds the long campaign found diverging, kept as regressions: wasmtime reported
/// `table_limit_exceeded` for a `table.grow` past the limit in a start function (growth must
/// return -1; fixed in sandbox-wasmtime's limiter).
#[test]
fn campaign_regressions_agree() {
    for seed in [1_030_393, 1_039_004, 1_067_882] {
        let wasm = module_from_seed(seed).expect("the seed generates");
        let report = differ().check(&wasm, Origin::Generated);
        let failures: Vec<String> = report.failures().map(ToString::to_string).collect();
        assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
        assert!(report.loaded(), "seed {seed}");
    }
}

/// Every class the comparison may report is listed, with its reason, in `divergences.txt`.
#[test]
fn every_known_class_is_listed() {
    for class in Class::ALL {
        assert!(
            class.is_listed(),
            "{} is missing from divergences.txt",
            class.key()
        );
    }
}
