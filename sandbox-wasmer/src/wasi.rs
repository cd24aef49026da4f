//! WASI preview 1 through wasmer-wasix.
//!
//! Each instantiation of a module that imports from `wasi_snapshot_preview1` gets a fresh
//! `WasiEnv` built from the run's [`SandboxConfig`]: argv, exactly the configured environment,
//! stdin from memory, stdout and stderr captured into [`CappedOutput`]s, and only the configured
//! preopens, at any guest path (see [`crate::preopen`] for the filesystem and
//! [`arrange_preopens`] for their descriptors). Of wasix's import object only the preview 1
//! namespace is used, with these changes:
//! - `fd_write` and `fd_pwrite` are wrapped: when a write passes the output cap, the call traps
//!   right after the write returns (the write itself keeps the prefix that fits and fails), so
//!   the run ends with `output_limit_exceeded` without running another guest instruction;
//! - `path_open` and `path_link` are wrapped so that creating, truncating, opening for writing
//!   or linking relative to a read-only directory fails with `perm` instead of wasix's silent
//!   downgrade (see [`refusing_writes_to_read_only`]);
//! - every `path_*` function refuses with `perm`, as wasmtime does, a path that is absolute or
//!   climbs above its directory with `..` (see [`confining_paths`]);
//! - `fd_fdstat_get` reports the root preopen's own rights for descriptor 3 (see
//!   [`reporting_root_rights`]), and `fd_prestat_dir_name` fails with `nametoolong` as
//!   wasmtime does when the buffer is too small;
//! - `proc_exit` is the sandbox's own: it traps with the full exit code (wasix keeps only
//!   the code modulo 256);
//! - so that a guest gets the answers wasmtime-wasi gives it (and so runs the same code and
//!   consumes the same fuel on both engines): `fd_write`, `fd_pwrite`, `fd_read` and
//!   `fd_pread` move the first non-empty buffer of their iovec array only, as wasmtime-wasi
//!   does (wasi-libc's stdio writes a buffered line and the next bytes in one `fd_write` of two
//!   buffers, and loops on a short write); `fd_fdstat_get` and `fd_filestat_get` of stdin,
//!   stdout and stderr answer what wasmtime-wasi answers for the sandbox's streams
//!   (see [`stdio_fdstat`]), and so do `fd_prestat_get` (`badf`: wasix describes its stdio as
//!   preopened directories named `stdin`, ...), `fd_seek` and `fd_tell` (`spipe`; wasix says
//!   `acces`) of those three;
//! - the clock and random functions of `sandbox_core::wasi::overrides` replace wasix's under the
//!   deny and virtual clock policies (registered with the host functions, see
//!   [`crate::host`]).
//!
//! wasix needs a Tokio runtime for its timers and background tasks. The backend owns one,
//! process-wide, created on first use, with a single worker thread; runs enter it around
//! instantiation and calls. Its task manager ([`SandboxTasks`]) never spawns WebAssembly
//! threads, and shortens any sleep (`poll_oneoff` under the real clock) so that it ends by the
//! current run's deadline: a sleeping guest cannot outlast its time limit. A run someone can
//! cancel has its sleeps end early, too, once it must stop and the watchdog has signalled it
//! (the timer looks every millisecond): wasmer then traps as the sleep returns.

use crate::host::HostState;
use crate::preopen::PreopenFs;
use sandbox_core::wasi::{errno, path_argument, path_arguments, DenialLog, SOCKET_FUNCTIONS};
use sandbox_core::{CappedOutput, CapturedOutput, SandboxConfig, SandboxError};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};
use tokio::runtime::{Handle, Runtime};
use wasmer::{
    AsStoreMut, Function, FunctionEnv, FunctionEnvMut, FunctionType, Imports, RuntimeError, Type,
    Value,
};
use wasmer_wasix::fs::{Inode, InodeVal, Kind};
use wasmer_wasix::runtime::task_manager::{TaskWasm, VirtualTaskManager};
use wasmer_wasix::virtual_fs::{self, FsError, VirtualFile};
use wasmer_wasix::wasmer_wasix_types::wasi::{Fd as WasiFd, Filestat, Filetype, Rights};
use wasmer_wasix::{
    PluggableRuntime, WasiEnv, WasiFs, WasiFunctionEnv, WasiInodes, WasiThreadError, WasiVersion,
    VIRTUAL_ROOT_FD,
};

fn internal(reason: impl std::fmt::Display) -> SandboxError {
    SandboxError::Unsupported {
        reason: format!("wasmer backend: {reason}"),
    }
}

/// The backend's Tokio runtime, created on first use and kept for the life of the process.
pub(crate) fn tokio_runtime() -> Result<&'static Runtime, SandboxError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("sandbox-wasmer-wasi")
                .enable_time()
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| internal(format!("cannot start the WASI runtime: {err}")))
}

/// The wasix runtime of one engine: the backend's task manager and the engine.
pub(crate) fn wasix_runtime(
    engine: &wasmer::Engine,
) -> Result<Arc<PluggableRuntime>, SandboxError> {
    let handle = tokio_runtime()?.handle().clone();
    let mut runtime = PluggableRuntime::new(Arc::new(SandboxTasks { handle }));
    runtime.set_engine(engine.clone());
    Ok(Arc::new(runtime))
}

thread_local! {
    /// The deadline of the run executing on this thread, if any.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Makes sleeps on this thread end by `deadline` until dropped.
pub(crate) struct DeadlineGuard {
    previous: Option<Instant>,
}

impl DeadlineGuard {
    /// Sets this thread's run deadline.
    pub(crate) fn set(deadline: Instant) -> Self {
        DeadlineGuard {
            previous: DEADLINE.with(|d| d.replace(Some(deadline))),
        }
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.with(|d| d.set(self.previous));
    }
}

/// How often a sleep of a run someone can cancel looks whether it must stop.
const CANCEL_POLL: Duration = Duration::from_millis(1);

/// `time`, shortened to end shortly after the current run's deadline (the watchdog's next
/// interrupt then lands in guest code).
fn capped_sleep(time: Duration) -> Duration {
    match DEADLINE.with(Cell::get) {
        Some(deadline) => time
            .min(deadline.saturating_duration_since(Instant::now()) + 2 * crate::watchdog::RETRY),
        None => time,
    }
}

/// wasix's task manager in the sandbox: Tokio for timers and background futures, no threads
/// for guests, and sleeps bounded by the run's deadline.
#[derive(Debug)]
struct SandboxTasks {
    handle: Handle,
}

/// A sleep driven by the Tokio runtime's timer (the future itself is polled by wasix on the
/// guest's thread, outside the runtime).
struct Sleep {
    state: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 {
            Poll::Ready(())
        } else {
            state.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl VirtualTaskManager for SandboxTasks {
    fn sleep_now(
        &self,
        time: Duration,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        let time = capped_sleep(time);
        if time.is_zero() {
            return Box::pin(std::future::ready(()));
        }
        // A watched run: if the watchdog signals it during the sleep, wasmer marks the store
        // interrupted and traps as the sleep returns; no signal may be sent after that (see
        // `watchdog::RunSignal::quiesce`). A run someone can cancel has its sleep end early
        // once it must stop and was signalled.
        let watched = crate::watchdog::current_signal().map(|signal| {
            let signals_before = signal.signals_sent();
            (signal, signals_before)
        });
        let state = Arc::new(Mutex::new((false, None::<Waker>)));
        let timer = Arc::downgrade(&state);
        self.handle.spawn(async move {
            let end = tokio::time::Instant::now() + time;
            match &watched {
                // In slices, ending early as above, or once the sleep was dropped (so the task
                // does not outlive the run by more than a slice).
                Some((signal, signals_before)) if signal.is_cancellable() => loop {
                    let now = tokio::time::Instant::now();
                    if now >= end
                        || timer.strong_count() == 0
                        || (signal.must_stop() && signal.signals_sent() > *signals_before)
                    {
                        break;
                    }
                    tokio::time::sleep((end - now).min(CANCEL_POLL)).await;
                },
                _ => tokio::time::sleep_until(end).await,
            }
            if let Some((signal, signals_before)) = watched {
                if signal.signals_sent() > signals_before {
                    signal.quiesce();
                }
            }
            let Some(timer) = timer.upgrade() else {
                return;
            };
            let waker = {
                let mut state = timer.lock().unwrap_or_else(|e| e.into_inner());
                state.0 = true;
                state.1.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        });
        Box::pin(Sleep { state })
    }

    fn task_shared(
        &self,
        task: Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send + 'static>,
    ) -> Result<(), WasiThreadError> {
        self.handle.spawn(async move { task().await });
        Ok(())
    }

    fn task_wasm(&self, _task: TaskWasm) -> Result<(), WasiThreadError> {
        // Guests get no threads.
        Err(WasiThreadError::Unsupported)
    }

    fn task_dedicated(
        &self,
        task: Box<dyn FnOnce() + Send + 'static>,
    ) -> Result<(), WasiThreadError> {
        self.handle.spawn_blocking(task);
        Ok(())
    }

    fn thread_parallelism(&self) -> Result<usize, WasiThreadError> {
        Ok(1)
    }
}

/// A boxed, sendable future, as the task manager trait spells it.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which captured stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A guest's captured stdout and stderr.
#[derive(Debug)]
pub(crate) struct Captured {
    stdout: CappedOutput,
    stderr: CappedOutput,
    /// The stream whose cap was passed during the current run.
    exceeded: Mutex<Option<Stream>>,
    /// The WASI calls the policy denied since the last take.
    denials: DenialLog,
}

impl Captured {
    fn new(limit: u64) -> Arc<Self> {
        Arc::new(Captured {
            stdout: CappedOutput::new(limit),
            stderr: CappedOutput::new(limit),
            exceeded: Mutex::new(None),
            denials: DenialLog::default(),
        })
    }

    /// Where this instance's denied WASI calls are recorded.
    pub(crate) fn denials(&self) -> &DenialLog {
        &self.denials
    }

    fn exceeded_lock(&self) -> std::sync::MutexGuard<'_, Option<Stream>> {
        self.exceeded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets a previous run's overflow (each run is judged on its own).
    pub(crate) fn reset(&self) {
        *self.exceeded_lock() = None;
    }

    /// The error of a run that passed the cap, if it did.
    pub(crate) fn exceeded(&self) -> Option<SandboxError> {
        let stream = (*self.exceeded_lock())?;
        let output = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        };
        Some(SandboxError::OutputLimitExceeded {
            stream: stream.name().to_string(),
            limit: output.limit(),
        })
    }

    /// Takes what was written since the last take.
    pub(crate) fn take(&self) -> CapturedOutput {
        CapturedOutput::take_from(&self.stdout, &self.stderr, &self.denials)
    }

    fn write(&self, stream: Stream, data: &[u8]) -> bool {
        let output = match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        };
        let fits = output.write(data);
        if !fits {
            self.exceeded_lock().get_or_insert(stream);
        }
        fits
    }
}

/// The marker error of a write past the output cap.
#[derive(Debug)]
pub(crate) struct OutputLimitHit;

impl std::fmt::Display for OutputLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("output limit exceeded")
    }
}

impl std::error::Error for OutputLimitHit {}

/// The trap `proc_exit` ends a run with.
#[derive(Debug)]
pub(crate) struct GuestExit(pub(crate) i32);

impl std::fmt::Display for GuestExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the guest exited with code {}", self.0)
    }
}

impl std::error::Error for GuestExit {}

/// stdout or stderr of a guest: keeps what fits under the cap; past it the write fails and
/// the overflow is recorded (the `fd_write` wrapper then traps).
#[derive(Debug)]
struct OutputFile {
    captured: Arc<Captured>,
    stream: Stream,
}

impl VirtualFile for OutputFile {
    fn last_accessed(&self) -> u64 {
        0
    }
    fn last_modified(&self) -> u64 {
        0
    }
    fn created_time(&self) -> u64 {
        0
    }
    fn size(&self) -> u64 {
        0
    }
    fn set_len(&mut self, _new_size: u64) -> virtual_fs::Result<()> {
        Err(FsError::PermissionDenied)
    }
    fn unlink(&mut self) -> virtual_fs::Result<()> {
        Ok(())
    }
    fn get_special_fd(&self) -> Option<u32> {
        Some(match self.stream {
            Stream::Stdout => 1,
            Stream::Stderr => 2,
        })
    }
    fn poll_read_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
    fn poll_write_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(64 * 1024))
    }
}

impl AsyncRead for OutputFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(io::Error::other("cannot read from an output stream")))
    }
}

impl AsyncWrite for OutputFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.captured.write(self.stream, buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::Error::other(OutputLimitHit)))
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for OutputFile {
    fn start_seek(self: Pin<&mut Self>, _position: io::SeekFrom) -> io::Result<()> {
        Err(io::Error::other("cannot seek an output stream"))
    }
    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(0))
    }
}

/// stdin of a guest: the configured bytes, then end of file.
#[derive(Debug)]
struct StdinFile {
    data: Vec<u8>,
    position: usize,
}

impl StdinFile {
    fn remaining(&self) -> &[u8] {
        self.data.get(self.position..).unwrap_or_default()
    }
}

impl VirtualFile for StdinFile {
    fn last_accessed(&self) -> u64 {
        0
    }
    fn last_modified(&self) -> u64 {
        0
    }
    fn created_time(&self) -> u64 {
        0
    }
    fn size(&self) -> u64 {
        self.remaining().len() as u64
    }
    fn set_len(&mut self, _new_size: u64) -> virtual_fs::Result<()> {
        Err(FsError::PermissionDenied)
    }
    fn unlink(&mut self) -> virtual_fs::Result<()> {
        Ok(())
    }
    fn get_special_fd(&self) -> Option<u32> {
        Some(0)
    }
    fn poll_read_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.remaining().len()))
    }
    fn poll_write_ready(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
}

impl AsyncRead for StdinFile {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let remaining = this.remaining();
        let n = remaining.len().min(buf.remaining());
        buf.put_slice(&remaining[..n]);
        this.position += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for StdinFile {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::Error::other("cannot write to stdin")))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncSeek for StdinFile {
    fn start_seek(self: Pin<&mut Self>, _position: io::SeekFrom) -> io::Result<()> {
        Err(io::Error::other("cannot seek stdin"))
    }
    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(0))
    }
}

/// Builds the WASI environment of one instance from its configuration, with its captured
/// output and what descriptor 3 is (see [`arrange_preopens`]).
pub(crate) fn build_env(
    config: &SandboxConfig,
    runtime: Arc<PluggableRuntime>,
) -> Result<(WasiEnv, Arc<Captured>, Arc<RootFd>), SandboxError> {
    let captured = Captured::new(config.max_output_bytes);
    let mut builder = WasiEnv::builder(config.program_name.clone())
        .args(&config.args)
        .envs(config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Box::new(StdinFile {
            data: config.stdin.clone(),
            position: 0,
        }))
        .stdout(Box::new(OutputFile {
            captured: captured.clone(),
            stream: Stream::Stdout,
        }))
        .stderr(Box::new(OutputFile {
            captured: captured.clone(),
            stream: Stream::Stderr,
        }))
        .runtime(runtime);

    let mut fs = PreopenFs::default();
    let mut layout = Vec::new();
    if config.allow_filesystem {
        for preopen in &config.preopens {
            let components: Vec<String> = preopen
                .guest_components()
                .map_err(|reason| internal(format!("preopen {:?}: {reason}", preopen.guest)))?
                .into_iter()
                .map(str::to_string)
                .collect();
            fs.add(components.clone(), &preopen.host, preopen.writable)
                .map_err(|err| SandboxError::Io {
                    path: preopen.host.display().to_string(),
                    reason: format!("cannot preopen: {err}"),
                })?;
            // wasix opens the preopen at its guest path in the backing filesystem (which is
            // the guest's namespace), without an alias; `arrange_preopens` then gives it the
            // guest path as written.
            let backing = format!("/{}", components.join("/"));
            let writable = preopen.writable;
            builder
                .add_preopen_build(|p| {
                    p.directory(&backing)
                        .read(true)
                        .write(writable)
                        .create(writable)
                })
                .map_err(|err| internal(format!("cannot preopen {}: {err}", preopen.guest)))?;
            layout.push(GuestPreopen {
                given: preopen.guest.clone(),
                backing: PathBuf::from(backing),
                root: components.is_empty(),
            });
        }
    }
    let fs: Arc<dyn virtual_fs::FileSystem + Send + Sync> = Arc::new(fs);
    builder.set_fs(fs);
    let root_fd = Arc::new(RootFd::default());
    if !layout.is_empty() {
        let root_fd = root_fd.clone();
        builder = builder.setup_fs(Box::new(
            move |inodes: &WasiInodes, wasi_fs: &mut WasiFs| {
                arrange_preopens(inodes, wasi_fs, &layout, &root_fd)
            },
        ));
    }

    let env = builder.build().map_err(|err| SandboxError::Unsupported {
        reason: format!("wasmer backend: cannot set up WASI: {err}"),
    })?;
    Ok((env, captured, root_fd))
}

/// One preopen, as [`build_env`] asked wasix for it.
struct GuestPreopen {
    /// The guest path as configured: what `fd_prestat_dir_name` returns.
    given: String,
    /// The normalised absolute guest path: where the preopen is in the backing filesystem.
    backing: PathBuf,
    /// Whether it is the root (`/`, `.`).
    root: bool,
}

/// What descriptor 3 is when a preopen is the root: the rights wasix enforces on it, which its
/// `fd_fdstat_get` does not report (it reports every right for descriptor 3, its virtual
/// root). Set while the environment is built.
#[derive(Debug, Default)]
pub(crate) struct RootFd {
    /// `(rights_base, rights_inheriting)` of the root preopen, if there is one.
    rights: Mutex<Option<(u64, u64)>>,
}

impl RootFd {
    fn rights(&self) -> Option<(u64, u64)> {
        *self.rights.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reshapes wasix's preopens (called by wasix once it has created them, one descriptor each
/// from 4 on, after its virtual root at 3):
/// - each preopen's base rights lose `fd_write` (see below), and its name becomes the guest
///   path as configured, so `fd_prestat_dir_name`
///   returns `/`, `/data/in` or `.` exactly (wasix names a preopen by its path or alias);
/// - each preopen's parent becomes a directory that no longer exists, so `..` past a preopen
///   fails in wasix's own resolver too (it would otherwise reach wasix's virtual root and,
///   from there, the other preopens);
/// - a root preopen (`/`) takes the place of the virtual root: descriptor 3 and the inode
///   wasix resolves absolute paths and symlink targets from. The guest sees it at descriptor 3
///   with its own rights, and the other preopens follow from 4, with no gap (wasi-libc stops
///   looking for preopens at the first unused descriptor);
/// - otherwise the virtual root stays at descriptor 3 (wasix always has one; the guest sees it
///   as a preopen named `/` that holds nothing but the way to the preopens), and its entries
///   become the first components of the preopens' guest paths, so that symlink targets
///   (which wasix resolves as absolute paths from it) reach nested preopens.
fn arrange_preopens(
    inodes: &WasiInodes,
    wasi_fs: &mut WasiFs,
    layout: &[GuestPreopen],
    root_fd: &RootFd,
) -> Result<(), String> {
    // A parent that cannot be reached: an inode dropped as soon as it is made.
    let orphan = inodes.add_inode_val(InodeVal {
        stat: RwLock::new(Filestat {
            st_filetype: Filetype::Directory,
            st_ino: Inode::from_path("/.sandbox-no-parent").as_u64(),
            ..Filestat::default()
        }),
        is_preopened: false,
        name: RwLock::new("".into()),
        kind: RwLock::new(Kind::Root {
            entries: HashMap::new(),
        }),
    });
    let no_parent = orphan.downgrade();
    drop(orphan);

    let preopen_fds: Vec<WasiFd> = wasi_fs
        .preopen_fds
        .read()
        .map_err(|_| "poisoned".to_string())?
        .iter()
        .copied()
        .filter(|fd| *fd != VIRTUAL_ROOT_FD)
        .collect();
    if preopen_fds.len() != layout.len() {
        return Err(format!(
            "wasix made {} preopens instead of {}",
            preopen_fds.len(),
            layout.len()
        ));
    }
    let mut fds = Vec::new();
    {
        let mut fd_map = wasi_fs.fd_map.write().map_err(|_| "poisoned".to_string())?;
        for (fd, preopen) in preopen_fds.iter().zip(layout) {
            let mut entry = fd_map
                .remove(*fd)
                .ok_or_else(|| format!("preopen descriptor {fd} is missing"))?;
            // A directory is not written to: wasix refuses to open one with `fd_write` in its
            // base rights (`isdir`), so a guest reopening a preopen with the rights it reports
            // (`path_open(fd, ".", ..., fdstat.fs_rights_base, ...)`) would fail. Files opened
            // beneath it get `fd_write` from the inheriting rights, unchanged.
            entry.inner.rights.remove(Rights::FD_WRITE);
            {
                let mut kind = entry
                    .inode
                    .kind
                    .write()
                    .map_err(|_| "poisoned".to_string())?;
                match &mut *kind {
                    Kind::Dir { parent, path, .. } if *path == preopen.backing => {
                        *parent = no_parent.clone();
                    }
                    _ => {
                        return Err(format!(
                            "descriptor {fd} is not the preopen {}",
                            preopen.given
                        ))
                    }
                }
            }
            *entry
                .inode
                .name
                .write()
                .map_err(|_| "poisoned".to_string())? = preopen.given.clone().into();
            fds.push(entry);
        }
        let mut next = VIRTUAL_ROOT_FD + 1;
        let mut numbers = vec![VIRTUAL_ROOT_FD];
        for (entry, preopen) in fds.iter().zip(layout) {
            if preopen.root {
                fd_map.remove(VIRTUAL_ROOT_FD);
                fd_map.insert(false, VIRTUAL_ROOT_FD, entry.clone());
                wasi_fs.root_inode = entry.inode.clone();
                *root_fd.rights.lock().unwrap_or_else(|e| e.into_inner()) = Some((
                    entry.inner.rights.bits(),
                    entry.inner.rights_inheriting.bits(),
                ));
            } else {
                fd_map.insert(false, next, entry.clone());
                numbers.push(next);
                next += 1;
            }
        }
        *wasi_fs
            .preopen_fds
            .write()
            .map_err(|_| "poisoned".to_string())? = numbers;
    }
    if layout.iter().any(|p| p.root) {
        return Ok(());
    }
    // No root preopen: the virtual root leads to the preopens by their first components.
    let root = wasi_fs.root_inode.clone();
    let mut entries = HashMap::new();
    for preopen in layout {
        let Some(first) = preopen.backing.iter().nth(1) else {
            continue;
        };
        let first = first.to_string_lossy().into_owned();
        if entries.contains_key(&first) {
            continue;
        }
        let kind = Kind::Dir {
            parent: root.downgrade(),
            path: PathBuf::from(format!("/{first}")),
            entries: HashMap::new(),
        };
        let mut stat = wasi_fs
            .get_stat_for_kind(&kind)
            .map_err(|err| format!("cannot stat /{first}: {err}"))?;
        stat.st_ino = Inode::from_path(&format!("/{first}")).as_u64();
        let inode = inodes.add_inode_val(InodeVal {
            stat: RwLock::new(stat),
            is_preopened: false,
            name: RwLock::new(first.clone().into()),
            kind: RwLock::new(kind),
        });
        entries.insert(first, inode);
    }
    let mut kind = root.kind.write().map_err(|_| "poisoned".to_string())?;
    match &mut *kind {
        Kind::Root {
            entries: root_entries,
        } => *root_entries = entries,
        _ => return Err("wasix's virtual root is not a root".into()),
    }
    Ok(())
}

/// wasix's functions of the WASI import module `module` (`wasi_snapshot_preview1`, or
/// `wasi_unstable` for preview 0) for `func_env`, with the sandbox's `fd_write`, `fd_pwrite`,
/// `path_open`, `path_link`, socket functions and `proc_exit` (see the module documentation),
/// and the other path functions recording their refusals. Added to `imports`. `env` gives the
/// wrappers the instance's memory once it exists.
pub(crate) fn define_imports(
    store: &mut impl AsStoreMut,
    func_env: &WasiFunctionEnv,
    captured: &Arc<Captured>,
    root_fd: &Arc<RootFd>,
    env: &FunctionEnv<HostState>,
    module: &str,
    imports: &mut Imports,
) {
    let version = if module == sandbox_core::wasi::PREVIEW0_MODULE {
        WasiVersion::Snapshot0
    } else {
        WasiVersion::Snapshot1
    };
    let wasix = wasmer_wasix::generate_import_object_from_env(store, &func_env.env, version);
    let fdstat_get = match wasix.get_export(module, "fd_fdstat_get") {
        Some(wasmer::Extern::Function(f)) => {
            Some(reporting_root_rights(store, env, f, root_fd.clone()))
        }
        _ => None,
    };
    for ((from, name), export) in &wasix {
        if from != module || name == "proc_exit" {
            continue;
        }
        let wasmer::Extern::Function(inner) = export else {
            imports.define(module, &name, export);
            continue;
        };
        let defined = match (name.as_str(), &fdstat_get) {
            (socket, Some(fdstat_get)) if SOCKET_FUNCTIONS.contains(&socket) => {
                let ty = inner.ty(store);
                let fdstat_get = fdstat_get.clone();
                let root = root_fd.clone();
                no_sockets(store, env, ty, socket, fdstat_get, root, captured.clone())
            }
            ("fd_write" | "fd_pwrite", _) => {
                let first_only = first_buffer_only(store, env, inner);
                checking_output(store, env, first_only, captured.clone())
            }
            ("fd_read" | "fd_pread", _) => first_buffer_only(store, env, inner),
            ("fd_prestat_get", _) => stdio_errno(store, env, inner, ERRNO_BADF),
            ("fd_seek" | "fd_tell", _) => stdio_errno(store, env, inner, ERRNO_SPIPE),
            ("fd_prestat_dir_name", _) => naming_too_long(store, env, inner),
            ("fd_fdstat_get", Some(fdstat_get)) => {
                stdio_stat(store, env, fdstat_get.clone(), false)
            }
            ("fd_fdstat_get", None) => stdio_stat(store, env, inner, false),
            ("fd_filestat_get", _) => stdio_stat(store, env, inner, true),
            (path, _) if path_arguments(path).is_some() => {
                let inner = match &fdstat_get {
                    Some(fdstat_get) if path == "path_open" || path == "path_link" => {
                        refusing_writes_to_read_only(
                            store,
                            env,
                            inner,
                            fdstat_get.clone(),
                            path == "path_link",
                        )
                    }
                    _ => inner,
                };
                let inner = confining_paths(store, env, inner, path);
                // Outermost, so every refusal above is seen.
                recording_path_denials(store, env, path, inner, captured.clone())
            }
            _ => inner,
        };
        imports.define(module, &name, defined);
    }
    let exit = Function::new(
        store,
        FunctionType::new([Type::I32], []),
        |args: &[Value]| -> Result<Vec<Value>, RuntimeError> {
            let code = match args.first() {
                Some(Value::I32(code)) => *code,
                _ => 1,
            };
            Err(RuntimeError::user(Box::new(GuestExit(code))))
        },
    );
    imports.define(module, "proc_exit", exit);
}

/// Whether a path, resolved against a directory, leaves it as written: it is absolute, or a
/// `..` climbs above the directory (`a/../..`; `a/../b` stays). cap-std, and so wasmtime,
/// refuses both; wasix would resolve an absolute path from its root, and `..` over its own
/// tree of every preopen. (A `..` that follows a symlink is wasix's: its target was checked to
/// stay in its mount when read, see [`crate::preopen`].)
fn leaves_its_directory(path: &[u8]) -> bool {
    if path.first() == Some(&b'/') {
        return true;
    }
    let mut depth = 0usize;
    for part in path.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// `inner` (a wasix `path_*` function named `name`), refusing with `perm` a path that leaves
/// the directory it is resolved against (see [`leaves_its_directory`]), as wasmtime does.
fn confining_paths(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    name: &str,
) -> Function {
    let positions = path_arguments(name).unwrap_or_default();
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        if let Some(memory) = env.data().memory.clone() {
            let view = memory.view(&env);
            for &(_, path, len) in positions {
                let (Some(Value::I32(path)), Some(Value::I32(len))) =
                    (args.get(path), args.get(len))
                else {
                    continue;
                };
                if *len as u32 > MAX_PATH_BYTES {
                    return Ok(vec![Value::I32(ERRNO_NAMETOOLONG)]);
                }
                let mut bytes = vec![0u8; *len as u32 as usize];
                // An unreadable path is wasix's to report (`fault`).
                if view.read(u64::from(*path as u32), &mut bytes).is_ok()
                    && leaves_its_directory(&bytes)
                {
                    return Ok(vec![Value::I32(ERRNO_PERM)]);
                }
            }
        }
        Ok(inner.call(&mut env, args)?.into_vec())
    })
}

/// `inner` (wasix's `fd_prestat_dir_name`), failing with `nametoolong` rather than wasix's
/// `overflow` when the buffer is too small for the name, as wasmtime does.
fn naming_too_long(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let results = inner.call(&mut env, args)?.into_vec();
        if matches!(results.as_slice(), [Value::I32(ERRNO_OVERFLOW)]) {
            return Ok(vec![Value::I32(ERRNO_NAMETOOLONG)]);
        }
        Ok(results)
    })
}

/// `inner` (wasix's `fd_fdstat_get`), reporting for descriptor 3, when it is the root preopen,
/// the rights wasix enforces on it instead of every right (wasix answers for descriptor 3, its
/// virtual root, without looking at it).
fn reporting_root_rights(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    root_fd: Arc<RootFd>,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let results = inner.call(&mut env, args)?.into_vec();
        let succeeded = matches!(results.as_slice(), [Value::I32(0)]);
        if let (true, Some(Value::I32(3)), Some(Value::I32(buf)), Some((base, inheriting))) =
            (succeeded, args.first(), args.get(1), root_fd.rights())
        {
            if let Some(memory) = env.data().memory.clone() {
                let view = memory.view(&env);
                let at = u64::from(*buf as u32);
                let _ = view.write(at + 8, &base.to_le_bytes());
                let _ = view.write(at + 16, &inheriting.to_le_bytes());
            }
        }
        Ok(results)
    })
}

/// A host function of type `ty` whose calls run `body`: the shape of every wrapper below
/// (each puts some checking around a wasix function, or answers in its place).
fn wrapper(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    ty: FunctionType,
    body: impl Fn(FunctionEnvMut<'_, HostState>, &[Value]) -> Result<Vec<Value>, RuntimeError>
        + Send
        + Sync
        + 'static,
) -> Function {
    Function::new_with_env(store, env, ty, body)
}

/// `inner` (a wasix write function), trapping as soon as it returns if it passed the output
/// cap.
fn checking_output(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    captured: Arc<Captured>,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let results = inner.call(&mut env, args)?;
        if captured.exceeded().is_some() {
            return Err(RuntimeError::user(Box::new(OutputLimitHit)));
        }
        Ok(results.into_vec())
    })
}

/// `inner` (wasix's `fd_write`, `fd_pwrite`, `fd_read` or `fd_pread`: the iovec array is the
/// second and third argument) called with only the first non-empty buffer of the array, as
/// wasmtime-wasi does: a guest then sees the same short writes and reads on both engines
/// (and loops the same way). An array of empty buffers, or one that cannot be read, goes to
/// wasix unchanged (it writes nothing, or reports the fault).
fn first_buffer_only(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let mut args = args.to_vec();
        if let (Some(Value::I32(iovs)), Some(Value::I32(count))) = (args.get(1), args.get(2)) {
            if let Some(first) = first_non_empty(&env, *iovs as u32, *count as u32) {
                args[1] = Value::I32(first as i32);
                args[2] = Value::I32(1);
            }
        }
        Ok(inner.call(&mut env, &args)?.into_vec())
    })
}

/// The guest address of the first iovec with a non-zero length among `count` at `iovs`.
fn first_non_empty(env: &FunctionEnvMut<HostState>, iovs: u32, count: u32) -> Option<u32> {
    let memory = env.data().memory.clone()?;
    let view = memory.view(env);
    (0..count).find_map(|index| {
        let address = iovs.checked_add(index.checked_mul(8)?)?;
        let mut iovec = [0u8; 8];
        view.read(u64::from(address), &mut iovec).ok()?;
        let length = u32::from_le_bytes([iovec[4], iovec[5], iovec[6], iovec[7]]);
        (length != 0).then_some(address)
    })
}

/// WASI `errno` `badf`.
const ERRNO_BADF: i32 = 8;
/// WASI `errno` `spipe`.
const ERRNO_SPIPE: i32 = 70;

/// `inner` (a function whose first argument is a descriptor), failing with `errno` for stdin,
/// stdout and stderr without asking wasix, as wasmtime-wasi does.
fn stdio_errno(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    errno: i32,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        if let Some(Value::I32(0..=2)) = args.first() {
            return Ok(vec![Value::I32(errno)]);
        }
        Ok(inner.call(&mut env, args)?.into_vec())
    })
}

/// WASI filetype `unknown`, what wasmtime-wasi reports for a stream that is not a terminal.
const FILETYPE_UNKNOWN: u8 = 0;
/// WASI filetype `character_device`.
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
/// The `fd_read` right.
const RIGHT_FD_READ: u64 = 1 << 1;

/// What wasmtime-wasi answers about the sandbox's stdio: `(filetype, rights)`, no flags, the
/// inheriting rights equal to the base rights. stdin is a memory pipe (not a terminal:
/// `unknown`, `fd_read` only); stdout and stderr are presented as terminals (`character_device`,
/// `fd_write` only), which makes wasi-libc line-buffer them on both engines. wasix's own
/// answers are a character device for all three, broad rights (`fd_sync`, `fd_advise`,
/// `fd_filestat_get`, ...), no inheriting rights and the `append` flag on stdout and stderr.
fn stdio_fdstat(fd: i32) -> Option<(u8, u64)> {
    match fd {
        0 => Some((FILETYPE_UNKNOWN, RIGHT_FD_READ)),
        1 | 2 => Some((FILETYPE_CHARACTER_DEVICE, RIGHT_FD_WRITE as u64)),
        _ => None,
    }
}

/// `inner` (wasix's `fd_fdstat_get`, or `fd_filestat_get` when `filestat`), answering for
/// stdin, stdout and stderr what wasmtime-wasi answers ([`stdio_fdstat`]; a filestat of
/// zeros but the filetype). Other descriptors go to wasix unchanged. (wasix answers for
/// descriptors 0 to 2 even after the guest closed them; wasmtime-wasi then fails with `badf`.
/// No libc closes its stdio before exiting, so that difference is left alone.)
fn stdio_stat(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    filestat: bool,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let results = inner.call(&mut env, args)?.into_vec();
        let (Some(Value::I32(fd)), Some(Value::I32(buffer)), [Value::I32(0)]) =
            (args.first(), args.get(1), results.as_slice())
        else {
            return Ok(results);
        };
        let Some((filetype, rights)) = stdio_fdstat(*fd) else {
            return Ok(results);
        };
        let Some(memory) = env.data().memory.clone() else {
            return Ok(results);
        };
        let stat = if filestat {
            // dev, ino, filetype (at 16), nlink, size, atim, mtim, ctim: 64 bytes.
            let mut stat = [0u8; 64];
            stat[16] = filetype;
            stat.to_vec()
        } else {
            // filetype, flags (at 2), rights (at 8), inheriting rights (at 16): 24 bytes.
            let mut stat = [0u8; 24];
            stat[0] = filetype;
            stat[8..16].copy_from_slice(&rights.to_le_bytes());
            stat[16..24].copy_from_slice(&rights.to_le_bytes());
            stat.to_vec()
        };
        // wasix wrote the whole structure there, so the range is in bounds.
        let _ = memory.view(&env).write(u64::from(*buffer as u32), &stat);
        Ok(results)
    })
}

/// WASI `errno` `perm`, what the filesystem layer's refusals become too.
const ERRNO_PERM: i32 = errno::PERM;

/// The sandbox's socket function `name`: there are no sockets, so it fails with `badf` when
/// the descriptor is not open and `notsock` when it is (a file, a directory, stdio), as
/// wasmtime-wasi does, whatever the other arguments; the call is recorded as a denial.
/// (wasix's own would check rights and flags first and answer `acces` or `inval` instead.)
/// Descriptor 3 counts as open only when it is the root preopen: otherwise it is wasix's
/// virtual root, which wasmtime has no counterpart of.
fn no_sockets(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    ty: FunctionType,
    name: &str,
    fdstat_get: Function,
    root: Arc<RootFd>,
    captured: Arc<Captured>,
) -> Function {
    let name = name.to_string();
    wrapper(store, env, ty, move |mut env, args| {
        captured.denials.record_socket(&name);
        let open = match args.first() {
            Some(Value::I32(fd)) if *fd as u32 == VIRTUAL_ROOT_FD && root.rights().is_none() => {
                false
            }
            Some(Value::I32(fd)) => fd_is_open(&mut env, &fdstat_get, *fd),
            _ => false,
        };
        Ok(vec![Value::I32(if open {
            errno::NOTSOCK
        } else {
            errno::BADF
        })])
    })
}

/// Whether `fd` is an open descriptor, asking wasix's `fd_fdstat_get` (into scratch guest
/// memory, restored afterwards, as [`base_is_read_only`] does).
fn fd_is_open(env: &mut FunctionEnvMut<HostState>, fdstat_get: &Function, fd: i32) -> bool {
    fdstat(env, fdstat_get, fd).is_some()
}

/// wasix's `fdstat` of `fd` (24 bytes: filetype, flags, base and inheriting rights), asked
/// through `fdstat_get` into the first 24 bytes of guest memory and restored afterwards (the
/// guest is single-threaded and not running meanwhile); `None` when `fd` is not open or the
/// memory is not there.
fn fdstat(env: &mut FunctionEnvMut<HostState>, fdstat_get: &Function, fd: i32) -> Option<[u8; 24]> {
    let memory = env.data().memory.clone()?;
    let mut saved = [0u8; 24];
    memory.view(&env).read(0, &mut saved).ok()?;
    let result = fdstat_get.call(env, &[Value::I32(fd), Value::I32(0)]);
    let mut stat = [0u8; 24];
    let view = memory.view(&env);
    let read = view.read(0, &mut stat).is_ok();
    let _ = view.write(0, &saved);
    (read && matches!(result.as_deref(), Ok([Value::I32(0)]))).then_some(stat)
}

/// `inner` (a wasix path function `name`), recording a denial when it refuses a path as
/// outside the preopens or read-only.
fn recording_path_denials(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    name: &str,
    inner: Function,
    captured: Arc<Captured>,
) -> Function {
    let ty = inner.ty(store);
    let name = name.to_string();
    let Some((ptr, len)) = path_argument(&name) else {
        return inner;
    };
    wrapper(store, env, ty, move |mut env, args| {
        let results = inner.call(&mut env, args)?.into_vec();
        if let Some(Value::I32(code)) = results.first() {
            if *code != errno::SUCCESS {
                let path = guest_string(&mut env, args, ptr, len);
                captured.denials.record_path(&name, &path, *code);
            }
        }
        Ok(results)
    })
}

/// The string a WASI call passed as (pointer, length) at argument indexes `ptr` and `len`,
/// read lossily from guest memory (at most 256 bytes); empty if unreadable.
fn guest_string(
    env: &mut FunctionEnvMut<HostState>,
    args: &[Value],
    ptr: usize,
    len: usize,
) -> String {
    let (Some(Value::I32(ptr)), Some(Value::I32(len))) = (args.get(ptr), args.get(len)) else {
        return String::new();
    };
    let Some(memory) = env.data().memory.clone() else {
        return String::new();
    };
    let mut bytes = vec![0u8; (*len as u32 as usize).min(256)];
    if memory
        .view(&env)
        .read(u64::from(*ptr as u32), &mut bytes)
        .is_err()
    {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
/// WASI `errno` `nametoolong`.
const ERRNO_NAMETOOLONG: i32 = 37;
/// The longest path a `path_*` function takes (Linux's `PATH_MAX` is 4 KiB).
const MAX_PATH_BYTES: u32 = 64 * 1024;
/// `oflags` that change a file: `creat` and `trunc`.
const OFLAGS_CREAT_TRUNC: i32 = 1 | 8;
/// The `fd_write` right.
const RIGHT_FD_WRITE: i64 = 1 << 6;
/// The `filetype` of a directory.
const FILETYPE_DIRECTORY: u8 = 3;
/// WASI `errno` `overflow`.
const ERRNO_OVERFLOW: i32 = 61;

/// `inner` (wasix's `path_open`, or `path_link` when `link`), refusing with `perm` what would
/// change a directory whose descriptor cannot grant writing (a read-only preopen, or a
/// directory opened beneath one):
/// - `path_open` asking to create, truncate or write: wasix would open the file read-only
///   instead and report success, so `open(O_TRUNC)` would "succeed" without truncating;
/// - `path_link` from or into such a directory: wasix cannot hand hard links to the sandbox's
///   filesystem (virtual-fs's `Arc<dyn FileSystem>` does not forward `hard_link`) and links the
///   entry in its own inode table instead, so the link would "succeed" without existing on the
///   host.
///
/// Nothing reaches the host either way (the filesystem layer refuses every mutation of a
/// read-only preopen); this makes the guest see the refusal, as on wasmtime. Absolute paths and
/// descriptors with write rights go to wasix unchanged, and any write they attempt in a
/// read-only preopen is refused by the filesystem layer.
fn refusing_writes_to_read_only(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    inner: Function,
    fdstat_get: Function,
    link: bool,
) -> Function {
    let ty = inner.ty(store);
    wrapper(store, env, ty, move |mut env, args| {
        let refused = if link {
            // (old_fd, old_flags, old_path, old_path_len, new_fd, new_path, new_path_len)
            base_is_read_only(
                &mut env,
                &fdstat_get,
                args.first(),
                args.get(2),
                args.get(3),
            ) || base_is_read_only(&mut env, &fdstat_get, args.get(4), args.get(5), args.get(6))
        } else {
            // (fd, dirflags, path, path_len, oflags, rights_base, rights_inheriting, ...)
            let wants_write = matches!(args.get(4), Some(Value::I32(oflags)) if oflags & OFLAGS_CREAT_TRUNC != 0)
                || matches!(args.get(5), Some(Value::I64(rights)) if rights & RIGHT_FD_WRITE != 0);
            wants_write
                && base_is_read_only(
                    &mut env,
                    &fdstat_get,
                    args.first(),
                    args.get(2),
                    args.get(3),
                )
        };
        if refused {
            return Ok(vec![Value::I32(ERRNO_PERM)]);
        }
        Ok(inner.call(&mut env, args)?.into_vec())
    })
}

/// Whether the directory descriptor `dirfd` that a relative `path` (pointer and length) is
/// resolved against cannot grant writing. Asks wasix (`fd_fdstat_get` into the first 24 bytes
/// of guest memory, restored afterwards: the guest is single-threaded and not running
/// meanwhile).
fn base_is_read_only(
    env: &mut FunctionEnvMut<HostState>,
    fdstat_get: &Function,
    dirfd: Option<&Value>,
    path: Option<&Value>,
    path_len: Option<&Value>,
) -> bool {
    let (Some(Value::I32(dirfd)), Some(Value::I32(path)), Some(Value::I32(path_len))) =
        (dirfd, path, path_len)
    else {
        return false;
    };
    let Some(memory) = env.data().memory.clone() else {
        return false;
    };
    let mut first = [0u8];
    let absolute = *path_len != 0
        && memory
            .view(&env)
            .read(u64::from(*path as u32), &mut first)
            .is_ok()
        && first[0] == b'/';
    if absolute {
        return false;
    }
    let Some(stat) = fdstat(env, fdstat_get, *dirfd) else {
        return false;
    };
    // Not a directory: wasix answers `notdir` itself.
    if stat[0] != FILETYPE_DIRECTORY {
        return false;
    }
    let mut inheriting = [0u8; 8];
    inheriting.copy_from_slice(&stat[16..24]);
    i64::from_le_bytes(inheriting) & RIGHT_FD_WRITE == 0
}
