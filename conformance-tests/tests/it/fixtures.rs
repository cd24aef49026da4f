//! Fixtures are data shared by tests and benches, and none goes unused; the divergence list
//! names only tests that exist.

use conformance_tests::{divergences, fixture_names};

const SOURCES: &[&str] = &[
    include_str!("suite.rs"),
    include_str!("linking.rs"),
    include_str!("wasi.rs"),
    include_str!("realworld.rs"),
    include_str!("differential.rs"),
];

#[test]
fn every_fixture_is_used_by_a_test() {
    for name in fixture_names() {
        let quoted = format!("\"{name}\"");
        assert!(
            SOURCES.iter().any(|source| source.contains(&quoted)),
            "fixture {name} is not used by any conformance test: use it or delete it"
        );
    }
}

#[test]
fn every_fixture_is_in_the_differential_run() {
    let differential = include_str!("differential.rs");
    for name in fixture_names() {
        assert!(
            differential.contains(&format!("\"{name}\"")),
            "fixture {name} is missing from the differential run"
        );
    }
}

#[test]
fn divergence_entries_name_real_tests() {
    for key in divergences().keys() {
        let (backend, test) = key
            .split_once('/')
            .unwrap_or_else(|| panic!("divergence {key} is not backend/test"));
        if backend == "generated" {
            // A class of difference the generated-module differential run recognises.
            assert!(
                conformance_tests::differential::Class::ALL
                    .iter()
                    .any(|class| class.name() == test),
                "divergence {key} names no class of conformance_tests::differential::Class"
            );
            continue;
        }
        assert!(
            ["wasmtime", "wasmer"].contains(&backend),
            "divergence {key}: unknown backend"
        );
        assert!(
            crate::SUITE.contains(&test)
                || test.starts_with("differential")
                // Spec-testsuite entries are checked against the files by the spec driver.
                || test.starts_with("spec/")
                // WASI-testsuite entries are the harness's expected failures (run.py).
                || test.starts_with("wasi-testsuite/"),
            "divergence {key} names no test of the suite"
        );
    }
}
