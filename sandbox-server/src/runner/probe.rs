//! Escape probes: what code that broke out of WebAssembly would try first, done natively in
//! a runner (not in wasm), to show that the kernel denies it. A runner answers them only
//! when its worker started it with `probes` (the tests of the lockdown).

use serde::{Deserialize, Serialize};
use std::ffi::CString;

/// A probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// Open a file outside the runner's allowed set for reading.
    OpenOutside(std::path::PathBuf),
    /// Write a file outside the allowed set.
    CreateOutside(std::path::PathBuf),
    /// `execve` a program.
    Execve(std::path::PathBuf),
    /// Open a TCP socket.
    Socket,
    /// Create a process (`fork`).
    Fork,
    /// Send a signal to another process (the worker).
    KillParent,
}

/// Runs `probe` in this process; returns what happened when the process survives it.
pub fn run(probe: &Probe) -> String {
    match probe {
        Probe::OpenOutside(path) => match std::fs::File::open(path) {
            Ok(_) => format!("allowed: opened {}", path.display()),
            Err(error) => denied(error),
        },
        Probe::CreateOutside(path) => match std::fs::File::create(path) {
            Ok(_) => format!("allowed: created {}", path.display()),
            Err(error) => denied(error),
        },
        Probe::Execve(path) => {
            let Ok(program) = CString::new(path.as_os_str().as_encoded_bytes()) else {
                return "invalid path".into();
            };
            let argv = [program.as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated argv and envp arrays of valid C strings; on success the
            // process image is replaced (which the lockdown must prevent).
            unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
            denied(std::io::Error::last_os_error())
        }
        Probe::Socket => {
            // SAFETY: socket with constant arguments; a descriptor returned is closed.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            if fd >= 0 {
                // SAFETY: closing the descriptor just opened.
                unsafe { libc::close(fd) };
                "allowed: socket opened".into()
            } else {
                denied(std::io::Error::last_os_error())
            }
        }
        Probe::Fork => {
            // SAFETY: the child (if the kernel lets one exist) exits at once without
            // touching anything.
            let pid = unsafe { libc::fork() };
            match pid {
                0 => unsafe { libc::_exit(0) },
                pid if pid > 0 => {
                    let mut status = 0;
                    // SAFETY: reaping the child just created.
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                    "allowed: forked".into()
                }
                _ => denied(std::io::Error::last_os_error()),
            }
        }
        Probe::KillParent => {
            // SAFETY: getppid cannot fail; signal 0 only checks permission.
            let result = unsafe { libc::kill(libc::getppid(), 0) };
            if result == 0 {
                "allowed: may signal the worker".into()
            } else {
                denied(std::io::Error::last_os_error())
            }
        }
    }
}

fn denied(error: std::io::Error) -> String {
    format!(
        "denied: errno {} ({error})",
        error.raw_os_error().unwrap_or(0)
    )
}
