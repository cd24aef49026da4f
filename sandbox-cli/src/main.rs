//! `sandbox`: run, compile, inspect and judge WebAssembly under hard limits, on wasmtime or
//! wasmer.
//!
//! Thin by design: parse the command line, call the `sandbox` crate, print. The exit statuses
//! are part of the CLI contract; see [`status`] and the README.

mod cache;
mod compile;
mod demo;
mod demo_mini;
mod demo_service;
mod denials;
mod inspect;
mod judge;
mod lang;
mod limits;
mod run;
mod serve;
mod status;
mod units;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Run untrusted WebAssembly under hard limits on wasmtime or wasmer.
#[derive(Debug, Parser)]
#[command(name = "sandbox", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a module (.wasm or .wat): call an export with --invoke, else its `_start`.
    #[command(allow_negative_numbers = true)]
    Run(run::RunArgs),
    /// Compile WebAssembly text to a binary module, or a module ahead of time (--aot) to an
    /// artifact for one engine.
    Compile(compile::CompileArgs),
    /// Show a module's validity, imports, exports, memories, tables and size.
    Inspect(inspect::InspectArgs),
    /// Judge a solution on test cases: a verdict per test (Accepted, Wrong Answer, ...).
    Judge(judge::JudgeArgs),
    /// Run a bundled module on every compiled-in engine and watch each limit stop it.
    Demo,
    /// Serve the multi-tenant HTTP API for runs and judging (SQLite under --data-dir, or
    /// PostgreSQL shared with `sandbox worker`s).
    Serve(serve::ServeArgs),
    /// Run the service's jobs from its PostgreSQL database, without serving HTTP (any number
    /// of workers, on any number of hosts).
    Worker(serve::WorkerArgs),
    /// Manage the service's tenants: add, list, remove, rotate-key.
    Tenant(serve::TenantArgs),
}

fn main() -> ExitCode {
    // `sandbox runner` (internal): a worker's runner process. First, before anything else
    // can start a thread: it locks itself down on its only thread.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "runner")
    {
        return ExitCode::from(sandbox_server::runner::runner_main().clamp(0, 255) as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                status::USAGE
            } else {
                status::OK
            });
        }
    };
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Compile(args) => compile::compile(args),
        Command::Inspect(args) => inspect::inspect(args),
        Command::Judge(args) => judge::judge(args),
        Command::Demo => demo::demo(),
        Command::Serve(args) => serve::serve(args),
        Command::Worker(args) => serve::worker(args),
        Command::Tenant(args) => serve::tenant(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(status::TOOL_ERROR)
        }
    }
}
