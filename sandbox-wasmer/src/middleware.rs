//! The sandbox's compile-time instrumentation: one wasmer [`ModuleMiddleware`] that meters fuel,
//! turns `memory.grow` past the sandbox limit into a trap, bounds `table.grow` by the table
//! limit of the whole instance, and takes the start function out of wasmer's hands.
//!
//! ## Fuel
//!
//! The model is the core one ([`sandbox_core::fuel::operator_cost`] per operator, plus
//! [`sandbox_core::fuel::FUNCTION_ENTRY_COST`] each time a function is entered), and the
//! accounting follows the shape of wasmtime's so that both engines agree:
//! - the entry cost is charged before a function's first operator;
//! - operator costs are accumulated per basic block and subtracted from an `i64` "remaining" global right
//!   before the operators that end a block or leave the function (`loop`, `if`, `else`, `end`,
//!   `br*`, `call*`, `return`, `unreachable`), so a run is charged exactly the cost of the
//!   operators it executed, and never for code the middleware injects;
//! - the remaining fuel is *checked* (and the run ends if it is zero or below) only where
//!   wasmtime checks: on function entry, at every loop header, and before a bulk operator whose
//!   length is not a constant. Between checks a run may overspend a little, exactly as on
//!   wasmtime; the host then reports the whole budget as used.
//!
//! Exhaustion sets an exported `i32` flag and executes `unreachable`; the host turns the flag
//! into `fuel_exhausted`.
//!
//! ## `memory.grow`
//!
//! wasmer reports a refused growth to the guest as -1. The sandbox limit must end the run
//! instead, like wasmtime's resource limiter does, so every `memory.grow` is rewritten to:
//! save the delta, grow, save the result, and if the result is -1 although the new size would
//! have been within the memory's own maximum (or 65536 pages), set an exported flag and trap.
//! Growth past the module's own maximum keeps plain wasm semantics (-1).
//!
//! ## `table.grow`
//!
//! The table limit counts the elements of all tables of the instance, and growth past it must
//! return -1 (as on wasmtime). Every `table.grow` is rewritten to compare the sum of all table
//! sizes plus the delta with an exported `i64` global that the host sets to the limit before any
//! guest code runs, and to push -1 without growing when it is exceeded.
//!
//! ## Start function
//!
//! wasmer runs the start function inside `Instance::new`, before the host could set the per-run
//! fuel budget and limits in the instance's globals. The middleware therefore removes the start
//! function from the module and exports it under a reserved name instead; the host calls it
//! right after instantiation, under the same limits as any call (which is exactly when the
//! specification runs it: after the segments are initialised).
//!
//! ## One middleware, many modules
//!
//! The layout of the added globals is module-specific but a compiler holds one middleware for
//! all the modules it compiles. [`SandboxMiddleware::transform_module_info`] records the layout
//! of the module being compiled; callers serialise compiles on one engine (a mutex) and take the
//! layout with [`SandboxMiddleware::take_layout`] once the compile has finished.

use sandbox_core::fuel::{operator_cost, FUNCTION_ENTRY_COST};
use std::sync::{Arc, Mutex};
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::{
    ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, ModuleInfo as WasmerModuleInfo,
    Mutability, Type,
};
use wasmparser::{BlockType, Operator, ValType};

/// The prefix of every name the middleware adds to a module's exports.
pub(crate) const RESERVED_PREFIX: &str = "__sandbox_";

/// The largest number of 64 KiB pages a 32-bit memory can have.
const MAX_WASM32_PAGES: u64 = 65536;

/// The wasmparser name of an operator (`I32Add`, `Call`, ...), the key of the core cost model.
pub(crate) fn operator_name(op: &Operator<'_>) -> &'static str {
    macro_rules! names {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            match op {
                $( Operator::$op { .. } => stringify!($op), )*
                // `Operator` is non-exhaustive; anything newer costs the default.
                _ => "Unknown",
            }
        };
    }
    wasmparser::for_each_operator!(names)
}

/// The fuel one execution of `op` costs under the core model.
pub(crate) fn fuel_cost(op: &Operator<'_>) -> u64 {
    u64::from(operator_cost(operator_name(op)))
}

/// Where the middleware put its globals and exports in one compiled module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleLayout {
    /// Fuel globals, when metering is on.
    pub(crate) fuel: Option<FuelLayout>,
    /// `i32` flag set to 1 right before a `memory.grow` refused by the sandbox limit traps.
    pub(crate) memory_limit_hit: GlobalSlot,
    /// `i64` global holding the instance's table limit (set by the host), when the module has
    /// tables.
    pub(crate) table_limit: Option<GlobalSlot>,
    /// The export name of the module's start function, if it has one.
    pub(crate) start_export: Option<String>,
    /// Per imported memory, an `i64` global holding its actual maximum in pages, which the
    /// host sets once it knows which memory was imported (the import's declared maximum may
    /// be larger than the actual one).
    pub(crate) imported_memory_max: Vec<ImportedMemoryMax>,
    /// Internal scratch globals and per-memory/per-table facts used by the rewrites.
    scratch: Scratch,
}

/// The maximum-size global of one imported memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImportedMemoryMax {
    /// The memory's index in the module.
    memory: u32,
    /// The import's module name.
    pub(crate) module: String,
    /// The import's field name.
    pub(crate) field: String,
    /// The global.
    pub(crate) slot: GlobalSlot,
}

/// The two fuel globals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FuelLayout {
    /// `i64`: fuel remaining; may go below zero between checks.
    pub(crate) remaining: GlobalSlot,
    /// `i32`: set to 1 when a check found the fuel exhausted.
    pub(crate) exhausted: GlobalSlot,
}

/// An added global: its index in the module and the name it is exported under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GlobalSlot {
    index: u32,
    /// The export name.
    pub(crate) name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Scratch {
    /// `i32`: the delta of the `memory.grow` in progress.
    grow_delta: u32,
    /// `i32`: the result of the `memory.grow` in progress.
    grow_result: u32,
    /// The maximum size in pages of each memory (declared, or the wasm32 maximum).
    memory_max_pages: Vec<u64>,
    /// Per table: the scratch global holding the init value of a `table.grow` in progress
    /// (one global per reference type), or `None` for element types the rewrite does not know.
    table_ref_scratch: Vec<Option<u32>>,
    /// `i32`: the delta of the `table.grow` in progress.
    table_delta: u32,
}

impl ModuleLayout {
    /// The layout as bytes, stored beside wasmer's serialised module (a deserialised module
    /// did not go through the middleware, so its layout must come with it).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.fuel {
            Some(fuel) => {
                out.push(1);
                put_slot(&mut out, &fuel.remaining);
                put_slot(&mut out, &fuel.exhausted);
            }
            None => out.push(0),
        }
        put_slot(&mut out, &self.memory_limit_hit);
        match &self.table_limit {
            Some(slot) => {
                out.push(1);
                put_slot(&mut out, slot);
            }
            None => out.push(0),
        }
        match &self.start_export {
            Some(name) => {
                out.push(1);
                put_str(&mut out, name);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.scratch.grow_delta.to_le_bytes());
        out.extend_from_slice(&self.scratch.grow_result.to_le_bytes());
        put_len(&mut out, self.scratch.memory_max_pages.len());
        for pages in &self.scratch.memory_max_pages {
            out.extend_from_slice(&pages.to_le_bytes());
        }
        put_len(&mut out, self.scratch.table_ref_scratch.len());
        for slot in &self.scratch.table_ref_scratch {
            match slot {
                Some(index) => {
                    out.push(1);
                    out.extend_from_slice(&index.to_le_bytes());
                }
                None => out.push(0),
            }
        }
        out.extend_from_slice(&self.scratch.table_delta.to_le_bytes());
        put_len(&mut out, self.imported_memory_max.len());
        for imported in &self.imported_memory_max {
            out.extend_from_slice(&imported.memory.to_le_bytes());
            put_str(&mut out, &imported.module);
            put_str(&mut out, &imported.field);
            put_slot(&mut out, &imported.slot);
        }
        out
    }

    /// The inverse of [`ModuleLayout::encode`]; `None` for anything malformed (bounds-checked,
    /// never panics, allocates at most what the input holds).
    pub(crate) fn decode(bytes: &[u8]) -> Option<ModuleLayout> {
        let mut r = LayoutReader { bytes };
        let fuel = match r.u8()? {
            0 => None,
            1 => Some(FuelLayout {
                remaining: r.slot()?,
                exhausted: r.slot()?,
            }),
            _ => return None,
        };
        let memory_limit_hit = r.slot()?;
        let table_limit = match r.u8()? {
            0 => None,
            1 => Some(r.slot()?),
            _ => return None,
        };
        let start_export = match r.u8()? {
            0 => None,
            1 => Some(r.string()?),
            _ => return None,
        };
        let grow_delta = r.u32()?;
        let grow_result = r.u32()?;
        let count = r.len()?;
        let mut memory_max_pages = Vec::with_capacity(count.min(r.bytes.len() / 8));
        for _ in 0..count {
            memory_max_pages.push(u64::from_le_bytes(r.take(8)?.try_into().ok()?));
        }
        let count = r.len()?;
        let mut table_ref_scratch = Vec::with_capacity(count.min(r.bytes.len()));
        for _ in 0..count {
            table_ref_scratch.push(match r.u8()? {
                0 => None,
                1 => Some(r.u32()?),
                _ => return None,
            });
        }
        let table_delta = r.u32()?;
        let count = r.len()?;
        let mut imported_memory_max = Vec::with_capacity(count.min(r.bytes.len()));
        for _ in 0..count {
            imported_memory_max.push(ImportedMemoryMax {
                memory: r.u32()?,
                module: r.string()?,
                field: r.string()?,
                slot: r.slot()?,
            });
        }
        if !r.bytes.is_empty() {
            return None;
        }
        Some(ModuleLayout {
            fuel,
            memory_limit_hit,
            table_limit,
            start_export,
            imported_memory_max,
            scratch: Scratch {
                grow_delta,
                grow_result,
                memory_max_pages,
                table_ref_scratch,
                table_delta,
            },
        })
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_slot(out: &mut Vec<u8>, slot: &GlobalSlot) {
    out.extend_from_slice(&slot.index.to_le_bytes());
    put_str(out, &slot.name);
}

struct LayoutReader<'a> {
    bytes: &'a [u8],
}

impl<'a> LayoutReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u32()?).ok()
    }

    fn string(&mut self) -> Option<String> {
        let len = self.len()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn slot(&mut self) -> Option<GlobalSlot> {
        Some(GlobalSlot {
            index: self.u32()?,
            name: self.string()?,
        })
    }
}

/// The module-level middleware; see the module documentation.
#[derive(Debug)]
pub(crate) struct SandboxMiddleware {
    fuel: bool,
    layout: Mutex<Option<Arc<ModuleLayout>>>,
}

impl SandboxMiddleware {
    /// A middleware that meters fuel when `fuel` is set (and rewrites growth either way).
    pub(crate) fn new(fuel: bool) -> Self {
        SandboxMiddleware {
            fuel,
            layout: Mutex::new(None),
        }
    }

    /// The layout of the module compiled last, removed so it cannot be mistaken for the next
    /// module's. Callers hold the engine's compile lock across the compile and this call.
    pub(crate) fn take_layout(&self) -> Option<Arc<ModuleLayout>> {
        self.layout.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn current_layout(&self) -> Option<Arc<ModuleLayout>> {
        self.layout
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Picks `base`, or `base` with a numeric suffix, so that it collides with no existing export.
fn unique_export_name(module_info: &WasmerModuleInfo, base: &str) -> String {
    if !module_info.exports.contains_key(base) {
        return base.to_string();
    }
    (1u64..)
        .map(|n| format!("{base}_{n}"))
        .find(|name| !module_info.exports.contains_key(name))
        .unwrap_or_else(|| base.to_string())
}

fn add_global(
    module_info: &mut WasmerModuleInfo,
    ty: Type,
    init: GlobalInit,
    export: Option<&str>,
) -> Result<GlobalSlot, MiddlewareError> {
    let index = module_info
        .globals
        .push(GlobalType::new(ty, Mutability::Var));
    module_info.global_initializers.push(init);
    let name = match export {
        Some(base) => {
            let name = unique_export_name(module_info, &format!("{RESERVED_PREFIX}{base}"));
            module_info
                .exports
                .insert(name.clone(), ExportIndex::Global(index));
            name
        }
        None => String::new(),
    };
    Ok(GlobalSlot {
        index: index.as_u32(),
        name,
    })
}

impl ModuleMiddleware for SandboxMiddleware {
    fn generate_function_middleware<'a>(
        &self,
        _: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        Box::new(FunctionSandbox {
            layout: self.current_layout(),
            accumulated: 0,
            entered: false,
            previous_was_const: false,
        })
    }

    fn transform_module_info(
        &self,
        module_info: &mut WasmerModuleInfo,
    ) -> Result<(), MiddlewareError> {
        let fuel = if self.fuel {
            Some(FuelLayout {
                // The host sets the budget after instantiation, before any guest code runs.
                remaining: add_global(
                    module_info,
                    Type::I64,
                    GlobalInit::I64Const(0),
                    Some("fuel_remaining"),
                )?,
                exhausted: add_global(
                    module_info,
                    Type::I32,
                    GlobalInit::I32Const(0),
                    Some("fuel_exhausted"),
                )?,
            })
        } else {
            None
        };
        let memory_limit_hit = add_global(
            module_info,
            Type::I32,
            GlobalInit::I32Const(0),
            Some("memory_limit_hit"),
        )?;
        let grow_delta = add_global(module_info, Type::I32, GlobalInit::I32Const(0), None)?.index;
        let grow_result = add_global(module_info, Type::I32, GlobalInit::I32Const(0), None)?.index;
        let memory_max_pages: Vec<u64> = module_info
            .memories
            .values()
            .map(|memory| {
                memory
                    .maximum
                    .map(|pages| u64::from(pages.0))
                    .unwrap_or(MAX_WASM32_PAGES)
                    .min(MAX_WASM32_PAGES)
            })
            .collect();

        let mut imported_memories: Vec<(u32, String, String, u64)> = module_info
            .imports
            .iter()
            .filter_map(|(key, index)| match index {
                wasmer_types::ImportIndex::Memory(memory) => {
                    Some((memory.as_u32(), key.module.clone(), key.field.clone(), 0))
                }
                _ => None,
            })
            .collect();
        for (memory, _, _, declared) in &mut imported_memories {
            *declared = memory_max_pages
                .get(*memory as usize)
                .copied()
                .unwrap_or(MAX_WASM32_PAGES);
        }
        let mut imported_memory_max = Vec::new();
        for (memory, module, field, declared) in imported_memories {
            let slot = add_global(
                module_info,
                Type::I64,
                GlobalInit::I64Const(i64::try_from(declared).unwrap_or(i64::MAX)),
                Some(&format!("memory_max_{memory}")),
            )?;
            imported_memory_max.push(ImportedMemoryMax {
                memory,
                module,
                field,
                slot,
            });
        }

        let mut table_limit = None;
        let mut table_ref_scratch = Vec::new();
        let mut table_delta = 0;
        if !module_info.tables.is_empty() {
            table_limit = Some(add_global(
                module_info,
                Type::I64,
                GlobalInit::I64Const(0),
                Some("table_limit"),
            )?);
            table_delta = add_global(module_info, Type::I32, GlobalInit::I32Const(0), None)?.index;
            let mut funcref = None;
            let mut externref = None;
            let element_types: Vec<Type> = module_info.tables.values().map(|t| t.ty).collect();
            for ty in element_types {
                let slot = match ty {
                    Type::FuncRef | Type::ExternRef => {
                        let cached = if ty == Type::FuncRef {
                            &mut funcref
                        } else {
                            &mut externref
                        };
                        match *cached {
                            Some(index) => Some(index),
                            None => {
                                let index =
                                    add_global(module_info, ty, GlobalInit::RefNullConst, None)?
                                        .index;
                                *cached = Some(index);
                                Some(index)
                            }
                        }
                    }
                    _ => None,
                };
                table_ref_scratch.push(slot);
            }
        }

        // Take the start function out of `Instance::new` and export it for the host to call.
        let start_export = match module_info.start_function.take() {
            Some(index) => {
                let name = unique_export_name(module_info, &format!("{RESERVED_PREFIX}start"));
                module_info
                    .exports
                    .insert(name.clone(), ExportIndex::Function(index));
                Some(name)
            }
            None => None,
        };

        let layout = ModuleLayout {
            fuel,
            memory_limit_hit,
            table_limit,
            start_export,
            imported_memory_max,
            scratch: Scratch {
                grow_delta,
                grow_result,
                memory_max_pages,
                table_ref_scratch,
                table_delta,
            },
        };
        *self.layout.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(layout));
        Ok(())
    }
}

/// The per-function middleware.
#[derive(Debug)]
struct FunctionSandbox {
    /// `None` only if the module-level transform did not run, in which case the function is
    /// left untouched (and the compile is refused by the caller, which finds no layout).
    layout: Option<Arc<ModuleLayout>>,
    /// Cost of the operators since the last flush.
    accumulated: u64,
    /// Whether the function-entry check has been emitted.
    entered: bool,
    /// Whether the previous original operator was an integer constant (so the length operand
    /// of a bulk operator is a constant, and wasmtime does not check fuel before it).
    previous_was_const: bool,
}

impl FunctionSandbox {
    /// Subtracts the accumulated cost from the remaining fuel.
    fn flush(&mut self, fuel: &FuelLayout, state: &mut MiddlewareReaderState<'_>) {
        if self.accumulated == 0 {
            return;
        }
        let cost = i64::try_from(self.accumulated).unwrap_or(i64::MAX);
        self.accumulated = 0;
        state.extend([
            Operator::GlobalGet {
                global_index: fuel.remaining.index,
            },
            Operator::I64Const { value: cost },
            Operator::I64Sub,
            Operator::GlobalSet {
                global_index: fuel.remaining.index,
            },
        ]);
    }

    /// Ends the run if no fuel is left (remaining <= 0), like wasmtime's checks.
    fn check(fuel: &FuelLayout, state: &mut MiddlewareReaderState<'_>) {
        state.extend([
            Operator::GlobalGet {
                global_index: fuel.remaining.index,
            },
            Operator::I64Const { value: 0 },
            Operator::I64LeS,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: fuel.exhausted.index,
            },
            Operator::Unreachable,
            Operator::End,
        ]);
    }

    /// `memory.grow` that traps (after setting the flag) when the sandbox limit refused it.
    fn rewrite_memory_grow<'a>(
        layout: &ModuleLayout,
        mem: u32,
        state: &mut MiddlewareReaderState<'a>,
    ) {
        let scratch = &layout.scratch;
        // The maximum the new size is compared with: the actual one of an imported memory
        // (set by the host), else the declared one.
        let max_pages = match layout
            .imported_memory_max
            .iter()
            .find(|imported| imported.memory == mem)
        {
            Some(imported) => Operator::GlobalGet {
                global_index: imported.slot.index,
            },
            None => Operator::I64Const {
                value: i64::try_from(
                    scratch
                        .memory_max_pages
                        .get(mem as usize)
                        .copied()
                        .unwrap_or(MAX_WASM32_PAGES),
                )
                .unwrap_or(i64::MAX),
            },
        };
        state.extend([
            Operator::GlobalSet {
                global_index: scratch.grow_delta,
            },
            Operator::GlobalGet {
                global_index: scratch.grow_delta,
            },
            Operator::MemoryGrow { mem },
            Operator::GlobalSet {
                global_index: scratch.grow_result,
            },
            Operator::GlobalGet {
                global_index: scratch.grow_result,
            },
            Operator::I32Const { value: -1 },
            Operator::I32Eq,
            Operator::If {
                blockty: BlockType::Empty,
            },
            // Failed: was the new size within the memory's own maximum? Then the sandbox
            // limit refused it. (Computed in i64: size + delta can exceed u32.)
            Operator::MemorySize { mem },
            Operator::I64ExtendI32U,
            Operator::GlobalGet {
                global_index: scratch.grow_delta,
            },
            Operator::I64ExtendI32U,
            Operator::I64Add,
            max_pages,
            Operator::I64LeU,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: layout.memory_limit_hit.index,
            },
            Operator::Unreachable,
            Operator::End,
            Operator::End,
            Operator::GlobalGet {
                global_index: scratch.grow_result,
            },
        ]);
    }

    /// `table.grow` that returns -1 without growing when all tables together would exceed the
    /// limit held in the table-limit global.
    fn rewrite_table_grow<'a>(
        layout: &ModuleLayout,
        table: u32,
        state: &mut MiddlewareReaderState<'a>,
    ) {
        let scratch = &layout.scratch;
        let (Some(limit), Some(Some(init))) = (
            layout.table_limit.as_ref(),
            scratch.table_ref_scratch.get(table as usize),
        ) else {
            // Unknown element type: keep the operator; the table's maximum (clamped to the
            // limit by the tunables) still bounds it.
            state.push_operator(Operator::TableGrow { table });
            return;
        };
        let init = *init;
        let table_count = u32::try_from(scratch.table_ref_scratch.len()).unwrap_or(u32::MAX);
        state.extend([
            Operator::GlobalSet {
                global_index: scratch.table_delta,
            },
            Operator::GlobalSet { global_index: init },
        ]);
        for index in 0..table_count {
            state.extend([
                Operator::TableSize { table: index },
                Operator::I64ExtendI32U,
            ]);
            if index > 0 {
                state.push_operator(Operator::I64Add);
            }
        }
        state.extend([
            Operator::GlobalGet {
                global_index: scratch.table_delta,
            },
            Operator::I64ExtendI32U,
            Operator::I64Add,
            Operator::GlobalGet {
                global_index: limit.index,
            },
            Operator::I64GtU,
            Operator::If {
                blockty: BlockType::Type(ValType::I32),
            },
            Operator::I32Const { value: -1 },
            Operator::Else,
            Operator::GlobalGet { global_index: init },
            Operator::GlobalGet {
                global_index: scratch.table_delta,
            },
            Operator::TableGrow { table },
            Operator::End,
        ]);
    }
}

/// Whether wasmtime flushes its fuel counter before this operator (it ends a basic block or
/// leaves the function).
fn ends_basic_block(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::Unreachable
            | Operator::Return
            | Operator::Call { .. }
            | Operator::CallIndirect { .. }
            | Operator::CallRef { .. }
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. }
            | Operator::Throw { .. }
            | Operator::ThrowRef
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Else
            | Operator::End
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::BrOnNull { .. }
            | Operator::BrOnNonNull { .. }
            | Operator::BrOnCast { .. }
            | Operator::BrOnCastFail { .. }
    )
}

/// Whether this is a bulk operator whose length operand wasmtime checks fuel for when it is not
/// a constant.
fn is_bulk(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::MemoryGrow { .. }
            | Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
    )
}

impl<'a> FunctionMiddleware<'a> for FunctionSandbox {
    fn feed(
        &mut self,
        operator: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        let Some(layout) = self.layout.clone() else {
            state.push_operator(operator);
            return Ok(());
        };
        let fuel = layout.fuel.as_ref();
        if let Some(fuel) = fuel {
            if !self.entered {
                // Like wasmtime: charge the entry, then check, before the first operator.
                self.entered = true;
                self.accumulated = FUNCTION_ENTRY_COST;
                self.flush(fuel, state);
                Self::check(fuel, state);
            }
            self.accumulated = self.accumulated.saturating_add(fuel_cost(&operator));
            if ends_basic_block(&operator) {
                self.flush(fuel, state);
            } else if is_bulk(&operator) && !self.previous_was_const {
                self.flush(fuel, state);
                Self::check(fuel, state);
            }
        }
        self.previous_was_const = matches!(
            operator,
            Operator::I32Const { .. } | Operator::I64Const { .. }
        );
        match operator {
            Operator::MemoryGrow { mem } => Self::rewrite_memory_grow(&layout, mem, state),
            Operator::TableGrow { table } => Self::rewrite_table_grow(&layout, table, state),
            Operator::Loop { blockty } => {
                state.push_operator(Operator::Loop { blockty });
                if let Some(fuel) = fuel {
                    Self::check(fuel, state);
                }
            }
            other => state.push_operator(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names_follow_wasmparser() {
        assert_eq!(operator_name(&Operator::I32Add), "I32Add");
        assert_eq!(operator_name(&Operator::Call { function_index: 3 }), "Call");
        assert_eq!(
            operator_name(&Operator::MemoryGrow { mem: 0 }),
            "MemoryGrow"
        );
        assert_eq!(fuel_cost(&Operator::I32Mul), 2);
        assert_eq!(fuel_cost(&Operator::Call { function_index: 0 }), 5);
        assert_eq!(fuel_cost(&Operator::MemoryGrow { mem: 0 }), 255);
        assert_eq!(fuel_cost(&Operator::End), 0);
        assert_eq!(fuel_cost(&Operator::LocalGet { local_index: 0 }), 1);
    }
}
