/* The module cache (memory and disk) and ahead-of-time artifacts, on both engines. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "check.h"

static const char ADD[] =
    "(module (func (export \"add\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))";

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] != '.') n++;
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    char command[512];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
}

static int32_t call_add(const sandbox_module_t *module) {
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_val_t args[] = {sandbox_val_i32(20), sandbox_val_i32(22)};
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, "add", args, 2, &result));
    size_t count = 0;
    const sandbox_val_t *values = sandbox_result_values(result, &count);
    int32_t value = count == 1 ? values[0].of.i32 : -1;
    sandbox_result_delete(result);
    sandbox_instance_delete(instance);
    return value;
}

static void cache(sandbox_backend_t backend) {
    char dir[] = "/tmp/sandbox-capi-cache-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    sandbox_options_t *options = options_for(backend);
    OK(sandbox_options_set_cache(options, dir));
    sandbox_module_t *first = compile_on(options, ADD);
    CHECK(count_files(dir) > 0); /* stored on disk */
    sandbox_module_t *second = compile_on(options, ADD);
    CHECK(call_add(first) == 42 && call_add(second) == 42);
    sandbox_module_delete(first);
    sandbox_module_delete(second);
    OK(sandbox_options_set_cache(options, NULL)); /* memory only */
    sandbox_module_t *third = compile_on(options, ADD);
    CHECK(call_add(third) == 42);
    sandbox_module_delete(third);
    sandbox_options_delete(options);
    remove_tree(dir);
}

static void aot(sandbox_backend_t backend, sandbox_backend_t other) {
    char dir[] = "/tmp/sandbox-capi-aot-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/add.cwasm", dir);

    sandbox_options_t *options = options_for(backend);
    sandbox_engine_t *engine = NULL;
    OK(sandbox_engine_new(options, &engine));
    uint64_t size = 0;
    OK(sandbox_module_compile_aot(engine, (const uint8_t *)ADD, strlen(ADD), path, &size));
    CHECK(size > 0);
    OK(sandbox_module_compile_aot(engine, (const uint8_t *)ADD, strlen(ADD), path, NULL));
    sandbox_module_t *module = NULL;
    OK(sandbox_module_load_aot(engine, path, &module));
    CHECK(module != NULL && call_add(module) == 42);
    sandbox_module_delete(module);

    /* Another engine, a damaged file, garbage, no file: refused before any code is loaded. */
    sandbox_options_t *other_options = options_for(other);
    sandbox_engine_t *other_engine = NULL;
    OK(sandbox_engine_new(other_options, &other_engine));
    module = NULL;
    FAILS(sandbox_module_load_aot(other_engine, path, &module),
          SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT);
    FILE *file = fopen(path, "r+b");
    CHECK(file != NULL);
    if (file != NULL) {
        fseek(file, (long)size / 2, SEEK_SET);
        int byte = fgetc(file);
        fseek(file, (long)size / 2, SEEK_SET);
        fputc(byte ^ 0xff, file);
        fclose(file);
    }
    FAILS(sandbox_module_load_aot(engine, path, &module), SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT);
    file = fopen(path, "wb");
    if (file != NULL) {
        fputs("garbage, not an artifact", file);
        fclose(file);
    }
    FAILS(sandbox_module_load_aot(engine, path, &module), SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT);
    unlink(path);
    FAILS(sandbox_module_load_aot(engine, path, &module), SANDBOX_OUTCOME_IO_ERROR);
    FAILS(sandbox_module_load_aot(engine, NULL, &module), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    CHECK(module == NULL);
    FAILS(sandbox_module_compile_aot(engine, (const uint8_t *)"nope", 4, path, &size),
          SANDBOX_OUTCOME_INVALID_MODULE);

    sandbox_engine_delete(other_engine);
    sandbox_options_delete(other_options);
    sandbox_engine_delete(engine);
    sandbox_options_delete(options);
    remove_tree(dir);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        cache(BACKENDS[i]);
        aot(BACKENDS[i], BACKENDS[(i + 1) % NUM_BACKENDS]);
    }
    return finish("cache_aot");
}
