//! What a module file holds, and programs in Mini (`.mini`, the crate `sandbox-lang`),
//! compiled to WebAssembly before anything else sees them.
//!
//! Every entry point that takes a module file takes a Mini program too: by its extension
//! (`prog.mini`), or explicitly with a [`SourceKind`]. A program that does not compile is a
//! [`SandboxError::CompilationError`] carrying every diagnostic as data and rendered the
//! way a compiler prints them; nothing runs.
//!
//! ```
//! let wasm = sandbox_core::source::compile_mini(
//!     "export func add(a: int, b: int) -> int { return a + b; }",
//!     "add.mini",
//! )?;
//! assert!(wasm.starts_with(b"\0asm"));
//! let err = sandbox_core::source::compile_mini("func main() { let x: int = true; }", "bad.mini")
//!     .unwrap_err();
//! assert_eq!(err.kind(), "compilation_error");
//! assert!(err.to_string().starts_with("compilation error: bad.mini:1:"));
//! # Ok::<(), sandbox_core::SandboxError>(())
//! ```

use crate::{SandboxError, SourceDiagnostic};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The file name a program given without one is reported under.
pub const UNNAMED: &str = "<source>";

/// What a module file or buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A binary module (`.wasm`).
    Wasm,
    /// WebAssembly text (`.wat`).
    Wat,
    /// A Mini program (`.mini`), compiled by `sandbox-lang`.
    Mini,
}

impl SourceKind {
    /// Every kind, in the order of their names.
    pub const ALL: [SourceKind; 3] = [SourceKind::Mini, SourceKind::Wasm, SourceKind::Wat];

    /// The name used on command lines and in APIs (`wasm`, `wat`, `mini`).
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Wasm => "wasm",
            SourceKind::Wat => "wat",
            SourceKind::Mini => "mini",
        }
    }

    /// The kind a file's extension names (`.wasm`, `.wat`, `.mini`, any case), if any.
    pub fn from_path(path: &Path) -> Option<SourceKind> {
        let extension = path.extension()?.to_str()?;
        extension.parse().ok()
    }

    /// Whether the bytes of this kind must be compiled by the project before an engine sees
    /// them (only Mini: WebAssembly text is assembled by the loaders themselves).
    pub fn is_source_language(self) -> bool {
        self == SourceKind::Mini
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceKind {
    type Err = SandboxError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        SourceKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| SandboxError::Unsupported {
                reason: format!("unknown source kind {name:?} (expected one of: mini, wasm, wat)"),
            })
    }
}

/// Compiles a Mini program to a WebAssembly module (a WASI command when it has `main`, with
/// an export per `export func`). `file` names it in the diagnostics.
pub fn compile_mini(source: &str, file: &str) -> Result<Vec<u8>, SandboxError> {
    sandbox_lang::compile(source).map_err(|errors| compilation_error(source, file, &errors))
}

/// Compiles a Mini program and prints the module as WebAssembly text (wasmprinter).
pub fn compile_mini_to_wat(source: &str, file: &str) -> Result<String, SandboxError> {
    sandbox_lang::compile_to_wat(source).map_err(|errors| compilation_error(source, file, &errors))
}

/// Prints a module as WebAssembly text (wasmprinter); text is assembled first.
pub fn wasm_to_wat(bytes: &[u8]) -> Result<String, SandboxError> {
    let wasm = crate::compile_wat_to_wasm(bytes)?;
    wasmprinter::print_bytes(&wasm).map_err(|err| SandboxError::InvalidModule {
        reason: format!("cannot print the module as text: {err}"),
        offset: None,
    })
}

/// The module `bytes` of `kind` stand for: Mini is compiled (it must be UTF-8), binary and
/// text modules are returned as they are (the loaders assemble text themselves).
pub fn module_bytes(bytes: Vec<u8>, kind: SourceKind, file: &str) -> Result<Vec<u8>, SandboxError> {
    match kind {
        SourceKind::Wasm | SourceKind::Wat => Ok(bytes),
        SourceKind::Mini => compile_mini(utf8(&bytes, file)?, file),
    }
}

/// `bytes` as text, or a compilation error at the first byte that is not UTF-8.
pub fn utf8<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, SandboxError> {
    std::str::from_utf8(bytes).map_err(|error| {
        let valid = &bytes[..error.valid_up_to()];
        // The valid prefix is text: its lines and columns locate the bad byte.
        let prefix = std::str::from_utf8(valid).unwrap_or_default();
        let offset = prefix.len();
        let diagnostic = sandbox_lang::Diagnostic::error(
            sandbox_lang::Span::new(offset, offset),
            format!("the source is not UTF-8 text (byte {offset})"),
        );
        compilation_error(prefix, file, std::slice::from_ref(&diagnostic))
    })
}

/// The error for `errors` found in `source`: each as data, and all rendered.
pub fn compilation_error(
    source: &str,
    file: &str,
    errors: &[sandbox_lang::Diagnostic],
) -> SandboxError {
    let diagnostics = errors
        .iter()
        .map(|error| {
            let (line, column) = sandbox_lang::diagnostic::line_column(source, error.span.start);
            let (end_line, end_column) =
                sandbox_lang::diagnostic::line_column(source, error.span.end);
            SourceDiagnostic {
                file: file.to_string(),
                line,
                column,
                end_line,
                end_column,
                message: error.message.clone(),
                help: error.help.clone(),
            }
        })
        .collect();
    let rendered = errors
        .iter()
        .map(|error| error.render(file, source))
        .collect::<Vec<_>>()
        .join("\n");
    SandboxError::CompilationError {
        language: SourceKind::Mini.name().to_string(),
        diagnostics,
        rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_extensions_and_names() {
        assert_eq!(
            SourceKind::from_path(Path::new("a/b.mini")),
            Some(SourceKind::Mini)
        );
        assert_eq!(
            SourceKind::from_path(Path::new("B.WAT")),
            Some(SourceKind::Wat)
        );
        assert_eq!(SourceKind::from_path(Path::new("b.txt")), None);
        assert_eq!(SourceKind::from_path(Path::new("mini")), None);
        assert_eq!("Mini".parse::<SourceKind>().unwrap(), SourceKind::Mini);
        let err = "c".parse::<SourceKind>().unwrap_err();
        assert_eq!(err.kind(), "unsupported");
    }

    #[test]
    fn every_error_is_data_and_rendered() {
        let source = "func main() {\n    let x: int = true;\n    y = 1;\n}\n";
        let SandboxError::CompilationError {
            language,
            diagnostics,
            rendered,
        } = compile_mini(source, "p.mini").unwrap_err()
        else {
            panic!("not a compilation error")
        };
        assert_eq!(language, "mini");
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert_eq!(
            (diagnostics[0].line, diagnostics[0].file.as_str()),
            (2, "p.mini")
        );
        assert_eq!(diagnostics[1].line, 3);
        assert!(rendered.starts_with("p.mini:2:"), "{rendered}");
        assert!(rendered.contains("\np.mini:3:"), "{rendered}");
    }

    #[test]
    fn bytes_that_are_not_text_are_located() {
        let err = module_bytes(
            b"func main() {\n \xff }".to_vec(),
            SourceKind::Mini,
            "x.mini",
        )
        .unwrap_err();
        assert_eq!(err.kind(), "compilation_error");
        assert!(
            err.to_string()
                .contains("x.mini:2:2: the source is not UTF-8"),
            "{err}"
        );
        let wasm = module_bytes(b"\0asm".to_vec(), SourceKind::Wasm, "x.wasm").unwrap();
        assert_eq!(wasm, b"\0asm");
    }
}
