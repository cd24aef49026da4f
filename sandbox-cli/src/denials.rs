//! What to tell the user when a run failed after the guest was denied something: the call,
//! the flag that denied it, and the flag that would grant it.

use sandbox::wasi::{Capability, Denial};
use sandbox::ExecutionResult;

/// One line per denial of `result` when the run did not succeed (a trap, a limit, a non-zero
/// exit); none when it succeeded, since a guest may probe a capability and do without it.
pub fn notes(result: &ExecutionResult) -> Vec<String> {
    if result.outcome.is_success() {
        return Vec::new();
    }
    result.denied.iter().map(note).collect()
}

/// `the guest's clock_time_get was denied (--clock deny); try --clock virtual`.
fn note(denial: &Denial) -> String {
    let call = match &denial.path {
        Some(path) => format!("the guest's {} of {path:?}", denial.function),
        None => format!("the guest's {}", denial.function),
    };
    let policy = denial
        .policy
        .strip_prefix("clock ")
        .map(|clock| format!("--clock {clock}"));
    match (denial.capability, policy.as_deref()) {
        (Capability::Clock | Capability::Random, Some(policy)) => format!(
            "{call} was denied ({policy}); try --clock virtual (deterministic) or --clock real"
        ),
        (Capability::Sleep, Some("--clock virtual")) => format!(
            "{call} (a sleep) was refused (--clock virtual: sleeping would reveal real time); \
             try --clock real"
        ),
        (Capability::Sleep, Some(policy)) => {
            format!("{call} (a sleep) was denied ({policy}); try --clock real")
        }
        (Capability::Network, _) => {
            format!("{call} was denied: the sandbox gives guests no network, no flag grants one")
        }
        (Capability::Filesystem, _) => format!(
            "{call} was denied (outside the preopened directories, or read-only); grant a \
             directory with --dir HOST::GUEST, or --dir-rw HOST::GUEST to write"
        ),
        (_, _) => format!("{call} was denied ({})", denial.policy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox::{BackendKind, Outcome, SandboxError, Trap};

    fn denial(function: &str, capability: Capability, policy: &str) -> Denial {
        Denial {
            function: function.into(),
            capability,
            policy: policy.into(),
            path: None,
        }
    }

    #[test]
    fn notes_name_the_call_and_the_flag() {
        let mut result = ExecutionResult::new(
            BackendKind::Wasmtime,
            Outcome::Failed(SandboxError::RuntimeError {
                trap: Trap::Unreachable,
                message: "wasm trap".into(),
            }),
        );
        result.denied = vec![
            denial("clock_time_get", Capability::Clock, "clock deny"),
            denial("poll_oneoff", Capability::Sleep, "clock virtual"),
            denial("sock_accept", Capability::Network, "no network"),
        ];
        let notes = notes(&result);
        assert_eq!(
            notes[0],
            "the guest's clock_time_get was denied (--clock deny); try --clock virtual \
             (deterministic) or --clock real"
        );
        assert!(notes[1].contains("try --clock real"));
        assert!(notes[2].contains("no network"));
        result.outcome = Outcome::Exit { code: 0 };
        assert!(
            super::notes(&result).is_empty(),
            "a successful run needs no notes"
        );
    }
}
