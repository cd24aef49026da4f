//! What a runner process does to itself before it touches a guest's bytes, so that code that
//! broke out of WebAssembly (a JIT bug, an engine escape) finds nothing to reach:
//!
//! 1. **rlimits**: no core dumps (a crash does not write guest memory to disk), a bound on
//!    the size of a file it writes and on its open files.
//! 2. **`PR_SET_NO_NEW_PRIVS`**: nothing it could execute gains privileges (and the two
//!    layers below require it).
//! 3. **Landlock**: the filesystem shrinks to the module cache (read), the compiled-code cache
//!    and the runner's scratch directory (read and write) and a few read-only kernel files the
//!    engines consult (`/proc/self`, CPU topology); executing any file, TCP `bind`/`connect`,
//!    signals to processes outside the runner and abstract UNIX sockets are denied.
//! 4. **seccomp** (BPF): an allowlist of the system calls the engines use (memory, threads,
//!    files, time, signals to itself); anything else (`execve`, `socket`, `connect`,
//!    `ptrace`, `fork`/`vfork` and `clone` without `CLONE_THREAD`, `mount`, `bpf`,
//!    `io_uring`, ...) kills the process. `clone3` answers `ENOSYS` (its flags are out of the
//!    filter's reach) so that the C library creates threads with `clone`, whose flags are
//!    checked.
//!
//! Applied on the runner's only thread, before the engines start theirs: every thread
//! inherits them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What a runner may touch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Policy {
    /// Directories it may read (the module cache).
    pub read_only: Vec<PathBuf>,
    /// Directories it may read and write (the compiled-code cache, its scratch directory).
    pub read_write: Vec<PathBuf>,
    /// `RLIMIT_FSIZE`: the largest file it may write.
    pub max_file_bytes: u64,
    /// `RLIMIT_NOFILE`: its most open descriptors.
    pub max_open_files: u64,
}

/// Read-only kernel files and directories the engines consult.
const SYSTEM_READ: &[&str] = &[
    // /proc/self/pagemap (wasmtime's pool resets memory with PAGEMAP_SCAN), maps, stat.
    "/proc/self",
    "/sys/devices/system/cpu",
    "/dev/null",
    "/dev/urandom",
];

/// Whether this kernel can lock a runner down: Landlock enabled and seccomp filters. `Err`
/// says what is missing.
pub fn available() -> Result<String, String> {
    // SAFETY: the version query takes no attribute (NULL, 0) and only returns a number.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    if abi < 1 {
        return Err(format!(
            "this kernel has no Landlock (landlock_create_ruleset: {}); it needs Linux 5.13 \
             or later with Landlock enabled (lsm=landlock,...)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: PR_GET_SECCOMP reads this process's seccomp mode.
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if seccomp < 0 {
        return Err(format!(
            "this kernel has no seccomp ({})",
            std::io::Error::last_os_error()
        ));
    }
    Ok(format!("Landlock ABI {abi}, seccomp"))
}

/// Applies every layer, in order; returns what was applied. Call on the process's only
/// thread.
pub fn apply(policy: &Policy) -> Result<String, String> {
    rlimits(policy)?;
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "PR_SET_NO_NEW_PRIVS: {}",
            std::io::Error::last_os_error()
        ));
    }
    let landlock = landlock(policy)?;
    seccomp()?;
    Ok(format!(
        "rlimits (core 0, fsize {}, nofile {}), no_new_privs, {landlock}, seccomp allowlist",
        policy.max_file_bytes, policy.max_open_files
    ))
}

fn rlimits(policy: &Policy) -> Result<(), String> {
    let set = |resource, value: u64, name: &str| {
        let limit = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: setrlimit with a valid struct.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(format!("{name}: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    };
    set(libc::RLIMIT_CORE, 0, "RLIMIT_CORE")?;
    set(libc::RLIMIT_FSIZE, policy.max_file_bytes, "RLIMIT_FSIZE")?;
    set(libc::RLIMIT_NOFILE, policy.max_open_files, "RLIMIT_NOFILE")?;
    Ok(())
}

fn landlock(policy: &Policy) -> Result<String, String> {
    use landlock::{
        path_beneath_rules, Access, AccessFs, AccessNet, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, Scope, ABI,
    };
    let abi = ABI::V6;
    let error = |error: landlock::RulesetError| format!("Landlock: {error}");
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(error)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(error)?
        .scope(Scope::from_all(abi))
        .map_err(error)?
        .create()
        .map_err(error)?
        .add_rules(path_beneath_rules(SYSTEM_READ, AccessFs::from_read(abi)))
        .map_err(error)?
        .add_rules(path_beneath_rules(
            &policy.read_only,
            AccessFs::from_read(abi) & !AccessFs::Execute,
        ))
        .map_err(error)?
        .add_rules(path_beneath_rules(
            &policy.read_write,
            AccessFs::from_all(abi) & !AccessFs::Execute,
        ))
        .map_err(error)?
        .restrict_self()
        .map_err(error)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok("Landlock (fully enforced)".into()),
        RulesetStatus::PartiallyEnforced => {
            Ok("Landlock (partly enforced: this kernel lacks newer rights)".into())
        }
        RulesetStatus::NotEnforced => Err("Landlock is not enforced by this kernel".into()),
    }
}

/// The system calls a runner may make.
fn allowed() -> Vec<i64> {
    let mut calls = vec![
        // Files and descriptors (the module cache, the compiled-code cache, WASI
        // preopens in the scratch directory, pipes to the worker).
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_preadv,
        libc::SYS_pwritev,
        libc::SYS_preadv2,
        libc::SYS_pwritev2,
        libc::SYS_lseek,
        libc::SYS_close,
        libc::SYS_openat,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_fstatfs,
        libc::SYS_statfs,
        libc::SYS_fcntl,
        libc::SYS_ioctl,
        libc::SYS_getdents64,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_ftruncate,
        libc::SYS_fallocate,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_unlinkat,
        libc::SYS_mkdirat,
        libc::SYS_readlinkat,
        libc::SYS_symlinkat,
        libc::SYS_linkat,
        libc::SYS_utimensat,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_getcwd,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_pipe2,
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_eventfd2,
        // Memory (linear memories, code, pools).
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        libc::SYS_mremap,
        libc::SYS_brk,
        libc::SYS_msync,
        libc::SYS_mincore,
        libc::SYS_membarrier,
        libc::SYS_memfd_create,
        libc::SYS_pkey_alloc,
        libc::SYS_pkey_free,
        libc::SYS_pkey_mprotect,
        // Threads (the engines' epoch ticker and watchdog, the judge's workers).
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_get_robust_list,
        libc::SYS_rseq,
        libc::SYS_set_tid_address,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_clone3,
        // Signals (traps are signals; stack overflows are caught on an alternate stack).
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_restart_syscall,
        // Time.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        // Process information.
        libc::SYS_getrandom,
        libc::SYS_prctl,
        libc::SYS_prlimit64,
        libc::SYS_getrusage,
        libc::SYS_uname,
        libc::SYS_sysinfo,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
    ];
    #[cfg(target_arch = "x86_64")]
    calls.extend([
        libc::SYS_arch_prctl,
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_access,
        libc::SYS_pipe,
        libc::SYS_poll,
        libc::SYS_select,
        libc::SYS_dup2,
        libc::SYS_epoll_wait,
        libc::SYS_readlink,
        libc::SYS_rename,
        libc::SYS_unlink,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_getdents,
        libc::SYS_time,
        libc::SYS_getrlimit,
    ]);
    calls
}

fn seccomp() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule, TargetArch,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|error| format!("seccomp: {error}"))?;
    let error = |error: seccompiler::BackendError| format!("seccomp: {error}");
    // Filter 1: clone3 → ENOSYS (the C library falls back to clone).
    let clone3: BTreeMap<i64, Vec<SeccompRule>> = [(libc::SYS_clone3, vec![])].into();
    let enosys = SeccompFilter::new(
        clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(error)?;
    // Filter 2: the allowlist; anything else kills the process.
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        allowed().into_iter().map(|call| (call, vec![])).collect();
    let thread = libc::CLONE_THREAD as u64;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )
        .map_err(error)?])
        .map_err(error)?],
    );
    // Signals only to this process (raise, abort, the engines' thread interrupts).
    // SAFETY: getpid cannot fail.
    let pid = unsafe { libc::getpid() } as u64;
    for call in [libc::SYS_tgkill, libc::SYS_kill] {
        rules.insert(
            call,
            vec![SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                pid,
            )
            .map_err(error)?])
            .map_err(error)?],
        );
    }
    // A connected pair of UNIX sockets (a runtime inside an engine makes one for its
    // wake-ups): it reaches nothing outside the process. Other families are refused.
    rules.insert(
        libc::SYS_socketpair,
        vec![SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            libc::AF_UNIX as u64,
        )
        .map_err(error)?])
        .map_err(error)?],
    );
    let allowlist = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )
    .map_err(error)?;
    // The ENOSYS filter first: once the allowlist is in place, `seccomp` itself is refused.
    for filter in [enosys, allowlist] {
        let program: BpfProgram = filter.try_into().map_err(error)?;
        seccompiler::apply_filter_all_threads(&program)
            .map_err(|error| format!("seccomp: {error}"))?;
    }
    Ok(())
}
