//! Wrong programs and their exact diagnostics: each `tests/errors/NAME.mini` fails to compile
//! with exactly `tests/errors/NAME.stderr`, every error rendered as
//! `Diagnostic::render("NAME.mini", source)` gives it (with the source line, the caret and
//! the help), joined by a blank line. `UPDATE_SNAPSHOTS=1 cargo test -p sandbox-lang --test
//! errors` writes the `.stderr` files from what the compiler says now (review them!).
//!
//! Below the snapshots, wrong programs the compiler once did not refuse (each was a compiler
//! bug: an invalid module, a trap where a value should be, or a stack overflow).

use std::path::{Path, PathBuf};

fn directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/errors")
}

/// What the compiler says about `source`, as the snapshots hold it.
fn rendered(file: &str, source: &str) -> Option<String> {
    let errors = sandbox_lang::compile(source).err()?;
    Some(
        errors
            .iter()
            .map(|error| error.render(file, source))
            .collect::<Vec<String>>()
            .join("\n"),
    )
}

#[test]
fn every_wrong_program_gives_its_exact_diagnostics() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value != "0");
    let mut programs: Vec<PathBuf> = std::fs::read_dir(directory())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "mini")
        })
        .collect();
    programs.sort();
    assert!(programs.len() >= 15, "only {} programs", programs.len());
    let mut failures = Vec::new();
    for path in &programs {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).unwrap();
        let Some(actual) = rendered(&file, &source) else {
            failures.push(format!("{file} compiles: it should not"));
            continue;
        };
        let snapshot = path.with_extension("stderr");
        if update {
            std::fs::write(&snapshot, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{file}: the diagnostics differ from {}\n--- expected\n{expected}--- actual\n{actual}",
                snapshot.display()
            )),
            Err(_) => failures.push(format!(
                "{file}: no {} (UPDATE_SNAPSHOTS=1 writes it)\n{actual}",
                snapshot.display()
            )),
        }
    }
    // A snapshot without its program is a leftover.
    for entry in std::fs::read_dir(directory()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|extension| extension == "stderr")
            && !path.with_extension("mini").exists()
        {
            failures.push(format!("{} has no program", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn each_snapshot_is_every_error_of_its_program_in_order() {
    // The rendering of the snapshots: one block per error, in the order of the source, each
    // starting `NAME.mini:LINE:COLUMN: error: `.
    let source = std::fs::read_to_string(directory().join("syntax_recovery.mini")).unwrap();
    let actual = rendered("syntax_recovery.mini", &source).unwrap();
    let positions: Vec<(usize, usize)> = actual
        .lines()
        .filter_map(|line| line.strip_prefix("syntax_recovery.mini:"))
        .map(|rest| {
            let mut parts = rest.split(':');
            let line = parts.next().unwrap().parse().unwrap();
            let column = parts.next().unwrap().parse().unwrap();
            (line, column)
        })
        .collect();
    assert!(positions.len() >= 8, "{actual}");
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{actual}"
    );
}

// -------------------------------------------------------------------------------------------
// Compiler bugs: wrong programs that compile.

/// `source` must be refused with a diagnostic (not compiled to a module, not a panic).
fn refused(source: &str) -> Result<(), String> {
    match sandbox_lang::compile(source) {
        Err(errors) if !errors.is_empty() => Ok(()),
        Err(_) => Err(format!("refused without a diagnostic: {source}")),
        Ok(wasm) => {
            let validity = match sandbox::ModuleInfo::parse(&wasm, &Default::default()) {
                Ok(_) => "a valid module".to_string(),
                Err(error) => format!("an INVALID module ({error})"),
            };
            Err(format!("compiles to {validity}: {source}"))
        }
    }
}

fn all_refused(sources: &[&str]) {
    let failures: Vec<String> = sources
        .iter()
        .filter_map(|source| refused(source).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_value_that_is_not_there_is_an_error() {
    let log = "func log(x: int) { println(x); }\n";
    all_refused(&[
        // Invalid modules (type mismatch: the call leaves nothing on the stack).
        &format!("{log}func main() {{ let xs = array(3, 0); xs[log(1)] = 2; }}"),
        &format!("{log}func main() {{ while log(1) {{ }} }}"),
        &format!("{log}func main() {{ if log(1) {{ }} }}"),
        &format!("{log}func main() {{ for i in 0..log(1) {{ }} }}"),
        // Valid modules that trap where the value should be.
        &format!("{log}func main() {{ let y = -log(1); }}"),
        &format!("{log}func main() {{ let y = log(1) as float; }}"),
        &format!("{log}func main() {{ if log(1) == log(2) {{ println(1); }} }}"),
        &format!("{log}func main() {{ let y = abs(log(1)); }}"),
        "func main() { let words = array(2, \"word\"); }",
        "func main() { let x = abs(\"s\"); }",
        "func main() { exit(\"s\"); }",
        "func main() { let x = -\"s\"; }",
        "func main() { let x = \"s\" as int; }",
    ]);
}

#[test]
fn an_operand_that_is_not_there_is_reported_where_it_is() {
    let source =
        "func log(x: int) { println(x); }\nfunc main() {\n    let z = log(1) + 1;\n    println(z);\n}\n";
    refused(source).unwrap();
    let errors = sandbox_lang::compile(source).unwrap_err();
    assert_eq!(errors[0].line_column(source).0, 3, "{errors:?}");
}

#[test]
fn arrays_of_arrays_are_refused_or_work() {
    all_refused(&[
        "func f(a: [[int]]) -> int { return a[0][0]; }\nfunc main() { println(1); }\n",
        "func g(a: [[int]]) { let b = a[0]; println(len(b)); }\nfunc main() { println(1); }\n",
    ]);
}

#[test]
fn exports_do_not_clash_with_the_module_s_own() {
    all_refused(&[
        "export func memory() -> int { return 1; }\n",
        "export func _start() {}\nfunc main() {}\n",
    ]);
}

/// Fixed: an argument already wrong made `print`/`println` report a second, misleading error
/// (`println` has nothing to print here) before the real one.
#[test]
fn a_wrong_argument_of_println_is_reported_once() {
    for source in [
        "func main() {\n    println(zzz);\n}\n",
        "func main() {\n    println(sqrt(4));\n}\n",
        "func main() {\n    println(1 + 2.5);\n}\n",
    ] {
        let errors = sandbox_lang::compile(source).unwrap_err();
        assert_eq!(errors.len(), 1, "{source}: {errors:?}");
    }
}

#[test]
fn deep_programs_are_refused_without_overflowing_the_stack() {
    // On a thread with the 2 MiB stack Rust gives spawned threads (the service compiles on
    // such threads): an overflow would abort the whole test process.
    let nested = format!(
        "func main() {{ let x = 0; {} x = 1; {} }}",
        "if true { ".repeat(20_000),
        "}".repeat(20_000)
    );
    let chain = format!(
        "func main() {{ let x = 0{}; println(x); }}",
        " + 1".repeat(100_000)
    );
    let casts = format!("func main() {{ let x = 1{}; }}", " as int".repeat(100_000));
    let else_ifs = format!(
        "func main() {{ let x = read_int(); if x == 0 {{ }}{} }}",
        (1..20_000)
            .map(|i| format!(" else if x == {i} {{ }}"))
            .collect::<String>()
    );
    let calls = format!(
        "func f(x: int) -> int {{ return x; }}\nfunc main() {{ println({}1{}); }}",
        "f(".repeat(20_000),
        ")".repeat(20_000)
    );
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for source in [nested, chain, casts, else_ifs, calls] {
                let errors = sandbox_lang::compile(&source).expect_err("refused");
                assert!(
                    errors.iter().any(|e| e.message.contains("too deeply")),
                    "{:?}",
                    &errors[..errors.len().min(3)]
                );
            }
        })
        .unwrap()
        .join()
        .unwrap();
    // Within the bound, deep programs still compile.
    let fine = format!(
        "func main() {{ let x = 0{}; println(x); }}",
        " + 1".repeat(100)
    );
    sandbox_lang::compile(&fine).unwrap();
}
