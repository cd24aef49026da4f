//! The messages between a worker and its runner processes: length-prefixed JSON frames (a
//! little-endian `u32` length, then that many bytes) on the runner's stdin and stdout.

use crate::exec::{EnginesConfig, Finished, Task};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The largest frame either side accepts (a job's spec carries its stdin, at most the
/// service's body limit; results carry at most the output limits).
pub const MAX_FRAME: usize = 256 << 20;

/// The first message to a runner: what to lock itself into and how to run jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Init {
    /// The lockdown to apply before reading any job (`None`: none, for `--isolation none`
    /// tests of the protocol itself).
    pub lockdown: Option<super::lockdown::Policy>,
    /// Engine settings.
    pub engines: EnginesConfig,
    /// The module cache the runner reads modules from.
    pub modules_dir: std::path::PathBuf,
    /// Whether the runner answers [`Request::Probe`] (tests of the lockdown only).
    pub probes: bool,
}

/// A request to a runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Run a job.
    Task(Task),
    /// Try something the lockdown must deny, natively (not in wasm), and report what the
    /// kernel said. Answered only by runners started with `probes`.
    Probe(super::probe::Probe),
}

/// A [`Request`] to send without copying the job (serialized as the same JSON).
#[derive(Debug, Serialize)]
pub enum RequestRef<'a> {
    /// [`Request::Task`].
    Task(&'a Task),
    /// [`Request::Probe`].
    Probe(&'a super::probe::Probe),
}

/// A runner's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Response {
    /// The runner is locked down (the summary says how) and waits for jobs.
    Ready {
        /// What was applied.
        lockdown: String,
    },
    /// The runner could not lock itself down; it exits.
    LockdownFailed {
        /// Why.
        error: String,
    },
    /// A job's result.
    Finished(Finished),
    /// What a probe did (when the process survived it).
    Probe(String),
}

/// Writes one frame.
pub fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(message)?;
    let length = u32::try_from(bytes.len())
        .ok()
        .filter(|&length| length as usize <= MAX_FRAME)
        .ok_or_else(|| std::io::Error::other("message too large for a frame"))?;
    out.write_all(&length.to_le_bytes())?;
    out.write_all(&bytes)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` at a clean end of input.
pub fn read_frame<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> std::io::Result<Option<T>> {
    let mut length = [0u8; 4];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error),
    }
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a frame of {length} bytes (the most is {MAX_FRAME})"
        )));
    }
    let mut bytes = vec![0u8; length];
    input.read_exact(&mut bytes)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| std::io::Error::other(format!("unreadable frame: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_frames_are_errors() {
        let mut buffer = Vec::new();
        write_frame(&mut buffer, &Response::Probe("denied".into())).unwrap();
        let read: Response = read_frame(&mut buffer.as_slice()).unwrap().unwrap();
        assert!(matches!(read, Response::Probe(text) if text == "denied"));
        assert!(read_frame::<Response>(&mut &[][..]).unwrap().is_none());
        let huge = (MAX_FRAME as u32 + 1).to_le_bytes();
        assert!(read_frame::<Response>(&mut &huge[..]).is_err());
        let garbage = [3u8, 0, 0, 0, b'x', b'y', b'z'];
        assert!(read_frame::<Response>(&mut &garbage[..]).is_err());
        let short = [10u8, 0, 0, 0, b'{'];
        assert!(read_frame::<Response>(&mut &short[..]).is_err());
    }
}
