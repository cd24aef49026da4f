//! Shared setup for the benches: the conformance fixtures (the same files the suite runs) and
//! the engines compiled in.

use std::path::PathBuf;

/// The bytes of a conformance fixture, as WebAssembly binary.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
    sandbox::compile_wat_to_wasm(bytes).expect("fixtures parse")
}

/// The engines every bench compares.
pub fn runtimes() -> Vec<sandbox::Runtime> {
    sandbox::available_runtimes()
}
