/* Recursive Fibonacci: calls and integer adds. */
#include "kernel.h"

static int32_t fib(int32_t n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int32_t KERNEL(fib)(int32_t n) {
    return fib(n);
}
