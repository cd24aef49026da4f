//! Type checking: [`ast::Program`] → [`typed::Program`], or every error found. Names are
//! resolved (locals by block scope, functions in any order of definition), built-ins
//! recognised, each expression typed; no implicit conversion anywhere.

use crate::ast::{self, AssignOp, BinaryOp, Place, Type, UnaryOp};
use crate::diagnostic::{Diagnostic, Span};
use crate::typed::{self, Builtin, Call, ExprKind};
use std::collections::HashMap;

/// Checks `program` (parsed from `source`, for line numbers).
pub fn check(program: &ast::Program, source: &str) -> Result<typed::Program, Vec<Diagnostic>> {
    let mut checker = Checker {
        newlines: source.match_indices('\n').map(|(at, _)| at).collect(),
        functions: &program.functions,
        errors: Vec::new(),
        signatures: HashMap::new(),
    };
    for (index, function) in program.functions.iter().enumerate() {
        let name = &function.name.text;
        if Builtin::of(name).is_some() {
            checker.error(
                Diagnostic::error(
                    function.name.span,
                    format!("`{name}` is a built-in function"),
                )
                .with_help("give your function another name"),
            );
        } else if function.exported && matches!(name.as_str(), "memory" | "_start") {
            let what = if name == "memory" {
                "the module's memory"
            } else {
                "`main` (the WASI command's entry)"
            };
            checker.error(
                Diagnostic::error(
                    function.name.span,
                    format!("an export cannot be named `{name}`: that export is {what}"),
                )
                .with_help("give your function another name"),
            );
        } else if checker.signatures.contains_key(name) {
            checker.error(Diagnostic::error(
                function.name.span,
                format!("the function `{name}` is defined twice"),
            ));
        } else {
            checker.signatures.insert(name.clone(), index);
        }
    }
    let mut main = None;
    let mut functions = Vec::new();
    for (index, function) in program.functions.iter().enumerate() {
        if function.name.text == "main" {
            if !function.params.is_empty() || function.result.is_some() {
                checker.error(
                    Diagnostic::error(
                        function.name.span,
                        "`main` takes no parameters and returns nothing",
                    )
                    .with_help("read input with read_int() / read_float(); write it with println"),
                );
            }
            main = Some(index);
        }
        functions.push(checker.function(function));
    }
    if checker.errors.is_empty() {
        Ok(typed::Program { functions, main })
    } else {
        Err(checker.errors)
    }
}

struct Checker<'a> {
    /// The byte offset of every newline of the source: a span's line is found by binary
    /// search (counting newlines from the start for each expression was quadratic).
    newlines: Vec<usize>,
    functions: &'a [ast::Function],
    errors: Vec<Diagnostic>,
    signatures: HashMap<String, usize>,
}

/// The locals of the function being checked.
struct Scope {
    /// Name → local, innermost block last.
    blocks: Vec<Vec<(String, usize, bool)>>,
    locals: Vec<Type>,
    /// Locals whose value had an error: their uses raise no further error.
    poisoned: std::collections::HashSet<usize>,
    result: Option<Type>,
    loops: usize,
}

impl Scope {
    fn lookup(&self, name: &str) -> Option<(usize, bool)> {
        self.blocks.iter().rev().find_map(|block| {
            block
                .iter()
                .rev()
                .find(|(local, _, _)| local == name)
                .map(|(_, index, writable)| (*index, *writable))
        })
    }

    fn declare(&mut self, name: &str, ty: Type, writable: bool) -> usize {
        self.locals.push(ty);
        let index = self.locals.len() - 1;
        if let Some(block) = self.blocks.last_mut() {
            block.push((name.to_string(), index, writable));
        }
        index
    }

    fn visible(&self) -> impl Iterator<Item = &str> {
        self.blocks
            .iter()
            .flat_map(|block| block.iter().map(|(name, _, _)| name.as_str()))
    }
}

fn is_numeric(ty: &Type) -> bool {
    matches!(ty, Type::Int | Type::Float)
}

fn is_scalar(ty: &Type) -> bool {
    matches!(ty, Type::Int | Type::Float | Type::Bool)
}

fn show(ty: &Option<Type>) -> String {
    match ty {
        Some(ty) => format!("`{ty}`"),
        None => "no value".into(),
    }
}

/// The edit distance of two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(previous + cost);
            previous = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    candidates
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(cost, candidate)| {
            // One edit in a name of up to three letters, two or a third of it beyond.
            let bound = if name.len() <= 3 {
                1
            } else {
                2.max(name.len() / 3)
            };
            *cost <= bound && *candidate != name
        })
        .min()
        .map(|(_, candidate)| candidate)
}

/// What Mini calls a function that other languages name `name` (`length`, `printf`,
/// `input`, `pow`); asked when no function of the program is close to the name.
fn other_languages(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "length" | "lenght" | "size" | "count" | "strlen" => "an array's length is `len(xs)`",
        "printf" | "puts" | "echo" | "write" | "writeln" | "print_int" | "print_float"
        | "printline" | "print_line" => "Mini prints with `print(x)` and `println(x)`",
        "input" | "read" | "scanf" | "readln" | "readline" | "read_line" | "getline" | "cin" => {
            "Mini reads the next number of standard input with `read_int()` or `read_float()`"
        }
        "pow" | "powf" | "powi" | "exp" | "log" | "sin" | "cos" | "tan" | "floor" | "ceil"
        | "round" => {
            "Mini's numeric built-ins are `abs`, `min`, `max` and `sqrt`: write the rest as a \
             function (`x as int` truncates a float)"
        }
        "int" | "float" | "to_int" | "to_float" | "parse" => {
            "convert with `as`: `x as int` (truncates), `n as float`"
        }
        "vec" | "list" | "new_array" | "make" | "alloc" => {
            "an array is made with `array(length, initial value)`"
        }
        "assert" | "panic" | "abort" | "quit" => {
            "check with `if` and end the program with `exit(code)`: `if !(ok) { exit(1); }`"
        }
        _ => return None,
    })
}

const BUILTINS: &[&str] = &[
    "read_int",
    "read_float",
    "print",
    "println",
    "abs",
    "min",
    "max",
    "sqrt",
    "exit",
    "array",
    "len",
];

impl Checker<'_> {
    fn error(&mut self, error: Diagnostic) {
        self.errors.push(error);
    }

    fn line(&self, span: Span) -> u32 {
        (self.newlines.partition_point(|&at| at < span.start) + 1) as u32
    }

    fn function(&mut self, function: &ast::Function) -> typed::Function {
        let mut scope = Scope {
            blocks: vec![Vec::new()],
            locals: Vec::new(),
            poisoned: Default::default(),
            result: function.result.clone(),
            loops: 0,
        };
        for (name, ty) in &function.params {
            if scope.lookup(&name.text).is_some() {
                self.error(Diagnostic::error(
                    name.span,
                    format!("the parameter `{}` is declared twice", name.text),
                ));
            }
            scope.declare(&name.text, ty.clone(), true);
        }
        let body = self.block(&function.body, &mut scope);
        if function.result.is_some() && !returns(&function.body.statements) {
            let end = Span::new(
                function.body.span.end.saturating_sub(1),
                function.body.span.end,
            );
            self.error(
                Diagnostic::error(
                    end,
                    format!(
                        "the function `{}` can reach its end without returning a value",
                        function.name.text
                    ),
                )
                .with_help("add `return ...;` before the closing brace"),
            );
        }
        typed::Function {
            name: function.name.text.clone(),
            exported: function.exported,
            params: function.params.iter().map(|(_, ty)| ty.clone()).collect(),
            result: function.result.clone(),
            locals: scope.locals,
            body,
        }
    }

    fn block(&mut self, block: &ast::Block, scope: &mut Scope) -> Vec<typed::Stmt> {
        scope.blocks.push(Vec::new());
        let statements = block
            .statements
            .iter()
            .filter_map(|statement| self.statement(statement, scope))
            .collect();
        scope.blocks.pop();
        statements
    }

    fn condition(&mut self, condition: &ast::Expr, scope: &mut Scope, what: &str) -> typed::Expr {
        let checked = self.expr(condition, scope);
        if checked.ty.is_some() && checked.ty != Some(Type::Bool) {
            let mut error = Diagnostic::error(
                condition.span,
                format!(
                    "the condition of `{what}` must be a `bool`, this is {}",
                    show(&checked.ty)
                ),
            );
            if checked.ty == Some(Type::Int) {
                error = error.with_help("compare it: `x != 0`");
            }
            self.error(error);
        }
        checked
    }

    fn statement(&mut self, statement: &ast::Stmt, scope: &mut Scope) -> Option<typed::Stmt> {
        match statement {
            ast::Stmt::Let {
                name, ty, value, ..
            } => {
                // What a `let` cannot hold is said in its own words below.
                let checked = self.expr_or_nothing(value, scope);
                let errored = matches!(checked.kind, ExprKind::Error);
                let value_type = match (&checked.ty, ty) {
                    (None, _) if errored => ty.clone().unwrap_or(Type::Int),
                    (None, _) => {
                        self.error(Diagnostic::error(
                            value.span,
                            format!("`{}` cannot hold {}", name.text, what_is(&checked)),
                        ));
                        ty.clone().unwrap_or(Type::Int)
                    }
                    (Some(found), Some(declared)) if found != declared => {
                        let mut error = Diagnostic::error(
                            value.span,
                            format!(
                                "`{}` is declared `{declared}` but this is `{found}`",
                                name.text
                            ),
                        );
                        if let Some(help) = conversion_help(found, declared) {
                            error = error.with_help(help);
                        }
                        self.error(error);
                        declared.clone()
                    }
                    (Some(found), _) => found.clone(),
                };
                let local = scope.declare(&name.text, value_type, true);
                if errored && ty.is_none() {
                    scope.poisoned.insert(local);
                }
                Some(typed::Stmt::Set(local, checked))
            }
            ast::Stmt::Assign {
                place, op, value, ..
            } => {
                // `x = v` says below what `x` cannot hold; `x += v` needs a value like `+`.
                let checked_value = match op {
                    AssignOp::Set => self.expr_or_nothing(value, scope),
                    AssignOp::With(_) => self.expr(value, scope),
                };
                let (target_type, target) = match place {
                    Place::Name(name) => match scope.lookup(&name.text) {
                        Some((local, writable)) => {
                            if !writable {
                                self.error(
                                    Diagnostic::error(
                                        name.span,
                                        format!(
                                            "cannot assign to the loop variable `{}`",
                                            name.text
                                        ),
                                    )
                                    .with_help("copy it into a variable of your own: `let j = i;`"),
                                );
                            }
                            (Some(scope.locals[local].clone()), Target::Local(local))
                        }
                        None => {
                            self.unknown_name(&name.text, name.span, scope);
                            (None, Target::Local(0))
                        }
                    },
                    Place::Index { array, index } => {
                        let array_checked = self.expr(array, scope);
                        let index_checked = self.index_of(index, scope);
                        let element = match &array_checked.ty {
                            Some(Type::Array(element)) => Some((**element).clone()),
                            None => None,
                            Some(other) => {
                                self.error(Diagnostic::error(
                                    array.span,
                                    format!("only arrays can be indexed, this is `{other}`"),
                                ));
                                None
                            }
                        };
                        (element, Target::Index(array_checked, index_checked))
                    }
                };
                let span = match place {
                    Place::Name(name) => name.span,
                    Place::Index { array, index } => array.span.to(index.span),
                };
                let line = self.line(span);
                let new_value = match op {
                    AssignOp::Set => checked_value,
                    AssignOp::With(operator) => {
                        let current = match &target {
                            Target::Local(local) => typed::Expr {
                                kind: ExprKind::Local(*local),
                                ty: target_type.clone(),
                                line,
                                span,
                            },
                            Target::Index(array, index) => typed::Expr {
                                kind: ExprKind::Index(
                                    Box::new(array.clone()),
                                    Box::new(index.clone()),
                                ),
                                ty: target_type.clone(),
                                line,
                                span,
                            },
                        };
                        self.binary(*operator, current, checked_value, span.to(value.span))
                    }
                };
                if let (Some(expected), Some(found)) = (&target_type, &new_value.ty) {
                    if expected != found && matches!(op, AssignOp::Set) {
                        let mut error = Diagnostic::error(
                            value.span,
                            format!("mismatched types: expected `{expected}`, found `{found}`"),
                        );
                        if let Some(help) = conversion_help(found, expected) {
                            error = error.with_help(help);
                        }
                        self.error(error);
                    }
                } else if new_value.ty.is_none()
                    && target_type.is_some()
                    && !matches!(new_value.kind, ExprKind::Error)
                {
                    self.error(Diagnostic::error(
                        value.span,
                        format!("cannot assign {}", what_is(&new_value)),
                    ));
                }
                Some(match target {
                    Target::Local(local) => typed::Stmt::Set(local, new_value),
                    Target::Index(array, index) => typed::Stmt::SetIndex {
                        array,
                        index,
                        value: new_value,
                        line,
                    },
                })
            }
            ast::Stmt::If {
                condition,
                then,
                otherwise,
                ..
            } => {
                let condition = self.condition(condition, scope, "if");
                let then = self.block(then, scope);
                let otherwise = otherwise
                    .as_ref()
                    .map(|block| self.block(block, scope))
                    .unwrap_or_default();
                Some(typed::Stmt::If(condition, then, otherwise))
            }
            ast::Stmt::While {
                condition, body, ..
            } => {
                let condition = self.condition(condition, scope, "while");
                scope.loops += 1;
                let body = self.block(body, scope);
                scope.loops -= 1;
                Some(typed::Stmt::While(condition, body))
            }
            ast::Stmt::For {
                name,
                low,
                high,
                body,
                ..
            } => {
                let low = self.index_like(low, scope, "a range's start");
                let high = self.index_like(high, scope, "a range's end");
                scope.blocks.push(Vec::new());
                let bound = scope.declare("", Type::Int, false);
                let local = scope.declare(&name.text, Type::Int, false);
                scope.loops += 1;
                let body = self.block(body, scope);
                scope.loops -= 1;
                scope.blocks.pop();
                Some(typed::Stmt::For {
                    local,
                    bound,
                    low,
                    high,
                    body,
                })
            }
            ast::Stmt::Break(span) | ast::Stmt::Continue(span) => {
                let is_break = matches!(statement, ast::Stmt::Break(_));
                if scope.loops == 0 {
                    let word = if is_break { "break" } else { "continue" };
                    self.error(Diagnostic::error(
                        *span,
                        format!("`{word}` outside of a loop"),
                    ));
                    return None;
                }
                Some(if is_break {
                    typed::Stmt::Break
                } else {
                    typed::Stmt::Continue
                })
            }
            ast::Stmt::Return(value, span) => {
                let checked = value.as_ref().map(|value| self.expr(value, scope));
                match (&scope.result, &checked) {
                    (None, Some(value)) => self.error(
                        Diagnostic::error(value.span, "this function returns nothing")
                            .with_help("declare its result: `func f(...) -> int {`"),
                    ),
                    (Some(expected), None) => self.error(Diagnostic::error(
                        *span,
                        format!("this function returns `{expected}`: `return` needs a value"),
                    )),
                    (Some(expected), Some(value))
                        if value.ty.as_ref() != Some(expected)
                            && !matches!(value.kind, ExprKind::Error) =>
                    {
                        let mut error = Diagnostic::error(
                            value.span,
                            format!(
                                "this function returns `{expected}`, this is {}",
                                show(&value.ty)
                            ),
                        );
                        if let Some(found) = &value.ty {
                            if let Some(help) = conversion_help(found, expected) {
                                error = error.with_help(help);
                            }
                        }
                        self.error(error);
                    }
                    _ => {}
                }
                Some(typed::Stmt::Return(checked))
            }
            ast::Stmt::Expr(expr) => {
                let checked = self.expr_or_nothing(expr, scope);
                if !matches!(checked.kind, ExprKind::Call(..) | ExprKind::Error) {
                    self.error(
                        Diagnostic::error(expr.span, "this expression does nothing")
                            .with_help("assign it (`let x = ...;`) or remove it"),
                    );
                }
                Some(typed::Stmt::Expr(checked))
            }
        }
    }

    fn index_like(&mut self, expr: &ast::Expr, scope: &mut Scope, what: &str) -> typed::Expr {
        let checked = self.expr(expr, scope);
        if checked.ty.is_some() && checked.ty != Some(Type::Int) {
            let mut error = Diagnostic::error(
                expr.span,
                format!("{what} must be an `int`, this is {}", show(&checked.ty)),
            );
            if let Some(help) = checked
                .ty
                .as_ref()
                .and_then(|ty| conversion_help(ty, &Type::Int))
            {
                error = error.with_help(help);
            }
            self.error(error);
        }
        checked
    }

    fn index_of(&mut self, index: &ast::Expr, scope: &mut Scope) -> typed::Expr {
        self.index_like(index, scope, "an index")
    }

    fn unknown_name(&mut self, name: &str, span: Span, scope: &Scope) {
        let mut error = Diagnostic::error(span, format!("unknown name `{name}`"));
        let other_language = match name {
            "True" | "TRUE" => Some("Mini writes `true`"),
            "False" | "FALSE" => Some("Mini writes `false`"),
            "null" | "NULL" | "nil" | "None" | "undefined" | "nullptr" => {
                Some("Mini has no null: every variable holds a value of its type")
            }
            _ => None,
        };
        if let Some(help) = other_language {
            error = error.with_help(help);
        } else if let Some(close) = closest(name, scope.visible()) {
            error = error.with_help(format!("did you mean `{close}`?"));
        } else if self.signatures.contains_key(name) || Builtin::of(name).is_some() {
            error = error.with_help(format!(
                "`{name}` is a function: call it with `{name}(...)`"
            ));
        }
        self.error(error);
    }

    /// An expression whose value is used: a call of a function that returns nothing, or a
    /// string (which only `print` takes), is an error here.
    fn expr(&mut self, expr: &ast::Expr, scope: &mut Scope) -> typed::Expr {
        let checked = self.expr_or_nothing(expr, scope);
        if checked.ty.is_some() || matches!(checked.kind, ExprKind::Error) {
            return checked;
        }
        let error = match &expr.kind {
            ast::ExprKind::Str(_) => Diagnostic::error(expr.span, "strings can only be printed")
                .with_help("print the parts one after the other: `print(\"x = \"); println(x);`"),
            ast::ExprKind::Call { callee, .. } => Diagnostic::error(
                expr.span,
                format!(
                    "`{}` returns nothing: there is no value to use here",
                    callee.text
                ),
            )
            .with_help("a function gives a value when it is declared with one: `-> int`"),
            _ => Diagnostic::error(expr.span, "this has no value"),
        };
        self.error(error);
        typed::Expr {
            kind: ExprKind::Error,
            ty: None,
            line: checked.line,
            span: checked.span,
        }
    }

    /// An expression that may have no value: a statement's call, `print`'s string.
    fn expr_or_nothing(&mut self, expr: &ast::Expr, scope: &mut Scope) -> typed::Expr {
        let line = self.line(expr.span);
        let make = |kind, ty| typed::Expr {
            kind,
            ty,
            line,
            span: expr.span,
        };
        match &expr.kind {
            ast::ExprKind::Int(value) => make(ExprKind::Int(*value), Some(Type::Int)),
            ast::ExprKind::Float(value) => make(ExprKind::Float(*value), Some(Type::Float)),
            ast::ExprKind::Bool(value) => make(ExprKind::Bool(*value), Some(Type::Bool)),
            ast::ExprKind::Str(text) => make(ExprKind::Str(text.clone()), None),
            ast::ExprKind::Name(name) => match scope.lookup(name) {
                Some((local, _)) if scope.poisoned.contains(&local) => make(ExprKind::Error, None),
                Some((local, _)) => make(ExprKind::Local(local), Some(scope.locals[local].clone())),
                None => {
                    self.unknown_name(name, expr.span, scope);
                    make(ExprKind::Error, None)
                }
            },
            ast::ExprKind::Unary(op, operand) => {
                let checked = self.expr(operand, scope);
                match (op, &checked.ty) {
                    (UnaryOp::Neg, Some(ty)) if is_numeric(ty) => {
                        let ty = checked.ty.clone();
                        make(ExprKind::Neg(Box::new(checked)), ty)
                    }
                    (UnaryOp::Not, Some(Type::Bool)) => {
                        make(ExprKind::Not(Box::new(checked)), Some(Type::Bool))
                    }
                    (_, None) => make(ExprKind::Error, None),
                    (UnaryOp::Neg, Some(ty)) => {
                        self.error(Diagnostic::error(
                            expr.span,
                            format!("`-` needs an `int` or a `float`, this is `{ty}`"),
                        ));
                        make(ExprKind::Error, None)
                    }
                    (UnaryOp::Not, Some(ty)) => {
                        self.error(
                            Diagnostic::error(
                                expr.span,
                                format!("`!` needs a `bool`, this is `{ty}`"),
                            )
                            .with_help("compare it instead: `x == 0`"),
                        );
                        make(ExprKind::Error, None)
                    }
                }
            }
            ast::ExprKind::Binary(op, left, right) => {
                let left = self.expr(left, scope);
                let right = self.expr(right, scope);
                self.binary(*op, left, right, expr.span)
            }
            ast::ExprKind::Cast(value, target) => {
                let checked = self.expr(value, scope);
                match (&checked.ty, target) {
                    (None, _) => make(ExprKind::Error, None),
                    (Some(from), Type::Int | Type::Float) if is_numeric(from) => make(
                        ExprKind::Cast(Box::new(checked), target.clone()),
                        Some(target.clone()),
                    ),
                    (Some(from), _) => {
                        self.error(
                            Diagnostic::error(
                                expr.span,
                                format!("cannot convert `{from}` to `{target}`"),
                            )
                            .with_help("`as` converts between `int` and `float`"),
                        );
                        make(ExprKind::Error, None)
                    }
                }
            }
            ast::ExprKind::Index { array, index } => {
                let array_checked = self.expr(array, scope);
                let index_checked = self.index_of(index, scope);
                match &array_checked.ty {
                    Some(Type::Array(element)) => {
                        let element = (**element).clone();
                        make(
                            ExprKind::Index(Box::new(array_checked), Box::new(index_checked)),
                            Some(element),
                        )
                    }
                    None => make(ExprKind::Error, None),
                    Some(other) => {
                        self.error(Diagnostic::error(
                            array.span,
                            format!("only arrays can be indexed, this is `{other}`"),
                        ));
                        make(ExprKind::Error, None)
                    }
                }
            }
            ast::ExprKind::Call { callee, args } => {
                // `print` and `println` take strings; a built-in's other arguments are values.
                // A user function's argument without a value is reported by `call`.
                let prints = matches!(
                    Builtin::of(&callee.text),
                    Some(Builtin::Print | Builtin::Println) | None
                );
                let args: Vec<typed::Expr> = args
                    .iter()
                    .map(|arg| {
                        if prints {
                            self.expr_or_nothing(arg, scope)
                        } else {
                            self.expr(arg, scope)
                        }
                    })
                    .collect();
                self.call(callee, args, expr.span, line)
            }
        }
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        left: typed::Expr,
        right: typed::Expr,
        span: Span,
    ) -> typed::Expr {
        let line = left.line;
        let (Some(a), Some(b)) = (left.ty.clone(), right.ty.clone()) else {
            if matches!(left.kind, ExprKind::Str(_)) || matches!(right.kind, ExprKind::Str(_)) {
                self.error(
                    Diagnostic::error(span, "strings can only be printed").with_help(
                        "print the parts one after the other: `print(\"x = \"); println(x);`",
                    ),
                );
            }
            return typed::Expr {
                kind: ExprKind::Error,
                ty: None,
                line,
                span,
            };
        };
        let symbol = match op {
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        };
        let result = match op {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div
                if a == b && is_numeric(&a) =>
            {
                Ok(a.clone())
            }
            BinaryOp::Rem if a == Type::Int && b == Type::Int => Ok(Type::Int),
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
                if a == b && is_numeric(&a) =>
            {
                Ok(Type::Bool)
            }
            BinaryOp::Eq | BinaryOp::Ne if a == b && is_scalar(&a) => Ok(Type::Bool),
            BinaryOp::And | BinaryOp::Or if a == Type::Bool && b == Type::Bool => Ok(Type::Bool),
            _ => Err(()),
        };
        match result {
            Ok(ty) => typed::Expr {
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
                ty: Some(ty),
                line,
                span,
            },
            Err(()) => {
                let mut error =
                    Diagnostic::error(span, format!("`{symbol}` cannot take `{a}` and `{b}`"));
                if is_numeric(&a) && is_numeric(&b) && a != b {
                    error = error.with_help(
                        "there are no implicit conversions: convert one side with `as float` or `as int`",
                    );
                } else if op == BinaryOp::Rem && a == Type::Float {
                    error = error.with_help("`%` is for `int`s");
                } else if matches!(op, BinaryOp::And | BinaryOp::Or) {
                    error = error.with_help("`&&` and `||` take `bool`s: compare first, `x != 0`");
                }
                self.error(error);
                typed::Expr {
                    kind: ExprKind::Error,
                    ty: None,
                    line,
                    span,
                }
            }
        }
    }

    fn call(
        &mut self,
        callee: &ast::Name,
        args: Vec<typed::Expr>,
        span: Span,
        line: u32,
    ) -> typed::Expr {
        let bad = |ty| typed::Expr {
            kind: ExprKind::Error,
            ty,
            line,
            span,
        };
        let name = callee.text.as_str();
        if let Some(builtin) = Builtin::of(name) {
            // An argument already reported is not reported again as the call's problem.
            if args.iter().any(|arg| matches!(arg.kind, ExprKind::Error)) {
                return bad(None);
            }
            let types: Vec<Option<Type>> = args.iter().map(|arg| arg.ty.clone()).collect();
            let is_str = |index: usize| matches!(args[index].kind, ExprKind::Str(_));
            let result: Result<Option<Type>, String> = match (builtin, types.as_slice()) {
                (Builtin::ReadInt, []) => Ok(Some(Type::Int)),
                (Builtin::ReadFloat, []) => Ok(Some(Type::Float)),
                (Builtin::Println, []) => Ok(None),
                (Builtin::Print | Builtin::Println, [ty]) => match ty {
                    Some(ty) if is_scalar(ty) => Ok(None),
                    None if is_str(0) => Ok(None),
                    Some(ty) => Err(format!(
                        "`{name}` prints an `int`, a `float`, a `bool` or a string, not `{ty}`"
                    )),
                    None => Err(format!("`{name}` has nothing to print here")),
                },
                (Builtin::Abs, [Some(ty)]) if is_numeric(ty) => Ok(Some(ty.clone())),
                (Builtin::Min | Builtin::Max, [Some(a), Some(b)]) if a == b && is_numeric(a) => {
                    Ok(Some(a.clone()))
                }
                (Builtin::Sqrt, [Some(Type::Float)]) => Ok(Some(Type::Float)),
                (Builtin::Sqrt, [Some(Type::Int)]) => {
                    Err("`sqrt` takes a `float`: `sqrt(x as float)`".into())
                }
                (Builtin::Exit, [Some(Type::Int)]) => Ok(None),
                (Builtin::Array, [Some(Type::Int), Some(init)]) if is_scalar(init) => {
                    Ok(Some(Type::Array(Box::new(init.clone()))))
                }
                (Builtin::Len, [Some(Type::Array(_))]) => Ok(Some(Type::Int)),
                _ => Err(format!(
                    "`{name}` takes {}",
                    match builtin {
                        Builtin::ReadInt | Builtin::ReadFloat => "no arguments",
                        Builtin::Print => "one value to print",
                        Builtin::Println => "one value to print, or none",
                        Builtin::Abs => "one `int` or `float`",
                        Builtin::Min | Builtin::Max => "two `int`s or two `float`s",
                        Builtin::Sqrt => "one `float`",
                        Builtin::Exit => "one `int` (the exit status)",
                        Builtin::Array => "a length (`int`) and an initial value: `array(n, 0)`",
                        Builtin::Len => "one array",
                    }
                )),
            };
            if types.iter().any(Option::is_none)
                && !matches!(builtin, Builtin::Print | Builtin::Println)
            {
                return bad(None);
            }
            return match result {
                Ok(ty) => typed::Expr {
                    kind: ExprKind::Call(Call::Builtin(builtin), args),
                    ty,
                    line,
                    span,
                },
                Err(message) => {
                    self.error(Diagnostic::error(span, message));
                    bad(None)
                }
            };
        }
        let Some(&index) = self.signatures.get(name) else {
            let mut error = Diagnostic::error(callee.span, format!("unknown function `{name}`"));
            // A function of the program close to the name first, then what other languages
            // call a built-in (`printf` is not a typo of `print`), then a close built-in.
            let help = closest(name, self.signatures.keys().map(String::as_str))
                .map(|close| format!("did you mean `{close}`?"))
                .or_else(|| other_languages(name).map(str::to_string))
                .or_else(|| {
                    closest(name, BUILTINS.iter().copied())
                        .map(|close| format!("did you mean `{close}`?"))
                });
            if let Some(help) = help {
                error = error.with_help(help);
            }
            self.error(error);
            return bad(None);
        };
        let function = &self.functions[index];
        if args.len() != function.params.len() {
            let error = Diagnostic::error(
                span,
                format!(
                    "`{name}` takes {} argument{}, this call passes {}",
                    function.params.len(),
                    if function.params.len() == 1 { "" } else { "s" },
                    args.len()
                ),
            );
            self.error(error);
            return bad(None);
        }
        for (arg, (param, expected)) in args.iter().zip(&function.params) {
            match &arg.ty {
                Some(found) if found != expected => {
                    let mut error = Diagnostic::error(
                        arg.span,
                        format!(
                            "`{name}`'s parameter `{}` is `{expected}`, this is `{found}`",
                            param.text
                        ),
                    );
                    if let Some(help) = conversion_help(found, expected) {
                        error = error.with_help(help);
                    }
                    self.error(error);
                }
                None if !matches!(arg.kind, ExprKind::Error) => {
                    self.error(Diagnostic::error(
                        arg.span,
                        format!("cannot pass {} to `{name}`", what_is(arg)),
                    ));
                }
                _ => {}
            }
        }
        typed::Expr {
            kind: ExprKind::Call(Call::Function(index), args),
            ty: function.result.clone(),
            line,
            span,
        }
    }
}

/// Where an assignment writes.
enum Target {
    Local(usize),
    Index(typed::Expr, typed::Expr),
}

fn what_is(expr: &typed::Expr) -> String {
    match &expr.kind {
        ExprKind::Str(_) => "a string (strings can only be printed)".into(),
        ExprKind::Call(..) => "the result of a function that returns nothing".into(),
        _ => "this".into(),
    }
}

fn conversion_help(found: &Type, expected: &Type) -> Option<String> {
    match (found, expected) {
        (Type::Int, Type::Float) => Some("convert it: `... as float`".into()),
        (Type::Float, Type::Int) => Some("convert it (truncating): `... as int`".into()),
        _ => None,
    }
}

/// Whether executing `statements` always ends in a `return` (or `exit`).
fn returns(statements: &[ast::Stmt]) -> bool {
    statements.iter().any(|statement| match statement {
        ast::Stmt::Return(..) => true,
        ast::Stmt::If {
            then,
            otherwise: Some(otherwise),
            ..
        } => returns(&then.statements) && returns(&otherwise.statements),
        ast::Stmt::Expr(ast::Expr {
            kind: ast::ExprKind::Call { callee, .. },
            ..
        }) => callee.text == "exit",
        ast::Stmt::While {
            condition:
                ast::Expr {
                    kind: ast::ExprKind::Bool(true),
                    ..
                },
            body,
            ..
        } => !breaks(&body.statements),
        _ => false,
    })
}

/// Whether a `break` leaves this loop body (not counting nested loops').
fn breaks(statements: &[ast::Stmt]) -> bool {
    statements.iter().any(|statement| match statement {
        ast::Stmt::Break(_) => true,
        ast::Stmt::If {
            then, otherwise, ..
        } => breaks(&then.statements) || otherwise.as_ref().is_some_and(|b| breaks(&b.statements)),
        _ => false,
    })
}
