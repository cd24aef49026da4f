//! The built `libsandbox.so` exports every function `include/sandbox.h` declares.
//!
//! Cargo builds the library (its `rlib`, `cdylib` and `staticlib` at once) for this
//! integration test, in the same invocation and with the same features as the rest of `cargo
//! test --workspace`: that is also how `cargo xtask ci` gets the libraries its C tests link,
//! without a second build of the engines under other features.

use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;

extern "C" {
    fn dlopen(filename: *const c_char, flags: i32) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

const RTLD_NOW: i32 = 2;

/// The function names the header declares (`name(` after a return type, at line start).
fn declared_functions() -> Vec<String> {
    let header = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include/sandbox.h");
    let text = std::fs::read_to_string(&header).expect("the header is checked in");
    let mut names = Vec::new();
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('*') || line.starts_with('/') {
            continue;
        }
        if line.starts_with("static inline") || line.starts_with("typedef") {
            continue;
        }
        let Some(open) = line.find('(') else { continue };
        let before = line[..open].trim_end();
        let name = before.rsplit([' ', '*']).next().unwrap_or("");
        if name.starts_with("sandbox_") || name.starts_with("execution_result_") {
            names.push(name.to_string());
        }
    }
    names
}

#[test]
fn the_shared_library_exports_every_declared_function() {
    let names = declared_functions();
    assert!(
        names.len() > 60,
        "only {} functions found in the header",
        names.len()
    );
    for brief in [
        "sandbox_create",
        "sandbox_call",
        "execution_result_free",
        "sandbox_destroy",
    ] {
        assert!(
            names.iter().any(|name| name == brief),
            "{brief} not declared"
        );
    }
    // Built for this test next to it: target/<profile>/deps/libsandbox_capi.so (installed as
    // libsandbox.so by `cargo xtask capi`).
    let exe = std::env::current_exe().unwrap();
    let library = exe.with_file_name("libsandbox_capi.so");
    assert!(library.is_file(), "{} was not built", library.display());
    let path = CString::new(library.to_str().unwrap()).unwrap();
    // SAFETY: loading the library this package builds; its initialisers are Rust's.
    let handle = unsafe { dlopen(path.as_ptr(), RTLD_NOW) };
    assert!(!handle.is_null(), "cannot dlopen {}", library.display());
    let missing: Vec<&String> = names
        .iter()
        .filter(|name| {
            let symbol = CString::new(name.as_str()).unwrap();
            // SAFETY: looking a symbol up in a loaded library.
            unsafe { dlsym(handle, symbol.as_ptr()) }.is_null()
        })
        .collect();
    assert!(missing.is_empty(), "declared but not exported: {missing:?}");
    assert!(
        library.with_file_name("libsandbox_capi.a").is_file(),
        "the static library was not built"
    );
}
