//! WASI preview 1 through wasmtime-wasi, with output captured into capped buffers.

use bytes::Bytes;
use sandbox_core::{CappedOutput, SandboxConfig, SandboxError};
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// The error a full stream raises; the run ends with `output_limit_exceeded`.
#[derive(Debug)]
pub(crate) struct OutputLimitHit;

impl std::fmt::Display for OutputLimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("output limit exceeded")
    }
}

impl std::error::Error for OutputLimitHit {}

/// stdout or stderr of a guest: writes land in a [`CappedOutput`]; past the cap the write traps.
#[derive(Clone)]
pub(crate) struct CappedStream(pub(crate) CappedOutput);

impl IsTerminal for CappedStream {
    /// Presented as a character device, as wasmer-wasix presents stdio, so wasi-libc buffers
    /// output the same way (line by line) on both engines and a guest executes the same code
    /// whichever runs it.
    fn is_terminal(&self) -> bool {
        true
    }
}

impl StdoutStream for CappedStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedStream {
    async fn ready(&mut self) {}
}

impl OutputStream for CappedStream {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if self.0.write(&bytes) {
            Ok(())
        } else {
            Err(StreamError::Trap(wasmtime::Error::new(OutputLimitHit)))
        }
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always ready; `write` enforces the cap (and traps), so a guest never waits on a full
        // buffer.
        Ok(1 << 20)
    }
}

impl tokio::io::AsyncWrite for CappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.0.write(buf) {
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(std::io::Error::other(OutputLimitHit)))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A fresh WASI context for one instance, from the configuration.
pub(crate) fn context(
    config: &SandboxConfig,
    stdout: &CappedOutput,
    stderr: &CappedOutput,
) -> Result<WasiP1Ctx, SandboxError> {
    let mut builder = WasiCtxBuilder::new();
    let mut argv = vec![config.program_name.clone()];
    argv.extend(config.args.iter().cloned());
    builder
        .args(&argv)
        .envs(&config.env)
        .stdin(MemoryInputPipe::new(Bytes::from(config.stdin.clone())))
        .stdout(CappedStream(stdout.clone()))
        .stderr(CappedStream(stderr.clone()))
        .allow_blocking_current_thread(true);
    if config.allow_filesystem {
        for preopen in &config.preopens {
            let perms = if preopen.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&preopen.host, &preopen.guest, perms)
                .map_err(|err| SandboxError::Io {
                    path: preopen.host.display().to_string(),
                    reason: format!("cannot preopen: {err}"),
                })?;
        }
    }
    Ok(builder.build_p1())
}
