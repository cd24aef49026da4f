//! The conformance suite, instantiated once per backend.
//!
//! `suite.rs` holds the checks, written once over the trait. The `conformance!` macro below
//! turns each into a test per backend (`wasmtime::add_returns_the_sum`,
//! `wasmer::add_returns_the_sum`), routed through the divergence list.

mod cache;
mod cancel;
mod differential;
mod fastcall;
mod fixtures;
mod generated;
mod linking;
mod properties;
mod realworld;
mod suite;
mod wasi;

/// Every suite function, from whichever file holds it.
mod cases {
    pub use crate::cache::*;
    pub use crate::cancel::*;
    pub use crate::fastcall::*;
    pub use crate::linking::*;
    pub use crate::realworld::*;
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
    linked_module_imports_memory_function_global_and_table,
    exported_globals_memories_and_tables_are_reachable,
    unlinkable_imports_are_refused,
    traps_and_limits_in_linked_calls,
    linked_store_shares_one_fuel_budget,
    linked_store_shares_the_memory_limit,
    failed_instantiation_keeps_its_writes_to_imported_memory,
    reference_values_cross_the_boundary,
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
    gc_reference_signatures_are_unsupported,
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
    wasi_a_wrapped_function_works_as_the_first_call,
    wasi_without_preopens_sees_no_files,
    wasi_escapes_are_denied_under_a_root_preopen,
    wasi_root_preopen_is_the_guest_root,
    wasi_read_only_root_preopen_refuses_every_change,
    wasi_nested_preopen_under_the_root_preopen,
    wasi_nested_preopens_without_a_root_preopen,
    wasi_relative_guest_paths_start_at_the_root,
    wasi_imports_outside_the_policy_are_unauthorized,
    host_functions_read_guest_memory,
    host_function_errors_are_trap_other,
    host_functions_must_be_registered,
    wasi_exit_codes_cross_intact,
    wasi_stdio_answers_are_wasmtime_wasis,
    cache_off_compiles_every_time,
    cache_memory_layer_reuses_compiled_code,
    cache_disk_layer_is_reused_and_checks_the_policy,
    cache_bad_entries_are_misses_rebuilt_silently,
    cache_eviction_keeps_the_directory_under_its_bound,
    cache_concurrent_loads_store_one_good_entry,
    aot_round_trip_runs_without_compiling,
    aot_refuses_what_it_cannot_trust,
    pooled_instances_run_under_the_same_limits,
    pool_exhaustion_is_a_typed_error_and_slots_are_reused,
    time_limit_can_be_switched_off,
    wasi_sockets_link_and_fail_with_an_errno,
    wasi_preview0_programs_run_under_the_same_policy,
    wasi_reactor_is_initialized_before_its_first_call,
    wasi_reactor_default_export_runs_after_initialize,
    wasi_denied_clock_is_named_when_the_run_fails,
    real_world_cpython_runs_scripts,
    real_world_quickjs_needs_a_clock_and_says_so,
    cancel_stops_an_endless_loop_from_another_thread,
    cancel_before_a_call_ends_it_at_its_start,
    cancel_stops_a_loop_calling_a_host_function,
    cancel_works_without_fuel_metering,
    cancel_stops_a_wasi_command_and_keeps_its_output,
    cancel_handles_of_an_instance_share_one_request,
    time_limit_still_applies_while_a_cancel_handle_exists,
    cancel_with_the_time_limit_off_ends_the_next_call,
    fast_calls_return_what_calls_return,
    fast_calls_refuse_what_calls_refuse,
    fast_calls_keep_every_limit,
    fast_calls_leave_output_for_take_output,
    instances_added_after_a_call_run_under_the_store_budget,
}
