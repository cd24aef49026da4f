/* Dense matrix multiply of two n x n double matrices (n at most 200), filled
 * deterministically; returns the trace of the product, truncated. Floating-point
 * multiply-adds over memory. */
#include "kernel.h"

#define MAX_N 200
static double a[MAX_N * MAX_N];
static double b[MAX_N * MAX_N];
static double c[MAX_N * MAX_N];

int64_t KERNEL(matmul)(int32_t n) {
    if (n < 1) {
        return 0;
    }
    if (n > MAX_N) {
        n = MAX_N;
    }
    for (int32_t i = 0; i < n; i++) {
        for (int32_t j = 0; j < n; j++) {
            a[i * n + j] = (double)((i * 7 + j * 3) % 17) * 0.5;
            b[i * n + j] = (double)((i * 5 + j * 11) % 13) * 0.25;
            c[i * n + j] = 0.0;
        }
    }
    for (int32_t i = 0; i < n; i++) {
        for (int32_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            for (int32_t j = 0; j < n; j++) {
                c[i * n + j] += aik * b[k * n + j];
            }
        }
    }
    double trace = 0.0;
    for (int32_t i = 0; i < n; i++) {
        trace += c[i * n + i];
    }
    return (int64_t)trace;
}
