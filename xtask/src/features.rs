//! The check that keeps one build of the engines: the packages built on their own (the Python
//! extension by maturin and the conformance suite's optimised pass in CI; the Python extension
//! and the C library in release for the bench report) must compile every shared dependency with the features of the build they follow,
//! or cargo compiles those dependencies, and everything above them (both engines), a second
//! time. `workspace-hack` pins the union; this compares cargo's unit graphs (its
//! `--unit-graph` output, read through `RUSTC_BOOTSTRAP` for inspection only: nothing is
//! built by it).

use anyhow::{bail, Context};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// (a build that follows, the build whose compiled dependencies it must reuse).
const PAIRS: &[(&[&str], &[&str])] = &[
    (&["-p", "sandbox-py"], &["--workspace", "--tests"]),
    (
        &["-p", "conformance-tests", "--tests"],
        &["--workspace", "--tests"],
    ),
    (
        &["-p", "sandbox-py", "--release"],
        &["-p", "sandbox-bench", "--release", "--bins"],
    ),
    (
        &["-p", "sandbox-capi", "--release"],
        &["-p", "sandbox-bench", "--release", "--bins"],
    ),
];

/// Units allowed to differ: the packages being built themselves, their own dependencies that
/// the other build does not have (PyO3), and the facade, whose `default` feature only some
/// members ask for (it is small and rebuilt in a moment).
fn allowed(package: &str) -> bool {
    package.starts_with("pyo3")
        || [
            "sandbox",
            "sandbox-py",
            "sandbox-capi",
            "sandbox-bench",
            "workspace-hack",
        ]
        .contains(&package)
}

/// (package, target, mode) → the feature sets of its units.
type Units = BTreeMap<(String, String, String), BTreeSet<Vec<String>>>;

fn unit_graph(root: &Path, selection: &[&str]) -> anyhow::Result<Units> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .env("RUSTC_BOOTSTRAP", "1")
        .arg("build")
        .args(selection)
        .args(["--unit-graph", "-Z", "unstable-options"])
        .output()
        .context("cannot run cargo build --unit-graph")?;
    if !output.status.success() {
        bail!(
            "cargo build --unit-graph failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let graph: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo's unit graph")?;
    let mut units = Units::new();
    for unit in graph["units"].as_array().into_iter().flatten() {
        let id = unit["pkg_id"].as_str().unwrap_or_default();
        // `registry+...#name@version` or `path+file:///.../name#version`.
        let package = match id.rsplit_once('#') {
            Some((_, rest)) if rest.contains('@') => rest.split('@').next().unwrap_or(rest),
            Some((source, _)) => source.rsplit('/').next().unwrap_or(source),
            None => id,
        }
        .to_string();
        let features = unit["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|feature| feature.as_str().map(String::from))
            .collect();
        units
            .entry((
                package,
                unit["target"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                unit["mode"].as_str().unwrap_or_default().to_string(),
            ))
            .or_default()
            .insert(features);
    }
    Ok(units)
}

/// Fails when a build that follows another would compile a dependency the other compiled
/// with other features.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for (follows, leads) in PAIRS {
        let led = unit_graph(root, leads)?;
        for (key, feature_sets) in unit_graph(root, follows)? {
            if allowed(&key.0) {
                continue;
            }
            for features in feature_sets {
                if !led.get(&key).is_some_and(|sets| sets.contains(&features)) {
                    problems.push(format!(
                        "`cargo build {}` compiles {} ({} {}) with [{}], which `cargo build {}` does not",
                        follows.join(" "),
                        key.0,
                        key.1,
                        key.2,
                        features.join(", "),
                        leads.join(" ")
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "dependencies would be compiled twice; add their features to \
             workspace-hack/Cargo.toml:\n{}",
            problems.join("\n")
        );
    }
    println!("features: the packages built alone reuse the dependencies already compiled");
    Ok(())
}
