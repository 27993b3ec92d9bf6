//! Finding the first failure of many independent checks, on every core.
//!
//! One worker pool per process, sized to the available cores, is built on
//! first use and kept: a 25-record block is about a millisecond of signature
//! checks, so starting threads per call would eat a visible share of the
//! gain. A caller's thread count only limits how many of those workers one
//! call occupies; it never starts threads. The pool is recognised by the
//! process id it was built in, so a child made by `fork()` (which inherits
//! the pool's bookkeeping but none of its threads) builds its own instead of
//! waiting for ever on workers that do not exist.

use std::num::NonZeroUsize;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::ErrorKind;

/// The most threads a caller may ask one parallel check for, as for mining.
/// More are refused rather than silently reduced, because a larger number
/// is almost certainly a unit mistake, not a plan.
pub const MAX_THREADS: usize = 1024;

/// A thread count outside `1..=MAX_THREADS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid argument: threads must be in 1..={MAX_THREADS}, got {0}")]
pub struct InvalidThreadCount(pub usize);

impl InvalidThreadCount {
    /// Always [`ErrorKind::InvalidArgument`].
    pub const fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// How many threads a parallel check may use.
///
/// A check never uses more threads than it has items, nor more than the
/// process's kept pool, which has one worker per available core: signature
/// checks are CPU-bound, so more threads than cores only add switching.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Parallelism {
    /// `None`: every core.
    limit: Option<NonZeroUsize>,
}

impl Parallelism {
    /// Every available core.
    pub const ALL_CORES: Parallelism = Parallelism { limit: None };

    /// The calling thread only.
    pub const SINGLE: Parallelism = Parallelism {
        limit: Some(NonZeroUsize::MIN),
    };

    /// At most `threads` threads (1 = on the calling thread alone).
    pub fn threads(threads: usize) -> Result<Parallelism, InvalidThreadCount> {
        match NonZeroUsize::new(threads) {
            Some(limit) if threads <= MAX_THREADS => Ok(Parallelism { limit: Some(limit) }),
            _ => Err(InvalidThreadCount(threads)),
        }
    }

    /// The requested limit, `None` for every core.
    pub fn limit(self) -> Option<NonZeroUsize> {
        self.limit
    }
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The pool kept by one process.
struct KeptPool {
    pid: u32,
    pool: rayon::ThreadPool,
}

/// Null, or a `KeptPool` leaked with `Box::into_raw` and never freed: a pool
/// inherited across `fork()` has no threads behind it, so dropping it could
/// wait on nothing; leaking one small struct per forked generation is the
/// safe price. A lock-free pointer rather than a mutex, because a mutex held
/// by another thread at the moment of `fork()` stays locked in the child.
static KEPT_POOL: AtomicPtr<KeptPool> = AtomicPtr::new(ptr::null_mut());

/// This process's pool, built on first use; `None` if no worker thread can
/// be started (the caller then checks on its own thread).
fn kept_pool() -> Option<&'static rayon::ThreadPool> {
    let pid = std::process::id();
    let current = KEPT_POOL.load(Ordering::Acquire);
    // SAFETY: KEPT_POOL holds null or a pointer from `Box::into_raw` that is
    // never freed, so a non-null value is valid for 'static.
    if let Some(kept) = unsafe { current.as_ref() } {
        if kept.pid == pid {
            return Some(&kept.pool);
        }
    }
    // Built without holding anything other callers wait on: a racing
    // builder's pool is simply dropped below.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(available_cores())
        .thread_name(|i| format!("emr-verify-{i}"))
        .build()
        .ok()?;
    let fresh = Box::into_raw(Box::new(KeptPool { pid, pool }));
    match KEPT_POOL.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `fresh` came from `Box::into_raw` just above and is now
        // owned by KEPT_POOL, which never frees it.
        Ok(_) => Some(unsafe { &(*fresh).pool }),
        Err(winner) => {
            // SAFETY: `fresh` was never shared: the exchange failed, so this
            // thread still owns the box and frees it exactly once.
            drop(unsafe { Box::from_raw(fresh) });
            // SAFETY: as for `current` above.
            unsafe { winner.as_ref() }
                .filter(|kept| kept.pid == pid)
                .map(|kept| &kept.pool)
        }
    }
}

/// Runs `check(i)` for `i in 0..count` and returns the failure with the
/// lowest index, exactly as a sequential loop would, but spread over threads.
/// Indices above a known failure are skipped. Falls back to the calling
/// thread alone if no worker thread can be started.
pub(crate) fn first_failure<E, F>(
    count: usize,
    parallelism: Parallelism,
    check: F,
) -> Option<(usize, E)>
where
    E: Send,
    F: Fn(usize) -> Result<(), E> + Sync,
{
    let sequential = || (0..count).find_map(|i| check(i).err().map(|e| (i, e)));
    let wanted = parallelism
        .limit
        .map_or_else(available_cores, NonZeroUsize::get)
        .min(count);
    if wanted <= 1 {
        return sequential();
    }
    let Some(pool) = kept_pool() else {
        return sequential();
    };
    let lanes = wanted.min(pool.current_num_threads());
    if lanes <= 1 {
        return sequential();
    }

    // Indices are claimed in increasing order, and `lowest` only ever holds
    // failing indices, so the lowest failing index is always claimed and
    // checked; only indices above a known failure are skipped.
    let next = AtomicUsize::new(0);
    let lowest = AtomicUsize::new(usize::MAX);
    let found: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let lane = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count || i > lowest.load(Ordering::Relaxed) {
            return;
        }
        if let Err(error) = check(i) {
            lowest.fetch_min(i, Ordering::Relaxed);
            let mut slot = found
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                *slot = Some((i, error));
            }
            // Every index this lane would claim next is above `i`.
            return;
        }
    };
    pool.scope(|scope| {
        for _ in 1..lanes {
            scope.spawn(|_| lane());
        }
        lane();
    });
    found
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_threads() -> usize {
        std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
    }

    #[test]
    fn finds_the_lowest_failure_whatever_the_thread_count() {
        for threads in [1, 2, 3, 4, 64, MAX_THREADS] {
            let p = Parallelism::threads(threads).unwrap();
            let got = first_failure(1000, p, |i| {
                if i % 97 == 13 || i == 5 {
                    Err(i * 2)
                } else {
                    Ok(())
                }
            });
            assert_eq!(got, Some((5, 10)));
            let got = first_failure(1000, p, |i| if i >= 999 { Err(i) } else { Ok(()) });
            assert_eq!(got, Some((999, 999)));
            assert_eq!(first_failure(1000, p, |_| Ok::<(), ()>(())), None);
            assert_eq!(first_failure(0, p, |_| Err(())), None);
        }
    }

    #[test]
    fn thread_counts_outside_the_cap_are_refused() {
        assert_eq!(Parallelism::threads(0), Err(InvalidThreadCount(0)));
        assert_eq!(
            Parallelism::threads(MAX_THREADS + 1),
            Err(InvalidThreadCount(MAX_THREADS + 1))
        );
        assert_eq!(
            Parallelism::threads(usize::MAX).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(Parallelism::threads(1), Ok(Parallelism::SINGLE));
    }

    #[test]
    fn requests_never_start_threads_beyond_one_pool() {
        first_failure(2, Parallelism::ALL_CORES, |_| Ok::<(), ()>(()));
        let before = live_threads();
        for threads in 2..=64 {
            let p = Parallelism::threads(threads).unwrap();
            assert_eq!(first_failure(threads, p, |_| Ok::<(), ()>(())), None);
        }
        let p = Parallelism::threads(MAX_THREADS).unwrap();
        assert_eq!(
            first_failure(8000, p, |i| if i == 7999 { Err(i) } else { Ok(()) }),
            Some((7999, 7999))
        );
        // Other tests of this binary may run threads of their own meanwhile;
        // the unbounded pools this guards against added thousands.
        assert!(
            live_threads() <= before + 8,
            "{before} threads before, {} after",
            live_threads()
        );
    }

    /// A child made by fork() inherits the pool's bookkeeping but none of its
    /// threads; before the pool was recognised by process id, the child's
    /// first parallel check waited for ever.
    #[test]
    fn a_forked_child_checks_in_parallel_too() {
        let all = Parallelism::ALL_CORES;
        assert_eq!(
            first_failure(100, all, |i| if i == 42 { Err(i) } else { Ok(()) }),
            Some((42, 42))
        );
        // SAFETY: the child only runs the check (plain Rust, no locks held
        // across fork by this test) and leaves with _exit.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let found = first_failure(100, all, |i| if i == 42 { Err(i) } else { Ok(()) });
            // SAFETY: _exit is async-signal-safe and skips the parent's atexit work.
            unsafe { libc::_exit(if found == Some((42, 42)) { 0 } else { 1 }) };
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut status = 0;
        loop {
            // SAFETY: `child` is our own child process; `status` is a valid out-pointer.
            let done = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if done == child {
                break;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: as above; the child is reaped after the kill.
                unsafe {
                    libc::kill(child, libc::SIGKILL);
                    libc::waitpid(child, &mut status, 0);
                }
                panic!("the forked child's parallel check hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child status {status}"
        );
    }
}
