//! Values crossing the boundary: `sandbox_valkind_t` and the tagged union `sandbox_val_t`.

use crate::error::Error;
use facade::{ValType, WasmValue};

/// The type of a value: the four numeric types of WebAssembly.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_valkind_t {
    /// 32-bit integer (`of.i32`).
    SANDBOX_I32 = 0,
    /// 64-bit integer (`of.i64`).
    SANDBOX_I64 = 1,
    /// 32-bit float (`of.f32`).
    SANDBOX_F32 = 2,
    /// 64-bit float (`of.f64`).
    SANDBOX_F64 = 3,
}

/// A `sandbox_valkind_t` as C passes it: read as an integer and checked.
pub type RawValKind = u32;

/// The payload of a `sandbox_val_t`, read according to its kind.
#[repr(C)]
#[derive(Clone, Copy)]
pub union sandbox_valunion_t {
    /// For `SANDBOX_I32`.
    pub i32: i32,
    /// For `SANDBOX_I64`.
    pub i64: i64,
    /// For `SANDBOX_F32`.
    pub f32: f32,
    /// For `SANDBOX_F64`.
    pub f64: f64,
}

/// A value: its kind and its payload. Build one with `sandbox_val_i32()` and its siblings, or by hand
/// (`(sandbox_val_t){.kind = SANDBOX_I32, .of.i32 = 5}`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct sandbox_val_t {
    /// The kind (a `sandbox_valkind_t`); any other value is refused.
    pub kind: RawValKind,
    /// The payload.
    pub of: sandbox_valunion_t,
}

impl sandbox_valkind_t {
    /// The kind C passed, checked.
    pub fn from_raw(raw: RawValKind) -> Result<Self, Error> {
        use sandbox_valkind_t::*;
        Ok(match raw {
            0 => SANDBOX_I32,
            1 => SANDBOX_I64,
            2 => SANDBOX_F32,
            3 => SANDBOX_F64,
            other => {
                return Err(Error::invalid_argument(format!(
                    "{other} is not a sandbox_valkind_t (SANDBOX_I32, SANDBOX_I64, SANDBOX_F32, SANDBOX_F64)"
                )))
            }
        })
    }

    /// The WebAssembly type.
    pub fn val_type(self) -> ValType {
        match self {
            sandbox_valkind_t::SANDBOX_I32 => ValType::I32,
            sandbox_valkind_t::SANDBOX_I64 => ValType::I64,
            sandbox_valkind_t::SANDBOX_F32 => ValType::F32,
            sandbox_valkind_t::SANDBOX_F64 => ValType::F64,
        }
    }

    /// The kind of a WebAssembly type, if C can hold it.
    pub fn of(ty: ValType) -> Option<Self> {
        Some(match ty {
            ValType::I32 => sandbox_valkind_t::SANDBOX_I32,
            ValType::I64 => sandbox_valkind_t::SANDBOX_I64,
            ValType::F32 => sandbox_valkind_t::SANDBOX_F32,
            ValType::F64 => sandbox_valkind_t::SANDBOX_F64,
            _ => return None,
        })
    }
}

impl sandbox_val_t {
    /// A value of `kind` holding zero.
    pub fn zero(kind: sandbox_valkind_t) -> Self {
        sandbox_val_t {
            kind: kind as RawValKind,
            of: sandbox_valunion_t { i64: 0 },
        }
    }

    /// The value C passed, checked.
    pub fn to_wasm(self) -> Result<WasmValue, Error> {
        // SAFETY: every field of the union is plain data of at most 8 bytes, and C wrote the
        // field its kind names (reading another one gives garbage bits, never UB).
        Ok(unsafe {
            match sandbox_valkind_t::from_raw(self.kind)? {
                sandbox_valkind_t::SANDBOX_I32 => WasmValue::I32(self.of.i32),
                sandbox_valkind_t::SANDBOX_I64 => WasmValue::I64(self.of.i64),
                sandbox_valkind_t::SANDBOX_F32 => WasmValue::F32(self.of.f32),
                sandbox_valkind_t::SANDBOX_F64 => WasmValue::F64(self.of.f64),
            }
        })
    }

    /// A numeric value for C (`None` for references and vectors, which do not cross).
    pub fn from_wasm(value: &WasmValue) -> Option<Self> {
        let (kind, of) = match *value {
            WasmValue::I32(v) => (
                sandbox_valkind_t::SANDBOX_I32,
                sandbox_valunion_t { i32: v },
            ),
            WasmValue::I64(v) => (
                sandbox_valkind_t::SANDBOX_I64,
                sandbox_valunion_t { i64: v },
            ),
            WasmValue::F32(v) => (
                sandbox_valkind_t::SANDBOX_F32,
                sandbox_valunion_t { f32: v },
            ),
            WasmValue::F64(v) => (
                sandbox_valkind_t::SANDBOX_F64,
                sandbox_valunion_t { f64: v },
            ),
            _ => return None,
        };
        Some(sandbox_val_t {
            kind: kind as RawValKind,
            of,
        })
    }
}

/// A value of the product brief's API (`int64_t`) as an argument of type `ty`: integers
/// must fit the type (an `i32` accepts -2^31 ..= 2^32-1, unsigned values wrapping as C does),
/// floats take the integer's value (`3` is `3.0`).
#[inline]
pub fn from_i64(ty: ValType, value: i64, function: &str, index: usize) -> Result<WasmValue, Error> {
    match ty {
        ValType::I32 if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) => {
            Ok(WasmValue::I32(value as i32))
        }
        ValType::I64 => Ok(WasmValue::I64(value)),
        ValType::F32 => Ok(WasmValue::F32(value as f32)),
        ValType::F64 => Ok(WasmValue::F64(value as f64)),
        other => Err(not_convertible(other, value, function, index)),
    }
}

/// Why `value` cannot be an argument of type `ty` (off the hot path).
#[cold]
#[inline(never)]
fn not_convertible(ty: ValType, value: i64, function: &str, index: usize) -> Error {
    use crate::error::sandbox_outcome_t::*;
    if ty == ValType::I32 {
        Error::new(
            SANDBOX_OUTCOME_TYPE_MISMATCH,
            format!("argument {index} of {function} is an i32; {value} does not fit in 32 bits"),
        )
    } else {
        Error::new(
            SANDBOX_OUTCOME_UNSUPPORTED,
            format!("argument {index} of {function} is a {ty}, which an int64_t cannot give"),
        )
    }
}

/// A result as the product brief's `int64_t`: integers sign-extended, floats converted to
/// the nearest integer toward zero (saturating; NaN is 0), references 0 when null, else 1.
pub fn to_i64(value: &WasmValue) -> i64 {
    match *value {
        WasmValue::I32(v) => i64::from(v),
        WasmValue::I64(v) => v,
        WasmValue::F32(v) => v as i64,
        WasmValue::F64(v) => v as i64,
        WasmValue::V128(v) => v as i64,
        WasmValue::FuncRef { null } => i64::from(!null),
        WasmValue::ExternRef(r) => r.map_or(0, i64::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brief_arguments_follow_the_signature() {
        assert_eq!(
            from_i64(ValType::I32, -5, "f", 0).unwrap(),
            WasmValue::I32(-5)
        );
        assert_eq!(
            from_i64(ValType::I32, 0xffff_ffff, "f", 0).unwrap(),
            WasmValue::I32(-1)
        );
        assert!(from_i64(ValType::I32, 1 << 40, "f", 0).is_err());
        assert_eq!(
            from_i64(ValType::F64, 3, "f", 0).unwrap(),
            WasmValue::F64(3.0)
        );
        assert_eq!(
            from_i64(ValType::F32, -2, "f", 0).unwrap(),
            WasmValue::F32(-2.0)
        );
        assert!(from_i64(ValType::ExternRef, 0, "f", 0).is_err());
    }

    #[test]
    fn brief_results_are_converted_to_int64() {
        assert_eq!(to_i64(&WasmValue::I32(-1)), -1);
        assert_eq!(to_i64(&WasmValue::F64(2.9)), 2);
        assert_eq!(to_i64(&WasmValue::F64(f64::NAN)), 0);
        assert_eq!(to_i64(&WasmValue::F32(f32::INFINITY)), i64::MAX);
    }

    #[test]
    fn kinds_outside_the_enum_are_refused() {
        let value = sandbox_val_t {
            kind: 7,
            of: sandbox_valunion_t { i64: 1 },
        };
        assert!(value.to_wasm().is_err());
        let value = sandbox_val_t::from_wasm(&WasmValue::F32(1.5)).unwrap();
        assert_eq!(value.to_wasm().unwrap(), WasmValue::F32(1.5));
    }
}
