//! Values crossing the sandbox boundary and the signatures that type them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A WebAssembly value type as the sandbox sees it.
///
/// The numeric types, `v128` and the two reference types of WebAssembly 2.0 cross the boundary
/// as [`WasmValue`]s; any other reference type (GC, exceptions, ...) is named so that a
/// signature using it can be described and refused with a clear `unsupported` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 128-bit vector (SIMD).
    V128,
    /// Function reference (`funcref`).
    FuncRef,
    /// External reference (`externref`).
    ExternRef,
    /// Any other reference type (GC, exceptions, ...); not callable through the sandbox.
    OtherRef,
}

impl ValType {
    /// Whether this is one of the four numeric types (the only ones host functions and the
    /// command line take).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
        )
    }

    /// Whether values of this type can be passed to or returned from a guest call.
    pub fn crosses_boundary(self) -> bool {
        self != ValType::OtherRef
    }

    /// Converts from the `wasmparser` representation.
    pub fn from_wasmparser(ty: wasmparser::ValType) -> Self {
        match ty {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(r) if r == wasmparser::RefType::FUNCREF => ValType::FuncRef,
            wasmparser::ValType::Ref(r) if r == wasmparser::RefType::EXTERNREF => {
                ValType::ExternRef
            }
            wasmparser::ValType::Ref(_) => ValType::OtherRef,
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
            ValType::OtherRef => "ref",
        })
    }
}

/// A value passed to or returned from a guest function.
///
/// Floats are stored as their bit patterns where it matters (NaN payloads survive a round
/// trip through either engine); [`PartialEq`] compares bit patterns, so `NaN == NaN` when the
/// bits agree, which is what conformance tests want.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum WasmValue {
    /// 32-bit integer.
    I32(i32),
    /// 64-bit integer.
    I64(i64),
    /// 32-bit float.
    F32(f32),
    /// 64-bit float.
    F64(f64),
    /// 128-bit vector, as its little-endian bits.
    V128(u128),
    /// A function reference. Only its nullness is observable from outside the guest, so only
    /// a null one can be passed in.
    FuncRef {
        /// Whether the reference is null.
        null: bool,
    },
    /// An external reference: null, or a host value the embedder chose (an opaque `u32`),
    /// handed back unchanged when the guest returns it.
    ExternRef(Option<u32>),
}

impl PartialEq for WasmValue {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (WasmValue::I32(a), WasmValue::I32(b)) => a == b,
            (WasmValue::I64(a), WasmValue::I64(b)) => a == b,
            (WasmValue::F32(a), WasmValue::F32(b)) => a.to_bits() == b.to_bits(),
            (WasmValue::F64(a), WasmValue::F64(b)) => a.to_bits() == b.to_bits(),
            (WasmValue::V128(a), WasmValue::V128(b)) => a == b,
            (WasmValue::FuncRef { null: a }, WasmValue::FuncRef { null: b }) => a == b,
            (WasmValue::ExternRef(a), WasmValue::ExternRef(b)) => a == b,
            _ => false,
        }
    }
}

impl WasmValue {
    /// The type of this value.
    pub fn ty(&self) -> ValType {
        match self {
            WasmValue::I32(_) => ValType::I32,
            WasmValue::I64(_) => ValType::I64,
            WasmValue::F32(_) => ValType::F32,
            WasmValue::F64(_) => ValType::F64,
            WasmValue::V128(_) => ValType::V128,
            WasmValue::FuncRef { .. } => ValType::FuncRef,
            WasmValue::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// Parses a textual argument as a value of type `ty`.
    ///
    /// Integers accept decimal (signed or unsigned, wrapping into the type's width) and `0x`
    /// hexadecimal; floats accept anything Rust's parser does plus `nan`, `inf` and `-inf`.
    pub fn parse(ty: ValType, text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("cannot parse {text:?} as {ty}");
        let int = |bits: u32| -> Result<i128, String> {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text.strip_prefix('+').unwrap_or(text)),
            };
            let magnitude = match digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0X"))
            {
                Some(hex) => i128::from_str_radix(&hex.replace('_', ""), 16),
                None => digits.replace('_', "").parse::<i128>(),
            }
            .map_err(|_| bad())?;
            let value = if negative { -magnitude } else { magnitude };
            let min = -(1i128 << (bits - 1));
            let max = (1i128 << bits) - 1;
            if value < min || value > max {
                return Err(format!("{text:?} is out of range for {ty}"));
            }
            Ok(value)
        };
        let float = || -> Result<f64, String> {
            match text.to_ascii_lowercase().as_str() {
                "nan" | "+nan" => Ok(f64::NAN),
                "-nan" => Ok(-f64::NAN),
                "inf" | "+inf" | "infinity" => Ok(f64::INFINITY),
                "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
                other => other.parse::<f64>().map_err(|_| bad()),
            }
        };
        match ty {
            ValType::I32 => Ok(WasmValue::I32(int(32)? as u32 as i32)),
            ValType::I64 => Ok(WasmValue::I64(int(64)? as u64 as i64)),
            ValType::F32 => Ok(WasmValue::F32(float()? as f32)),
            ValType::F64 => Ok(WasmValue::F64(float()?)),
            other => Err(format!(
                "values of type {other} cannot be passed to the sandbox"
            )),
        }
    }
}

impl fmt::Display for WasmValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WasmValue::I32(v) => write!(f, "{v}"),
            WasmValue::I64(v) => write!(f, "{v}"),
            WasmValue::F32(v) => write!(f, "{v}"),
            WasmValue::F64(v) => write!(f, "{v}"),
            WasmValue::V128(v) => write!(f, "0x{v:032x}"),
            WasmValue::FuncRef { null: true } => f.write_str("ref.null func"),
            WasmValue::FuncRef { null: false } => f.write_str("ref.func"),
            WasmValue::ExternRef(None) => f.write_str("ref.null extern"),
            WasmValue::ExternRef(Some(v)) => write!(f, "ref.extern {v}"),
        }
    }
}

impl From<i32> for WasmValue {
    fn from(v: i32) -> Self {
        WasmValue::I32(v)
    }
}
impl From<i64> for WasmValue {
    fn from(v: i64) -> Self {
        WasmValue::I64(v)
    }
}
impl From<f32> for WasmValue {
    fn from(v: f32) -> Self {
        WasmValue::F32(v)
    }
}
impl From<f64> for WasmValue {
    fn from(v: f64) -> Self {
        WasmValue::F64(v)
    }
}

/// The type of a function: parameters and results.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FuncSignature {
    /// Parameter types, in order.
    pub params: Vec<ValType>,
    /// Result types, in order.
    pub results: Vec<ValType>,
}

impl FuncSignature {
    /// Builds a signature from parameter and result types.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncSignature {
            params: params.into(),
            results: results.into(),
        }
    }

    /// Checks `args` against the parameters, naming both signatures when they disagree.
    pub fn check_args(
        &self,
        function: &str,
        args: &[WasmValue],
    ) -> Result<(), crate::SandboxError> {
        self.check_boundary(function)?;
        let given: Vec<ValType> = args.iter().map(WasmValue::ty).collect();
        if given != self.params {
            return Err(crate::SandboxError::TypeMismatch {
                function: function.to_string(),
                expected: self.to_string(),
                given: format!("({})", join(&given)),
            });
        }
        Ok(())
    }

    /// Refuses, as `unsupported`, a signature with a type that cannot cross the boundary.
    pub fn check_boundary(&self, function: &str) -> Result<(), crate::SandboxError> {
        if let Some(ty) = self
            .params
            .iter()
            .chain(&self.results)
            .find(|ty| !ty.crosses_boundary())
        {
            return Err(crate::SandboxError::Unsupported {
                reason: format!(
                    "function {function} has signature {self}: values of type {ty} cannot cross the sandbox boundary"
                ),
            });
        }
        Ok(())
    }

    /// Parses textual arguments according to the parameter types.
    pub fn parse_args(
        &self,
        function: &str,
        args: &[impl AsRef<str>],
    ) -> Result<Vec<WasmValue>, crate::SandboxError> {
        self.check_boundary(function)?;
        if let Some(ty) = self.params.iter().find(|ty| !ty.is_numeric()) {
            return Err(crate::SandboxError::Unsupported {
                reason: format!(
                    "function {function} has signature {self}: values of type {ty} cannot be given as text"
                ),
            });
        }
        if args.len() != self.params.len() {
            return Err(crate::SandboxError::TypeMismatch {
                function: function.to_string(),
                expected: self.to_string(),
                given: format!("{} argument(s)", args.len()),
            });
        }
        self.params
            .iter()
            .zip(args)
            .map(|(ty, text)| {
                WasmValue::parse(*ty, text.as_ref()).map_err(|reason| {
                    if ty.is_numeric() {
                        crate::SandboxError::TypeMismatch {
                            function: function.to_string(),
                            expected: self.to_string(),
                            given: reason,
                        }
                    } else {
                        crate::SandboxError::Unsupported { reason }
                    }
                })
            })
            .collect()
    }
}

fn join(types: &[ValType]) -> String {
    types
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for FuncSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) -> ({})", join(&self.params), join(&self.results))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_with_wrapping_into_width() {
        assert_eq!(WasmValue::parse(ValType::I32, "-1"), Ok(WasmValue::I32(-1)));
        assert_eq!(
            WasmValue::parse(ValType::I32, "4294967295"),
            Ok(WasmValue::I32(-1))
        );
        assert_eq!(
            WasmValue::parse(ValType::I64, "0xff"),
            Ok(WasmValue::I64(255))
        );
        assert!(WasmValue::parse(ValType::I32, "4294967296").is_err());
        assert!(WasmValue::parse(ValType::I32, "five").is_err());
    }

    #[test]
    fn parses_floats_including_specials() {
        assert_eq!(
            WasmValue::parse(ValType::F64, "1.5"),
            Ok(WasmValue::F64(1.5))
        );
        assert!(matches!(
            WasmValue::parse(ValType::F32, "nan"),
            Ok(WasmValue::F32(v)) if v.is_nan()
        ));
        assert_eq!(
            WasmValue::parse(ValType::F64, "-inf"),
            Ok(WasmValue::F64(f64::NEG_INFINITY))
        );
    }

    #[test]
    fn argument_checks_name_both_signatures() {
        let sig = FuncSignature::new([ValType::I32, ValType::I32], [ValType::I32]);
        let err = sig.check_args("add", &[WasmValue::I64(1)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "type mismatch calling add: expected (i32, i32) -> (i32), given (i64)"
        );
        let err = sig.parse_args("add", &["1"]).unwrap_err();
        assert!(err.to_string().contains("given 1 argument(s)"), "{err}");
    }

    #[test]
    fn non_numeric_signatures_are_unsupported() {
        let sig = FuncSignature::new([ValType::OtherRef], []);
        let err = sig.check_args("f", &[]).unwrap_err();
        assert_eq!(err.kind(), "unsupported");
        let sig = FuncSignature::new([ValType::V128, ValType::ExternRef], [ValType::FuncRef]);
        sig.check_args("g", &[WasmValue::V128(1), WasmValue::ExternRef(None)])
            .unwrap();
        let err = sig.parse_args("g", &["1", "2"]).unwrap_err();
        assert_eq!(err.kind(), "unsupported", "{err}");
    }
}
