//! Exit statuses: the guest's own code when it exits, 0 for a successful call, and one
//! documented status per sandbox-enforced failure.

use sandbox::{Outcome, SandboxError};

/// Success.
pub const OK: u8 = 0;
/// The tool itself failed (unreadable file, unwritable output).
pub const TOOL_ERROR: u8 = 1;
/// The command line is wrong.
pub const USAGE: u8 = 2;

/// The status for an error that stopped a run (or stopped it from starting).
pub fn for_error(error: &SandboxError) -> u8 {
    match error.kind() {
        "invalid_module" => 3,
        "unauthorized_import" => 4,
        "link_error" => 5,
        "function_not_found" | "export_not_found" => 6,
        "type_mismatch" => 7,
        "unsupported" => 8,
        "incompatible_artifact" => 9,
        "pool_exhausted" => 10,
        "cancelled" => 11,
        "compilation_error" => 12,
        "io_error" => TOOL_ERROR,
        "output_limit_exceeded" => 120,
        "time_limit_exceeded" => 124,
        "fuel_exhausted" => 125,
        "trap" => 134,
        "memory_limit_exceeded" | "table_limit_exceeded" => 137,
        _ => TOOL_ERROR,
    }
}

/// Prints an error that stopped a run (or stopped it from starting) on stderr: a program
/// that did not compile as the compiler renders it (each error with its line and a caret),
/// anything else on one line.
pub fn print_error(error: &SandboxError) {
    match error {
        SandboxError::CompilationError {
            diagnostics,
            rendered,
            ..
        } => {
            eprint!("{rendered}");
            let file = diagnostics
                .first()
                .map_or("the program", |d| d.file.as_str());
            eprintln!(
                "error: could not compile {file} ({} error{})",
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            );
        }
        other => eprintln!("error: {other}"),
    }
}

/// The status for an outcome.
pub fn for_outcome(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Ok => OK,
        // Exit codes outside 0..=255 are truncated as a shell would.
        Outcome::Exit { code } => *code as u8,
        Outcome::Failed(error) => for_error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_distinct_per_failure_kind() {
        let errors = [
            SandboxError::InvalidModule {
                reason: String::new(),
                offset: None,
            },
            SandboxError::UnauthorizedImport {
                module: String::new(),
                name: String::new(),
            },
            SandboxError::LinkError {
                reason: String::new(),
            },
            SandboxError::FunctionNotFound {
                name: String::new(),
                available: vec![],
            },
            SandboxError::TypeMismatch {
                function: String::new(),
                expected: String::new(),
                given: String::new(),
            },
            SandboxError::Unsupported {
                reason: String::new(),
            },
            SandboxError::IncompatibleArtifact {
                reason: String::new(),
            },
            SandboxError::trap_with(sandbox::Trap::Unreachable, ""),
            SandboxError::FuelExhausted { used: 0, limit: 0 },
            SandboxError::TimeLimitExceeded {
                elapsed: Default::default(),
                limit: Default::default(),
            },
            SandboxError::MemoryLimitExceeded { used: 0, limit: 0 },
            SandboxError::PoolExhausted {
                resource: String::new(),
                limit: 0,
            },
            SandboxError::Cancelled {
                elapsed: Default::default(),
            },
            SandboxError::OutputLimitExceeded {
                stream: String::new(),
                limit: 0,
            },
            SandboxError::CompilationError {
                language: String::new(),
                diagnostics: vec![],
                rendered: String::new(),
            },
        ];
        let statuses: std::collections::HashSet<u8> = errors.iter().map(for_error).collect();
        assert_eq!(statuses.len(), errors.len());
        assert!(!statuses.contains(&OK) && !statuses.contains(&USAGE));
    }
}
