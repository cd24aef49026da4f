// Sum of two numbers, wrong: adds in 32-bit `int`, so large sums overflow (test 4).
#include <stdio.h>

int main(void) {
    int a, b;
    if (scanf("%d %d", &a, &b) != 2) {
        return 1;
    }
    // Unsigned arithmetic wraps like the two's-complement overflow a careless solution hits.
    printf("%d\n", (int)((unsigned)a + (unsigned)b));
    return 0;
}
