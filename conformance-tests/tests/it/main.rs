//! The conformance suite, instantiated once per backend.
//!
//! `suite.rs` holds the checks, written once over the trait. The `conformance!` macro below
//! turns each into a test per backend (`wasmtime::add_returns_the_sum`,
//! `wasmer::add_returns_the_sum`), routed through the divergence list.

mod differential;
mod fixtures;
mod generated;
mod properties;
mod suite;
mod wasi;

/// Every suite function, from whichever file holds it.
mod cases {
    pub use crate::suite::*;
    pub use crate::wasi::*;
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        /// The suite on wasmtime.
        mod wasmtime {
            $(
                #[test]
                fn $name() {
                    conformance_tests::run_case(
                        sandbox::BackendKind::Wasmtime,
                        stringify!($name),
                        crate::cases::$name,
                    );
                }
            )*
        }

        /// The suite on wasmer.
        mod wasmer {
            $(
                #[test]
                fn $name() {
                    conformance_tests::run_case(
                        sandbox::BackendKind::Wasmer,
                        stringify!($name),
                        crate::cases::$name,
                    );
                }
            )*
        }

        /// Every name the macro instantiates, so the divergence list can be checked for stale
        /// entries.
        pub const SUITE: &[&str] = &[$(stringify!($name)),*];
    };
}

conformance! {
    add_returns_the_sum,
    add_wraps_like_i32_wrapping_add,
    numeric_types_cross_the_boundary,
    nan_bits_survive_the_round_trip,
    traps_map_to_the_closed_enum,
    deep_recursion_overflows_a_small_stack,
    deep_recursion_under_a_large_stack_limit_traps_without_crashing,
    fuel_exhaustion_stops_a_long_loop,
    fuel_consumed_follows_the_cost_model,
    fuel_budget_is_per_instance,
    time_limit_stops_an_infinite_loop_without_fuel,
    time_limit_applies_in_a_start_function,
    fuel_limit_applies_in_a_start_function,
    memory_limit_at_instantiation,
    memory_limit_on_growth,
    growth_past_the_module_maximum_returns_minus_one,
    peak_memory_is_reported,
    table_limit_at_instantiation,
    table_growth_is_bounded,
    table_growth_in_a_start_function_returns_minus_one,
    unauthorized_imports_are_refused_before_instantiation,
    allowed_but_unprovided_imports_are_link_errors,
    invalid_and_truncated_bytes_are_invalid_modules,
    module_size_limit_is_enforced,
    function_not_found_lists_the_exports,
    wrong_argument_count_and_types_are_type_mismatches,
    non_numeric_signatures_are_unsupported,
    state_is_kept_across_calls,
    reset_gives_a_fresh_instance_and_refills_fuel,
    session_loads_from_a_file,
    simd_runs_or_is_refused_cleanly,
    unsupported_features_are_refused_cleanly,
    capabilities_are_declared,
    wasi_sum_reads_stdin,
    wasi_args_env_and_exit_code,
    wasi_output_flood_is_capped_on_stdout,
    wasi_output_flood_is_capped_on_stderr,
    wasi_failed_run_keeps_partial_output,
    wasi_virtual_clock_and_random_are_deterministic,
    wasi_denied_clock_and_random_fail,
    wasi_real_clock_reads_the_host_time,
    wasi_escapes_are_denied_and_host_files_unchanged,
    wasi_symlink_made_by_the_guest_does_not_escape,
    wasi_preopens_read_and_write_as_granted,
    wasi_without_preopens_sees_no_files,
    wasi_imports_outside_the_policy_are_unauthorized,
    host_functions_read_guest_memory,
    host_function_errors_are_trap_other,
    host_functions_must_be_registered,
    wasi_exit_codes_cross_intact,
}
