//! The checked program: names resolved to locals and functions, built-ins recognised, every
//! expression typed. What the code generator reads.

use crate::ast::{BinaryOp, Type};
use crate::diagnostic::Span;

/// A checked program.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Functions, in source order (indices are [`Call::Function`]'s).
    pub functions: Vec<Function>,
    /// The index of `main`, if there is one (the WASI command's `_start`).
    pub main: Option<usize>,
}

/// A checked function.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Its name.
    pub name: String,
    /// Whether it is exported.
    pub exported: bool,
    /// The types of its parameters (its first locals).
    pub params: Vec<Type>,
    /// Its result.
    pub result: Option<Type>,
    /// The types of every local, parameters first.
    pub locals: Vec<Type>,
    /// Its body.
    pub body: Vec<Stmt>,
}

/// A checked statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `local = value` (`let` and assignment to a variable).
    Set(usize, Expr),
    /// `array[index] = value`.
    SetIndex {
        /// The array.
        array: Expr,
        /// The index.
        index: Expr,
        /// The value.
        value: Expr,
        /// Where (for the bounds-check message).
        line: u32,
    },
    /// `if`.
    If(Expr, Vec<Stmt>, Vec<Stmt>),
    /// `while`.
    While(Expr, Vec<Stmt>),
    /// `for local in low..high` (the bound evaluated once, before the loop).
    For {
        /// The counter.
        local: usize,
        /// A hidden local holding the bound.
        bound: usize,
        /// First value.
        low: Expr,
        /// One past the last.
        high: Expr,
        /// The body.
        body: Vec<Stmt>,
    },
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `return`.
    Return(Option<Expr>),
    /// An expression evaluated for its effect (its value, if any, dropped).
    Expr(Expr),
}

/// A call's target.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// A function of the program, by index.
    Function(usize),
    /// A built-in.
    Builtin(Builtin),
}

/// The built-in functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// `read_int()`
    ReadInt,
    /// `read_float()`
    ReadFloat,
    /// `print(x)` (with the argument's type)
    Print,
    /// `println(x)` or `println()`
    Println,
    /// `abs(x)`
    Abs,
    /// `min(a, b)`
    Min,
    /// `max(a, b)`
    Max,
    /// `sqrt(x)`
    Sqrt,
    /// `exit(code)`
    Exit,
    /// `array(n, init)`
    Array,
    /// `len(a)`
    Len,
}

impl Builtin {
    /// The built-in called `name`.
    pub fn of(name: &str) -> Option<Builtin> {
        Some(match name {
            "read_int" => Builtin::ReadInt,
            "read_float" => Builtin::ReadFloat,
            "print" => Builtin::Print,
            "println" => Builtin::Println,
            "abs" => Builtin::Abs,
            "min" => Builtin::Min,
            "max" => Builtin::Max,
            "sqrt" => Builtin::Sqrt,
            "exit" => Builtin::Exit,
            "array" => Builtin::Array,
            "len" => Builtin::Len,
            _ => return None,
        })
    }
}

/// What a checked expression is.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An `int` constant.
    Int(i64),
    /// A `float` constant.
    Float(f64),
    /// A `bool` constant.
    Bool(bool),
    /// A string constant (an argument of `print`).
    Str(String),
    /// A local's value.
    Local(usize),
    /// A call.
    Call(Call, Vec<Expr>),
    /// `array[index]`, bounds-checked.
    Index(Box<Expr>, Box<Expr>),
    /// `-x`.
    Neg(Box<Expr>),
    /// `!x`.
    Not(Box<Expr>),
    /// `x op y` (operands of the same type; `&&` and `||` short-circuit).
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `x as int` / `x as float` (checked: NaN and out of range are runtime errors).
    Cast(Box<Expr>, Type),
    /// An expression whose error was reported (never in a program that checks): it raises
    /// no further error.
    Error,
}

/// A checked expression: its type (`None`: a call of a function without a result, or a
/// string) and the line it starts on (for runtime errors).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Its type.
    pub ty: Option<Type>,
    /// Its 1-based line.
    pub line: u32,
    /// Its span in the source.
    pub span: Span,
}
