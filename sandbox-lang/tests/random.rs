//! Random programs.
//!
//! - Well-typed programs are rendered to Mini source and interpreted here (Mini's semantics
//!   written again in Rust: wrapping 64-bit arithmetic, Mini's division and remainder, IEEE
//!   floats with WebAssembly's `min`/`max`, checked `as int`, short-circuit `&&`/`||`, runtime
//!   errors with their line, Mini's float printing), compiled, validated and run on both
//!   engines: every engine gives the interpreter's stdout, stderr and exit status. Two
//!   families: the int-only programs (arithmetic, `if`, `for`) and the typed programs (ints,
//!   floats, bools, `[int]`, `[float]` and `[bool]` arrays, compound assignment, `if / else
//!   if / else`, bounded `while`, `for` over computed ranges, `break`, `continue`, `exit`).
//! - Random bytes, random token streams and mutations of right programs never panic the
//!   compiler (lexer, parser, checker, code generator, diagnostics' rendering), and what
//!   compiles is a valid module.

use sandbox::{Outcome, Runtime, SandboxConfig};
use std::collections::HashMap;
use std::sync::Arc;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// What a run must give: stdout, and how it ends.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    stdout: String,
    end: End,
}

#[derive(Debug, Clone, PartialEq)]
enum End {
    /// `main` returned.
    Returned,
    /// `exit(code)`.
    Exit(i32),
    /// A runtime error: `runtime error: MESSAGE at line L`, status 1.
    Error(&'static str, usize),
}

/// One sandbox per engine, reused for every program of a test.
fn engines() -> Vec<(Runtime, Arc<dyn sandbox::Sandbox>)> {
    sandbox::available_runtimes()
        .into_iter()
        .map(|backend| {
            let sandbox = sandbox::sandbox(backend, config()).unwrap();
            (backend, sandbox)
        })
        .collect()
}

fn config() -> SandboxConfig {
    SandboxConfig {
        max_fuel: Some(1_000_000_000),
        ..SandboxConfig::default()
    }
}

/// Compiles `source` (it must compile), loads it on every engine (loading validates) and runs
/// `_start`; each engine's stdout, stderr and outcome must be `expected`'s.
fn check_everywhere(
    engines: &[(Runtime, Arc<dyn sandbox::Sandbox>)],
    case: &str,
    source: &str,
    expected: &Expected,
) {
    let wasm = sandbox_lang::compile(source).unwrap_or_else(|errors| {
        let rendered: String = errors
            .iter()
            .map(|error| error.render("random.mini", source))
            .collect();
        panic!("{case} does not compile:\n{rendered}\n{source}")
    });
    for (backend, sandbox) in engines {
        let module = sandbox
            .load(&wasm)
            .unwrap_or_else(|error| panic!("{case} is not valid on {backend}: {error}\n{source}"));
        let config = config();
        let result = match module.instantiate(&config) {
            Ok(mut instance) => instance.call("_start", &[]).unwrap(),
            Err(report) => *report,
        };
        let stdout = String::from_utf8_lossy(&result.stdout);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert_eq!(
            stdout, expected.stdout,
            "{case} on {backend}: stdout\n{source}"
        );
        let (expected_stderr, expected_code) = match &expected.end {
            End::Returned => (String::new(), None),
            End::Exit(code) => (String::new(), Some(*code)),
            End::Error(message, line) => (
                format!("runtime error: {message} at line {line}\n"),
                Some(1),
            ),
        };
        assert_eq!(
            stderr, expected_stderr,
            "{case} on {backend}: stderr\n{source}"
        );
        match (expected_code, &result.outcome) {
            (None, Outcome::Ok) => {}
            (Some(code), Outcome::Exit { code: got }) if *got == code => {}
            (_, outcome) => panic!(
                "{case} on {backend}: {outcome:?}, expected {:?}\n{source}",
                expected.end
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Int-only programs: four variables, arithmetic, `if`, `for`, `println`.

mod ints {
    use super::Rng;

    pub const VARS: usize = 4;

    pub enum Expr {
        Literal(i64),
        Var(usize),
        Binary(char, Box<Expr>, Box<Expr>),
        /// `a / (abs(b) % 1000 + 1)` or `%`: never by zero.
        SafeDiv(char, Box<Expr>, Box<Expr>),
        Min(Box<Expr>, Box<Expr>),
    }

    pub enum Stmt {
        Assign(usize, Expr),
        If(Expr, char, Expr, Vec<Stmt>, Vec<Stmt>),
        For(u64, Vec<Stmt>),
        Print(Expr),
    }

    fn expr(rng: &mut Rng, depth: u32) -> Expr {
        match if depth == 0 {
            rng.below(2)
        } else {
            rng.below(6)
        } {
            0 => Expr::Literal(match rng.below(4) {
                0 => i64::MAX - rng.below(3) as i64,
                1 => -(rng.below(1000) as i64),
                _ => rng.below(100) as i64,
            }),
            1 => Expr::Var(rng.below(VARS as u64) as usize),
            2 | 3 => Expr::Binary(
                ['+', '-', '*'][rng.below(3) as usize],
                Box::new(expr(rng, depth - 1)),
                Box::new(expr(rng, depth - 1)),
            ),
            4 => Expr::SafeDiv(
                ['/', '%'][rng.below(2) as usize],
                Box::new(expr(rng, depth - 1)),
                Box::new(expr(rng, depth - 1)),
            ),
            _ => Expr::Min(
                Box::new(expr(rng, depth - 1)),
                Box::new(expr(rng, depth - 1)),
            ),
        }
    }

    pub fn statements(rng: &mut Rng, depth: u32) -> Vec<Stmt> {
        (0..1 + rng.below(4))
            .map(|_| {
                match if depth == 0 {
                    rng.below(2)
                } else {
                    rng.below(4)
                } {
                    0 => Stmt::Assign(rng.below(VARS as u64) as usize, expr(rng, 3)),
                    1 => Stmt::Print(expr(rng, 2)),
                    2 => Stmt::If(
                        expr(rng, 2),
                        ['<', '=', '>'][rng.below(3) as usize],
                        expr(rng, 2),
                        statements(rng, depth - 1),
                        statements(rng, depth - 1),
                    ),
                    _ => Stmt::For(rng.below(4), statements(rng, depth - 1)),
                }
            })
            .collect()
    }

    fn render_expr(e: &Expr) -> String {
        match e {
            Expr::Literal(value) if *value < 0 => format!("({value})"),
            Expr::Literal(value) => value.to_string(),
            Expr::Var(index) => format!("v{index}"),
            Expr::Binary(op, a, b) => format!("({} {op} {})", render_expr(a), render_expr(b)),
            Expr::SafeDiv(op, a, b) => {
                format!(
                    "({} {op} (abs({}) % 1000 + 1))",
                    render_expr(a),
                    render_expr(b)
                )
            }
            Expr::Min(a, b) => format!("min({}, {})", render_expr(a), render_expr(b)),
        }
    }

    pub fn render(statements: &[Stmt], indent: usize, out: &mut String) {
        let pad = "    ".repeat(indent);
        for statement in statements {
            match statement {
                Stmt::Assign(index, e) => {
                    out.push_str(&format!("{pad}v{index} = {};\n", render_expr(e)))
                }
                Stmt::Print(e) => out.push_str(&format!("{pad}println({});\n", render_expr(e))),
                Stmt::If(a, op, b, then, otherwise) => {
                    let op = if *op == '=' {
                        "==".to_string()
                    } else {
                        op.to_string()
                    };
                    out.push_str(&format!(
                        "{pad}if {} {op} {} {{\n",
                        render_expr(a),
                        render_expr(b)
                    ));
                    render(then, indent + 1, out);
                    out.push_str(&format!("{pad}}} else {{\n"));
                    render(otherwise, indent + 1, out);
                    out.push_str(&format!("{pad}}}\n"));
                }
                Stmt::For(count, body) => {
                    out.push_str(&format!("{pad}for i{indent} in 0..{count} {{\n"));
                    render(body, indent + 1, out);
                    out.push_str(&format!("{pad}}}\n"));
                }
            }
        }
    }

    fn eval(e: &Expr, vars: &[i64; VARS]) -> i64 {
        match e {
            Expr::Literal(value) => *value,
            Expr::Var(index) => vars[*index],
            Expr::Binary(op, a, b) => {
                let (a, b) = (eval(a, vars), eval(b, vars));
                match op {
                    '+' => a.wrapping_add(b),
                    '-' => a.wrapping_sub(b),
                    _ => a.wrapping_mul(b),
                }
            }
            Expr::SafeDiv(op, a, b) => {
                let a = eval(a, vars);
                let divisor = eval(b, vars).wrapping_abs() % 1000 + 1;
                if *op == '/' {
                    a.wrapping_div(divisor)
                } else {
                    a.wrapping_rem(divisor)
                }
            }
            Expr::Min(a, b) => eval(a, vars).min(eval(b, vars)),
        }
    }

    pub fn run(statements: &[Stmt], vars: &mut [i64; VARS], out: &mut String) {
        for statement in statements {
            match statement {
                Stmt::Assign(index, e) => vars[*index] = eval(e, vars),
                Stmt::Print(e) => out.push_str(&format!("{}\n", eval(e, vars))),
                Stmt::If(a, op, b, then, otherwise) => {
                    let (a, b) = (eval(a, vars), eval(b, vars));
                    let taken = match op {
                        '<' => a < b,
                        '=' => a == b,
                        _ => a > b,
                    };
                    run(if taken { then } else { otherwise }, vars, out);
                }
                Stmt::For(count, body) => {
                    for _ in 0..*count {
                        run(body, vars, out);
                    }
                }
            }
        }
    }
}

#[test]
fn random_well_typed_programs_give_the_interpreter_s_output_on_both_engines() {
    let engines = engines();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut lines = 0;
    for case in 0..100 {
        let body = ints::statements(&mut rng, 3);
        let mut source = String::from("func main() {\n");
        for index in 0..ints::VARS {
            source.push_str(&format!("    let v{index} = {};\n", index as i64 * 7 - 5));
        }
        ints::render(&body, 1, &mut source);
        source.push_str("}\n");
        let mut vars: [i64; ints::VARS] = std::array::from_fn(|index| index as i64 * 7 - 5);
        let mut stdout = String::new();
        ints::run(&body, &mut vars, &mut stdout);
        lines += stdout.lines().count();
        let expected = Expected {
            stdout,
            end: End::Returned,
        };
        check_everywhere(&engines, &format!("int case {case}"), &source, &expected);
    }
    // The programs print: the comparison is not of empty outputs.
    assert!(lines > 200, "only {lines} lines printed in all");
}

// ---------------------------------------------------------------------------------------------
// How Mini prints a float: the runtime's `print_float` (codegen.rs) step by step.

/// `print(x)` of a `float`: `NaN`; a sign (for -0.0 too); `inf`; from 10^12 up, divided by 10
/// until below 10 and the count of divisions after an `e`; the value times 10^6 rounded half
/// to even, as integer part `.` six decimals with trailing zeros dropped (one kept); a
/// mantissa that rounds up to 10 becomes 1 and the exponent one more.
fn mini_float(mut x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
        x = -x;
    }
    if x == f64::INFINITY {
        out.push_str("inf");
        return out;
    }
    let mut exponent = 0u32;
    if x >= 1e12 {
        loop {
            x /= 10.0;
            exponent += 1;
            if x < 10.0 {
                break;
            }
        }
    }
    let mut scaled = (x * 1e6).round_ties_even() as u64;
    // A mantissa that rounds up to 10 is 1 of the next power.
    if exponent != 0 && scaled >= 10_000_000 {
        scaled = 1_000_000;
        exponent += 1;
    }
    let fraction = format!("{:06}", scaled % 1_000_000);
    let fraction = fraction.trim_end_matches('0');
    out.push_str(&format!(
        "{}.{}",
        scaled / 1_000_000,
        if fraction.is_empty() { "0" } else { fraction }
    ));
    if exponent != 0 {
        out.push_str(&format!("e{exponent}"));
    }
    out
}

/// A float literal Mini reads back as exactly `x` (not NaN, not infinite): Rust's shortest
/// round-trip form (`0.1`, `1e-7`, `1e20`), parenthesized and negated when negative.
fn float_literal(x: f64) -> String {
    if x.is_sign_negative() {
        format!("(-{:?})", -x)
    } else {
        format!("{x:?}")
    }
}

#[test]
fn the_interpreter_prints_floats_as_the_readme_says() {
    let cases = [
        (3.5, "3.5"),
        (2.0, "2.0"),
        (1.0 / 3.0, "0.333333"),
        (2.0 / 3.0, "0.666667"),
        (1e20, "1.0e20"),
        (1e12, "1.0e12"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (1e-7, "0.0"),
        (-1e-7, "-0.0"),
        (0.9999996, "1.0"),
        (123456.789, "123456.789"),
        (99.25, "99.25"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "NaN"),
        (-f64::NAN, "NaN"),
        (1.7976931348623157e308, "1.797693e308"),
        (i64::MAX as f64, "9.223372e18"),
    ];
    for (value, printed) in cases {
        assert_eq!(mini_float(value), printed, "{value:?}");
    }
}

#[test]
fn floats_print_as_the_interpreter_says_on_both_engines() {
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        0.1,
        0.1 + 0.2,
        1.0 / 3.0,
        -2.0 / 3.0,
        5e-7,
        4.999999e-7,
        1.5e-6,
        2.5e-6,
        3.5e-6,
        1e-7,
        -1e-7,
        0.9999995,
        0.99999949,
        1.0000005,
        123456.789,
        999999.9999999,
        999999999999.0,
        999999999999.4,
        999999999999.9999,
        1e12,
        1e12 + 1.0,
        1.5e12,
        1e13,
        1.2345678e15,
        9.999999e14,
        i64::MAX as f64,
        1e20,
        1e100,
        1.7976931348623157e308,
        5e-324,
        2.2250738585072014e-308,
        4503599627370496.5,
        12345678.9,
        0.000123,
        -42.125,
        7.0,
        1e6,
        1e11,
        99999999999.99999,
    ];
    let mut rng = Rng(0xf10a_7000_1234_5678);
    for _ in 0..200 {
        let mantissa = rng.below(10_000_000) as f64;
        let value = mantissa * 10f64.powi(rng.below(40) as i32 - 20);
        values.push(if rng.chance(3) { -value } else { value });
    }
    let mut source = String::from("func main() {\n");
    let mut stdout = String::new();
    for value in &values {
        source.push_str(&format!("    println({});\n", float_literal(*value)));
        stdout.push_str(&mini_float(*value));
        stdout.push('\n');
    }
    // The special values, computed.
    source.push_str(
        "    println(1.0 / 0.0);\n    println(-1.0 / 0.0);\n    println(0.0 / 0.0);\n    println(-(0.0 / 0.0));\n    println(sqrt(-1.0));\n    println(-(0.0));\n",
    );
    stdout.push_str("inf\n-inf\nNaN\nNaN\nNaN\n-0.0\n");
    source.push_str("}\n");
    let expected = Expected {
        stdout,
        end: End::Returned,
    };
    check_everywhere(&engines(), "float printing", &source, &expected);
}

#[test]
fn a_large_float_s_mantissa_is_below_ten() {
    let source =
        "func main() {\n    println(9999999600000.0);\n    println(-99999999500000000000.0);\n}\n";
    let expected = Expected {
        stdout: "1.0e13\n-1.0e20\n".into(),
        end: End::Returned,
    };
    check_everywhere(&engines(), "large floats", source, &expected);
}

// ---------------------------------------------------------------------------------------------
// Typed programs: ints, floats, bools and arrays of each, every statement of Mini.

mod typed {
    use super::{float_literal, mini_float, End, Expected, Rng};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::rc::Rc;

    pub const INTS: usize = 4;
    pub const FLOATS: usize = 3;
    pub const BOOLS: usize = 2;

    /// The three arrays: `xs: [int]`, `ys: [float]`, `zs: [bool]`.
    #[derive(Clone, Copy, PartialEq)]
    pub enum Array {
        Xs,
        Ys,
        Zs,
    }

    impl Array {
        fn name(self) -> &'static str {
            match self {
                Array::Xs => "xs",
                Array::Ys => "ys",
                Array::Zs => "zs",
            }
        }
    }

    pub enum Int {
        Literal(i64),
        /// `v0`..`v3` or a loop's counter.
        Var(String),
        /// `+ - * / %`; `/` and `%` only by a [`Int::Divisor`] or a non-zero literal.
        Binary(&'static str, Box<Int>, Box<Int>),
        /// `(abs(e) % 1000 + 1)`: from 1 to 1000.
        Divisor(Box<Int>),
        /// `min` or `max`.
        MinMax(&'static str, Box<Int>, Box<Int>),
        Abs(Box<Int>),
        Neg(Box<Int>),
        /// `xs[(e % len(xs) + len(xs)) % len(xs)]`.
        Element(Box<Int>),
        Len(Array),
        /// `min(max(f, -1.0e15), 1.0e15) as int` (`clamped`), or `f as int`: NaN, and
        /// out-of-range values unclamped, are runtime errors.
        FromFloat {
            value: Box<Float>,
            clamped: bool,
        },
    }

    pub enum Float {
        Literal(f64),
        Var(usize),
        /// `+ - * /`: IEEE, infinities and NaN included.
        Binary(&'static str, Box<Float>, Box<Float>),
        MinMax(&'static str, Box<Float>, Box<Float>),
        Abs(Box<Float>),
        /// `sqrt(abs(e))`.
        Sqrt(Box<Float>),
        Neg(Box<Float>),
        Element(Box<Int>),
        FromInt(Box<Int>),
    }

    pub enum Bool {
        Literal(bool),
        Var(usize),
        Ints(&'static str, Box<Int>, Box<Int>),
        Floats(&'static str, Box<Float>, Box<Float>),
        /// `&&` or `||`, short-circuit.
        Logic(&'static str, Box<Bool>, Box<Bool>),
        /// `==` or `!=` of two bools.
        Same(&'static str, Box<Bool>, Box<Bool>),
        Not(Box<Bool>),
        Element(Box<Int>),
    }

    pub enum Value {
        Int(Int),
        Float(Float),
        Bool(Bool),
    }

    pub enum Place {
        Int(usize),
        Float(usize),
        Bool(usize),
        Element(Array, Int),
    }

    pub enum Stmt {
        /// `place = value;` or `place op= value;`.
        Assign(Place, Option<&'static str>, Value),
        /// `xs = array(n, value);`.
        NewArray(Array, i64, Value),
        /// `print(value);` or `println(value);`.
        Print(bool, Value),
        /// `print(" ");`, `println();`.
        Text(&'static str),
        /// `if c { } else if c { } ... else { }`: the conditions with their lines.
        If(Vec<(Bool, Vec<Line>, usize)>, Option<Vec<Line>>),
        /// `let w = 0; while w < limit && c { w += 1; ... }` (the `let` on the line before).
        While {
            counter: String,
            limit: i64,
            condition: Bool,
            body: Vec<Line>,
        },
        /// `for i in max(min(low, 3), -2)..high { ... }`.
        For {
            counter: String,
            low: Int,
            high: i64,
            body: Vec<Line>,
        },
        /// `if c { break; }` / `if c { continue; }`.
        Leave(Bool, bool),
        /// `if c { exit(code); }`.
        Exit(Bool, i32),
        /// `v = h(...);` or `h(...);`: the ints, floats and bools passed, then `xs, ys, zs`.
        Call(Option<usize>, Vec<Value>),
        /// `return e;` in `h`.
        Return(Int),
    }

    /// A statement and the line of the source it starts on (set when rendered).
    pub struct Line {
        pub stmt: Stmt,
        pub line: usize,
    }

    /// What the generator may use where it is.
    struct Scope {
        /// Readable ints: the variables and the enclosing loops' counters.
        ints: Vec<String>,
        in_loop: bool,
        /// Whether the arrays are declared yet (not in their own initial values).
        arrays: bool,
        /// In `h`: `return` may be used.
        in_function: bool,
        /// In `main` when the program has `h`: it may be called.
        can_call: bool,
        /// For unique names.
        next: usize,
        /// Statements generated so far (a program's size is bounded).
        budget: usize,
    }

    fn boxed<T>(value: T) -> Box<T> {
        Box::new(value)
    }

    fn int(rng: &mut Rng, scope: &Scope, depth: u32) -> Int {
        let mut choice = if depth == 0 {
            rng.below(3)
        } else {
            rng.below(14)
        };
        if !scope.arrays && (9..=11).contains(&choice) {
            choice = 3;
        }
        match choice {
            0 => Int::Literal(match rng.below(8) {
                0 => i64::MAX - rng.below(3) as i64,
                1 => i64::MIN + rng.below(2) as i64,
                2 | 3 => -(rng.below(1000) as i64),
                _ => rng.below(100) as i64,
            }),
            1 | 2 => Int::Var(scope.ints[rng.below(scope.ints.len() as u64) as usize].clone()),
            3..=5 => Int::Binary(
                rng.pick(&["+", "-", "*"]),
                boxed(int(rng, scope, depth - 1)),
                boxed(int(rng, scope, depth - 1)),
            ),
            6 => {
                let divisor = if rng.chance(4) {
                    Int::Literal(rng.pick(&[-1, 1, 2, -3, 7, 1000]))
                } else {
                    Int::Divisor(boxed(int(rng, scope, depth - 1)))
                };
                Int::Binary(
                    rng.pick(&["/", "%"]),
                    boxed(int(rng, scope, depth - 1)),
                    boxed(divisor),
                )
            }
            7 => Int::MinMax(
                rng.pick(&["min", "max"]),
                boxed(int(rng, scope, depth - 1)),
                boxed(int(rng, scope, depth - 1)),
            ),
            8 => {
                if rng.chance(2) {
                    Int::Abs(boxed(int(rng, scope, depth - 1)))
                } else {
                    Int::Neg(boxed(int(rng, scope, depth - 1)))
                }
            }
            9 | 10 => Int::Element(boxed(int(rng, scope, depth - 1))),
            11 => Int::Len(rng.pick(&[Array::Xs, Array::Ys, Array::Zs])),
            _ => Int::FromFloat {
                value: boxed(float(rng, scope, depth - 1)),
                clamped: !rng.chance(4),
            },
        }
    }

    fn float_constant(rng: &mut Rng) -> f64 {
        let value = match rng.below(3) {
            0 => rng.pick(&[
                0.0,
                0.5,
                1.0,
                1.5,
                2.0,
                2.25,
                3.0,
                10.0,
                0.1,
                0.2,
                0.3,
                100.5,
                12345.678,
                1e-7,
                2.5e-6,
                1e6,
                1e12,
                9.5e12,
                1e15,
                1e20,
                123456789.125,
            ]),
            1 => (rng.below(20_000) as f64 - 10_000.0) / 64.0,
            _ => rng.below(1_000_000) as f64 * 10f64.powi(rng.below(30) as i32 - 15),
        };
        if rng.chance(3) {
            -value
        } else {
            value
        }
    }

    fn float(rng: &mut Rng, scope: &Scope, depth: u32) -> Float {
        let mut choice = if depth == 0 {
            rng.below(3)
        } else {
            rng.below(13)
        };
        if !scope.arrays && (8..=9).contains(&choice) {
            choice = 3;
        }
        match choice {
            0 => Float::Literal(float_constant(rng)),
            1 | 2 => Float::Var(rng.below(FLOATS as u64) as usize),
            3..=5 => Float::Binary(
                rng.pick(&["+", "-", "*", "/"]),
                boxed(float(rng, scope, depth - 1)),
                boxed(float(rng, scope, depth - 1)),
            ),
            6 => Float::MinMax(
                rng.pick(&["min", "max"]),
                boxed(float(rng, scope, depth - 1)),
                boxed(float(rng, scope, depth - 1)),
            ),
            7 => match rng.below(3) {
                0 => Float::Abs(boxed(float(rng, scope, depth - 1))),
                1 => Float::Sqrt(boxed(float(rng, scope, depth - 1))),
                _ => Float::Neg(boxed(float(rng, scope, depth - 1))),
            },
            8 | 9 => Float::Element(boxed(int(rng, scope, depth - 1))),
            _ => Float::FromInt(boxed(int(rng, scope, depth - 1))),
        }
    }

    fn bool(rng: &mut Rng, scope: &Scope, depth: u32) -> Bool {
        let choice = if depth == 0 {
            rng.below(2)
        } else {
            rng.below(12)
        };
        let comparison = ["<", "<=", ">", ">=", "==", "!="];
        let choice = if !scope.arrays && choice == 1 {
            0
        } else {
            choice
        };
        match choice {
            0 => {
                if rng.chance(3) {
                    Bool::Literal(rng.chance(2))
                } else {
                    Bool::Var(rng.below(BOOLS as u64) as usize)
                }
            }
            1 => Bool::Element(boxed(int(rng, scope, depth.saturating_sub(1)))),
            2..=4 => Bool::Ints(
                rng.pick(&comparison),
                boxed(int(rng, scope, depth - 1)),
                boxed(int(rng, scope, depth - 1)),
            ),
            5 | 6 => Bool::Floats(
                rng.pick(&comparison),
                boxed(float(rng, scope, depth - 1)),
                boxed(float(rng, scope, depth - 1)),
            ),
            7 | 8 => Bool::Logic(
                rng.pick(&["&&", "||"]),
                boxed(bool(rng, scope, depth - 1)),
                boxed(bool(rng, scope, depth - 1)),
            ),
            9 => Bool::Same(
                rng.pick(&["==", "!="]),
                boxed(bool(rng, scope, depth - 1)),
                boxed(bool(rng, scope, depth - 1)),
            ),
            _ => Bool::Not(boxed(bool(rng, scope, depth - 1))),
        }
    }

    fn value(rng: &mut Rng, scope: &Scope, depth: u32) -> Value {
        match rng.below(3) {
            0 => Value::Int(int(rng, scope, depth)),
            1 => Value::Float(float(rng, scope, depth)),
            _ => Value::Bool(bool(rng, scope, depth)),
        }
    }

    fn assignment(rng: &mut Rng, scope: &Scope) -> Stmt {
        let compound = rng.chance(3);
        match rng.below(6) {
            0 | 1 => {
                let (op, value) = if compound {
                    let op = rng.pick(&["+", "-", "*", "/", "%"]);
                    let value = int(rng, scope, 2);
                    let value = if matches!(op, "/" | "%") {
                        Int::Divisor(boxed(value))
                    } else {
                        value
                    };
                    (Some(op), value)
                } else {
                    (None, int(rng, scope, 3))
                };
                Stmt::Assign(
                    Place::Int(rng.below(INTS as u64) as usize),
                    op,
                    Value::Int(value),
                )
            }
            2 => Stmt::Assign(
                Place::Float(rng.below(FLOATS as u64) as usize),
                compound.then(|| rng.pick(&["+", "-", "*", "/"])),
                Value::Float(float(rng, scope, 3)),
            ),
            3 => Stmt::Assign(
                Place::Bool(rng.below(BOOLS as u64) as usize),
                None,
                Value::Bool(bool(rng, scope, 3)),
            ),
            _ => {
                let array = rng.pick(&[Array::Xs, Array::Ys, Array::Zs]);
                let index = int(rng, scope, 2);
                match array {
                    Array::Xs => {
                        let (op, value) = if compound {
                            let op = rng.pick(&["+", "-", "*", "/", "%"]);
                            let value = int(rng, scope, 2);
                            let value = if matches!(op, "/" | "%") {
                                Int::Divisor(boxed(value))
                            } else {
                                value
                            };
                            (Some(op), value)
                        } else {
                            (None, int(rng, scope, 2))
                        };
                        Stmt::Assign(Place::Element(array, index), op, Value::Int(value))
                    }
                    Array::Ys => Stmt::Assign(
                        Place::Element(array, index),
                        compound.then(|| rng.pick(&["+", "-", "*", "/"])),
                        Value::Float(float(rng, scope, 2)),
                    ),
                    Array::Zs => Stmt::Assign(
                        Place::Element(array, index),
                        None,
                        Value::Bool(bool(rng, scope, 2)),
                    ),
                }
            }
        }
    }

    fn array_init(rng: &mut Rng, scope: &Scope, array: Array, depth: u32) -> Value {
        match array {
            Array::Xs => Value::Int(int(rng, scope, depth)),
            Array::Ys => Value::Float(float(rng, scope, depth)),
            Array::Zs => Value::Bool(bool(rng, scope, depth)),
        }
    }

    fn statement(rng: &mut Rng, scope: &mut Scope, depth: u32) -> Stmt {
        scope.budget += 1;
        let choice = if depth == 0 || scope.budget > 60 {
            rng.below(12)
        } else {
            rng.below(18)
        };
        match choice {
            0..=4 if scope.can_call && rng.chance(5) => call(rng, scope),
            0..=4 => assignment(rng, scope),
            5..=9 => {
                if rng.chance(8) {
                    Stmt::Text(rng.pick(&[" ", "; ", "\n"]))
                } else {
                    Stmt::Print(!rng.chance(4), value(rng, scope, 2))
                }
            }
            10 => {
                let array = rng.pick(&[Array::Xs, Array::Ys, Array::Zs]);
                let length = 1 + rng.below(6) as i64;
                let init = array_init(rng, scope, array, 1);
                Stmt::NewArray(array, length, init)
            }
            11 => {
                if scope.in_function && rng.chance(3) {
                    Stmt::Return(int(rng, scope, 2))
                } else if scope.in_loop && rng.chance(2) {
                    Stmt::Leave(bool(rng, scope, 2), rng.chance(2))
                } else if rng.chance(25) {
                    Stmt::Exit(bool(rng, scope, 2), 2 + rng.below(5) as i32)
                } else {
                    assignment(rng, scope)
                }
            }
            12..=14 => {
                let branches = 1 + rng.below(3) as usize;
                let conditions: Vec<(Bool, Vec<Line>, usize)> = (0..branches)
                    .map(|_| {
                        let condition = bool(rng, scope, 2);
                        (condition, block(rng, scope, depth - 1), 0)
                    })
                    .collect();
                let otherwise = rng.chance(2).then(|| block(rng, scope, depth - 1));
                Stmt::If(conditions, otherwise)
            }
            15 | 16 => {
                let counter = format!("w{}", scope.next);
                scope.next += 1;
                let limit = rng.below(5) as i64;
                let condition = if rng.chance(2) {
                    Bool::Literal(true)
                } else {
                    bool(rng, scope, 1)
                };
                let in_loop = std::mem::replace(&mut scope.in_loop, true);
                scope.ints.push(counter.clone());
                let body = block(rng, scope, depth - 1);
                scope.ints.pop();
                scope.in_loop = in_loop;
                Stmt::While {
                    counter,
                    limit,
                    condition,
                    body,
                }
            }
            _ => {
                let counter = format!("i{}", scope.next);
                scope.next += 1;
                let low = int(rng, scope, 2);
                let high = rng.below(5) as i64;
                let in_loop = std::mem::replace(&mut scope.in_loop, true);
                scope.ints.push(counter.clone());
                let body = block(rng, scope, depth - 1);
                scope.ints.pop();
                scope.in_loop = in_loop;
                Stmt::For {
                    counter,
                    low,
                    high,
                    body,
                }
            }
        }
    }

    /// A call of `h` with the variables or expressions.
    fn call(rng: &mut Rng, scope: &Scope) -> Stmt {
        let mut args = Vec::new();
        for _ in 0..INTS {
            args.push(Value::Int(int(rng, scope, 1)));
        }
        for _ in 0..FLOATS {
            args.push(Value::Float(float(rng, scope, 1)));
        }
        for _ in 0..BOOLS {
            args.push(Value::Bool(bool(rng, scope, 1)));
        }
        let target = (!rng.chance(4)).then(|| rng.below(INTS as u64) as usize);
        Stmt::Call(target, args)
    }

    fn block(rng: &mut Rng, scope: &mut Scope, depth: u32) -> Vec<Line> {
        (0..1 + rng.below(4))
            .map(|_| Line {
                stmt: statement(rng, scope, depth),
                line: 0,
            })
            .collect()
    }

    /// A program: its source, and what it must do.
    pub fn program(rng: &mut Rng) -> (String, Expected) {
        // `h`, in two programs out of three: it takes every variable (arrays by reference),
        // may change them, print, return early, exit or fail.
        let has_function = !rng.chance(3);
        let exported = rng.chance(3);
        let mut function = Vec::new();
        if has_function {
            let mut scope = Scope {
                ints: (0..INTS).map(|index| format!("v{index}")).collect(),
                in_loop: false,
                arrays: true,
                in_function: true,
                can_call: false,
                next: 0,
                budget: 0,
            };
            function = block(rng, &mut scope, 2);
            function.push(Line {
                stmt: Stmt::Return(int(rng, &scope, 2)),
                line: 0,
            });
        }
        let mut scope = Scope {
            ints: (0..INTS).map(|index| format!("v{index}")).collect(),
            in_loop: false,
            arrays: false,
            in_function: false,
            can_call: has_function,
            next: 0,
            budget: 0,
        };
        let mut prelude = Vec::new();
        for index in 0..INTS {
            prelude.push(Stmt::Assign(
                Place::Int(index),
                None,
                Value::Int(Int::Literal(rng.below(41) as i64 - 20)),
            ));
        }
        for index in 0..FLOATS {
            prelude.push(Stmt::Assign(
                Place::Float(index),
                None,
                Value::Float(Float::Literal(float_constant(rng))),
            ));
        }
        for index in 0..BOOLS {
            prelude.push(Stmt::Assign(
                Place::Bool(index),
                None,
                Value::Bool(Bool::Literal(rng.chance(2))),
            ));
        }
        for array in [Array::Xs, Array::Ys, Array::Zs] {
            let length = 1 + rng.below(6) as i64;
            let init = array_init(rng, &scope, array, 2);
            prelude.push(Stmt::NewArray(array, length, init));
        }
        scope.arrays = true;
        let mut prelude: Vec<Line> = prelude
            .into_iter()
            .map(|stmt| Line { stmt, line: 0 })
            .collect();
        let mut body = block(rng, &mut scope, 3);
        body.extend(block(rng, &mut scope, 2));
        body.extend(block(rng, &mut scope, 1));

        let mut source = String::new();
        let mut line = 1;
        if has_function {
            source.push_str(if exported {
                "export func h("
            } else {
                "func h("
            });
            source.push_str(PARAMETERS);
            source.push_str(") -> int {\n");
            line += 1;
            render(&mut function, 1, &mut source, &mut line);
            source.push_str("}\n");
            line += 1;
        }
        source.push_str("func main() {\n");
        line += 1;
        render_prelude(&mut prelude, &mut source, &mut line);
        render(&mut body, 1, &mut source, &mut line);
        source.push_str(DUMP);
        source.push_str("}\n");

        let mut machine = Machine {
            function: Rc::new(function),
            ..Machine::default()
        };
        let end = match machine.run(&prelude).and_then(|()| machine.run(&body)) {
            Ok(()) => {
                machine.dump();
                End::Returned
            }
            Err(Stop::Exit(code)) => End::Exit(code),
            Err(Stop::Error(message, line)) => End::Error(message, line),
            Err(Stop::Break | Stop::Continue | Stop::Return(_)) => {
                unreachable!("break or return outside of their place")
            }
        };
        (
            source,
            Expected {
                stdout: machine.out,
                end,
            },
        )
    }

    /// `h`'s parameters: the variables' names, so that its body is generated as `main`'s.
    const PARAMETERS: &str = "v0: int, v1: int, v2: int, v3: int, f0: float, f1: float, f2: float, b0: bool, b1: bool, xs: [int], ys: [float], zs: [bool]";

    /// Printed at the end of every program: the variables and the arrays.
    const DUMP: &str = "    print(v0); print(\" \"); print(v1); print(\" \"); print(v2); print(\" \"); println(v3);
    print(f0); print(\" \"); print(f1); print(\" \"); println(f2);
    print(b0); print(\" \"); println(b1);
    for k in 0..len(xs) { print(xs[k]); print(\",\"); }
    println();
    for k in 0..len(ys) { print(ys[k]); print(\",\"); }
    println();
    for k in 0..len(zs) { print(zs[k]); print(\",\"); }
    println();
";

    // --- Rendering -------------------------------------------------------------------------

    fn index(array: Array, e: &Int) -> String {
        let name = array.name();
        format!(
            "{name}[({} % len({name}) + len({name})) % len({name})]",
            render_int(e)
        )
    }

    fn render_int(e: &Int) -> String {
        match e {
            Int::Literal(value) if *value < 0 => format!("({value})"),
            Int::Literal(value) => value.to_string(),
            Int::Var(name) => name.clone(),
            Int::Binary(op, a, b) => format!("({} {op} {})", render_int(a), render_int(b)),
            Int::Divisor(a) => format!("(abs({}) % 1000 + 1)", render_int(a)),
            Int::MinMax(name, a, b) => format!("{name}({}, {})", render_int(a), render_int(b)),
            Int::Abs(a) => format!("abs({})", render_int(a)),
            Int::Neg(a) => format!("(-{})", render_int(a)),
            Int::Element(e) => index(Array::Xs, e),
            Int::Len(array) => format!("len({})", array.name()),
            Int::FromFloat {
                value,
                clamped: true,
            } => format!("min(max({}, -1.0e15), 1.0e15) as int", render_float(value)),
            Int::FromFloat {
                value,
                clamped: false,
            } => format!("({} as int)", render_float(value)),
        }
    }

    fn render_float(e: &Float) -> String {
        match e {
            Float::Literal(value) => float_literal(*value),
            Float::Var(index) => format!("f{index}"),
            Float::Binary(op, a, b) => format!("({} {op} {})", render_float(a), render_float(b)),
            Float::MinMax(name, a, b) => {
                format!("{name}({}, {})", render_float(a), render_float(b))
            }
            Float::Abs(a) => format!("abs({})", render_float(a)),
            Float::Sqrt(a) => format!("sqrt(abs({}))", render_float(a)),
            Float::Neg(a) => format!("(-{})", render_float(a)),
            Float::Element(e) => index(Array::Ys, e),
            Float::FromInt(a) => format!("({} as float)", render_int(a)),
        }
    }

    fn render_bool(e: &Bool) -> String {
        match e {
            Bool::Literal(value) => value.to_string(),
            Bool::Var(index) => format!("b{index}"),
            Bool::Ints(op, a, b) => format!("({} {op} {})", render_int(a), render_int(b)),
            Bool::Floats(op, a, b) => format!("({} {op} {})", render_float(a), render_float(b)),
            Bool::Logic(op, a, b) | Bool::Same(op, a, b) => {
                format!("({} {op} {})", render_bool(a), render_bool(b))
            }
            Bool::Not(a) => format!("!{}", render_bool(a)),
            Bool::Element(e) => index(Array::Zs, e),
        }
    }

    fn render_value(value: &Value) -> String {
        match value {
            Value::Int(e) => render_int(e),
            Value::Float(e) => render_float(e),
            Value::Bool(e) => render_bool(e),
        }
    }

    fn render_place(place: &Place) -> String {
        match place {
            Place::Int(index) => format!("v{index}"),
            Place::Float(index) => format!("f{index}"),
            Place::Bool(index) => format!("b{index}"),
            Place::Element(array, e) => index(*array, e),
        }
    }

    /// The prelude declares the variables: `let` instead of assignment.
    fn render_prelude(prelude: &mut [Line], out: &mut String, line: &mut usize) {
        for statement in prelude {
            statement.line = *line;
            match &statement.stmt {
                Stmt::Assign(place, None, value) => out.push_str(&format!(
                    "    let {} = {};\n",
                    render_place(place),
                    render_value(value)
                )),
                Stmt::NewArray(array, length, init) => out.push_str(&format!(
                    "    let {} = array({length}, {});\n",
                    array.name(),
                    render_value(init)
                )),
                _ => unreachable!(),
            }
            *line += 1;
        }
    }

    fn render(statements: &mut [Line], indent: usize, out: &mut String, line: &mut usize) {
        let pad = "    ".repeat(indent);
        for statement in statements {
            statement.line = *line;
            match &mut statement.stmt {
                Stmt::Assign(place, op, value) => out.push_str(&format!(
                    "{pad}{} {}= {};\n",
                    render_place(place),
                    op.unwrap_or(""),
                    render_value(value)
                )),
                Stmt::NewArray(array, length, init) => out.push_str(&format!(
                    "{pad}{} = array({length}, {});\n",
                    array.name(),
                    render_value(init)
                )),
                Stmt::Print(newline, value) => out.push_str(&format!(
                    "{pad}{}({});\n",
                    if *newline { "println" } else { "print" },
                    render_value(value)
                )),
                Stmt::Text("\n") => out.push_str(&format!("{pad}println();\n")),
                Stmt::Text(text) => out.push_str(&format!("{pad}print(\"{text}\");\n")),
                Stmt::If(branches, otherwise) => {
                    for (position, (condition, body, condition_line)) in
                        branches.iter_mut().enumerate()
                    {
                        *condition_line = *line;
                        if position == 0 {
                            out.push_str(&format!("{pad}if {} {{\n", render_bool(condition)));
                        } else {
                            out.push_str(&format!(
                                "{pad}}} else if {} {{\n",
                                render_bool(condition)
                            ));
                        }
                        *line += 1;
                        render(body, indent + 1, out, line);
                    }
                    if let Some(otherwise) = otherwise {
                        out.push_str(&format!("{pad}}} else {{\n"));
                        *line += 1;
                        render(otherwise, indent + 1, out, line);
                    }
                    out.push_str(&format!("{pad}}}\n"));
                }
                Stmt::While {
                    counter,
                    limit,
                    condition,
                    body,
                } => {
                    // The `let` is on this statement's line, the condition on the next.
                    out.push_str(&format!("{pad}let {counter} = 0;\n"));
                    *line += 1;
                    statement.line = *line;
                    out.push_str(&format!(
                        "{pad}while {counter} < {limit} && {} {{\n",
                        render_bool(condition)
                    ));
                    out.push_str(&format!("{pad}    {counter} += 1;\n"));
                    *line += 2;
                    render(body, indent + 1, out, line);
                    out.push_str(&format!("{pad}}}\n"));
                }
                Stmt::For {
                    counter,
                    low,
                    high,
                    body,
                } => {
                    out.push_str(&format!(
                        "{pad}for {counter} in max(min({}, 3), -2)..{high} {{\n",
                        render_int(low)
                    ));
                    *line += 1;
                    render(body, indent + 1, out, line);
                    out.push_str(&format!("{pad}}}\n"));
                }
                Stmt::Leave(condition, is_break) => out.push_str(&format!(
                    "{pad}if {} {{ {} }}\n",
                    render_bool(condition),
                    if *is_break { "break;" } else { "continue;" }
                )),
                Stmt::Exit(condition, code) => out.push_str(&format!(
                    "{pad}if {} {{ exit({code}); }}\n",
                    render_bool(condition)
                )),
                Stmt::Call(target, args) => {
                    let args: Vec<String> = args.iter().map(render_value).collect();
                    let target = target.map_or(String::new(), |index| format!("v{index} = "));
                    out.push_str(&format!(
                        "{pad}{target}h({}, xs, ys, zs);\n",
                        args.join(", ")
                    ));
                }
                Stmt::Return(value) => {
                    out.push_str(&format!("{pad}return {};\n", render_int(value)))
                }
            }
            // The statement's line, or the block's closing brace.
            *line += 1;
        }
    }

    // --- Interpretation --------------------------------------------------------------------

    pub enum Stop {
        Break,
        Continue,
        Return(i64),
        Exit(i32),
        Error(&'static str, usize),
    }

    #[derive(Default)]
    pub struct Machine {
        ints: HashMap<String, i64>,
        floats: [f64; FLOATS],
        bools: [bool; BOOLS],
        // Arrays are references: `h`'s element writes are the caller's.
        xs: Rc<RefCell<Vec<i64>>>,
        ys: Rc<RefCell<Vec<f64>>>,
        zs: Rc<RefCell<Vec<bool>>>,
        pub out: String,
        /// `h`'s body.
        function: Rc<Vec<Line>>,
    }

    /// WebAssembly's `f64.min` / `f64.max`: NaN if either is, -0.0 below 0.0.
    fn wasm_min_max(name: &str, a: f64, b: f64) -> f64 {
        if a.is_nan() || b.is_nan() {
            return f64::NAN;
        }
        if a == b {
            // Only ±0.0 differ when equal.
            return if (name == "min") == a.is_sign_negative() {
                a
            } else {
                b
            };
        }
        if (name == "min") == (a < b) {
            a
        } else {
            b
        }
    }

    fn compare<T: PartialOrd>(op: &str, a: T, b: T) -> bool {
        match op {
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            ">=" => a >= b,
            "==" => a == b,
            _ => a != b,
        }
    }

    fn int_op(op: &str, a: i64, b: i64) -> i64 {
        match op {
            "+" => a.wrapping_add(b),
            "-" => a.wrapping_sub(b),
            "*" => a.wrapping_mul(b),
            // Never by zero (the generator's divisors); i64::MIN / -1 wraps.
            "/" => a.wrapping_div(b),
            _ => a.wrapping_rem(b),
        }
    }

    fn float_op(op: &str, a: f64, b: f64) -> f64 {
        match op {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            _ => a / b,
        }
    }

    impl Machine {
        /// `(e % n + n) % n` with Mini's remainder.
        fn slot(&self, e: &Int, length: usize, line: usize) -> Result<usize, Stop> {
            let n = length as i64;
            let e = self.int(e, line)?;
            Ok(e.wrapping_rem(n).wrapping_add(n).wrapping_rem(n) as usize)
        }

        fn int(&self, e: &Int, line: usize) -> Result<i64, Stop> {
            Ok(match e {
                Int::Literal(value) => *value,
                Int::Var(name) => self.ints[name],
                Int::Binary(op, a, b) => {
                    let a = self.int(a, line)?;
                    let b = self.int(b, line)?;
                    int_op(op, a, b)
                }
                Int::Divisor(a) => self.int(a, line)?.wrapping_abs() % 1000 + 1,
                Int::MinMax(name, a, b) => {
                    let a = self.int(a, line)?;
                    let b = self.int(b, line)?;
                    if *name == "min" {
                        a.min(b)
                    } else {
                        a.max(b)
                    }
                }
                Int::Abs(a) => self.int(a, line)?.wrapping_abs(),
                Int::Neg(a) => self.int(a, line)?.wrapping_neg(),
                Int::Element(e) => {
                    let slot = self.slot(e, self.xs.borrow().len(), line)?;
                    self.xs.borrow()[slot]
                }
                Int::Len(array) => {
                    (match array {
                        Array::Xs => self.xs.borrow().len(),
                        Array::Ys => self.ys.borrow().len(),
                        Array::Zs => self.zs.borrow().len(),
                    }) as i64
                }
                Int::FromFloat { value, clamped } => {
                    let mut value = self.float(value, line)?;
                    if *clamped {
                        value = wasm_min_max("min", wasm_min_max("max", value, -1.0e15), 1.0e15);
                    }
                    if value.is_nan() {
                        return Err(Stop::Error("NaN converted to int", line));
                    }
                    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&value)
                    {
                        return Err(Stop::Error("float out of range for int", line));
                    }
                    value as i64
                }
            })
        }

        fn float(&self, e: &Float, line: usize) -> Result<f64, Stop> {
            Ok(match e {
                Float::Literal(value) => *value,
                Float::Var(index) => self.floats[*index],
                Float::Binary(op, a, b) => {
                    let a = self.float(a, line)?;
                    let b = self.float(b, line)?;
                    float_op(op, a, b)
                }
                Float::MinMax(name, a, b) => {
                    let a = self.float(a, line)?;
                    let b = self.float(b, line)?;
                    wasm_min_max(name, a, b)
                }
                Float::Abs(a) => self.float(a, line)?.abs(),
                Float::Sqrt(a) => self.float(a, line)?.abs().sqrt(),
                Float::Neg(a) => -self.float(a, line)?,
                Float::Element(e) => {
                    let slot = self.slot(e, self.ys.borrow().len(), line)?;
                    self.ys.borrow()[slot]
                }
                Float::FromInt(a) => self.int(a, line)? as f64,
            })
        }

        fn bool(&self, e: &Bool, line: usize) -> Result<bool, Stop> {
            Ok(match e {
                Bool::Literal(value) => *value,
                Bool::Var(index) => self.bools[*index],
                Bool::Ints(op, a, b) => {
                    let a = self.int(a, line)?;
                    compare(op, a, self.int(b, line)?)
                }
                Bool::Floats(op, a, b) => {
                    let a = self.float(a, line)?;
                    compare(op, a, self.float(b, line)?)
                }
                Bool::Logic(op, a, b) => {
                    let a = self.bool(a, line)?;
                    // Short-circuit: the right side is not evaluated (nor its errors).
                    if (*op == "&&") == a {
                        self.bool(b, line)?
                    } else {
                        a
                    }
                }
                Bool::Same(op, a, b) => {
                    let a = self.bool(a, line)?;
                    compare(op, a, self.bool(b, line)?)
                }
                Bool::Not(a) => !self.bool(a, line)?,
                Bool::Element(e) => {
                    let slot = self.slot(e, self.zs.borrow().len(), line)?;
                    self.zs.borrow()[slot]
                }
            })
        }

        fn show(&self, value: &Value, line: usize) -> Result<String, Stop> {
            Ok(match value {
                Value::Int(e) => self.int(e, line)?.to_string(),
                Value::Float(e) => mini_float(self.float(e, line)?),
                Value::Bool(e) => self.bool(e, line)?.to_string(),
            })
        }

        pub fn run(&mut self, statements: &[Line]) -> Result<(), Stop> {
            for statement in statements {
                let line = statement.line;
                match &statement.stmt {
                    Stmt::Assign(Place::Int(index), op, Value::Int(e)) => {
                        let name = format!("v{index}");
                        let value = self.int(e, line)?;
                        let value = match op {
                            Some(op) => int_op(op, self.ints[&name], value),
                            None => value,
                        };
                        self.ints.insert(name, value);
                    }
                    Stmt::Assign(Place::Float(index), op, Value::Float(e)) => {
                        let value = self.float(e, line)?;
                        self.floats[*index] = match op {
                            Some(op) => float_op(op, self.floats[*index], value),
                            None => value,
                        };
                    }
                    Stmt::Assign(Place::Bool(index), _, Value::Bool(e)) => {
                        self.bools[*index] = self.bool(e, line)?;
                    }
                    Stmt::Assign(Place::Element(array, index), op, value) => match (array, value) {
                        (Array::Xs, Value::Int(e)) => {
                            let slot = self.slot(index, self.xs.borrow().len(), line)?;
                            let value = self.int(e, line)?;
                            let current = self.xs.borrow()[slot];
                            self.xs.borrow_mut()[slot] = match op {
                                Some(op) => int_op(op, current, value),
                                None => value,
                            };
                        }
                        (Array::Ys, Value::Float(e)) => {
                            let slot = self.slot(index, self.ys.borrow().len(), line)?;
                            let value = self.float(e, line)?;
                            let current = self.ys.borrow()[slot];
                            self.ys.borrow_mut()[slot] = match op {
                                Some(op) => float_op(op, current, value),
                                None => value,
                            };
                        }
                        (Array::Zs, Value::Bool(e)) => {
                            let slot = self.slot(index, self.zs.borrow().len(), line)?;
                            let value = self.bool(e, line)?;
                            self.zs.borrow_mut()[slot] = value;
                        }
                        _ => unreachable!(),
                    },
                    Stmt::Assign(..) => unreachable!(),
                    Stmt::NewArray(array, length, init) => {
                        let length = *length as usize;
                        match (array, init) {
                            (Array::Xs, Value::Int(e)) => {
                                self.xs = Rc::new(RefCell::new(vec![self.int(e, line)?; length]))
                            }
                            (Array::Ys, Value::Float(e)) => {
                                self.ys = Rc::new(RefCell::new(vec![self.float(e, line)?; length]))
                            }
                            (Array::Zs, Value::Bool(e)) => {
                                self.zs = Rc::new(RefCell::new(vec![self.bool(e, line)?; length]))
                            }
                            _ => unreachable!(),
                        }
                    }
                    Stmt::Print(newline, value) => {
                        let text = self.show(value, line)?;
                        self.out.push_str(&text);
                        if *newline {
                            self.out.push('\n');
                        }
                    }
                    Stmt::Text(text) => self.out.push_str(text),
                    Stmt::If(branches, otherwise) => {
                        let mut taken = None;
                        for (condition, body, condition_line) in branches {
                            if self.bool(condition, *condition_line)? {
                                taken = Some(body);
                                break;
                            }
                        }
                        if let Some(body) = taken.or(otherwise.as_ref()) {
                            self.run(body)?;
                        }
                    }
                    Stmt::While {
                        counter,
                        limit,
                        condition,
                        body,
                    } => {
                        self.ints.insert(counter.clone(), 0);
                        loop {
                            // `counter < limit && condition`, short-circuit.
                            if self.ints[counter] >= *limit || !self.bool(condition, line)? {
                                break;
                            }
                            *self.ints.get_mut(counter).unwrap() += 1;
                            match self.run(body) {
                                Ok(()) | Err(Stop::Continue) => {}
                                Err(Stop::Break) => break,
                                Err(stop) => return Err(stop),
                            }
                        }
                    }
                    Stmt::For {
                        counter,
                        low,
                        high,
                        body,
                    } => {
                        let low = self.int(low, line)?.clamp(-2, 3);
                        for value in low..*high {
                            self.ints.insert(counter.clone(), value);
                            match self.run(body) {
                                Ok(()) | Err(Stop::Continue) => {}
                                Err(Stop::Break) => break,
                                Err(stop) => return Err(stop),
                            }
                        }
                    }
                    Stmt::Leave(condition, is_break) => {
                        if self.bool(condition, line)? {
                            return Err(if *is_break {
                                Stop::Break
                            } else {
                                Stop::Continue
                            });
                        }
                    }
                    Stmt::Exit(condition, code) => {
                        if self.bool(condition, line)? {
                            return Err(Stop::Exit(*code));
                        }
                    }
                    Stmt::Return(value) => return Err(Stop::Return(self.int(value, line)?)),
                    Stmt::Call(target, args) => {
                        // The arguments from left to right, then `h` on them and the arrays.
                        let mut callee = Machine {
                            xs: self.xs.clone(),
                            ys: self.ys.clone(),
                            zs: self.zs.clone(),
                            ..Machine::default()
                        };
                        for (position, arg) in args.iter().enumerate() {
                            match arg {
                                Value::Int(e) => {
                                    let value = self.int(e, line)?;
                                    callee.ints.insert(format!("v{position}"), value);
                                }
                                Value::Float(e) => {
                                    callee.floats[position - INTS] = self.float(e, line)?
                                }
                                Value::Bool(e) => {
                                    callee.bools[position - INTS - FLOATS] = self.bool(e, line)?
                                }
                            }
                        }
                        callee.out = std::mem::take(&mut self.out);
                        let body = self.function.clone();
                        let result = callee.run(&body);
                        self.out = std::mem::take(&mut callee.out);
                        let value = match result {
                            Err(Stop::Return(value)) => value,
                            Ok(()) => unreachable!("`h` ends with a return"),
                            Err(stop) => return Err(stop),
                        };
                        if let Some(index) = target {
                            self.ints.insert(format!("v{index}"), value);
                        }
                    }
                }
            }
            Ok(())
        }

        /// What [`DUMP`] prints.
        pub fn dump(&mut self) {
            let ints: Vec<String> = (0..INTS)
                .map(|index| self.ints[&format!("v{index}")].to_string())
                .collect();
            let floats: Vec<String> = self.floats.iter().map(|x| mini_float(*x)).collect();
            let bools: Vec<String> = self.bools.iter().map(bool::to_string).collect();
            self.out.push_str(&format!("{}\n", ints.join(" ")));
            self.out.push_str(&format!("{}\n", floats.join(" ")));
            self.out.push_str(&format!("{}\n", bools.join(" ")));
            for x in self.xs.borrow().iter() {
                self.out.push_str(&format!("{x},"));
            }
            self.out.push('\n');
            for y in self.ys.borrow().iter() {
                self.out.push_str(&format!("{},", mini_float(*y)));
            }
            self.out.push('\n');
            for z in self.zs.borrow().iter() {
                self.out.push_str(&format!("{z},"));
            }
            self.out.push('\n');
        }
    }
}

/// How many typed programs each of the two tests runs (in parallel, with their own seeds).
const TYPED_PROGRAMS: usize = 300;

/// `TYPED_PROGRAMS` typed programs from `seed`, each checked on every engine.
fn typed_programs(seed: u64) {
    let engines = engines();
    let mut rng = Rng(seed);
    let mut ends: HashMap<&str, usize> = HashMap::new();
    let mut lines = 0;
    let mut bytes = 0;
    let mut calls = 0;
    for case in 0..TYPED_PROGRAMS {
        let (source, expected) = typed::program(&mut rng);
        lines += expected.stdout.lines().count();
        bytes += expected.stdout.len();
        // `h` defined, and called at least once.
        calls +=
            usize::from(source.matches(" h(").count() > 1 || source.matches("= h(").count() > 0);
        *ends
            .entry(match expected.end {
                End::Returned => "returned",
                End::Exit(_) => "exit",
                End::Error(..) => "runtime error",
            })
            .or_default() += 1;
        check_everywhere(
            &engines,
            &format!("typed case {case} of seed {seed:#x}"),
            &source,
            &expected,
        );
    }
    eprintln!("{ends:?}, {lines} lines, {bytes} bytes, {calls} programs calling h");
    assert!(calls * 3 >= TYPED_PROGRAMS, "{calls} programs call h");
    // Most programs run to their end; some stop at `exit` or a runtime error (`as int` of NaN
    // or of a float out of range).
    let returned = ends.get("returned").copied().unwrap_or(0);
    assert!(returned * 10 >= TYPED_PROGRAMS * 8, "{ends:?}");
    assert!(
        ends.get("runtime error").is_some_and(|&errors| errors > 0),
        "{ends:?}"
    );
    assert!(ends.get("exit").is_some_and(|&exits| exits > 0), "{ends:?}");
    // The programs print: the comparison is not of empty outputs.
    assert!(
        lines > TYPED_PROGRAMS * 8,
        "only {lines} lines printed in all"
    );
}

#[test]
fn random_programs_with_floats_bools_and_arrays_give_the_interpreter_s_output_on_both_engines() {
    typed_programs(0x7e57_f10a_7a11_0bad);
}

#[test]
fn more_random_programs_with_floats_bools_and_arrays() {
    typed_programs(0x0dd5_eed5_0f0f_7e57);
}

// ---------------------------------------------------------------------------------------------
// Whatever the input, the compiler does not panic, and what it compiles is valid.

/// Compiles `source` through every pass: no panic; every error renders; a compiled module is
/// valid WebAssembly (validated as the sandbox validates before loading) and prints as text.
/// Whether it compiled.
fn compiles_without_panic(source: &str) -> bool {
    match sandbox_lang::compile(source) {
        Ok(wasm) => {
            if let Err(error) = sandbox::ModuleInfo::parse(&wasm, &SandboxConfig::default()) {
                panic!("compiled to an invalid module: {error}\n{source}");
            }
            sandbox_lang::compile_to_wat(source).unwrap();
            true
        }
        Err(errors) => {
            assert!(
                !errors.is_empty(),
                "an error without a diagnostic:\n{source}"
            );
            for error in errors {
                let rendered = error.render("fuzz.mini", source);
                assert!(rendered.starts_with("fuzz.mini:"), "{rendered}");
            }
            false
        }
    }
}

/// Mini's tokens and a few more (a program's pieces, whole or broken).
const PIECES: &[&str] = &[
    "func",
    "export",
    "main",
    "f",
    "g",
    "x",
    "y",
    "xs",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "let",
    "=",
    "0",
    "1",
    "7",
    "2.5",
    "1e3",
    "9223372036854775808",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "&&",
    "||",
    "!",
    ";",
    ",",
    ":",
    "int",
    "float",
    "bool",
    "[int]",
    "[float]",
    "[bool]",
    "->",
    "if",
    "else",
    "while",
    "for",
    "in",
    "..",
    "return",
    "break",
    "continue",
    "as",
    "\"s\"",
    "\"",
    "true",
    "false",
    "array",
    "len",
    "println",
    "print",
    "read_int",
    "read_float",
    "exit",
    "sqrt",
    "abs",
    "min",
    "max",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "//",
    "\n",
    "&",
    "#",
    "é",
];

#[test]
fn random_bytes_never_panic_the_compiler() {
    let mut rng = Rng(0xb17e_5000_dead_beef);
    let alphabet = b"func main() { let x = 1 + 2.5; } [int] -> if else while for in .. return \"s\\n\" e+-*/%!=<>&|,;:_\t\n\xc3\xa9\xff\x00";
    for _ in 0..4000 {
        let length = rng.below(120) as usize;
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                if rng.chance(10) {
                    rng.below(256) as u8
                } else {
                    alphabet[rng.below(alphabet.len() as u64) as usize]
                }
            })
            .collect();
        compiles_without_panic(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn random_token_streams_never_panic_the_compiler() {
    let mut rng = Rng(0x70c3_0000_5eed_0001);
    let mut compiled = 0;
    for round in 0..6000 {
        let mut tokens = String::new();
        for _ in 0..rng.below(40) {
            tokens.push_str(rng.pick(PIECES));
            tokens.push(' ');
        }
        // Bare, in `main`'s body, or in a function with a result.
        let source = match round % 3 {
            0 => tokens,
            1 => format!("func main() {{ let x = 1; let xs = array(3, 0); {tokens} }}"),
            _ => format!("func f(x: int, y: float) -> int {{ {tokens} return x; }}"),
        };
        compiled += usize::from(compiles_without_panic(&source));
    }
    // Some streams are programs: the code generator is exercised too.
    assert!(compiled > 20, "only {compiled} compiled");
}

#[test]
fn mutations_of_right_programs_never_panic_the_compiler() {
    // The programs of examples/mini, and random typed programs.
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/mini");
    let mut originals: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "mini")
        })
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    let mut rng = Rng(0x0a7e_1234_0000_f00d);
    for _ in 0..10 {
        originals.push(typed::program(&mut rng).0);
    }
    for original in &originals {
        assert!(compiles_without_panic(original), "{original}");
    }
    let mut compiled = 0;
    for round in 0..3000 {
        let mut source = originals[round % originals.len()].clone();
        for _ in 0..1 + rng.below(3) {
            let mut at = rng.below(source.len() as u64 + 1) as usize;
            while !source.is_char_boundary(at) {
                at -= 1;
            }
            match rng.below(4) {
                // Delete a few characters.
                0 => {
                    let mut end = (at + 1 + rng.below(8) as usize).min(source.len());
                    while !source.is_char_boundary(end) {
                        end += 1;
                    }
                    source.replace_range(at..end, "");
                }
                // Insert a piece.
                1 | 2 => source.insert_str(at, rng.pick(PIECES)),
                // Repeat a line elsewhere.
                _ => {
                    let lines: Vec<&str> = source.lines().collect();
                    let line = lines[rng.below(lines.len() as u64) as usize].to_string();
                    source.insert_str(at, &format!("\n{line}\n"));
                }
            }
        }
        compiled += usize::from(compiles_without_panic(&source));
    }
    assert!(compiled > 100, "only {compiled} compiled");
}
