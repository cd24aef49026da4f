//! The judge from Python: one solution, many test cases, one verdict each (the Rust judge,
//! its report as the CLI's `--json` object).

use crate::config::{self, bytes};
use crate::errors::{bad_value, IntoPy};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use sandbox::judge::{parse_tests, Judge, Mode};
use sandbox::lang::{Lang, StagedScript};
use sandbox::SandboxError;
use std::path::PathBuf;

/// Judges `solution` (module bytes or WAT text; with `lang`, a script's source, or a Mini
/// program with `lang="mini"`) on `tests`
/// (the design's JSON test file, as text) and returns the report as JSON text.
#[pyfunction]
#[pyo3(signature = (config, solution, tests, jobs=0, backend=None, function=None,
                    deterministic_time=false, fuel=None, lang=None, interpreter=None))]
#[allow(clippy::too_many_arguments)]
pub fn judge(
    py: Python<'_>,
    config: &Bound<'_, PyDict>,
    solution: &Bound<'_, PyAny>,
    tests: &[u8],
    jobs: usize,
    backend: Option<&Bound<'_, PyAny>>,
    function: Option<String>,
    deterministic_time: bool,
    fuel: Option<u64>,
    lang: Option<&str>,
    interpreter: Option<PathBuf>,
) -> PyResult<String> {
    let parsed = config::parse(config)?;
    let runtime = match backend.filter(|backend| !backend.is_none()) {
        Some(backend) => config::runtime(backend).map_err(|_| {
            bad_value(
                "backend",
                "unknown runtime; runtimes are 'wasmtime' and 'wasmer'",
            )
        })?,
        None => parsed.runtime,
    };
    let tests = parse_tests(tests).map_err(|err| bad_value("tests", err))?;
    let solution = bytes(solution, "solution")?;
    // A Mini solution is compiled (a compile error is the verdict of every test); the others
    // name an interpreter.
    let mini = lang.is_some_and(|name| name.eq_ignore_ascii_case("mini"));
    let lang: Option<Lang> = lang
        .filter(|_| !mini)
        .map(|name| {
            name.parse()
                .map_err(|err: SandboxError| bad_value("lang", err))
        })
        .transpose()?;
    if lang.is_some() && function.is_some() {
        return Err(bad_value(
            "function",
            "a script is judged as a program (stdin to stdout), not by a function",
        ));
    }
    let mut config = parsed.config;
    // Reading a 25 MiB interpreter and staging the script happen without the GIL, as the
    // judging itself.
    let report = py.detach(move || {
        crate::sandbox::guarded(move || {
            let (module, _staged) = match lang {
                Some(lang) => {
                    let path = sandbox::lang::interpreter(lang, interpreter.as_deref())?;
                    let module = sandbox::read_module_file(&path, config.max_module_bytes)?;
                    let staged = StagedScript::from_source(lang, &solution, &[])?;
                    staged.configure(lang, &[], &mut config);
                    (module, Some(staged))
                }
                None => (solution, None),
            };
            let mut judge = Judge::on(runtime, config).jobs(jobs).fuel(fuel);
            let module = if mini {
                let file = sandbox::source::UNNAMED;
                let compiled = sandbox::source::utf8(&module, file)
                    .and_then(|text| sandbox::compile_mini(text, file));
                match compiled {
                    Ok(module) => module,
                    Err(error) => return Ok(judge.report_rejected(error, &tests)),
                }
            } else {
                module
            };
            if let Some(function) = function {
                judge = judge.mode(Mode::function(function));
            }
            if deterministic_time {
                judge = judge.deterministic_time();
            }
            Ok(judge.evaluate(&module, &tests))
        })
    });
    let report = report.into_py(py)?;
    serde_json::to_string(&report.to_json()).map_err(|err| bad_value("report", err))
}
