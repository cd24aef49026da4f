//! Module inspection: validation, imports, exports, memories and tables, read once with
//! `wasmparser` before any engine sees the bytes.

use crate::value::{FuncSignature, ValType};
use crate::{SandboxConfig, SandboxError};
use serde::Serialize;
use std::collections::BTreeMap;
use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

/// What an import or export refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExternKind {
    /// A function of this signature.
    Func {
        /// The function's type.
        signature: FuncSignature,
    },
    /// A linear memory.
    Memory(MemoryInfo),
    /// A table.
    Table(TableInfo),
    /// A global.
    Global {
        /// Value type.
        ty: ValType,
        /// Whether it is mutable.
        mutable: bool,
    },
    /// An exception tag.
    Tag,
}

impl ExternKind {
    /// A short name: `func`, `memory`, `table`, `global` or `tag`.
    pub fn name(&self) -> &'static str {
        match self {
            ExternKind::Func { .. } => "func",
            ExternKind::Memory(_) => "memory",
            ExternKind::Table(_) => "table",
            ExternKind::Global { .. } => "global",
            ExternKind::Tag => "tag",
        }
    }
}

/// A linear memory's declared limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryInfo {
    /// Initial size in pages.
    pub initial_pages: u64,
    /// Declared maximum in pages.
    pub maximum_pages: Option<u64>,
    /// 64-bit addressing (memory64).
    pub memory64: bool,
    /// Shared (threads).
    pub shared: bool,
    /// Page size in bytes (65536 unless the custom-page-sizes proposal is used).
    pub page_size: u64,
}

impl MemoryInfo {
    /// Initial size in bytes, saturating.
    pub fn initial_bytes(&self) -> u64 {
        self.initial_pages.saturating_mul(self.page_size)
    }
}

/// A table's declared limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableInfo {
    /// Element type.
    pub element: ValType,
    /// Initial size in elements.
    pub initial: u64,
    /// Declared maximum in elements.
    pub maximum: Option<u64>,
}

/// One import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportInfo {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// What is imported.
    #[serde(flatten)]
    pub kind: ExternKind,
}

/// One export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportInfo {
    /// Export name.
    pub name: String,
    /// What is exported.
    #[serde(flatten)]
    pub kind: ExternKind,
}

/// A validated module's interface, read with `wasmparser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// Size of the binary in bytes.
    pub size: usize,
    /// Imports in declaration order.
    pub imports: Vec<ImportInfo>,
    /// Exports in declaration order.
    pub exports: Vec<ExportInfo>,
    /// Memories defined by the module (not imported).
    pub memories: Vec<MemoryInfo>,
    /// Tables defined by the module (not imported).
    pub tables: Vec<TableInfo>,
    /// Whether the module has a start function.
    pub has_start: bool,
    /// Number of functions defined by the module.
    pub defined_functions: u32,
}

/// The WebAssembly features the sandbox validates against: everything `wasmparser` supports
/// that either engine may run. A backend refuses what it cannot run as `unsupported`.
pub fn validation_features() -> WasmFeatures {
    WasmFeatures::default()
}

impl ModuleInfo {
    /// Validates `bytes` (binary; use [`crate::compile_wat_to_wasm`] for text) and reads its
    /// interface.
    pub fn parse(bytes: &[u8], config: &SandboxConfig) -> Result<ModuleInfo, SandboxError> {
        if bytes.len() as u64 > config.max_module_bytes {
            return Err(SandboxError::InvalidModule {
                reason: format!(
                    "module is {} bytes, above the limit of {} bytes",
                    bytes.len(),
                    config.max_module_bytes
                ),
                offset: None,
            });
        }
        Self::parse_with_features(bytes, config.features()?)
    }

    /// Validates `bytes` under a specific feature set and reads the interface.
    pub fn parse_with_features(
        bytes: &[u8],
        features: WasmFeatures,
    ) -> Result<ModuleInfo, SandboxError> {
        let invalid = |err: wasmparser::BinaryReaderError| SandboxError::InvalidModule {
            reason: err
                .message()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            offset: Some(err.offset()),
        };
        if !bytes.starts_with(b"\0asm") {
            let found: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(SandboxError::InvalidModule {
                reason: format!(
                    "invalid magic number: expected 00 61 73 6d (\\0asm), found {}",
                    if found.is_empty() {
                        "no bytes".to_string()
                    } else {
                        found.join(" ")
                    }
                ),
                offset: Some(0),
            });
        }
        if bytes.len() >= 8 && bytes[4..8] == [0x0d, 0, 1, 0] {
            return Err(SandboxError::Unsupported {
                reason: "this is a WebAssembly component, not a core module".into(),
            });
        }
        let mut validator = Validator::new_with_features(features);
        validator.validate_all(bytes).map_err(invalid)?;
        Self::read_validated(bytes)
    }

    /// Reads the interface of a module already validated under the same features, without
    /// validating it again (function bodies are not even looked at). [`ModuleInfo::parse`]
    /// validates, then reads with this; the module cache reads with it alone, since an entry
    /// embeds exactly the bytes a previous load validated. Never panics on other bytes; it may return an error or a meaningless
    /// interface for them, which is why it is only for bytes known to be valid.
    pub fn read_validated(bytes: &[u8]) -> Result<ModuleInfo, SandboxError> {
        let invalid = |err: wasmparser::BinaryReaderError| SandboxError::InvalidModule {
            reason: err.message().to_string(),
            offset: Some(err.offset()),
        };
        let mut info = ModuleInfo {
            size: bytes.len(),
            imports: Vec::new(),
            exports: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            has_start: false,
            defined_functions: 0,
        };
        // Index spaces, imports first as in the binary format.
        let mut types: Vec<Option<FuncSignature>> = Vec::new();
        let mut functions: Vec<u32> = Vec::new();
        let mut memories: Vec<MemoryInfo> = Vec::new();
        let mut tables: Vec<TableInfo> = Vec::new();
        let mut globals: Vec<(ValType, bool)> = Vec::new();
        let signature = |types: &[Option<FuncSignature>], index: u32| -> FuncSignature {
            types
                .get(index as usize)
                .cloned()
                .flatten()
                .unwrap_or_else(|| FuncSignature::new([], []))
        };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(invalid)? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group.map_err(invalid)?.into_types() {
                            types.push(match &sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => {
                                    Some(FuncSignature::new(
                                        f.params()
                                            .iter()
                                            .copied()
                                            .map(ValType::from_wasmparser)
                                            .collect::<Vec<_>>(),
                                        f.results()
                                            .iter()
                                            .copied()
                                            .map(ValType::from_wasmparser)
                                            .collect::<Vec<_>>(),
                                    ))
                                }
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.map_err(invalid)?;
                        let kind = match import.ty {
                            TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                                functions.push(index);
                                ExternKind::Func {
                                    signature: signature(&types, index),
                                }
                            }
                            TypeRef::Memory(m) => {
                                memories.push(memory_info(&m));
                                ExternKind::Memory(memory_info(&m))
                            }
                            TypeRef::Table(t) => {
                                tables.push(table_info(&t));
                                ExternKind::Table(table_info(&t))
                            }
                            TypeRef::Global(g) => {
                                let ty = ValType::from_wasmparser(g.content_type);
                                globals.push((ty, g.mutable));
                                ExternKind::Global {
                                    ty,
                                    mutable: g.mutable,
                                }
                            }
                            TypeRef::Tag(_) => ExternKind::Tag,
                        };
                        info.imports.push(ImportInfo {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                            kind,
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    info.defined_functions = reader.count();
                    for index in reader {
                        functions.push(index.map_err(invalid)?);
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        let memory = memory_info(&memory.map_err(invalid)?);
                        memories.push(memory.clone());
                        info.memories.push(memory);
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let table = table_info(&table.map_err(invalid)?.ty);
                        tables.push(table.clone());
                        info.tables.push(table);
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        let ty = global.map_err(invalid)?.ty;
                        globals.push((ValType::from_wasmparser(ty.content_type), ty.mutable));
                    }
                }
                Payload::StartSection { .. } => info.has_start = true,
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(invalid)?;
                        let index = export.index as usize;
                        let missing = || SandboxError::InvalidModule {
                            reason: format!("export {} names no such item", export.name),
                            offset: None,
                        };
                        let kind = match export.kind {
                            wasmparser::ExternalKind::Func
                            | wasmparser::ExternalKind::FuncExact => ExternKind::Func {
                                signature: signature(
                                    &types,
                                    *functions.get(index).ok_or_else(missing)?,
                                ),
                            },
                            wasmparser::ExternalKind::Memory => {
                                ExternKind::Memory(memories.get(index).ok_or_else(missing)?.clone())
                            }
                            wasmparser::ExternalKind::Table => {
                                ExternKind::Table(tables.get(index).ok_or_else(missing)?.clone())
                            }
                            wasmparser::ExternalKind::Global => {
                                let (ty, mutable) = *globals.get(index).ok_or_else(missing)?;
                                ExternKind::Global { ty, mutable }
                            }
                            wasmparser::ExternalKind::Tag => ExternKind::Tag,
                        };
                        info.exports.push(ExportInfo {
                            name: export.name.to_string(),
                            kind,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Checks every import against the policy, naming the first one that is not granted.
    pub fn check_imports(&self, config: &SandboxConfig) -> Result<(), SandboxError> {
        match self
            .imports
            .iter()
            .find(|import| !config.allows_import(&import.module, &import.name))
        {
            Some(import) => Err(SandboxError::UnauthorizedImport {
                module: import.module.clone(),
                name: import.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// The exported function `name`, or `function_not_found` listing those that exist.
    pub fn function(&self, name: &str) -> Result<&FuncSignature, SandboxError> {
        self.exports
            .iter()
            .find_map(|export| match &export.kind {
                ExternKind::Func { signature } if export.name == name => Some(signature),
                _ => None,
            })
            .ok_or_else(|| SandboxError::FunctionNotFound {
                name: name.to_string(),
                available: self.exported_functions().map(str::to_string).collect(),
            })
    }

    /// Names of the exported functions.
    pub fn exported_functions(&self) -> impl Iterator<Item = &str> {
        self.exports.iter().filter_map(|export| match export.kind {
            ExternKind::Func { .. } => Some(export.name.as_str()),
            _ => None,
        })
    }

    /// Sum of the initial sizes of the memories the module defines, in bytes.
    pub fn initial_memory_bytes(&self) -> u64 {
        self.memories
            .iter()
            .map(MemoryInfo::initial_bytes)
            .fold(0, u64::saturating_add)
    }

    /// Counts of each export kind, for display.
    pub fn export_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for export in &self.exports {
            *counts.entry(export.kind.name()).or_insert(0) += 1;
        }
        counts
    }
}

fn memory_info(m: &wasmparser::MemoryType) -> MemoryInfo {
    MemoryInfo {
        initial_pages: m.initial,
        maximum_pages: m.maximum,
        memory64: m.memory64,
        shared: m.shared,
        page_size: m
            .page_size_log2
            .map(|log2| 1u64 << log2.min(63))
            .unwrap_or(65536),
    }
}

fn table_info(t: &wasmparser::TableType) -> TableInfo {
    TableInfo {
        element: ValType::from_wasmparser(wasmparser::ValType::Ref(t.element_type)),
        initial: t.initial,
        maximum: t.maximum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        crate::compile_wat_to_wasm(text).unwrap()
    }

    #[test]
    fn reads_the_interface() {
        let bytes = wasm(
            r#"(module
                (import "env" "log" (func (param i32)))
                (memory (export "memory") 2 10)
                (table 3 funcref)
                (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#,
        );
        let info = ModuleInfo::parse(&bytes, &SandboxConfig::default()).unwrap();
        assert_eq!(info.imports.len(), 1);
        assert_eq!(info.imports[0].module, "env");
        assert_eq!(
            info.function("add").unwrap().to_string(),
            "(i32, i32) -> (i32)"
        );
        assert_eq!(info.memories[0].initial_pages, 2);
        assert_eq!(info.memories[0].maximum_pages, Some(10));
        assert_eq!(info.tables[0].initial, 3);
        assert_eq!(info.initial_memory_bytes(), 2 * 65536);
        assert_eq!(info.defined_functions, 1);
        let err = info.function("sub").unwrap_err();
        assert_eq!(err.kind(), "function_not_found");
        assert!(err.to_string().contains("add"), "{err}");
    }

    #[test]
    fn garbage_is_invalid_with_a_reason() {
        for bytes in [&b""[..], b"\0asm", b"hello world", b"\0asm\x01\0\0\0\x01"] {
            let err = ModuleInfo::parse(bytes, &SandboxConfig::default()).unwrap_err();
            assert_eq!(err.kind(), "invalid_module", "{bytes:?}: {err}");
        }
        let err = ModuleInfo::parse(b"hello world", &SandboxConfig::default()).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }

    #[test]
    fn imports_are_denied_by_default() {
        let bytes = wasm(r#"(module (import "env" "system" (func)))"#);
        let info = ModuleInfo::parse(&bytes, &SandboxConfig::default()).unwrap();
        let err = info.check_imports(&SandboxConfig::default()).unwrap_err();
        assert_eq!(err.to_string(), "unauthorized import env::system");
        let config = SandboxConfig {
            allowed_imports: vec!["env::system".into()],
            ..SandboxConfig::default()
        };
        assert!(info.check_imports(&config).is_ok());
    }

    #[test]
    fn disabled_features_make_modules_using_them_invalid() {
        let two_memories = crate::compile_wat_to_wasm("(module (memory 1) (memory 1))").unwrap();
        let config = SandboxConfig::default();
        ModuleInfo::parse(&two_memories, &config).unwrap();
        let config = SandboxConfig {
            disabled_features: vec!["multi-memory".into()],
            ..SandboxConfig::default()
        };
        let err = ModuleInfo::parse(&two_memories, &config).unwrap_err();
        assert_eq!(err.kind(), "invalid_module", "{err}");
        assert!(err.to_string().contains("multiple memories"), "{err}");
        let config = SandboxConfig {
            disabled_features: vec!["no_such_feature".into()],
            ..SandboxConfig::default()
        };
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("no_such_feature"), "{err}");
    }

    #[test]
    fn the_interface_names_every_import_and_export_with_its_type() {
        let bytes = wasm(
            r#"(module
              (type $t (func (param i32 i64) (result f32)))
              (import "env" "f" (func $f (type $t)))
              (import "env" "m" (memory 1 2))
              (import "env" "t" (table 3 funcref))
              (import "env" "g" (global (mut i64)))
              (memory (export "mem") 2 5)
              (table (export "tab") 7 externref)
              (global (export "gl") f64 (f64.const 1))
              (global (export "gm") (mut i32) (i32.const 1))
              (export "imported_f" (func $f))
              (export "imported_g" (global 0))
              (export "imported_m" (memory 0))
              (func (export "h") (param f64) (result i32 i64) i32.const 0 i64.const 0)
              (start $s)
              (func $s))"#,
        );
        let info = ModuleInfo::parse(&bytes, &SandboxConfig::default()).unwrap();
        assert_eq!(info, ModuleInfo::read_validated(&bytes).unwrap());
        let f = FuncSignature::new([ValType::I32, ValType::I64], [ValType::F32]);
        assert_eq!(
            info.imports[0].kind,
            ExternKind::Func {
                signature: f.clone()
            }
        );
        let export = |name: &str| {
            info.exports
                .iter()
                .find(|e| e.name == name)
                .map(|e| e.kind.clone())
                .unwrap()
        };
        assert_eq!(export("imported_f"), ExternKind::Func { signature: f });
        assert_eq!(
            export("h"),
            ExternKind::Func {
                signature: FuncSignature::new([ValType::F64], [ValType::I32, ValType::I64])
            }
        );
        assert_eq!(
            export("gl"),
            ExternKind::Global {
                ty: ValType::F64,
                mutable: false
            }
        );
        assert_eq!(
            export("gm"),
            ExternKind::Global {
                ty: ValType::I32,
                mutable: true
            }
        );
        assert_eq!(
            export("imported_g"),
            ExternKind::Global {
                ty: ValType::I64,
                mutable: true
            }
        );
        match (export("mem"), export("imported_m"), export("tab")) {
            (ExternKind::Memory(mem), ExternKind::Memory(imported), ExternKind::Table(tab)) => {
                assert_eq!((mem.initial_pages, mem.maximum_pages), (2, Some(5)));
                assert_eq!(
                    (imported.initial_pages, imported.maximum_pages),
                    (1, Some(2))
                );
                assert_eq!((tab.element, tab.initial), (ValType::ExternRef, 7));
            }
            other => panic!("{other:?}"),
        }
        assert!(info.has_start);
        assert_eq!(info.defined_functions, 2);
    }

    #[test]
    fn module_size_limit() {
        let bytes = wasm("(module)");
        let config = SandboxConfig {
            max_module_bytes: 4,
            ..SandboxConfig::default()
        };
        let err = ModuleInfo::parse(&bytes, &config).unwrap_err();
        assert!(err.to_string().contains("above the limit"), "{err}");
    }
}
