//! Finding the first failure of many independent checks, on every core.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// How many threads a parallel check uses.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Parallelism {
    /// One thread per available core.
    #[default]
    AllCores,
    /// Exactly this many threads (1 = on the calling thread).
    Threads(NonZeroUsize),
}

impl Parallelism {
    /// The calling thread only.
    pub const SINGLE: Parallelism = Parallelism::Threads(NonZeroUsize::MIN);

    pub(crate) fn thread_count(self) -> usize {
        match self {
            Parallelism::AllCores => std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            Parallelism::Threads(n) => n.get(),
        }
    }
}

/// Runs `check(i)` for `i in 0..count` and returns the failure with the
/// lowest index, exactly as a sequential loop would, but spread over threads.
/// Indices above a known failure are skipped.
pub(crate) fn first_failure<E, F>(count: usize, parallelism: Parallelism, check: F) -> Option<(usize, E)>
where
    E: Send,
    F: Fn(usize) -> Result<(), E> + Sync,
{
    let threads = parallelism.thread_count().min(count);
    if threads <= 1 {
        return (0..count).find_map(|i| check(i).err().map(|e| (i, e)));
    }
    let next = AtomicUsize::new(0);
    let lowest_failed = AtomicUsize::new(usize::MAX);
    let failure: Mutex<Option<(usize, E)>> = Mutex::new(None);
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count || i > lowest_failed.load(Ordering::Relaxed) {
            return;
        }
        if let Err(error) = check(i) {
            lowest_failed.fetch_min(i, Ordering::Relaxed);
            let mut slot = failure.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if slot.as_ref().is_none_or(|(j, _)| i < *j) {
                *slot = Some((i, error));
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(worker);
        }
        worker();
    });
    failure.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_lowest_failure_whatever_the_thread_count() {
        for threads in 1..=4 {
            let p = Parallelism::Threads(NonZeroUsize::new(threads).unwrap());
            let got = first_failure(1000, p, |i| if i % 97 == 13 || i == 5 { Err(i * 2) } else { Ok(()) });
            assert_eq!(got, Some((5, 10)));
            assert_eq!(first_failure(1000, p, |_| Ok::<(), ()>(())), None);
            assert_eq!(first_failure(0, p, |_| Err(())), None);
        }
    }
}
