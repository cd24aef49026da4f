//! The fast path's clock: timestamps from the CPU's invariant time-stamp counter (through
//! `quanta`, calibrated against the OS monotonic clock once per process, falling back to the
//! OS clock where the CPU has no usable counter).
//!
//! Reading `std::time::Instant` costs a `clock_gettime` call through the vDSO (about 35 ns on
//! the reference machine, more under virtualisation); the counter costs about 11 ns. A call
//! on the fast path reads the clock twice (start, end) and arms its deadline from the first
//! read, so the difference is most of the per-call overhead. Calibration (0.5 to 2 ms) runs
//! once, when [`init`] or the first [`Stamp::now`] asks for the clock.
//!
//! A limit and the time reported against it must come from one clock: the deadline checks of
//! both backends compare stamps (or [`Stamp::as_nanos`]), never an [`Instant`], so a run is never
//! reported as stopped before its limit because two clocks disagree by a calibration error.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Clock {
    clock: quanta::Clock,
    /// One reading of both clocks, to turn counter readings into [`Instant`]s.
    origin_raw: u64,
    origin: Instant,
}

fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        let origin = Instant::now();
        let origin_raw = clock.raw();
        Clock {
            clock,
            origin_raw,
            origin,
        }
    })
}

/// Calibrates the clock now rather than on the first reading (instances do it when a
/// function is resolved for the fast path, so that the first call is not the one to pay).
pub fn init() {
    clock();
}

/// A point in time on the fast path's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(u64);

impl Stamp {
    /// Now.
    #[inline]
    pub fn now() -> Stamp {
        Stamp(clock().clock.raw())
    }

    /// Time from `earlier` to this stamp (zero if `earlier` is later).
    #[inline]
    pub fn duration_since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(clock().clock.delta_as_nanos(earlier.0, self.0))
    }

    /// Time since this stamp.
    #[inline]
    pub fn elapsed(self) -> Duration {
        Stamp::now().duration_since(self)
    }

    /// Nanoseconds from the clock's origin (its calibration, early in the process) to this
    /// stamp: a plain number for deadline arithmetic on this clock.
    pub fn as_nanos(self) -> u64 {
        let clock = clock();
        clock.clock.delta_as_nanos(clock.origin_raw, self.0)
    }

    /// The [`Instant`] of this stamp (computed, not read: no clock call).
    pub fn to_instant(self) -> Instant {
        let clock = clock();
        if self.0 >= clock.origin_raw {
            clock.origin
                + Duration::from_nanos(clock.clock.delta_as_nanos(clock.origin_raw, self.0))
        } else {
            clock.origin
                - Duration::from_nanos(clock.clock.delta_as_nanos(self.0, clock.origin_raw))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_agree_with_the_os_clock() {
        let started = Stamp::now();
        let instant = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = started.elapsed();
        let os = instant.elapsed();
        assert!(elapsed >= Duration::from_millis(19), "{elapsed:?}");
        let gap = elapsed.abs_diff(os);
        assert!(
            gap < Duration::from_millis(5),
            "stamp {elapsed:?} vs OS {os:?}"
        );
        let converted = started.to_instant();
        assert!(converted.max(instant) - converted.min(instant) < Duration::from_millis(5));
    }

    #[test]
    fn a_later_stamp_never_measures_negative() {
        let later = Stamp::now();
        let earlier = Stamp(later.0.saturating_sub(1_000_000));
        assert_eq!(earlier.duration_since(later), Duration::ZERO);
        assert!(later.duration_since(earlier) > Duration::ZERO);
    }
}
