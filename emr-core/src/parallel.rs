//! Finding the first failure of many independent checks, on every core.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

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

/// Worker pools by thread count, built once and kept: a 25-record block is
/// about a millisecond of signature checks, so starting threads per call
/// would eat a visible share of the gain.
fn pool(threads: usize) -> Option<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&threads) {
        return Some(Arc::clone(pool));
    }
    let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(threads).build().ok()?);
    pools.insert(threads, Arc::clone(&pool));
    Some(pool)
}

/// Runs `check(i)` for `i in 0..count` and returns the failure with the
/// lowest index, exactly as a sequential loop would, but spread over threads.
/// Indices above a known failure are skipped. Falls back to the calling
/// thread alone if no worker thread can be started.
pub(crate) fn first_failure<E, F>(count: usize, parallelism: Parallelism, check: F) -> Option<(usize, E)>
where
    E: Send,
    F: Fn(usize) -> Result<(), E> + Sync,
{
    let sequential = || (0..count).find_map(|i| check(i).err().map(|e| (i, e)));
    let threads = parallelism.thread_count().min(count);
    if threads <= 1 {
        return sequential();
    }
    match pool(parallelism.thread_count()) {
        Some(pool) => pool.install(|| {
            (0..count).into_par_iter().with_max_len(1).find_map_first(|i| check(i).err().map(|e| (i, e)))
        }),
        None => sequential(),
    }
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
