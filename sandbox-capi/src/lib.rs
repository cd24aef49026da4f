//! `libsandbox`: the sandbox facade as a C library, with the header `include/sandbox.h`
//! (generated from this crate by cbindgen: `cargo xtask capi`).
//!
//! Two layers over one implementation:
//!
//! - [`brief`]: the product brief's API, with its exact names and shapes (`sandbox_config_t`,
//!   `sandbox_create`, `sandbox_load_module`, `sandbox_instantiate`, `sandbox_call` returning
//!   an `execution_result_t`, `execution_result_free`, `sandbox_destroy`) and its additions
//!   (`sandbox_create_with_backend`, `sandbox_last_error`, `sandbox_allow_import`);
//! - the full API, designed as wasmtime's and Extism's C APIs are: opaque handles
//!   ([`options`], [`module`], [`wasi`], [`instance`], [`result`], [`judge`]), fallible calls
//!   returning an owned [`error::sandbox_error_t`] (NULL on success), out-parameters written
//!   only on success, one `_delete` per type, host functions as C callbacks ([`host`]) and
//!   cancellation of a running call from another thread.
//!
//! Every entry point catches panics ([`ffi::guard`]) and checks its pointers, strings and
//! enum values before use: a NULL or out-of-range argument is an error, never undefined
//! behaviour the library could have detected.

// The C names are the contract (`sandbox_t`, `execution_result_t`, `SANDBOX_OUTCOME_OK`).
#![allow(non_camel_case_types)]

pub mod brief;
pub mod error;
pub mod ffi;
pub mod host;
pub mod instance;
pub mod judge;
pub mod module;
pub mod options;
pub mod result;
pub mod value;
pub mod wasi;

/// The library's major version (`SANDBOX_VERSION_MAJOR`).
pub const SANDBOX_VERSION_MAJOR: u32 = 0;
/// The library's minor version (`SANDBOX_VERSION_MINOR`).
pub const SANDBOX_VERSION_MINOR: u32 = 1;
/// The library's patch version (`SANDBOX_VERSION_PATCH`).
pub const SANDBOX_VERSION_PATCH: u32 = 0;

/// `max_fuel` value that turns fuel metering off (runs are then bounded by time only).
pub const SANDBOX_FUEL_UNLIMITED: u64 = u64::MAX;

const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(version) => version,
    Err(_) => panic!("the package version contains a NUL byte"),
};

/// The library's version, `"MAJOR.MINOR.PATCH"` (static; never NULL). Compare with the
/// `SANDBOX_VERSION_*` macros of the header the program was compiled against.
#[no_mangle]
pub extern "C" fn sandbox_version() -> *const std::ffi::c_char {
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    #[test]
    fn version_macros_match_the_package_version() {
        let version = format!(
            "{}.{}.{}",
            super::SANDBOX_VERSION_MAJOR,
            super::SANDBOX_VERSION_MINOR,
            super::SANDBOX_VERSION_PATCH
        );
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(super::VERSION.to_str().unwrap(), version);
    }
}
