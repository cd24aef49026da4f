//! [`typed::Program`] → a WebAssembly module (wasm-encoder): a WASI command whose `_start`
//! runs `main`, and one export per `export func`.
//!
//! Values: `int` is `i64`, `float` `f64`, `bool` `i32` (0 or 1), an array an `i32` address of
//! `[length: i64][elements: 8 bytes each]` in linear memory (bump-allocated, never freed: a
//! run is short; each export's wrapper resets the heap pointer when the call returns, arrays
//! cannot escape an export). Element reads and writes are inline, their bounds check too (a
//! branch to the runtime error only when it fails). Output is buffered (8 KiB) and flushed when full, at the end of `_start`
//! and of each export, and before `exit` or a runtime error. A runtime error writes
//! `runtime error: WHAT at line L` to stderr and exits with status 1. Imports: `fd_write` and
//! `proc_exit`, and `fd_read` when the program reads input.

use crate::ast::{BinaryOp, Type};
use crate::typed::{self, Builtin, Call, ExprKind, Stmt};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, GlobalSection, GlobalType, Ieee64, ImportSection, Instruction as I,
    MemArg, MemArgTarget, MemorySection, MemoryType, Module, TypeSection, ValType,
};

// Linear memory layout.
const IOVECS: i32 = 0; // up to 8 iovecs
const NWRITTEN: i32 = 64;
const NUM_BUF: i32 = 96; // 32 bytes: digits, written backwards from NUM_END
const NUM_END: i32 = 128;
const TOKEN_BUF: i32 = 256;
const TOKEN_CAP: i32 = 64;
const ERR_BUF: i32 = 512;
const ERR_CAP: i32 = 510;
const IN_BUF: i32 = 1024;
const IN_CAP: i32 = 4096;
const OUT_BUF: i32 = 8192;
const OUT_CAP: i32 = 8192;
const DATA: u32 = 16384;

// Globals.
const G_HEAP: u32 = 0;
const G_OUT_LEN: u32 = 1;
const G_IN_POS: u32 = 2;
const G_IN_LEN: u32 = 3;
const G_TOKEN_LEN: u32 = 4;
/// The highest the heap has reached: memory from there up has never been written (zero), memory
/// below it may hold the arrays of an earlier export call (the heap is reset after each).
const G_HEAP_MAX: u32 = 5;

fn mem(offset: u64, align: u32) -> MemArg {
    MemArg {
        offset,
        align,
        target: MemArgTarget::Memory(0),
        ordering: None,
    }
}

fn val(ty: &Type) -> ValType {
    match ty {
        Type::Int => ValType::I64,
        Type::Float => ValType::F64,
        Type::Bool | Type::Array(_) => ValType::I32,
    }
}

/// Static strings in the data segment.
#[derive(Default)]
struct Data {
    bytes: Vec<u8>,
}

impl Data {
    /// (address, length) of `text`.
    fn add(&mut self, text: &str) -> (i32, i32) {
        if let Some(at) = find(&self.bytes, text.as_bytes()) {
            return ((DATA as usize + at) as i32, text.len() as i32);
        }
        let at = DATA as usize + self.bytes.len();
        self.bytes.extend_from_slice(text.as_bytes());
        (at as i32, text.len() as i32)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The runtime's functions, by index.
#[derive(Clone, Copy)]
struct Runtime {
    fd_write: u32,
    proc_exit: u32,
    fd_read: Option<u32>,
    write_all: u32,
    flush: u32,
    out_byte: u32,
    out_bytes: u32,
    print_int: u32,
    print_float: u32,
    error: u32,
    alloc: u32,
    array_new_i64: u32,
    array_new_f64: u32,
    to_int: u32,
    read_token: Option<u32>,
    read_int: Option<u32>,
    read_float: Option<u32>,
}

/// Compiles a checked program to a binary module.
pub fn generate(program: &typed::Program) -> Vec<u8> {
    let reads = program
        .functions
        .iter()
        .any(|function| uses_input(&function.body));
    let mut types = TypeSection::new();
    let mut type_of = Vec::<(Vec<ValType>, Vec<ValType>)>::new();
    let mut ty = |params: &[ValType], results: &[ValType]| -> u32 {
        let key = (params.to_vec(), results.to_vec());
        if let Some(index) = type_of.iter().position(|existing| *existing == key) {
            return index as u32;
        }
        type_of.push(key);
        (type_of.len() - 1) as u32
    };
    use ValType::{F64, I32, I64};
    let mut imports = ImportSection::new();
    let mut next = 0u32;
    let mut import = |imports: &mut ImportSection, name: &str, index: u32| {
        imports.import("wasi_snapshot_preview1", name, EntityType::Function(index));
        next += 1;
        next - 1
    };
    let fd_write = import(&mut imports, "fd_write", ty(&[I32, I32, I32, I32], &[I32]));
    let proc_exit = import(&mut imports, "proc_exit", ty(&[I32], &[]));
    let fd_read = reads.then(|| import(&mut imports, "fd_read", ty(&[I32, I32, I32, I32], &[I32])));
    let imported = next;
    // Runtime functions: (type, body builder) in index order.
    let mut functions = FunctionSection::new();
    let signatures = std::cell::RefCell::new(Vec::<u32>::new());
    let reserve = |type_index: u32| {
        let mut signatures = signatures.borrow_mut();
        signatures.push(type_index);
        imported + signatures.len() as u32 - 1
    };
    let rt = Runtime {
        fd_write,
        proc_exit,
        fd_read,
        write_all: reserve(ty(&[I32, I32, I32], &[])),
        flush: reserve(ty(&[], &[])),
        out_byte: reserve(ty(&[I32], &[])),
        out_bytes: reserve(ty(&[I32, I32], &[])),
        print_int: reserve(ty(&[I64], &[])),
        print_float: reserve(ty(&[F64], &[])),
        error: reserve(ty(&[I32, I32, I32], &[])),
        alloc: reserve(ty(&[I64, I32], &[I32])),
        array_new_i64: reserve(ty(&[I64, I64, I32], &[I32])),
        array_new_f64: reserve(ty(&[I64, F64, I32], &[I32])),
        to_int: reserve(ty(&[F64, I32], &[I64])),
        read_token: reads.then(|| reserve(ty(&[], &[]))),
        read_int: reads.then(|| reserve(ty(&[I32], &[I64]))),
        read_float: reads.then(|| reserve(ty(&[I32], &[F64]))),
    };
    let user_base = imported + signatures.borrow().len() as u32;
    for function in &program.functions {
        let params: Vec<ValType> = function.params.iter().map(val).collect();
        let results: Vec<ValType> = function.result.iter().map(val).collect();
        reserve(ty(&params, &results));
    }
    let start = program.main.map(|_| reserve(ty(&[], &[])));
    let mut wrappers = Vec::new();
    for (index, function) in program.functions.iter().enumerate() {
        if function.exported {
            let params: Vec<ValType> = function.params.iter().map(val).collect();
            let results: Vec<ValType> = function.result.iter().map(val).collect();
            wrappers.push((index, reserve(ty(&params, &results))));
        }
    }
    for (params, results) in &type_of {
        types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    for signature in signatures.borrow().iter() {
        functions.function(*signature);
    }

    let mut data = Data::default();
    let mut code = CodeSection::new();
    runtime(&rt, &mut data, &mut code);
    for function in &program.functions {
        let mut generator = Generator {
            rt,
            data: &mut data,
            user_base,
            labels: Vec::new(),
            body: Vec::new(),
            first_temp: function.locals.len() as u32,
            temps: Vec::new(),
            free: Vec::new(),
            lengths: vec![None; function.locals.len()],
        };
        // Each array local's length in a local of its own (an array's length never changes):
        // bounds checks compare with a register instead of loading from memory. Set with the
        // local; a parameter's at entry, except in an export, whose parameters the host gives.
        for (local, ty) in function.locals.iter().enumerate() {
            if matches!(ty, Type::Array(_)) {
                let is_param = local < function.params.len();
                if is_param && function.exported {
                    continue;
                }
                let length = generator.temp(ValType::I64);
                generator.lengths[local] = Some(length);
                if is_param {
                    generator.body.extend([
                        I::LocalGet(local as u32),
                        I::I64Load(mem(0, 3)),
                        I::LocalSet(length),
                    ]);
                }
            }
        }
        generator.statements(&function.body);
        if function.result.is_some() {
            generator.body.push(I::Unreachable);
        }
        generator.body.push(I::End);
        let locals: Vec<(u32, ValType)> = function.locals[function.params.len()..]
            .iter()
            .map(val)
            .chain(generator.temps.iter().copied())
            .map(|ty| (1, ty))
            .collect();
        let mut wasm = Function::new(locals);
        for instruction in &generator.body {
            wasm.instruction(instruction);
        }
        code.function(&wasm);
    }
    if let Some(main) = program.main {
        let mut wasm = Function::new([]);
        wasm.instruction(&I::Call(user_base + main as u32));
        wasm.instruction(&I::Call(rt.flush));
        wasm.instruction(&I::End);
        code.function(&wasm);
    }
    for (index, _) in &wrappers {
        // The heap pointer is saved on entry and restored on exit: arrays cannot outlive the
        // call (results are numbers), so calling an export again and again on one instance
        // reuses the same memory instead of growing it.
        let function = &program.functions[*index];
        let heap_local = function.params.len() as u32;
        let mut wasm = Function::new([(1, ValType::I32)]);
        wasm.instruction(&I::GlobalGet(G_HEAP));
        wasm.instruction(&I::LocalSet(heap_local));
        for param in 0..function.params.len() {
            wasm.instruction(&I::LocalGet(param as u32));
        }
        wasm.instruction(&I::Call(user_base + *index as u32));
        wasm.instruction(&I::Call(rt.flush));
        wasm.instruction(&I::LocalGet(heap_local));
        wasm.instruction(&I::GlobalSet(G_HEAP));
        wasm.instruction(&I::End);
        code.function(&wasm);
    }

    let heap = (DATA as usize + data.bytes.len()).next_multiple_of(8);
    let pages = heap.div_ceil(65536).max(1) as u64;
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: pages,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    let mut globals = GlobalSection::new();
    let mutable = |val_type| GlobalType {
        val_type,
        mutable: true,
        shared: false,
    };
    globals.global(mutable(ValType::I32), &ConstExpr::i32_const(heap as i32));
    for _ in [G_OUT_LEN, G_IN_POS, G_IN_LEN, G_TOKEN_LEN] {
        globals.global(mutable(ValType::I32), &ConstExpr::i32_const(0));
    }
    // G_HEAP_MAX: nothing above the initial heap has been used yet.
    globals.global(mutable(ValType::I32), &ConstExpr::i32_const(heap as i32));
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    if let Some(start) = start {
        exports.export("_start", ExportKind::Func, start);
    }
    for (index, wrapper) in &wrappers {
        exports.export(&program.functions[*index].name, ExportKind::Func, *wrapper);
    }
    let mut segments = DataSection::new();
    if !data.bytes.is_empty() {
        segments.active(
            0,
            &ConstExpr::i32_const(DATA as i32),
            data.bytes.iter().copied(),
        );
    }
    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    module.section(&functions);
    module.section(&memories);
    module.section(&globals);
    module.section(&exports);
    module.section(&code);
    if !data.bytes.is_empty() {
        module.section(&segments);
    }
    module.finish()
}

/// Emits `instructions` as a function with `locals` (beyond its parameters).
fn emit(code: &mut CodeSection, locals: &[ValType], instructions: &[I<'static>]) {
    let mut function = Function::new(locals.iter().map(|ty| (1, *ty)));
    for instruction in instructions {
        function.instruction(instruction);
    }
    function.instruction(&I::End);
    code.function(&function);
}

fn f64c(value: f64) -> I<'static> {
    I::F64Const(Ieee64::new(value.to_bits()))
}

/// `out_bytes(text)` of a static string.
fn out_text(rt: &Runtime, data: &mut Data, text: &str) -> Vec<I<'static>> {
    let (at, len) = data.add(text);
    vec![I::I32Const(at), I::I32Const(len), I::Call(rt.out_bytes)]
}

/// `if (condition on the stack) { error(message, line local) }`. `error` does not return:
/// the `unreachable` after its call tells the engine's compiler so (nothing is live across
/// the call, so nothing is spilled around it on the path that does not fail).
fn fail_if(rt: &Runtime, data: &mut Data, message: &str, line_local: u32) -> Vec<I<'static>> {
    let (at, len) = data.add(message);
    vec![
        I::If(BlockType::Empty),
        I::I32Const(at),
        I::I32Const(len),
        I::LocalGet(line_local),
        I::Call(rt.error),
        I::Unreachable,
        I::End,
    ]
}

/// Writes the runtime's functions, in the order `generate` reserved them.
fn runtime(rt: &Runtime, data: &mut Data, code: &mut CodeSection) {
    use ValType::{I32, I64};
    let b = |offset: u64| mem(offset, 0);
    let w = |offset: u64| mem(offset, 2);
    let q = |offset: u64| mem(offset, 3);
    // write_all(fd, address, length): fd_write until everything is written (it may write
    // less); an error or nothing written gives up (the output is lost, as with a closed
    // pipe). Local 3: written so far
    emit(
        code,
        &[I32],
        &[
            I::Block(BlockType::Empty),
            I::Loop(BlockType::Empty),
            I::LocalGet(3),
            I::LocalGet(2),
            I::I32GeU,
            I::BrIf(1),
            I::I32Const(IOVECS),
            I::LocalGet(1),
            I::LocalGet(3),
            I::I32Add,
            I::I32Store(w(0)),
            I::I32Const(IOVECS),
            I::LocalGet(2),
            I::LocalGet(3),
            I::I32Sub,
            I::I32Store(w(4)),
            I::LocalGet(0),
            I::I32Const(IOVECS),
            I::I32Const(1),
            I::I32Const(NWRITTEN),
            I::Call(rt.fd_write),
            I::I32Const(NWRITTEN),
            I::I32Load(w(0)),
            I::I32Eqz,
            I::I32Or,
            I::BrIf(1),
            I::LocalGet(3),
            I::I32Const(NWRITTEN),
            I::I32Load(w(0)),
            I::I32Add,
            I::LocalSet(3),
            I::Br(0),
            I::End,
            I::End,
        ],
    );
    // flush(): the output buffer to stdout
    emit(
        code,
        &[],
        &[
            I::I32Const(1),
            I::I32Const(OUT_BUF),
            I::GlobalGet(G_OUT_LEN),
            I::Call(rt.write_all),
            I::I32Const(0),
            I::GlobalSet(G_OUT_LEN),
        ],
    );
    // out_byte(byte)
    emit(
        code,
        &[],
        &[
            I::GlobalGet(G_OUT_LEN),
            I::I32Const(OUT_CAP),
            I::I32GeU,
            I::If(BlockType::Empty),
            I::Call(rt.flush),
            I::End,
            I::GlobalGet(G_OUT_LEN),
            I::LocalGet(0),
            I::I32Store8(b(OUT_BUF as u64)),
            I::GlobalGet(G_OUT_LEN),
            I::I32Const(1),
            I::I32Add,
            I::GlobalSet(G_OUT_LEN),
        ],
    );
    // out_bytes(address, length); local 2: i
    emit(
        code,
        &[I32],
        &[
            I::Block(BlockType::Empty),
            I::Loop(BlockType::Empty),
            I::LocalGet(2),
            I::LocalGet(1),
            I::I32GeU,
            I::BrIf(1),
            I::LocalGet(0),
            I::LocalGet(2),
            I::I32Add,
            I::I32Load8U(b(0)),
            I::Call(rt.out_byte),
            I::LocalGet(2),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(2),
            I::Br(0),
            I::End,
            I::End,
        ],
    );
    // print_int(value); local 1: position
    emit(
        code,
        &[I32],
        &[
            I::LocalGet(0),
            I::I64Const(0),
            I::I64LtS,
            I::If(BlockType::Empty),
            I::I32Const(b'-' as i32),
            I::Call(rt.out_byte),
            I::I64Const(0),
            I::LocalGet(0),
            I::I64Sub,
            I::LocalSet(0),
            I::End,
            I::I32Const(NUM_END),
            I::LocalSet(1),
            I::Loop(BlockType::Empty),
            I::LocalGet(1),
            I::I32Const(1),
            I::I32Sub,
            I::LocalTee(1),
            I::LocalGet(0),
            I::I64Const(10),
            I::I64RemU,
            I::I32WrapI64,
            I::I32Const(b'0' as i32),
            I::I32Add,
            I::I32Store8(b(0)),
            I::LocalGet(0),
            I::I64Const(10),
            I::I64DivU,
            I::LocalTee(0),
            I::I64Const(0),
            I::I64Ne,
            I::BrIf(0),
            I::End,
            I::LocalGet(1),
            I::I32Const(NUM_END),
            I::LocalGet(1),
            I::I32Sub,
            I::Call(rt.out_bytes),
        ],
    );
    // print_float(value); locals 1: scaled (i64), 2: exponent (i32), 3: digits (i32), 4: k
    {
        let mut body = vec![
            I::LocalGet(0),
            I::LocalGet(0),
            I::F64Ne,
            I::If(BlockType::Empty),
        ];
        body.extend(out_text(rt, data, "NaN"));
        body.extend([
            I::Return,
            I::End,
            I::LocalGet(0),
            I::I64ReinterpretF64,
            I::I64Const(0),
            I::I64LtS,
            I::If(BlockType::Empty),
            I::I32Const(b'-' as i32),
            I::Call(rt.out_byte),
            I::LocalGet(0),
            I::F64Neg,
            I::LocalSet(0),
            I::End,
            I::LocalGet(0),
            f64c(f64::INFINITY),
            I::F64Eq,
            I::If(BlockType::Empty),
        ]);
        body.extend(out_text(rt, data, "inf"));
        body.extend([
            I::Return,
            I::End,
            // Large values: d.dddddde+N.
            I::LocalGet(0),
            f64c(1e12),
            I::F64Ge,
            I::If(BlockType::Empty),
            I::Loop(BlockType::Empty),
            I::LocalGet(0),
            f64c(10.0),
            I::F64Div,
            I::LocalSet(0),
            I::LocalGet(2),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(2),
            I::LocalGet(0),
            f64c(10.0),
            I::F64Ge,
            I::BrIf(0),
            I::End,
            I::End,
            I::LocalGet(0),
            f64c(1e6),
            I::F64Mul,
            I::F64Nearest,
            I::I64TruncF64U,
            I::LocalSet(1),
            // A scaled mantissa that rounds up to 10 is 1 of the next power: 1.0e13, not
            // 10.0e12.
            I::LocalGet(2),
            I::I32Eqz,
            I::I32Eqz,
            I::LocalGet(1),
            I::I64Const(10_000_000),
            I::I64GeU,
            I::I32And,
            I::If(BlockType::Empty),
            I::I64Const(1_000_000),
            I::LocalSet(1),
            I::LocalGet(2),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(2),
            I::End,
            I::LocalGet(1),
            I::I64Const(1_000_000),
            I::I64DivU,
            I::Call(rt.print_int),
            I::I32Const(b'.' as i32),
            I::Call(rt.out_byte),
            // Six digits of the fraction into NUM_BUF[0..6].
            I::I32Const(6),
            I::LocalSet(4),
            I::Loop(BlockType::Empty),
            I::LocalGet(4),
            I::I32Const(1),
            I::I32Sub,
            I::LocalTee(4),
            I::LocalGet(1),
            I::I64Const(10),
            I::I64RemU,
            I::I32WrapI64,
            I::I32Const(b'0' as i32),
            I::I32Add,
            I::I32Store8(b(NUM_BUF as u64)),
            I::LocalGet(1),
            I::I64Const(10),
            I::I64DivU,
            I::LocalSet(1),
            I::LocalGet(4),
            I::BrIf(0),
            I::End,
            // Trailing zeros trimmed, one digit kept.
            I::I32Const(6),
            I::LocalSet(3),
            I::Block(BlockType::Empty),
            I::Loop(BlockType::Empty),
            I::LocalGet(3),
            I::I32Const(1),
            I::I32LeU,
            I::BrIf(1),
            I::LocalGet(3),
            I::I32Load8U(b(NUM_BUF as u64 - 1)),
            I::I32Const(b'0' as i32),
            I::I32Ne,
            I::BrIf(1),
            I::LocalGet(3),
            I::I32Const(1),
            I::I32Sub,
            I::LocalSet(3),
            I::Br(0),
            I::End,
            I::End,
            I::I32Const(NUM_BUF),
            I::LocalGet(3),
            I::Call(rt.out_bytes),
            I::LocalGet(2),
            I::If(BlockType::Empty),
            I::I32Const(b'e' as i32),
            I::Call(rt.out_byte),
            I::LocalGet(2),
            I::I64ExtendI32U,
            I::Call(rt.print_int),
            I::End,
        ]);
        emit(code, &[I64, I32, I32, I32], &body);
    }
    // error(message, length, line): stdout flushed, then `runtime error: MESSAGE at line L`
    // assembled in ERR_BUF and written to stderr, exit status 1. Locals 3: position, 4: length
    // so far, 5: bytes left to append
    {
        let (prefix, prefix_len) = data.add("runtime error: ");
        let (middle, middle_len) = data.add(" at line ");
        let append = |address: I<'static>, length: I<'static>| -> Vec<I<'static>> {
            // ERR_BUF[len..] = bytes, len += length (at most ERR_CAP in all).
            vec![
                address,
                I::LocalSet(3),
                length,
                I::LocalSet(5),
                I::Block(BlockType::Empty),
                I::Loop(BlockType::Empty),
                I::LocalGet(5),
                I::I32Eqz,
                I::LocalGet(4),
                I::I32Const(ERR_CAP),
                I::I32GeU,
                I::I32Or,
                I::BrIf(1),
                I::LocalGet(4),
                I::LocalGet(3),
                I::I32Load8U(b(0)),
                I::I32Store8(b(ERR_BUF as u64)),
                I::LocalGet(4),
                I::I32Const(1),
                I::I32Add,
                I::LocalSet(4),
                I::LocalGet(3),
                I::I32Const(1),
                I::I32Add,
                I::LocalSet(3),
                I::LocalGet(5),
                I::I32Const(1),
                I::I32Sub,
                I::LocalSet(5),
                I::Br(0),
                I::End,
                I::End,
            ]
        };
        let mut body = vec![I::Call(rt.flush)];
        body.extend(append(I::I32Const(prefix), I::I32Const(prefix_len)));
        body.extend(append(I::LocalGet(0), I::LocalGet(1)));
        body.extend(append(I::I32Const(middle), I::I32Const(middle_len)));
        // The line's digits, backwards into NUM_BUF, then appended.
        body.extend([
            I::I32Const(NUM_END),
            I::LocalSet(6),
            I::Loop(BlockType::Empty),
            I::LocalGet(6),
            I::I32Const(1),
            I::I32Sub,
            I::LocalTee(6),
            I::LocalGet(2),
            I::I32Const(10),
            I::I32RemU,
            I::I32Const(b'0' as i32),
            I::I32Add,
            I::I32Store8(b(0)),
            I::LocalGet(2),
            I::I32Const(10),
            I::I32DivU,
            I::LocalTee(2),
            I::BrIf(0),
            I::End,
        ]);
        let digits_length = vec![I::I32Const(NUM_END), I::LocalGet(6), I::I32Sub];
        let mut digits = append(I::LocalGet(6), I::Nop);
        // The length is computed, not a constant: replace the placeholder.
        digits.splice(2..3, digits_length);
        body.extend(digits);
        body.extend([
            I::LocalGet(4),
            I::I32Const(b'\n' as i32),
            I::I32Store8(b(ERR_BUF as u64)),
            I::LocalGet(4),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(4),
            I::I32Const(2),
            I::I32Const(ERR_BUF),
            I::LocalGet(4),
            I::Call(rt.write_all),
            I::I32Const(1),
            I::Call(rt.proc_exit),
            I::Unreachable,
        ]);
        emit(code, &[I32, I32, I32, I32], &body);
    }
    // alloc(bytes: i64, line) -> address; local 2: end (i64)
    emit(
        code,
        &[I64],
        &[
            I::GlobalGet(G_HEAP),
            I::I64ExtendI32U,
            I::LocalGet(0),
            I::I64Add,
            I::I64Const(7),
            I::I64Add,
            I::I64Const(-8),
            I::I64And,
            I::LocalTee(2),
            I::I64Const(1 << 32),
            I::I64GtU,
            I::If(BlockType::Empty),
            // More than a 32-bit memory holds: ask for all of it (the sandbox's limit refuses
            // and reports memory_limit_exceeded), then stop.
            I::I32Const(65535),
            I::MemoryGrow(0),
            I::Drop,
            I::Unreachable,
            I::End,
            I::LocalGet(2),
            I::MemorySize(0),
            I::I64ExtendI32U,
            I::I64Const(16),
            I::I64Shl,
            I::I64GtU,
            I::If(BlockType::Empty),
            I::LocalGet(2),
            I::MemorySize(0),
            I::I64ExtendI32U,
            I::I64Const(16),
            I::I64Shl,
            I::I64Sub,
            I::I64Const(65535),
            I::I64Add,
            I::I64Const(16),
            I::I64ShrU,
            I::I32WrapI64,
            I::MemoryGrow(0),
            I::I32Const(-1),
            I::I32Eq,
            I::If(BlockType::Empty),
            I::Unreachable,
            I::End,
            I::End,
            I::GlobalGet(G_HEAP),
            I::LocalGet(2),
            I::I32WrapI64,
            I::GlobalSet(G_HEAP),
            I::GlobalGet(G_HEAP),
            I::GlobalGet(G_HEAP_MAX),
            I::I32GtU,
            I::If(BlockType::Empty),
            I::GlobalGet(G_HEAP),
            I::GlobalSet(G_HEAP_MAX),
            I::End,
        ],
    );
    // array_new_i64 / array_new_f64(n, init, line) -> address; locals 3: address, 4: scratch
    // (i64), 5: the heap's high-water mark before the allocation, 6: element pointer, 7: end
    for float in [false, true] {
        let mut body = vec![I::LocalGet(0), I::I64Const(0), I::I64LtS];
        body.extend(fail_if(rt, data, "negative array length", 2));
        body.extend([
            I::GlobalGet(G_HEAP_MAX),
            I::LocalSet(5),
            // Bytes: 8 + 8n, capped (anything above 4 GiB fails the same way).
            I::LocalGet(0),
            I::I64Const(1 << 33),
            I::LocalGet(0),
            I::I64Const(1 << 32),
            I::I64LtU,
            I::Select,
            I::I64Const(3),
            I::I64Shl,
            I::I64Const(8),
            I::I64Add,
            I::LocalGet(2),
            I::Call(rt.alloc),
            I::LocalTee(3),
            I::LocalGet(0),
            I::I64Store(q(0)),
            I::LocalGet(1),
        ]);
        if float {
            body.push(I::I64ReinterpretF64);
        }
        body.extend([
            I::I64Eqz,
            I::If(BlockType::Empty),
            // Zero: memory never used is zero already; only the part below the high-water
            // mark (arrays of an earlier export call) is cleared.
            I::LocalGet(5),
            I::I64ExtendI32U,
            I::LocalGet(3),
            I::I64ExtendI32U,
            I::I64Const(8),
            I::I64Add,
            I::I64Sub,
            I::LocalTee(4),
            I::I64Const(0),
            I::I64GtS,
            I::If(BlockType::Empty),
            I::LocalGet(3),
            I::I32Const(8),
            I::I32Add,
            I::I32Const(0),
            I::LocalGet(4),
            I::LocalGet(0),
            I::I64Const(3),
            I::I64Shl,
            I::LocalGet(4),
            I::LocalGet(0),
            I::I64Const(3),
            I::I64Shl,
            I::I64LtS,
            I::Select,
            I::I32WrapI64,
            I::MemoryFill(0),
            I::End,
            I::Else,
            // Any other value: written to every element.
            I::LocalGet(3),
            I::I32Const(8),
            I::I32Add,
            I::LocalTee(6),
            I::LocalGet(0),
            I::I32WrapI64,
            I::I32Const(3),
            I::I32Shl,
            I::I32Add,
            I::LocalSet(7),
            I::Block(BlockType::Empty),
            I::Loop(BlockType::Empty),
            // `==`, not `>=`: an array ending at 4 GiB has its end wrap to 0.
            I::LocalGet(6),
            I::LocalGet(7),
            I::I32Eq,
            I::BrIf(1),
            I::LocalGet(6),
            I::LocalGet(1),
        ]);
        body.push(if float {
            I::F64Store(q(0))
        } else {
            I::I64Store(q(0))
        });
        body.extend([
            I::LocalGet(6),
            I::I32Const(8),
            I::I32Add,
            I::LocalSet(6),
            I::Br(0),
            I::End,
            I::End,
            I::End,
            I::LocalGet(3),
        ]);
        emit(code, &[I32, I64, I32, I32, I32], &body);
    }
    // to_int(value, line)
    {
        let mut body = vec![I::LocalGet(0), I::LocalGet(0), I::F64Ne];
        body.extend(fail_if(rt, data, "NaN converted to int", 1));
        body.extend([
            I::LocalGet(0),
            f64c(9_223_372_036_854_775_808.0),
            I::F64Ge,
            I::LocalGet(0),
            f64c(-9_223_372_036_854_775_808.0),
            I::F64Lt,
            I::I32Or,
        ]);
        body.extend(fail_if(rt, data, "float out of range for int", 1));
        body.extend([I::LocalGet(0), I::I64TruncF64S]);
        emit(code, &[], &body);
    }
    if let (Some(fd_read), Some(_)) = (rt.fd_read, rt.read_token) {
        read_functions(rt, fd_read, data, code);
    }
}

/// `read_token`, `read_int`, `read_float`.
fn read_functions(rt: &Runtime, fd_read: u32, data: &mut Data, code: &mut CodeSection) {
    use ValType::{F64, I32, I64};
    let b = |offset: u64| mem(offset, 0);
    let w = |offset: u64| mem(offset, 2);
    // Refills the input buffer when it is used up; `eof_depth` is the branch depth that leaves
    // the token loop at the end of input. Leaves the next byte in local 0.
    let next_byte = |eof_depth: u32| -> Vec<I<'static>> {
        vec![
            I::GlobalGet(G_IN_POS),
            I::GlobalGet(G_IN_LEN),
            I::I32GeU,
            I::If(BlockType::Empty),
            I::I32Const(IOVECS),
            I::I32Const(IN_BUF),
            I::I32Store(w(0)),
            I::I32Const(IOVECS),
            I::I32Const(IN_CAP),
            I::I32Store(w(4)),
            I::I32Const(0),
            I::I32Const(IOVECS),
            I::I32Const(1),
            I::I32Const(NWRITTEN),
            I::Call(fd_read),
            I::Drop,
            I::I32Const(0),
            I::GlobalSet(G_IN_POS),
            I::I32Const(NWRITTEN),
            I::I32Load(w(0)),
            I::GlobalSet(G_IN_LEN),
            I::GlobalGet(G_IN_LEN),
            I::I32Eqz,
            I::BrIf(eof_depth + 1),
            I::End,
            I::GlobalGet(G_IN_POS),
            I::I32Load8U(b(IN_BUF as u64)),
            I::LocalSet(0),
        ]
    };
    let is_space = || -> Vec<I<'static>> {
        vec![
            I::LocalGet(0),
            I::I32Const(32),
            I::I32Eq,
            I::LocalGet(0),
            I::I32Const(9),
            I::I32Sub,
            I::I32Const(4),
            I::I32LeU, // \t \n \v \f \r
            I::I32Or,
        ]
    };
    // read_token(); local 0: the byte
    let mut body = vec![
        I::I32Const(0),
        I::GlobalSet(G_TOKEN_LEN),
        I::Block(BlockType::Empty),
        I::Loop(BlockType::Empty),
    ];
    body.extend(next_byte(1));
    body.extend(is_space());
    body.extend([
        I::If(BlockType::Empty),
        I::GlobalGet(G_IN_POS),
        I::I32Const(1),
        I::I32Add,
        I::GlobalSet(G_IN_POS),
        I::Br(1),
        I::End,
        I::Loop(BlockType::Empty),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32Const(TOKEN_CAP),
        I::I32LtU,
        I::If(BlockType::Empty),
        I::GlobalGet(G_TOKEN_LEN),
        I::LocalGet(0),
        I::I32Store8(b(TOKEN_BUF as u64)),
        I::End,
        I::GlobalGet(G_TOKEN_LEN),
        I::I32Const(1),
        I::I32Add,
        I::GlobalSet(G_TOKEN_LEN),
        I::GlobalGet(G_IN_POS),
        I::I32Const(1),
        I::I32Add,
        I::GlobalSet(G_IN_POS),
    ]);
    body.extend(next_byte(2));
    body.extend(is_space());
    body.extend([I::BrIf(2), I::Br(0), I::End, I::End, I::End]);
    emit(code, &[I32], &body);

    // read_int(line); locals 1: i, 2: negative, 3: value (u64), 4: digit
    let mut body = vec![
        I::Call(rt.read_token.unwrap_or(0)),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32Eqz,
    ];
    body.extend(fail_if(rt, data, "end of input while reading an int", 0));
    let malformed = fail_if(rt, data, "malformed int in the input", 0);
    body.extend([I::GlobalGet(G_TOKEN_LEN), I::I32Const(TOKEN_CAP), I::I32GtU]);
    body.extend(malformed.clone());
    body.extend(sign(4));
    body.extend([I::LocalGet(1), I::GlobalGet(G_TOKEN_LEN), I::I32GeU]);
    body.extend(malformed.clone());
    body.extend([
        I::Loop(BlockType::Empty),
        I::LocalGet(1),
        I::I32Load8U(b(TOKEN_BUF as u64)),
        I::I32Const(b'0' as i32),
        I::I32Sub,
        I::LocalTee(4),
        I::I32Const(9),
        I::I32GtU,
    ]);
    body.extend(malformed.clone());
    // Overflow: value * 10 + digit above 2^63 - 1 (2^63 when negative).
    body.extend([
        I::LocalGet(3),
        I::I64Const(922_337_203_685_477_580),
        I::I64GtU,
        I::LocalGet(3),
        I::I64Const(922_337_203_685_477_580),
        I::I64Eq,
        I::LocalGet(4),
        I::I32Const(7),
        I::LocalGet(2),
        I::I32Add,
        I::I32GtU,
        I::I32And,
        I::I32Or,
    ]);
    body.extend(fail_if(rt, data, "int out of range in the input", 0));
    body.extend([
        I::LocalGet(3),
        I::I64Const(10),
        I::I64Mul,
        I::LocalGet(4),
        I::I64ExtendI32U,
        I::I64Add,
        I::LocalSet(3),
        I::LocalGet(1),
        I::I32Const(1),
        I::I32Add,
        I::LocalTee(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32LtU,
        I::BrIf(0),
        I::End,
        I::I64Const(0),
        I::LocalGet(3),
        I::I64Sub,
        I::LocalGet(3),
        I::LocalGet(2),
        I::Select,
    ]);
    emit(code, &[I32, I32, I64, I32], &body);

    // read_float(line); locals 1: i, 2: negative, 3: value, 4: digit/byte, 5: scale,
    // 6: exponent, 7: exponent negative, 8: digits seen
    let mut body = vec![
        I::Call(rt.read_token.unwrap_or(0)),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32Eqz,
    ];
    body.extend(fail_if(rt, data, "end of input while reading a float", 0));
    let malformed = fail_if(rt, data, "malformed float in the input", 0);
    body.extend([I::GlobalGet(G_TOKEN_LEN), I::I32Const(TOKEN_CAP), I::I32GtU]);
    body.extend(malformed.clone());
    body.extend(sign(4));
    body.extend([f64c(1.0), I::LocalSet(5)]);
    // The digits of the mantissa, with one `.` among them.
    let digit_loop = |after_point: bool| -> Vec<I<'static>> {
        let mut part = vec![
            I::Block(BlockType::Empty),
            I::Loop(BlockType::Empty),
            I::LocalGet(1),
            I::GlobalGet(G_TOKEN_LEN),
            I::I32GeU,
            I::BrIf(1),
            I::LocalGet(1),
            I::I32Load8U(b(TOKEN_BUF as u64)),
            I::I32Const(b'0' as i32),
            I::I32Sub,
            I::LocalTee(4),
            I::I32Const(9),
            I::I32GtU,
            I::BrIf(1),
            I::LocalGet(3),
            f64c(10.0),
            I::F64Mul,
            I::LocalGet(4),
            I::F64ConvertI32U,
            I::F64Add,
            I::LocalSet(3),
        ];
        if after_point {
            part.extend([I::LocalGet(5), f64c(10.0), I::F64Mul, I::LocalSet(5)]);
        }
        part.extend([
            I::LocalGet(8),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(8),
            I::LocalGet(1),
            I::I32Const(1),
            I::I32Add,
            I::LocalSet(1),
            I::Br(0),
            I::End,
            I::End,
        ]);
        part
    };
    body.extend(digit_loop(false));
    body.extend([
        I::LocalGet(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32LtU,
        I::If(BlockType::Empty),
        I::LocalGet(1),
        I::I32Load8U(b(TOKEN_BUF as u64)),
        I::I32Const(b'.' as i32),
        I::I32Eq,
        I::If(BlockType::Empty),
        I::LocalGet(1),
        I::I32Const(1),
        I::I32Add,
        I::LocalSet(1),
    ]);
    body.extend(digit_loop(true));
    body.extend([I::End, I::End, I::LocalGet(8), I::I32Eqz]);
    body.extend(malformed.clone());
    // An exponent: e or E, a sign, digits.
    body.extend([
        I::LocalGet(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32LtU,
        I::If(BlockType::Empty),
        I::LocalGet(1),
        I::I32Load8U(b(TOKEN_BUF as u64)),
        I::I32Const(0x20),
        I::I32Or,
        I::I32Const(b'e' as i32),
        I::I32Ne,
    ]);
    body.extend(malformed.clone());
    body.extend([
        I::LocalGet(1),
        I::I32Const(1),
        I::I32Add,
        I::LocalSet(1),
        I::LocalGet(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32LtU,
        I::If(BlockType::Empty),
        I::LocalGet(1),
        I::I32Load8U(b(TOKEN_BUF as u64)),
        I::LocalTee(4),
        I::I32Const(b'-' as i32),
        I::I32Eq,
        I::LocalSet(7),
        I::LocalGet(4),
        I::I32Const(b'-' as i32),
        I::I32Eq,
        I::LocalGet(4),
        I::I32Const(b'+' as i32),
        I::I32Eq,
        I::I32Or,
        I::If(BlockType::Empty),
        I::LocalGet(1),
        I::I32Const(1),
        I::I32Add,
        I::LocalSet(1),
        I::End,
        I::End,
        I::LocalGet(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32GeU,
    ]);
    body.extend(malformed.clone());
    body.extend([
        I::Loop(BlockType::Empty),
        I::LocalGet(1),
        I::I32Load8U(b(TOKEN_BUF as u64)),
        I::I32Const(b'0' as i32),
        I::I32Sub,
        I::LocalTee(4),
        I::I32Const(9),
        I::I32GtU,
    ]);
    body.extend(malformed.clone());
    body.extend([
        I::LocalGet(6),
        I::I32Const(10),
        I::I32Mul,
        I::LocalGet(4),
        I::I32Add,
        // Bounded: an exponent this large makes 0 or infinity anyway.
        I::LocalTee(6),
        I::I32Const(400),
        I::LocalGet(6),
        I::I32Const(400),
        I::I32LtU,
        I::Select,
        I::LocalSet(6),
        I::LocalGet(1),
        I::I32Const(1),
        I::I32Add,
        I::LocalTee(1),
        I::GlobalGet(G_TOKEN_LEN),
        I::I32LtU,
        I::BrIf(0),
        I::End,
        // Apply the exponent to the scale.
        I::Block(BlockType::Empty),
        I::Loop(BlockType::Empty),
        I::LocalGet(6),
        I::I32Eqz,
        I::BrIf(1),
        // A negative exponent makes the divisor larger, a positive one smaller.
        I::LocalGet(5),
        f64c(10.0),
        I::F64Mul,
        I::LocalGet(5),
        f64c(10.0),
        I::F64Div,
        I::LocalGet(7),
        I::Select,
        I::LocalSet(5),
        I::LocalGet(6),
        I::I32Const(1),
        I::I32Sub,
        I::LocalSet(6),
        I::Br(0),
        I::End,
        I::End,
        I::End,
        I::LocalGet(3),
        I::LocalGet(5),
        I::F64Div,
        I::LocalTee(3),
        I::F64Neg,
        I::LocalGet(3),
        I::LocalGet(2),
        I::Select,
    ]);
    emit(code, &[I32, I32, F64, I32, F64, I32, I32, I32], &body);
}

/// A leading `-` or `+` of the token: local 2 set for `-`, local 1 (the position) past it.
/// `byte` is a scratch local.
fn sign(byte: u32) -> Vec<I<'static>> {
    vec![
        I::I32Const(0),
        I::I32Load8U(mem(TOKEN_BUF as u64, 0)),
        I::LocalTee(byte),
        I::I32Const(b'-' as i32),
        I::I32Eq,
        I::LocalSet(2),
        I::LocalGet(byte),
        I::I32Const(b'-' as i32),
        I::I32Eq,
        I::LocalGet(byte),
        I::I32Const(b'+' as i32),
        I::I32Eq,
        I::I32Or,
        I::LocalSet(1),
        I::I32Const(0),
        I::LocalSet(byte),
    ]
}

/// Whether `statements` read input.
fn uses_input(statements: &[Stmt]) -> bool {
    fn expr(e: &typed::Expr) -> bool {
        match &e.kind {
            ExprKind::Call(Call::Builtin(Builtin::ReadInt | Builtin::ReadFloat), _) => true,
            ExprKind::Call(_, args) => args.iter().any(expr),
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => expr(a) || expr(b),
            ExprKind::Neg(a) | ExprKind::Not(a) | ExprKind::Cast(a, _) => expr(a),
            _ => false,
        }
    }
    statements.iter().any(|statement| match statement {
        Stmt::Set(_, value) | Stmt::Expr(value) => expr(value),
        Stmt::SetIndex {
            array,
            index,
            value,
            ..
        } => expr(array) || expr(index) || expr(value),
        Stmt::If(condition, then, otherwise) => {
            expr(condition) || uses_input(then) || uses_input(otherwise)
        }
        Stmt::While(condition, body) => expr(condition) || uses_input(body),
        Stmt::For {
            low, high, body, ..
        } => expr(low) || expr(high) || uses_input(body),
        Stmt::Return(Some(value)) => expr(value),
        _ => false,
    })
}

/// What a branch target is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Break,
    Continue,
    Other,
}

/// A value an array access uses more than once: a local (the program's or a temporary) or an
/// `int` constant.
#[derive(Clone, Copy)]
enum Operand {
    Local(u32),
    Int(i64),
}

/// The constant value of an `int` expression that is a literal (or a negated literal).
fn const_int(expr: &typed::Expr) -> Option<i64> {
    match &expr.kind {
        ExprKind::Int(value) => Some(*value),
        ExprKind::Neg(inner) => match inner.kind {
            ExprKind::Int(value) => Some(value.wrapping_neg()),
            _ => None,
        },
        _ => None,
    }
}

/// Whether evaluating `expr` has no effect and cannot fail: evaluating it twice, once, or
/// earlier than the source says gives the same program.
fn pure(expr: &typed::Expr) -> bool {
    match &expr.kind {
        ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Bool(_) | ExprKind::Local(_) => true,
        ExprKind::Neg(inner) | ExprKind::Not(inner) => pure(inner),
        // `float as int` can fail (NaN, out of range).
        ExprKind::Cast(inner, target) => *target == Type::Float && pure(inner),
        ExprKind::Binary(BinaryOp::Div | BinaryOp::Rem, left, right) => {
            let divisible = left.ty == Some(Type::Float)
                || const_int(right).is_some_and(|divisor| divisor != 0);
            divisible && pure(left) && pure(right)
        }
        ExprKind::Binary(_, left, right) => pure(left) && pure(right),
        ExprKind::Call(Call::Builtin(Builtin::Len), args) => args.iter().all(pure),
        _ => false,
    }
}

/// The code of one function.
struct Generator<'a> {
    rt: Runtime,
    data: &'a mut Data,
    user_base: u32,
    labels: Vec<Label>,
    body: Vec<I<'static>>,
    /// The index of the first temporary local (after the function's own).
    first_temp: u32,
    /// The types of the temporaries.
    temps: Vec<ValType>,
    /// Temporaries free for reuse.
    free: Vec<u32>,
    /// For each of the function's locals holding an array, the local holding its length.
    lengths: Vec<Option<u32>>,
}

impl Generator<'_> {
    /// A temporary local of type `ty`, free until [`Generator::release`].
    fn temp(&mut self, ty: ValType) -> u32 {
        let first = self.first_temp;
        if let Some(at) = self
            .free
            .iter()
            .position(|local| self.temps[(local - first) as usize] == ty)
        {
            return self.free.swap_remove(at);
        }
        self.temps.push(ty);
        first + self.temps.len() as u32 - 1
    }

    fn release(&mut self, temps: Vec<u32>) {
        self.free.extend(temps);
    }

    /// Evaluates `expr` into a temporary (added to `temps`) unless it is a local or a constant.
    fn operand(&mut self, expr: &typed::Expr, temps: &mut Vec<u32>) -> Operand {
        match expr.kind {
            ExprKind::Local(local) => Operand::Local(local as u32),
            ExprKind::Int(value) => Operand::Int(value),
            _ => {
                self.expr(expr);
                let ty = expr.ty.as_ref().map_or(ValType::I64, val);
                let temp = self.temp(ty);
                temps.push(temp);
                self.body.push(I::LocalSet(temp));
                Operand::Local(temp)
            }
        }
    }

    fn push_operand(&mut self, operand: Operand) {
        self.body.push(match operand {
            Operand::Local(local) => I::LocalGet(local),
            Operand::Int(value) => I::I64Const(value),
        });
    }

    /// Evaluates `array`, then `index`: the local holding the array and the index.
    fn element(
        &mut self,
        array: &typed::Expr,
        index: &typed::Expr,
        temps: &mut Vec<u32>,
    ) -> (u32, Operand) {
        let array = match self.operand(array, temps) {
            Operand::Local(local) => local,
            Operand::Int(_) => unreachable!("an array is never an int constant"),
        };
        (array, self.operand(index, temps))
    }

    /// Pushes the length of the array in local `array`.
    fn push_length(&mut self, array: u32) {
        match self.lengths.get(array as usize).copied().flatten() {
            Some(length) => self.body.push(I::LocalGet(length)),
            None => self
                .body
                .extend([I::LocalGet(array), I::I64Load(mem(0, 3))]),
        }
    }

    /// `index < len(array)` (unsigned: a negative index fails too), else the runtime error.
    fn bounds_check(&mut self, array: u32, index: Operand, line: u32) {
        let (at, len) = self.data.add("array index out of bounds");
        self.push_operand(index);
        self.push_length(array);
        self.body.extend([
            I::I64GeU,
            I::If(BlockType::Empty),
            I::I32Const(at),
            I::I32Const(len),
            I::I32Const(line as i32),
            I::Call(self.rt.error),
            I::Unreachable,
            I::End,
        ]);
    }

    /// Pushes the address an element's load or store takes, with the offset to give it (a
    /// constant index is folded into the offset).
    fn push_address(&mut self, array: u32, index: Operand) -> u64 {
        match index {
            Operand::Int(value) if (0..1 << 28).contains(&value) => {
                self.body.push(I::LocalGet(array));
                8 + 8 * value as u64
            }
            _ => {
                self.body.push(I::LocalGet(array));
                self.push_operand(index);
                self.body
                    .extend([I::I32WrapI64, I::I32Const(3), I::I32Shl, I::I32Add]);
                8
            }
        }
    }

    /// Loads an element of type `ty` (booleans are stored as 0 or 1 in 8 bytes).
    fn load(&mut self, ty: Option<&Type>, offset: u64) {
        self.body.push(match ty {
            Some(Type::Float) => I::F64Load(mem(offset, 3)),
            Some(Type::Bool) => I::I32Load(mem(offset, 2)),
            _ => I::I64Load(mem(offset, 3)),
        });
    }

    /// Stores the value on the stack, of type `ty`, as an element.
    fn store(&mut self, ty: Option<&Type>, offset: u64) {
        match ty {
            Some(Type::Float) => self.body.push(I::F64Store(mem(offset, 3))),
            Some(Type::Bool) => {
                self.body.push(I::I64ExtendI32U);
                self.body.push(I::I64Store(mem(offset, 3)));
            }
            _ => self.body.push(I::I64Store(mem(offset, 3))),
        }
    }

    /// `array[index] = value`, the bounds check where the source has it: after `value` is
    /// evaluated (it may fail first), or before when `value` cannot fail; `a[i] op= v` checks
    /// and computes the address once for the read and the write.
    fn set_index(
        &mut self,
        array: &typed::Expr,
        index: &typed::Expr,
        value: &typed::Expr,
        line: u32,
    ) {
        let mut temps = Vec::new();
        if let ExprKind::Binary(op, current, operand) = &value.kind {
            if let ExprKind::Index(same_array, same_index) = &current.kind {
                if **same_array == *array
                    && **same_index == *index
                    && pure(array)
                    && pure(index)
                    && !matches!(op, BinaryOp::And | BinaryOp::Or)
                {
                    let (array, index) = self.element(array, index, &mut temps);
                    self.bounds_check(array, index, current.line);
                    let offset = self.push_address(array, index);
                    let address = self.temp(ValType::I32);
                    temps.push(address);
                    self.body.push(I::LocalTee(address));
                    self.body.push(I::LocalGet(address));
                    self.load(current.ty.as_ref(), offset);
                    self.binary_rest(*op, current, operand, value.line);
                    self.store(value.ty.as_ref(), offset);
                    self.release(temps);
                    return;
                }
            }
        }
        let (array, index) = self.element(array, index, &mut temps);
        if pure(value) {
            self.bounds_check(array, index, line);
            let offset = self.push_address(array, index);
            self.expr(value);
            self.store(value.ty.as_ref(), offset);
        } else {
            self.expr(value);
            let held = self.temp(value.ty.as_ref().map_or(ValType::I64, val));
            temps.push(held);
            self.body.push(I::LocalSet(held));
            self.bounds_check(array, index, line);
            let offset = self.push_address(array, index);
            self.body.push(I::LocalGet(held));
            self.store(value.ty.as_ref(), offset);
        }
        self.release(temps);
    }

    /// Branches `depth` out when `condition` is false (an `int` comparison inverted rather
    /// than its result tested).
    fn branch_unless(&mut self, condition: &typed::Expr, depth: u32) {
        match &condition.kind {
            ExprKind::Binary(op, left, right) if left.ty == Some(Type::Int) => {
                let inverted = match op {
                    BinaryOp::Lt => Some(I::I64GeS),
                    BinaryOp::Le => Some(I::I64GtS),
                    BinaryOp::Gt => Some(I::I64LeS),
                    BinaryOp::Ge => Some(I::I64LtS),
                    BinaryOp::Eq => Some(I::I64Ne),
                    BinaryOp::Ne => Some(I::I64Eq),
                    _ => None,
                };
                if let Some(inverted) = inverted {
                    self.expr(left);
                    self.expr(right);
                    self.body.push(inverted);
                    self.body.push(I::BrIf(depth));
                    return;
                }
            }
            ExprKind::Not(inner) => {
                self.branch_if(inner, depth);
                return;
            }
            _ => {}
        }
        self.expr(condition);
        self.body.push(I::I32Eqz);
        self.body.push(I::BrIf(depth));
    }

    /// Branches `depth` out when `condition` is true (an `int` comparison branched on
    /// directly).
    fn branch_if(&mut self, condition: &typed::Expr, depth: u32) {
        match &condition.kind {
            ExprKind::Binary(op, left, right) if left.ty == Some(Type::Int) => {
                let compare = match op {
                    BinaryOp::Lt => Some(I::I64LtS),
                    BinaryOp::Le => Some(I::I64LeS),
                    BinaryOp::Gt => Some(I::I64GtS),
                    BinaryOp::Ge => Some(I::I64GeS),
                    BinaryOp::Eq => Some(I::I64Eq),
                    BinaryOp::Ne => Some(I::I64Ne),
                    _ => None,
                };
                if let Some(compare) = compare {
                    self.expr(left);
                    self.expr(right);
                    self.body.push(compare);
                    self.body.push(I::BrIf(depth));
                    return;
                }
            }
            ExprKind::Not(inner) => {
                self.branch_unless(inner, depth);
                return;
            }
            _ => {}
        }
        self.expr(condition);
        self.body.push(I::BrIf(depth));
    }

    /// `int` division or remainder of the value on the stack by `divisor`, inline: division
    /// by zero is the runtime error; by -1 it wraps (`i64::MIN / -1` is `i64::MIN`, where
    /// `i64.div_s` would trap; `i64.rem_s` gives 0 already).
    fn divide(&mut self, rem: bool, divisor: &typed::Expr, line: u32) {
        let (at, len) = self.data.add("division by zero");
        let (left, right) = (self.temp(ValType::I64), self.temp(ValType::I64));
        self.body.push(I::LocalSet(left));
        self.expr(divisor);
        self.body.extend([
            I::LocalTee(right),
            I::I64Eqz,
            I::If(BlockType::Empty),
            I::I32Const(at),
            I::I32Const(len),
            I::I32Const(line as i32),
            I::Call(self.rt.error),
            I::Unreachable,
            I::End,
        ]);
        if rem {
            self.body
                .extend([I::LocalGet(left), I::LocalGet(right), I::I64RemS]);
        } else {
            self.body.extend([
                I::LocalGet(right),
                I::I64Const(-1),
                I::I64Eq,
                I::If(BlockType::Result(ValType::I64)),
                I::I64Const(0),
                I::LocalGet(left),
                I::I64Sub,
                I::Else,
                I::LocalGet(left),
                I::LocalGet(right),
                I::I64DivS,
                I::End,
            ]);
        }
        self.release(vec![left, right]);
    }

    /// `int` division or remainder of the value on the stack by the constant `divisor` (not
    /// 0 or -1: nothing to check): a power of two by shifts (what `i64.div_s` and `i64.rem_s`
    /// give, rounding toward zero), any other by the instruction.
    fn divide_by_constant(&mut self, rem: bool, divisor: i64) {
        if divisor == 1 {
            if rem {
                self.body.extend([I::Drop, I::I64Const(0)]);
            }
            return;
        }
        if divisor > 1 && divisor.count_ones() == 1 {
            let shift = i64::from(divisor.trailing_zeros());
            let value = self.temp(ValType::I64);
            // value + (2^shift - 1 when value is negative): rounds toward zero.
            let biased = [
                I::LocalGet(value),
                I::LocalGet(value),
                I::I64Const(63),
                I::I64ShrS,
                I::I64Const(64 - shift),
                I::I64ShrU,
                I::I64Add,
            ];
            self.body.push(I::LocalSet(value));
            if rem {
                self.body.push(I::LocalGet(value));
                self.body.extend(biased);
                self.body
                    .extend([I::I64Const(divisor.wrapping_neg()), I::I64And, I::I64Sub]);
            } else {
                self.body.extend(biased);
                self.body.extend([I::I64Const(shift), I::I64ShrS]);
            }
            self.release(vec![value]);
            return;
        }
        self.body.push(I::I64Const(divisor));
        self.body.push(if rem { I::I64RemS } else { I::I64DivS });
    }
    fn depth_of(&self, label: Label) -> u32 {
        self.labels
            .iter()
            .rev()
            .position(|existing| *existing == label)
            .unwrap_or(0) as u32
    }

    fn statements(&mut self, statements: &[Stmt]) {
        for statement in statements {
            self.statement(statement);
        }
    }

    fn statement(&mut self, statement: &Stmt) {
        match statement {
            Stmt::Set(local, value) => {
                self.expr(value);
                self.body.push(I::LocalSet(*local as u32));
                if let Some(length) = self.lengths.get(*local).copied().flatten() {
                    self.body.extend([
                        I::LocalGet(*local as u32),
                        I::I64Load(mem(0, 3)),
                        I::LocalSet(length),
                    ]);
                }
            }
            Stmt::SetIndex {
                array,
                index,
                value,
                line,
            } => self.set_index(array, index, value, *line),
            Stmt::If(condition, then, otherwise) => {
                self.expr(condition);
                self.body.push(I::If(BlockType::Empty));
                self.labels.push(Label::Other);
                self.statements(then);
                if !otherwise.is_empty() {
                    self.body.push(I::Else);
                    self.statements(otherwise);
                }
                self.labels.pop();
                self.body.push(I::End);
            }
            // Loops are rotated: the condition is tested once before the loop and then at the
            // bottom, so an iteration takes one branch back, not a test at the top and a jump.
            Stmt::While(condition, body) => {
                self.body.push(I::Block(BlockType::Empty));
                self.labels.push(Label::Break);
                self.branch_unless(condition, 0);
                self.body.push(I::Loop(BlockType::Empty));
                self.labels.push(Label::Other);
                self.body.push(I::Block(BlockType::Empty));
                self.labels.push(Label::Continue);
                self.statements(body);
                self.labels.pop();
                self.body.push(I::End);
                self.branch_if(condition, 0);
                self.labels.pop();
                self.body.push(I::End);
                self.labels.pop();
                self.body.push(I::End);
            }
            Stmt::For {
                local,
                bound,
                low,
                high,
                body,
            } => {
                let (local, bound) = (*local as u32, *bound as u32);
                self.expr(low);
                self.body.push(I::LocalSet(local));
                self.expr(high);
                self.body.push(I::LocalSet(bound));
                self.body.push(I::Block(BlockType::Empty));
                self.labels.push(Label::Break);
                self.body.extend([
                    I::LocalGet(local),
                    I::LocalGet(bound),
                    I::I64GeS,
                    I::BrIf(0),
                    I::Loop(BlockType::Empty),
                ]);
                self.labels.push(Label::Other);
                self.body.push(I::Block(BlockType::Empty));
                self.labels.push(Label::Continue);
                self.statements(body);
                self.labels.pop();
                self.body.extend([
                    I::End,
                    I::LocalGet(local),
                    I::I64Const(1),
                    I::I64Add,
                    I::LocalTee(local),
                    I::LocalGet(bound),
                    I::I64LtS,
                    I::BrIf(0),
                ]);
                self.labels.pop();
                self.body.push(I::End);
                self.labels.pop();
                self.body.push(I::End);
            }
            Stmt::Break => {
                let depth = self.depth_of(Label::Break);
                self.body.push(I::Br(depth));
            }
            Stmt::Continue => {
                // The block around the body: then the condition (`while`) or the increment and
                // the test (`for`).
                let depth = self.depth_of(Label::Continue);
                self.body.push(I::Br(depth));
            }
            Stmt::Return(value) => {
                if let Some(value) = value {
                    self.expr(value);
                }
                self.body.push(I::Return);
            }
            Stmt::Expr(value) => {
                self.expr(value);
                if value.ty.is_some() {
                    self.body.push(I::Drop);
                }
            }
        }
    }

    fn expr(&mut self, expr: &typed::Expr) {
        let line = I::I32Const(expr.line as i32);
        match &expr.kind {
            ExprKind::Int(value) => self.body.push(I::I64Const(*value)),
            ExprKind::Float(value) => self.body.push(f64c(*value)),
            ExprKind::Bool(value) => self.body.push(I::I32Const(i32::from(*value))),
            ExprKind::Str(_) | ExprKind::Error => self.body.push(I::Unreachable),
            ExprKind::Local(local) => self.body.push(I::LocalGet(*local as u32)),
            ExprKind::Neg(value) => match value.ty {
                Some(Type::Float) => {
                    self.expr(value);
                    self.body.push(I::F64Neg);
                }
                _ => {
                    self.body.push(I::I64Const(0));
                    self.expr(value);
                    self.body.push(I::I64Sub);
                }
            },
            ExprKind::Not(value) => {
                self.expr(value);
                self.body.push(I::I32Eqz);
            }
            ExprKind::Cast(value, target) => {
                self.expr(value);
                match (&value.ty, target) {
                    (Some(Type::Int), Type::Float) => self.body.push(I::F64ConvertI64S),
                    (Some(Type::Float), Type::Int) => {
                        self.body.push(line);
                        self.body.push(I::Call(self.rt.to_int));
                    }
                    _ => {}
                }
            }
            ExprKind::Index(array, index) => {
                let mut temps = Vec::new();
                let (array, index) = self.element(array, index, &mut temps);
                self.bounds_check(array, index, expr.line);
                let offset = self.push_address(array, index);
                self.load(expr.ty.as_ref(), offset);
                self.release(temps);
            }
            ExprKind::Binary(op, left, right) => self.binary(*op, left, right, expr.line),
            ExprKind::Call(Call::Function(index), args) => {
                for arg in args {
                    self.expr(arg);
                }
                self.body.push(I::Call(self.user_base + *index as u32));
            }
            ExprKind::Call(Call::Builtin(builtin), args) => self.builtin(*builtin, args, expr),
        }
    }

    fn binary(&mut self, op: BinaryOp, left: &typed::Expr, right: &typed::Expr, line: u32) {
        self.expr(left);
        self.binary_rest(op, left, right, line);
    }

    /// `left op right` with `left`'s value already on the stack.
    fn binary_rest(&mut self, op: BinaryOp, left: &typed::Expr, right: &typed::Expr, line: u32) {
        match op {
            BinaryOp::And => {
                self.body.push(I::If(BlockType::Result(ValType::I32)));
                self.labels.push(Label::Other);
                self.expr(right);
                self.body.push(I::Else);
                self.body.push(I::I32Const(0));
                self.labels.pop();
                self.body.push(I::End);
                return;
            }
            BinaryOp::Or => {
                self.body.push(I::If(BlockType::Result(ValType::I32)));
                self.labels.push(Label::Other);
                self.body.push(I::I32Const(1));
                self.body.push(I::Else);
                self.expr(right);
                self.labels.pop();
                self.body.push(I::End);
                return;
            }
            BinaryOp::Div | BinaryOp::Rem if left.ty == Some(Type::Int) => {
                let rem = op == BinaryOp::Rem;
                match const_int(right) {
                    Some(divisor) if divisor != 0 && divisor != -1 => {
                        self.divide_by_constant(rem, divisor);
                    }
                    _ => self.divide(rem, right, line),
                }
                return;
            }
            _ => {}
        }
        self.expr(right);
        let instruction = match (left.ty.as_ref(), op) {
            (Some(Type::Float), BinaryOp::Add) => I::F64Add,
            (Some(Type::Float), BinaryOp::Sub) => I::F64Sub,
            (Some(Type::Float), BinaryOp::Mul) => I::F64Mul,
            (Some(Type::Float), BinaryOp::Div) => I::F64Div,
            (Some(Type::Float), BinaryOp::Lt) => I::F64Lt,
            (Some(Type::Float), BinaryOp::Le) => I::F64Le,
            (Some(Type::Float), BinaryOp::Gt) => I::F64Gt,
            (Some(Type::Float), BinaryOp::Ge) => I::F64Ge,
            (Some(Type::Float), BinaryOp::Eq) => I::F64Eq,
            (Some(Type::Float), BinaryOp::Ne) => I::F64Ne,
            (Some(Type::Bool), BinaryOp::Eq) => I::I32Eq,
            (Some(Type::Bool), BinaryOp::Ne) => I::I32Ne,
            (_, BinaryOp::Add) => I::I64Add,
            (_, BinaryOp::Sub) => I::I64Sub,
            (_, BinaryOp::Mul) => I::I64Mul,
            (_, BinaryOp::Lt) => I::I64LtS,
            (_, BinaryOp::Le) => I::I64LeS,
            (_, BinaryOp::Gt) => I::I64GtS,
            (_, BinaryOp::Ge) => I::I64GeS,
            (_, BinaryOp::Eq) => I::I64Eq,
            (_, BinaryOp::Ne | BinaryOp::And | BinaryOp::Or | BinaryOp::Div | BinaryOp::Rem) => {
                I::I64Ne
            }
        };
        self.body.push(instruction);
    }

    fn builtin(&mut self, builtin: Builtin, args: &[typed::Expr], expr: &typed::Expr) {
        let line = I::I32Const(expr.line as i32);
        let rt = self.rt;
        match builtin {
            Builtin::ReadInt => {
                self.body.push(line);
                self.body.push(I::Call(rt.read_int.unwrap_or(0)));
            }
            Builtin::ReadFloat => {
                self.body.push(line);
                self.body.push(I::Call(rt.read_float.unwrap_or(0)));
            }
            Builtin::Print | Builtin::Println => {
                if let Some(arg) = args.first() {
                    match (&arg.kind, &arg.ty) {
                        (ExprKind::Str(text), _) => {
                            let code = out_text(&rt, self.data, text);
                            self.body.extend(code);
                        }
                        (_, Some(Type::Float)) => {
                            self.expr(arg);
                            self.body.push(I::Call(rt.print_float));
                        }
                        (_, Some(Type::Bool)) => {
                            let (yes, yes_len) = self.data.add("true");
                            let (no, no_len) = self.data.add("false");
                            self.expr(arg);
                            self.body.extend([
                                I::If(BlockType::Empty),
                                I::I32Const(yes),
                                I::I32Const(yes_len),
                                I::Call(rt.out_bytes),
                                I::Else,
                                I::I32Const(no),
                                I::I32Const(no_len),
                                I::Call(rt.out_bytes),
                                I::End,
                            ]);
                        }
                        _ => {
                            self.expr(arg);
                            self.body.push(I::Call(rt.print_int));
                        }
                    }
                }
                if builtin == Builtin::Println {
                    self.body.push(I::I32Const(b'\n' as i32));
                    self.body.push(I::Call(rt.out_byte));
                }
            }
            Builtin::Abs => {
                self.expr(&args[0]);
                if args[0].ty == Some(Type::Float) {
                    self.body.push(I::F64Abs);
                } else {
                    // -x when x < 0 (wrapping: abs(i64::MIN) is i64::MIN).
                    let value = self.temp(ValType::I64);
                    self.body.extend([
                        I::LocalSet(value),
                        I::I64Const(0),
                        I::LocalGet(value),
                        I::I64Sub,
                        I::LocalGet(value),
                        I::LocalGet(value),
                        I::I64Const(0),
                        I::I64LtS,
                        I::Select,
                    ]);
                    self.release(vec![value]);
                }
            }
            Builtin::Min | Builtin::Max => {
                self.expr(&args[0]);
                self.expr(&args[1]);
                if args[0].ty == Some(Type::Float) {
                    self.body.push(if builtin == Builtin::Min {
                        I::F64Min
                    } else {
                        I::F64Max
                    });
                } else {
                    let (a, b) = (self.temp(ValType::I64), self.temp(ValType::I64));
                    self.body.extend([
                        I::LocalSet(b),
                        I::LocalSet(a),
                        I::LocalGet(a),
                        I::LocalGet(b),
                        I::LocalGet(a),
                        I::LocalGet(b),
                        if builtin == Builtin::Min {
                            I::I64LtS
                        } else {
                            I::I64GeS
                        },
                        I::Select,
                    ]);
                    self.release(vec![a, b]);
                }
            }
            Builtin::Sqrt => {
                self.expr(&args[0]);
                self.body.push(I::F64Sqrt);
            }
            Builtin::Exit => {
                self.body.push(I::Call(rt.flush));
                self.expr(&args[0]);
                self.body.push(I::I32WrapI64);
                self.body.push(I::Call(rt.proc_exit));
            }
            Builtin::Array => {
                self.expr(&args[0]);
                self.expr(&args[1]);
                let function = match args[1].ty {
                    Some(Type::Float) => rt.array_new_f64,
                    Some(Type::Bool) => {
                        self.body.push(I::I64ExtendI32U);
                        rt.array_new_i64
                    }
                    _ => rt.array_new_i64,
                };
                self.body.push(line);
                self.body.push(I::Call(function));
            }
            Builtin::Len => match args[0].kind {
                ExprKind::Local(local) => self.push_length(local as u32),
                _ => {
                    self.expr(&args[0]);
                    self.body.push(I::I64Load(mem(0, 3)));
                }
            },
        }
    }
}
