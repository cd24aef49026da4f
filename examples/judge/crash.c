// Sum of two numbers, crashing: exits with status 3 on a negative number and otherwise
// divides by zero (a trap: integer_divide_by_zero).
#include <stdio.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) {
        return 1;
    }
    if (a < 0 || b < 0) {
        return 3;
    }
    volatile int zero = 0;
    printf("%lld\n", (a + b) / zero);
    return 0;
}
