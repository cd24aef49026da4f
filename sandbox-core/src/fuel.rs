//! The fuel cost model both engines apply.
//!
//! Fuel is charged per executed operator, by a flat cost per operator kind. Both backends build
//! their engine's table from [`operator_cost`]: wasmtime through `Config::operator_cost` (its
//! per-operator `u8` table, with every run-time-variable cost set to zero) and wasmer through
//! the cost function of the sandbox's metering middleware. Because the cost is a function of the
//! operator *name* only, a run that completes consumes the same fuel on both engines.
//!
//! The model starts from the product brief's table:
//!
//! | operators | cost |
//! |---|---|
//! | structure that generates no code: `nop`, `drop`, `block`, `loop`, `else`, `end`, `unreachable`, `return` | 0 |
//! | `i32.mul`, `i64.mul` | 2 |
//! | calls: `call`, `call_indirect`, `call_ref`, `return_call*` | 5 |
//! | `memory.grow` | 255 |
//! | everything else | 1 |
//!
//! and [`FUNCTION_ENTRY_COST`] (1) each time a function is entered, because wasmtime charges it
//! unconditionally ("even empty functions consume some fuel") and wasmer's metering is made to
//! match.
//!
//! `memory.grow` costs 255 rather than the brief's 1000 because wasmtime's table stores one byte
//! per operator. Bulk operators (`memory.fill`, `memory.copy`, ...) cost a flat 1 whatever their
//! length: wasmer's metering cannot charge by a run-time operand, so neither engine does; the
//! wall-clock limit bounds them instead.

/// Fuel charged on entry to every wasm function, before its first operator.
pub const FUNCTION_ENTRY_COST: u64 = 1;

/// The largest cost any operator has under the model.
pub const MAX_OPERATOR_COST: u8 = 255;

/// The cost of one execution of the operator named `name`, using `wasmparser`'s operator variant
/// names (`I32Mul`, `Call`, `MemoryGrow`, ...), which are stable across `wasmparser` versions.
pub const fn operator_cost(name: &str) -> u8 {
    match name.as_bytes() {
        b"Nop" | b"Drop" | b"Block" | b"Loop" | b"Else" | b"End" | b"Unreachable" | b"Return" => 0,
        b"I32Mul" | b"I64Mul" => 2,
        b"Call"
        | b"CallIndirect"
        | b"CallRef"
        | b"ReturnCall"
        | b"ReturnCallIndirect"
        | b"ReturnCallRef" => 5,
        b"MemoryGrow" => MAX_OPERATOR_COST,
        _ => 1,
    }
}

/// A short, stable description of the cost model, part of every compiled-code fingerprint.
pub const COST_MODEL_ID: &str =
    "sandbox-fuel-v1: free=0 mul=2 call=5 memory.grow=255 other=1 entry=1";

/// SHA-256 over the whole cost model: every `wasmparser` operator name with its cost, the
/// function-entry cost and [`COST_MODEL_ID`]. Part of every code fingerprint, so changing a cost
/// invalidates cached code compiled under the old model.
pub fn cost_model_digest() -> [u8; 32] {
    use sha2::{Digest, Sha256};
    static DIGEST: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *DIGEST.get_or_init(|| {
        let mut hasher = Sha256::new();
        hasher.update(COST_MODEL_ID.as_bytes());
        hasher.update(FUNCTION_ENTRY_COST.to_le_bytes());
        macro_rules! absorb {
            ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
                $(
                    hasher.update(stringify!($op).as_bytes());
                    hasher.update([0, operator_cost(stringify!($op))]);
                )*
            };
        }
        wasmparser::for_each_operator!(absorb);
        hasher.finalize().into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_brief_table() {
        assert_eq!(operator_cost("I32Add"), 1);
        assert_eq!(operator_cost("I32Mul"), 2);
        assert_eq!(operator_cost("I64Mul"), 2);
        assert_eq!(operator_cost("Call"), 5);
        assert_eq!(operator_cost("CallIndirect"), 5);
        assert_eq!(operator_cost("MemoryGrow"), 255);
        assert_eq!(operator_cost("Nop"), 0);
        assert_eq!(operator_cost("End"), 0);
        assert_eq!(operator_cost("BrIf"), 1);
    }

    #[test]
    fn the_wasmparser_names_exist() {
        // Guards against a typo in the match: every name we price must be an operator name
        // `wasmparser` knows.
        macro_rules! names {
            ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
                &[$(stringify!($op)),*]
            };
        }
        let all: &[&str] = wasmparser::for_each_operator!(names);
        for priced in [
            "Nop",
            "Drop",
            "Block",
            "Loop",
            "Else",
            "End",
            "Unreachable",
            "Return",
            "I32Mul",
            "I64Mul",
            "Call",
            "CallIndirect",
            "CallRef",
            "ReturnCall",
            "ReturnCallIndirect",
            "ReturnCallRef",
            "MemoryGrow",
        ] {
            assert!(
                all.contains(&priced),
                "{priced} is not a wasmparser operator"
            );
        }
    }
}
