//! What the guest may reach: WASI preview 1, captured and capped output, preopens and their
//! escapes, clocks and randomness by policy, host functions. Written once, run on both engines.

use conformance_tests::{fixture, Harness};
use sandbox::{
    ClockPolicy, FuncSignature, HostError, HostFunction, Outcome, Preopen, SandboxConfig,
    SandboxError, Trap, ValType, WasmValue,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn wasi_sum_reads_stdin(h: &Harness) {
    let config = SandboxConfig {
        stdin: b"5 7\n".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("sum.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    assert_eq!(text(&result.stdout), "12\n");
    // Bad input is the guest's business: it reports and exits 2.
    let config = SandboxConfig {
        stdin: b"five seven".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("sum.wasm", &config);
    assert_eq!(result.outcome, Outcome::Exit { code: 2 });
    assert_eq!(text(&result.stderr), "expected two integers on stdin\n");
}

pub fn wasi_args_env_and_exit_code(h: &Harness) {
    let config = SandboxConfig {
        args: vec!["3".into(), "two words".into()],
        env: vec![("GREETING".into(), "hi".into())],
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("hello.wasm", &config);
    assert_eq!(result.outcome, Outcome::Exit { code: 3 });
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(
        text(&result.stdout),
        "hello from wasi\nargv[0]=hello.wasm\nargv[1]=3\nargv[2]=two words\nGREETING=hi\n"
    );
    assert_eq!(text(&result.stderr), "to stderr\n");
    // Nothing of the host's environment leaks in.
    let result = h.run_wasi("hello.wasm", &SandboxConfig::default());
    assert_eq!(result.outcome, Outcome::Ok);
    assert!(text(&result.stdout).contains("GREETING=(unset)"));
}

fn flood(h: &Harness, stream: &str) {
    let limit = 64 * 1024;
    let config = SandboxConfig {
        max_output_bytes: limit,
        args: if stream == "stderr" {
            vec!["stderr".into()]
        } else {
            vec![]
        },
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("flood.wasm", &config);
    assert_eq!(
        result.outcome,
        Outcome::Failed(SandboxError::OutputLimitExceeded {
            stream: stream.into(),
            limit
        })
    );
    let (kept, truncated, other) = if stream == "stdout" {
        (&result.stdout, result.stdout_truncated, &result.stderr)
    } else {
        (&result.stderr, result.stderr_truncated, &result.stdout)
    };
    assert_eq!(
        kept.len() as u64,
        limit,
        "exactly the first max_output_bytes are kept"
    );
    assert!(kept.iter().all(|b| *b == b'x'));
    assert!(truncated);
    assert!(other.is_empty());
    // Stopped at the cap, not after writing a gigabyte.
    assert!(result.execution_time < Duration::from_secs(2));
}

pub fn wasi_output_flood_is_capped_on_stdout(h: &Harness) {
    flood(h, "stdout");
}

pub fn wasi_output_flood_is_capped_on_stderr(h: &Harness) {
    flood(h, "stderr");
}

pub fn wasi_failed_run_keeps_partial_output(h: &Harness) {
    let config = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_millis(200),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("spin_output.wasm", &config);
    assert_eq!(result.outcome.kind(), "time_limit_exceeded");
    assert_eq!(text(&result.stdout), "partial stdout\n");
    assert_eq!(text(&result.stderr), "partial stderr\n");
    let config = SandboxConfig {
        max_fuel: Some(2_000_000),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("spin_output.wasm", &config);
    assert_eq!(result.outcome.kind(), "fuel_exhausted");
    assert_eq!(text(&result.stdout), "partial stdout\n");
}

pub fn wasi_virtual_clock_and_random_are_deterministic(h: &Harness) {
    let config = SandboxConfig {
        clock: ClockPolicy::Virtual,
        random_seed: 42,
        ..SandboxConfig::default()
    };
    let first = h.run_wasi("time_random.wasm", &config);
    assert_eq!(first.outcome, Outcome::Ok);
    let out = text(&first.stdout);
    assert!(out.starts_with("realtime 946684800."), "{out}");
    assert!(out.contains("random "), "{out}");
    let second = h.run_wasi("time_random.wasm", &config);
    assert_eq!(first.stdout, second.stdout, "same inputs, same output");
    // Instances of one compiled module each start their own clock and random sequence.
    let config = SandboxConfig {
        program_name: "time_random.wasm".into(),
        ..config
    };
    let module = h.load("time_random.wasm", &config);
    for _ in 0..3 {
        let mut instance = module.instantiate(&config).unwrap();
        let again = instance.call("_start", &[]).unwrap();
        assert_eq!(again.stdout, first.stdout);
    }
    let other_seed = h.run_wasi(
        "time_random.wasm",
        &SandboxConfig {
            random_seed: 43,
            ..config
        },
    );
    assert_ne!(first.stdout, other_seed.stdout);
}

pub fn wasi_denied_clock_and_random_fail(h: &Harness) {
    let config = SandboxConfig {
        clock: ClockPolicy::Deny,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("time_random.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(
        text(&result.stdout),
        "realtime denied\nmonotonic denied\nrandom denied\n"
    );
}

pub fn wasi_real_clock_reads_the_host_time(h: &Harness) {
    let config = SandboxConfig {
        clock: ClockPolicy::Real,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("time_random.wasm", &config);
    let out = text(&result.stdout);
    let seconds: u64 = out
        .strip_prefix("realtime ")
        .and_then(|rest| rest.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds.abs_diff(now) < 60, "{out}");
}

/// A scratch tree: `secret.txt` beside a read-only `ro/` (with `data.txt`, `sub/` and a
/// symlink `link-out` to the secret) and a writable `rw/`.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let root = std::env::temp_dir().join(format!(
            "sandbox-conformance-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("ro/sub")).unwrap();
        std::fs::create_dir_all(root.join("rw")).unwrap();
        std::fs::write(root.join("secret.txt"), "the host's secret\n").unwrap();
        std::fs::write(root.join("ro/data.txt"), "read-only data\n").unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("ro/link-out")).unwrap();
        Tree { root }
    }

    fn config(&self, actions: &[&str]) -> SandboxConfig {
        SandboxConfig {
            allow_filesystem: true,
            preopens: vec![
                Preopen {
                    host: self.root.join("ro"),
                    guest: "/ro".into(),
                    writable: false,
                },
                Preopen {
                    host: self.root.join("rw"),
                    guest: "/rw".into(),
                    writable: true,
                },
            ],
            args: actions.iter().map(|a| a.to_string()).collect(),
            ..SandboxConfig::default()
        }
    }

    /// Bytes and modification time of every file under the root, to prove nothing changed.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, SystemTime)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    walk(&path, out);
                } else if meta.is_file() {
                    out.push((
                        path.clone(),
                        std::fs::read(&path).unwrap(),
                        meta.modified().unwrap(),
                    ));
                } else {
                    out.push((path.clone(), Vec::new(), meta.modified().unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const ESCAPES: &[&str] = &[
    "read-parent",
    "read-dotdot-chain",
    "read-absolute",
    "read-symlink-out",
    "read-trailing-slash",
    "truncate-ro",
    "write-ro",
    "create-ro",
    "mkdir-ro",
    "unlink-ro",
    "rename-ro-to-rw",
    "rename-rw-to-ro",
    "link-ro-to-rw",
    "setsize-ro",
    "settimes-ro",
];

pub fn wasi_escapes_are_denied_and_host_files_unchanged(h: &Harness) {
    let tree = Tree::new(&format!("escape-{}", h.backend));
    let before = tree.snapshot();
    let result = h.run_wasi("files.wasm", &tree.config(ESCAPES));
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    let out = text(&result.stdout);
    for action in ESCAPES {
        let line = out
            .lines()
            .find(|line| line.starts_with(&format!("{action} ")))
            .unwrap_or_else(|| panic!("no line for {action}: {out}"));
        assert!(
            line.contains("denied"),
            "{}: escape allowed: {line}",
            h.backend
        );
    }
    assert!(!out.contains("the host's secret"), "{out}");
    // The refusals the engine saw (wasi-libc refuses absolute paths outside every preopen
    // itself) are named in the report.
    assert!(
        result.denied.iter().any(|denial| denial.capability
            == sandbox::wasi::Capability::Filesystem
            && denial.path.as_deref().is_some_and(|p| p.contains(".."))),
        "{}: {:?}",
        h.backend,
        result.denied
    );
    // rename-rw-to-ro created /rw/planted.txt on purpose; everything else is as it was.
    let after: Vec<_> = tree
        .snapshot()
        .into_iter()
        .filter(|(path, _, _)| !path.ends_with("planted.txt"))
        .collect();
    assert_eq!(before, after, "host files changed");
}

pub fn wasi_symlink_made_by_the_guest_does_not_escape(h: &Harness) {
    let tree = Tree::new(&format!("symlink-{}", h.backend));
    let result = h.run_wasi("files.wasm", &tree.config(&["make-symlink-out"]));
    let out = text(&result.stdout);
    let line = out
        .lines()
        .find(|line| line.starts_with("read-made-symlink "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("denied"), "{}: {out}", h.backend);
    assert!(!out.contains("root:"), "{out}");
}

pub fn wasi_preopens_read_and_write_as_granted(h: &Harness) {
    let tree = Tree::new(&format!("rw-{}", h.backend));
    let result = h.run_wasi("files.wasm", &tree.config(&["read-ro", "write-rw"]));
    let out = text(&result.stdout);
    assert!(out.contains("read-ro ok"), "{out}");
    assert!(out.contains("content: read-only data"), "{out}");
    assert!(out.contains("write-rw ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(tree.root.join("rw/out.txt")).unwrap(),
        "written by the guest\n",
        "a guest write to a read-write preopen is visible to the host"
    );
}

/// A wrapped WASI function (the sandbox logs path denials around `path_open` and friends) as
/// the guest's very first WASI call: no other call has run before it to set up the host-call
/// state (on wasmtime, wiggle's budget of bytes a call may copy, which the wrapper must set
/// itself: it failed with `nomem` before).
pub fn wasi_a_wrapped_function_works_as_the_first_call(h: &Harness) {
    let tree = Tree::new(&format!("first-{}", h.backend));
    std::fs::write(tree.root.join("hello.txt"), "from the host\n").unwrap();
    let config = SandboxConfig {
        allow_filesystem: true,
        preopens: vec![preopen(&tree, "", "/", false)],
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("open_first.wat", &config);
    assert_eq!(
        result.outcome,
        Outcome::Ok,
        "{}: {:?}",
        h.backend,
        result.outcome
    );
    assert_eq!(text(&result.stdout), "from the host\n");
}

pub fn wasi_without_preopens_sees_no_files(h: &Harness) {
    let config = SandboxConfig {
        args: vec!["read-ro".into(), "read-absolute".into(), "write-rw".into()],
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("files.wasm", &config);
    let out = text(&result.stdout);
    assert_eq!(out.matches("denied").count(), 3, "{out}");
}

/// A preopen at `guest` of `tree.root/host` (`host` empty: the tree's root itself).
fn preopen(tree: &Tree, host: &str, guest: &str, writable: bool) -> Preopen {
    Preopen {
        host: if host.is_empty() {
            tree.root.clone()
        } else {
            tree.root.join(host)
        },
        guest: guest.into(),
        writable,
    }
}

/// files.wasm with `actions` under `preopens`; its stdout.
fn probe(h: &Harness, preopens: Vec<Preopen>, actions: &[&str]) -> String {
    let config = SandboxConfig {
        allow_filesystem: true,
        preopens,
        args: actions.iter().map(|a| a.to_string()).collect(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("files.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    text(&result.stdout)
}

/// The report line of `action`, and the lines it printed before it (content, entries).
fn report<'a>(out: &'a str, action: &str) -> (&'a str, Vec<&'a str>) {
    let mut printed = Vec::new();
    for line in out.lines() {
        if let Some(detail) = line.strip_prefix("  ") {
            printed.push(detail);
        } else if line.starts_with(&format!("{action} ")) {
            return (line, printed);
        } else {
            printed.clear();
        }
    }
    panic!("no line for {action}: {out}")
}

fn assert_ok(h: &Harness, out: &str, action: &str, printed: &[&str]) {
    let (line, got) = report(out, action);
    assert_eq!(line, format!("{action} ok"), "{}: {out}", h.backend);
    assert_eq!(got, printed, "{}: {action}: {out}", h.backend);
}

fn assert_denied(h: &Harness, out: &str, actions: &[&str]) {
    for action in actions {
        let (line, printed) = report(out, action);
        assert!(
            line.contains(" denied ("),
            "{}: {action} was allowed: {out}",
            h.backend
        );
        assert!(
            printed.is_empty(),
            "{}: {action} printed {printed:?}",
            h.backend
        );
    }
}

/// The escape probes of files.wasm (over /ro and /rw), under `preopens`, with the host tree
/// unchanged afterwards but for what `rename-rw-to-ro` plants in /rw on purpose.
fn escapes_under(h: &Harness, tree: &Tree, preopens: Vec<Preopen>) {
    let before = tree.snapshot();
    let out = probe(h, preopens, ESCAPES);
    assert_denied(h, &out, ESCAPES);
    assert!(!out.contains("the host's secret"), "{out}");
    let after: Vec<_> = tree
        .snapshot()
        .into_iter()
        .filter(|(path, _, _)| !path.ends_with("planted.txt"))
        .collect();
    assert_eq!(before, after, "{}: host files changed", h.backend);
}

pub fn wasi_escapes_are_denied_under_a_root_preopen(h: &Harness) {
    // The tree's root (holding secret.txt) is the guest's root, read-only then read-write, with
    // /ro and /rw nested in it: escaping /ro or /rw is refused even where the path would land
    // in the root preopen, and the root preopen's own `..` is refused.
    for root_writable in [false, true] {
        let tree = Tree::new(&format!("root-escape-{}-{root_writable}", h.backend));
        escapes_under(
            h,
            &tree,
            vec![
                preopen(&tree, "", "/", root_writable),
                preopen(&tree, "ro", "/ro", false),
                preopen(&tree, "rw", "/rw", true),
            ],
        );
        let out = probe(
            h,
            vec![preopen(&tree, "ro", "/", root_writable)],
            &[
                "cat:/../secret.txt",
                "cat:../secret.txt",
                "cat:/sub/../../secret.txt",
                "cat:/link-out",
                "cat:/data.txt/",
                "ls:/..",
            ],
        );
        assert_denied(
            h,
            &out,
            &[
                "cat:/../secret.txt",
                "cat:../secret.txt",
                "cat:/sub/../../secret.txt",
                "cat:/link-out",
                "cat:/data.txt/",
                "ls:/..",
            ],
        );
    }
}

pub fn wasi_root_preopen_is_the_guest_root(h: &Harness) {
    let tree = Tree::new(&format!("root-{}", h.backend));
    std::fs::write(tree.root.join("rw/top.txt"), "top\n").unwrap();
    let out = probe(
        h,
        vec![preopen(&tree, "rw", "/", true)],
        &[
            "preopens",
            "cat:/top.txt",
            "cat:top.txt",
            "mkdir:/dir",
            "put:/dir/new.txt",
            "ls:/",
            "ls:/dir",
            "mv:/dir/new.txt:/moved.txt",
            "cat:/moved.txt",
            "rm:/top.txt",
            "rmdir:/dir",
            "ls:.",
            "symlink:moved.txt:/link",
            "cat:/link",
        ],
    );
    assert_ok(h, &out, "preopens", &["preopen: /"]);
    assert_ok(h, &out, "cat:/top.txt", &["content: top"]);
    assert_ok(h, &out, "cat:top.txt", &["content: top"]);
    assert_ok(h, &out, "ls:/", &["entries: dir top.txt"]);
    assert_ok(h, &out, "ls:/dir", &["entries: new.txt"]);
    assert_ok(
        h,
        &out,
        "cat:/moved.txt",
        &["content: written by the guest"],
    );
    assert_ok(h, &out, "ls:.", &["entries: moved.txt"]);
    assert_ok(h, &out, "cat:/link", &["content: written by the guest"]);
    for action in [
        "mkdir:/dir",
        "put:/dir/new.txt",
        "mv:/dir/new.txt:/moved.txt",
        "rm:/top.txt",
        "rmdir:/dir",
        "symlink:moved.txt:/link",
    ] {
        assert_ok(h, &out, action, &[]);
    }
    assert_eq!(
        std::fs::read_to_string(tree.root.join("rw/moved.txt")).unwrap(),
        "written by the guest\n"
    );
    assert!(!tree.root.join("rw/top.txt").exists());
}

pub fn wasi_read_only_root_preopen_refuses_every_change(h: &Harness) {
    let tree = Tree::new(&format!("root-ro-{}", h.backend));
    let before = tree.snapshot();
    let changes = [
        "put:/new.txt",
        "put:/data.txt",
        "mkdir:/dir",
        "rm:/data.txt",
        "rmdir:/sub",
        "mv:/data.txt:/moved.txt",
        "mv:/sub:/moved",
        "ln:/data.txt:/linked.txt",
        "trunc:/data.txt",
        "touch:/data.txt",
        "symlink:data.txt:/link",
    ];
    let mut actions = vec!["preopens", "cat:/data.txt", "ls:/"];
    actions.extend(changes);
    let out = probe(h, vec![preopen(&tree, "ro", "/", false)], &actions);
    assert_ok(h, &out, "preopens", &["preopen: /"]);
    assert_ok(h, &out, "cat:/data.txt", &["content: read-only data"]);
    assert_ok(h, &out, "ls:/", &["entries: data.txt link-out sub"]);
    assert_denied(h, &out, &changes);
    assert_eq!(tree.snapshot(), before, "{}: host files changed", h.backend);
}

/// The tree of the nested layouts: `root/` (with `top.txt`, and `data/in/hidden.txt` that the
/// nested preopen shadows), `in/` (with `in.txt` and `up`, a symlink out of it to
/// `../root/top.txt`), `a/` (with `a.txt` and `b/under.txt`) and `b/` (with `b.txt`).
fn nested_tree(tag: &str) -> Tree {
    let tree = Tree::new(tag);
    let root = &tree.root;
    std::fs::create_dir_all(root.join("root/data/in")).unwrap();
    std::fs::create_dir_all(root.join("in")).unwrap();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("root/top.txt"), "top\n").unwrap();
    std::fs::write(root.join("root/data/beside.txt"), "beside\n").unwrap();
    std::fs::write(root.join("root/data/in/hidden.txt"), "hidden\n").unwrap();
    std::fs::write(root.join("in/in.txt"), "nested\n").unwrap();
    std::os::unix::fs::symlink("../root/top.txt", root.join("in/up")).unwrap();
    std::fs::write(root.join("a/a.txt"), "a\n").unwrap();
    std::fs::write(root.join("a/b/under.txt"), "under\n").unwrap();
    std::fs::write(root.join("b/b.txt"), "b\n").unwrap();
    tree
}

pub fn wasi_nested_preopen_under_the_root_preopen(h: &Harness) {
    let tree = nested_tree(&format!("nested-{}", h.backend));
    let before = tree.snapshot();
    let denied = [
        "cat:/data/in/hidden.txt",
        "cat:/data/in/up",
        "cat:/data/in/../../top.txt",
        "put:/data/in/new.txt",
        "mv:/top.txt:/data/in/top.txt",
        "mv:/data/in/in.txt:/in.txt",
        "ln:/data/in/in.txt:/in.txt",
        "rm:/data/in/in.txt",
    ];
    let mut actions = vec![
        "preopens",
        "cat:/top.txt",
        "cat:/data/in/in.txt",
        "cat:data/in/in.txt",
        "ls:/data/in",
        "ls:/data",
        "cat:/data/beside.txt",
    ];
    actions.extend(denied);
    let out = probe(
        h,
        vec![
            preopen(&tree, "root", "/", true),
            preopen(&tree, "in", "/data/in", false),
        ],
        &actions,
    );
    assert_ok(h, &out, "preopens", &["preopen: /", "preopen: /data/in"]);
    assert_ok(h, &out, "cat:/top.txt", &["content: top"]);
    assert_ok(h, &out, "cat:/data/in/in.txt", &["content: nested"]);
    assert_ok(h, &out, "cat:data/in/in.txt", &["content: nested"]);
    assert_ok(h, &out, "ls:/data/in", &["entries: in.txt up"]);
    assert_ok(h, &out, "ls:/data", &["entries: beside.txt in"]);
    assert_ok(h, &out, "cat:/data/beside.txt", &["content: beside"]);
    assert_denied(h, &out, &denied);
    assert_eq!(tree.snapshot(), before, "{}: host files changed", h.backend);
}

pub fn wasi_nested_preopens_without_a_root_preopen(h: &Harness) {
    // /a and /a/b, both writable, and /data/in alone (nothing at /data).
    let tree = nested_tree(&format!("overlap-{}", h.backend));
    let out = probe(
        h,
        vec![
            preopen(&tree, "a", "/a", true),
            preopen(&tree, "b", "/a/b", true),
            preopen(&tree, "in", "/data/in", true),
        ],
        &[
            "preopens",
            "cat:/a/a.txt",
            "cat:/a/b/b.txt",
            "cat:/a/b/under.txt",
            "ls:/a",
            "ls:/a/b",
            "cat:/a/b/../a.txt",
            "cat:/data/in/in.txt",
            "cat:/data/in/up",
            "put:/data/new.txt",
            "cat:/etc/passwd",
            "mv:/a/a.txt:/a/b/moved.txt",
            "mv:/a/b/moved.txt:/data/in/moved.txt",
            "cat:/data/in/moved.txt",
        ],
    );
    let (line, names) = report(&out, "preopens");
    assert_eq!(line, "preopens ok");
    // wasmer-wasix always has its virtual root at descriptor 3, named `/` (it holds only the
    // way to the preopens); the configured preopens follow in order on both engines.
    let names: Vec<&str> = names.into_iter().filter(|n| *n != "preopen: /").collect();
    assert_eq!(
        names,
        ["preopen: /a", "preopen: /a/b", "preopen: /data/in"],
        "{}",
        h.backend
    );
    assert_ok(h, &out, "cat:/a/a.txt", &["content: a"]);
    assert_ok(h, &out, "cat:/a/b/b.txt", &["content: b"]);
    assert_ok(h, &out, "ls:/a", &["entries: a.txt b"]);
    assert_ok(h, &out, "ls:/a/b", &["entries: b.txt"]);
    assert_ok(h, &out, "cat:/data/in/in.txt", &["content: nested"]);
    assert_denied(
        h,
        &out,
        &[
            "cat:/a/b/under.txt",
            "cat:/a/b/../a.txt",
            "cat:/data/in/up",
            "put:/data/new.txt",
            "cat:/etc/passwd",
        ],
    );
    // Renames across writable preopens work.
    assert_ok(h, &out, "mv:/a/a.txt:/a/b/moved.txt", &[]);
    assert_ok(h, &out, "mv:/a/b/moved.txt:/data/in/moved.txt", &[]);
    assert_ok(h, &out, "cat:/data/in/moved.txt", &["content: a"]);
    assert_eq!(
        std::fs::read_to_string(tree.root.join("in/moved.txt")).unwrap(),
        "a\n"
    );
    assert!(!tree.root.join("a/a.txt").exists());
}

pub fn wasi_relative_guest_paths_start_at_the_root(h: &Harness) {
    let tree = nested_tree(&format!("relative-{}", h.backend));
    let out = probe(
        h,
        vec![
            preopen(&tree, "root", ".", false),
            preopen(&tree, "in", "data/in", false),
        ],
        &[
            "preopens",
            "cat:/top.txt",
            "cat:top.txt",
            "cat:/data/in/in.txt",
            "cat:../top.txt",
        ],
    );
    // The guest learns the paths as written.
    assert_ok(h, &out, "preopens", &["preopen: .", "preopen: data/in"]);
    assert_ok(h, &out, "cat:/top.txt", &["content: top"]);
    assert_ok(h, &out, "cat:top.txt", &["content: top"]);
    assert_ok(h, &out, "cat:/data/in/in.txt", &["content: nested"]);
    assert_denied(h, &out, &["cat:../top.txt"]);
}

pub fn wasi_imports_outside_the_policy_are_unauthorized(h: &Harness) {
    for (module, name) in [
        ("wasi_snapshot_preview1", "not_a_wasi_function"),
        ("env", "anything"),
    ] {
        let wat = format!(
            r#"(module (import "{module}" "{name}" (func (param i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#
        );
        let err = h
            .try_load_bytes(wat.as_bytes(), &SandboxConfig::default())
            .err()
            .unwrap_or_else(|| panic!("{module}::{name} was accepted"));
        assert_eq!(
            err,
            SandboxError::UnauthorizedImport {
                module: module.into(),
                name: name.into()
            }
        );
    }
    // Every preview 1 function links, sockets included.
    for name in sandbox::wasi::FUNCTIONS {
        let wat = format!(
            r#"(module (import "wasi_snapshot_preview1" "{name}" (func)) (memory (export "memory") 1) (func (export "_start")))"#
        );
        let module = sandbox::compile_wat_to_wasm(&wat).unwrap();
        let info = sandbox::ModuleInfo::parse(&module, &SandboxConfig::default()).unwrap();
        info.check_imports(&SandboxConfig::default())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
    }
}

fn host_config(log: Arc<Mutex<Vec<String>>>) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.host_functions.define(HostFunction::new(
        "env",
        "log",
        FuncSignature::new([ValType::I32, ValType::I32], []),
        move |ctx, args| {
            let (WasmValue::I32(ptr), WasmValue::I32(len)) = (args[0], args[1]) else {
                return Err(HostError::new("bad arguments"));
            };
            let message = ctx.read_string(ptr as u32, len as u32)?;
            log.lock().unwrap().push(message);
            Ok(vec![])
        },
    ));
    config.host_functions.define(HostFunction::new(
        "env",
        "add",
        FuncSignature::new([ValType::I32, ValType::I32], [ValType::I32]),
        |_, args| match (args[0], args[1]) {
            (WasmValue::I32(a), WasmValue::I32(b)) => Ok(vec![WasmValue::I32(a.wrapping_add(b))]),
            _ => Err(HostError::new("bad arguments")),
        },
    ));
    config.host_functions.define(HostFunction::new(
        "env",
        "fail",
        FuncSignature::new([], []),
        |_, _| Err(HostError::new("the host says no")),
    ));
    config
}

pub fn host_functions_read_guest_memory(h: &Harness) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let config = host_config(log.clone());
    let result = h.run("host_log.wat", "greet", &[], &config);
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, vec![WasmValue::I32(42)]);
    assert_eq!(
        *log.lock().unwrap(),
        vec!["hello from the guest".to_string()]
    );
}

pub fn host_function_errors_are_trap_other(h: &Harness) {
    let config = host_config(Arc::default());
    for func in ["fails", "bad_pointer"] {
        let result = h.run("host_log.wat", func, &[], &config);
        let err = result.outcome.error().cloned().expect("a failure");
        assert_eq!(err.trap(), Some(Trap::Other), "{func}: {err}");
    }
    let result = h.run("host_log.wat", "fails", &[], &config);
    assert!(
        result
            .outcome
            .error()
            .unwrap()
            .to_string()
            .contains("the host says no"),
        "{:?}",
        result.outcome
    );
}

pub fn host_functions_must_be_registered(h: &Harness) {
    let err = h
        .try_load_bytes(&fixture("host_log.wat"), &SandboxConfig::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), "unauthorized_import");
}

pub fn wasi_exit_codes_cross_intact(h: &Harness) {
    for code in [0, 1, 125, 126, 200, 255, 256, -1] {
        let wat = format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (memory (export "memory") 1)
                 (func (export "_start") (call $exit (i32.const {code}))))"#
        );
        let module = h
            .try_load_bytes(wat.as_bytes(), &SandboxConfig::default())
            .unwrap();
        let mut instance = module.instantiate(&SandboxConfig::default()).unwrap();
        let result = instance.call("_start", &[]).unwrap();
        assert_eq!(result.outcome, Outcome::Exit { code }, "proc_exit({code})");
    }
}

/// What the WASI layer answers a guest about its stdio, on every engine: wasmtime-wasi's
/// answers (stdin a pipe with `fd_read` only, stdout and stderr character devices with
/// `fd_write` only, no flags, no preopen, `spipe` on seek), and one buffer per `fd_write` and
/// `fd_read`. wasi-libc's stdio takes its paths from these answers, so a WASI command runs the
/// same code, and consumes the same fuel, on both engines.
pub fn wasi_stdio_answers_are_wasmtime_wasis(h: &Harness) {
    let config = SandboxConfig {
        stdin: b"5 7\n".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("stdio_probe.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    let mut expected = String::new();
    for (fd, filetype, rights) in [(0, 0, "0x2"), (1, 2, "0x40"), (2, 2, "0x40")] {
        expected.push_str(&format!(
            "fd {fd} fdstat errno 0 filetype {filetype} flags 0 rights {rights} inheriting \
             {rights}\nfd {fd} filestat errno 0 filetype {filetype} size 0 nlink 0\n\
             fd {fd} prestat errno 8 tag 0 len 0\nfd {fd} seek errno 70\nfd {fd} tell errno 70\n"
        ));
    }
    // "ab" is the first buffer of the two-buffer write: one buffer per call.
    expected.push_str(
        "ab\nwrite of 2+3 bytes: errno 0, 2 written\nread into 2+8 bytes: errno 0, 2 read\n",
    );
    assert_eq!(text(&result.stdout), expected);
}
