//! The module cache and ahead-of-time artifacts, on each backend.
//!
//! The in-memory layer is process-wide and tests run in parallel, so every test loads bytes of
//! its own: a fixture with a custom section naming the test and the backend.

use conformance_tests::{fixture, Harness};
use sandbox::cache::{decode_artifact, encode_artifact, DiskCache};
use sandbox::{
    BackendKind, CacheConfig, CacheStatus, Outcome, Sandbox, SandboxConfig, SandboxError, WasmValue,
};
use std::path::PathBuf;
use std::sync::Arc;

/// `fixture_name` as binary, with a custom section that makes its bytes (and cache key) unique
/// to `tag` and the backend.
fn unique(h: &Harness, fixture_name: &str, tag: &str) -> Vec<u8> {
    let mut wasm = sandbox::compile_wat_to_wasm(fixture(fixture_name)).expect("fixture parses");
    let name = format!("cache-test:{tag}:{}", h.backend);
    assert!(name.len() < 120, "keep the section small");
    wasm.push(0); // custom section
    wasm.push((name.len() + 1) as u8);
    wasm.push(name.len() as u8);
    wasm.extend_from_slice(name.as_bytes());
    wasm
}

/// A fresh directory under the system temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(h: &Harness, tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sandbox-conformance-{tag}-{}-{}",
            h.backend,
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Disk layer only, so that a second load in this process behaves like one in a new process.
fn disk_only(dir: &TempDir) -> SandboxConfig {
    SandboxConfig {
        cache: CacheConfig {
            memory: false,
            ..CacheConfig::at(&dir.0)
        },
        ..SandboxConfig::default()
    }
}

fn add(h: &Harness, module: &Arc<dyn sandbox::CompiledModule>, config: &SandboxConfig) {
    let mut instance = module
        .instantiate(config)
        .unwrap_or_else(|report| panic!("{}: instantiate: {:?}", h.backend, report.outcome));
    let result = instance
        .call("add", &[WasmValue::I32(5), WasmValue::I32(7)])
        .unwrap();
    assert_eq!(result.outcome, Outcome::Ok, "{}", h.backend);
    assert_eq!(
        result.return_values,
        vec![WasmValue::I32(12)],
        "{}",
        h.backend
    );
    // The same fuel as a freshly compiled module: the metering came back with the code.
    assert_eq!(
        result.fuel_consumed,
        config.max_fuel.map(|_| 4),
        "{}",
        h.backend
    );
}

fn load(sandbox: &dyn Sandbox, wasm: &[u8]) -> (Arc<dyn sandbox::CompiledModule>, CacheStatus) {
    sandbox
        .load_with_status(wasm)
        .unwrap_or_else(|err| panic!("{}: load: {err}", sandbox.kind()))
}

fn other(backend: BackendKind) -> BackendKind {
    match backend {
        BackendKind::Wasmtime => BackendKind::Wasmer,
        BackendKind::Wasmer => BackendKind::Wasmtime,
    }
}

pub fn cache_off_compiles_every_time(h: &Harness) {
    let wasm = unique(h, "add.wat", "off");
    // Not `h.sandbox`: the optimised run of the suite turns the cache on there.
    let sandbox = sandbox::sandbox(h.backend, h.config()).unwrap();
    assert_eq!(load(&*sandbox, &wasm).1, CacheStatus::Off);
    assert_eq!(load(&*sandbox, &wasm).1, CacheStatus::Off);
}

pub fn cache_memory_layer_reuses_compiled_code(h: &Harness) {
    let wasm = unique(h, "add.wat", "memory");
    let config = SandboxConfig {
        cache: CacheConfig::memory_only(),
        ..h.config()
    };
    let (first, status) = load(&*h.sandbox(config.clone()), &wasm);
    assert_eq!(status, CacheStatus::Miss);
    let (second, status) = load(&*h.sandbox(config.clone()), &wasm);
    assert_eq!(status, CacheStatus::MemoryHit);
    assert!(Arc::ptr_eq(&first, &second), "the same compiled module");
    add(h, &second, &config);
    // Another code-relevant configuration is another key.
    let unmetered = SandboxConfig {
        max_fuel: None,
        ..config
    };
    let (module, status) = load(&*h.sandbox(unmetered.clone()), &wasm);
    assert_eq!(status, CacheStatus::Miss);
    add(h, &module, &unmetered);
}

pub fn cache_disk_layer_is_reused_and_checks_the_policy(h: &Harness) {
    let dir = TempDir::new(h, "disk");
    let config = disk_only(&dir);
    let wasm = unique(h, "add.wat", "disk");
    let (module, status) = load(&*h.sandbox(config.clone()), &wasm);
    assert_eq!(status, CacheStatus::Miss);
    add(h, &module, &config);
    let (module, status) = load(&*h.sandbox(config.clone()), &wasm);
    assert_eq!(status, CacheStatus::DiskHit);
    add(h, &module, &config);
    assert_eq!(DiskCache::new(&dir.0, u64::MAX).entries().len(), 1);

    // The import policy is the loading sandbox's, cached or not.
    let imports = unique(h, "imports_env.wat", "disk-policy");
    let granted = SandboxConfig {
        allowed_imports: vec!["env::*".into()],
        ..config.clone()
    };
    assert_eq!(load(&*h.sandbox(granted), &imports).1, CacheStatus::Miss);
    let err = h.sandbox(config).load(&imports).err().expect("refused");
    assert_eq!(err.kind(), "unauthorized_import", "{err}");
}

pub fn cache_bad_entries_are_misses_rebuilt_silently(h: &Harness) {
    let dir = TempDir::new(h, "corrupt");
    let config = disk_only(&dir);
    let sandbox = h.sandbox(config.clone());
    let wasm = unique(h, "add.wat", "corrupt");
    assert_eq!(load(&*sandbox, &wasm).1, CacheStatus::Miss);
    let key = sandbox.cache_key(&wasm).unwrap();
    let disk = DiskCache::new(&dir.0, u64::MAX);
    let path = disk.path_of(&key);
    let good = std::fs::read(&path).expect("the entry was stored");

    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    let unmetered_identity = h
        .sandbox(SandboxConfig {
            max_fuel: None,
            ..h.config()
        })
        .identity();
    let artifact = decode_artifact(&good).unwrap();
    let stale = encode_artifact(&unmetered_identity, &wasm, artifact.code());
    let wrong_wasm = encode_artifact(&sandbox.identity(), b"\0asm\x01\0\0\0", artifact.code());
    let foreign = match sandbox::sandbox(other(h.backend), h.config()) {
        Ok(other) => encode_artifact(&other.identity(), &wasm, artifact.code()),
        Err(_) => b"no other engine in this build".to_vec(),
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"this is not a cache entry at all".repeat(10)),
        ("empty", Vec::new()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("flipped byte", flipped),
        ("stale (fuel off)", stale),
        ("another module", wrong_wasm),
        ("another engine", foreign),
        ("the wasm itself", wasm.clone()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let (module, status) = load(&*sandbox, &wasm);
        assert_eq!(status, CacheStatus::Miss, "{}: {what}", h.backend);
        add(h, &module, &config);
        // Rebuilt: the next load hits again.
        assert_eq!(
            load(&*sandbox, &wasm).1,
            CacheStatus::DiskHit,
            "{}: {what}",
            h.backend
        );
    }
    // An unreadable directory is no error either.
    let file_not_dir = dir.0.join("plain-file");
    std::fs::write(&file_not_dir, b"x").unwrap();
    let config = SandboxConfig {
        cache: CacheConfig::at(file_not_dir.join("sub")),
        ..h.config()
    };
    let (module, status) = load(&*h.sandbox(config.clone()), &wasm);
    assert_eq!(status, CacheStatus::Miss);
    add(h, &module, &config);
}

pub fn cache_eviction_keeps_the_directory_under_its_bound(h: &Harness) {
    let dir = TempDir::new(h, "evict");
    let mut config = disk_only(&dir);
    let sandbox = h.sandbox(config.clone());
    let first = unique(h, "add.wat", "evict-0");
    assert_eq!(load(&*sandbox, &first).1, CacheStatus::Miss);
    let size = DiskCache::new(&dir.0, u64::MAX).total_bytes();
    assert!(size > 0);
    // Room for two entries of this size, not three.
    config.cache.max_disk_bytes = size * 2 + size / 2;
    let sandbox = h.sandbox(config.clone());
    for i in 1..=4 {
        // Distinct modification times, whatever the filesystem's resolution.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let wasm = unique(h, "add.wat", &format!("evict-{i}"));
        assert_eq!(load(&*sandbox, &wasm).1, CacheStatus::Miss);
    }
    let disk = DiskCache::new(&dir.0, u64::MAX);
    assert!(disk.total_bytes() <= config.cache.max_disk_bytes);
    assert_eq!(disk.entries().len(), 2, "{:?}", disk.entries());
    // The most recent ones stay; the oldest went first.
    let newest = unique(h, "add.wat", "evict-4");
    assert_eq!(load(&*sandbox, &newest).1, CacheStatus::DiskHit);
    assert_eq!(load(&*sandbox, &first).1, CacheStatus::Miss);
}

pub fn cache_concurrent_loads_store_one_good_entry(h: &Harness) {
    let dir = TempDir::new(h, "concurrent");
    let config = disk_only(&dir);
    let wasm = unique(h, "add.wat", "concurrent");
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| {
                let sandbox = h.sandbox(config.clone());
                for _ in 0..3 {
                    let (module, _) = load(&*sandbox, &wasm);
                    add(h, &module, &config);
                }
            });
        }
    });
    let disk = DiskCache::new(&dir.0, u64::MAX);
    let entries = disk.entries();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let leftovers = std::fs::read_dir(&dir.0).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary files are left behind");
    let bytes = std::fs::read(&entries[0].path).unwrap();
    decode_artifact(&bytes)
        .unwrap()
        .check(&h.sandbox(config).identity())
        .unwrap();
}

pub fn aot_round_trip_runs_without_compiling(h: &Harness) {
    let config = h.config();
    let sandbox = h.sandbox(config.clone());
    let artifact = sandbox.compile_aot(&fixture("add.wat")).expect("compiles");
    let decoded = decode_artifact(&artifact).unwrap();
    assert_eq!(decoded.backend_kind(), Some(h.backend));
    assert_eq!(
        decoded.wasm(),
        sandbox::compile_wat_to_wasm(fixture("add.wat")).unwrap()
    );
    // SAFETY: made just above by this process.
    let module = unsafe { h.sandbox(config.clone()).load_aot(&artifact) }.expect("loads");
    add(h, &module, &config);
    assert_eq!(module.info().exports.len(), 1);

    // A WASI command works from an artifact too.
    let artifact = sandbox.compile_aot(&fixture("hello.wasm")).unwrap();
    // SAFETY: as above.
    let module = unsafe { sandbox.load_aot(&artifact) }.unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("_start", &[]).unwrap();
    assert!(result.outcome.is_success(), "{:?}", result.outcome);
    assert!(!result.stdout.is_empty());

    // The import policy applies to the embedded module.
    let granted = SandboxConfig {
        allowed_imports: vec!["env::*".into()],
        ..config.clone()
    };
    let artifact = h
        .sandbox(granted)
        .compile_aot(&fixture("imports_env.wat"))
        .unwrap();
    // SAFETY: as above.
    let err = unsafe { sandbox.load_aot(&artifact) }
        .err()
        .expect("refused");
    assert_eq!(err.kind(), "unauthorized_import", "{err}");
}

pub fn aot_refuses_what_it_cannot_trust(h: &Harness) {
    let config = h.config();
    let sandbox = h.sandbox(config.clone());
    let artifact = sandbox.compile_aot(&fixture("add.wat")).unwrap();
    let refused = |sandbox: &dyn Sandbox, bytes: &[u8], what: &str| -> SandboxError {
        // SAFETY: every input here must be refused before any code is loaded.
        let err = unsafe { sandbox.load_aot(bytes) }
            .err()
            .unwrap_or_else(|| panic!("{}: {what} was loaded", h.backend));
        assert_eq!(err.kind(), "incompatible_artifact", "{what}: {err}");
        err
    };
    // Fuel on vs off generates different code.
    let unmetered = h.sandbox(SandboxConfig {
        max_fuel: None,
        ..config.clone()
    });
    let err = refused(&*unmetered, &artifact, "fuel mismatch");
    assert!(err.to_string().contains("fuel=on"), "{err}");
    if h.backend == BackendKind::Wasmtime {
        // wasmtime compiles the stack limit in.
        let big_stack = h.sandbox(SandboxConfig {
            max_stack_size: 4 << 20,
            ..config.clone()
        });
        refused(&*big_stack, &artifact, "stack limit mismatch");
    }
    if let Ok(other) = sandbox::sandbox(other(h.backend), config.clone()) {
        let err = refused(&*other, &artifact, "another engine");
        assert!(err.to_string().contains(h.backend.name()), "{err}");
    }
    let mut tampered = artifact.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    refused(&*sandbox, &tampered, "tampered code");
    refused(&*sandbox, &artifact[..artifact.len() - 1], "truncated");
    refused(&*sandbox, &artifact[..20], "truncated header");
    refused(&*sandbox, b"garbage garbage garbage", "garbage");
    refused(&*sandbox, &[], "empty");
    let wasm = sandbox::compile_wat_to_wasm(fixture("add.wat")).unwrap();
    let err = refused(&*sandbox, &wasm, "a plain .wasm");
    assert!(err.to_string().contains("not a sandbox artifact"), "{err}");
    // And `load` refuses an artifact with a pointer to `load_aot`.
    let err = sandbox.load(&artifact).err().expect("refused");
    assert_eq!(err.kind(), "invalid_module");
    assert!(err.to_string().contains("load_aot"), "{err}");
}
