/* The product brief's API as C code written against it declares it: if sandbox.h declared any
 * of these differently, this file would not compile (conflicting types). Also checks the
 * struct fields and enum constants by name. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"

sandbox_config_t sandbox_config_default(void);
sandbox_t *sandbox_create(sandbox_config_t config);
sandbox_t *sandbox_create_with_backend(sandbox_config_t config, sandbox_backend_t backend);
int sandbox_load_module(sandbox_t *sandbox, const uint8_t *bytes, size_t len);
int sandbox_instantiate(sandbox_t *sandbox);
execution_result_t sandbox_call(sandbox_t *sandbox, const char *func, const int64_t *args,
                                size_t nargs);
void execution_result_free(execution_result_t *result);
void sandbox_destroy(sandbox_t *sandbox);
const char *sandbox_last_error(const sandbox_t *sandbox);
int sandbox_allow_import(sandbox_t *sandbox, const char *module, const char *name);
const char *sandbox_version(void);

int main(void) {
    sandbox_config_t config = sandbox_config_default();
    uint64_t memory = config.max_memory_bytes;
    double seconds = config.max_execution_time_sec;
    uint64_t fuel = config.max_fuel;
    uint64_t stack = config.max_stack_size;
    CHECK(memory > 0 && seconds > 0 && fuel > 0 && stack > 0);

    execution_result_t result = {0};
    int64_t *values = result.return_values;
    size_t count = result.num_returns;
    double time = result.execution_time_sec;
    uint64_t consumed = result.fuel_consumed;
    uint64_t peak = result.peak_memory;
    char *message = result.error_message;
    bool success = result.success;
    sandbox_outcome_t outcome = result.outcome;
    int32_t exit_code = result.exit_code;
    CHECK(values == NULL && count == 0 && time == 0 && consumed == 0 && peak == 0);
    CHECK(message == NULL && !success && outcome == SANDBOX_OUTCOME_OK && exit_code == 0);
    execution_result_free(&result);

    const sandbox_outcome_t outcomes[] = {
        SANDBOX_OUTCOME_OK, SANDBOX_OUTCOME_TRAP, SANDBOX_OUTCOME_FUEL_EXHAUSTED,
        SANDBOX_OUTCOME_TIME_LIMIT_EXCEEDED, SANDBOX_OUTCOME_MEMORY_LIMIT_EXCEEDED};
    CHECK(sizeof outcomes / sizeof outcomes[0] == 5);
    sandbox_backend_t backends[] = {SANDBOX_BACKEND_WASMTIME, SANDBOX_BACKEND_WASMER};
    CHECK(backends[0] != backends[1]);
    CHECK(SANDBOX_VERSION_MAJOR >= 0 && SANDBOX_VERSION_MINOR >= 0 && SANDBOX_VERSION_PATCH >= 0);
    return finish("prototypes");
}
