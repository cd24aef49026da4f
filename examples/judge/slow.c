// Sum of two numbers, too slow: "counts" up to the answer one step at a time, forever.
#include <stdio.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) {
        return 1;
    }
    volatile long long steps = 0;
    for (;;) {
        steps++;
    }
    printf("%lld\n", a + b);
    return 0;
}
