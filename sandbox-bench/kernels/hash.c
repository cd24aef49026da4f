/* FNV-1a (64-bit) over n bytes of a deterministic buffer, then a
 * multiply-xorshift finaliser; 64-bit multiplies and byte loads. */
#include "kernel.h"

#define BUFFER 65536
static uint8_t buffer[BUFFER];

int64_t KERNEL(hash)(int32_t n) {
    for (int32_t i = 0; i < BUFFER; i++) {
        buffer[i] = (uint8_t)(i * 131 + (i >> 7));
    }
    uint64_t h = 14695981039346656037ull;
    for (int32_t i = 0; i < n; i++) {
        h ^= buffer[i & (BUFFER - 1)];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (int64_t)h;
}
