/* Sorts n pseudo-random 32-bit integers (n at most 1,000,000) with an in-place
 * quicksort (median of three, insertion sort for short runs); returns a checksum
 * of the sorted array. Comparisons, branches and swaps in memory. */
#include "kernel.h"

#define MAX_N 1000000
static int32_t values[MAX_N];

static void insertion_sort(int32_t *v, int32_t n) {
    for (int32_t i = 1; i < n; i++) {
        int32_t x = v[i];
        int32_t j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

static void swap(int32_t *x, int32_t *y) {
    int32_t t = *x;
    *x = *y;
    *y = t;
}

static void quicksort(int32_t *v, int32_t n) {
    while (n > 16) {
        int32_t mid = n / 2;
        if (v[mid] < v[0]) swap(&v[mid], &v[0]);
        if (v[n - 1] < v[0]) swap(&v[n - 1], &v[0]);
        if (v[n - 1] < v[mid]) swap(&v[n - 1], &v[mid]);
        int32_t pivot = v[mid];
        int32_t i = 0, j = n - 1;
        for (;;) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i >= j) break;
            swap(&v[i], &v[j]);
            i++;
            j--;
        }
        /* Recurse into the smaller part, loop on the larger: O(log n) stack. */
        int32_t left = j + 1;
        if (left < n - left) {
            quicksort(v, left);
            v += left;
            n -= left;
        } else {
            quicksort(v + left, n - left);
            n = left;
        }
    }
    insertion_sort(v, n);
}

int64_t KERNEL(sort)(int32_t n, int32_t seed) {
    if (n < 1) {
        return 0;
    }
    if (n > MAX_N) {
        n = MAX_N;
    }
    uint32_t state = (uint32_t)seed * 2654435761u + 1u;
    for (int32_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        values[i] = (int32_t)(state >> 1);
    }
    quicksort(values, n);
    int64_t checksum = 0;
    for (int32_t i = 0; i < n; i++) {
        checksum = checksum * 31 + values[i];
    }
    return checksum;
}
