/* Sieve of Eratosthenes: counts the primes up to n (at most 4,000,000); byte
 * stores and strided loops over memory. */
#include "kernel.h"

#define MAX_N 4000000
static uint8_t composite[MAX_N + 1];

int32_t KERNEL(sieve)(int32_t n) {
    if (n < 2) {
        return 0;
    }
    if (n > MAX_N) {
        n = MAX_N;
    }
    for (int32_t i = 0; i <= n; i++) {
        composite[i] = 0;
    }
    int32_t count = 0;
    for (int32_t i = 2; i <= n; i++) {
        if (!composite[i]) {
            count++;
            for (int64_t j = (int64_t)i * i; j <= n; j += i) {
                composite[j] = 1;
            }
        }
    }
    return count;
}
