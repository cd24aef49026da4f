/* What the C test programs share: CHECK macros, the engines to loop over, small modules. */
#ifndef SANDBOX_TEST_CHECK_H
#define SANDBOX_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

static int check_failures = 0;

/* Records a failed expectation and goes on (the program exits non-zero at the end). */
#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

/* Expects `call` (returning a sandbox_error_t *) to succeed; prints and frees any error. */
#define OK(call)                                                                       \
    do {                                                                               \
        sandbox_error_t *ok_error_ = (call);                                           \
        if (ok_error_ != NULL) {                                                       \
            fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #call,   \
                    sandbox_error_kind_name(ok_error_), sandbox_error_message(ok_error_)); \
            sandbox_error_delete(ok_error_);                                           \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

/* Expects `call` to fail with `kind`; frees the error. */
#define FAILS(call, kind)                                                              \
    do {                                                                               \
        sandbox_error_t *fails_error_ = (call);                                        \
        if (fails_error_ == NULL) {                                                    \
            fprintf(stderr, "%s:%d: %s succeeded, expected %s\n", __FILE__, __LINE__,   \
                    #call, #kind);                                                     \
            check_failures++;                                                          \
        } else {                                                                       \
            if (sandbox_error_kind(fails_error_) != (kind)) {                          \
                fprintf(stderr, "%s:%d: %s failed with %s (%s), expected %s\n",         \
                        __FILE__, __LINE__, #call, sandbox_error_kind_name(fails_error_), \
                        sandbox_error_message(fails_error_), #kind);                   \
                check_failures++;                                                      \
            }                                                                          \
            CHECK(strlen(sandbox_error_message(fails_error_)) > 0);                    \
            sandbox_error_delete(fails_error_);                                        \
        }                                                                              \
    } while (0)

/* The engines every test runs on. */
static const sandbox_backend_t BACKENDS[] = {SANDBOX_BACKEND_WASMTIME, SANDBOX_BACKEND_WASMER};
#define NUM_BACKENDS (sizeof(BACKENDS) / sizeof(BACKENDS[0]))

/* Options for `backend`, starting from the default preset. */
static inline sandbox_options_t *options_for(sandbox_backend_t backend) {
    sandbox_options_t *options = sandbox_options_new();
    OK(sandbox_options_set_backend(options, backend));
    return options;
}

/* An engine and a module compiled from `wat` on it (NULL on failure, reported). */
static inline sandbox_module_t *compile_on(const sandbox_options_t *options, const char *wat) {
    sandbox_engine_t *engine = NULL;
    sandbox_module_t *module = NULL;
    OK(sandbox_engine_new(options, &engine));
    if (engine != NULL) {
        OK(sandbox_module_new(engine, (const uint8_t *)wat, strlen(wat), &module));
    }
    sandbox_engine_delete(engine);
    return module;
}

/* The bytes of a checked-in fixture (conformance-tests/fixtures, or $SANDBOX_FIXTURES);
 * malloc'ed, NULL (reported) if unreadable. */
static inline uint8_t *read_fixture(const char *name, size_t *len) {
    const char *dir = getenv("SANDBOX_FIXTURES");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "conformance-tests/fixtures", name);
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        check_failures++;
        return NULL;
    }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    uint8_t *bytes = (uint8_t *)malloc(size > 0 ? (size_t)size : 1);
    *len = fread(bytes, 1, (size_t)size, file);
    fclose(file);
    return bytes;
}

/* A module compiled from a fixture file (NULL on failure, reported). */
static inline sandbox_module_t *fixture_on(const sandbox_options_t *options, const char *name) {
    size_t len = 0;
    uint8_t *bytes = read_fixture(name, &len);
    if (bytes == NULL) return NULL;
    sandbox_engine_t *engine = NULL;
    sandbox_module_t *module = NULL;
    OK(sandbox_engine_new(options, &engine));
    if (engine != NULL) OK(sandbox_module_new(engine, bytes, len, &module));
    sandbox_engine_delete(engine);
    free(bytes);
    return module;
}

/* Whether the captured stdout of `result` contains `text`. */
static inline int stdout_has(const sandbox_result_t *result, const char *text) {
    size_t len = 0;
    const uint8_t *out = sandbox_result_stdout(result, &len);
    if (out == NULL) return 0;
    char *copy = (char *)malloc(len + 1);
    memcpy(copy, out, len);
    copy[len] = 0;
    int found = strstr(copy, text) != NULL;
    free(copy);
    return found;
}

static inline int finish(const char *name) {
    if (check_failures > 0) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
