/*
 * Runs a WASI command through the full C API: `run_wasi [--backend wasmer] FILE.wasm [ARGS...]`.
 * The guest gets ARGS, stdin (read whole), the environment variables named in
 * $RUN_WASI_ENV ("KEY=VALUE;KEY=VALUE"), the current directory read-only at /work, a real
 * clock, no fuel limit and 60 s; its stdout and stderr are printed, its exit code returned.
 *
 *   run_wasi python.wasm -c 'print(6 * 7)'
 */
#define _DEFAULT_SOURCE /* strdup, strtok */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static uint8_t *read_all(FILE *file, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    uint8_t *bytes = malloc(cap);
    size_t got;
    while (bytes != NULL && (got = fread(bytes + n, 1, cap - n, file)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *grown = realloc(bytes, cap *= 2);
            if (grown == NULL) {
                free(bytes);
                return NULL;
            }
            bytes = grown;
        }
    }
    *len = n;
    return bytes;
}

static int fail(sandbox_error_t *error) {
    fprintf(stderr, "run_wasi: %s: %s\n", sandbox_error_kind_name(error), sandbox_error_message(error));
    sandbox_error_delete(error);
    return 125;
}

int main(int argc, char **argv) {
    int first = 1;
    sandbox_backend_t backend = SANDBOX_BACKEND_WASMTIME;
    if (argc > 2 && strcmp(argv[1], "--backend") == 0) {
        backend = strcmp(argv[2], "wasmer") == 0 ? SANDBOX_BACKEND_WASMER : SANDBOX_BACKEND_WASMTIME;
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: run_wasi [--backend wasmtime|wasmer] FILE.wasm [ARGS...]\n");
        return 2;
    }
    FILE *file = fopen(argv[first], "rb");
    if (file == NULL) {
        perror(argv[first]);
        return 2;
    }
    size_t len = 0;
    uint8_t *bytes = read_all(file, &len);
    fclose(file);

    sandbox_options_t *options = sandbox_options_new();
    sandbox_error_t *error = sandbox_options_set_backend(options, backend);
    if (error == NULL) error = sandbox_options_set_max_fuel(options, SANDBOX_FUEL_UNLIMITED);
    if (error == NULL) error = sandbox_options_set_max_execution_time_sec(options, 60.0);
    if (error == NULL) error = sandbox_options_set_max_memory_bytes(options, 512u << 20);
    if (error == NULL) error = sandbox_options_set_max_output_bytes(options, 16u << 20);
    sandbox_engine_t *engine = NULL;
    if (error == NULL) error = sandbox_engine_new(options, &engine);
    sandbox_options_delete(options);
    sandbox_module_t *module = NULL;
    if (error == NULL) error = sandbox_module_new(engine, bytes, len, &module);
    sandbox_engine_delete(engine);
    free(bytes);
    if (error != NULL) return fail(error);

    sandbox_wasi_t *wasi = sandbox_wasi_new();
    const char *name = strrchr(argv[first], '/');
    error = sandbox_wasi_set_program_name(wasi, name ? name + 1 : argv[first]);
    for (int i = first + 1; error == NULL && i < argc; i++) error = sandbox_wasi_push_arg(wasi, argv[i]);
    if (error == NULL) error = sandbox_wasi_set_clock(wasi, SANDBOX_CLOCK_REAL);
    if (error == NULL) error = sandbox_wasi_preopen_dir(wasi, ".", "/work", false);
    const char *env = getenv("RUN_WASI_ENV");
    if (env != NULL && error == NULL) {
        char *copy = strdup(env);
        for (char *pair = strtok(copy, ";"); pair != NULL && error == NULL; pair = strtok(NULL, ";")) {
            char *eq = strchr(pair, '=');
            if (eq == NULL) continue;
            *eq = 0;
            error = sandbox_wasi_set_env(wasi, pair, eq + 1);
        }
        free(copy);
    }
    size_t input_len = 0;
    uint8_t *input = read_all(stdin, &input_len);
    if (error == NULL) error = sandbox_wasi_set_stdin(wasi, input, input_len);
    free(input);
    sandbox_result_t *result = NULL;
    if (error == NULL) error = sandbox_run(module, wasi, &result);
    sandbox_wasi_delete(wasi);
    sandbox_module_delete(module);
    if (error != NULL) return fail(error);

    size_t out_len = 0, err_len = 0;
    const uint8_t *out = sandbox_result_stdout(result, &out_len);
    const uint8_t *err = sandbox_result_stderr(result, &err_len);
    if (out_len > 0) fwrite(out, 1, out_len, stdout);
    if (err_len > 0) fwrite(err, 1, err_len, stderr);
    int32_t code = 0;
    int status = 0;
    if (sandbox_result_exit_code(result, &code)) {
        status = code;
    } else if (!sandbox_result_success(result)) {
        fprintf(stderr, "run_wasi: %s\n", sandbox_result_message(result));
        status = 126;
    }
    fprintf(stderr, "run_wasi: %s on %s in %.3f s\n", sandbox_outcome_name(sandbox_result_outcome(result)),
            sandbox_backend_name(backend), sandbox_result_execution_time_sec(result));
    sandbox_result_delete(result);
    return status;
}
