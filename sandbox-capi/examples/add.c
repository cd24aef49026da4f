/*
 * The product brief's C API: load a module, instantiate it, call `add`, print the result.
 *
 *   cargo xtask capi
 *   cc add.c $(PKG_CONFIG_PATH=target/debug pkg-config --cflags --libs sandbox) -o add
 *   ./add            # on the default engine (wasmtime)
 *   ./add wasmer     # on wasmer
 */
#include <stdio.h>
#include <string.h>

#include "sandbox.h"

static const char ADD_WAT[] =
    "(module\n"
    "  (func (export \"add\") (param i32 i32) (result i32)\n"
    "    local.get 0\n"
    "    local.get 1\n"
    "    i32.add))\n";

int main(int argc, char **argv) {
    sandbox_config_t config = sandbox_config_default();
    config.max_fuel = 1000000;
    config.max_execution_time_sec = 1.0;

    sandbox_t *sandbox = argc > 1 && strcmp(argv[1], "wasmer") == 0
                             ? sandbox_create_with_backend(config, SANDBOX_BACKEND_WASMER)
                             : sandbox_create(config);
    if (sandbox == NULL) {
        fprintf(stderr, "sandbox_create: %s\n", sandbox_last_error(NULL));
        return 1;
    }
    if (sandbox_load_module(sandbox, (const uint8_t *)ADD_WAT, strlen(ADD_WAT)) != 0 ||
        sandbox_instantiate(sandbox) != 0) {
        fprintf(stderr, "error: %s\n", sandbox_last_error(sandbox));
        sandbox_destroy(sandbox);
        return 1;
    }

    int64_t args[] = {5, 7};
    execution_result_t result = sandbox_call(sandbox, "add", args, 2);
    int status = 0;
    if (result.success) {
        printf("Result: %lld\n", (long long)result.return_values[0]);
        printf("Time: %.6f s, fuel: %llu, peak memory: %llu bytes\n", result.execution_time_sec,
               (unsigned long long)result.fuel_consumed, (unsigned long long)result.peak_memory);
    } else {
        fprintf(stderr, "%s: %s\n", sandbox_outcome_name(result.outcome), result.error_message);
        status = 1;
    }
    if (status == 0 && result.return_values[0] != 12) {
        status = 1;
    }
    execution_result_free(&result);
    sandbox_destroy(sandbox);
    printf("libsandbox %s (header %d.%d.%d)\n", sandbox_version(), SANDBOX_VERSION_MAJOR,
           SANDBOX_VERSION_MINOR, SANDBOX_VERSION_PATCH);
    return status;
}
