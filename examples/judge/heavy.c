// Sum of two numbers, correct but compute-heavy: 50 million loop iterations per test.
// Before printing the sum it runs a 64-bit xorshift generator 50 million steps from a state
// seeded by the input; the final state decides whether 1 is added to the sum, which it never
// is (xorshift never reaches 0 from a non-zero state), but no compiler can know that, so the
// work is done. A judge whose limit is time accepts it (tens to a few hundred milliseconds,
// under a 1000 ms limit, on either engine); a small fuel budget would stop it within a
// millisecond or two.
#include <stdint.h>
#include <stdio.h>

#define STEPS 50000000

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) {
        return 1;
    }
    uint64_t x = ((uint64_t)a ^ ((uint64_t)b << 1)) | 1;
    for (int32_t i = 0; i < STEPS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    printf("%lld\n", a + b + (x == 0));
    return 0;
}
