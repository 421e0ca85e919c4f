//! Where a side's client CPU goes, beyond its total: user and system time and minor page
//! faults (`getrusage`, which counts every thread of the process: tokio's and the driver's
//! monitors too), the allocations and bytes allocated (the counting allocator), and the
//! process's peak resident memory.
//!
//! A side measured in a process of its own (`MONGOTIC_BENCH_SIDE=orm` or `raw`) does not pay
//! for the allocator and page state the other side leaves behind, and its peak resident memory
//! is its own: `scripts/bench-sides-apart.sh` runs both that way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Allocations made since the process started (`alloc` and `realloc` calls).
pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes those allocations asked for (a `realloc` counts what it grew by).
pub static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Counts one allocation of `bytes`; called by the counting allocator.
pub fn allocated(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// The process's resource counters at one moment (or, after [`Usage::since`], over a span).
#[derive(Clone, Copy, Default)]
pub struct Usage {
    pub user: Duration,
    pub system: Duration,
    pub minor_faults: u64,
    pub allocations: u64,
    pub allocated_bytes: u64,
}

impl Usage {
    /// The counters now.
    pub fn now() -> Usage {
        let usage = rusage();
        Usage {
            user: usage.as_ref().map_or(Duration::ZERO, |u| timeval(&u.ru_utime)),
            system: usage.as_ref().map_or(Duration::ZERO, |u| timeval(&u.ru_stime)),
            minor_faults: usage.as_ref().map_or(0, |u| u.ru_minflt.max(0) as u64),
            allocations: ALLOCATIONS.load(Ordering::Relaxed),
            allocated_bytes: ALLOCATED_BYTES.load(Ordering::Relaxed),
        }
    }

    /// What the counters grew by since `earlier`.
    pub fn since(&self, earlier: &Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
            allocations: self.allocations.saturating_sub(earlier.allocations),
            allocated_bytes: self.allocated_bytes.saturating_sub(earlier.allocated_bytes),
        }
    }
}

/// The peak resident memory of this process so far, in bytes (`ru_maxrss`).
pub fn peak_resident_bytes() -> u64 {
    rusage().map_or(0, |usage| usage.ru_maxrss.max(0) as u64 * 1024)
}

/// The median of each counter over `samples` (each counter on its own).
pub fn median(samples: &[Usage]) -> Usage {
    fn mid<T: Copy + Ord + Default>(mut values: Vec<T>) -> T {
        values.sort();
        values.get(values.len() / 2).copied().unwrap_or_default()
    }
    Usage {
        user: mid(samples.iter().map(|s| s.user).collect()),
        system: mid(samples.iter().map(|s| s.system).collect()),
        minor_faults: mid(samples.iter().map(|s| s.minor_faults).collect()),
        allocations: mid(samples.iter().map(|s| s.allocations).collect()),
        allocated_bytes: mid(samples.iter().map(|s| s.allocated_bytes).collect()),
    }
}

/// Prints, per workload and side, the medians of the breakdown.
pub fn print_breakdown<'a>(rows: impl Iterator<Item = (&'a str, &'a [Usage], &'a [Usage])>) {
    println!("\n| workload | side | user CPU ms | system CPU ms | minor page faults | allocations | MB allocated |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (name, orm, raw) in rows {
        for (side, samples) in [("mongotic", orm), ("driver", raw)] {
            if samples.is_empty() {
                continue;
            }
            let usage = median(samples);
            println!(
                "| {name} | {side} | {:.2} | {:.2} | {} | {} | {:.2} |",
                usage.user.as_secs_f64() * 1000.0,
                usage.system.as_secs_f64() * 1000.0,
                usage.minor_faults,
                usage.allocations,
                usage.allocated_bytes as f64 / 1e6,
            );
        }
    }
    println!("\npeak resident memory of this process: {:.1} MB", peak_resident_bytes() as f64 / 1e6);
}

/// `struct timeval` on 64-bit Linux.
#[repr(C)]
struct Timeval {
    tv_sec: i64,
    tv_usec: i64,
}

/// `struct rusage` on 64-bit Linux (every `long` field 64 bits).
#[repr(C)]
struct Rusage {
    ru_utime: Timeval,
    ru_stime: Timeval,
    ru_maxrss: i64,
    ru_ixrss: i64,
    ru_idrss: i64,
    ru_isrss: i64,
    ru_minflt: i64,
    ru_majflt: i64,
    ru_nswap: i64,
    ru_inblock: i64,
    ru_oublock: i64,
    ru_msgsnd: i64,
    ru_msgrcv: i64,
    ru_nsignals: i64,
    ru_nvcsw: i64,
    ru_nivcsw: i64,
}

fn timeval(time: &Timeval) -> Duration {
    Duration::from_secs(time.tv_sec.max(0) as u64) + Duration::from_micros(time.tv_usec.max(0) as u64)
}

/// `getrusage(RUSAGE_SELF)`: every thread of the process.
fn rusage() -> Option<Rusage> {
    unsafe extern "C" {
        fn getrusage(who: i32, usage: *mut Rusage) -> i32;
    }
    const RUSAGE_SELF: i32 = 0;
    let mut usage = std::mem::MaybeUninit::<Rusage>::zeroed();
    // SAFETY: a valid pointer to a properly laid out, zeroed rusage; the call only writes to it.
    let status = unsafe { getrusage(RUSAGE_SELF, usage.as_mut_ptr()) };
    // SAFETY: zeroed is a valid Rusage (plain integers), and the call filled it on success.
    (status == 0).then(|| unsafe { usage.assume_init() })
}
