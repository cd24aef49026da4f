// Sum of two numbers, memory-hungry: keeps a 1 MiB table per step and never frees it.
#include <stdio.h>
#include <stdlib.h>

// Where the tables are kept, so the compiler cannot prove them unused.
void *volatile newest;

int main(void) {
    long long a, b;
    if (scanf("%lld %lld", &a, &b) != 2) {
        return 1;
    }
    for (;;) {
        char *block = malloc(1 << 20);
        if (block == NULL) {
            // Out of memory inside the module's own limits: fail loudly.
            return 2;
        }
        // Touch one byte per 64 KiB page and chain the tables together.
        for (int i = 0; i < (1 << 20); i += 65536) {
            block[i] = (char)i;
        }
        *(void **)block = newest;
        newest = block;
    }
}
