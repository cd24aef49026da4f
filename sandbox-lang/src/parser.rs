//! Tokens → [`Program`]: recursive descent, C precedence (`||` < `&&` < `== !=` <
//! `< <= > >=` < `+ -` < `* / %` < `as` < unary `- !` < calls and indexing). After an error
//! the parser skips to the end of the statement (or to the next function) and goes on, so
//! one compilation reports every independent mistake.

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Span};
use crate::lexer::{Keyword, Punct, Token, TokenKind};

/// Expressions nested deeper than this are refused: the parser recurses on them (about ten
/// frames a level), and so do the later passes. Programs people write nest a few levels.
const MAX_DEPTH: usize = 128;

/// Parses `tokens` (ending with `Eof`): the program (what could be parsed) and the errors.
pub fn parse(tokens: &[Token]) -> (Program, Vec<Diagnostic>) {
    let mut parser = Parser {
        tokens,
        at: 0,
        errors: Vec::new(),
        depth: 0,
    };
    let mut functions = Vec::new();
    while !parser.at_eof() {
        let before = parser.at;
        match parser.function() {
            Some(function) => functions.push(function),
            None => parser.skip_to_function(),
        }
        if parser.at == before {
            parser.at += 1;
        }
    }
    (Program { functions }, parser.errors)
}

/// A recoverable failure: the error is already recorded.
struct Failed;

type Parsed<T> = Result<T, Failed>;

struct Parser<'a> {
    tokens: &'a [Token],
    at: usize,
    errors: Vec<Diagnostic>,
    depth: usize,
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Int(value) => format!("the number `{value}`"),
        TokenKind::Float(value) => format!("the number `{value}`"),
        TokenKind::Str(_) => "a string".into(),
        TokenKind::Ident(name) => format!("`{name}`"),
        TokenKind::Keyword(keyword) => format!("`{}`", format!("{keyword:?}").to_lowercase()),
        TokenKind::Punct(punct) => format!("`{}`", punct.text()),
        TokenKind::Eof => "the end of the file".into(),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn at_eof(&self) -> bool {
        matches!(self.peek().kind, TokenKind::Eof)
    }

    fn bump(&mut self) -> &'a Token {
        let token = self.peek();
        if !self.at_eof() {
            self.at += 1;
        }
        token
    }

    fn is_punct(&self, punct: Punct) -> bool {
        self.peek().kind == TokenKind::Punct(punct)
    }

    fn is_keyword(&self, keyword: Keyword) -> bool {
        self.peek().kind == TokenKind::Keyword(keyword)
    }

    fn eat_punct(&mut self, punct: Punct) -> bool {
        let here = self.is_punct(punct);
        if here {
            self.bump();
        }
        here
    }

    fn fail<T>(&mut self, error: Diagnostic) -> Parsed<T> {
        self.errors.push(error);
        Err(Failed)
    }

    fn expected<T>(&mut self, what: &str) -> Parsed<T> {
        let token = self.peek();
        let mut error = Diagnostic::error(
            token.span,
            format!("expected {what}, found {}", describe(&token.kind)),
        );
        if what.contains("`;`") {
            // Point just after the previous token: that is where the `;` is missing.
            if let Some(previous) = self.at.checked_sub(1).map(|at| &self.tokens[at]) {
                error.span = Span::new(previous.span.end, previous.span.end);
                error = error.with_help("add `;` at the end of the statement");
            }
        }
        self.fail(error)
    }

    fn expect_punct(&mut self, punct: Punct) -> Parsed<Span> {
        if self.is_punct(punct) {
            Ok(self.bump().span)
        } else {
            self.expected(&format!("`{}`", punct.text()))
        }
    }

    fn name(&mut self, what: &str) -> Parsed<Name> {
        match &self.peek().kind {
            TokenKind::Ident(text) => {
                let text = text.clone();
                let span = self.bump().span;
                Ok(Name { text, span })
            }
            TokenKind::Keyword(_) => {
                let token = self.peek();
                let error = Diagnostic::error(
                    token.span,
                    format!(
                        "expected {what}, found the keyword {}",
                        describe(&token.kind)
                    ),
                )
                .with_help("keywords cannot be used as names");
                self.fail(error)
            }
            _ => self.expected(what),
        }
    }

    /// Skips to the next `func` or `export` at the top level.
    fn skip_to_function(&mut self) {
        let mut depth = 0usize;
        while !self.at_eof() {
            match &self.peek().kind {
                TokenKind::Punct(Punct::LBrace) => depth += 1,
                TokenKind::Punct(Punct::RBrace) => depth = depth.saturating_sub(1),
                TokenKind::Keyword(Keyword::Func | Keyword::Export) if depth == 0 => return,
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips the rest of a statement: past its `;`, or to the `}` closing its block.
    fn skip_statement(&mut self) {
        let mut depth = 0usize;
        while !self.at_eof() {
            match &self.peek().kind {
                TokenKind::Punct(Punct::Semi) if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::Punct(Punct::LBrace) => depth += 1,
                TokenKind::Punct(Punct::RBrace) => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                TokenKind::Keyword(Keyword::Func | Keyword::Export) if depth == 0 => return,
                _ => {}
            }
            self.bump();
        }
    }

    fn function(&mut self) -> Option<Function> {
        let start = self.peek().span;
        let exported = self.is_keyword(Keyword::Export);
        if exported {
            self.bump();
        }
        if !self.is_keyword(Keyword::Func) {
            let _ = self.expected::<()>(if exported {
                "`func` after `export`"
            } else {
                "a function (`func name(...) { ... }`)"
            });
            return None;
        }
        self.bump();
        let name = self.name("the function's name").ok()?;
        self.expect_punct(Punct::LParen).ok()?;
        let mut params = Vec::new();
        while !self.is_punct(Punct::RParen) {
            let param = self.name("a parameter name").ok()?;
            if !self.is_punct(Punct::Colon) {
                let error = Diagnostic::error(
                    param.span,
                    format!("the parameter `{}` has no type", param.text),
                )
                .with_help(format!(
                    "write `{}: int` (or float, bool, [int], ...)",
                    param.text
                ));
                self.errors.push(error);
                return None;
            }
            self.bump();
            let ty = self.ty().ok()?;
            params.push((param, ty));
            if !self.eat_punct(Punct::Comma) {
                break;
            }
        }
        self.expect_punct(Punct::RParen).ok()?;
        let result = if self.eat_punct(Punct::Arrow) {
            Some(self.ty().ok()?)
        } else {
            None
        };
        if !self.is_punct(Punct::LBrace) {
            let _ = self.expected::<()>("`{` starting the function's body");
            return None;
        }
        let body = self.block();
        Some(Function {
            span: start.to(body.span),
            name,
            exported,
            params,
            result,
            body,
        })
    }

    fn ty(&mut self) -> Parsed<Type> {
        if self.is_punct(Punct::LBracket) {
            let start = self.bump().span;
            let element = self.ty()?;
            let end = self.expect_punct(Punct::RBracket)?;
            if matches!(element, Type::Array(_)) {
                let error = Diagnostic::error(start.to(end), "arrays of arrays are not supported")
                    .with_help("use one array and compute the index: `xs[row * width + column]`");
                return self.fail(error);
            }
            return Ok(Type::Array(Box::new(element)));
        }
        let token = self.peek();
        let ty = match &token.kind {
            TokenKind::Ident(name) if name == "int" => Type::Int,
            TokenKind::Ident(name) if name == "float" => Type::Float,
            TokenKind::Ident(name) if name == "bool" => Type::Bool,
            TokenKind::Ident(name) => {
                let help = match name.as_str() {
                    "i64" | "i32" | "long" | "integer" => "integers are `int`",
                    "f64" | "f32" | "double" => "floating-point numbers are `float`",
                    "boolean" => "booleans are `bool`",
                    _ => {
                        "the types are int, float, bool and arrays of them: [int], [float], [bool]"
                    }
                };
                let error =
                    Diagnostic::error(token.span, format!("unknown type `{name}`")).with_help(help);
                return self.fail(error);
            }
            _ => return self.expected("a type"),
        };
        self.bump();
        Ok(ty)
    }

    fn block(&mut self) -> Block {
        self.depth += 1;
        let block = if self.depth > MAX_DEPTH && self.is_punct(Punct::LBrace) {
            let start = self.peek().span;
            self.errors.push(
                Diagnostic::error(start, "blocks nested too deeply").with_help(format!(
                    "at most {MAX_DEPTH} levels: move the inner part into a function"
                )),
            );
            // Skip the whole block, braces balanced, so that nothing inside is parsed.
            let mut open = 0usize;
            while !self.at_eof() {
                match self.bump().kind {
                    TokenKind::Punct(Punct::LBrace) => open += 1,
                    TokenKind::Punct(Punct::RBrace) => {
                        open = open.saturating_sub(1);
                        if open == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            Block {
                statements: Vec::new(),
                span: start,
            }
        } else {
            self.block_inner()
        };
        self.depth -= 1;
        block
    }

    fn block_inner(&mut self) -> Block {
        let start = self.peek().span;
        if self.expect_punct(Punct::LBrace).is_err() {
            return Block {
                statements: Vec::new(),
                span: start,
            };
        }
        let mut statements = Vec::new();
        loop {
            if self.is_punct(Punct::RBrace) {
                let end = self.bump().span;
                return Block {
                    statements,
                    span: start.to(end),
                };
            }
            if self.at_eof() || self.is_keyword(Keyword::Func) || self.is_keyword(Keyword::Export) {
                let error = Diagnostic::error(start, "this `{` is never closed")
                    .with_help("add the missing `}`");
                self.errors.push(error);
                return Block {
                    statements,
                    span: start.to(self.peek().span),
                };
            }
            let before = self.at;
            match self.statement() {
                Ok(statement) => statements.push(statement),
                Err(Failed) => self.skip_statement(),
            }
            if self.at == before {
                self.bump();
            }
        }
    }

    fn statement(&mut self) -> Parsed<Stmt> {
        let start = self.peek().span;
        match &self.peek().kind {
            TokenKind::Keyword(Keyword::Let) => {
                self.bump();
                let name = self.name("a variable name")?;
                let ty = if self.eat_punct(Punct::Colon) {
                    Some(self.ty()?)
                } else {
                    None
                };
                if !self.is_punct(Punct::Assign) {
                    return self.expected("`=` and the variable's value");
                }
                self.bump();
                let value = self.expression()?;
                let end = self.semicolon()?;
                Ok(Stmt::Let {
                    name,
                    ty,
                    value,
                    span: start.to(end),
                })
            }
            TokenKind::Keyword(Keyword::If) => self.if_statement(),
            TokenKind::Keyword(Keyword::While) => {
                self.bump();
                let condition = self.expression()?;
                let body = self.body_block()?;
                Ok(Stmt::While {
                    span: start.to(body.span),
                    condition,
                    body,
                })
            }
            TokenKind::Keyword(Keyword::For) => {
                self.bump();
                let name = self.name("the loop variable")?;
                if !self.is_keyword(Keyword::In) {
                    return self.expected("`in`");
                }
                self.bump();
                let low = self.expression()?;
                if !self.is_punct(Punct::DotDot) {
                    let error = Diagnostic::error(
                        self.peek().span,
                        format!("expected `..`, found {}", describe(&self.peek().kind)),
                    )
                    .with_help("a range is `low..high` (high excluded)");
                    return self.fail(error);
                }
                self.bump();
                let high = self.expression()?;
                let body = self.body_block()?;
                Ok(Stmt::For {
                    span: start.to(body.span),
                    name,
                    low,
                    high,
                    body,
                })
            }
            TokenKind::Keyword(Keyword::Break) => {
                self.bump();
                let end = self.semicolon()?;
                Ok(Stmt::Break(start.to(end)))
            }
            TokenKind::Keyword(Keyword::Continue) => {
                self.bump();
                let end = self.semicolon()?;
                Ok(Stmt::Continue(start.to(end)))
            }
            TokenKind::Keyword(Keyword::Return) => {
                self.bump();
                let value = if self.is_punct(Punct::Semi) {
                    None
                } else {
                    Some(self.expression()?)
                };
                let end = self.semicolon()?;
                Ok(Stmt::Return(value, start.to(end)))
            }
            _ => {
                let target = self.expression()?;
                let op = match &self.peek().kind {
                    TokenKind::Punct(Punct::Assign) => Some(AssignOp::Set),
                    TokenKind::Punct(Punct::PlusAssign) => Some(AssignOp::With(BinaryOp::Add)),
                    TokenKind::Punct(Punct::MinusAssign) => Some(AssignOp::With(BinaryOp::Sub)),
                    TokenKind::Punct(Punct::StarAssign) => Some(AssignOp::With(BinaryOp::Mul)),
                    TokenKind::Punct(Punct::SlashAssign) => Some(AssignOp::With(BinaryOp::Div)),
                    TokenKind::Punct(Punct::PercentAssign) => Some(AssignOp::With(BinaryOp::Rem)),
                    _ => None,
                };
                let Some(op) = op else {
                    let end = self.semicolon()?;
                    return Ok(Stmt::Expr(Expr {
                        span: target.span.to(end),
                        ..target
                    }));
                };
                self.bump();
                let place = match target.kind {
                    ExprKind::Name(text) => Place::Name(Name {
                        text,
                        span: target.span,
                    }),
                    ExprKind::Index { array, index } => Place::Index { array, index },
                    _ => {
                        let error = Diagnostic::error(target.span, "cannot assign to this")
                            .with_help(
                                "only a variable or an array element `a[i]` can be assigned",
                            );
                        return self.fail(error);
                    }
                };
                let value = self.expression()?;
                let end = self.semicolon()?;
                Ok(Stmt::Assign {
                    place,
                    op,
                    value,
                    span: start.to(end),
                })
            }
        }
    }

    fn semicolon(&mut self) -> Parsed<Span> {
        if self.is_punct(Punct::Semi) {
            Ok(self.bump().span)
        } else {
            self.expected("`;`")
        }
    }

    fn body_block(&mut self) -> Parsed<Block> {
        if self.is_punct(Punct::LBrace) {
            Ok(self.block())
        } else {
            let token = self.peek();
            let error = Diagnostic::error(
                token.span,
                format!("expected `{{`, found {}", describe(&token.kind)),
            )
            .with_help("the body of `if`, `while` and `for` is a block in braces");
            self.fail(error)
        }
    }

    fn if_statement(&mut self) -> Parsed<Stmt> {
        let start = self.bump().span;
        let condition = self.expression()?;
        let then = self.body_block()?;
        let otherwise = if self.is_keyword(Keyword::Else) {
            self.bump();
            if self.is_keyword(Keyword::If) {
                // An `else if` chain nests like blocks do.
                let depth = self.depth;
                let nested = self.deeper().and_then(|()| self.if_statement());
                self.depth = depth;
                let nested = nested?;
                let span = match &nested {
                    Stmt::If { span, .. } => *span,
                    _ => start,
                };
                Some(Block {
                    statements: vec![nested],
                    span,
                })
            } else {
                Some(self.body_block()?)
            }
        } else {
            None
        };
        let end = otherwise.as_ref().map_or(then.span, |block| block.span);
        Ok(Stmt::If {
            condition,
            then,
            otherwise,
            span: start.to(end),
        })
    }

    fn expression(&mut self) -> Parsed<Expr> {
        self.depth += 1;
        let result = if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            self.fail(Diagnostic::error(span, "expression nested too deeply"))
        } else {
            self.binary(0)
        };
        self.depth -= 1;
        result
    }

    /// Binary operators by precedence level (0 is the loosest). Each operator of a chain makes
    /// the tree one level deeper, and counts against [`MAX_DEPTH`] like a parenthesis.
    fn binary(&mut self, level: usize) -> Parsed<Expr> {
        let depth = self.depth;
        let result = self.binary_chain(level);
        self.depth = depth;
        result
    }

    fn deeper(&mut self) -> Parsed<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            let error = Diagnostic::error(span, "expression too long or nested too deeply")
                .with_help(format!(
                    "at most {MAX_DEPTH} operators deep: split it with `let`"
                ));
            return self.fail(error);
        }
        Ok(())
    }

    fn binary_chain(&mut self, level: usize) -> Parsed<Expr> {
        const LEVELS: &[&[(Punct, BinaryOp)]] = &[
            &[(Punct::OrOr, BinaryOp::Or)],
            &[(Punct::AndAnd, BinaryOp::And)],
            &[(Punct::Eq, BinaryOp::Eq), (Punct::Ne, BinaryOp::Ne)],
            &[
                (Punct::Lt, BinaryOp::Lt),
                (Punct::Le, BinaryOp::Le),
                (Punct::Gt, BinaryOp::Gt),
                (Punct::Ge, BinaryOp::Ge),
            ],
            &[(Punct::Plus, BinaryOp::Add), (Punct::Minus, BinaryOp::Sub)],
            &[
                (Punct::Star, BinaryOp::Mul),
                (Punct::Slash, BinaryOp::Div),
                (Punct::Percent, BinaryOp::Rem),
            ],
        ];
        if level == LEVELS.len() {
            return self.cast();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            let found = LEVELS[level]
                .iter()
                .find(|(punct, _)| self.is_punct(*punct))
                .map(|(_, op)| *op);
            let Some(op) = found else {
                return Ok(left);
            };
            self.deeper()?;
            self.bump();
            if self.at_eof() || self.is_punct(Punct::Semi) || self.is_punct(Punct::RParen) {
                let token = self.peek();
                let error = Diagnostic::error(
                    token.span,
                    format!("expected an expression, found {}", describe(&token.kind)),
                )
                .with_help("an operator needs an operand on each side");
                return self.fail(error);
            }
            let right = self.binary(level + 1)?;
            left = Expr {
                span: left.span.to(right.span),
                kind: ExprKind::Binary(op, Box::new(left), Box::new(right)),
            };
        }
    }

    fn cast(&mut self) -> Parsed<Expr> {
        let depth = self.depth;
        let result = self.cast_chain();
        self.depth = depth;
        result
    }

    fn cast_chain(&mut self) -> Parsed<Expr> {
        let mut value = self.unary()?;
        while self.is_keyword(Keyword::As) {
            self.deeper()?;
            self.bump();
            let type_span = self.peek().span;
            let ty = self.ty()?;
            value = Expr {
                span: value.span.to(type_span),
                kind: ExprKind::Cast(Box::new(value), ty),
            };
        }
        Ok(value)
    }

    fn unary(&mut self) -> Parsed<Expr> {
        let start = self.peek().span;
        let op = if self.is_punct(Punct::Minus) {
            UnaryOp::Neg
        } else if self.is_punct(Punct::Bang) {
            UnaryOp::Not
        } else {
            return self.postfix();
        };
        self.bump();
        // `-9223372036854775808` is the one literal whose magnitude is not an `int`.
        if let (UnaryOp::Neg, TokenKind::Int(value)) = (op, &self.peek().kind) {
            if *value == i64::MAX as u64 + 1 {
                let end = self.bump().span;
                return Ok(Expr {
                    kind: ExprKind::Int(i64::MIN),
                    span: start.to(end),
                });
            }
        }
        self.depth += 1;
        let operand = if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            self.fail(Diagnostic::error(span, "expression nested too deeply"))
        } else {
            self.unary()
        };
        self.depth -= 1;
        let operand = operand?;
        Ok(Expr {
            span: start.to(operand.span),
            kind: ExprKind::Unary(op, Box::new(operand)),
        })
    }

    fn postfix(&mut self) -> Parsed<Expr> {
        let depth = self.depth;
        let result = self.postfix_chain();
        self.depth = depth;
        result
    }

    fn postfix_chain(&mut self) -> Parsed<Expr> {
        let mut value = self.primary()?;
        loop {
            if self.is_punct(Punct::LParen) || self.is_punct(Punct::LBracket) {
                self.deeper()?;
            }
            if self.is_punct(Punct::LParen) {
                let ExprKind::Name(callee) = &value.kind else {
                    let error = Diagnostic::error(self.peek().span, "only functions can be called")
                        .with_help("call a function by its name: `f(x)`");
                    return self.fail(error);
                };
                let callee = Name {
                    text: callee.clone(),
                    span: value.span,
                };
                self.bump();
                let mut args = Vec::new();
                while !self.is_punct(Punct::RParen) {
                    args.push(self.expression()?);
                    if !self.eat_punct(Punct::Comma) {
                        break;
                    }
                }
                let end = self.expect_punct(Punct::RParen)?;
                value = Expr {
                    span: value.span.to(end),
                    kind: ExprKind::Call { callee, args },
                };
            } else if self.is_punct(Punct::LBracket) {
                self.bump();
                let index = self.expression()?;
                let end = self.expect_punct(Punct::RBracket)?;
                value = Expr {
                    span: value.span.to(end),
                    kind: ExprKind::Index {
                        array: Box::new(value),
                        index: Box::new(index),
                    },
                };
            } else {
                return Ok(value);
            }
        }
    }

    fn primary(&mut self) -> Parsed<Expr> {
        let token = self.peek();
        let kind = match &token.kind {
            TokenKind::Int(value) => match i64::try_from(*value) {
                Ok(value) => ExprKind::Int(value),
                Err(_) => {
                    let error =
                        Diagnostic::error(token.span, "integer literal too large for `int`")
                            .with_help("`int` is 64-bit: at most 9223372036854775807");
                    return self.fail(error);
                }
            },
            TokenKind::Float(value) => ExprKind::Float(*value),
            TokenKind::Str(text) => ExprKind::Str(text.clone()),
            TokenKind::Ident(name) => ExprKind::Name(name.clone()),
            TokenKind::Keyword(Keyword::True) => ExprKind::Bool(true),
            TokenKind::Keyword(Keyword::False) => ExprKind::Bool(false),
            TokenKind::Punct(Punct::LParen) => {
                let start = self.bump().span;
                let inner = self.expression()?;
                let end = self.expect_punct(Punct::RParen)?;
                return Ok(Expr {
                    kind: inner.kind,
                    span: start.to(end),
                });
            }
            _ => return self.expected("an expression"),
        };
        let span = self.bump().span;
        Ok(Expr { kind, span })
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::*;

    /// The program of the issue that introduced Mini.
    const EXAMPLE: &str = include_str!("../../examples/mini/example.mini");

    #[test]
    fn the_example_program_parses() {
        let program = crate::parse(EXAMPLE).unwrap();
        let names: Vec<&str> = program
            .functions
            .iter()
            .map(|function| function.name.text.as_str())
            .collect();
        assert_eq!(names, ["gcd", "add", "main"]);
        assert!(program.functions[1].exported);
        assert_eq!(program.functions[0].result, Some(Type::Int));
        assert_eq!(program.functions[2].body.statements.len(), 7);
    }

    #[test]
    fn precedence_is_c_s() {
        let program =
            crate::parse("func f() { let x = 1 + 2 * 3 < 4 || !a && -b as float == c; }").unwrap();
        let Stmt::Let { value, .. } = &program.functions[0].body.statements[0] else {
            panic!()
        };
        // ((1 + (2 * 3)) < 4) || ((!a) && (((-b) as float) == c))
        let ExprKind::Binary(BinaryOp::Or, left, right) = &value.kind else {
            panic!("{value:?}")
        };
        assert!(matches!(left.kind, ExprKind::Binary(BinaryOp::Lt, _, _)));
        let ExprKind::Binary(BinaryOp::And, not, eq) = &right.kind else {
            panic!()
        };
        assert!(matches!(not.kind, ExprKind::Unary(UnaryOp::Not, _)));
        let ExprKind::Binary(BinaryOp::Eq, cast, _) = &eq.kind else {
            panic!()
        };
        assert!(matches!(&cast.kind, ExprKind::Cast(inner, Type::Float)
            if matches!(inner.kind, ExprKind::Unary(UnaryOp::Neg, _))));
    }

    #[test]
    fn the_smallest_int_is_a_literal() {
        let program = crate::parse("func f() -> int { return -9223372036854775808; }").unwrap();
        let Stmt::Return(Some(value), _) = &program.functions[0].body.statements[0] else {
            panic!()
        };
        assert_eq!(value.kind, ExprKind::Int(i64::MIN));
        let errors = crate::parse("func f() -> int { return 9223372036854775808; }").unwrap_err();
        assert!(errors[0].message.contains("too large"), "{errors:?}");
    }

    #[test]
    fn several_errors_are_reported_in_one_compilation() {
        let source = "func main() {\n    let x = 1 +;\n    let y: integer = 2;\n    x = 3\n    foo(1, 2) = 4;\n}\nfunc g(a) {}\n";
        let errors = crate::parse(source).unwrap_err();
        let rendered: Vec<String> = errors
            .iter()
            .map(|error| {
                let (line, column) = error.line_column(source);
                format!("{line}:{column}: {}", error.message)
            })
            .collect();
        assert_eq!(
            rendered,
            [
                "2:16: expected an expression, found `;`",
                "3:12: unknown type `integer`",
                "4:10: expected `;`, found `foo`",
                "7:8: the parameter `a` has no type",
            ]
        );
        assert_eq!(
            errors[2].help.as_deref(),
            Some("add `;` at the end of the statement")
        );
        assert_eq!(errors[1].help.as_deref(), Some("integers are `int`"));
    }

    #[test]
    fn random_token_streams_and_deep_nesting_never_panic() {
        let pieces = [
            "func", "export", "main", "(", ")", "{", "}", "[", "]", "let", "x", "=", "1", "2.5",
            "+", "-", "*", "<", "&&", "!", ";", ",", ":", "int", "->", "if", "else", "while",
            "for", "in", "..", "return", "break", "as", "\"s\"", "true",
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let mut source = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                source.push_str(pieces[(state % pieces.len() as u64) as usize]);
                source.push(' ');
            }
            let _ = crate::parse(&source);
        }
        let deep = format!(
            "func f() {{ let x = {}1{}; }}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        let errors = crate::parse(&deep).unwrap_err();
        assert!(errors
            .iter()
            .any(|error| error.message.contains("too deeply")));
        let negations = format!("func f() {{ let x = {}1; }}", "-".repeat(10_000));
        assert!(crate::parse(&negations).is_err());
    }
}
