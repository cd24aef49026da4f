//! The call fast path on wasmer: exports resolved once, called through wasmer's
//! `TypedFunction` for the common signatures (arguments and results as plain numbers, nothing
//! allocated) and through its dynamic `Function::call` for the others.

use sandbox_core::{FuncSignature, ValType, WasmValue};
use wasmer::{Function, RuntimeError, Store, TypedFunction};

/// A function resolved for the fast path.
pub(crate) struct Resolved {
    /// The instance (slot) and export it was resolved from.
    pub(crate) slot: usize,
    pub(crate) name: Box<str>,
    pub(crate) func: Function,
    pub(crate) typed: Typed,
}

/// The error of arguments that do not match a resolved signature (the handle's check makes
/// it unreachable).
fn mismatch() -> RuntimeError {
    RuntimeError::new("the arguments do not match the function's signature")
}

macro_rules! typed_signatures {
    ($($variant:ident: ($($arg:ident: $ty:ty = $val:ident),*) -> ($($rty:ty = $rval:ident)?);)*) => {
        /// How a resolved function is called: typed for a common signature, else dynamically.
        // `(i32)` is how the macro spells a one-element parameter or result list.
        #[allow(unused_parens)]
        #[derive(Clone)]
        pub(crate) enum Typed {
            $(
                #[doc = concat!("`", stringify!(($($val),*)), " -> ", stringify!(($($rval)?)), "`")]
                $variant(TypedFunction<($($ty),*), ($($rty)?)>),
            )*
            /// Any other signature, through `Function::call`.
            Dynamic,
        }

        #[allow(unused_parens)]
        impl Typed {
            /// The typed call for `signature`, if it is one of the common ones.
            pub(crate) fn of(store: &Store, func: &Function, signature: &FuncSignature) -> Typed {
                let params: &[ValType] = &signature.params;
                let results: &[ValType] = &signature.results;
                $(
                    if params == [$(ValType::$val),*] && results == [$(ValType::$rval)?] {
                        if let Ok(typed) = func.typed::<($($ty),*), ($($rty)?)>(store) {
                            return Typed::$variant(typed);
                        }
                    }
                )*
                Typed::Dynamic
            }

            /// Calls a typed function; `None` for [`Typed::Dynamic`].
            #[allow(unused_variables)]
            pub(crate) fn call(
                &self,
                store: &mut Store,
                args: &[WasmValue],
                results: &mut [WasmValue],
            ) -> Option<Result<(), RuntimeError>> {
                match self {
                    $(
                        Typed::$variant(typed) => {
                            let [$(WasmValue::$val($arg)),*] = *args else {
                                return Some(Err(mismatch()));
                            };
                            Some(typed.call(store, $($arg),*).map(|returned| {
                                let _ = &returned;
                                $(
                                    if let Some(slot) = results.first_mut() {
                                        let value: $rty = returned;
                                        *slot = WasmValue::$rval(value);
                                    }
                                )?
                            }))
                        }
                    )*
                    Typed::Dynamic => None,
                }
            }
        }
    };
}

typed_signatures! {
    Unit: () -> ();
    ToI32: () -> (i32 = I32);
    ToI64: () -> (i64 = I64);
    ToF64: () -> (f64 = F64);
    I32Unit: (a: i32 = I32) -> ();
    I32ToI32: (a: i32 = I32) -> (i32 = I32);
    I64ToI64: (a: i64 = I64) -> (i64 = I64);
    F64ToF64: (a: f64 = F64) -> (f64 = F64);
    I32I32Unit: (a: i32 = I32, b: i32 = I32) -> ();
    I32I32ToI32: (a: i32 = I32, b: i32 = I32) -> (i32 = I32);
    I64I64ToI64: (a: i64 = I64, b: i64 = I64) -> (i64 = I64);
    F64F64ToF64: (a: f64 = F64, b: f64 = F64) -> (f64 = F64);
    I32I32I32ToI32: (a: i32 = I32, b: i32 = I32, c: i32 = I32) -> (i32 = I32);
}
