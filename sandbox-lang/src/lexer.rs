//! Source text → tokens, each with its byte span. Errors (a character that starts no token,
//! an unterminated string, a number too large) are reported and lexing goes on.

use crate::diagnostic::{Diagnostic, Span};

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// An integer literal (its magnitude: `-` is an operator; `9223372036854775808` is kept
    /// for `-9223372036854775808`).
    Int(u64),
    /// A floating-point literal.
    Float(f64),
    /// A string literal, escapes resolved.
    Str(String),
    /// A name.
    Ident(String),
    /// A keyword.
    Keyword(Keyword),
    /// Punctuation or an operator.
    Punct(Punct),
    /// The end of the source.
    Eof,
}

/// The reserved words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `func`
    Func,
    /// `export`
    Export,
    /// `let`
    Let,
    /// `if`
    If,
    /// `else`
    Else,
    /// `while`
    While,
    /// `for`
    For,
    /// `in`
    In,
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `return`
    Return,
    /// `true`
    True,
    /// `false`
    False,
    /// `as`
    As,
}

impl Keyword {
    fn of(word: &str) -> Option<Keyword> {
        Some(match word {
            "func" => Keyword::Func,
            "export" => Keyword::Export,
            "let" => Keyword::Let,
            "if" => Keyword::If,
            "else" => Keyword::Else,
            "while" => Keyword::While,
            "for" => Keyword::For,
            "in" => Keyword::In,
            "break" => Keyword::Break,
            "continue" => Keyword::Continue,
            "return" => Keyword::Return,
            "true" => Keyword::True,
            "false" => Keyword::False,
            "as" => Keyword::As,
            _ => return None,
        })
    }
}

/// Punctuation and operators, longest first where they share a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punct {
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `:`
    Colon,
    /// `->`
    Arrow,
    /// `..`
    DotDot,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `!`
    Bang,
    /// `=`
    Assign,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    /// `+=`
    PlusAssign,
    /// `-=`
    MinusAssign,
    /// `*=`
    StarAssign,
    /// `/=`
    SlashAssign,
    /// `%=`
    PercentAssign,
}

const PUNCTS: &[(&str, Punct)] = &[
    ("->", Punct::Arrow),
    ("..", Punct::DotDot),
    ("==", Punct::Eq),
    ("!=", Punct::Ne),
    ("<=", Punct::Le),
    (">=", Punct::Ge),
    ("&&", Punct::AndAnd),
    ("||", Punct::OrOr),
    ("+=", Punct::PlusAssign),
    ("-=", Punct::MinusAssign),
    ("*=", Punct::StarAssign),
    ("/=", Punct::SlashAssign),
    ("%=", Punct::PercentAssign),
    ("(", Punct::LParen),
    (")", Punct::RParen),
    ("{", Punct::LBrace),
    ("}", Punct::RBrace),
    ("[", Punct::LBracket),
    ("]", Punct::RBracket),
    (",", Punct::Comma),
    (";", Punct::Semi),
    (":", Punct::Colon),
    ("+", Punct::Plus),
    ("-", Punct::Minus),
    ("*", Punct::Star),
    ("/", Punct::Slash),
    ("%", Punct::Percent),
    ("!", Punct::Bang),
    ("=", Punct::Assign),
    ("<", Punct::Lt),
    (">", Punct::Gt),
];

impl Punct {
    /// How it is written.
    pub fn text(self) -> &'static str {
        PUNCTS
            .iter()
            .find(|(_, punct)| *punct == self)
            .map_or("?", |(text, _)| text)
    }
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Its bytes in the source.
    pub span: Span,
}

/// Splits `source` into tokens (ending with [`TokenKind::Eof`]) and the errors met.
pub fn lex(source: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let byte = bytes[at];
        if byte.is_ascii_whitespace() {
            at += 1;
            continue;
        }
        if source[at..].starts_with("//") {
            at = source[at..].find('\n').map_or(bytes.len(), |end| at + end);
            continue;
        }
        if byte.is_ascii_digit() {
            let (kind, end, error) = number(source, at);
            if let Some(error) = error {
                errors.push(error);
            }
            tokens.push(Token {
                kind,
                span: Span::new(start, end),
            });
            at = end;
            continue;
        }
        if byte.is_ascii_alphabetic() || byte == b'_' {
            while at < bytes.len() && (bytes[at].is_ascii_alphanumeric() || bytes[at] == b'_') {
                at += 1;
            }
            let word = &source[start..at];
            let kind = match Keyword::of(word) {
                Some(keyword) => TokenKind::Keyword(keyword),
                None => TokenKind::Ident(word.to_string()),
            };
            tokens.push(Token {
                kind,
                span: Span::new(start, at),
            });
            continue;
        }
        if byte == b'"' {
            let (text, end, error) = string(source, at);
            if let Some(error) = error {
                errors.push(error);
            }
            tokens.push(Token {
                kind: TokenKind::Str(text),
                span: Span::new(start, end),
            });
            at = end;
            continue;
        }
        if let Some((text, punct)) = PUNCTS
            .iter()
            .find(|(text, _)| source[at..].starts_with(text))
        {
            at += text.len();
            tokens.push(Token {
                kind: TokenKind::Punct(*punct),
                span: Span::new(start, at),
            });
            continue;
        }
        if byte == b'\'' {
            if let Some((code, end, error)) = character_literal(source, at) {
                errors.push(error);
                // Read as the character's code, so that the rest of the line parses.
                tokens.push(Token {
                    kind: TokenKind::Int(code),
                    span: Span::new(start, end),
                });
                at = end;
                continue;
            }
        }
        let character = source[at..].chars().next().unwrap_or('?');
        at += character.len_utf8();
        let mut error = Diagnostic::error(
            Span::new(start, at),
            format!("unexpected character {character:?}"),
        );
        if character == '&' || character == '|' {
            error = error.with_help(format!(
                "Mini has `{character}{character}` (and/or on booleans), no bitwise operators"
            ));
            // Read as `&&` / `||`, so that the expression parses and only this is reported.
            tokens.push(Token {
                kind: TokenKind::Punct(if character == '&' {
                    Punct::AndAnd
                } else {
                    Punct::OrOr
                }),
                span: Span::new(start, at),
            });
        }
        errors.push(error);
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        span: Span::new(bytes.len(), bytes.len()),
    });
    (tokens, errors)
}

/// A number at `start`: digits, then `.digits` (not `..`) and an exponent for a float.
fn number(source: &str, start: usize) -> (TokenKind, usize, Option<Diagnostic>) {
    let bytes = source.as_bytes();
    let digits = |mut at: usize| {
        while at < bytes.len() && (bytes[at].is_ascii_digit() || bytes[at] == b'_') {
            at += 1;
        }
        at
    };
    let mut end = digits(start);
    let mut float = false;
    if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
        float = true;
        end = digits(end + 1);
    }
    if end < bytes.len() && (bytes[end] == b'e' || bytes[end] == b'E') {
        let mut exponent = end + 1;
        if exponent < bytes.len() && (bytes[exponent] == b'+' || bytes[exponent] == b'-') {
            exponent += 1;
        }
        if exponent < bytes.len() && bytes[exponent].is_ascii_digit() {
            float = true;
            end = digits(exponent);
        }
    }
    if end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        return malformed_number(source, start, end);
    }
    let text: String = source[start..end].chars().filter(|c| *c != '_').collect();
    let span = Span::new(start, end);
    if float {
        return match text.parse::<f64>() {
            Ok(value) => (TokenKind::Float(value), end, None),
            Err(_) => (
                TokenKind::Float(0.0),
                end,
                Some(Diagnostic::error(span, "malformed floating-point literal")),
            ),
        };
    }
    match text.parse::<u64>() {
        Ok(value) if value <= i64::MAX as u64 + 1 => (TokenKind::Int(value), end, None),
        _ => (
            TokenKind::Int(0),
            end,
            Some(
                Diagnostic::error(span, "integer literal too large for `int`")
                    .with_help("`int` is 64-bit: from -9223372036854775808 to 9223372036854775807"),
            ),
        ),
    }
}

/// A number whose digits at `start..digits_end` run into letters (`0x10`, `0b101`, `10px`,
/// `1.5f`): the whole word is one token, read as the number it most likely means, and an
/// error that says what Mini writes instead.
fn malformed_number(
    source: &str,
    start: usize,
    digits_end: usize,
) -> (TokenKind, usize, Option<Diagnostic>) {
    let bytes = source.as_bytes();
    let mut end = digits_end;
    while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
        end += 1;
    }
    let word = &source[start..end];
    let span = Span::new(start, end);
    let radix = match word.get(..2) {
        Some("0x" | "0X") => Some((16, "hexadecimal")),
        Some("0b" | "0B") => Some((2, "binary")),
        Some("0o" | "0O") => Some((8, "octal")),
        _ => None,
    };
    if let Some((radix, name)) = radix {
        let digits: String = word[2..].chars().filter(|c| *c != '_').collect();
        let error = Diagnostic::error(span, format!("{name} literals are not in Mini"));
        return match u64::from_str_radix(&digits, radix) {
            Ok(value) if value <= i64::MAX as u64 => (
                TokenKind::Int(value),
                end,
                Some(error.with_help(format!("write it in decimal: `{value}`"))),
            ),
            _ => (
                TokenKind::Int(0),
                end,
                Some(error.with_help("write it in decimal")),
            ),
        };
    }
    // The digits alone, read as `number` reads them (a slice that ends where they do).
    let numeric = &source[start..digits_end];
    let (kind, _, _) = number(&source[..digits_end], start);
    let error = Diagnostic::error(span, format!("malformed number `{word}`")).with_help(format!(
        "numbers have no suffixes (write `{numeric}`), and a name cannot start with a digit"
    ));
    (kind, end, Some(error))
}

/// A character literal at `start` (`'c'`, `'\n'`): its code, where it ends, and the error
/// that Mini has none; `None` when no closing quote follows closely on the same line.
fn character_literal(source: &str, start: usize) -> Option<(u64, usize, Diagnostic)> {
    let rest = &source[start + 1..];
    let mut chars = rest.char_indices();
    let (code, close) = match chars.next()? {
        (_, '\\') => {
            let (_, escaped) = chars.next()?;
            let code = match escaped {
                'n' => '\n',
                't' => '\t',
                '0' => '\0',
                other => other,
            };
            (code, chars.next()?)
        }
        (_, '\'' | '\n') => return None,
        (_, character) => (character, chars.next()?),
    };
    if close.1 != '\'' {
        return None;
    }
    let end = start + 1 + close.0 + 1;
    let code = u64::from(u32::from(code));
    let shown = &source[start..end];
    let error = Diagnostic::error(
        Span::new(start, end),
        format!("character literals are not in Mini: {shown}"),
    )
    .with_help(format!(
        "for its code, write `{code}`; to print it, use a string: `print(\"{}\")`",
        match &shown[1..shown.len() - 1] {
            "\"" => "\\\"",
            "\\'" => "'",
            inner => inner,
        }
    ));
    Some((code, end, error))
}

/// A string literal at `start` (the opening quote): its text, where it ends, and an error if
/// it is unterminated or has an unknown escape.
fn string(source: &str, start: usize) -> (String, usize, Option<Diagnostic>) {
    let mut text = String::new();
    let mut chars = source[start + 1..].char_indices();
    let mut error = None;
    while let Some((offset, character)) = chars.next() {
        let at = start + 1 + offset;
        match character {
            '"' => return (text, at + 1, error),
            '\n' => break,
            '\\' => match chars.next() {
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                Some((_, '\\')) => text.push('\\'),
                Some((_, '"')) => text.push('"'),
                Some((next, other)) => {
                    error.get_or_insert_with(|| {
                        Diagnostic::error(
                            Span::new(at, start + 1 + next + other.len_utf8()),
                            format!("unknown escape `\\{other}`"),
                        )
                        .with_help("the escapes are \\n, \\t, \\\\ and \\\"")
                    });
                }
                None => break,
            },
            other => text.push(other),
        }
    }
    let end = source[start..]
        .find('\n')
        .map_or(source.len(), |newline| start + newline);
    (
        text,
        end,
        Some(
            Diagnostic::error(Span::new(start, end), "unterminated string literal")
                .with_help("close it with `\"` on the same line"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<TokenKind> {
        let (tokens, errors) = lex(source);
        assert!(errors.is_empty(), "{errors:?}");
        tokens.into_iter().map(|token| token.kind).collect()
    }

    #[test]
    fn tokens_of_a_line() {
        use super::Punct::*;
        use TokenKind::{Eof, Float, Ident, Int, Keyword, Punct, Str};
        assert_eq!(
            kinds("for i in 0..n { xs[i] += 3.5e1; } // done"),
            vec![
                Keyword(super::Keyword::For),
                Ident("i".into()),
                Keyword(super::Keyword::In),
                Int(0),
                Punct(DotDot),
                Ident("n".into()),
                Punct(LBrace),
                Ident("xs".into()),
                Punct(LBracket),
                Ident("i".into()),
                Punct(RBracket),
                Punct(PlusAssign),
                Float(35.0),
                Punct(Semi),
                Punct(RBrace),
                Eof,
            ]
        );
        assert_eq!(kinds("\"a\\n\\\"b\""), vec![Str("a\n\"b".into()), Eof]);
        assert_eq!(
            kinds("1_000 -> 2.0"),
            vec![Int(1000), Punct(Arrow), Float(2.0), Eof]
        );
    }

    #[test]
    fn errors_are_reported_and_lexing_goes_on() {
        let (tokens, errors) = lex("let a = 99999999999999999999; let b = 1 & 2; \"open");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].message.contains("too large"));
        assert!(errors[1].help.as_deref().unwrap().contains("&&"));
        assert!(errors[2].message.contains("unterminated"));
        assert!(matches!(tokens.last().unwrap().kind, TokenKind::Eof));
    }

    #[test]
    fn other_languages_literals_are_one_token_read_as_what_they_mean() {
        let (tokens, errors) = lex("0x1F 0b11 'a' '\\n' 7kg 2.5f 1 & 2 | 3 'open");
        let kinds: Vec<TokenKind> = tokens.into_iter().map(|token| token.kind).collect();
        use super::Punct::{AndAnd, OrOr};
        use TokenKind::{Eof, Float, Ident, Int, Punct};
        assert_eq!(
            kinds,
            vec![
                Int(31),
                Int(3),
                Int(97),
                Int(10),
                Int(7),
                Float(2.5),
                Int(1),
                Punct(AndAnd),
                Int(2),
                Punct(OrOr),
                Int(3),
                Ident("open".into()),
                Eof,
            ]
        );
        let messages: Vec<&str> = errors.iter().map(|error| error.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "hexadecimal literals are not in Mini",
                "binary literals are not in Mini",
                "character literals are not in Mini: 'a'",
                "character literals are not in Mini: '\\n'",
                "malformed number `7kg`",
                "malformed number `2.5f`",
                "unexpected character '&'",
                "unexpected character '|'",
                "unexpected character '\\''",
            ]
        );
        // A hexadecimal literal beyond `int` is still one error, read as 0.
        let (tokens, errors) = lex("0xFFFFFFFFFFFFFFFFFF");
        assert_eq!(tokens[0].kind, Int(0));
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn any_bytes_lex_without_panicking() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let length = (state % 64) as usize;
            let mut bytes = Vec::with_capacity(length);
            for _ in 0..length {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let alphabet = b"func let 0123456789.e+-*/%!=<>&|(){}[],;:\"\\ \n\xc3\xa9ab_";
                bytes.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let text = String::from_utf8_lossy(&bytes);
            let (tokens, _) = lex(&text);
            assert!(matches!(tokens.last().unwrap().kind, TokenKind::Eof));
        }
    }
}
