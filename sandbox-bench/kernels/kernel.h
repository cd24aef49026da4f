/* Shared by every kernel: how a function is exported.
 *
 * The same source is compiled twice: to WebAssembly by `cargo xtask fixtures`
 * (clang --target=wasm32-wasi -O2, no libc calls, no imports) and natively by
 * sandbox-bench's build.rs (cc crate, -O2). In wasm, KERNEL(name) exports the
 * function as `name`; natively the function keeps its C name `kernel_name`. */
#ifndef KERNEL_H
#define KERNEL_H

#include <stdint.h>

#ifdef __wasm__
#define KERNEL(name) __attribute__((export_name(#name))) kernel_##name
#else
#define KERNEL(name) kernel_##name
#endif

#endif
