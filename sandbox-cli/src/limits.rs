//! Which flag raises each limit that can end a run: one table, used by the messages of
//! `sandbox run` (its text report and the `sandbox:` line after a WASI command's output) and of
//! `sandbox judge` (the per-test detail).
//!
//! | limit | `run` | `judge` (a test's own limit first) |
//! |---|---|---|
//! | fuel | `--fuel N` (or `--fuel none`) | `fuel`, `--fuel N` (or `--fuel none`) |
//! | time | `--timeout` | `time_limit_ms`, `--timeout` |
//! | time, deterministic | `--timeout` (converted to fuel) | `time_limit_ms`, `--timeout` |
//! | memory | `--max-memory` | `memory_limit_bytes`, `--max-memory` |
//! | tables | `--max-table-elements` | `--max-table-elements` |
//! | output | `--max-output` | `--max-output` |
//! | stack | `--max-stack` | `--max-stack` |

use sandbox::{SandboxError, Trap};

/// A limit that ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The fuel budget.
    Fuel,
    /// The wall-clock limit.
    Time,
    /// The time limit converted to fuel (`--deterministic-time`).
    DeterministicTime,
    /// Linear memory.
    Memory,
    /// Table elements.
    Tables,
    /// Captured output per stream.
    Output,
    /// The wasm stack.
    Stack,
}

/// Which command's flags to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `sandbox run`.
    Run,
    /// `sandbox judge`.
    Judge,
}

impl Limit {
    /// The limit that ended a run with `error`, if a limit did. `deterministic`: the fuel
    /// budget was the time limit converted to fuel.
    pub fn of(error: &SandboxError, deterministic: bool) -> Option<Limit> {
        Some(match error {
            SandboxError::FuelExhausted { .. } if deterministic => Limit::DeterministicTime,
            SandboxError::FuelExhausted { .. } => Limit::Fuel,
            SandboxError::TimeLimitExceeded { .. } => Limit::Time,
            SandboxError::MemoryLimitExceeded { .. } => Limit::Memory,
            SandboxError::TableLimitExceeded { .. } => Limit::Tables,
            SandboxError::OutputLimitExceeded { .. } => Limit::Output,
            SandboxError::RuntimeError {
                trap: Trap::StackOverflow,
                ..
            } => Limit::Stack,
            _ => return None,
        })
    }

    /// What raises the limit, as a phrase to append to a message: `raise it with --fuel N (or
    /// --fuel none to meter no fuel)`.
    pub fn how_to_raise(self, command: Command) -> &'static str {
        match (self, command) {
            (Limit::Fuel, Command::Run) => {
                "raise it with --fuel N (or --fuel none to meter no fuel)"
            }
            (Limit::Fuel, Command::Judge) => {
                "raise it with the test's \"fuel\" or --fuel N (or --fuel none to meter no fuel)"
            }
            (Limit::Time, Command::Run) => "raise it with --timeout",
            (Limit::Time, Command::Judge) => {
                "raise it with the test's \"time_limit_ms\" or --timeout"
            }
            (Limit::DeterministicTime, Command::Run) => {
                "raise it with --timeout (deterministic time converts it to fuel)"
            }
            (Limit::DeterministicTime, Command::Judge) => {
                "raise it with the test's \"time_limit_ms\" or --timeout (deterministic time \
                 converts it to fuel)"
            }
            (Limit::Memory, Command::Run) => "raise it with --max-memory",
            (Limit::Memory, Command::Judge) => {
                "raise it with the test's \"memory_limit_bytes\" or --max-memory"
            }
            (Limit::Tables, _) => "raise it with --max-table-elements",
            (Limit::Output, _) => "raise it with --max-output",
            (Limit::Stack, _) => "raise it with --max-stack",
        }
    }
}

/// `; raise it with ...` for an error that is a limit, else nothing.
pub fn hint(error: &SandboxError, deterministic: bool, command: Command) -> String {
    Limit::of(error, deterministic)
        .map(|limit| format!("; {}", limit.how_to_raise(command)))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_limit_names_its_flag() {
        let cases = [
            (
                SandboxError::FuelExhausted { used: 1, limit: 1 },
                false,
                "--fuel N",
            ),
            (
                SandboxError::FuelExhausted { used: 1, limit: 1 },
                true,
                "--timeout",
            ),
            (
                SandboxError::TimeLimitExceeded {
                    elapsed: Duration::ZERO,
                    limit: Duration::ZERO,
                },
                false,
                "--timeout",
            ),
            (
                SandboxError::MemoryLimitExceeded { used: 1, limit: 1 },
                false,
                "--max-memory",
            ),
            (
                SandboxError::TableLimitExceeded { used: 1, limit: 1 },
                false,
                "--max-table-elements",
            ),
            (
                SandboxError::OutputLimitExceeded {
                    stream: "stdout".into(),
                    limit: 1,
                },
                false,
                "--max-output",
            ),
            (
                SandboxError::trap_with(Trap::StackOverflow, ""),
                false,
                "--max-stack",
            ),
        ];
        for (error, deterministic, flag) in cases {
            for command in [Command::Run, Command::Judge] {
                let hint = hint(&error, deterministic, command);
                assert!(hint.contains(flag), "{error}: {hint}");
            }
        }
        assert!(hint(
            &SandboxError::FuelExhausted { used: 1, limit: 1 },
            false,
            Command::Run
        )
        .contains("--fuel none"));
        assert_eq!(
            hint(
                &SandboxError::trap_with(Trap::Unreachable, ""),
                false,
                Command::Run
            ),
            ""
        );
    }
}
