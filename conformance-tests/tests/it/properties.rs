//! Property tests: arbitrary bytes and arbitrary text never panic either engine's path, and
//! `add` wraps like `i32::wrapping_add` on every engine.

use conformance_tests::{fixture, Harness};
use proptest::prelude::*;
use sandbox::{BackendKind, SandboxConfig, WasmValue};

fn engines() -> [BackendKind; 2] {
    BackendKind::ALL
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for backend in engines() {
            let harness = Harness::new(backend);
            if let Err(err) = harness.try_load_bytes(&bytes, &SandboxConfig::default()) {
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend(tail);
        for backend in engines() {
            let _ = Harness::new(backend).try_load_bytes(&bytes, &SandboxConfig::default());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let wrapped = format!("(module {text})");
        for source in [text.as_str(), wrapped.as_str()] {
            for backend in engines() {
                let _ = Harness::new(backend)
                    .try_load_bytes(source.as_bytes(), &SandboxConfig::default());
            }
        }
    }

    #[test]
    fn add_wraps_like_i32_wrapping_add(a in any::<i32>(), b in any::<i32>()) {
        for backend in engines() {
            let harness = Harness::new(backend);
            let value = harness.value(
                "add.wat",
                "add",
                &[WasmValue::I32(a), WasmValue::I32(b)],
                &harness.config(),
            );
            prop_assert_eq!(value, WasmValue::I32(a.wrapping_add(b)));
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    // Every single-byte mutation of a real module: the kind of input a fuzzer finds first.
    let original = fixture("traps.wat");
    for backend in engines() {
        let harness = Harness::new(backend);
        for position in 8..original.len() {
            for value in [0x00, 0x7f, 0x80, 0xff] {
                let mut bytes = original.clone();
                bytes[position] = value;
                let Ok(module) = harness.try_load_bytes(&bytes, &harness.config()) else {
                    continue;
                };
                // What loads must also instantiate or fail cleanly.
                let _ = module.instantiate(&harness.config());
            }
        }
    }
}
