/* One compiled module shared by many threads, an instance each; cancelling a running call
 * from another thread; an instance refusing a second concurrent call. Both engines. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

static const char MODULE[] =
    "(module\n"
    "  (import \"env\" \"started\" (func $started))\n"
    "  (func $fib (export \"fib\") (param i64) (result i64)\n"
    "    local.get 0 i64.const 2 i64.lt_s if (result i64) local.get 0 else\n"
    "    local.get 0 i64.const 1 i64.sub call $fib\n"
    "    local.get 0 i64.const 2 i64.sub call $fib i64.add end)\n"
    "  (func (export \"spin\") (call $started) (loop $l br $l))\n"
    "  (func (export \"one\") (result i32) i32.const 1))\n";

static atomic_int started;

static sandbox_error_t *host_started(void *data, sandbox_caller_t *caller,
                                     const sandbox_val_t *args, size_t nargs,
                                     sandbox_val_t *results, size_t nresults) {
    (void)data, (void)caller, (void)args, (void)nargs, (void)results, (void)nresults;
    atomic_store(&started, 1);
    return NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static sandbox_options_t *options(sandbox_backend_t backend) {
    sandbox_options_t *options = options_for(backend);
    OK(sandbox_options_define_function(options, "env", "started", NULL, 0, NULL, 0, host_started,
                                       NULL, NULL));
    return options;
}

typedef struct {
    const sandbox_module_t *module;
    int64_t n;
    int64_t value;
    int ok;
} job_t;

static void *fib_job(void *arg) {
    job_t *job = (job_t *)arg;
    sandbox_instance_t *instance = NULL;
    sandbox_error_t *error = sandbox_instance_new(job->module, NULL, &instance);
    if (error != NULL) {
        sandbox_error_delete(error);
        return NULL;
    }
    for (int i = 0; i < 20; i++) {
        sandbox_val_t args[] = {sandbox_val_i64(job->n)};
        sandbox_result_t *result = NULL;
        error = sandbox_instance_call(instance, "fib", args, 1, &result);
        if (error != NULL) {
            sandbox_error_delete(error);
            break;
        }
        size_t count = 0;
        const sandbox_val_t *values = sandbox_result_values(result, &count);
        job->ok = sandbox_result_success(result) && count == 1;
        job->value = count == 1 ? values[0].of.i64 : -1;
        sandbox_result_delete(result);
    }
    sandbox_instance_delete(instance);
    return NULL;
}

static void shared_module(sandbox_backend_t backend) {
    sandbox_options_t *opts = options(backend);
    sandbox_module_t *module = compile_on(opts, MODULE);
    sandbox_options_delete(opts);
    if (module == NULL) return;
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    job_t jobs[THREADS];
    sandbox_module_t *clones[THREADS];
    for (int i = 0; i < THREADS; i++) {
        clones[i] = sandbox_module_clone(module);
        jobs[i] = (job_t){clones[i], 15 + i, 0, 0};
        CHECK(pthread_create(&threads[i], NULL, fib_job, &jobs[i]) == 0);
    }
    sandbox_module_delete(module);
    const int64_t expected[THREADS] = {610, 987, 1597, 2584};
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].ok && jobs[i].value == expected[i]);
        sandbox_module_delete(clones[i]);
    }
    CHECK(sandbox_module_clone(NULL) == NULL);
}

typedef struct {
    sandbox_instance_t *instance;
    sandbox_result_t *result;
} spin_t;

static void *spin_job(void *arg) {
    spin_t *spin = (spin_t *)arg;
    OK(sandbox_instance_call(spin->instance, "spin", NULL, 0, &spin->result));
    return NULL;
}

static void cancellation(sandbox_backend_t backend) {
    sandbox_options_t *opts = options(backend);
    OK(sandbox_options_set_max_fuel(opts, SANDBOX_FUEL_UNLIMITED));
    OK(sandbox_options_set_max_execution_time_sec(opts, 60.0));
    sandbox_module_t *module = compile_on(opts, MODULE);
    sandbox_options_delete(opts);
    if (module == NULL) return;
    sandbox_instance_t *instance = NULL;
    OK(sandbox_instance_new(module, NULL, &instance));
    sandbox_cancel_handle_t *handle = NULL;
    OK(sandbox_instance_cancel_handle(instance, &handle));

    /* A call running on another thread is stopped. */
    atomic_store(&started, 0);
    spin_t spin = {instance, NULL};
    pthread_t thread;
    double begin = now();
    CHECK(pthread_create(&thread, NULL, spin_job, &spin) == 0);
    while (!atomic_load(&started)) sleep_ms(1);
    /* While it runs, the instance refuses another call. */
    sandbox_result_t *other = NULL;
    FAILS(sandbox_instance_call(instance, "one", NULL, 0, &other),
          SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sleep_ms(50);
    OK(sandbox_cancel(handle));
    pthread_join(thread, NULL);
    double elapsed = now() - begin;
    CHECK(spin.result != NULL);
    CHECK(sandbox_result_outcome(spin.result) == SANDBOX_OUTCOME_CANCELLED);
    CHECK(elapsed < 30.0);
    CHECK(sandbox_result_execution_time_sec(spin.result) >= 0.04);
    const char *json = sandbox_result_json(spin.result);
    CHECK(json != NULL && strstr(json, "cancelled") != NULL);
    sandbox_result_delete(spin.result);

    /* The instance serves the next call. */
    sandbox_result_t *result = NULL;
    OK(sandbox_instance_call(instance, "one", NULL, 0, &result));
    CHECK(sandbox_result_success(result));
    sandbox_result_delete(result);

    /* A cancel while no call runs stops the next call at once, and only that one. */
    OK(sandbox_cancel(handle));
    OK(sandbox_instance_call(instance, "one", NULL, 0, &result));
    CHECK(sandbox_result_outcome(result) == SANDBOX_OUTCOME_CANCELLED);
    sandbox_result_delete(result);
    OK(sandbox_instance_call(instance, "one", NULL, 0, &result));
    CHECK(sandbox_result_success(result));
    sandbox_result_delete(result);

    /* The handle outlives the instance harmlessly; a second handle works the same. */
    sandbox_cancel_handle_t *second = NULL;
    OK(sandbox_instance_cancel_handle(instance, &second));
    sandbox_instance_delete(instance);
    OK(sandbox_cancel(second));
    sandbox_cancel_handle_delete(second);
    sandbox_cancel_handle_delete(handle);
    FAILS(sandbox_cancel(NULL), SANDBOX_OUTCOME_INVALID_ARGUMENT);
    sandbox_module_delete(module);
}

int main(void) {
    for (size_t i = 0; i < NUM_BACKENDS; i++) {
        shared_module(BACKENDS[i]);
        cancellation(BACKENDS[i]);
    }
    return finish("threads");
}
