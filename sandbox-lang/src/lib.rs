//! Mini: the product brief's small language, statically typed, compiled to WebAssembly.
//!
//! This crate depends on no engine. The front end so far: [`lexer`] (source → tokens with
//! byte spans), [`parser`] (tokens → [`ast::Program`], recovering after an error so that one
//! compilation reports several), [`check`] (types and names → [`typed::Program`]) and
//! [`diagnostic`] (errors as data — file, line, column, message, help — rendered with the
//! source line and a caret), then [`codegen`] (the checked program → a WebAssembly module
//! with wasm-encoder: a WASI command importing only `fd_write`, `proc_exit` and, when it reads
//! input, `fd_read`).
//!
//! ```text
//! // line comments
//! func gcd(a: int, b: int) -> int {
//!     while b != 0 { let t = b; b = a % b; a = t; }
//!     return a;
//! }
//! export func add(a: int, b: int) -> int { return a + b; }
//! func main() { println(gcd(12, 18)); }
//! ```

pub mod ast;
pub mod check;
pub mod codegen;
pub mod diagnostic;
pub mod lexer;
pub mod parser;
pub mod typed;

pub use diagnostic::{Diagnostic, Span};

/// Compiles `source` to a WebAssembly module (a WASI command when it has `main`), or every
/// error found.
pub fn compile(source: &str) -> Result<Vec<u8>, Vec<Diagnostic>> {
    on_own_stack(|| check_program(source).map(|program| codegen::generate(&program)))
}

/// Compiles `source` and prints the module as WebAssembly text (wasmprinter): what
/// `sandbox compile --emit wat` will show.
pub fn compile_to_wat(source: &str) -> Result<String, Vec<Diagnostic>> {
    let wasm = compile(source)?;
    // The generator's modules are valid; a printer failure would be a bug of this crate,
    // reported as a diagnostic rather than a panic.
    wasmprinter::print_bytes(&wasm).map_err(|error| {
        vec![Diagnostic::error(
            Span::default(),
            format!("internal error: the generated module cannot be printed: {error}"),
        )]
    })
}

/// Parses and type-checks `source`: the checked program, or every error found.
pub fn check(source: &str) -> Result<typed::Program, Vec<Diagnostic>> {
    on_own_stack(|| check_program(source))
}

fn check_program(source: &str) -> Result<typed::Program, Vec<Diagnostic>> {
    let program = parse_program(source)?;
    check::check(&program, source).map_err(|mut errors| {
        errors.sort_by_key(|error| error.span.start);
        errors
    })
}

/// Parses `source` into a program, or every error the parser could find.
pub fn parse(source: &str) -> Result<ast::Program, Vec<Diagnostic>> {
    on_own_stack(|| parse_program(source))
}

fn parse_program(source: &str) -> Result<ast::Program, Vec<Diagnostic>> {
    let (tokens, mut errors) = lexer::lex(source);
    let (program, parse_errors) = parser::parse(&tokens);
    let holes = holes(&tokens, &errors);
    errors.extend(
        parse_errors
            .into_iter()
            .filter(|error| !holes.iter().any(|hole| hole.contains(&error.span.start))),
    );
    if errors.is_empty() {
        Ok(program)
    } else {
        errors.sort_by_key(|error| error.span.start);
        Err(errors)
    }
}

/// Where a character that starts no token (`#`, `@`) leaves a hole in the token stream: from
/// the end of the token before it to the end of the token after it. The parser's complaints
/// there (``expected `;`, found `4` `` for `3 # 4`) only repeat the lexer's error.
fn holes(
    tokens: &[lexer::Token],
    lex_errors: &[Diagnostic],
) -> Vec<std::ops::RangeInclusive<usize>> {
    lex_errors
        .iter()
        .filter_map(|error| {
            let after = tokens.partition_point(|token| token.span.end <= error.span.start);
            let covered = tokens
                .get(after)
                .is_some_and(|token| token.span.start < error.span.end.max(error.span.start + 1));
            if covered {
                return None;
            }
            let before_end = after
                .checked_sub(1)
                .map_or(0, |before| tokens[before].span.end);
            let next_end = tokens.get(after).map_or(usize::MAX, |next| next.span.end);
            Some(before_end..=next_end)
        })
        .collect()
}

/// The stack the passes run on. They recurse on the program's nesting, which the parser
/// bounds (128 levels of blocks, parentheses or operators); in a debug build a level takes
/// tens of kilobytes over all passes, more than a caller's thread may have (Rust gives
/// spawned threads 2 MiB; a C or Python host's thread, anything). Only the pages used are
/// ever committed.
const STACK_BYTES: usize = 64 << 20;

/// Runs `pass` on a thread of its own with [`STACK_BYTES`] of stack, so that no program can
/// overflow the caller's stack. A thread that cannot be started (the process is out of
/// threads or memory) is an error of the compilation, not a panic.
fn on_own_stack<T: Send>(
    pass: impl FnOnce() -> Result<T, Vec<Diagnostic>> + Send,
) -> Result<T, Vec<Diagnostic>> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("mini-compiler".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, pass)
            .map_err(|error| {
                vec![Diagnostic::error(
                    Span::default(),
                    format!("internal error: the compiler's thread cannot start: {error}"),
                )]
            })?;
        handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
