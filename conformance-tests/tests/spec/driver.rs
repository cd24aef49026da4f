//! Runs one `.wast` file of the spec testsuite through the sandbox's trait only: modules are
//! loaded with [`Sandbox::load_linkable`] and instantiated in one [`Linker`] store per file,
//! `register` names instances, and every action is a trait call. No engine API is used.

use sandbox::{
    BackendKind, CompiledModule, ExecutionResult, InstanceId, Linker, Outcome, Sandbox,
    SandboxConfig, SandboxError, Trap, WasmValue,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wast::core::{AbstractHeapType, HeapType, NanPattern, V128Pattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::token::{Id, Span, F32, F64};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// What running one file produced.
#[derive(Debug, Default)]
pub struct FileReport {
    /// Assertions (`assert_*` directives and bare `invoke`s) in the file.
    pub assertions: usize,
    /// Those that passed.
    pub passed: usize,
    /// Module directives in the file.
    pub modules: usize,
    /// Those that compiled and instantiated.
    pub modules_ok: usize,
    /// A line per failure: `line: what`.
    pub failures: Vec<String>,
}

/// The configuration the testsuite runs under: limits far above what any test needs (so the
/// sandbox's own limits never decide an assertion), fuel off, the default 512 KiB wasm stack
/// for `assert_exhaustion`.
///
/// `disabled` names the proposals the file set predates: its files assert that modules using
/// them are invalid (a second memory, a 64-bit memory, an overlong `call_indirect` table
/// index...), so the sandbox is told to refuse them as such.
pub fn config(disabled: &[&str]) -> SandboxConfig {
    SandboxConfig {
        disabled_features: disabled.iter().map(|s| s.to_string()).collect(),
        max_memory_bytes: 1 << 32,
        max_table_elements: 10_000_000,
        max_execution_time: Duration::from_secs(20),
        max_fuel: None,
        ..SandboxConfig::default()
    }
}

/// The spectest module's source.
const SPECTEST: &str = include_str!("spectest.wat");

/// Runs `contents` (the text of a `.wast` file) on `backend`, with the `disabled` proposals
/// refused.
pub fn run(backend: BackendKind, contents: &str, disabled: &[&str]) -> Result<FileReport, String> {
    let mut lexer = wast::lexer::Lexer::new(contents);
    lexer.allow_confusing_unicode(true);
    let buffer = ParseBuffer::new_with_lexer(lexer).map_err(|err| format!("lex: {err}"))?;
    let wast: Wast<'_> = parser::parse(&buffer).map_err(|err| format!("parse: {err}"))?;
    let sandbox = sandbox::sandbox(backend, config(disabled)).map_err(|err| err.to_string())?;
    let mut file = File::new(sandbox, contents)?;
    for directive in wast.directives {
        file.directive(directive);
    }
    Ok(file.report)
}

struct File<'a> {
    sandbox: Arc<dyn Sandbox>,
    linker: Box<dyn Linker>,
    contents: &'a str,
    /// The most recent module instance, the target of unnamed actions.
    current: Option<InstanceId>,
    /// Named instances.
    instances: HashMap<String, InstanceId>,
    /// Named module definitions (`module definition $M`).
    definitions: HashMap<String, Arc<dyn CompiledModule>>,
    last_definition: Option<Arc<dyn CompiledModule>>,
    report: FileReport,
}

/// Why an assertion failed.
type Failed = String;

impl<'a> File<'a> {
    fn new(sandbox: Arc<dyn Sandbox>, contents: &'a str) -> Result<Self, String> {
        let mut linker = sandbox.linker().map_err(|err| err.to_string())?;
        let spectest = sandbox
            .load_linkable(SPECTEST.as_bytes())
            .map_err(|err| format!("spectest: {err}"))?;
        let id = linker
            .instantiate(spectest.as_ref())
            .map_err(|report| format!("spectest: {:?}", report.outcome))?;
        linker
            .register("spectest", id)
            .map_err(|err| err.to_string())?;
        Ok(File {
            sandbox,
            linker,
            contents,
            current: None,
            instances: HashMap::new(),
            definitions: HashMap::new(),
            last_definition: None,
            report: FileReport::default(),
        })
    }

    fn line(&self, span: Span) -> usize {
        span.linecol_in(self.contents).0 + 1
    }

    fn fail(&mut self, span: Span, what: String) {
        let line = self.line(span);
        self.report.failures.push(format!("line {line}: {what}"));
    }

    fn directive(&mut self, directive: WastDirective<'_>) {
        match directive {
            WastDirective::Module(mut module) => {
                self.report.modules += 1;
                let span = module.span();
                let name = module.name().map(|id| id.name().to_string());
                match self.compile(&mut module).and_then(|m| self.instantiate(&m)) {
                    Ok(id) => {
                        self.report.modules_ok += 1;
                        self.current = Some(id);
                        if let Some(name) = name {
                            self.instances.insert(name, id);
                        }
                    }
                    Err(err) => {
                        self.current = None;
                        self.fail(span, format!("module: {err}"));
                    }
                }
            }
            WastDirective::ModuleDefinition(mut module) => {
                self.report.modules += 1;
                let span = module.span();
                let name = module.name().map(|id| id.name().to_string());
                match self.compile(&mut module) {
                    Ok(compiled) => {
                        self.report.modules_ok += 1;
                        if let Some(name) = name {
                            self.definitions.insert(name, compiled.clone());
                        }
                        self.last_definition = Some(compiled);
                    }
                    Err(err) => self.fail(span, format!("module definition: {err}")),
                }
            }
            WastDirective::ModuleInstance {
                span,
                instance,
                module,
            } => {
                self.report.modules += 1;
                let definition = match module {
                    Some(id) => self.definitions.get(id.name()).cloned(),
                    None => self.last_definition.clone(),
                };
                let result = match definition {
                    Some(definition) => self.instantiate(&definition),
                    None => Err("no such module definition".to_string()),
                };
                match result {
                    Ok(id) => {
                        self.report.modules_ok += 1;
                        self.current = Some(id);
                        if let Some(name) = instance {
                            self.instances.insert(name.name().to_string(), id);
                        }
                    }
                    Err(err) => {
                        self.current = None;
                        self.fail(span, format!("module instance: {err}"));
                    }
                }
            }
            WastDirective::Register { span, name, module } => {
                let result = self
                    .target(module)
                    .and_then(|id| self.linker.register(name, id).map_err(|e| e.to_string()));
                if let Err(err) = result {
                    self.fail(span, format!("register {name}: {err}"));
                }
            }
            WastDirective::Invoke(invoke) => {
                let span = invoke.span;
                let result = self
                    .invoke(&invoke)
                    .and_then(|report| match report.outcome {
                        Outcome::Ok => Ok(()),
                        other => Err(format!("{other:?}")),
                    });
                self.assertion(span, result.map_err(|e| format!("invoke: {e}")));
            }
            WastDirective::AssertReturn {
                span,
                exec,
                results,
            } => {
                let result = self.assert_return(exec, &results);
                self.assertion(span, result.map_err(|e| format!("assert_return: {e}")));
            }
            WastDirective::AssertTrap { span, exec, .. } => {
                let result = self.assert_trap(exec);
                self.assertion(span, result.map_err(|e| format!("assert_trap: {e}")));
            }
            WastDirective::AssertExhaustion { span, call, .. } => {
                let result = self.invoke(&call).and_then(|report| match &report.outcome {
                    Outcome::Failed(err) if err.trap() == Some(Trap::StackOverflow) => Ok(()),
                    other => Err(format!("expected stack exhaustion, got {other:?}")),
                });
                self.assertion(span, result.map_err(|e| format!("assert_exhaustion: {e}")));
            }
            WastDirective::AssertInvalid {
                span, mut module, ..
            } => {
                let result = self.assert_refused(&mut module, "invalid");
                self.assertion(span, result.map_err(|e| format!("assert_invalid: {e}")));
            }
            WastDirective::AssertMalformed {
                span, mut module, ..
            } => {
                let result = self.assert_refused(&mut module, "malformed");
                self.assertion(span, result.map_err(|e| format!("assert_malformed: {e}")));
            }
            WastDirective::AssertUnlinkable {
                span, mut module, ..
            } => {
                let result = self.assert_unlinkable(&mut module);
                self.assertion(span, result.map_err(|e| format!("assert_unlinkable: {e}")));
            }
            other => {
                // Exceptions, stack switching, threads and custom-section assertions are
                // outside the sets this driver runs; count them as failures, never skip them.
                let span = match &other {
                    WastDirective::AssertException { span, .. }
                    | WastDirective::AssertSuspension { span, .. }
                    | WastDirective::Wait { span, .. }
                    | WastDirective::AssertInvalidCustom { span, .. }
                    | WastDirective::AssertMalformedCustom { span, .. } => *span,
                    WastDirective::Thread(thread) => thread.span,
                    _ => Span::from_offset(0),
                };
                self.assertion(span, Err("directive not supported by the driver".into()));
            }
        }
    }

    fn assertion(&mut self, span: Span, result: Result<(), Failed>) {
        self.report.assertions += 1;
        match result {
            Ok(()) => self.report.passed += 1,
            Err(err) => self.fail(span, err),
        }
    }

    /// Encodes and loads a module directive's module. Quoted text goes through the sandbox's
    /// own text compiler.
    fn compile(&self, module: &mut QuoteWat<'_>) -> Result<Arc<dyn CompiledModule>, String> {
        let bytes = encode(module)?;
        self.sandbox
            .load_linkable(&bytes)
            .map_err(|err| err.to_string())
    }

    fn instantiate(&mut self, module: &Arc<dyn CompiledModule>) -> Result<InstanceId, String> {
        self.linker
            .instantiate(module.as_ref())
            .map_err(|report| describe(&report))
    }

    fn target(&self, module: Option<Id<'_>>) -> Result<InstanceId, String> {
        match module {
            Some(id) => self
                .instances
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no instance named ${}", id.name())),
            None => self
                .current
                .ok_or_else(|| "no current instance (its module failed)".to_string()),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<ExecutionResult, String> {
        let id = self.target(invoke.module)?;
        let args = invoke.args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
        self.linker
            .call(id, invoke.name, &args)
            .map_err(|err| format!("{}: {err}", invoke.name))
    }

    fn assert_return(
        &mut self,
        exec: WastExecute<'_>,
        expected: &[WastRet<'_>],
    ) -> Result<(), Failed> {
        let actual = match exec {
            WastExecute::Invoke(invoke) => {
                let report = self.invoke(&invoke)?;
                match report.outcome {
                    Outcome::Ok => report.return_values,
                    other => return Err(format!("{}: {other:?}", invoke.name)),
                }
            }
            WastExecute::Get { module, global, .. } => {
                let id = self.target(module)?;
                vec![self
                    .linker
                    .global(id, global)
                    .map_err(|err| err.to_string())?]
            }
            WastExecute::Wat(mut wat) => {
                let module = self.compile_wat(&mut wat)?;
                self.instantiate(&module)?;
                Vec::new()
            }
        };
        if actual.len() != expected.len() {
            return Err(format!(
                "expected {} results, got {actual:?}",
                expected.len()
            ));
        }
        for (value, pattern) in actual.iter().zip(expected) {
            let WastRet::Core(pattern) = pattern else {
                return Err("component values are not supported".into());
            };
            if !matches_ret(value, pattern) {
                return Err(format!("expected {pattern:?}, got {value:?} ({value})"));
            }
        }
        Ok(())
    }

    fn assert_trap(&mut self, exec: WastExecute<'_>) -> Result<(), Failed> {
        let outcome = match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke)?.outcome,
            WastExecute::Wat(mut wat) => {
                let module = self.compile_wat(&mut wat)?;
                match self.linker.instantiate(module.as_ref()) {
                    Ok(_) => Outcome::Ok,
                    Err(report) => report.outcome,
                }
            }
            WastExecute::Get { .. } => return Err("a global read cannot trap".into()),
        };
        match &outcome {
            Outcome::Failed(SandboxError::RuntimeError { .. }) => Ok(()),
            other => Err(format!("expected a trap, got {other:?}")),
        }
    }

    /// `assert_invalid` and `assert_malformed`: the sandbox must refuse the module as an
    /// invalid module. A quoted text module the text compiler already refuses counts (the
    /// sandbox's text compiler is part of its input path).
    fn assert_refused(&mut self, module: &mut QuoteWat<'_>, what: &str) -> Result<(), Failed> {
        let bytes = match encode(module) {
            Ok(bytes) => bytes,
            Err(_) => return Ok(()),
        };
        match self.sandbox.load_linkable(&bytes) {
            Err(SandboxError::InvalidModule { .. }) => Ok(()),
            Err(other) => Err(format!(
                "expected invalid_module, got {}: {other}",
                other.kind()
            )),
            Ok(_) => Err(format!("a {what} module was accepted")),
        }
    }

    fn assert_unlinkable(&mut self, wat: &mut Wat<'_>) -> Result<(), Failed> {
        let module = self.compile_wat(wat)?;
        match self.linker.instantiate(module.as_ref()) {
            Ok(_) => Err("the module linked".into()),
            Err(report) => match report.outcome.error().map(SandboxError::kind) {
                Some("link_error" | "unauthorized_import") => Ok(()),
                _ => Err(format!("expected a link error, got {}", describe(&report))),
            },
        }
    }

    fn compile_wat(&self, wat: &mut Wat<'_>) -> Result<Arc<dyn CompiledModule>, String> {
        let bytes = wat.encode().map_err(|err| format!("encode: {err}"))?;
        self.sandbox
            .load_linkable(&bytes)
            .map_err(|err| err.to_string())
    }
}

/// The bytes of a module directive: binary and text modules encoded by `wast`, quoted text
/// compiled by the sandbox's own text compiler.
fn encode(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    match module {
        QuoteWat::QuoteModule(_, pieces) => {
            let mut text = Vec::new();
            for (_, piece) in pieces.iter() {
                text.extend_from_slice(piece);
                text.push(b' ');
            }
            sandbox::compile_wat_to_wasm(&text).map_err(|err| err.to_string())
        }
        other => other.encode().map_err(|err| format!("encode: {err}")),
    }
}

fn describe(report: &ExecutionResult) -> String {
    match &report.outcome {
        Outcome::Failed(err) => format!("{}: {err}", err.kind()),
        other => format!("{other:?}"),
    }
}

fn arg(arg: &WastArg<'_>) -> Result<WasmValue, String> {
    let WastArg::Core(core) = arg else {
        return Err("component values are not supported".into());
    };
    Ok(match core {
        WastArgCore::I32(v) => WasmValue::I32(*v),
        WastArgCore::I64(v) => WasmValue::I64(*v),
        WastArgCore::F32(v) => WasmValue::F32(f32::from_bits(v.bits)),
        WastArgCore::F64(v) => WasmValue::F64(f64::from_bits(v.bits)),
        WastArgCore::V128(v) => WasmValue::V128(u128::from_le_bytes(v.to_le_bytes())),
        WastArgCore::RefNull(HeapType::Abstract {
            ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
            ..
        }) => WasmValue::FuncRef { null: true },
        WastArgCore::RefNull(HeapType::Abstract {
            ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
            ..
        }) => WasmValue::ExternRef(None),
        WastArgCore::RefExtern(v) => WasmValue::ExternRef(Some(*v)),
        other => {
            return Err(format!(
                "argument {other:?} cannot cross the sandbox boundary"
            ))
        }
    })
}

fn matches_ret(value: &WasmValue, pattern: &WastRetCore<'_>) -> bool {
    match (pattern, value) {
        (WastRetCore::I32(e), WasmValue::I32(a)) => e == a,
        (WastRetCore::I64(e), WasmValue::I64(a)) => e == a,
        (WastRetCore::F32(e), WasmValue::F32(a)) => f32_matches(e, a.to_bits()),
        (WastRetCore::F64(e), WasmValue::F64(a)) => f64_matches(e, a.to_bits()),
        (WastRetCore::V128(e), WasmValue::V128(a)) => v128_matches(e, *a),
        (WastRetCore::RefNull(ty), WasmValue::FuncRef { null: true }) => matches!(
            ty,
            None | Some(HeapType::Abstract {
                ty: AbstractHeapType::Func | AbstractHeapType::NoFunc,
                ..
            })
        ),
        (WastRetCore::RefNull(ty), WasmValue::ExternRef(None)) => matches!(
            ty,
            None | Some(HeapType::Abstract {
                ty: AbstractHeapType::Extern | AbstractHeapType::NoExtern,
                ..
            })
        ),
        (WastRetCore::RefExtern(None), WasmValue::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(e)), WasmValue::ExternRef(Some(a))) => e == a,
        (WastRetCore::RefFunc(_), WasmValue::FuncRef { null: false }) => true,
        (WastRetCore::Either(options), _) => options.iter().any(|p| matches_ret(value, p)),
        _ => false,
    }
}

fn f32_matches(pattern: &NanPattern<F32>, bits: u32) -> bool {
    let nan = (bits & 0x7f80_0000) == 0x7f80_0000 && (bits & 0x007f_ffff) != 0;
    match pattern {
        NanPattern::CanonicalNan => (bits & 0x7fff_ffff) == 0x7fc0_0000,
        NanPattern::ArithmeticNan => nan && (bits & 0x0040_0000) != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn f64_matches(pattern: &NanPattern<F64>, bits: u64) -> bool {
    let exponent = 0x7ff0_0000_0000_0000;
    let mantissa = 0x000f_ffff_ffff_ffff;
    let nan = (bits & exponent) == exponent && (bits & mantissa) != 0;
    match pattern {
        NanPattern::CanonicalNan => (bits & 0x7fff_ffff_ffff_ffff) == 0x7ff8_0000_0000_0000,
        NanPattern::ArithmeticNan => nan && (bits & 0x0008_0000_0000_0000) != 0,
        NanPattern::Value(v) => v.bits == bits,
    }
}

fn v128_matches(pattern: &V128Pattern, value: u128) -> bool {
    let bytes = value.to_le_bytes();
    let lane = |i: usize, width: usize| -> u64 {
        let mut buf = [0u8; 8];
        buf[..width].copy_from_slice(&bytes[i * width..(i + 1) * width]);
        u64::from_le_bytes(buf)
    };
    match pattern {
        V128Pattern::I8x16(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| lane(i, 1) == u64::from(*e as u8)),
        V128Pattern::I16x8(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| lane(i, 2) == u64::from(*e as u16)),
        V128Pattern::I32x4(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| lane(i, 4) == u64::from(*e as u32)),
        V128Pattern::I64x2(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| lane(i, 8) == *e as u64),
        V128Pattern::F32x4(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| f32_matches(e, lane(i, 4) as u32)),
        V128Pattern::F64x2(lanes) => lanes
            .iter()
            .enumerate()
            .all(|(i, e)| f64_matches(e, lane(i, 8))),
    }
}
