/*
 * The C call bench: 1,000,000 `sandbox_call`s of a trivial export (`add`, two i32) on a live
 * instance, per engine, with the default configuration and a fuel budget no round exhausts
 * (metering on): the same work as the Rust bench `call/{engine}/add.wat`. Five rounds; prints one JSON line per engine with the median and
 * the median absolute deviation of the per-call time. Built and run by `cargo xtask bench`.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox.h"

#define CALLS 1000000
#define ROUNDS 5

static const char ADD_WAT[] =
    "(module (func (export \"add\") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof values[0], by_value);
    return values[n / 2];
}

static int bench(sandbox_backend_t backend) {
    sandbox_config_t config = sandbox_config_default();
    config.max_fuel = (uint64_t)1 << 60; /* the instance's budget: 4 fuel per call */
    sandbox_t *sandbox = sandbox_create_with_backend(config, backend);
    if (sandbox == NULL || sandbox_load_module(sandbox, (const uint8_t *)ADD_WAT, strlen(ADD_WAT)) != 0 ||
        sandbox_instantiate(sandbox) != 0) {
        fprintf(stderr, "setup failed: %s\n", sandbox_last_error(sandbox));
        sandbox_destroy(sandbox);
        return 1;
    }
    int64_t args[] = {5, 7};
    long long checksum = 0;
    for (int i = 0; i < CALLS / 10; i++) { /* warm-up */
        execution_result_t r = sandbox_call(sandbox, "add", args, 2);
        checksum += r.return_values[0];
        execution_result_free(&r);
    }
    double per_call[ROUNDS];
    for (int round = 0; round < ROUNDS; round++) {
        double start = now_ns();
        for (int i = 0; i < CALLS; i++) {
            execution_result_t r = sandbox_call(sandbox, "add", args, 2);
            if (!r.success) {
                fprintf(stderr, "call failed: %s\n", r.error_message);
                return 1;
            }
            checksum += r.return_values[0];
            execution_result_free(&r);
        }
        per_call[round] = (now_ns() - start) / CALLS;
    }
    double deviations[ROUNDS];
    double mid = median(per_call, ROUNDS);
    for (int i = 0; i < ROUNDS; i++) {
        deviations[i] = per_call[i] > mid ? per_call[i] - mid : mid - per_call[i];
    }
    printf("{\"case\": \"call\", \"backend\": \"%s\", \"calls\": %d, \"rounds\": %d, "
           "\"median_ns\": %.2f, \"mad_ns\": %.2f}\n",
           sandbox_backend_name(backend), CALLS, ROUNDS, mid, median(deviations, ROUNDS));
    sandbox_destroy(sandbox);
    return checksum == 12LL * (CALLS / 10 + (long long)CALLS * ROUNDS) ? 0 : 1;
}

int main(void) {
    int status = bench(SANDBOX_BACKEND_WASMTIME);
    status |= bench(SANDBOX_BACKEND_WASMER);
    return status;
}
