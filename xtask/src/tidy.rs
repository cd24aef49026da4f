//! Tidy checks: rules a compiler does not enforce. Also run as a test.

use anyhow::bail;
use std::path::{Path, PathBuf};

/// Fails on the `ignore` and `should_panic` test attributes anywhere in the workspace's Rust sources: a test
/// that cannot run belongs in `conformance-tests/divergences.txt` with a reason, and a test must
/// say what it expects rather than "something panics".
pub fn check(root: &Path) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for file in rust_files(root) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for forbidden in [concat!("#[", "ignore"), concat!("#[", "should_panic")] {
                if code.contains(forbidden) {
                    problems.push(format!(
                        "{}:{}: {forbidden}] is not allowed (see xtask/src/tidy.rs)",
                        file.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("tidy:\n{}", problems.join("\n"));
    }
    println!("tidy: ok");
    Ok(())
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && name != ".git" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_workspace_is_tidy() {
        super::check(&crate::workspace_root()).unwrap();
    }
}
