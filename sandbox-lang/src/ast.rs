//! The syntax tree: what the parser builds and the type checker reads. Every node keeps its
//! span for diagnostics.

use crate::diagnostic::Span;

/// A whole source file.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    /// Its functions, in source order.
    pub functions: Vec<Function>,
}

/// A type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `int`: 64-bit, wrapping.
    Int,
    /// `float`: f64.
    Float,
    /// `bool`.
    Bool,
    /// `[T]`: an array of `int`, `float` or `bool`.
    Array(Box<Type>),
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Bool => f.write_str("bool"),
            Type::Array(element) => write!(f, "[{element}]"),
        }
    }
}

/// A name and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name.
    pub text: String,
    /// Where.
    pub span: Span,
}

/// `[export] func name(params) [-> type] { body }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Its name.
    pub name: Name,
    /// Whether it is exported (callable with `--invoke`).
    pub exported: bool,
    /// Its parameters.
    pub params: Vec<(Name, Type)>,
    /// Its result, if it has one.
    pub result: Option<Type>,
    /// Its body.
    pub body: Block,
    /// From `func` (or `export`) to the closing brace.
    pub span: Span,
}

/// `{ statements }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// The statements.
    pub statements: Vec<Stmt>,
    /// Braces included.
    pub span: Span,
}

/// What an assignment writes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Place {
    /// A variable.
    Name(Name),
    /// An array element `a[i]`.
    Index {
        /// The array.
        array: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
}

/// `=`, `+=`, `-=`, `*=`, `/=`, `%=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Set,
    /// `+=` and the others: the binary operator applied.
    With(BinaryOp),
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `let name [: type] = value;`
    Let {
        /// The variable.
        name: Name,
        /// Its declared type.
        ty: Option<Type>,
        /// Its value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `place op value;`
    Assign {
        /// What is written.
        place: Place,
        /// How.
        op: AssignOp,
        /// The value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `if cond { } [else if ... | else { }]`
    If {
        /// The condition.
        condition: Expr,
        /// When true.
        then: Block,
        /// Else branch: a block (an `else if` is a block holding one `if`).
        otherwise: Option<Block>,
        /// The whole statement.
        span: Span,
    },
    /// `while cond { }`
    While {
        /// The condition.
        condition: Expr,
        /// The body.
        body: Block,
        /// The whole statement.
        span: Span,
    },
    /// `for name in low..high { }`
    For {
        /// The counter.
        name: Name,
        /// First value.
        low: Expr,
        /// One past the last value.
        high: Expr,
        /// The body.
        body: Block,
        /// The whole statement.
        span: Span,
    },
    /// `break;`
    Break(Span),
    /// `continue;`
    Continue(Span),
    /// `return [value];`
    Return(Option<Expr>, Span),
    /// `expr;`
    Expr(Expr),
}

/// A unary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `!`
    Not,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `&&` (short-circuit)
    And,
    /// `||` (short-circuit)
    Or,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer literal.
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A string literal (only as an argument of `print` / `println`).
    Str(String),
    /// A variable.
    Name(String),
    /// `f(args)`.
    Call {
        /// The function.
        callee: Name,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `a[i]`.
    Index {
        /// The array.
        array: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// `-x`, `!x`.
    Unary(UnaryOp, Box<Expr>),
    /// `x op y`.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `x as int`, `x as float`.
    Cast(Box<Expr>, Type),
}

/// An expression and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}
