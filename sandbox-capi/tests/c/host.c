/* Host functions as C callbacks on both engines: arguments and results, the guest's memory,
 * failures as traps, the user pointer and its finalizer (called exactly once). */
#include <stdint.h>

#include "check.h"

typedef struct {
    int finalized;
    int calls;
    char log[256];
} state_t;

static void finalize(void *data) { ((state_t *)data)->finalized++; }

/* env.log(ptr, len): appends the guest's string to the log. */
static sandbox_error_t *host_log(void *data, sandbox_caller_t *caller, const sandbox_val_t *args,
                                 size_t nargs, sandbox_val_t *results, size_t nresults) {
    state_t *state = (state_t *)data;
    (void)results;
    if (nargs != 2 || nresults != 0 || args[0].kind != SANDBOX_I32) {
        return sandbox_error_new("env.log: unexpected signature");
    }
    char buffer[64];
    size_t len = (size_t)args[1].of.i32;
    if (len >= sizeof buffer) return sandbox_error_new("env.log: string too long");
    sandbox_error_t *error =
        sandbox_caller_read_memory(caller, (uint64_t)(uint32_t)args[0].of.i32, (uint8_t *)buffer, len);
    if (error != NULL) return error; /* hand the library's error back: the run traps */
    buffer[len] = 0;
    strncat(state->log, buffer, sizeof state->log - strlen(state->log) - 1);
    state->calls++;
    return NULL;
}

/* env.scale(i64, f64) -> f64 */
static sandbox_error_t *host_scale(void *data, sandbox_caller_t *caller, const sandbox_val_t *args,
                                   size_t nargs, sandbox_val_t *results, size_t nresults) {
    (void)data;
    (void)caller;
    if (nargs != 2 || nresults != 1 || results[0].kind != SANDBOX_F64) {
        return sandbox_error_new("env.scale: unexpected signature");
    }
    results[0].of.f64 = (double)args[0].of.i64 * args[1].of.f64;
    return NULL;
}

/* env.fill(ptr, len): writes 'x' bytes into the guest's memory; reports its size. */
static sandbox_error_t *host_fill(void *data, sandbox_caller_t *caller, const sandbox_val_t *args,
                                  size_t nargs, sandbox_val_t *results, size_t nresults) {
    (void)data;
    (void)nargs;
    uint64_t size = 0;
    sandbox_error_t *error = sandbox_caller_memory_size(caller, &size);
    if (error != NULL) return error;
    uint8_t bytes[16];
    memset(bytes, 'x', sizeof bytes);
    size_t len = (size_t)args[1].of.i32;
    if (len > sizeof bytes) len = sizeof bytes;
    error = sandbox_caller_write_memory(caller, (uint64_t)(uint32_t)args[0].of.i32, bytes, len);
    if (error != NULL) return error;
    if (nresults == 1) results[0].of.i64 = (int64_t)size + (int64_t)sandbox_caller_fuel_consumed(caller) * 0;
    return NULL;
}

/* env.fail(): always fails. */
static sandbox_error_t *host_fail(void *data, sandbox_caller_t *caller, const sandbox_val_t *args,
                                  size_t nargs, sandbox_val_t *results, size_t nresults) {
    (void)data, (void)caller, (void)args, (void)nargs, (void)results, (void)nresults;
    return sandbox_error_new("the host said no");
}

/* env.liar() -> i32, but writes an f64. */
static sandbox_error_t *host_liar(void *data, sandbox_caller_t *caller, const sandbox_val_t *args,
                                  size_t nargs, sandbox_val_t *results, size_t nresults) {
    (void)data, (void)caller, (void)args, (void)nargs, (void)nresults;
    results[0] = sandbox_val_f64(1.0);
    return NULL;
}

static const char GUEST[] =
    "(module\n"
    "  (import \"env\" \"log\" (func $log (param i32 i32)))\n"
    "  (import \"env\" \"scale\" (func $scale (param i64 f64) (result f64)))\n"
    "  (import \"env\" \"fill\" (func $fill (param i32 i32) (result i64)))\n"
    "  (import \"env\" \"fail\" (func $fail))\n"
    "  (import \"env\" \"liar\" (func $liar (result i32)))\n"
    "  (memory (export \"memory\") 1)\n"
    "  (data (i32.const 16) \"hello, host\")\n"
    "  (func (export \"greet\") (param i32)\n"
    "    (loop $l\n"
    "      (call $log (i32.const 16) (i32.const 11))\n"
    "      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))\n"
    "      (br_if $l (i32.gt_s (local.get 0) (i32.const 0)))))\n"
    "  (func (export \"scale\") (param i64 f64) (result f64)\n"
    "    (call $scale (local.get 0) (local.get 1)))\n"
    "  (func (export \"fill\") (result i64 i32)\n"
    "    (call $fill (i32.const 100) (i32.const 4)) (i32.load (i32.const 100)))\n"
    "  (func (export \"fill_outside\") (drop (call $fill (i32.const 65534) (i32.const 4))))\n"
    "  (func (export \"log_outside\") (call $log (i32.const 65530) (i32.const 20)))\n"
    "  (func (export \"fail\") (call $fail))\n"
    "  (func (export \"liar\") (result i32) (call $liar)))\n";

static void define(sandbox_options_t *options, state_t *state) {
    sandbox_valkind_t log_params[] = {SANDBOX_I32, SANDBOX_I32};
    OK(sandbox_options_define_function(options, "env", "log", log_params, 2, NULL, 0, host_log,
                                       state, finalize));
    sandbox_valkind_t scale_params[] = {SANDBOX_I64, SANDBOX_F64};
    sandbox_valkind_t f64_result[] = {SANDBOX_F64};
    OK(sandbox_options_define_function(options, "env", "scale", scale_params, 2, f64_result, 1,
                                       host_scale, NULL, NULL));
    sandbox_valkind_t i64_result[] = {SANDBOX_I64};
    OK(sandbox_options_define_function(options, "env", "fill", log_params, 2, i64_result, 1,
                                       host_fill, NULL, NULL));
    OK(sandbox_options_define_function(options, "env", "fail", NULL, 0, NULL, 0, host_fail, NULL,
                                       NULL));
    sandbox_valkind_t i32_result[] = {SANDBOX_I32};
    OK(sandbox_options_define_function(options, "env", "liar", NULL, 0, i32_result, 1, host_liar,
                                       NULL, NULL));
}

static sandbox_result_t *call(sandbox_instance_t *instance, const char *name,
                              const sandbox_val_t *args, size_t nargs) {
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, name, args, nargs, &result));
    return result;
}

static void callbacks(sandbox_backend_t backend) {
    state_t state;
    memset(&state, 0, sizeof state);
    sandbox_options_t *options = options_for(backend);
    define(options, &state);
    sandbox_module_t *module = compile_on(options, GUEST);
    sandbox_options_delete(options);
    CHECK(state.finalized == 0); /* the module still holds the function */
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_module_delete(module);

    sandbox_val_t three[] = {sandbox_val_i32(3)};
    sandbox_result_t *result = call(instance, "greet", three, 1);
    CHECK(sandbox_result_success(result));
    CHECK(state.calls == 3);
    CHECK(strcmp(state.log, "hello, hosthello, hosthello, host") == 0);
    CHECK(sandbox_result_fuel_consumed(result) > 0);
    sandbox_result_delete(result);

    sandbox_val_t scale_args[] = {sandbox_val_i64(3), sandbox_val_f64(1.5)};
    result = call(instance, "scale", scale_args, 2);
    size_t count = 0;
    const sandbox_val_t *values = sandbox_result_values(result, &count);
    CHECK(count == 1 && values[0].kind == SANDBOX_F64 && values[0].of.f64 == 4.5);
    sandbox_result_delete(result);

    result = call(instance, "fill", NULL, 0);
    values = sandbox_result_values(result, &count);
    CHECK(count == 2 && values[0].of.i64 == 65536 && values[1].of.i32 == 0x78787878);
    sandbox_result_delete(result);

    /* Memory access outside the guest's memory, a failing host function and results of the
     * wrong kind end the run as traps that say why. */
    const char *expected[][2] = {{"fill_outside", "guest memory"},
                                 {"log_outside", "guest memory"},
                                 {"fail", "the host said no"},
                                 {"liar", "kind"}};
    for (size_t i = 0; i < 4; i++) {
        result = call(instance, expected[i][0], NULL, 0);
        CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_TRAP);
        CHECK(sandbox_result_trap(result) == SANDBOX_TRAP_OTHER);
        const char *message = sandbox_result_message(result);
        CHECK(message != NULL && strstr(message, expected[i][1]) != NULL);
        if (message != NULL && strstr(message, expected[i][1]) == NULL) {
            fprintf(stderr, "  %s: %s\n", expected[i][0], message);
        }
        sandbox_result_delete(result);
    }

    sandbox_instance_delete(instance);
    CHECK(state.finalized == 1);
}

static void ownership(void) {
    /* A definition that fails finalizes the data at once. */
    state_t state;
    memset(&state, 0, sizeof state);
    sandbox_options_t *options = sandbox_options_new();
    FAILS(sandbox_options_define_function(options, "env", "f", NULL, 0, NULL, 0, NULL, &state,
                                          finalize),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(state.finalized == 1);
    sandbox_valkind_t bad[] = {(sandbox_valkind_t)12};
    FAILS(sandbox_options_define_function(options, "env", "f", bad, 1, NULL, 0, host_fail,
                                          &state, finalize),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(state.finalized == 2);
    FAILS(sandbox_options_define_function(NULL, "env", "f", NULL, 0, NULL, 0, host_fail, &state,
                                          finalize),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(state.finalized == 3);
    FAILS(sandbox_options_define_function(options, "env", NULL, NULL, 0, NULL, 0, host_fail,
                                          &state, finalize),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(state.finalized == 4);

    /* Options, engines and modules share one definition: finalized when the last goes. */
    memset(&state, 0, sizeof state);
    OK(sandbox_options_define_function(options, "env", "fail", NULL, 0, NULL, 0, host_fail,
                                       &state, finalize));
    sandbox_engine_t *engine = NULL;
    OK(sandbox_engine_new(options, &engine));
    sandbox_options_delete(options);
    CHECK(state.finalized == 0);
    sandbox_engine_delete(engine);
    CHECK(state.finalized == 1);

    /* Replacing a definition finalizes the replaced one. */
    memset(&state, 0, sizeof state);
    options = sandbox_options_new();
    OK(sandbox_options_define_function(options, "env", "fail", NULL, 0, NULL, 0, host_fail,
                                       &state, finalize));
    OK(sandbox_options_define_function(options, "env", "fail", NULL, 0, NULL, 0, host_fail,
                                       &state, finalize));
    CHECK(state.finalized == 1);
    sandbox_options_delete(options);
    CHECK(state.finalized == 2);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        callbacks(BACKENDS[i]);
    }
    ownership();
    return finish("host");
}
