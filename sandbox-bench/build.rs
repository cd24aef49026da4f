//! Compiles the C compute kernels (`kernels/*.c`) natively, with the same optimisation level
//! as their WebAssembly builds (`-O2`), so benches can run `native/{kernel}` beside the
//! engines.

fn main() {
    let kernels = ["fib", "sieve", "matmul", "sort", "hash"];
    let mut build = cc::Build::new();
    build.opt_level(2).include("kernels").warnings(true);
    for kernel in kernels {
        build.file(format!("kernels/{kernel}.c"));
        println!("cargo:rerun-if-changed=kernels/{kernel}.c");
    }
    println!("cargo:rerun-if-changed=kernels/kernel.h");
    build.compile("sandbox_bench_kernels");
}
