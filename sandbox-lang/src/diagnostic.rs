//! Errors as data, and their rendering: `file:line:column: error: message`, the source line,
//! a caret under the offending text, and a help line where one helps.

use std::fmt::Write as _;

/// A range of bytes of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The bytes `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A compile error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// How to fix it, when the compiler knows.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            help: None,
        }
    }

    /// With a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The 1-based line and column (in characters) where it starts in `source`.
    pub fn line_column(&self, source: &str) -> (usize, usize) {
        line_column(source, self.span.start)
    }

    /// `file:line:column: error: message`, the source line, a caret line, and the help.
    pub fn render(&self, file: &str, source: &str) -> String {
        let (line, column) = self.line_column(source);
        let mut out = format!("{file}:{line}:{column}: error: {}\n", self.message);
        let text = source.lines().nth(line - 1).unwrap_or("");
        let gutter = line.to_string().len();
        let _ = writeln!(out, "{:gutter$} |", "");
        let _ = writeln!(out, "{line} | {text}");
        let start = source[..self.span.start.min(source.len())]
            .rfind('\n')
            .map_or(0, |newline| newline + 1);
        let line_end = start + text.len();
        let end = self
            .span
            .end
            .clamp(self.span.start, line_end.max(self.span.start));
        let width = source
            .get(self.span.start.min(source.len())..end.min(source.len()))
            .map_or(1, |part| part.chars().count())
            .max(1);
        let _ = writeln!(
            out,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(column - 1),
            "^".repeat(width)
        );
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{:gutter$} = help: {help}", "");
        }
        out
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `source`.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_shows_the_line_and_a_caret_under_the_text() {
        let source = "func main() {\n    let x = 1 +;\n}\n";
        let at = source.find(';').unwrap();
        let rendered = Diagnostic::error(Span::new(at, at + 1), "expected an expression")
            .with_help("an operator needs an operand on each side")
            .render("prog.mini", source);
        assert_eq!(
            rendered,
            "prog.mini:2:16: error: expected an expression\n  |\n2 |     let x = 1 +;\n  |                ^\n  = help: an operator needs an operand on each side\n"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(line_column("é = 1", 3), (1, 3));
        assert_eq!(line_column("a\nb", 2), (2, 1));
        assert_eq!(line_column("", 10), (1, 1));
    }
}
