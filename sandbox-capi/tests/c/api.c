/* The full API on both engines: options, engines, modules, instances, typed calls, results,
 * and every kind of bad argument answered with a typed error. */
#include <stdint.h>

#include "check.h"

static const char MODULE[] =
    "(module\n"
    "  (memory (export \"memory\") 1)\n"
    "  (func (export \"add\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)\n"
    "  (func (export \"mix\") (param i64 f32 f64) (result f64)\n"
    "    local.get 0 f64.convert_i64_s local.get 1 f64.promote_f32 f64.add local.get 2 f64.add)\n"
    "  (func (export \"spin\") (loop $l br $l))\n"
    "  (func (export \"div\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s))\n";

static void typed_calls(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    sandbox_engine_t *engine = NULL;
    OK(sandbox_engine_new(options, &engine));
    sandbox_options_delete(options);
    sandbox_backend_t actual = SANDBOX_BACKEND_WASMTIME;
    OK(sandbox_engine_backend(engine, &actual));
    CHECK(actual == backend);

    sandbox_module_t *module = NULL;
    OK(sandbox_module_new(engine, (const uint8_t *)MODULE, strlen(MODULE), &module));
    sandbox_engine_delete(engine); /* the module keeps what it needs */
    CHECK(sandbox_module_export_count(module) == 4);
    CHECK(strcmp(sandbox_module_export_name(module, 0), "add") == 0);
    CHECK(sandbox_module_export_name(module, 4) == NULL);

    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_module_delete(module); /* the instance keeps it alive */

    sandbox_val_t args[] = {sandbox_val_i32(40), sandbox_val_i32(2)};
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, "add", args, 2, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_OK);
    CHECK(sandbox_result_success(result));
    CHECK(sandbox_result_trap(result) == SANDBOX_TRAP_NONE);
    CHECK(sandbox_result_message(result) == NULL);
    size_t count = 0;
    const sandbox_val_t *values = sandbox_result_values(result, &count);
    CHECK(count == 1 && values != NULL && values[0].kind == SANDBOX_I32 && values[0].of.i32 == 42);
    CHECK(sandbox_result_fuel_consumed(result) > 0);
    CHECK(sandbox_result_peak_memory(result) == 65536);
    CHECK(sandbox_result_execution_time_sec(result) >= 0.0);
    int32_t code = 77;
    CHECK(!sandbox_result_exit_code(result, &code) && code == 77);
    const char *json = sandbox_result_json(result);
    CHECK(json != NULL && strstr(json, "\"kind\":\"ok\"") != NULL);
    CHECK(sandbox_result_json(result) == json); /* the same borrowed string */
    size_t len = 99;
    CHECK(sandbox_result_stdout(result, &len) == NULL && len == 0);
    sandbox_result_delete(result);

    sandbox_val_t mixed[] = {sandbox_val_i64(1), sandbox_val_f32(0.5f), sandbox_val_f64(0.25)};
    result = NULL;
    OK(sandbox_instance_call(instance, "mix", mixed, 3, &result));
    values = sandbox_result_values(result, &count);
    CHECK(count == 1 && values[0].kind == SANDBOX_F64 && values[0].of.f64 == 1.75);
    sandbox_result_delete(result);

    /* A trap is a result with its kind; the instance goes on. */
    sandbox_val_t zero[] = {sandbox_val_i32(1), sandbox_val_i32(0)};
    result = NULL;
    OK(sandbox_instance_call(instance, "div", zero, 2, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_TRAP);
    CHECK(sandbox_result_trap(result) == SANDBOX_TRAP_INTEGER_DIVIDE_BY_ZERO);
    CHECK(!sandbox_result_success(result));
    CHECK(sandbox_result_message(result) != NULL);
    CHECK(strstr(sandbox_result_json(result), "integer_divide_by_zero") != NULL);
    sandbox_result_delete(result);

    /* Calls that cannot start are errors, and the out-parameter is left alone. */
    sandbox_result_t *untouched = (sandbox_result_t *)&code;
    result = untouched;
    FAILS(sandbox_instance_call(instance, "nope", NULL, 0, &result),
          SANDBOX_OUTCOME_FUNCTION_NOT_FOUND);
    CHECK(result == untouched);
    FAILS(sandbox_instance_call(instance, "add", args, 1, &result), SANDBOX_OUTCOME_TYPE_MISMATCH);
    sandbox_val_t wrong_kind[] = {sandbox_val_i64(1), sandbox_val_i32(2)};
    FAILS(sandbox_instance_call(instance, "add", wrong_kind, 2, &result),
          SANDBOX_OUTCOME_TYPE_MISMATCH);
    sandbox_val_t bad_kind = sandbox_val_i32(1);
    bad_kind.kind = (sandbox_valkind_t)9;
    sandbox_val_t bad[] = {bad_kind, sandbox_val_i32(2)};
    FAILS(sandbox_instance_call(instance, "add", bad, 2, &result),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_instance_call(instance, "add", NULL, 2, &result),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_instance_call(instance, NULL, args, 2, &result),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_instance_call(instance, "add", args, 2, NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(result == untouched);
    sandbox_instance_delete(instance);
}

static void limits(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    OK(sandbox_options_set_max_fuel(options, 5000));
    sandbox_module_t *module = compile_on(options, MODULE);
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, "spin", NULL, 0, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_FUEL_EXHAUSTED);
    CHECK(sandbox_result_fuel_consumed(result) == 5000);
    sandbox_result_delete(result);
    sandbox_instance_delete(instance);
    sandbox_module_delete(module);

    OK(sandbox_options_set_max_fuel(options, SANDBOX_FUEL_UNLIMITED));
    OK(sandbox_options_set_max_execution_time_sec(options, 0.05));
    module = compile_on(options, MODULE);
    OK(sandbox_instance_new(module, NULL, &instance));
    OK(sandbox_instance_call(instance, "spin", NULL, 0, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_TIME_LIMIT_EXCEEDED);
    CHECK(sandbox_result_execution_time_sec(result) >= 0.05);
    sandbox_result_delete(result);
    sandbox_instance_delete(instance);
    sandbox_module_delete(module);

    /* An instance whose initial memory exceeds the limit is refused with that kind. */
    OK(sandbox_options_set_max_memory_bytes(options, 65536));
    static const char BIG[] = "(module (memory 2))";
    module = compile_on(options, BIG);
    instance = NULL;
    FAILS(sandbox_instance_new(module, NULL, &instance), SANDBOX_OUTCOME_MEMORY_LIMIT_EXCEEDED);
    CHECK(instance == NULL);
    sandbox_module_delete(module);
    sandbox_options_delete(options);
}

static void bad_arguments(void) {
    sandbox_options_t *options = sandbox_options_new();
    FAILS(sandbox_options_set_backend(options, (sandbox_backend_t)7),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_set_clock(options, (sandbox_clock_t)-1),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_set_max_execution_time_sec(options, -1.0),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_set_max_execution_time_sec(options, 0.0),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_set_max_stack_size(options, 10), SANDBOX_OUTCOME_UNSUPPORTED);
    FAILS(sandbox_options_allow_import(options, "env", NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_allow_import(options, "env", ""), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    OK(sandbox_options_allow_import(options, "env", "log"));
    FAILS(sandbox_options_set_max_fuel(NULL, 1), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    /* A handle of another type is noticed. */
    sandbox_wasi_t *wasi = sandbox_wasi_new();
    FAILS(sandbox_options_set_max_fuel((sandbox_options_t *)wasi, 1),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sandbox_wasi_delete(wasi);

    sandbox_options_t *preset = NULL;
    OK(sandbox_options_new_preset("minimal", &preset));
    CHECK(preset != NULL);
    sandbox_options_delete(preset);
    preset = NULL;
    FAILS(sandbox_options_new_preset("huge", &preset), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_new_preset(NULL, &preset), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_options_new_preset("minimal", NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(preset == NULL);

    sandbox_engine_t *engine = NULL;
    FAILS(sandbox_engine_new(options, NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    OK(sandbox_engine_new(NULL, &engine)); /* NULL options: the defaults */
    sandbox_module_t *module = NULL;
    const uint8_t garbage[] = {0, 'a', 's', 'm', 9, 9, 9, 9, 1};
    FAILS(sandbox_module_new(engine, garbage, sizeof garbage, &module),
          SANDBOX_OUTCOME_INVALID_MODULE);
    FAILS(sandbox_module_new(engine, NULL, 4, &module), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_module_new(engine, NULL, 0, &module), SANDBOX_OUTCOME_INVALID_MODULE);
    FAILS(sandbox_module_new(NULL, garbage, sizeof garbage, &module),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    static const char NEEDS_SYSTEM[] = "(module (import \"env\" \"system\" (func)))";
    FAILS(sandbox_module_new(engine, (const uint8_t *)NEEDS_SYSTEM, strlen(NEEDS_SYSTEM), &module),
          SANDBOX_OUTCOME_UNAUTHORIZED_IMPORT);
    CHECK(module == NULL);
    FAILS(sandbox_module_validate(garbage, sizeof garbage), SANDBOX_OUTCOME_INVALID_MODULE);
    OK(sandbox_module_validate((const uint8_t *)MODULE, strlen(MODULE)));
    sandbox_engine_delete(engine);

    sandbox_instance_t *instance = NULL;
    FAILS(sandbox_instance_new(NULL, NULL, &instance), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sandbox_result_t *result = NULL;
    FAILS(sandbox_run(NULL, NULL, &result), SANDBOX_OUTCOME_INVALID_ARGUMENT);

    /* Accessors of NULL objects answer, without crashing. */
    CHECK(sandbox_result_outcome(NULL) == SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(!sandbox_result_success(NULL));
    CHECK(sandbox_result_json(NULL) == NULL);
    size_t count = 5;
    CHECK(sandbox_result_values(NULL, &count) == NULL && count == 0);
    CHECK(sandbox_error_kind(NULL) == SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(sandbox_error_message(NULL) != NULL);
    CHECK(sandbox_module_export_count(NULL) == 0);
    CHECK(strcmp(sandbox_outcome_name(SANDBOX_OUTCOME_FUEL_EXHAUSTED), "fuel_exhausted") == 0);
    CHECK(strcmp(sandbox_outcome_name((sandbox_outcome_t)1000), "unknown") == 0);
    CHECK(strcmp(sandbox_backend_name(SANDBOX_BACKEND_WASMER), "wasmer") == 0);
    CHECK(sandbox_backend_available(SANDBOX_BACKEND_WASMTIME));
    CHECK(sandbox_backend_available(SANDBOX_BACKEND_WASMER));
    CHECK(!sandbox_backend_available((sandbox_backend_t)5));

    /* Every destructor takes NULL. */
    sandbox_error_delete(NULL);
    sandbox_options_delete(NULL);
    sandbox_engine_delete(NULL);
    sandbox_module_delete(NULL);
    sandbox_instance_delete(NULL);
    sandbox_result_delete(NULL);
    sandbox_wasi_delete(NULL);
    sandbox_cancel_handle_delete(NULL);
    sandbox_judge_report_delete(NULL);
    sandbox_options_delete(options);
}

/* A Mini program compiled from source: its export called; a program with errors refused
 * with every diagnostic in the message. */
static void mini(sandbox_backend_t backend) {
    static const char PROGRAM[] =
        "func gcd(a: int, b: int) -> int { while b != 0 { let t = b; b = a % b; a = t; } return a; }\n"
        "export func lcm(a: int, b: int) -> int { return a / gcd(a, b) * b; }\n";
    sandbox_options_t *options = options_for(backend);
    sandbox_engine_t *engine = NULL;
    OK(sandbox_engine_new(options, &engine));
    sandbox_options_delete(options);
    sandbox_module_t *module = NULL;
    OK(sandbox_module_new_mini(engine, PROGRAM, strlen(PROGRAM), &module));
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_val_t args[] = {sandbox_val_i64(4), sandbox_val_i64(6)};
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, "lcm", args, 2, &result));
    size_t count = 0;
    const sandbox_val_t *values = sandbox_result_values(result, &count);
    CHECK(count == 1 && values != NULL && values[0].kind == SANDBOX_I64 && values[0].of.i64 == 12);
    sandbox_result_delete(result);
    sandbox_instance_delete(instance);
    sandbox_module_delete(module);

    static const char BROKEN[] = "func main() {\n    let x: int = 1.5;\n    println(y);\n}\n";
    module = NULL;
    sandbox_error_t *error = sandbox_module_new_mini(engine, BROKEN, strlen(BROKEN), &module);
    CHECK(error != NULL && module == NULL);
    if (error != NULL) {
        CHECK(sandbox_error_kind(error) == SANDBOX_OUTCOME_COMPILATION_ERROR);
        CHECK(strcmp(sandbox_error_kind_name(error), "compilation_error") == 0);
        const char *message = sandbox_error_message(error);
        CHECK(strncmp(message, "<source>:2:", 11) == 0);
        CHECK(strstr(message, "\n<source>:3:") != NULL); /* both errors, each with its caret */
        CHECK(strchr(message, '^') != NULL);
        sandbox_error_delete(error);
    }
    static const char NOT_TEXT[] = "func main() { \xff }";
    FAILS(sandbox_module_new_mini(engine, NOT_TEXT, strlen(NOT_TEXT), &module),
          SANDBOX_OUTCOME_COMPILATION_ERROR);
    FAILS(sandbox_module_new_mini(engine, NULL, 5, &module), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_module_new_mini(NULL, PROGRAM, strlen(PROGRAM), &module),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sandbox_engine_delete(engine);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        typed_calls(BACKENDS[i]);
        limits(BACKENDS[i]);
        mini(BACKENDS[i]);
    }
    bad_arguments();
    return finish("api");
}
