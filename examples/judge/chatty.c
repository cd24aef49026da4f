// Sum of two numbers, chatty: prints the answer, then debugging output without end.
#include <stdio.h>
#include <string.h>

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) {
        return 1;
    }
    printf("%lld\n", a + b);
    static char chunk[65536];
    memset(chunk, '.', sizeof chunk);
    for (;;) {
        fwrite(chunk, 1, sizeof chunk, stdout);
    }
    return 0;
}
