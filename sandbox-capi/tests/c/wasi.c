/* WASI runs on both engines, with modules built by clang + wasi-libc: arguments,
 * environment, stdin, exit codes, captured output, preopens, clocks, limits. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static void args_env_exit(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    sandbox_module_t *module = fixture_on(options, "hello.wasm");
    sandbox_options_delete(options);
    if (module == NULL) return;
    sandbox_wasi_t *wasi = sandbox_wasi_new();
    OK(sandbox_wasi_set_program_name(wasi, "hello"));
    OK(sandbox_wasi_push_arg(wasi, "3"));
    OK(sandbox_wasi_set_env(wasi, "GREETING", "bonjour"));
    OK(sandbox_wasi_set_env(wasi, "GREETING", "hi")); /* replaces */
    FAILS(sandbox_wasi_set_env(wasi, "A=B", "x"), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    FAILS(sandbox_wasi_push_arg(wasi, NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);

    sandbox_result_t *result = NULL;
    OK(sandbox_run(module, wasi, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_EXIT);
    int32_t code = -1;
    CHECK(sandbox_result_exit_code(result, &code) && code == 3);
    CHECK(!sandbox_result_success(result));
    CHECK(stdout_has(result, "hello from wasi\n"));
    CHECK(stdout_has(result, "argv[0]=hello\n"));
    CHECK(stdout_has(result, "argv[1]=3\n"));
    CHECK(stdout_has(result, "GREETING=hi\n"));
    size_t len = 0;
    const uint8_t *err = sandbox_result_stderr(result, &len);
    CHECK(err != NULL && len == 10 && memcmp(err, "to stderr\n", 10) == 0);
    CHECK(strstr(sandbox_result_json(result), "\"exit_code\":3") != NULL);
    sandbox_result_delete(result);

    /* Without settings: no arguments, no environment, exit 0 is success. */
    result = NULL;
    OK(sandbox_run(module, NULL, &result));
    CHECK(sandbox_result_success(result));
    CHECK(stdout_has(result, "GREETING=(unset)"));
    sandbox_result_delete(result);

    /* The same module as an instance: _start called by name. */
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, wasi, &instance));
    result = NULL;
    OK(sandbox_instance_call(instance, "_start", NULL, 0, &result));
    CHECK(sandbox_result_exit_code(result, NULL));
    CHECK(stdout_has(result, "GREETING=hi"));
    sandbox_result_delete(result);
    sandbox_instance_delete(instance);
    sandbox_wasi_delete(wasi);
    sandbox_module_delete(module);
}

static void stdin_and_limits(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    sandbox_module_t *sum = fixture_on(options, "sum.wasm");
    sandbox_wasi_t *wasi = sandbox_wasi_new();
    const char input[] = "40 2\n";
    OK(sandbox_wasi_set_stdin(wasi, (const uint8_t *)input, strlen(input)));
    sandbox_result_t *result = NULL;
    OK(sandbox_run(sum, wasi, &result));
    CHECK(sandbox_result_success(result));
    size_t len = 0;
    const uint8_t *out = sandbox_result_stdout(result, &len);
    CHECK(len == 3 && memcmp(out, "42\n", 3) == 0);
    sandbox_result_delete(result);
    OK(sandbox_wasi_set_stdin(wasi, NULL, 0));
    OK(sandbox_run(sum, wasi, &result));
    int32_t code = 0;
    CHECK(sandbox_result_exit_code(result, &code) && code == 2);
    sandbox_result_delete(result);
    sandbox_module_delete(sum);

    /* A run stopped by a limit keeps what it wrote. */
    OK(sandbox_options_set_max_fuel(options, SANDBOX_FUEL_UNLIMITED));
    OK(sandbox_options_set_max_execution_time_sec(options, 0.2));
    sandbox_module_t *spin = fixture_on(options, "spin_output.wasm");
    OK(sandbox_run(spin, NULL, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_TIME_LIMIT_EXCEEDED);
    CHECK(stdout_has(result, "partial stdout\n"));
    const uint8_t *err = sandbox_result_stderr(result, &len);
    CHECK(err != NULL && len == 15 && memcmp(err, "partial stderr\n", 15) == 0);
    sandbox_result_delete(result);
    sandbox_module_delete(spin);

    /* Output beyond the cap is cut there and flagged. */
    OK(sandbox_options_set_max_output_bytes(options, 8));
    sandbox_module_t *hello = fixture_on(options, "hello.wasm");
    OK(sandbox_run(hello, NULL, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_OUTPUT_LIMIT_EXCEEDED);
    out = sandbox_result_stdout(result, &len);
    CHECK(len == 8 && memcmp(out, "hello fr", 8) == 0);
    CHECK(sandbox_result_stdout_truncated(result));
    sandbox_result_delete(result);
    sandbox_module_delete(hello);

    /* Clocks: virtual by default (deterministic), denied on request. */
    OK(sandbox_options_set_max_output_bytes(options, 1 << 20));
    sandbox_module_t *clock = fixture_on(options, "time_random.wasm");
    OK(sandbox_run(clock, NULL, &result));
    CHECK(stdout_has(result, "realtime 946684800."));
    sandbox_result_delete(result);
    OK(sandbox_wasi_set_clock(wasi, SANDBOX_CLOCK_DENY));
    OK(sandbox_run(clock, wasi, &result));
    CHECK(stdout_has(result, "realtime denied"));
    sandbox_result_delete(result);
    FAILS(sandbox_wasi_set_clock(wasi, (sandbox_clock_t)3), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sandbox_module_delete(clock);

    /* A module that is not a command. */
    sandbox_module_t *lib = compile_on(options, "(module (func (export \"f\")))");
    result = NULL;
    FAILS(sandbox_run(lib, NULL, &result), SANDBOX_OUTCOME_FUNCTION_NOT_FOUND);
    CHECK(result == NULL);
    sandbox_module_delete(lib);
    sandbox_wasi_delete(wasi);
    sandbox_options_delete(options);
}

static void write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (file == NULL) return;
    fputs(text, file);
    fclose(file);
}

static void preopens(sandbox_backend_t backend) {
    char ro[] = "/tmp/sandbox-capi-ro-XXXXXX";
    char rw[] = "/tmp/sandbox-capi-rw-XXXXXX";
    CHECK(mkdtemp(ro) != NULL && mkdtemp(rw) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/in.txt", ro);
    write_file(path, "data for the guest\n");

    sandbox_options_t *options = options_for(backend);
    sandbox_module_t *files = fixture_on(options, "files.wasm");
    sandbox_options_delete(options);
    sandbox_wasi_t *wasi = sandbox_wasi_new();
    OK(sandbox_wasi_preopen_dir(wasi, ro, "/data", false));
    OK(sandbox_wasi_preopen_dir(wasi, rw, "/out", true));
    FAILS(sandbox_wasi_preopen_dir(wasi, "/no/such/dir", "/x", false), SANDBOX_OUTCOME_IO_ERROR);
    FAILS(sandbox_wasi_preopen_dir(wasi, ro, "/a/../b", false), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    OK(sandbox_wasi_push_arg(wasi, "cat:/data/in.txt"));
    OK(sandbox_wasi_push_arg(wasi, "put:/out/new.txt"));
    OK(sandbox_wasi_push_arg(wasi, "put:/data/nope.txt"));
    OK(sandbox_wasi_push_arg(wasi, "cat:/data/../../etc/passwd"));
    sandbox_result_t *result = NULL;
    OK(sandbox_run(files, wasi, &result));
    CHECK(sandbox_result_success(result));
    CHECK(stdout_has(result, "  content: data for the guest\ncat:/data/in.txt ok\n"));
    CHECK(stdout_has(result, "put:/out/new.txt ok"));
    CHECK(stdout_has(result, "put:/data/nope.txt denied"));
    CHECK(stdout_has(result, "cat:/data/../../etc/passwd denied"));
    sandbox_result_delete(result);
    snprintf(path, sizeof path, "%s/new.txt", rw);
    struct stat info;
    CHECK(stat(path, &info) == 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/nope.txt", ro);
    CHECK(stat(path, &info) != 0);
    snprintf(path, sizeof path, "%s/in.txt", ro);
    unlink(path);
    rmdir(ro);
    rmdir(rw);
    sandbox_wasi_delete(wasi);
    sandbox_module_delete(files);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        args_env_exit(BACKENDS[i]);
        stdin_and_limits(BACKENDS[i]);
        preopens(BACKENDS[i]);
    }
    return finish("wasi");
}
